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

fn call<Req: Serialize, Resp: DeserializeOwned>(
    operation: &str,
    request: &Req,
) -> Result<Resp, String> {
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
    let text = std::str::from_utf8(&answer)
        .map_err(|e| format!("the {operation} answer is not UTF-8 ({e})"))?;
    serde_json::from_str(text).map_err(|e| {
        format!(
            "cannot read the {operation} answer: {}",
            quote_host_error(&e.to_string())
        )
    })
}

/// Asks the policy server to prune answers to the fields the rules read.
/// Inserted one by one: collecting would sort, which builds a sort for it.
fn fields(paths: &[&str]) -> Option<BTreeSet<String>> {
    let mut fields = BTreeSet::new();
    for path in paths {
        fields.insert(path.to_string());
    }
    Some(fields)
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

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::{quote_host_error, HOST_ERROR_LIMIT};

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
