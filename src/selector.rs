//! Kubernetes label selectors, evaluated the way the API server and the
//! controllers do: one evaluator for every rule that asks "does this
//! selector pick that object?" (disruption budgets, anti-affinity terms,
//! webhook namespace and object selectors).

use crate::json_value::StringMap;
use crate::objects::LabelSelector;

/// What a field holding no selector at all means. Kubernetes does not agree
/// with itself here, so every caller says which reading its field has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenAbsent {
    /// policy/v1 `PodDisruptionBudget.spec.selector`, a pod affinity term's
    /// `labelSelector`: no selector selects no pods.
    SelectsNothing,
    /// A webhook's `namespaceSelector` / `objectSelector`: the API server
    /// defaults an absent selector to `{}`, which selects everything.
    SelectsEverything,
}

/// Whether `selector` (or its absence, read as `when_absent` says) selects an
/// object carrying `labels`. An empty selector (`{}`) selects everything.
pub fn selects(
    selector: Option<&LabelSelector>,
    when_absent: WhenAbsent,
    labels: &StringMap,
) -> bool {
    match selector {
        Some(selector) => selector.matches(labels),
        None => when_absent == WhenAbsent::SelectsEverything,
    }
}

impl LabelSelector {
    /// `metav1.LabelSelectorAsSelector` followed by `Matches`: every
    /// `matchLabels` pair and every expression must hold. A malformed
    /// expression (an unknown operator, `In`/`NotIn` without values,
    /// `Exists`/`DoesNotExist` with values) makes the selector select
    /// nothing, as the controllers treat a selector they cannot convert.
    pub fn matches(&self, labels: &StringMap) -> bool {
        self.is_well_formed()
            && self
                .match_labels
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

    /// `{}`: no labels and no expressions, which selects every object.
    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }

    fn is_well_formed(&self) -> bool {
        self.match_expressions
            .iter()
            .all(|requirement| match requirement.operator.as_str() {
                "In" | "NotIn" => !requirement.values.is_empty(),
                "Exists" | "DoesNotExist" => requirement.values.is_empty(),
                _ => false,
            })
    }

    /// The values this selector pins `key` to through `matchLabels` or `In`.
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

/// Labels from `key: value` pairs, for the probe objects the rules evaluate
/// selectors against.
pub fn labels<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> StringMap {
    pairs
        .into_iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use serde_json::{json, Value};

    fn selector(value: Value) -> Option<LabelSelector> {
        match value {
            Value::Null => None,
            value => Some(serde_json::from_value(value).unwrap()),
        }
    }

    /// The labels every case is evaluated against.
    fn web() -> StringMap {
        labels([("app", "web"), ("tier", "front")])
    }

    #[rstest]
    #[case::absent_budget_selects_nothing(Value::Null, WhenAbsent::SelectsNothing, false)]
    #[case::absent_webhook_selector_selects_everything(
        Value::Null,
        WhenAbsent::SelectsEverything,
        true
    )]
    #[case::empty_selects_everything(json!({}), WhenAbsent::SelectsNothing, true)]
    #[case::empty_lists_select_everything(json!({"matchLabels": {}, "matchExpressions": []}), WhenAbsent::SelectsNothing, true)]
    #[case::null_fields_are_empty(json!({"matchLabels": null, "matchExpressions": null}), WhenAbsent::SelectsNothing, true)]
    #[case::match_labels(json!({"matchLabels": {"app": "web"}}), WhenAbsent::SelectsNothing, true)]
    #[case::match_labels_all_must_hold(json!({"matchLabels": {"app": "web", "tier": "back"}}), WhenAbsent::SelectsNothing, false)]
    #[case::match_labels_missing_key(json!({"matchLabels": {"zone": "a"}}), WhenAbsent::SelectsNothing, false)]
    #[case::in_listed(json!({"matchExpressions": [{"key": "app", "operator": "In", "values": ["db", "web"]}]}), WhenAbsent::SelectsNothing, true)]
    #[case::in_unlisted(json!({"matchExpressions": [{"key": "app", "operator": "In", "values": ["db"]}]}), WhenAbsent::SelectsNothing, false)]
    #[case::in_absent_key(json!({"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}), WhenAbsent::SelectsNothing, false)]
    #[case::not_in_listed(json!({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]}), WhenAbsent::SelectsNothing, false)]
    #[case::not_in_unlisted(json!({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["db"]}]}), WhenAbsent::SelectsNothing, true)]
    #[case::not_in_absent_key(json!({"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["a"]}]}), WhenAbsent::SelectsNothing, true)]
    #[case::exists(json!({"matchExpressions": [{"key": "app", "operator": "Exists"}]}), WhenAbsent::SelectsNothing, true)]
    #[case::exists_absent_key(json!({"matchExpressions": [{"key": "zone", "operator": "Exists"}]}), WhenAbsent::SelectsNothing, false)]
    #[case::does_not_exist(json!({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}), WhenAbsent::SelectsNothing, false)]
    #[case::does_not_exist_absent_key(json!({"matchExpressions": [{"key": "zone", "operator": "DoesNotExist"}]}), WhenAbsent::SelectsNothing, true)]
    #[case::labels_and_expressions_together(json!({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["back"]}]}), WhenAbsent::SelectsNothing, false)]
    #[case::unknown_operator(json!({"matchExpressions": [{"key": "app", "operator": "Like", "values": ["web"]}]}), WhenAbsent::SelectsNothing, false)]
    #[case::lowercase_operator(json!({"matchExpressions": [{"key": "app", "operator": "in", "values": ["web"]}]}), WhenAbsent::SelectsNothing, false)]
    #[case::in_without_values(json!({"matchExpressions": [{"key": "app", "operator": "In"}]}), WhenAbsent::SelectsNothing, false)]
    #[case::not_in_without_values_is_malformed(json!({"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": []}]}), WhenAbsent::SelectsNothing, false)]
    #[case::exists_with_values_is_malformed(json!({"matchExpressions": [{"key": "app", "operator": "Exists", "values": ["web"]}]}), WhenAbsent::SelectsNothing, false)]
    fn kubernetes_selector_semantics(
        #[case] value: Value,
        #[case] when_absent: WhenAbsent,
        #[case] expected: bool,
    ) {
        assert_eq!(
            selects(selector(value).as_ref(), when_absent, &web()),
            expected
        );
    }

    #[test]
    fn empty_selector_selects_an_unlabelled_object() {
        assert!(selects(
            selector(json!({})).as_ref(),
            WhenAbsent::SelectsNothing,
            &StringMap::new()
        ));
    }

    #[rstest]
    #[case::match_labels(json!({"matchLabels": {"app": "web"}}), vec!["web"])]
    #[case::in_values(json!({"matchExpressions": [{"key": "app", "operator": "In", "values": ["a", "b"]}]}), vec!["a", "b"])]
    #[case::not_in_pins_nothing(json!({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["a"]}]}), vec![])]
    #[case::other_key(json!({"matchLabels": {"tier": "front"}}), vec![])]
    fn pinned_values(#[case] value: Value, #[case] expected: Vec<&str>) {
        let selector = selector(value).unwrap();
        assert_eq!(selector.pinned_values("app"), expected);
    }
}
