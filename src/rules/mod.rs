//! The rules, one module per family, all behind [`Rule`]: a pure function of
//! the object, what the edge looked up in the cluster, and the settings.

mod control_plane;
mod disruption_budgets;
mod injection_annotation;
mod injector_webhook;
mod prometheus;
mod proxy;
mod safe_to_evict;
mod system_namespaces;

use crate::injection::{EffectiveInjection, NamespaceInjection};
use crate::mutation::Edit;
use crate::objects::{
    MutatingWebhookConfiguration, NamespaceObject, Node, PodDisruptionBudget, PrometheusObject,
};
use crate::settings::Settings;
use crate::workload::Workload;

pub use control_plane::critical_component;
pub use injector_webhook::needs_control_plane_namespace;

/// Every rule, by the name its action has in the settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RuleId {
    InjectionAnnotation,
    SystemNamespaces,
    SafeToEvict,
    ProxyPresent,
    ProxyResources,
    ControlPlaneReplicas,
    ControlPlaneAntiAffinity,
    ControlPlaneResources,
    DisruptionBudgets,
    InjectorWebhook,
    PrometheusRetention,
    NodeCapacity,
}

impl RuleId {
    pub const ALL: [RuleId; 12] = [
        Self::InjectionAnnotation,
        Self::SystemNamespaces,
        Self::SafeToEvict,
        Self::ProxyPresent,
        Self::ProxyResources,
        Self::ControlPlaneReplicas,
        Self::ControlPlaneAntiAffinity,
        Self::ControlPlaneResources,
        Self::DisruptionBudgets,
        Self::InjectorWebhook,
        Self::PrometheusRetention,
        Self::NodeCapacity,
    ];

    /// The rule's key under `settings.rules`.
    pub fn name(self) -> &'static str {
        match self {
            Self::InjectionAnnotation => "injectionAnnotation",
            Self::SystemNamespaces => "systemNamespaces",
            Self::SafeToEvict => "safeToEvict",
            Self::ProxyPresent => "proxyPresent",
            Self::ProxyResources => "proxyResources",
            Self::ControlPlaneReplicas => "controlPlaneReplicas",
            Self::ControlPlaneAntiAffinity => "controlPlaneAntiAffinity",
            Self::ControlPlaneResources => "controlPlaneResources",
            Self::DisruptionBudgets => "disruptionBudgets",
            Self::InjectorWebhook => "injectorWebhook",
            Self::PrometheusRetention => "prometheusRetention",
            Self::NodeCapacity => "nodeCapacity",
        }
    }

    /// Whether the rule has anything it could fix by mutation.
    pub fn can_mutate(self) -> bool {
        matches!(
            self,
            Self::SystemNamespaces
                | Self::SafeToEvict
                | Self::ProxyResources
                | Self::ControlPlaneAntiAffinity
                | Self::ControlPlaneResources
        )
    }
}

impl std::fmt::Display for RuleId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The object under review, decoded as far as the rules read it.
// One Subject lives per request, on the stack: boxing the workload would
// only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Subject {
    Workload(Workload),
    Namespace(NamespaceObject),
    DisruptionBudget(PodDisruptionBudget),
    InjectorWebhook(MutatingWebhookConfiguration),
    Prometheus(PrometheusObject),
}

/// The result of a cluster lookup made at the edge.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup<T> {
    /// No enabled rule needed it for this object.
    NotNeeded,
    Found(T),
    /// The host call failed; rules must not reject on what they can't see.
    Failed(String),
}

/// Everything a rule may know besides the object and the settings.
#[derive(Debug, Clone)]
pub struct Context {
    pub operation: Operation,
    /// The namespace the object lives in (empty for cluster-scoped objects).
    pub namespace: String,
    /// Linkerd's injection decision for a workload's pods.
    pub injection: Option<EffectiveInjection>,
    pub namespace_injection: NamespaceInjection,
    pub disruption_budgets: Lookup<Vec<PodDisruptionBudget>>,
    pub nodes: Lookup<Vec<Node>>,
    /// `controlPlane.namespace` as the cluster holds it: read for the
    /// injector webhook, whose deadlock depends on its labels.
    pub control_plane_namespace: Lookup<NamespaceObject>,
}

impl Context {
    pub fn new(operation: Operation, namespace: impl Into<String>) -> Self {
        Self {
            operation,
            namespace: namespace.into(),
            injection: None,
            namespace_injection: NamespaceInjection::NotNeeded,
            disruption_budgets: Lookup::NotNeeded,
            nodes: Lookup::NotNeeded,
            control_plane_namespace: Lookup::NotNeeded,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
}

/// How a finding weighs, before the rule's action is applied.
#[derive(Debug, Clone, PartialEq)]
pub enum Severity {
    /// Breaks the rule: the action decides. Non-empty edits fix it under
    /// `mutate`; with none, `mutate` rejects.
    Violation { edits: Vec<Edit> },
    /// Rejected under every action but `off`: not the policy's call to fix.
    Forbidden,
    /// Always a warning: the operator's explicit choice, or missing context.
    Notice,
}

/// One thing a rule found on the object.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub rule: RuleId,
    pub severity: Severity,
    /// What is wrong.
    pub problem: String,
    /// How to fix it.
    pub fix: String,
}

impl Finding {
    pub fn violation(rule: RuleId, problem: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            rule,
            severity: Severity::Violation { edits: Vec::new() },
            problem: problem.into(),
            fix: fix.into(),
        }
    }

    pub fn forbidden(rule: RuleId, problem: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            severity: Severity::Forbidden,
            ..Self::violation(rule, problem, fix)
        }
    }

    pub fn notice(rule: RuleId, problem: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            severity: Severity::Notice,
            ..Self::violation(rule, problem, fix)
        }
    }

    /// Whether the finding could refuse the object (a violation or a
    /// forbidden state), as opposed to a notice, which only ever warns.
    pub fn could_refuse(&self) -> bool {
        !matches!(self.severity, Severity::Notice)
    }

    /// Whether `mutate` would fix it with edits.
    pub fn has_edits(&self) -> bool {
        matches!(&self.severity, Severity::Violation { edits } if !edits.is_empty())
    }

    /// A violation that `mutate` fixes with these edits.
    pub fn fixed_by(mut self, edits: Vec<Edit>) -> Self {
        self.severity = Severity::Violation { edits };
        self
    }
}

/// A rule: a pure function of object, context and settings.
pub trait Rule: Sync {
    fn id(&self) -> RuleId;
    fn check(&self, subject: &Subject, context: &Context, settings: &Settings) -> Vec<Finding>;
}

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

/// JSON path helper: `["spec", "template", "metadata"] + "annotations"`.
pub(crate) fn path_with(base: &[String], tail: &[&str]) -> Vec<String> {
    base.iter()
        .cloned()
        .chain(tail.iter().map(|segment| segment.to_string()))
        .collect()
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Builders shared by the rule tests.
    use super::*;
    use crate::workload::WorkloadKind;
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
