//! What every rule family implements ([`Rule`]) and is given: the object
//! ([`Subject`]) and what the edge looked up ([`Context`]). Below the
//! families, so that none of them reads the registry that lists it.

use std::rc::Rc;

use crate::finding::{Finding, RuleId};
use crate::injection::{EffectiveInjection, NamespaceInjection};
use crate::objects::{
    MutatingWebhookConfiguration, NamespaceObject, Node, PodDisruptionBudget, PrometheusObject,
};
use crate::phrasebook::LookupFailure;
use crate::settings::Settings;
use crate::workload::Workload;

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
    NodeChange(NodeChange),
}

/// A Node UPDATE or DELETE, as the scheduler sees it: the node before the
/// request, and after it (none once deleted).
#[derive(Debug, Clone)]
pub struct NodeChange {
    pub before: Node,
    pub after: Option<Node>,
}

impl NodeChange {
    /// Whether pods that could go to the node before might not after: a
    /// cordon, a new `NoSchedule`/`NoExecute` taint, or a deletion. Kubelet
    /// heartbeats and label changes are not, and need no lookup.
    pub fn narrows_placement(&self) -> bool {
        let Some(after) = &self.after else {
            return true;
        };
        let cordoned = after.spec.unschedulable && !self.before.spec.unschedulable;
        cordoned
            || after
                .blocking_taints()
                .any(|taint| !self.before.blocking_taints().any(|old| old == taint))
    }
}

/// The result of a cluster lookup made at the edge.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup<T> {
    /// No enabled rule needed it for this object.
    NotNeeded,
    Found(T),
    /// The host call failed; rules must not reject on what they can't see.
    Failed(LookupFailure),
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
    /// A Namespace UPDATE's oldObject: what someone else's change removed.
    pub previous_namespace: Option<NamespaceObject>,
    /// The Deployments and StatefulSets of `controlPlane.namespace`, read
    /// for a Node change: the critical components among them. Shared, not
    /// owned: a context is cloned to judge an UPDATE's oldObject, and a
    /// deep copy of workloads would cost the module its clone code.
    pub control_plane_workloads: Lookup<Rc<[Workload]>>,
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
            previous_namespace: None,
            control_plane_workloads: Lookup::NotNeeded,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    /// Read only for Nodes: every other kind's DELETE is accepted unread.
    Delete,
}

/// A rule: a pure function of object, context and settings.
pub trait Rule: Sync {
    fn id(&self) -> RuleId;
    fn check(&self, subject: &Subject, context: &Context, settings: &Settings) -> Vec<Finding>;
}

/// JSON path helper: `["spec", "template", "metadata"] + "annotations"`.
pub(crate) fn path_with(base: &[String], tail: &[&str]) -> Vec<String> {
    base.iter()
        .cloned()
        .chain(tail.iter().map(|segment| segment.to_string()))
        .collect()
}
