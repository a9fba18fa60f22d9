//! Shared set-up of the end-to-end tests: the built module, loaded in the
//! waPC harness, and the fixtures it runs on.
#![allow(dead_code)] // each test binary uses its own share of these

use std::path::{Path, PathBuf};

use policy_harness::manifests::load_yaml_file;
use policy_harness::{admission_request, Cluster, PolicyModule, Verdict};
use serde_json::{json, Value};

/// The module under test: `$POLICY_WASM`, or the release build's output.
pub fn wasm_path() -> PathBuf {
    std::env::var_os("POLICY_WASM")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("target/wasm32-wasip1/release/linkerd_ha_policy.wasm")
        })
}

pub fn load(cluster: Cluster) -> PolicyModule {
    let path = wasm_path();
    assert!(
        path.exists(),
        "{} is missing: build it with `make build` (cargo build --release --target wasm32-wasip1 -p linkerd-ha-policy)",
        path.display()
    );
    PolicyModule::load(&path, cluster).expect("the module loads")
}

/// Linkerd's own manifests, beside this repository in ../shared.
pub fn linkerd_fixture(name: &str) -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/linkerd")
        .join(name);
    load_yaml_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn test_data(name: &str) -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("test_data")
        .join(name);
    load_yaml_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The settings of one policy in policy.yaml.
pub fn policy_settings(name: &str) -> Value {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/policy.yaml")).unwrap();
    policy_harness::manifests::load_yaml_documents(&text)
        .unwrap()
        .into_iter()
        .find(|doc| doc["metadata"]["name"] == name)
        .map(|doc| doc["spec"]["settings"].clone())
        .unwrap_or_else(|| panic!("policy.yaml has no {name}"))
}

/// Three schedulable nodes, what HA mode assumes.
pub fn nodes(count: usize) -> Vec<Value> {
    (0..count)
        .map(|i| json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": format!("node-{i}")}, "spec": {}}))
        .collect()
}

pub fn namespace(name: &str, annotations: Value, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace",
           "metadata": {"name": name, "annotations": annotations, "labels": labels}})
}

/// Validates `object` as a CREATE with `settings`.
pub fn create(module: &PolicyModule, object: &Value, settings: &Value) -> Verdict {
    module
        .validate(&admission_request(object, "CREATE"), settings)
        .unwrap_or_else(|e| panic!("the guest failed on {}: {e}", describe(object)))
}

pub fn describe(object: &Value) -> String {
    format!(
        "{} {}/{}",
        object["kind"].as_str().unwrap_or("?"),
        object["metadata"]["namespace"].as_str().unwrap_or(""),
        object["metadata"]["name"].as_str().unwrap_or("?")
    )
}

/// Asserts a mutation is idempotent: the mutated object passes unchanged.
pub fn assert_idempotent(module: &PolicyModule, verdict: &Verdict, settings: &Value) {
    let mutated = verdict.mutated_object.as_ref().expect("a mutation");
    let again = create(module, mutated, settings);
    assert!(
        again.accepted,
        "mutated object rejected: {:?}",
        again.message
    );
    assert_eq!(
        again.mutated_object,
        None,
        "second pass mutated again: {:?}",
        again.patch(mutated)
    );
}

/// Deployment `web` in `namespace`, two replicas, its pod template annotated
/// with `template_annotations`.
pub fn deployment(namespace: &str, template_annotations: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "web", "namespace": namespace},
           "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}, "annotations": template_annotations},
                                 "spec": {"containers": [{"name": "web", "image": "web"}]}}}})
}
