//! The policy's rule engine compiled natively, answering its lookups from
//! the same fake cluster the wasm module talks to, through the same JSON
//! requests and answers as Kubewarden's host capabilities: the native figure
//! is the policy's own work without the wasm boundary.

use std::sync::Arc;

use linkerd_ha_policy::admission::ClusterLookup;
use linkerd_ha_policy::objects::{NamespaceObject, Node, ObjectList, PodDisruptionBudget};
use linkerd_ha_policy::workload::{Workload, WorkloadKind};
use policy_harness::Cluster;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

pub struct NativeCluster(pub Arc<Cluster>);

impl NativeCluster {
    fn call<T: DeserializeOwned>(&self, operation: &str, request: &Value) -> Result<T, String> {
        let payload = serde_json::to_vec(request).map_err(|e| e.to_string())?;
        let answer = self
            .0
            .host_call("kubewarden", "kubernetes", operation, &payload)
            .map_err(|e| format!("{operation} failed: {e}"))?;
        serde_json::from_slice(&answer)
            .map_err(|e| format!("cannot read the {operation} answer: {e}"))
    }
}

impl ClusterLookup for NativeCluster {
    fn namespace(&self, name: &str) -> Result<NamespaceObject, String> {
        self.call(
            "get_resource",
            &json!({"api_version": "v1", "kind": "Namespace", "name": name, "namespace": null,
                    "disable_cache": false, "field_masks": NamespaceObject::LOOKUP_FIELDS}),
        )
    }

    fn disruption_budgets(&self, namespace: &str) -> Result<Vec<PodDisruptionBudget>, String> {
        self.call::<ObjectList<PodDisruptionBudget>>(
            "list_resources_by_namespace",
            &json!({"api_version": "policy/v1", "kind": "PodDisruptionBudget", "namespace": namespace,
                    "label_selector": null, "field_selector": null,
                    "field_masks": PodDisruptionBudget::LOOKUP_FIELDS}),
        )
        .map(|list| list.items)
    }

    fn nodes(&self) -> Result<Vec<Node>, String> {
        self.call::<ObjectList<Node>>(
            "list_resources_all",
            &json!({"api_version": "v1", "kind": "Node", "label_selector": null, "field_selector": null,
                    "field_masks": Node::LOOKUP_FIELDS}),
        )
        .map(|list| list.items)
    }

    fn control_plane_workloads(&self, namespace: &str) -> Result<Vec<Workload>, String> {
        let mut workloads = Vec::new();
        for kind in WorkloadKind::CRITICAL {
            let answer: Value = self.call(
                "list_resources_by_namespace",
                &json!({"api_version": "apps/v1", "kind": kind.name(), "namespace": namespace,
                        "label_selector": null, "field_selector": null,
                        "field_masks": Workload::PLACEMENT_FIELDS}),
            )?;
            workloads.extend(Workload::decode_list(kind, &answer.to_string()).map_err(|e| e.0)?);
        }
        Ok(workloads)
    }
}
