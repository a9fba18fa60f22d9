//! Linkerd's injector webhook in HA mode: failing closed, never called for
//! namespaces that opted out with `config.linkerd.io/admission-webhooks`, and
//! never needed to create the control plane's own pods.
//!
//! Selectors are judged by evaluating them (`crate::selector`) against the
//! namespace or pod they must leave out, not by the shape of one expression:
//! `NotIn [disabled]`, `DoesNotExist`, an opt-in `In [enabled]` and
//! `matchLabels` all leave an opted-out namespace alone.

use super::rule::{Context, Lookup, Rule, Subject};
use super::system_namespaces::{ADMISSION_WEBHOOKS_DISABLED, ADMISSION_WEBHOOKS_LABEL};
use crate::finding::{Finding, RuleId};
use crate::injection::{CNI_RESOURCE_LABEL, CONTROL_PLANE_COMPONENT_LABEL};
use crate::json_value::StringMap;
use crate::objects::{MutatingWebhook, MutatingWebhookConfiguration};
use crate::phrasebook::LookupFailure;
use crate::selector::{labels, selects, WhenAbsent};
use crate::settings::Settings;

/// The label the API server puts on every namespace, holding its name.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

pub struct InjectorWebhook;

/// A namespace that opted out, as the API server would hold it.
fn opted_out_namespace() -> StringMap {
    labels([
        (ADMISSION_WEBHOOKS_LABEL, ADMISSION_WEBHOOKS_DISABLED),
        (NAMESPACE_NAME_LABEL, "opted-out"),
    ])
}

/// A pod of the control plane, as Linkerd labels it.
fn control_plane_pod() -> StringMap {
    labels([(CONTROL_PLANE_COMPONENT_LABEL, "proxy-injector")])
}

/// `failurePolicy` as the API server defaults it (v1: `Fail`).
fn failure_policy(webhook: &MutatingWebhook) -> &str {
    webhook.failure_policy.as_deref().unwrap_or("Fail")
}

/// Whether a failing-closed webhook is sent the control plane's own pods by
/// its object selector: only then does the rule need the control-plane
/// namespace's labels from the cluster.
fn sends_control_plane_pods(webhook: &MutatingWebhook) -> bool {
    failure_policy(webhook) == "Fail"
        && selects(
            webhook.object_selector.as_ref(),
            WhenAbsent::SelectsEverything,
            &control_plane_pod(),
        )
}

/// Whether the rule will read the control-plane namespace for this object.
pub fn needs_control_plane_namespace(
    configuration: &MutatingWebhookConfiguration,
    settings: &Settings,
) -> bool {
    configuration.metadata.name == settings.injector_webhook.name
        && configuration.webhooks.iter().any(sends_control_plane_pods)
}

impl Rule for InjectorWebhook {
    fn id(&self) -> RuleId {
        RuleId::InjectorWebhook
    }

    fn check(&self, subject: &Subject, context: &Context, settings: &Settings) -> Vec<Finding> {
        let Subject::InjectorWebhook(configuration) = subject else {
            return Vec::new();
        };
        if configuration.metadata.name != settings.injector_webhook.name {
            return Vec::new();
        }
        let wanted = settings.injector_webhook.failure_policy.name();
        let mut findings = Vec::new();
        for webhook in &configuration.webhooks {
            let policy = failure_policy(webhook);
            if policy != wanted {
                findings.push(Finding::violation(
                    self.id(),
                    format!("webhook {:?} has failurePolicy {policy}; the policy requires {wanted} (injectorWebhook.failurePolicy)", webhook.name),
                    format!(
                        "set failurePolicy: {wanted} (linkerd install --ha does), or set injectorWebhook.failurePolicy: {policy} if a loosened injector is intended"
                    ),
                ));
            }
            if selects(
                webhook.namespace_selector.as_ref(),
                WhenAbsent::SelectsEverything,
                &opted_out_namespace(),
            ) {
                findings.push(Finding::violation(
                    self.id(),
                    format!(
                        "webhook {:?} has a namespaceSelector that {} namespaces labelled {ADMISSION_WEBHOOKS_LABEL}={ADMISSION_WEBHOOKS_DISABLED}, so with failurePolicy Fail a down injector blocks kube-system too",
                        webhook.name,
                        if webhook.namespace_selector.is_none() { "is absent and so selects every namespace, including" } else { "selects" }
                    ),
                    format!(
                        "set namespaceSelector.matchExpressions: [{{key: {ADMISSION_WEBHOOKS_LABEL}, operator: NotIn, values: [{ADMISSION_WEBHOOKS_DISABLED}]}}] (linkerd install does), or an opt-in selector such as {ADMISSION_WEBHOOKS_LABEL} In [enabled]"
                    ),
                ));
            }
            if sends_control_plane_pods(webhook) {
                findings.extend(control_plane_pods_finding(webhook, context, settings));
            }
        }
        findings
    }
}

/// A failing-closed webhook that is sent the control plane's pods deadlocks
/// once every injector pod is gone: a new one cannot be created without the
/// injector. Safe only while the control-plane namespace itself is left out.
fn control_plane_pods_finding(
    webhook: &MutatingWebhook,
    context: &Context,
    settings: &Settings,
) -> Option<Finding> {
    let namespace = &settings.control_plane.namespace;
    let fix = format!(
        "set objectSelector.matchExpressions: [{{key: {CONTROL_PLANE_COMPONENT_LABEL}, operator: DoesNotExist}}, {{key: {CNI_RESOURCE_LABEL}, operator: DoesNotExist}}] (Linkerd's chart default), or label namespace {namespace} {ADMISSION_WEBHOOKS_LABEL}={ADMISSION_WEBHOOKS_DISABLED} as linkerd install does"
    );
    let problem = |why: String| {
        format!(
            "webhook {:?} has no objectSelector leaving out pods labelled {CONTROL_PLANE_COMPONENT_LABEL}, {why}: with failurePolicy Fail, once every proxy-injector pod is down none can be created again, because creating one needs the injector",
            webhook.name
        )
    };
    match &context.control_plane_namespace {
        Lookup::Found(found) => {
            let mut namespace_labels = found.metadata.labels.clone();
            if !namespace_labels.contains_key(NAMESPACE_NAME_LABEL) {
                namespace_labels.insert(NAMESPACE_NAME_LABEL.to_string(), namespace.clone());
            }
            selects(
                webhook.namespace_selector.as_ref(),
                WhenAbsent::SelectsEverything,
                &namespace_labels,
            )
            .then(|| {
                Finding::violation(
                    RuleId::InjectorWebhook,
                    problem(format!(
                        "and its namespaceSelector selects the control-plane namespace {namespace:?} (controlPlane.namespace)"
                    )),
                    fix.clone(),
                )
            })
        }
        Lookup::Failed(failure) => Some(Finding::notice(
            RuleId::InjectorWebhook,
            problem(format!(
                "and whether the control-plane namespace opted out is unknown: {}",
                failure.what_happened(&format!("namespace {namespace:?} (controlPlane.namespace)"))
            )),
            match failure {
                LookupFailure::NotFound(_) => format!(
                    "{fix}; or, if the control plane lives elsewhere, set controlPlane.namespace to its namespace"
                ),
                other => format!("{fix}; or {}", other.remedy("get", "v1", "Namespace", "")),
            },
        )),
        Lookup::NotNeeded => Some(Finding::violation(
            RuleId::InjectorWebhook,
            problem("and nothing shows the control-plane namespace opted out".to_string()),
            fix,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::Severity;
    use crate::objects::NamespaceObject;
    use crate::phrasebook::LookupFailure;
    use crate::rules::test_support::assert_only_finding;
    use crate::rules::Operation;
    use crate::settings::FailurePolicy;
    use rstest::rstest;
    use serde_json::{json, Value};

    const NAME: &str = "linkerd-proxy-injector-webhook-config";

    fn configuration_of(name: &str, webhook: Value) -> Subject {
        Subject::InjectorWebhook(
            serde_json::from_value::<MutatingWebhookConfiguration>(json!({
                "metadata": {"name": name},
                "webhooks": [webhook]
            }))
            .unwrap(),
        )
    }

    /// The webhook as Linkerd's chart writes it by default.
    fn chart_webhook() -> Value {
        json!({"name": "linkerd-proxy-injector.linkerd.io", "failurePolicy": "Fail",
               "namespaceSelector": opted_out(), "objectSelector": control_plane_excluded()})
    }

    fn with(field: &str, value: Value) -> Subject {
        let mut webhook = chart_webhook();
        if value.is_null() {
            webhook.as_object_mut().unwrap().remove(field);
        } else {
            webhook[field] = value;
        }
        configuration_of(NAME, webhook)
    }

    fn opted_out() -> Value {
        json!({"matchExpressions": [{"key": ADMISSION_WEBHOOKS_LABEL, "operator": "NotIn", "values": ["disabled"]},
                                    {"key": NAMESPACE_NAME_LABEL, "operator": "NotIn", "values": ["kube-system", "cert-manager"]}]})
    }

    fn control_plane_excluded() -> Value {
        json!({"matchExpressions": [{"key": CONTROL_PLANE_COMPONENT_LABEL, "operator": "DoesNotExist"},
                                    {"key": CNI_RESOURCE_LABEL, "operator": "DoesNotExist"}]})
    }

    fn check_with(
        subject: &Subject,
        policy: FailurePolicy,
        namespace: Lookup<NamespaceObject>,
    ) -> Vec<Finding> {
        let mut settings = Settings::default();
        settings.injector_webhook.failure_policy = policy;
        let mut context = Context::new(Operation::Create, "");
        context.control_plane_namespace = namespace;
        InjectorWebhook.check(subject, &context, &settings)
    }

    fn check(subject: &Subject, policy: FailurePolicy) -> Vec<Finding> {
        check_with(subject, policy, Lookup::NotNeeded)
    }

    #[rstest]
    #[case::fail(json!("Fail"), FailurePolicy::Fail, 0)]
    #[case::absent_means_fail(Value::Null, FailurePolicy::Fail, 0)]
    #[case::ignore_rejected(json!("Ignore"), FailurePolicy::Fail, 1)]
    #[case::ignore_allowed_when_configured(json!("Ignore"), FailurePolicy::Ignore, 0)]
    #[case::fail_when_ignore_configured(json!("Fail"), FailurePolicy::Ignore, 1)]
    fn failure_policy(
        #[case] policy: Value,
        #[case] wanted: FailurePolicy,
        #[case] expected: usize,
    ) {
        assert_eq!(
            check(&with("failurePolicy", policy), wanted).len(),
            expected
        );
    }

    #[rstest]
    #[case::not_in_disabled(json!({"matchExpressions": [{"key": ADMISSION_WEBHOOKS_LABEL, "operator": "NotIn", "values": ["disabled"]}]}))]
    #[case::chart_default(opted_out())]
    #[case::does_not_exist(json!({"matchExpressions": [{"key": ADMISSION_WEBHOOKS_LABEL, "operator": "DoesNotExist"}]}))]
    #[case::opt_in(json!({"matchExpressions": [{"key": ADMISSION_WEBHOOKS_LABEL, "operator": "In", "values": ["enabled"]}]}))]
    #[case::match_labels_opt_in(json!({"matchLabels": {"config.linkerd.io/admission-webhooks": "enabled"}}))]
    #[case::match_labels_other_label(json!({"matchLabels": {"mesh": "linkerd"}}))]
    fn selectors_that_leave_opted_out_namespaces_alone_pass(#[case] selector: Value) {
        let findings = check(&with("namespaceSelector", selector), FailurePolicy::Fail);
        assert!(findings.is_empty(), "{findings:?}");
    }

    #[rstest]
    #[case::absent(Value::Null, "is absent and so selects every namespace")]
    #[case::empty(json!({}), "selects namespaces labelled")]
    #[case::only_by_name(json!({"matchExpressions": [{"key": NAMESPACE_NAME_LABEL, "operator": "NotIn", "values": ["kube-system"]}]}), "selects namespaces labelled")]
    #[case::in_disabled(json!({"matchExpressions": [{"key": ADMISSION_WEBHOOKS_LABEL, "operator": "In", "values": ["disabled"]}]}), "selects namespaces labelled")]
    #[case::not_in_other_value(json!({"matchExpressions": [{"key": ADMISSION_WEBHOOKS_LABEL, "operator": "NotIn", "values": ["off"]}]}), "selects namespaces labelled")]
    #[case::exists(json!({"matchExpressions": [{"key": ADMISSION_WEBHOOKS_LABEL, "operator": "Exists"}]}), "selects namespaces labelled")]
    fn selectors_that_reach_opted_out_namespaces_are_rejected(
        #[case] selector: Value,
        #[case] problem: &str,
    ) {
        let findings = check(&with("namespaceSelector", selector), FailurePolicy::Fail);
        assert_only_finding(&findings, problem);
        assert!(findings[0].fix.contains("NotIn"));
    }

    fn namespace(labels: Value) -> Lookup<NamespaceObject> {
        Lookup::Found(
            serde_json::from_value(json!({"metadata": {"name": "linkerd", "labels": labels}}))
                .unwrap(),
        )
    }

    #[rstest]
    #[case::chart_default(control_plane_excluded(), FailurePolicy::Fail, Lookup::NotNeeded)]
    #[case::component_only(json!({"matchExpressions": [{"key": CONTROL_PLANE_COMPONENT_LABEL, "operator": "DoesNotExist"}]}), FailurePolicy::Fail, Lookup::NotNeeded)]
    #[case::ignore_cannot_deadlock(Value::Null, FailurePolicy::Ignore, Lookup::NotNeeded)]
    #[case::namespace_opted_out(Value::Null, FailurePolicy::Fail, namespace(json!({ADMISSION_WEBHOOKS_LABEL: "disabled"})))]
    #[case::empty_selector_namespace_opted_out(json!({}), FailurePolicy::Fail, namespace(json!({ADMISSION_WEBHOOKS_LABEL: "disabled"})))]
    fn control_plane_pods_never_need_the_injector(
        #[case] selector: Value,
        #[case] policy: FailurePolicy,
        #[case] namespace: Lookup<NamespaceObject>,
    ) {
        let mut webhook = with("objectSelector", selector);
        if policy == FailurePolicy::Ignore {
            let Subject::InjectorWebhook(configuration) = &mut webhook else {
                unreachable!()
            };
            configuration.webhooks[0].failure_policy = Some("Ignore".into());
        }
        let findings = check_with(&webhook, policy, namespace);
        assert!(findings.is_empty(), "{findings:?}");
    }

    #[rstest]
    #[case::absent_and_namespace_selected(Value::Null, namespace(json!({})), Severity::Violation { edits: vec![] }, "its namespaceSelector selects the control-plane namespace \"linkerd\"")]
    #[case::other_label_and_namespace_selected(json!({"matchExpressions": [{"key": CNI_RESOURCE_LABEL, "operator": "DoesNotExist"}]}), namespace(json!({"team": "mesh"})), Severity::Violation { edits: vec![] }, "selects the control-plane namespace")]
    #[case::nothing_known(Value::Null, Lookup::NotNeeded, Severity::Violation { edits: vec![] }, "nothing shows the control-plane namespace opted out")]
    #[case::namespace_unreadable(Value::Null, Lookup::Failed(LookupFailure::from_host_error("forbidden")), Severity::Notice, "whether the control-plane namespace opted out is unknown: namespace \"linkerd\" (controlPlane.namespace) could not be read (forbidden)")]
    fn control_plane_pods_sent_to_a_failing_closed_injector(
        #[case] selector: Value,
        #[case] namespace: Lookup<NamespaceObject>,
        #[case] severity: Severity,
        #[case] problem: &str,
    ) {
        let findings = check_with(
            &with("objectSelector", selector),
            FailurePolicy::Fail,
            namespace,
        );
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(findings[0].severity, severity);
        assert!(
            findings[0].problem.contains(problem),
            "{}",
            findings[0].problem
        );
        assert!(
            findings[0].fix.contains("operator: DoesNotExist"),
            "{}",
            findings[0].fix
        );
    }

    #[test]
    fn the_namespace_is_needed_only_when_control_plane_pods_reach_the_webhook() {
        let settings = Settings::default();
        let needs = |subject: &Subject| match subject {
            Subject::InjectorWebhook(configuration) => {
                needs_control_plane_namespace(configuration, &settings)
            }
            _ => unreachable!(),
        };
        assert!(!needs(&configuration_of(NAME, chart_webhook())));
        assert!(needs(&with("objectSelector", Value::Null)));
        assert!(!needs(&configuration_of("other", json!({"name": "x"}))));
    }

    #[test]
    fn other_webhook_configurations_are_ignored() {
        assert!(check(
            &configuration_of(
                "cert-manager-webhook",
                json!({"name": "x", "failurePolicy": "Ignore"})
            ),
            FailurePolicy::Fail
        )
        .is_empty());
    }
}
