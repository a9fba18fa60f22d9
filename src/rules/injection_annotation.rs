//! `linkerd.io/inject` must hold a value Linkerd understands: anything else
//! is ignored by Linkerd without a word.

use super::{Context, Finding, Rule, RuleId, Subject};
use crate::injection::{InjectMode, INJECT_ANNOTATION};
use crate::objects::ObjectMeta;
use crate::settings::Settings;
use crate::verdict::quoted;
use crate::workload::WorkloadKind;

pub struct InjectionAnnotation;

impl Rule for InjectionAnnotation {
    fn id(&self) -> RuleId {
        RuleId::InjectionAnnotation
    }

    fn check(&self, subject: &Subject, _: &Context, _: &Settings) -> Vec<Finding> {
        let mut findings = Vec::new();
        match subject {
            Subject::Namespace(namespace) => {
                check_value(&namespace.metadata, "metadata.annotations", &mut findings)
            }
            Subject::Workload(workload) => {
                let template_place = match workload.kind {
                    WorkloadKind::Pod => "metadata.annotations".to_string(),
                    kind => format!("{}.metadata.annotations", kind.template_path().join(".")),
                };
                check_value(workload.pod_meta(), &template_place, &mut findings);
                if workload.kind != WorkloadKind::Pod {
                    if let Some(value) = workload.meta.annotation(INJECT_ANNOTATION) {
                        findings.push(Finding::notice(
                            self.id(),
                            format!(
                                "`{INJECT_ANNOTATION}: {}` on the {}'s own metadata has no effect: Linkerd reads it from the pod template",
                                quoted(value),
                                workload.kind.name()
                            ),
                            format!("move it to {template_place}"),
                        ));
                    }
                }
            }
            _ => {}
        }
        findings
    }
}

fn check_value(meta: &ObjectMeta, place: &str, findings: &mut Vec<Finding>) {
    if let Some(value) = meta.annotation(INJECT_ANNOTATION) {
        if InjectMode::parse(value).is_none() {
            findings.push(Finding::violation(
                RuleId::InjectionAnnotation,
                format!(
                    "{place} has `{INJECT_ANNOTATION}: {}`, which Linkerd silently ignores (valid values: {})",
                    quoted(value),
                    InjectMode::VALID
                ),
                format!("set `{INJECT_ANNOTATION}` to {} (lower case), or remove it", InjectMode::VALID),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::NamespaceObject;
    use crate::rules::test_support::*;
    use crate::rules::{Operation, Severity};
    use rstest::rstest;
    use serde_json::json;

    fn deployment(template_value: Option<&str>, own_value: Option<&str>) -> Subject {
        let mut object = json!({"metadata": {"name": "web", "annotations": {}},
            "spec": {"template": {"metadata": {"annotations": {}}, "spec": {"containers": []}}}});
        if let Some(v) = template_value {
            object["spec"]["template"]["metadata"]["annotations"][INJECT_ANNOTATION] = json!(v);
        }
        if let Some(v) = own_value {
            object["metadata"]["annotations"][INJECT_ANNOTATION] = json!(v);
        }
        subject(WorkloadKind::Deployment, &object)
    }

    fn check(subject: &Subject) -> Vec<Finding> {
        InjectionAnnotation.check(
            subject,
            &Context::new(Operation::Create, "app"),
            &Settings::default(),
        )
    }

    #[rstest]
    #[case::enabled("enabled")]
    #[case::ingress("ingress")]
    #[case::disabled("disabled")]
    fn valid_values_pass(#[case] value: &str) {
        assert!(check(&deployment(Some(value), None)).is_empty());
    }

    #[test]
    fn absent_annotation_passes() {
        assert!(check(&deployment(None, None)).is_empty());
    }

    #[rstest]
    #[case::inject_typo_true("true")]
    #[case::inject_capitalised("Enabled")]
    #[case::inject_empty("")]
    #[case::inject_yes("yes")]
    fn invalid_values_are_violations(#[case] value: &str) {
        let findings = check(&deployment(Some(value), None));
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].severity, Severity::Violation { edits: vec![] });
        assert!(findings[0].problem.contains(&format!("{value:?}")));
        assert!(findings[0]
            .problem
            .contains("spec.template.metadata.annotations"));
        assert!(findings[0].fix.contains("enabled, ingress or disabled"));
    }

    #[test]
    fn invalid_namespace_value_is_a_violation() {
        let namespace: NamespaceObject = serde_json::from_value(
            json!({"metadata": {"name": "app", "annotations": {INJECT_ANNOTATION: "true"}}}),
        )
        .unwrap();
        assert_eq!(check(&Subject::Namespace(namespace)).len(), 1);
    }

    #[test]
    fn annotation_on_the_workload_itself_is_flagged_as_having_no_effect() {
        let findings = check(&deployment(None, Some("enabled")));
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].severity, Severity::Notice);
        assert!(findings[0]
            .fix
            .contains("spec.template.metadata.annotations"));
    }
}
