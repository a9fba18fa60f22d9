//! The rules, one module per family, all behind [`Rule`]: a pure function of
//! the object, what the edge looked up in the cluster, and the settings.

mod control_plane;
mod disruption_budgets;
mod injection_annotation;
mod injector_webhook;
mod node_changes;
mod prometheus;
mod proxy;
mod rule;
mod safe_to_evict;
mod system_namespaces;

use crate::finding::Finding;
use crate::settings::Settings;

pub use rule::{Context, Lookup, NodeChange, Operation, Rule, Subject};

pub use control_plane::critical_component;
pub use injector_webhook::needs_control_plane_namespace;
pub use node_changes::needing_a_node_each;

/// Every rule, in the order their findings are reported.
pub static RULES: &[&dyn Rule] = &[
    &injection_annotation::InjectionAnnotation,
    &system_namespaces::SystemNamespaces,
    &safe_to_evict::SafeToEvict,
    &proxy::ProxyPresent,
    &proxy::ProxyResources,
    &control_plane::ControlPlaneReplicas,
    &control_plane::ControlPlaneAntiAffinity,
    &control_plane::ControlPlaneResources,
    &control_plane::NodeCapacity,
    &node_changes::NodeChanges,
    &disruption_budgets::DisruptionBudgets,
    &injector_webhook::InjectorWebhook,
    &prometheus::PrometheusRetention,
];

/// Runs every enabled rule on the subject.
pub fn check_all(subject: &Subject, context: &Context, settings: &Settings) -> Vec<Finding> {
    RULES
        .iter()
        .filter(|rule| settings.rules.is_on(rule.id()))
        .flat_map(|rule| rule.check(subject, context, settings))
        .collect()
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Builders shared by the rule tests.
    use super::*;
    use crate::injection::{EffectiveInjection, NamespaceInjection};
    use crate::workload::{Workload, WorkloadKind};
    use serde_json::Value;

    pub fn workload(kind: WorkloadKind, object: &Value) -> Workload {
        Workload::decode(kind, &object.to_string()).expect("test object decodes")
    }

    pub fn subject(kind: WorkloadKind, object: &Value) -> Subject {
        Subject::Workload(workload(kind, object))
    }

    /// Asserts the rule found exactly one thing, and that its problem says
    /// `problem`.
    pub fn assert_only_finding(findings: &[Finding], problem: &str) {
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert!(
            findings[0].problem.contains(problem),
            "{:?} lacks {problem:?}",
            findings[0].problem
        );
    }

    /// What a namespace annotated with `linkerd.io/inject: value` (or not
    /// annotated) tells Linkerd's injector.
    pub fn namespace_annotated(value: Option<&str>) -> NamespaceInjection {
        use crate::injection::{InjectValue, NamespaceFacts};
        let inject = match value {
            None | Some("") => InjectValue::Absent,
            Some(value) => crate::injection::InjectMode::parse(value)
                .map_or(InjectValue::Invalid, InjectValue::Valid),
        };
        NamespaceInjection::Known(NamespaceFacts {
            inject,
            webhooks_disabled: false,
        })
    }

    /// A context for a workload, with Linkerd's decision resolved as the
    /// admission edge would.
    pub fn workload_context(subject: &Subject, namespace: &str, ns: NamespaceInjection) -> Context {
        let mut context = Context::new(Operation::Create, namespace);
        if let Subject::Workload(workload) = subject {
            context.injection = Some(EffectiveInjection::resolve(
                workload,
                namespace,
                &ns,
                &Settings::default(),
            ));
        }
        context.namespace_injection = ns;
        context
    }
}
