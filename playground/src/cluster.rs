//! The cluster the page's lookups see: the objects of the manifest and of
//! the "namespaces in the cluster" box, in cluster-sim's store.
//!
//! The lookups are the Kubewarden module's (`src/host.rs`): the same
//! requests, field masks included, answered by the same store that answers
//! the module in policy-harness, then decoded as the module decodes them.
//! Decoding the pruned object, not the whole one, keeps a malformed field
//! the rules never read from failing a lookup here but not there.

use cluster_sim::cluster::{
    GetResourceRequest, ListAllResourcesRequest, ListResourcesByNamespaceRequest,
};
use cluster_sim::{Cluster, HostCallError};
use linkerd_ha_policy::admission::ClusterLookup;
use linkerd_ha_policy::objects::{NamespaceObject, Node, ObjectList, PodDisruptionBudget};
use linkerd_ha_policy::workload::{Workload, WorkloadKind};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Later objects replace earlier ones of the same kind, namespace and name;
/// lists come ordered by namespace, then name.
#[derive(Debug, Clone, Default)]
pub struct PlaygroundCluster {
    store: Cluster,
}

impl PlaygroundCluster {
    /// Stores `object`; objects without a kind or a name (or a namespaced
    /// one without a namespace) are not stored.
    pub fn insert(&mut self, object: &Value) {
        self.store.insert(object.clone());
    }

    /// What `kubectl apply` would send for `object` to this cluster.
    pub fn apply_request(&self, object: &Value) -> cluster_sim::ApplyRequest {
        cluster_sim::apply_request(&self.store, object)
    }

    /// The names of the namespaces known, for the page to show.
    pub fn namespace_names(&self) -> Vec<String> {
        self.store
            .list("Namespace", None)
            .filter_map(|namespace| cluster_sim::str_at(namespace, &["metadata", "name"]))
            .map(str::to_owned)
            .collect()
    }
}

impl ClusterLookup for PlaygroundCluster {
    fn namespace(&self, name: &str) -> Result<NamespaceObject, String> {
        let answer = self.store.get_resource(&GetResourceRequest {
            api_version: "v1".to_owned(),
            kind: "Namespace".to_owned(),
            name: name.to_owned(),
            namespace: None,
            disable_cache: false,
            field_masks: fields(NamespaceObject::LOOKUP_FIELDS),
        });
        decode("get_resource", answer)
    }

    fn disruption_budgets(&self, namespace: &str) -> Result<Vec<PodDisruptionBudget>, String> {
        let answer = self
            .store
            .list_resources_by_namespace(&ListResourcesByNamespaceRequest {
                api_version: "policy/v1".to_owned(),
                kind: "PodDisruptionBudget".to_owned(),
                namespace: namespace.to_owned(),
                label_selector: None,
                field_selector: None,
                field_masks: fields(PodDisruptionBudget::LOOKUP_FIELDS),
            });
        decode::<ObjectList<_>>("list_resources_by_namespace", answer).map(|list| list.items)
    }

    fn nodes(&self) -> Result<Vec<Node>, String> {
        let answer = self.store.list_resources_all(&ListAllResourcesRequest {
            api_version: "v1".to_owned(),
            kind: "Node".to_owned(),
            label_selector: None,
            field_selector: None,
            field_masks: fields(Node::LOOKUP_FIELDS),
        });
        decode::<ObjectList<_>>("list_resources_all", answer).map(|list| list.items)
    }

    fn control_plane_workloads(&self, namespace: &str) -> Result<Vec<Workload>, String> {
        let mut workloads = Vec::new();
        for kind in WorkloadKind::CRITICAL {
            let operation = "list_resources_by_namespace";
            let answer = self
                .store
                .list_resources_by_namespace(&ListResourcesByNamespaceRequest {
                    api_version: "apps/v1".to_owned(),
                    kind: kind.name().to_owned(),
                    namespace: namespace.to_owned(),
                    label_selector: None,
                    field_selector: None,
                    field_masks: fields(Workload::PLACEMENT_FIELDS),
                })
                .map_err(|error| format!("{operation} failed: {error}"))?;
            let listed = Workload::decode_list(kind, &answer.to_string())
                .map_err(|e| format!("cannot read the {operation} answer: {}", e.0))?;
            workloads.extend(listed);
        }
        Ok(workloads)
    }
}

fn fields(paths: &[&str]) -> Option<Vec<String>> {
    Some(paths.iter().map(|path| (*path).to_owned()).collect())
}

/// The answer decoded as the module decodes it; a missing object's error
/// says where to add it.
fn decode<T: DeserializeOwned>(
    operation: &str,
    answer: Result<Value, HostCallError>,
) -> Result<T, String> {
    let answer = answer.map_err(|error| match error {
        HostCallError::NotFound { .. } => {
            format!("{error}: it is neither in the manifest nor in the cluster box")
        }
        other => format!("{operation} failed: {other}"),
    })?;
    serde_json::from_value(answer).map_err(|e| format!("cannot read the {operation} answer: {e}"))
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
        // Fields the module never asks for cannot fail a lookup.
        let cluster = cluster(&[
            json!({"kind": "Namespace", "metadata": {"name": "shop", "uid": {"bad": 1}}}),
            json!({"kind": "Node", "metadata": {"name": "n", "labels": {"bad": 1}}, "spec": {"unschedulable": true, "podCIDR": 1}}),
        ]);
        assert!(cluster.namespace("shop").is_ok());
        let nodes = cluster.nodes().expect("list");
        assert!(nodes[0].spec.unschedulable);
    }
}
