//! Cluster lookups through Kubewarden's host capabilities
//! (`kubewarden`/`kubernetes`/...), decoded into the slim types the rules
//! read rather than full Kubernetes objects.

use std::collections::BTreeSet;

use kubewarden_policy_sdk::host_capabilities::kubernetes::{
    GetResourceRequest, ListAllResourcesRequest, ListResourcesByNamespaceRequest,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::admission::ClusterLookup;
use crate::objects::{NamespaceObject, Node, ObjectList, PodDisruptionBudget};

/// The policy server, reached through waPC host calls.
pub struct KubewardenHost;

fn call<Req: Serialize, Resp: DeserializeOwned>(
    operation: &str,
    request: &Req,
) -> Result<Resp, String> {
    let payload = serde_json::to_vec(request)
        .map_err(|e| format!("cannot encode {operation} request: {e}"))?;
    let answer = wapc_guest::host_call("kubewarden", "kubernetes", operation, &payload)
        .map_err(|e| format!("{operation} failed: {e}"))?;
    serde_json::from_slice(&answer).map_err(|e| format!("cannot read the {operation} answer: {e}"))
}

/// Asks the policy server to prune answers to the fields the rules read.
fn fields(paths: &[&str]) -> Option<BTreeSet<String>> {
    Some(paths.iter().map(|path| path.to_string()).collect())
}

impl ClusterLookup for KubewardenHost {
    fn namespace(&self, name: &str) -> Result<NamespaceObject, String> {
        call(
            "get_resource",
            &GetResourceRequest {
                api_version: "v1".to_string(),
                kind: "Namespace".to_string(),
                name: name.to_string(),
                namespace: None,
                disable_cache: false,
                field_masks: fields(&["metadata.name", "metadata.labels", "metadata.annotations"]),
            },
        )
    }

    fn disruption_budgets(&self, namespace: &str) -> Result<Vec<PodDisruptionBudget>, String> {
        call::<_, ObjectList<PodDisruptionBudget>>(
            "list_resources_by_namespace",
            &ListResourcesByNamespaceRequest {
                api_version: "policy/v1".to_string(),
                kind: "PodDisruptionBudget".to_string(),
                namespace: namespace.to_string(),
                label_selector: None,
                field_selector: None,
                field_masks: fields(&[
                    "metadata.name",
                    "spec.selector",
                    "spec.minAvailable",
                    "spec.maxUnavailable",
                ]),
            },
        )
        .map(|list| list.items)
    }

    fn nodes(&self) -> Result<Vec<Node>, String> {
        call::<_, ObjectList<Node>>(
            "list_resources_all",
            &ListAllResourcesRequest {
                api_version: "v1".to_string(),
                kind: "Node".to_string(),
                label_selector: None,
                field_selector: None,
                field_masks: fields(&["metadata.name", "spec.unschedulable", "spec.taints"]),
            },
        )
        .map(|list| list.items)
    }
}
