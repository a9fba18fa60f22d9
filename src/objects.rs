//! The parts of Kubernetes objects the rules read, and nothing else: serde
//! skips every other field, so decoding costs little and an unknown field can
//! never be lost (mutations edit the request's own JSON, not these structs).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

use crate::quantity::RawQuantity;

/// Treats an explicit `null` like an absent field.
pub(crate) fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// A struct field that must be a JSON object (or null, read as absent):
/// serde would otherwise also read a struct from a list of its fields, so a
/// malformed `metadata: []` would pass as empty metadata. The struct is read
/// through the same deserializer as everywhere else, asked for a map, so its
/// decoding code is not built a second time for this path.
pub(crate) fn object_or_null<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<ObjectOnly<T>>::deserialize(deserializer)?.map_or_else(T::default, |o| o.0))
}

struct ObjectOnly<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for ObjectOnly<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(MapOnly(deserializer)).map(ObjectOnly)
    }
}

/// Hands a struct's visitor a map, or an error for anything else.
struct MapOnly<D>(D);

impl<'de, D: Deserializer<'de>> Deserializer<'de> for MapOnly<D> {
    type Error = D::Error;

    fn deserialize_any<V: serde::de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_map(visitor)
    }

    fn deserialize_struct<V: serde::de::Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_map(visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

pub type StringMap = BTreeMap<String, String>;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ObjectMeta {
    #[serde(deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(deserialize_with = "null_as_default")]
    pub generate_name: String,
    #[serde(deserialize_with = "null_as_default")]
    pub namespace: String,
    #[serde(deserialize_with = "null_as_default")]
    pub labels: StringMap,
    #[serde(deserialize_with = "null_as_default")]
    pub annotations: StringMap,
    #[serde(deserialize_with = "null_as_default")]
    pub owner_references: Vec<OwnerReference>,
}

/// Who made the object: a controller owner (a Deployment for its
/// ReplicaSet, a ReplicaSet for its Pods) recreates it from its own template.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OwnerReference {
    #[serde(deserialize_with = "null_as_default")]
    pub kind: String,
    #[serde(deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(deserialize_with = "null_as_default")]
    pub controller: bool,
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

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PodSpec {
    #[serde(deserialize_with = "null_as_default")]
    pub host_network: bool,
    #[serde(deserialize_with = "null_as_default")]
    pub containers: Vec<Container>,
    #[serde(deserialize_with = "null_as_default")]
    pub init_containers: Vec<Container>,
    #[serde(deserialize_with = "object_or_null")]
    pub affinity: Affinity,
    /// `false` keeps the service-account token out of the pod, and Linkerd's
    /// injector skips such pods (the proxy needs the token for its identity).
    #[serde(deserialize_with = "null_as_default")]
    pub automount_service_account_token: Option<bool>,
    #[serde(deserialize_with = "null_as_default")]
    pub tolerations: Vec<Toleration>,
}

/// A pod's tolerance of node taints.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Toleration {
    #[serde(deserialize_with = "null_as_default")]
    pub key: String,
    /// `Equal` (also when empty) or `Exists`.
    #[serde(deserialize_with = "null_as_default")]
    pub operator: String,
    #[serde(deserialize_with = "null_as_default")]
    pub value: String,
    /// Empty tolerates every effect.
    #[serde(deserialize_with = "null_as_default")]
    pub effect: String,
}

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

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Container {
    #[serde(deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(deserialize_with = "null_as_default")]
    pub image: String,
    #[serde(deserialize_with = "null_as_default")]
    pub command: Vec<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub args: Vec<String>,
    #[serde(deserialize_with = "object_or_null")]
    pub resources: Resources,
    /// `Always` on an init container makes it a native sidecar.
    #[serde(deserialize_with = "null_as_default")]
    pub restart_policy: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Resources {
    #[serde(deserialize_with = "null_as_default")]
    pub requests: BTreeMap<String, RawQuantity>,
    #[serde(deserialize_with = "null_as_default")]
    pub limits: BTreeMap<String, RawQuantity>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Affinity {
    #[serde(deserialize_with = "object_or_null")]
    pub pod_anti_affinity: PodAntiAffinity,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PodAntiAffinity {
    #[serde(
        rename = "requiredDuringSchedulingIgnoredDuringExecution",
        deserialize_with = "null_as_default"
    )]
    pub required: Vec<PodAffinityTerm>,
    #[serde(
        rename = "preferredDuringSchedulingIgnoredDuringExecution",
        deserialize_with = "null_as_default"
    )]
    pub preferred: Vec<WeightedPodAffinityTerm>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PodAffinityTerm {
    pub label_selector: Option<LabelSelector>,
    #[serde(deserialize_with = "null_as_default")]
    pub topology_key: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct WeightedPodAffinityTerm {
    #[serde(deserialize_with = "null_as_default")]
    pub weight: i64,
    #[serde(deserialize_with = "object_or_null")]
    pub pod_affinity_term: PodAffinityTerm,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LabelSelector {
    #[serde(deserialize_with = "null_as_default")]
    pub match_labels: StringMap,
    #[serde(deserialize_with = "null_as_default")]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct LabelSelectorRequirement {
    #[serde(deserialize_with = "null_as_default")]
    pub key: String,
    #[serde(deserialize_with = "null_as_default")]
    pub operator: String,
    #[serde(deserialize_with = "null_as_default")]
    pub values: Vec<String>,
}

/// `intOrString` fields such as `maxUnavailable`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum IntOrString {
    Int(i64),
    String(String),
}

impl IntOrString {
    /// Resolves a count or a percentage against `total`, rounding as the
    /// disruption controller does (up for minAvailable and maxUnavailable).
    pub fn resolve(&self, total: u32) -> Option<i64> {
        self.scaled(total, 99)
    }

    /// Resolves a count or a percentage against `total`, rounding down as
    /// the Deployment controller does for `maxUnavailable`.
    pub fn resolve_down(&self, total: u32) -> Option<i64> {
        self.scaled(total, 0)
    }

    fn scaled(&self, total: u32, round: i64) -> Option<i64> {
        match self {
            Self::Int(count) => Some(*count),
            Self::String(text) => {
                let percent: i64 = text.strip_suffix('%')?.parse().ok()?;
                Some(percent.checked_mul(i64::from(total))?.checked_add(round)? / 100)
            }
        }
    }

    /// A percentage of 100 or more: every pod, however many there are.
    pub fn is_whole(&self) -> bool {
        matches!(self, Self::String(text) if text.strip_suffix('%').and_then(|p| p.parse::<i64>().ok()).is_some_and(|p| p >= 100))
    }
}

impl std::fmt::Display for IntOrString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Int(count) => write!(f, "{count}"),
            Self::String(text) => write!(f, "{text:?}"),
        }
    }
}

/// A Namespace: only its metadata matters.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct NamespaceObject {
    #[serde(deserialize_with = "object_or_null")]
    pub metadata: ObjectMeta,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PodDisruptionBudget {
    #[serde(deserialize_with = "object_or_null")]
    pub metadata: ObjectMeta,
    #[serde(deserialize_with = "object_or_null")]
    pub spec: PodDisruptionBudgetSpec,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PodDisruptionBudgetSpec {
    pub selector: Option<LabelSelector>,
    pub min_available: Option<IntOrString>,
    pub max_unavailable: Option<IntOrString>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct MutatingWebhookConfiguration {
    #[serde(deserialize_with = "object_or_null")]
    pub metadata: ObjectMeta,
    #[serde(deserialize_with = "null_as_default")]
    pub webhooks: Vec<MutatingWebhook>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MutatingWebhook {
    #[serde(deserialize_with = "null_as_default")]
    pub name: String,
    pub failure_policy: Option<String>,
    pub namespace_selector: Option<LabelSelector>,
    pub object_selector: Option<LabelSelector>,
}

/// Prometheus Operator's `monitoring.coreos.com/v1` Prometheus.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PrometheusObject {
    #[serde(deserialize_with = "object_or_null")]
    pub metadata: ObjectMeta,
    #[serde(deserialize_with = "object_or_null")]
    pub spec: PrometheusSpec,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PrometheusSpec {
    pub retention: Option<String>,
    pub retention_size: Option<String>,
    #[serde(deserialize_with = "object_or_null")]
    pub resources: Resources,
}

/// A Node, as far as scheduling capacity goes.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Node {
    #[serde(deserialize_with = "object_or_null")]
    pub metadata: ObjectMeta,
    #[serde(deserialize_with = "object_or_null")]
    pub spec: NodeSpec,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct NodeSpec {
    /// Cordoned.
    #[serde(deserialize_with = "null_as_default")]
    pub unschedulable: bool,
    #[serde(deserialize_with = "null_as_default")]
    pub taints: Vec<Taint>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Taint {
    #[serde(deserialize_with = "null_as_default")]
    pub key: String,
    #[serde(deserialize_with = "null_as_default")]
    pub value: String,
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`.
    #[serde(deserialize_with = "null_as_default")]
    pub effect: String,
}

/// The taint the node lifecycle controller puts on cordoned nodes; a pod
/// tolerating it may still be scheduled there.
pub const UNSCHEDULABLE_TAINT: &str = "node.kubernetes.io/unschedulable";

impl Node {
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
        (!self.spec.unschedulable || tolerated(&cordon))
            && self
                .spec
                .taints
                .iter()
                .filter(|taint| matches!(taint.effect.as_str(), "NoSchedule" | "NoExecute"))
                .all(tolerated)
    }
}

/// A Deployment's `spec.strategy`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DeploymentStrategy {
    /// `RollingUpdate` (also when empty) or `Recreate`.
    #[serde(rename = "type", deserialize_with = "null_as_default")]
    pub kind: String,
    #[serde(deserialize_with = "object_or_null")]
    pub rolling_update: RollingUpdate,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RollingUpdate {
    pub max_unavailable: Option<IntOrString>,
}

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
#[derive(Debug, Clone, Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub struct ObjectList<T> {
    #[serde(default, deserialize_with = "null_as_default")]
    pub items: Vec<T>,
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
