//! The cluster the page's lookups see: the Namespaces, PodDisruptionBudgets
//! and Nodes of the manifest and of the "namespaces in the cluster" box.
//!
//! Answers as policy-harness's fake cluster answers the Kubewarden module:
//! later objects replace earlier ones of the same kind, namespace and name;
//! lists come ordered by namespace, then name; answers are pruned to the
//! fields the module asks for, then decoded as the module decodes them.

use std::collections::BTreeMap;

use linkerd_ha_policy::admission::ClusterLookup;
use linkerd_ha_policy::objects::{NamespaceObject, Node, PodDisruptionBudget};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::manifest::str_at;

/// The fields the module's host lookups ask the policy server to keep
/// (`src/host.rs`): decoding the pruned object, not the whole one, keeps a
/// malformed field the rules never read from failing a lookup here but not
/// there.
const NAMESPACE_FIELDS: &[&str] = &["metadata.name", "metadata.annotations", "metadata.labels"];
const BUDGET_FIELDS: &[&str] = &[
    "metadata.name",
    "spec.selector",
    "spec.minAvailable",
    "spec.maxUnavailable",
];
const NODE_FIELDS: &[&str] = &["metadata.name", "spec.unschedulable", "spec.taints"];

#[derive(Debug, Clone, Default)]
pub struct PlaygroundCluster {
    namespaces: BTreeMap<String, Value>,
    /// Keyed by (namespace, name): the order lists are answered in.
    budgets: BTreeMap<(String, String), Value>,
    nodes: BTreeMap<String, Value>,
}

impl PlaygroundCluster {
    /// Files `object` if it is of a kind the lookups serve; other kinds, and
    /// objects without a name (or a namespaced one without a namespace), are
    /// not stored, as in the harness.
    pub fn insert(&mut self, object: &Value) {
        let Some(name) = str_at(object, &["metadata", "name"]) else {
            return;
        };
        match str_at(object, &["kind"]) {
            Some("Namespace") => {
                self.namespaces.insert(name.to_owned(), object.clone());
            }
            Some("Node") => {
                self.nodes.insert(name.to_owned(), object.clone());
            }
            Some("PodDisruptionBudget") => {
                if let Some(namespace) = str_at(object, &["metadata", "namespace"]) {
                    let key = (namespace.to_owned(), name.to_owned());
                    self.budgets.insert(key, object.clone());
                }
            }
            _ => {}
        }
    }

    /// The names of the namespaces known, for the page to show.
    pub fn namespace_names(&self) -> Vec<String> {
        self.namespaces.keys().cloned().collect()
    }
}

impl ClusterLookup for PlaygroundCluster {
    fn namespace(&self, name: &str) -> Result<NamespaceObject, String> {
        let object = self.namespaces.get(name).ok_or_else(|| {
            format!(
                "namespaces {name:?} not found: it is neither in the manifest nor in the cluster box"
            )
        })?;
        decode("get_resource", prune(object, NAMESPACE_FIELDS))
    }

    fn disruption_budgets(&self, namespace: &str) -> Result<Vec<PodDisruptionBudget>, String> {
        self.budgets
            .iter()
            .filter(|((budget_namespace, _), _)| budget_namespace == namespace)
            .map(|(_, budget)| decode("list_resources_by_namespace", prune(budget, BUDGET_FIELDS)))
            .collect()
    }

    fn nodes(&self) -> Result<Vec<Node>, String> {
        self.nodes
            .values()
            .map(|node| decode("list_resources_all", prune(node, NODE_FIELDS)))
            .collect()
    }
}

fn decode<T: DeserializeOwned>(operation: &str, value: Value) -> Result<T, String> {
    serde_json::from_value(value).map_err(|e| format!("cannot read the {operation} answer: {e}"))
}

/// Keeps only the dotted `paths` of `object` (and its `apiVersion` and
/// `kind`), like the policy server's field masks. Lists on the way are
/// pruned item by item; a path deeper than the data keeps nothing.
fn prune(object: &Value, paths: &[&str]) -> Value {
    let mut tree = MaskTree::default();
    for path in paths.iter().chain(&["apiVersion", "kind"]) {
        tree.insert(path.split('.'));
    }
    tree.prune(object)
        .unwrap_or_else(|| Value::Object(Map::new()))
}

#[derive(Debug, Default)]
struct MaskTree {
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
                        Some((key.clone(), subtree.prune(fields.get(key)?)?))
                    })
                    .collect(),
            )),
            Value::Array(items) => Some(Value::Array(
                items.iter().filter_map(|item| self.prune(item)).collect(),
            )),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cluster(objects: &[Value]) -> PlaygroundCluster {
        let mut cluster = PlaygroundCluster::default();
        for object in objects {
            cluster.insert(object);
        }
        cluster
    }

    #[test]
    fn answers_namespaces_and_lists_in_order() {
        let cluster = cluster(&[
            json!({"kind": "Namespace", "metadata": {"name": "shop", "annotations": {"linkerd.io/inject": "enabled"}}}),
            json!({"kind": "PodDisruptionBudget", "metadata": {"name": "b", "namespace": "linkerd"}}),
            json!({"kind": "PodDisruptionBudget", "metadata": {"name": "a", "namespace": "linkerd"}}),
            json!({"kind": "PodDisruptionBudget", "metadata": {"name": "c", "namespace": "other"}}),
            json!({"kind": "Node", "metadata": {"name": "n2"}, "spec": {"unschedulable": true}}),
            json!({"kind": "Node", "metadata": {"name": "n1"}}),
            json!({"kind": "Deployment", "metadata": {"name": "ignored", "namespace": "shop"}}),
        ]);
        let shop = cluster.namespace("shop").expect("found");
        assert_eq!(
            shop.metadata.annotation("linkerd.io/inject"),
            Some("enabled")
        );
        let budgets = cluster.disruption_budgets("linkerd").expect("list");
        let names: Vec<_> = budgets.iter().map(|b| b.metadata.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        let nodes = cluster.nodes().expect("list");
        let nodes: Vec<_> = nodes
            .iter()
            .map(|n| (n.metadata.name.as_str(), n.spec.unschedulable))
            .collect();
        assert_eq!(nodes, [("n1", false), ("n2", true)]);
        assert_eq!(cluster.namespace_names(), ["shop"]);
    }

    #[test]
    fn a_missing_namespace_is_an_error_saying_where_to_add_it() {
        let error = cluster(&[]).namespace("shop").expect_err("missing");
        assert!(error.contains("\"shop\" not found"), "{error}");
        assert!(error.contains("cluster box"), "{error}");
    }

    #[test]
    fn later_objects_replace_earlier_ones() {
        let cluster = cluster(&[
            json!({"kind": "Namespace", "metadata": {"name": "shop"}}),
            json!({"kind": "Namespace", "metadata": {"name": "shop", "annotations": {"linkerd.io/inject": "disabled"}}}),
        ]);
        let shop = cluster.namespace("shop").expect("found");
        assert_eq!(
            shop.metadata.annotation("linkerd.io/inject"),
            Some("disabled")
        );
    }

    #[test]
    fn fields_the_lookup_does_not_ask_for_cannot_fail_it() {
        // A uid must be a string; the module never asks for it.
        let cluster = cluster(&[json!({"kind": "Namespace",
            "metadata": {"name": "shop", "uid": {"bad": 1}}})]);
        assert!(cluster.namespace("shop").is_ok());
        assert_eq!(
            prune(
                &json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n", "uid": "x"}, "spec": [{"unschedulable": true, "x": 1}]}),
                NODE_FIELDS
            ),
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"}, "spec": [{"unschedulable": true}]})
        );
    }
}
