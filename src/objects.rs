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
}

impl ObjectMeta {
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

impl LabelSelector {
    /// Kubernetes' label-selector semantics. An unknown operator matches
    /// nothing, as the API server would have refused it.
    pub fn matches(&self, labels: &StringMap) -> bool {
        self.match_labels
            .iter()
            .all(|(key, value)| labels.get(key) == Some(value))
            && self.match_expressions.iter().all(|requirement| {
                let value = labels.get(&requirement.key);
                match requirement.operator.as_str() {
                    "In" => value.is_some_and(|v| requirement.values.contains(v)),
                    "NotIn" => value.is_none_or(|v| !requirement.values.contains(v)),
                    "Exists" => value.is_some(),
                    "DoesNotExist" => value.is_none(),
                    _ => false,
                }
            })
    }

    /// The values this selector pins `key` to, if it pins it at all.
    pub fn pinned_values(&self, key: &str) -> Vec<&str> {
        let mut values: Vec<&str> = self
            .match_labels
            .get(key)
            .map(String::as_str)
            .into_iter()
            .collect();
        for requirement in &self.match_expressions {
            if requirement.key == key && requirement.operator == "In" {
                values.extend(requirement.values.iter().map(String::as_str));
            }
        }
        values
    }
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
        match self {
            Self::Int(count) => Some(*count),
            Self::String(text) => {
                let percent: i64 = text.strip_suffix('%')?.trim().parse().ok()?;
                Some((percent * i64::from(total) + 99) / 100)
            }
        }
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
    #[serde(deserialize_with = "null_as_default")]
    pub unschedulable: bool,
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

    fn labels(pairs: &[(&str, &str)]) -> StringMap {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[rstest]
    #[case::match_labels(json!({"matchLabels": {"app": "web"}}), true)]
    #[case::match_labels_other_value(json!({"matchLabels": {"app": "db"}}), false)]
    #[case::in_expression(json!({"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "db"]}]}), true)]
    #[case::not_in_expression(json!({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]}), false)]
    #[case::not_in_absent_key(json!({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["x"]}]}), true)]
    #[case::exists(json!({"matchExpressions": [{"key": "app", "operator": "Exists"}]}), true)]
    #[case::does_not_exist(json!({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}), false)]
    #[case::unknown_operator(json!({"matchExpressions": [{"key": "app", "operator": "Like"}]}), false)]
    #[case::empty_selects_everything(json!({}), true)]
    fn selector_semantics(#[case] selector: serde_json::Value, #[case] matches: bool) {
        let selector: LabelSelector = serde_json::from_value(selector).unwrap();
        assert_eq!(selector.matches(&labels(&[("app", "web")])), matches);
    }

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
