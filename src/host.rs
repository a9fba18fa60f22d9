//! Cluster lookups through Kubewarden's host capabilities
//! (`kubewarden`/`kubernetes`/...), decoded into the slim types the rules
//! read rather than full Kubernetes objects.

use crate::decode::{decode_object, ObjectFields};
use serde::Serialize;

use crate::admission::ClusterLookup;
use crate::objects::{NamespaceObject, Node, ObjectList, PodDisruptionBudget};
use crate::workload::{Templated, Workload, WorkloadKind};

/// The policy server, reached through waPC host calls.
pub struct KubewardenHost;

/// The most characters of a host error quoted in a message.
pub const HOST_ERROR_LIMIT: usize = 200;

/// A host error as the policy quotes it in a warning, which every `kubectl`
/// user sees: the first non-empty line only (with `RUST_BACKTRACE` set the
/// policy server appends its whole stack trace), at most
/// [`HOST_ERROR_LIMIT`] characters, without a final full stop, so that the
/// sentence around it never reads "..".
pub fn quote_host_error(text: &str) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .unwrap_or("no details given");
    let line = line.trim_end_matches('.').trim_end();
    if line.chars().count() <= HOST_ERROR_LIMIT {
        return line.to_string();
    }
    let mut cut: String = line.chars().take(HOST_ERROR_LIMIT - 1).collect();
    cut.truncate(cut.trim_end().len());
    cut.push('…');
    cut
}

fn call<Req: Serialize, Resp: for<'de> ObjectFields<'de> + Default>(
    operation: &str,
    request: &Req,
) -> Result<Resp, String> {
    let text = call_for_text(operation, request)?;
    decode_object(&text).map_err(|e| {
        format!(
            "cannot read the {operation} answer: {}",
            quote_host_error(&e.to_string())
        )
    })
}

/// The host's answer to `operation`, as text.
fn call_for_text<Req: Serialize>(operation: &str, request: &Req) -> Result<String, String> {
    let payload = serde_json::to_vec(request).map_err(|e| {
        format!(
            "cannot encode {operation} request: {}",
            quote_host_error(&e.to_string())
        )
    })?;
    let answer = wapc_guest::host_call("kubewarden", "kubernetes", operation, &payload)
        .map_err(|e| format!("{operation} failed: {}", quote_host_error(&e.to_string())))?;
    // Through `from_str`, like every other read in the module: one copy of
    // serde_json's parser in the module instead of two (~22 KB).
    String::from_utf8(answer).map_err(|e| format!("the {operation} answer is not UTF-8 ({e})"))
}

/// The SDK's `GetResourceRequest`, as it goes on the wire. The three
/// request types are written out here, field for field, because the SDK's
/// keep their field masks in a `BTreeSet`, which costs the module a tree
/// map for three constant lists. A test holds the two to the same JSON.
#[derive(Serialize)]
struct GetResourceRequest<'a> {
    api_version: &'a str,
    kind: &'a str,
    name: &'a str,
    namespace: Option<&'a str>,
    disable_cache: bool,
    field_masks: Option<&'a [&'a str]>,
}

/// The SDK's `ListResourcesByNamespaceRequest`, as it goes on the wire.
#[derive(Serialize)]
struct ListResourcesByNamespaceRequest<'a> {
    api_version: &'a str,
    kind: &'a str,
    namespace: &'a str,
    label_selector: Option<&'a str>,
    field_selector: Option<&'a str>,
    field_masks: Option<&'a [&'a str]>,
}

/// The SDK's `ListAllResourcesRequest`, as it goes on the wire.
#[derive(Serialize)]
struct ListAllResourcesRequest<'a> {
    api_version: &'a str,
    kind: &'a str,
    label_selector: Option<&'a str>,
    field_selector: Option<&'a str>,
    field_masks: Option<&'a [&'a str]>,
}

impl ClusterLookup for KubewardenHost {
    fn namespace(&self, name: &str) -> Result<NamespaceObject, String> {
        call("get_resource", &namespace_request(name))
    }

    fn disruption_budgets(&self, namespace: &str) -> Result<Vec<PodDisruptionBudget>, String> {
        call::<_, ObjectList<PodDisruptionBudget>>(
            "list_resources_by_namespace",
            &disruption_budgets_request(namespace),
        )
        .map(|list| list.items)
    }

    fn nodes(&self) -> Result<Vec<Node>, String> {
        call::<_, ObjectList<Node>>("list_resources_all", &nodes_request()).map(|list| list.items)
    }

    fn control_plane_workloads(&self, namespace: &str) -> Result<Vec<Workload>, String> {
        let mut workloads = Vec::new();
        for kind in WorkloadKind::CRITICAL {
            let listed: ObjectList<Templated> = call(
                "list_resources_by_namespace",
                &workloads_request(kind, namespace),
            )?;
            workloads.extend(
                listed
                    .items
                    .into_iter()
                    .map(|object| Workload::from_templated(kind, object)),
            );
        }
        Ok(workloads)
    }
}

fn workloads_request(kind: WorkloadKind, namespace: &str) -> ListResourcesByNamespaceRequest<'_> {
    ListResourcesByNamespaceRequest {
        api_version: "apps/v1",
        kind: kind.name(),
        namespace,
        label_selector: None,
        field_selector: None,
        field_masks: Some(Workload::PLACEMENT_FIELDS),
    }
}

fn namespace_request(name: &str) -> GetResourceRequest<'_> {
    GetResourceRequest {
        api_version: "v1",
        kind: "Namespace",
        name,
        namespace: None,
        disable_cache: false,
        field_masks: Some(NamespaceObject::LOOKUP_FIELDS),
    }
}

fn disruption_budgets_request(namespace: &str) -> ListResourcesByNamespaceRequest<'_> {
    ListResourcesByNamespaceRequest {
        api_version: "policy/v1",
        kind: "PodDisruptionBudget",
        namespace,
        label_selector: None,
        field_selector: None,
        field_masks: Some(PodDisruptionBudget::LOOKUP_FIELDS),
    }
}

fn nodes_request() -> ListAllResourcesRequest<'static> {
    ListAllResourcesRequest {
        api_version: "v1",
        kind: "Node",
        label_selector: None,
        field_selector: None,
        field_masks: Some(Node::LOOKUP_FIELDS),
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use kubewarden_policy_sdk::host_capabilities::kubernetes as sdk;

    use super::*;

    fn masks(fields: &[&str]) -> Option<std::collections::BTreeSet<String>> {
        Some(fields.iter().map(|field| field.to_string()).collect())
    }

    /// The requests are the SDK's, byte for byte, masks in the set's order.
    #[test]
    fn requests_are_the_sdks_on_the_wire() {
        let ours = serde_json::to_string(&namespace_request("linkerd")).unwrap();
        let sdk = serde_json::to_string(&sdk::GetResourceRequest {
            api_version: "v1".into(),
            kind: "Namespace".into(),
            name: "linkerd".into(),
            namespace: None,
            disable_cache: false,
            field_masks: masks(NamespaceObject::LOOKUP_FIELDS),
        })
        .unwrap();
        assert_eq!(ours, sdk);

        let ours = serde_json::to_string(&disruption_budgets_request("linkerd")).unwrap();
        let sdk = serde_json::to_string(&sdk::ListResourcesByNamespaceRequest {
            api_version: "policy/v1".into(),
            kind: "PodDisruptionBudget".into(),
            namespace: "linkerd".into(),
            label_selector: None,
            field_selector: None,
            field_masks: masks(PodDisruptionBudget::LOOKUP_FIELDS),
        })
        .unwrap();
        assert_eq!(ours, sdk);

        let ours = serde_json::to_string(&nodes_request()).unwrap();
        let sdk = serde_json::to_string(&sdk::ListAllResourcesRequest {
            api_version: "v1".into(),
            kind: "Node".into(),
            label_selector: None,
            field_selector: None,
            field_masks: masks(Node::LOOKUP_FIELDS),
        })
        .unwrap();
        assert_eq!(ours, sdk);

        for kind in WorkloadKind::CRITICAL {
            let ours = serde_json::to_string(&workloads_request(kind, "linkerd")).unwrap();
            let sdk = serde_json::to_string(&sdk::ListResourcesByNamespaceRequest {
                api_version: "apps/v1".into(),
                kind: kind.name().into(),
                namespace: "linkerd".into(),
                label_selector: None,
                field_selector: None,
                field_masks: masks(Workload::PLACEMENT_FIELDS),
            })
            .unwrap();
            assert_eq!(ours, sdk);
        }
    }

    #[rstest]
    #[case::one_line("forbidden", "forbidden")]
    #[case::final_full_stop("the lookup has been reported.", "the lookup has been reported")]
    #[case::several_full_stops("gave up...", "gave up")]
    #[case::backtrace(
        "error sending request: connection refused.\n\nStack backtrace:\n   0: anyhow::error\n   1: policy_server::main",
        "error sending request: connection refused"
    )]
    #[case::leading_blank_lines("\n  \n  timed out  \nmore", "timed out")]
    #[case::empty("", "no details given")]
    fn quotes_the_first_line_without_its_full_stop(#[case] text: &str, #[case] quoted: &str) {
        assert_eq!(quote_host_error(text), quoted);
    }

    #[test]
    fn long_lines_are_cut_at_the_limit_on_a_character_boundary() {
        let long = "é".repeat(3 * HOST_ERROR_LIMIT);
        let quoted = quote_host_error(&long);
        assert_eq!(quoted.chars().count(), HOST_ERROR_LIMIT);
        assert!(quoted.ends_with('…'), "{quoted}");
        let exact = "x".repeat(HOST_ERROR_LIMIT);
        assert_eq!(quote_host_error(&exact), exact);
    }
}
