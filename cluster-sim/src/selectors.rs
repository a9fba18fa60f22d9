//! The parts of list/get semantics the fake cluster emulates: label selectors,
//! field selectors and Kubewarden's field masks.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::str_at;

/// A parsed label selector in the API server's string syntax
/// (`app=web,tier!=db,env in (prod,staging),!canary,release`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelSelector {
    requirements: Vec<LabelRequirement>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum LabelRequirement {
    Exists(String),
    NotExists(String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
}

impl LabelSelector {
    /// Parses `selector`; the empty selector matches everything.
    pub fn parse(selector: &str) -> Result<Self, String> {
        let requirements = split_top_level(selector)
            .into_iter()
            .map(str::trim)
            .filter(|term| !term.is_empty())
            .map(parse_label_requirement)
            .collect::<Result<_, _>>()?;
        Ok(Self { requirements })
    }

    /// Whether an object with `labels` is selected. As in Kubernetes, `!=`
    /// and `notin` also select objects that lack the label.
    pub fn matches(&self, labels: &BTreeMap<&str, &str>) -> bool {
        self.requirements
            .iter()
            .all(|requirement| match requirement {
                LabelRequirement::Exists(key) => labels.contains_key(key.as_str()),
                LabelRequirement::NotExists(key) => !labels.contains_key(key.as_str()),
                LabelRequirement::In(key, values) => labels
                    .get(key.as_str())
                    .is_some_and(|value| values.iter().any(|v| v == value)),
                LabelRequirement::NotIn(key, values) => labels
                    .get(key.as_str())
                    .is_none_or(|value| values.iter().all(|v| v != value)),
            })
    }
}

/// Splits at commas outside parentheses, so `a in (x,y),b` is two terms.
fn split_top_level(selector: &str) -> Vec<&str> {
    let mut terms = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (index, c) in selector.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                terms.push(&selector[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    terms.push(&selector[start..]);
    terms
}

fn parse_label_requirement(term: &str) -> Result<LabelRequirement, String> {
    let invalid = || format!("unable to parse requirement: {term:?}");
    if let Some(key) = term.strip_prefix('!') {
        return Ok(LabelRequirement::NotExists(
            label_key(key.trim()).ok_or_else(invalid)?,
        ));
    }
    if let Some((left, values)) = term.split_once('(') {
        let values = values.strip_suffix(')').ok_or_else(invalid)?;
        let values: Vec<String> = values
            .split(',')
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .collect();
        let mut words = left.split_whitespace();
        let (Some(key), Some(operator), None) = (words.next(), words.next(), words.next()) else {
            return Err(invalid());
        };
        let key = label_key(key).ok_or_else(invalid)?;
        return match operator {
            "in" => Ok(LabelRequirement::In(key, values)),
            "notin" => Ok(LabelRequirement::NotIn(key, values)),
            _ => Err(invalid()),
        };
    }
    if let Some((key, value)) = term.split_once("!=") {
        let key = label_key(key.trim()).ok_or_else(invalid)?;
        return Ok(LabelRequirement::NotIn(key, vec![value.trim().to_owned()]));
    }
    if let Some((key, value)) = term.split_once('=') {
        // `==` is a synonym of `=`.
        let value = value.strip_prefix('=').unwrap_or(value);
        let key = label_key(key.trim()).ok_or_else(invalid)?;
        return Ok(LabelRequirement::In(key, vec![value.trim().to_owned()]));
    }
    Ok(LabelRequirement::Exists(
        label_key(term).ok_or_else(invalid)?,
    ))
}

/// A label key, if `key` is syntactically one (`[prefix/]name`).
fn label_key(key: &str) -> Option<String> {
    let valid = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    valid.then(|| key.to_owned())
}

/// The labels of `object` (non-string values are not labels and are skipped).
pub fn labels_of(object: &Value) -> BTreeMap<&str, &str> {
    object
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .iter()
                .filter_map(|(key, value)| Some((key.as_str(), value.as_str()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// A parsed field selector. Only `metadata.name` and `metadata.namespace` are
/// supported: they are the fields every resource type supports.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct FieldRequirement {
    field: &'static str,
    value: String,
    equal: bool,
}

impl FieldSelector {
    pub fn parse(selector: &str) -> Result<Self, String> {
        let requirements = selector
            .split(',')
            .map(str::trim)
            .filter(|term| !term.is_empty())
            .map(parse_field_requirement)
            .collect::<Result<_, _>>()?;
        Ok(Self { requirements })
    }

    pub fn matches(&self, object: &Value) -> bool {
        self.requirements.iter().all(|requirement| {
            let path: &[&str] = match requirement.field {
                "metadata.name" => &["metadata", "name"],
                _ => &["metadata", "namespace"],
            };
            let actual = str_at(object, path).unwrap_or_default();
            (actual == requirement.value) == requirement.equal
        })
    }
}

fn parse_field_requirement(term: &str) -> Result<FieldRequirement, String> {
    let (field, value, equal) = if let Some((field, value)) = term.split_once("!=") {
        (field, value, false)
    } else if let Some((field, value)) = term.split_once('=') {
        (field, value.strip_prefix('=').unwrap_or(value), true)
    } else {
        return Err(format!("invalid selector: {term:?}; can't understand it"));
    };
    let field = match field.trim() {
        "metadata.name" => "metadata.name",
        "metadata.namespace" => "metadata.namespace",
        other => return Err(format!("field label not supported: {other}")),
    };
    Ok(FieldRequirement {
        field,
        value: value.trim().to_owned(),
        equal,
    })
}

/// Prunes `object` to the fields named by `masks`, as policy-server does for
/// Kubewarden's `field_masks`: dot-separated paths, implicitly traversing
/// arrays; no masks means the whole object. `apiVersion` and `kind` are always
/// kept so the guest can still deserialize the object into its typed struct.
pub fn apply_field_masks(object: &Value, masks: &[String]) -> Value {
    if masks.is_empty() {
        return object.clone();
    }
    let mut tree = MaskTree::default();
    for mask in masks {
        tree.insert(mask.split('.'));
    }
    for always in ["apiVersion", "kind"] {
        tree.insert(std::iter::once(always));
    }
    tree.prune(object)
        .unwrap_or_else(|| Value::Object(Map::new()))
}

#[derive(Debug, Default)]
struct MaskTree {
    /// The whole subtree below this node was asked for.
    whole: bool,
    children: BTreeMap<String, MaskTree>,
}

impl MaskTree {
    fn insert<'a>(&mut self, mut path: impl Iterator<Item = &'a str>) {
        match path.next() {
            None => self.whole = true,
            Some(step) => self
                .children
                .entry(step.to_owned())
                .or_default()
                .insert(path),
        }
    }

    fn prune(&self, value: &Value) -> Option<Value> {
        if self.whole {
            return Some(value.clone());
        }
        match value {
            Value::Object(fields) => Some(Value::Object(
                self.children
                    .iter()
                    .filter_map(|(key, subtree)| {
                        let pruned = subtree.prune(fields.get(key)?)?;
                        Some((key.clone(), pruned))
                    })
                    .collect(),
            )),
            Value::Array(items) => Some(Value::Array(
                items.iter().filter_map(|item| self.prune(item)).collect(),
            )),
            // The mask goes deeper than the data: nothing to keep.
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels<'a>(pairs: &[(&'a str, &'a str)]) -> BTreeMap<&'a str, &'a str> {
        pairs.iter().copied().collect()
    }

    #[test]
    fn label_selector_syntax() {
        let web = labels(&[("app", "web"), ("env", "prod")]);
        let db = labels(&[("app", "db")]);
        let cases = [
            ("", true, true),
            ("app=web", true, false),
            ("app==web", true, false),
            ("app!=web", false, true),
            ("env", true, false),
            ("!env", false, true),
            ("env in (prod, staging)", true, false),
            ("env notin (prod)", false, true),
            ("app in (web,db),!canary", true, true),
            ("app=web,env=staging", false, false),
        ];
        for (selector, selects_web, selects_db) in cases {
            let parsed = LabelSelector::parse(selector).expect(selector);
            assert_eq!(parsed.matches(&web), selects_web, "{selector} on web");
            assert_eq!(parsed.matches(&db), selects_db, "{selector} on db");
        }
    }

    #[test]
    fn bad_label_selectors_are_rejected() {
        for selector in ["app in web", "app (web)", "a b", "!", "app in (x"] {
            assert!(LabelSelector::parse(selector).is_err(), "{selector}");
        }
    }

    #[test]
    fn field_selectors() {
        let object = json!({"metadata": {"name": "a", "namespace": "ns"}});
        for (selector, expected) in [
            ("metadata.name=a", true),
            ("metadata.name==a,metadata.namespace=ns", true),
            ("metadata.namespace!=ns", false),
            ("metadata.name=b", false),
        ] {
            let parsed = FieldSelector::parse(selector).expect(selector);
            assert_eq!(parsed.matches(&object), expected, "{selector}");
        }
        assert!(FieldSelector::parse("spec.nodeName=x").is_err());
        assert!(FieldSelector::parse("metadata.name").is_err());
    }

    #[test]
    fn field_masks_keep_only_the_named_paths() {
        let pdb = json!({
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "p", "namespace": "ns", "labels": {"a": "b"}},
            "spec": {
                "maxUnavailable": 1,
                "selector": {"matchExpressions": [
                    {"key": "k", "operator": "In", "values": ["v"]},
                    {"key": "j", "operator": "Exists"},
                ]},
            },
        });
        let masks = vec![
            "metadata.name".to_owned(),
            "spec.selector.matchExpressions.key".to_owned(),
            "spec.minAvailable".to_owned(),
        ];
        assert_eq!(
            apply_field_masks(&pdb, &masks),
            json!({
                "apiVersion": "policy/v1",
                "kind": "PodDisruptionBudget",
                "metadata": {"name": "p"},
                "spec": {"selector": {"matchExpressions": [{"key": "k"}, {"key": "j"}]}},
            })
        );
        assert_eq!(apply_field_masks(&pdb, &[]), pdb);
    }
}
