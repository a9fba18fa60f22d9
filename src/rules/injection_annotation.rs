//! `linkerd.io/inject` must hold a value Linkerd understands. For anything
//! else Linkerd skips injection (an InjectionSkipped event nobody reads): on
//! a namespace that turns injection off for every pod in it, even pods that
//! say `enabled`; on a pod it wins over an `enabled` namespace. An empty
//! value is the same as none (Helm's `| quote` writes it).

use super::rule::{Context, Rule, Subject};
use crate::finding::{Finding, RuleId};
use crate::injection::{InjectMode, InjectValue, MeshReason, INJECT_ANNOTATION};
use crate::objects::ObjectMeta;
use crate::phrasebook::quoted;
use crate::settings::Settings;
use crate::workload::{Workload, WorkloadKind};

pub struct InjectionAnnotation;

impl Rule for InjectionAnnotation {
    fn id(&self) -> RuleId {
        RuleId::InjectionAnnotation
    }

    fn check(&self, subject: &Subject, context: &Context, _: &Settings) -> Vec<Finding> {
        let mut findings = Vec::new();
        match subject {
            Subject::Namespace(namespace) => check_value(
                &namespace.metadata,
                "metadata.annotations",
                ValueScope::Namespace,
                &mut findings,
            ),
            Subject::Workload(workload) => {
                let template_place = workload.pod_annotations_place();
                check_value(
                    workload.pod_meta(),
                    &template_place,
                    ValueScope::Pod,
                    &mut findings,
                );
                if let Some(finding) = skipped_by_namespace_value(workload, context) {
                    findings.push(finding);
                }
                if workload.kind != WorkloadKind::Pod {
                    findings.extend(misleading_own_value(workload, &template_place));
                }
            }
            _ => {}
        }
        findings
    }
}

/// `linkerd.io/inject` on a workload's own metadata, where Linkerd never
/// reads it. Linkerd's own manifests (`linkerd viz install`) carry the same
/// value there and in the template: nothing is misread, so nothing is said.
/// Only a value the template lacks, or contradicts, could mislead.
fn misleading_own_value(workload: &Workload, template_place: &str) -> Option<Finding> {
    let own = workload.meta.annotation(INJECT_ANNOTATION)?;
    let kind = workload.kind.name();
    let (what, fix) = match workload.pod_meta().annotation(INJECT_ANNOTATION) {
        Some(template) if template == own => return None,
        Some(template) => (
            format!("the pod template says {}, and that is what Linkerd reads", quoted(template)),
            format!("give {template_place} the value intended, and remove the one on the {kind}'s own metadata"),
        ),
        None => (
            "Linkerd reads it from the pod template, which has none".to_string(),
            format!("move it to {template_place}"),
        ),
    };
    Some(Finding::notice(
        RuleId::InjectionAnnotation,
        format!(
            "`{INJECT_ANNOTATION}: {}` on the {kind}'s own metadata has no effect: {what}",
            quoted(own)
        ),
        fix,
    ))
}

/// Pods that ask for injection in a namespace whose own value Linkerd
/// rejects: Linkerd skips them all the same (report.go checks the
/// namespace's value first), and only an event nobody reads says so.
fn skipped_by_namespace_value(workload: &Workload, context: &Context) -> Option<Finding> {
    let decision = context.injection?;
    let asks = InjectValue::of(workload.pod_meta());
    if decision.reason != MeshReason::InvalidNamespaceValue || !asks.requests_injection() {
        return None;
    }
    let value = workload
        .pod_meta()
        .annotation(INJECT_ANNOTATION)
        .unwrap_or_default();
    Some(Finding::notice(
        RuleId::InjectionAnnotation,
        format!(
            "{} asks for injection (`{INJECT_ANNOTATION}: {value}`), but namespace {:?} has a `{INJECT_ANNOTATION}` value Linkerd does not accept, so Linkerd skips injection for these pods",
            workload.pod_annotations_place(),
            context.namespace
        ),
        format!(
            "set namespace {:?}'s `{INJECT_ANNOTATION}` to {} (lower case), or remove it",
            context.namespace,
            InjectMode::VALID
        ),
    ))
}

fn check_value(meta: &ObjectMeta, place: &str, scope: ValueScope, findings: &mut Vec<Finding>) {
    if InjectValue::of(meta) != InjectValue::Invalid {
        return;
    }
    let value = meta.annotation(INJECT_ANNOTATION).unwrap_or_default();
    let effect = match scope {
        ValueScope::Namespace => {
            "Linkerd skips injection for every pod in the namespace, even pods that say `enabled`"
        }
        ValueScope::Pod => {
            "Linkerd skips injection for these pods, even in a namespace that says `enabled`"
        }
    };
    findings.push(Finding::violation(
        RuleId::InjectionAnnotation,
        format!(
            "{place} has `{INJECT_ANNOTATION}: {}`, which is not a value Linkerd accepts ({}): {effect}",
            quoted(value),
            InjectMode::VALID
        ),
        format!(
            "set `{INJECT_ANNOTATION}` to {} (lower case), or remove it",
            InjectMode::VALID
        ),
    ));
}

/// Where an invalid value sits decides what it turns off.
#[derive(Clone, Copy)]
enum ValueScope {
    Namespace,
    Pod,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::Severity;
    use crate::objects::NamespaceObject;
    use crate::rules::test_support::*;
    use crate::rules::Operation;
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

    #[rstest]
    #[case::absent(None)]
    #[case::empty_as_helm_quote_writes_it(Some(""))]
    fn absent_or_empty_annotation_passes(#[case] value: Option<&str>) {
        assert!(check(&deployment(value, None)).is_empty());
    }

    #[rstest]
    #[case::inject_typo_true("true")]
    #[case::inject_capitalised("Enabled")]
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
        assert!(findings[0].problem.contains(
            "Linkerd skips injection for these pods, even in a namespace that says `enabled`"
        ));
    }

    #[test]
    fn invalid_namespace_value_is_a_violation() {
        let namespace: NamespaceObject = serde_json::from_value(
            json!({"metadata": {"name": "app", "annotations": {INJECT_ANNOTATION: "true"}}}),
        )
        .unwrap();
        let findings = check(&Subject::Namespace(namespace));
        assert_eq!(findings.len(), 1);
        assert!(findings[0].problem.contains(
            "Linkerd skips injection for every pod in the namespace, even pods that say `enabled`"
        ));
    }

    /// Only where the workload's own value could mislead: the template
    /// lacks it or says otherwise (Linkerd's viz install writes both alike).
    #[rstest]
    #[case::template_lacks_it(None, Some("enabled"), Some("which has none"))]
    #[case::template_says_otherwise(
        Some("disabled"),
        Some("enabled"),
        Some("the pod template says \"disabled\"")
    )]
    #[case::template_agrees(Some("enabled"), Some("enabled"), None)]
    #[case::only_the_template(Some("enabled"), None, None)]
    fn the_workloads_own_value_is_flagged_only_where_it_could_mislead(
        #[case] template: Option<&str>,
        #[case] own: Option<&str>,
        #[case] says: Option<&str>,
    ) {
        let findings = check(&deployment(template, own));
        match says {
            None => assert!(findings.is_empty(), "{findings:?}"),
            Some(says) => {
                assert_eq!(findings.len(), 1, "{findings:?}");
                assert_eq!(findings[0].severity, Severity::Notice);
                assert!(findings[0].problem.contains("has no effect"));
                assert!(
                    findings[0].problem.contains(says),
                    "{:?}",
                    findings[0].problem
                );
                assert!(findings[0]
                    .fix
                    .contains("spec.template.metadata.annotations"));
            }
        }
    }
}
