//! System namespaces (kube-system and the like) keep Linkerd's injector away:
//! they carry `config.linkerd.io/admission-webhooks: disabled` and never ask
//! for injection.

use super::rule::{path_with, Context, Operation, Rule, Subject};
use crate::finding::{Finding, RuleId};
use crate::injection::{InjectValue, NamespaceInjection, INJECT_ANNOTATION};
pub use crate::injection::{ADMISSION_WEBHOOKS_DISABLED, ADMISSION_WEBHOOKS_LABEL};
use crate::mutation::Edit;
use crate::phrasebook::quoted;
use crate::settings::{FailurePolicy, Settings};

pub struct SystemNamespaces;

impl Rule for SystemNamespaces {
    fn id(&self) -> RuleId {
        RuleId::SystemNamespaces
    }

    fn check(&self, subject: &Subject, context: &Context, settings: &Settings) -> Vec<Finding> {
        let mut findings = Vec::new();
        match subject {
            Subject::Namespace(namespace) => {
                let meta = &namespace.metadata;
                if !is_system(settings, &meta.name) {
                    return findings;
                }
                let removed_now = context.previous_namespace.as_ref().is_some_and(|old| {
                    old.metadata.label(ADMISSION_WEBHOOKS_LABEL)
                        == Some(ADMISSION_WEBHOOKS_DISABLED)
                });
                let labelled =
                    meta.label(ADMISSION_WEBHOOKS_LABEL) == Some(ADMISSION_WEBHOOKS_DISABLED);
                if !labelled && context.operation == Operation::Update {
                    // The label is the policy's to add when the namespace is
                    // created, never on an UPDATE: a reconciler that replaces
                    // the namespace on every sync would otherwise lose it and
                    // get it back forever (the HA page's own case).
                    if !removed_now {
                        findings.push(missing_on_update(&meta.name));
                    } else if settings.injector_webhook.failure_policy != FailurePolicy::Ignore {
                        // Loosened, as the page advises, the removal costs nothing.
                        findings.push(label_removed(&meta.name, settings));
                    }
                } else if !labelled {
                    let found = meta
                        .label(ADMISSION_WEBHOOKS_LABEL)
                        .map_or("it is missing".to_string(), |v| {
                            format!("it is {}", quoted(v))
                        });
                    findings.push(
                        Finding::violation(
                            self.id(),
                            format!(
                                "system namespace {:?} must carry the label `{ADMISSION_WEBHOOKS_LABEL}: {ADMISSION_WEBHOOKS_DISABLED}` so the API server never calls Linkerd's injector for it ({found})",
                                meta.name
                            ),
                            format!(
                                "kubectl label namespace {} {ADMISSION_WEBHOOKS_LABEL}={ADMISSION_WEBHOOKS_DISABLED} --overwrite",
                                meta.name
                            ),
                        )
                        .fixed_by(vec![Edit::insert(
                            path_with(&[], &["metadata", "labels"]),
                            ADMISSION_WEBHOOKS_LABEL,
                            ADMISSION_WEBHOOKS_DISABLED,
                        )]),
                    );
                }
                if let Some(value) = meta.annotation(INJECT_ANNOTATION) {
                    if InjectValue::of(meta).requests_injection() {
                        findings.push(Finding::forbidden(
                            self.id(),
                            format!(
                                "system namespace {:?} requests injection with `{INJECT_ANNOTATION}: {}`",
                                meta.name,
                                quoted(value)
                            ),
                            format!("remove the annotation or set `{INJECT_ANNOTATION}: disabled`"),
                        ));
                    }
                }
            }
            Subject::Workload(workload) if is_system(settings, &context.namespace) => {
                let pod_value = InjectValue::of(workload.pod_meta());
                if pod_value.requests_injection() {
                    findings.push(Finding::forbidden(
                        self.id(),
                        format!(
                            "it requests injection (`{INJECT_ANNOTATION}: {}`) in the system namespace {:?}",
                            workload.pod_meta().annotation(INJECT_ANNOTATION).unwrap_or_default(),
                            context.namespace
                        ),
                        format!(
                            "remove `{INJECT_ANNOTATION}` from {}, or run the workload outside {:?}",
                            workload.annotations_to_edit(),
                            context.namespace
                        ),
                    ));
                } else if pod_value == InjectValue::Absent
                    && matches!(context.namespace_injection,
                        NamespaceInjection::Known(facts) if facts.inject.requests_injection())
                {
                    findings.push(Finding::notice(
                        self.id(),
                        format!(
                            "the system namespace {:?} requests injection for its pods",
                            context.namespace
                        ),
                        format!(
                            "remove `{INJECT_ANNOTATION}` from namespace {:?} and label it {ADMISSION_WEBHOOKS_LABEL}={ADMISSION_WEBHOOKS_DISABLED}",
                            context.namespace
                        ),
                    ));
                }
            }
            _ => {}
        }
        findings
    }
}

/// An UPDATE of a system namespace that lacked the label before it too:
/// said, never mutated, so that a reconciler's syncs settle.
fn missing_on_update(namespace: &str) -> Finding {
    Finding::notice(
        RuleId::SystemNamespaces,
        format!(
            "system namespace {namespace:?} lacks the label `{ADMISSION_WEBHOOKS_LABEL}: {ADMISSION_WEBHOOKS_DISABLED}`, so the API server may call Linkerd's injector for its pods; the policy adds the label only when a namespace is created, never on an UPDATE, so that it never fights what reconciles the namespace"
        ),
        format!(
            "kubectl label namespace {namespace} {ADMISSION_WEBHOOKS_LABEL}={ADMISSION_WEBHOOKS_DISABLED} --overwrite, and keep the label in whatever applies the namespace"
        ),
    )
}

/// An UPDATE that takes the label away from a namespace that had it: a
/// reconciler that owns the namespace (a provider's addon manager) sends
/// one on every sync. Putting the label back would fight it forever, so the
/// policy leaves the UPDATE as it is and says what it costs, with the HA
/// page's remedy: loosen the injector's failure policy.
fn label_removed(namespace: &str, settings: &Settings) -> Finding {
    let cost = if settings.injector_webhook.skips(namespace) {
        format!(
            "Linkerd's injector webhook (2.12 and later) still skips {namespace:?} by name (injectorWebhook.skippedNamespaces), but an older control plane's webhook is now called for its pods, and under failurePolicy Fail a down injector blocks them"
        )
    } else {
        format!(
            "Linkerd's injector webhook is now called for the pods of {namespace:?}, and under failurePolicy Fail a down injector blocks them"
        )
    };
    Finding::notice(
        RuleId::SystemNamespaces,
        format!(
            "this UPDATE removes the label `{ADMISSION_WEBHOOKS_LABEL}: {ADMISSION_WEBHOOKS_DISABLED}` that system namespace {namespace:?} had; the policy does not put it back, so a reconciler that rewrites the namespace settles instead of fighting the policy on every sync. {cost}"
        ),
        "keep the label in the copy of the namespace that the reconciler applies; if it cannot be kept there, set the injector webhook's failurePolicy to Ignore (and injectorWebhook.failurePolicy: Ignore in the policy settings), as Linkerd's HA page advises for clusters whose reconcilers revert kube-system".to_string(),
    )
}

fn is_system(settings: &Settings, namespace: &str) -> bool {
    settings
        .system_namespaces
        .iter()
        .any(|name| name == namespace)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::Severity;
    use crate::injection::{InjectMode, NamespaceFacts};
    use crate::objects::NamespaceObject;
    use crate::rules::test_support::*;
    use crate::rules::Operation;
    use crate::workload::WorkloadKind;
    use rstest::rstest;
    use serde_json::{json, Value};

    fn namespace(object: Value) -> Subject {
        Subject::Namespace(serde_json::from_value::<NamespaceObject>(object).unwrap())
    }

    fn check(subject: &Subject, context: &Context) -> Vec<Finding> {
        SystemNamespaces.check(subject, context, &Settings::default())
    }

    #[test]
    fn labelled_kube_system_passes() {
        let subject = namespace(
            json!({"metadata": {"name": "kube-system", "labels": {ADMISSION_WEBHOOKS_LABEL: "disabled"}}}),
        );
        assert!(check(&subject, &Context::new(Operation::Create, "")).is_empty());
    }

    #[test]
    fn other_namespaces_need_no_label() {
        let subject = namespace(json!({"metadata": {"name": "app"}}));
        assert!(check(&subject, &Context::new(Operation::Create, "")).is_empty());
    }

    #[rstest]
    #[case::label_missing(json!({}))]
    #[case::label_other_value(json!({ADMISSION_WEBHOOKS_LABEL: "enabled"}))]
    fn unlabelled_kube_system_is_fixed_by_adding_the_label(#[case] labels: Value) {
        let subject = namespace(json!({"metadata": {"name": "kube-system", "labels": labels}}));
        let findings = check(&subject, &Context::new(Operation::Create, ""));
        assert_eq!(findings.len(), 1);
        assert_eq!(
            findings[0].severity,
            Severity::Violation {
                edits: vec![Edit::insert(
                    vec!["metadata".into(), "labels".into()],
                    ADMISSION_WEBHOOKS_LABEL,
                    "disabled"
                )]
            }
        );
        assert!(findings[0]
            .fix
            .contains("kubectl label namespace kube-system"));
    }

    /// What a reconciler sends: the label gone from a namespace that had it.
    fn label_removed_update(old_labels: Value) -> Context {
        let mut context = Context::new(Operation::Update, "");
        context.previous_namespace = Some(
            serde_json::from_value(
                json!({"metadata": {"name": "kube-system", "labels": old_labels}}),
            )
            .unwrap(),
        );
        context
    }

    /// An UPDATE never gets the label, whether it removes it (what a
    /// replace-style reconciler sends) or the namespace never had it: a
    /// reconciler's syncs then settle after at most the CREATE's mutation.
    #[rstest]
    #[case::removed_by_the_update(json!({ADMISSION_WEBHOOKS_LABEL: "disabled"}), "the policy does not put it back")]
    #[case::never_there(json!({}), "only when a namespace is created, never on an UPDATE")]
    #[case::other_value_before(json!({ADMISSION_WEBHOOKS_LABEL: "enabled"}), "only when a namespace is created, never on an UPDATE")]
    fn an_update_never_adds_the_label(#[case] old_labels: Value, #[case] says: &str) {
        let subject = namespace(json!({"metadata": {"name": "kube-system"}}));
        let findings = check(&subject, &label_removed_update(old_labels));
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(findings[0].severity, Severity::Notice);
        assert!(
            findings[0].problem.contains(says),
            "{:?}",
            findings[0].problem
        );
    }

    #[test]
    fn a_removal_names_its_cost_and_the_pages_remedy() {
        let subject = namespace(json!({"metadata": {"name": "kube-system"}}));
        let findings = check(
            &subject,
            &label_removed_update(json!({ADMISSION_WEBHOOKS_LABEL: "disabled"})),
        );
        assert!(findings[0]
            .problem
            .contains("still skips \"kube-system\" by name"));
        assert!(findings[0].fix.contains("failurePolicy to Ignore"));
    }

    #[test]
    fn a_removed_label_costs_nothing_once_the_injector_is_loosened() {
        let subject = namespace(json!({"metadata": {"name": "kube-system"}}));
        let mut settings = Settings::default();
        settings.injector_webhook.failure_policy = FailurePolicy::Ignore;
        let context = label_removed_update(json!({ADMISSION_WEBHOOKS_LABEL: "disabled"}));
        assert!(SystemNamespaces
            .check(&subject, &context, &settings)
            .is_empty());
    }

    #[rstest]
    #[case::enabled("enabled")]
    #[case::ingress("ingress")]
    fn kube_system_requesting_injection_is_forbidden(#[case] value: &str) {
        let subject = namespace(json!({"metadata": {"name": "kube-system",
            "labels": {ADMISSION_WEBHOOKS_LABEL: "disabled"}, "annotations": {INJECT_ANNOTATION: value}}}));
        let findings = check(&subject, &Context::new(Operation::Create, ""));
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].severity, Severity::Forbidden);
    }

    fn pod_in_kube_system(value: Option<&str>) -> Subject {
        let annotations = value.map_or(json!({}), |v| json!({INJECT_ANNOTATION: v}));
        subject(
            WorkloadKind::Pod,
            &json!({"metadata": {"name": "dns", "annotations": annotations}, "spec": {"containers": [{"name": "dns"}]}}),
        )
    }

    #[test]
    fn workload_requesting_injection_in_kube_system_is_forbidden() {
        let subject = pod_in_kube_system(Some("enabled"));
        let context = workload_context(&subject, "kube-system", NamespaceInjection::NotNeeded);
        let findings = check(&subject, &context);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].severity, Severity::Forbidden);
    }

    #[rstest]
    #[case::no_annotation(None)]
    #[case::disabled(Some("disabled"))]
    fn quiet_workloads_in_kube_system_pass(#[case] value: Option<&str>) {
        let subject = pod_in_kube_system(value);
        let context = workload_context(
            &subject,
            "kube-system",
            NamespaceInjection::Known(NamespaceFacts {
                inject: InjectValue::Absent,
                webhooks_disabled: true,
            }),
        );
        assert!(check(&subject, &context).is_empty());
    }

    #[test]
    fn injection_inherited_from_kube_system_is_a_warning() {
        let subject = pod_in_kube_system(None);
        let context = workload_context(
            &subject,
            "kube-system",
            NamespaceInjection::Known(NamespaceFacts {
                inject: InjectValue::Valid(InjectMode::Enabled),
                webhooks_disabled: false,
            }),
        );
        let findings = check(&subject, &context);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].severity, Severity::Notice);
    }

    #[test]
    fn workloads_elsewhere_may_request_injection() {
        let subject = pod_in_kube_system(Some("enabled"));
        let context = workload_context(&subject, "app", NamespaceInjection::NotNeeded);
        assert!(check(&subject, &context).is_empty());
    }
}
