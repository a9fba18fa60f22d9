//! Linkerd's extensions as their maintainers ship them (`linkerd viz
//! install`, `linkerd multicluster install`, with and without `--ha`;
//! `test_data/linkerd-extensions/SOURCE.md`), applied in stream order onto a
//! cluster running Linkerd's HA control plane, under default settings.
//! Nothing is refused, and no warning says something Linkerd's maintainers
//! would call noise: each warning left is listed here with why it holds.

mod common;

use common::*;
use policy_harness::manifests::load_yaml_file;
use policy_harness::simulation::apply_request;
use policy_harness::Cluster;
use serde_json::{json, Value};
use std::path::Path;

fn extension(name: &str) -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("test_data/linkerd-extensions")
        .join(name);
    load_yaml_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every object applied in order: what was refused, and every warning.
fn apply(objects: &[Value]) -> (Vec<String>, Vec<String>) {
    let mut existing = linkerd_fixture("install_ha_output.golden");
    existing.extend(nodes(3));
    let mut module = load(Cluster::from_objects(existing));
    let (mut refused, mut warnings) = (Vec::new(), Vec::new());
    for object in objects {
        let request = apply_request(module.cluster_mut(), object).request;
        let verdict = module
            .validate(&request, &json!({}))
            .unwrap_or_else(|e| panic!("the guest failed on {}: {e}", describe(object)));
        warnings.extend(verdict.warnings().iter().cloned());
        if !verdict.accepted {
            refused.push(format!("{}: {:?}", describe(object), verdict.message));
            continue;
        }
        let stored = verdict.mutated_object.unwrap_or_else(|| object.clone());
        module.cluster_mut().insert(stored);
    }
    (refused, warnings)
}

#[test]
fn linkerd_viz_draws_no_warning() {
    let (refused, warnings) = apply(&extension("viz_install_default.golden"));
    assert_eq!(refused, Vec::<String>::new());
    assert_eq!(warnings, Vec::<String>::new());
}

#[test]
fn linkerd_multicluster_draws_no_warning() {
    for file in [
        "multicluster_install_default.golden",
        "multicluster_install_ha.golden",
    ] {
        let (refused, warnings) = apply(&extension(file));
        assert_eq!(refused, Vec::<String>::new(), "{file}");
        assert_eq!(warnings, Vec::<String>::new(), "{file}");
    }
}
