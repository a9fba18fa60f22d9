//! System namespaces (kube-system and the like) keep Linkerd's injector away:
//! they carry `config.linkerd.io/admission-webhooks: disabled` and never ask
//! for injection.

use super::rule::{path_with, Context, Rule, Subject};
use crate::finding::{Finding, RuleId};
use crate::injection::{InjectValue, NamespaceInjection, INJECT_ANNOTATION};
pub use crate::injection::{ADMISSION_WEBHOOKS_DISABLED, ADMISSION_WEBHOOKS_LABEL};
use crate::mutation::Edit;
use crate::phrasebook::quoted;
use crate::settings::Settings;

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
                if meta.label(ADMISSION_WEBHOOKS_LABEL) != Some(ADMISSION_WEBHOOKS_DISABLED) {
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
                            "remove `{INJECT_ANNOTATION}` from the pod template, or run the workload outside {:?}",
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
        let findings = check(&subject, &Context::new(Operation::Update, ""));
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
