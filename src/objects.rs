//! The parts of Kubernetes objects the rules read, and nothing else: each
//! struct's `json_object!` table names its members (see `decode.rs`), every
//! other field is skipped, so decoding costs little and an unknown field can
//! never be lost (mutations edit the request's own JSON, not these structs).

use serde::{Deserialize, Deserializer};

use crate::decode::{json_object, FieldSlot, ObjectFields};
use crate::json_value::{IntOrString, Members, StringMap};
use crate::quantity::RawQuantity;

#[derive(Debug, Clone, Default)]
pub struct ObjectMeta {
    pub name: String,
    pub generate_name: String,
    pub namespace: String,
    pub labels: StringMap,
    pub annotations: StringMap,
    pub owner_references: Vec<OwnerReference>,
}

json_object!(lenient ObjectMeta {
    "name" => name,
    "generateName" => generate_name,
    "namespace" => namespace,
    "labels" => labels,
    "annotations" => annotations,
    "ownerReferences" => owner_references,
});

/// Who made the object: a controller owner (a Deployment for its
/// ReplicaSet, a ReplicaSet for its Pods) recreates it from its own template.
#[derive(Debug, Clone, Default)]
pub struct OwnerReference {
    pub kind: String,
    pub name: String,
    pub controller: bool,
}

json_object!(lenient OwnerReference {
    "kind" => kind,
    "name" => name,
    "controller" => controller,
});

/// `ReplicaSet/web-5d8f`, as messages name an owner.
impl std::fmt::Display for OwnerReference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.kind, self.name)
    }
}

impl ObjectMeta {
    /// The owner whose controller manages this object, if any.
    pub fn controller_owner(&self) -> Option<&OwnerReference> {
        self.owner_references.iter().find(|owner| owner.controller)
    }

    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.get(key).map(String::as_str)
    }

    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }

    /// The name to show: pods created by controllers have only a prefix.
    pub fn display_name(&self) -> &str {
        match (self.name.is_empty(), self.generate_name.is_empty()) {
            (false, _) => &self.name,
            (true, false) => &self.generate_name,
            (true, true) => "<unnamed>",
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct PodSpec {
    pub host_network: bool,
    pub containers: Vec<Container>,
    pub init_containers: Vec<Container>,
    pub affinity: Affinity,
    /// `false` keeps the service-account token out of the pod, and Linkerd's
    /// injector skips such pods (the proxy needs the token for its identity).
    pub automount_service_account_token: Option<bool>,
    pub tolerations: Vec<Toleration>,
}

json_object!(lenient PodSpec {
    "hostNetwork" => host_network,
    "containers" => containers,
    "initContainers" => init_containers,
    "affinity" => affinity,
    "automountServiceAccountToken" => automount_service_account_token,
    "tolerations" => tolerations,
});

/// A pod's tolerance of node taints.
#[derive(Debug, Clone, Default)]
pub struct Toleration {
    pub key: String,
    /// `Equal` (also when empty) or `Exists`.
    pub operator: String,
    pub value: String,
    /// Empty tolerates every effect.
    pub effect: String,
}

json_object!(lenient Toleration {
    "key" => key,
    "operator" => operator,
    "value" => value,
    "effect" => effect,
});

impl Toleration {
    /// `v1.Toleration.ToleratesTaint`, as the scheduler applies it.
    pub fn tolerates(&self, taint: &Taint) -> bool {
        if !self.effect.is_empty() && self.effect != taint.effect {
            return false;
        }
        if !self.key.is_empty() && self.key != taint.key {
            return false;
        }
        match self.operator.as_str() {
            "" | "Equal" => self.value == taint.value,
            "Exists" => true,
            _ => false,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Container {
    pub name: String,
    pub image: String,
    pub command: Vec<String>,
    pub args: Vec<String>,
    pub resources: Resources,
    /// `Always` on an init container makes it a native sidecar.
    pub restart_policy: String,
}

json_object!(lenient Container {
    "name" => name,
    "image" => image,
    "command" => command,
    "args" => args,
    "resources" => resources,
    "restartPolicy" => restart_policy,
});

#[derive(Debug, Clone, Default)]
pub struct Resources {
    pub requests: Members<RawQuantity>,
    pub limits: Members<RawQuantity>,
}

json_object!(lenient Resources {
    "requests" => requests,
    "limits" => limits,
});

#[derive(Debug, Clone, Default)]
pub struct Affinity {
    pub pod_anti_affinity: PodAntiAffinity,
}

json_object!(lenient Affinity {
    "podAntiAffinity" => pod_anti_affinity,
});

#[derive(Debug, Clone, Default)]
pub struct PodAntiAffinity {
    pub required: Vec<PodAffinityTerm>,
    pub preferred: Vec<WeightedPodAffinityTerm>,
}

json_object!(lenient PodAntiAffinity {
    "requiredDuringSchedulingIgnoredDuringExecution" => required,
    "preferredDuringSchedulingIgnoredDuringExecution" => preferred,
});

#[derive(Debug, Clone, Default)]
pub struct PodAffinityTerm {
    pub label_selector: Option<LabelSelector>,
    pub topology_key: String,
}

json_object!(lenient PodAffinityTerm {
    "labelSelector" => label_selector,
    "topologyKey" => topology_key,
});

#[derive(Debug, Clone, Default)]
pub struct WeightedPodAffinityTerm {
    pub weight: i64,
    pub pod_affinity_term: PodAffinityTerm,
}

json_object!(lenient WeightedPodAffinityTerm {
    "weight" => weight,
    "podAffinityTerm" => pod_affinity_term,
});

#[derive(Debug, Clone, Default)]
pub struct LabelSelector {
    pub match_labels: StringMap,
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

json_object!(lenient LabelSelector {
    "matchLabels" => match_labels,
    "matchExpressions" => match_expressions,
});

#[derive(Debug, Clone, Default)]
pub struct LabelSelectorRequirement {
    pub key: String,
    pub operator: String,
    pub values: Vec<String>,
}

json_object!(lenient LabelSelectorRequirement {
    "key" => key,
    "operator" => operator,
    "values" => values,
});

/// A Namespace: only its metadata matters.
#[derive(Debug, Clone, Default)]
pub struct NamespaceObject {
    pub metadata: ObjectMeta,
}

json_object!(lenient NamespaceObject {
    "metadata" => metadata,
});

// The fields of each looked-up kind the rules read, which the policy server
// prunes its answers to (field masks); sorted, as the SDK's set sends them.
// One list for the module's lookups and for every host that mirrors them.

impl NamespaceObject {
    pub const LOOKUP_FIELDS: &'static [&'static str] =
        &["metadata.annotations", "metadata.labels", "metadata.name"];
}

impl PodDisruptionBudget {
    pub const LOOKUP_FIELDS: &'static [&'static str] = &[
        "metadata.name",
        "spec.maxUnavailable",
        "spec.minAvailable",
        "spec.selector",
    ];
}

#[derive(Debug, Clone, Default)]
pub struct PodDisruptionBudget {
    pub metadata: ObjectMeta,
    pub spec: PodDisruptionBudgetSpec,
}

json_object!(lenient PodDisruptionBudget {
    "metadata" => metadata,
    "spec" => spec,
});

#[derive(Debug, Clone, Default)]
pub struct PodDisruptionBudgetSpec {
    pub selector: Option<LabelSelector>,
    pub min_available: Option<IntOrString>,
    pub max_unavailable: Option<IntOrString>,
}

json_object!(lenient PodDisruptionBudgetSpec {
    "selector" => selector,
    "minAvailable" => min_available,
    "maxUnavailable" => max_unavailable,
});

#[derive(Debug, Clone, Default)]
pub struct MutatingWebhookConfiguration {
    pub metadata: ObjectMeta,
    pub webhooks: Vec<MutatingWebhook>,
}

json_object!(lenient MutatingWebhookConfiguration {
    "metadata" => metadata,
    "webhooks" => webhooks,
});

#[derive(Debug, Clone, Default)]
pub struct MutatingWebhook {
    pub name: String,
    pub failure_policy: Option<String>,
    pub namespace_selector: Option<LabelSelector>,
    pub object_selector: Option<LabelSelector>,
}

json_object!(lenient MutatingWebhook {
    "name" => name,
    "failurePolicy" => failure_policy,
    "namespaceSelector" => namespace_selector,
    "objectSelector" => object_selector,
});

/// Prometheus Operator's `monitoring.coreos.com/v1` Prometheus.
#[derive(Debug, Clone, Default)]
pub struct PrometheusObject {
    pub metadata: ObjectMeta,
    pub spec: PrometheusSpec,
}

json_object!(lenient PrometheusObject {
    "metadata" => metadata,
    "spec" => spec,
});

#[derive(Debug, Clone, Default)]
pub struct PrometheusSpec {
    pub retention: Option<String>,
    pub retention_size: Option<String>,
    pub resources: Resources,
}

json_object!(lenient PrometheusSpec {
    "retention" => retention,
    "retentionSize" => retention_size,
    "resources" => resources,
});

/// A Node, as far as scheduling capacity goes.
#[derive(Debug, Clone, Default)]
pub struct Node {
    pub metadata: ObjectMeta,
    pub spec: NodeSpec,
}

json_object!(lenient Node {
    "metadata" => metadata,
    "spec" => spec,
});

#[derive(Debug, Clone, Default)]
pub struct NodeSpec {
    /// Cordoned.
    pub unschedulable: bool,
    pub taints: Vec<Taint>,
}

json_object!(lenient NodeSpec {
    "unschedulable" => unschedulable,
    "taints" => taints,
});

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Taint {
    pub key: String,
    pub value: String,
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`.
    pub effect: String,
}

json_object!(lenient Taint {
    "key" => key,
    "value" => value,
    "effect" => effect,
});

/// The taint the node lifecycle controller puts on cordoned nodes; a pod
/// tolerating it may still be scheduled there.
pub const UNSCHEDULABLE_TAINT: &str = "node.kubernetes.io/unschedulable";

impl Node {
    pub const LOOKUP_FIELDS: &'static [&'static str] =
        &["metadata.name", "spec.taints", "spec.unschedulable"];

    /// The taints that keep pods without a toleration off the node.
    pub fn blocking_taints(&self) -> impl Iterator<Item = &Taint> + Clone {
        self.spec
            .taints
            .iter()
            .filter(|taint| matches!(taint.effect.as_str(), "NoSchedule" | "NoExecute"))
    }

    /// Whether the scheduler may place a pod with these tolerations here:
    /// not cordoned (NodeUnschedulable), and every `NoSchedule`/`NoExecute`
    /// taint tolerated (TaintToleration). `PreferNoSchedule` only steers.
    pub fn admits(&self, tolerations: &[Toleration]) -> bool {
        let tolerated = |taint: &Taint| tolerations.iter().any(|t| t.tolerates(taint));
        let cordon = Taint {
            key: UNSCHEDULABLE_TAINT.to_string(),
            value: String::new(),
            effect: "NoSchedule".to_string(),
        };
        (!self.spec.unschedulable || tolerated(&cordon)) && self.blocking_taints().all(tolerated)
    }
}

/// A Deployment's `spec.strategy`.
#[derive(Debug, Clone, Default)]
pub struct DeploymentStrategy {
    /// `RollingUpdate` (also when empty) or `Recreate`.
    pub kind: String,
    pub rolling_update: RollingUpdate,
}

json_object!(lenient DeploymentStrategy {
    "type" => kind,
    "rollingUpdate" => rolling_update,
});

#[derive(Debug, Clone, Default)]
pub struct RollingUpdate {
    pub max_unavailable: Option<IntOrString>,
}

json_object!(lenient RollingUpdate {
    "maxUnavailable" => max_unavailable,
});

impl DeploymentStrategy {
    /// The API server's default for an absent `maxUnavailable`.
    pub const DEFAULT_MAX_UNAVAILABLE: &'static str = "25%";

    /// How many pods a rolling update may take down at once: `None` for
    /// `Recreate`, which has no such limit. A percentage rounds down, as the
    /// Deployment controller rounds it; an unreadable value counts as 0,
    /// which is how far the controller would get with it.
    pub fn max_unavailable(&self, replicas: u32) -> Option<i64> {
        if self.kind == "Recreate" {
            return None;
        }
        let value = self
            .rolling_update
            .max_unavailable
            .clone()
            .unwrap_or_else(|| IntOrString::String(Self::DEFAULT_MAX_UNAVAILABLE.to_string()));
        Some(value.resolve_down(replicas).unwrap_or(0))
    }
}

/// The `items` of a Kubernetes List answer.
#[derive(Debug, Clone)]
pub struct ObjectList<T> {
    pub items: Vec<T>,
}

impl<T> Default for ObjectList<T> {
    fn default() -> Self {
        Self { items: Vec::new() }
    }
}

impl<'de, T: ObjectFields<'de> + Default> ObjectFields<'de> for ObjectList<T> {
    fn field(&mut self, key: &str) -> Option<FieldSlot<'_, 'de>> {
        (key == "items").then_some(FieldSlot::Objects(&mut self.items))
    }
    fn reset(&mut self) {
        self.items.clear();
    }
    fn name(&self) -> &'static str {
        "List"
    }
}

impl<'de, T: ObjectFields<'de> + Default> Deserialize<'de> for ObjectList<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::decode::deserialize_object(deserializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use serde_json::json;

    #[rstest]
    #[case::count(IntOrString::Int(1), 3, Some(1))]
    #[case::percent_rounds_up(IntOrString::String("50%".into()), 3, Some(2))]
    #[case::zero_percent(IntOrString::String("0%".into()), 3, Some(0))]
    #[case::garbage(IntOrString::String("one".into()), 3, None)]
    fn int_or_string_resolves(
        #[case] value: IntOrString,
        #[case] total: u32,
        #[case] expected: Option<i64>,
    ) {
        assert_eq!(value.resolve(total), expected);
    }

    #[rstest]
    #[case::count(IntOrString::Int(1), 3, Some(1))]
    #[case::quarter_of_three_rounds_down_to_zero(IntOrString::String("25%".into()), 3, Some(0))]
    #[case::half_of_three(IntOrString::String("50%".into()), 3, Some(1))]
    #[case::whole(IntOrString::String("100%".into()), 3, Some(3))]
    #[case::no_percent_sign(IntOrString::String("1".into()), 3, None)]
    fn int_or_string_resolves_down(
        #[case] value: IntOrString,
        #[case] total: u32,
        #[case] expected: Option<i64>,
    ) {
        assert_eq!(value.resolve_down(total), expected);
    }

    #[rstest]
    #[case::absent_is_a_quarter(json!({}), Some(0))]
    #[case::count(json!({"rollingUpdate": {"maxUnavailable": 1}}), Some(1))]
    #[case::percent(json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "34%"}}), Some(1))]
    #[case::zero(json!({"rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}), Some(0))]
    #[case::unreadable_counts_as_zero(json!({"rollingUpdate": {"maxUnavailable": "one"}}), Some(0))]
    #[case::recreate_has_no_limit(json!({"type": "Recreate"}), None)]
    fn deployment_max_unavailable(
        #[case] strategy: serde_json::Value,
        #[case] expected: Option<i64>,
    ) {
        let strategy: DeploymentStrategy = serde_json::from_value(strategy).unwrap();
        assert_eq!(strategy.max_unavailable(3), expected);
    }

    fn node(spec: serde_json::Value) -> Node {
        serde_json::from_value(json!({"metadata": {"name": "n"}, "spec": spec})).unwrap()
    }

    fn tolerations(value: serde_json::Value) -> Vec<Toleration> {
        serde_json::from_value(value).unwrap()
    }

    const CONTROL_PLANE_TAINT: &str = "node-role.kubernetes.io/control-plane";

    #[rstest]
    #[case::plain(json!({}), json!([]), true)]
    #[case::cordoned(json!({"unschedulable": true}), json!([]), false)]
    #[case::cordoned_but_tolerated(json!({"unschedulable": true}), json!([{"key": UNSCHEDULABLE_TAINT, "operator": "Exists", "effect": "NoSchedule"}]), true)]
    #[case::no_schedule_taint(json!({"taints": [{"key": CONTROL_PLANE_TAINT, "effect": "NoSchedule"}]}), json!([]), false)]
    #[case::no_execute_taint(json!({"taints": [{"key": "dedicated", "value": "db", "effect": "NoExecute"}]}), json!([]), false)]
    #[case::prefer_no_schedule_only_steers(json!({"taints": [{"key": "spot", "effect": "PreferNoSchedule"}]}), json!([]), true)]
    #[case::tolerated_by_key(json!({"taints": [{"key": CONTROL_PLANE_TAINT, "effect": "NoSchedule"}]}), json!([{"key": CONTROL_PLANE_TAINT, "operator": "Exists", "effect": "NoSchedule"}]), true)]
    #[case::tolerated_by_value(json!({"taints": [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]}), json!([{"key": "dedicated", "operator": "Equal", "value": "db"}]), true)]
    #[case::empty_operator_means_equal(json!({"taints": [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]}), json!([{"key": "dedicated", "value": "web"}]), false)]
    #[case::other_effect_not_tolerated(json!({"taints": [{"key": "dedicated", "value": "db", "effect": "NoExecute"}]}), json!([{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]), false)]
    #[case::wildcard_toleration(json!({"unschedulable": true, "taints": [{"key": "a", "effect": "NoSchedule"}, {"key": "b", "effect": "NoExecute"}]}), json!([{"operator": "Exists"}]), true)]
    #[case::one_of_two_tolerated(json!({"taints": [{"key": "a", "effect": "NoSchedule"}, {"key": "b", "effect": "NoSchedule"}]}), json!([{"key": "a", "operator": "Exists"}]), false)]
    fn nodes_admit_as_the_scheduler_does(
        #[case] spec: serde_json::Value,
        #[case] pod_tolerations: serde_json::Value,
        #[case] admits: bool,
    ) {
        assert_eq!(node(spec).admits(&tolerations(pod_tolerations)), admits);
    }

    #[test]
    fn nulls_are_absent_fields() {
        let meta: ObjectMeta =
            serde_json::from_value(json!({"name": null, "labels": null, "annotations": null}))
                .unwrap();
        assert!(meta.labels.is_empty() && meta.name.is_empty());
        let spec: PodSpec = serde_json::from_value(
            json!({"containers": null, "hostNetwork": null, "affinity": null}),
        )
        .unwrap();
        assert!(spec.containers.is_empty() && !spec.host_network);
    }
}
