//! `nodeChanges` through the scanner: a Node in a manifest that a
//! `--cluster` dump already holds is an UPDATE, judged against the dump's
//! control plane and Nodes, as the API server would send it.

mod common;

use common::*;
use serde_json::{json, Value};

/// A dump of a cluster running `linkerd install --ha` on three nodes.
fn dump(dir: &std::path::Path) -> String {
    let install = std::fs::read_to_string(fixture("install_ha_output.golden")).expect("fixture");
    let nodes: Vec<String> = (0..3)
        .map(|i| json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": format!("node-{i}")}, "spec": {}}).to_string())
        .collect();
    let path = dir.join("cluster.yaml");
    std::fs::write(
        &path,
        format!("{install}\n---\n{}\n", nodes.join("\n---\n")),
    )
    .expect("dump");
    path.display().to_string()
}

fn manifest(dir: &std::path::Path, node: Value) -> String {
    let path = dir.join("node.yaml");
    std::fs::write(&path, node.to_string()).expect("manifest");
    path.display().to_string()
}

#[test]
fn a_cordon_in_a_manifest_is_warned_about_as_an_update() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let cluster = dump(dir.path());
    let cordoned = manifest(
        dir.path(),
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-2"}, "spec": {"unschedulable": true}}),
    );
    let run = scan(&["--cluster", &cluster, "-o", "json", &cordoned]);
    assert_eq!(
        run.code, 0,
        "a warning fails nothing by default: {}",
        run.stderr
    );
    let result = &run.json()["results"][0];
    assert_eq!(result["operation"], "UPDATE");
    assert_eq!(result["outcome"], "accepted");
    let warnings = result["warnings"].as_array().expect("warnings");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let warning = warnings[0].as_str().unwrap_or_default();
    assert!(
        warning.starts_with("[nodeChanges] Node node-2: cordoning the node leaves fewer schedulable nodes than replicas")
            && warning.contains("Deployment linkerd/linkerd-destination (3 replicas): 3 schedulable nodes before, 2 after"),
        "{warning}"
    );
    // --fail-on warn turns it into a failing scan, as for any warning.
    let run = scan(&["--cluster", &cluster, "--fail-on", "warn", &cordoned]);
    assert_eq!(run.code, 1, "{}", run.stdout);
}

#[test]
fn a_node_the_dump_lacks_is_a_create_and_says_nothing() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let cluster = dump(dir.path());
    let new_node = manifest(
        dir.path(),
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-9"}, "spec": {"unschedulable": true}}),
    );
    let run = scan(&["--cluster", &cluster, "-o", "json", &new_node]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let result = &run.json()["results"][0];
    assert_eq!(result["operation"], "CREATE");
    assert_eq!(result["warnings"], json!([]));
}
