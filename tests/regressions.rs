//! Inputs the property tests, the hostile-input suite and the fuzzers found
//! wrong answers for, each reduced to one request: natively and on the
//! built module.

mod common;

use common::*;
use linkerd_ha_policy::admission::{self, ClusterLookup};
use linkerd_ha_policy::objects::{NamespaceObject, Node, PodDisruptionBudget};
use linkerd_ha_policy::settings::Settings;
use linkerd_ha_policy::workload::Workload;
use policy_harness::{admission_request, Cluster};
use serde_json::json;

/// Every namespace asks for injection.
struct Meshed;

impl ClusterLookup for Meshed {
    fn namespace(&self, name: &str) -> Result<NamespaceObject, String> {
        serde_json::from_value(
            json!({"metadata": {"name": name, "annotations": {"linkerd.io/inject": "enabled"}}}),
        )
        .map_err(|e| e.to_string())
    }

    fn disruption_budgets(&self, _: &str) -> Result<Vec<PodDisruptionBudget>, String> {
        Ok(Vec::new())
    }

    fn nodes(&self) -> Result<Vec<Node>, String> {
        Ok(Vec::new())
    }

    fn control_plane_workloads(&self, _: &str) -> Result<Vec<Workload>, String> {
        Ok(Vec::new())
    }
}

fn meshed_cluster() -> Cluster {
    Cluster::from_objects([namespace(
        "meshed",
        json!({"linkerd.io/inject": "enabled"}),
        json!({}),
    )])
}

/// A number JSON-parsed without `float_roundtrip` comes out one unit in the
/// last place off (serde_json's fast path), so the mutated object, which
/// the policy decodes in full, changes a field it does not own.
const INEXACT_FLOAT: &str = "1.3608309700451773e+275";

fn pod_with_float(value: &str) -> String {
    format!(
        r#"{{"request": {{"uid": "1", "kind": {{"group": "", "version": "v1", "kind": "Pod"}}, "operation": "CREATE",
            "namespace": "meshed", "object": {{"apiVersion": "v1", "kind": "Pod",
            "metadata": {{"name": "web", "namespace": "meshed"}},
            "spec": {{"containers": [{{"name": "web"}}], "futureField": {value}}}}}}}, "settings": {{}}}}"#
    )
}

#[test]
fn a_mutation_keeps_numbers_it_does_not_own_exact_natively() {
    let response = admission::validate(pod_with_float(INEXACT_FLOAT).as_bytes(), &Meshed);
    let mutated: serde_json::Value = serde_json::from_str(
        response
            .mutated_object
            .expect("the safe-to-evict mutation")
            .get(),
    )
    .unwrap();
    let expected: f64 = INEXACT_FLOAT.parse().unwrap();
    assert_eq!(
        mutated["spec"]["futureField"].as_f64(),
        Some(expected),
        "{} became {}",
        INEXACT_FLOAT,
        mutated["spec"]["futureField"]
    );
}

#[test]
fn a_mutation_keeps_numbers_it_does_not_own_exact_in_the_module() {
    let module = load(meshed_cluster());
    // The raw answer: no host-side parsing in between.
    let answer = module
        .call("validate", pod_with_float(INEXACT_FLOAT).as_bytes())
        .unwrap();
    let answer = String::from_utf8(answer).unwrap();
    assert!(answer.contains("safe-to-evict"), "{answer}");
    assert!(
        // Byte for byte as sent, spacing included.
        answer.contains(&format!("\"futureField\": {INEXACT_FLOAT}")),
        "{INEXACT_FLOAT} changed: {answer}"
    );
}

/// serde reads a struct from a JSON list as well, field by field in
/// declaration order: a settings block written as a list is accepted.
#[test]
fn settings_blocks_given_as_lists_are_refused() {
    let positional = br#"{"controlPlane": ["other-namespace"]}"#;
    match Settings::from_json(positional) {
        Ok(settings) => panic!(
            "accepted, with controlPlane.namespace = {:?}",
            settings.control_plane.namespace
        ),
        Err(error) => assert!(
            error.to_string().starts_with("settings.controlPlane"),
            "{error}"
        ),
    }
    let module = load(Cluster::default());
    for settings in [
        json!({"controlPlane": ["other-namespace"]}),
        json!({"rules": ["off", "off", "off"]}),
        json!({"safeToEvict": []}),
        json!({"proxyResources": [1]}),
    ] {
        let answer = module.validate_settings(&settings).unwrap();
        assert!(!answer.valid, "{settings} accepted");
    }
}

/// The same for objects: `metadata: []` reads as empty metadata. A Pod
/// the policy mutates then fails in the mutation with a 500; one it does
/// not is accepted as if it had no annotations. Both are bad requests.
#[test]
fn objects_given_as_lists_are_bad_requests() {
    let module = load(meshed_cluster());
    for (namespace, annotations) in [
        ("meshed", json!({})),
        ("shop", json!({"linkerd.io/inject": "true"})),
    ] {
        let mut pod = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web", "namespace": namespace, "annotations": annotations},
            "spec": {"containers": [{"name": "web"}]}});
        let mut request = admission_request(&pod, "CREATE");
        pod["metadata"] = json!([]);
        request["object"] = pod;
        let verdict = module.validate(&request, &json!({})).unwrap();
        assert_eq!(
            (verdict.accepted, verdict.code),
            (false, Some(400)),
            "metadata: [] in {namespace}: {:?}",
            verdict.message
        );
    }
}
