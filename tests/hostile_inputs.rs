//! Hostile and broken input on the built module, beyond the payloads of
//! module_behaviour.rs: 10 MB objects, every settings field of the wrong
//! type, `null` and wrong types in every field of real objects, unknown
//! kinds and API versions, non-UTF-8 and odd escapes inside strings,
//! truncation at every byte, deep nesting inside skipped fields.
//!
//! Every input must get a well-formed answer (never a trap); a rejection
//! must say what is wrong, with a 400 for a bad request. Each test prints
//! how many inputs it tried.

mod common;

use std::collections::BTreeMap;

use common::*;
use policy_harness::{admission_request, Cluster, PolicyModule, Verdict};
use serde_json::{json, Value};

fn cluster() -> Cluster {
    Cluster::from_objects(
        linkerd_fixture("install_ha_output.golden")
            .into_iter()
            .chain(nodes(3))
            .chain([
                namespace("shop", json!({}), json!({})),
                namespace("meshed", json!({"linkerd.io/inject": "enabled"}), json!({})),
            ]),
    )
}

/// The longest rejection message a bad request may get: messages quote
/// user input only cut short.
const MESSAGE_LIMIT: usize = 8 << 10;

/// How the inputs of one test were answered.
#[derive(Debug, Default)]
struct Tally {
    tried: usize,
    outcomes: BTreeMap<String, usize>,
    /// The first inputs answered with a server error (500), to print.
    server_errors: Vec<String>,
}

impl Tally {
    /// Sends `payload`, checks the answer is well-formed, and counts it.
    fn send(&mut self, module: &PolicyModule, what: &str, payload: &[u8]) -> Verdict {
        self.tried += 1;
        let verdict = module
            .validate_raw(payload)
            .unwrap_or_else(|e| panic!("{what}: the guest failed instead of answering: {e}"));
        assert_well_formed(what, &verdict);
        let outcome = match (verdict.accepted, verdict.code) {
            (true, _) if verdict.mutated_object.is_some() => "mutated".to_string(),
            (true, _) => "accepted".to_string(),
            (false, code) => format!("rejected {}", code.unwrap_or_default()),
        };
        if verdict.code == Some(500) && self.server_errors.len() < 20 {
            let message = verdict.message.as_deref().unwrap_or_default();
            self.server_errors
                .push(format!("{what}: {}", &message[..message.len().min(200)]));
        }
        *self.outcomes.entry(outcome).or_default() += 1;
        verdict
    }

    /// A bad request is the client's error (400); 500 says the policy
    /// failed, which no input should make it do.
    fn assert_no_server_errors(&self) {
        assert!(
            self.server_errors.is_empty(),
            "{} input(s) answered 500 instead of 400, e.g. {:#?}",
            self.outcomes
                .get("rejected 500")
                .copied()
                .unwrap_or_default(),
            self.server_errors
        );
    }

    fn report(&self, test: &str) {
        println!(
            "{test}: {} inputs tried, answered {:?}",
            self.tried, self.outcomes
        );
        for error in &self.server_errors {
            println!("  answered 500: {error}");
        }
    }
}

fn assert_well_formed(what: &str, verdict: &Verdict) {
    if verdict.accepted {
        assert_eq!(verdict.code, None, "{what}: accepted with a code");
        return;
    }
    let message = verdict.message.as_deref().unwrap_or_default();
    assert!(
        !message.trim().is_empty(),
        "{what}: rejected without a message"
    );
    assert!(
        message.len() <= MESSAGE_LIMIT,
        "{what}: a {} byte message: {}…",
        message.len(),
        &message[..200]
    );
    assert!(
        matches!(verdict.code, Some(400 | 500)),
        "{what}: code {:?} ({message})",
        verdict.code
    );
    assert!(
        verdict.mutated_object.is_none(),
        "{what}: rejected and mutated"
    );
}

fn payload(request: &Value, settings: &Value) -> Vec<u8> {
    serde_json::to_vec(&json!({"request": request, "settings": settings})).unwrap()
}

fn create_payload(object: &Value) -> Vec<u8> {
    payload(&admission_request(object, "CREATE"), &json!({}))
}

const TEN_MB: usize = 10 << 20;

#[test]
fn ten_megabyte_objects_are_answered() {
    let module = load(cluster());
    let mut tally = Tally::default();

    // Mutated: the policy must decode all of it to edit it.
    let mut meshed = deployment("meshed", json!({}));
    meshed["spec"]["template"]["spec"]["futureBlob"] = json!("x".repeat(TEN_MB));
    let verdict = tally.send(&module, "10 MB meshed Deployment", &create_payload(&meshed));
    let mutated = verdict.mutated_object.expect("the safe-to-evict mutation");
    assert_eq!(
        mutated["spec"]["template"]["spec"]["futureBlob"],
        meshed["spec"]["template"]["spec"]["futureBlob"]
    );

    // Compliant: a field the rules skip, never decoded.
    let mut compliant = deployment("shop", json!({}));
    compliant["metadata"]["annotations"] =
        json!({"kubectl.kubernetes.io/last-applied-configuration": "y".repeat(TEN_MB)});
    let verdict = tally.send(
        &module,
        "10 MB unmeshed Deployment",
        &create_payload(&compliant),
    );
    assert!(verdict.accepted && verdict.mutated_object.is_none());

    // A 10 MB value the rules read: quoted back cut short.
    let huge_value = deployment("shop", json!({"linkerd.io/inject": "z".repeat(TEN_MB)}));
    let verdict = tally.send(&module, "10 MB inject value", &create_payload(&huge_value));
    assert!(!verdict.accepted);

    // 10 MB of containers, each one read.
    let containers: Vec<Value> = (0..115_000)
        .map(|i| json!({"name": format!("c{i}"), "image": "registry.example.com/app:1.0.0", "args": ["--serve", "--port=8080"]}))
        .collect();
    let mut wide = deployment("meshed", json!({}));
    wide["spec"]["template"]["spec"]["containers"] = Value::Array(containers);
    let bytes = create_payload(&wide);
    assert!(bytes.len() >= TEN_MB, "{} bytes", bytes.len());
    let verdict = tally.send(&module, "115,000 containers", &bytes);
    assert!(verdict.mutated_object.is_some(), "{:?}", verdict.message);

    // 100,000 annotations.
    let annotations: serde_json::Map<String, Value> = (0..100_000)
        .map(|i| (format!("example.com/key-{i}"), json!(format!("value {i}"))))
        .chain([("linkerd.io/inject".to_string(), json!("enabled"))])
        .collect();
    let verdict = tally.send(
        &module,
        "100,000 annotations",
        &create_payload(&deployment("shop", Value::Object(annotations))),
    );
    assert!(verdict.mutated_object.is_some(), "{:?}", verdict.message);

    // An ignored kind.
    let config_map = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big", "namespace": "shop"},
                            "data": {"blob": "b".repeat(TEN_MB)}});
    let verdict = tally.send(&module, "10 MB ConfigMap", &create_payload(&config_map));
    assert!(verdict.accepted && verdict.mutated_object.is_none());
    tally.report("10 MB objects");
    tally.assert_no_server_errors();
}

/// The settings block with every field set, from the README.
fn full_settings() -> Value {
    json!({
        "rules": {"injectionAnnotation": "enforce", "systemNamespaces": "mutate", "safeToEvict": "mutate",
                  "proxyPresent": "off", "proxyResources": "warn", "controlPlaneReplicas": "enforce",
                  "controlPlaneAntiAffinity": "enforce", "controlPlaneResources": "enforce",
                  "disruptionBudgets": "enforce", "injectorWebhook": "enforce",
                  "prometheusRetention": "warn", "nodeCapacity": "warn"},
        "systemNamespaces": ["kube-system"],
        "safeToEvict": {"annotation": "safe-to-evict", "autoscalerSkipsLocalStorage": false},
        "proxyResources": {"cpuRequest": "100m", "memoryRequest": "20Mi"},
        "controlPlane": {"namespace": "linkerd", "components": ["destination", "identity", "proxy-injector"],
                         "replicas": 3, "requests": {"cpu": "100m", "memory": "10Mi"}, "resourceContainers": "main"},
        "injectorWebhook": {"name": "linkerd-proxy-injector-webhook-config", "failurePolicy": "Fail"},
        "prometheus": {"namespaces": ["linkerd-viz"], "require": "either", "meshedPods": 0}
    })
}

/// Every node below the root of `value`: (JSON pointer, settings path as
/// the policy names it, e.g. `controlPlane.components[0]`).
fn paths(value: &Value) -> Vec<(String, String)> {
    fn walk(value: &Value, pointer: String, dotted: String, into: &mut Vec<(String, String)>) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    let pointer =
                        format!("{pointer}/{}", key.replace('~', "~0").replace('/', "~1"));
                    let dotted = if dotted.is_empty() {
                        key.clone()
                    } else {
                        format!("{dotted}.{key}")
                    };
                    into.push((pointer.clone(), dotted.clone()));
                    walk(child, pointer, dotted, into);
                }
            }
            Value::Array(items) => {
                for (index, child) in items.iter().enumerate() {
                    let pointer = format!("{pointer}/{index}");
                    let dotted = format!("{dotted}[{index}]");
                    into.push((pointer.clone(), dotted.clone()));
                    walk(child, pointer, dotted, into);
                }
            }
            _ => {}
        }
    }
    let mut found = Vec::new();
    walk(value, String::new(), String::new(), &mut found);
    found
}

/// Values of every JSON type.
fn every_type() -> Vec<Value> {
    vec![
        Value::Null,
        json!(0),
        json!(-1),
        json!(1.5),
        json!(""),
        json!("x"),
        json!(true),
        json!(false),
        json!([]),
        json!([1]),
        json!({}),
        json!({"a": 1}),
    ]
}

fn same_type(a: &Value, b: &Value) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

#[test]
fn settings_with_a_wrong_type_in_every_field_name_the_field() {
    let module = load(cluster());
    let base = full_settings();
    assert!(module.validate_settings(&base).unwrap().valid);
    let request = admission_request(&deployment("meshed", json!({})), "CREATE");
    let mut tally = Tally::default();
    let mut wrongly_accepted = Vec::new();
    for (pointer, dotted) in paths(&base) {
        let original = base.pointer(&pointer).unwrap();
        for value in every_type() {
            let mut settings = base.clone();
            *settings.pointer_mut(&pointer).unwrap() = value.clone();
            let what = format!("settings.{dotted} = {value}");
            tally.tried += 1;
            let answer = module
                .validate_settings(&settings)
                .unwrap_or_else(|e| panic!("{what}: validate_settings failed: {e}"));
            let message = answer.message.clone().unwrap_or_default();
            if answer.valid {
                // Only a value of the right type can pass (or `false`, YAML's
                // unquoted `off`, for an action).
                // Quantities may be numbers, as in Kubernetes (`cpu: 1`).
                let quantity = [
                    "cpuRequest",
                    "memoryRequest",
                    "requests.cpu",
                    "requests.memory",
                ]
                .iter()
                .any(|field| dotted.ends_with(field));
                let off = dotted.starts_with("rules.") && value == false;
                let fits = same_type(original, &value) || off || (quantity && value.is_number());
                if !fits {
                    wrongly_accepted.push(what.clone());
                }
            } else {
                // The message names the field, or the list/map it sits in.
                let parent = dotted
                    .rsplit_once(['.', '['])
                    .map_or(dotted.as_str(), |(p, _)| p);
                assert!(
                    message.contains(&format!("settings.{dotted}"))
                        || message.contains(&format!("settings.{parent}")),
                    "{what}: {message:?} does not name the field"
                );
            }
            // The same settings in a validation request: refused alike.
            let verdict = tally.send(&module, &what, &payload(&request, &settings));
            if !answer.valid {
                assert!(
                    !verdict.accepted,
                    "{what}: invalid settings, request accepted"
                );
                assert_eq!(verdict.code, Some(400), "{what}");
                assert!(
                    verdict
                        .message
                        .as_deref()
                        .unwrap_or_default()
                        .contains("invalid policy settings"),
                    "{what}: {:?}",
                    verdict.message
                );
            }
        }
    }
    // Not even a map.
    for settings in every_type()
        .into_iter()
        .filter(|v| !v.is_object() && !v.is_null())
    {
        let answer = module.validate_settings(&settings).unwrap();
        assert!(!answer.valid, "{settings}");
        tally.send(
            &module,
            &format!("settings = {settings}"),
            &payload(&request, &settings),
        );
    }
    tally.report("settings of the wrong type");
    // serde reads a struct from a JSON list too, field by field in order:
    // `controlPlane: ["other"]` would set controlPlane.namespace.
    assert!(
        wrongly_accepted.is_empty(),
        "{} settings of the wrong type were accepted: {wrongly_accepted:?}",
        wrongly_accepted.len()
    );
}

/// Real objects of every kind the policy reads, richly filled.
fn rich_objects() -> Vec<Value> {
    let install = linkerd_fixture("install_ha_output.golden");
    let pick = |kind: &str, name: &str| -> Value {
        install
            .iter()
            .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{kind} {name} in install_ha_output.golden"))
    };
    let mut objects = vec![
        pick("Deployment", "linkerd-destination"),
        pick("PodDisruptionBudget", "linkerd-dst"),
        pick(
            "MutatingWebhookConfiguration",
            "linkerd-proxy-injector-webhook-config",
        ),
        namespace(
            "kube-system",
            json!({"linkerd.io/inject": "disabled"}),
            json!({"team": "platform"}),
        ),
        json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "Prometheus",
               "metadata": {"name": "prometheus", "namespace": "linkerd-viz"},
               "spec": {"retention": "6h", "retentionSize": "10GB", "resources": {"requests": {"memory": "1Gi"}}}}),
    ];
    objects.extend(test_data("future-fields.yaml"));
    objects.extend(linkerd_fixture("inject_emojivoto_cronjob.input.yml"));
    let mut pod = linkerd_fixture("inject_emojivoto_already_injected.input.yml")
        .into_iter()
        .find(|o| o["kind"] == "Deployment")
        .expect("an injected Deployment");
    // Its template, as a Pod.
    pod = json!({"apiVersion": "v1", "kind": "Pod",
                 "metadata": {"name": "web-1", "namespace": "meshed", "labels": pod["spec"]["template"]["metadata"]["labels"], "annotations": pod["spec"]["template"]["metadata"]["annotations"]},
                 "spec": pod["spec"]["template"]["spec"]});
    objects.push(pod);
    objects
}

/// Every field of every object, one at a time, set to `null` and to a value
/// of each other type: the field's reader must cope, or say what it could
/// not read.
#[test]
fn null_and_wrong_types_in_every_field_are_answered() {
    let module = load(cluster());
    let mut tally = Tally::default();
    let settings = json!({"rules": {"controlPlaneAntiAffinity": "mutate", "controlPlaneResources": "mutate", "proxyResources": "mutate"}});
    let replacements = [
        Value::Null,
        json!(7),
        json!("x"),
        json!(true),
        json!([]),
        json!({}),
    ];
    for object in rich_objects() {
        let request = admission_request(&object, "CREATE");
        for (pointer, dotted) in paths(&object) {
            let original = object.pointer(&pointer).unwrap();
            for value in &replacements {
                if same_type(original, value) && !value.is_null() {
                    continue;
                }
                let mut request = request.clone();
                *request["object"].pointer_mut(&pointer).unwrap() = value.clone();
                let what = format!("{} {dotted} = {value}", describe(&object));
                let verdict = tally.send(&module, &what, &payload(&request, &settings));
                if !verdict.accepted && verdict.code == Some(400) {
                    let message = verdict.message.unwrap_or_default();
                    // A decoding failure names the kind and the field it
                    // failed at, not a position in the request's JSON.
                    if message.contains("cannot be read") {
                        assert!(
                            message.contains(object["kind"].as_str().unwrap()),
                            "{what}: {message}"
                        );
                        assert!(
                            message.contains(&format!("cannot be read: {dotted}")),
                            "{what}: {message}"
                        );
                        assert!(!message.contains(" at line "), "{what}: {message}");
                    }
                }
            }
        }
        // And the whole object, and the request's own fields.
        for value in &replacements {
            let mut broken = request.clone();
            broken["object"] = value.clone();
            tally.send(
                &module,
                &format!("{} object = {value}", describe(&object)),
                &payload(&broken, &settings),
            );
            for field in [
                "kind",
                "operation",
                "namespace",
                "subResource",
                "name",
                "uid",
                "userInfo",
                "oldObject",
            ] {
                let mut broken = request.clone();
                broken[field] = value.clone();
                tally.send(
                    &module,
                    &format!("{} request.{field} = {value}", describe(&object)),
                    &payload(&broken, &settings),
                );
            }
            for field in ["group", "version", "kind"] {
                let mut broken = request.clone();
                broken["kind"][field] = value.clone();
                tally.send(
                    &module,
                    &format!("{} request.kind.{field} = {value}", describe(&object)),
                    &payload(&broken, &settings),
                );
            }
        }
    }
    tally.report("null and wrong types in every field");
    // serde reads a struct from a JSON list too, so `metadata: []` passes
    // as empty metadata, and the mutation then finds a list to edit.
    tally.assert_no_server_errors();
}

#[test]
fn unknown_kinds_and_api_versions_are_let_through_untouched() {
    let module = load(cluster());
    let mut tally = Tally::default();
    // A meshed, unannotated Deployment: a handled kind would mutate it.
    let object = deployment("meshed", json!({}));
    let handled = [
        ("", "Pod"),
        ("apps", "Deployment"),
        ("batch", "CronJob"),
        ("", "Namespace"),
        ("policy", "PodDisruptionBudget"),
    ];
    let groups = [
        "",
        "apps",
        "batch",
        "policy",
        "extensions",
        "apps.example.com",
        "APPS",
        " apps",
        "monitoring.coreos.com",
        "admissionregistration.k8s.io",
    ];
    let kinds = [
        "Deployment",
        "deployment",
        "DEPLOYMENT",
        "Deployment ",
        "Deployments",
        "Pod",
        "Service",
        "Scale",
        "",
        "Déploiement",
        "Namespace",
        "Prometheus",
        "CustomThing",
    ];
    let versions = ["v1", "v1beta1", "v2alpha1", "", "v999", "\u{0}"];
    for group in groups {
        for kind in kinds {
            for version in versions {
                let mut request = admission_request(&object, "CREATE");
                request["kind"] = json!({"group": group, "version": version, "kind": kind});
                let what = format!("{group}/{version} {kind}");
                let verdict = tally.send(&module, &what, &payload(&request, &json!({})));
                let is_handled = handled.contains(&(group, kind))
                    || [
                        ("apps", "ReplicaSet"),
                        ("", "ReplicationController"),
                        ("monitoring.coreos.com", "Prometheus"),
                    ]
                    .contains(&(group, kind));
                if !is_handled {
                    assert!(
                        verdict.accepted && verdict.mutated_object.is_none(),
                        "{what}: {:?}",
                        verdict.message
                    );
                    assert!(
                        verdict.warnings().is_empty(),
                        "{what}: {:?}",
                        verdict.warnings()
                    );
                }
            }
        }
    }
    // A kind name of a megabyte.
    let mut request = admission_request(&object, "CREATE");
    request["kind"]["kind"] = json!("K".repeat(1 << 20));
    let verdict = tally.send(&module, "1 MB kind", &payload(&request, &json!({})));
    assert!(verdict.accepted);
    tally.report("unknown kinds and API versions");
    tally.assert_no_server_errors();
}

/// Replaces the first `marker` in `payload` with `bytes`.
fn splice(payload: &[u8], marker: &str, bytes: &[u8]) -> Vec<u8> {
    let at = payload
        .windows(marker.len())
        .position(|w| w == marker.as_bytes())
        .unwrap_or_else(|| panic!("{marker} not in the payload"));
    [&payload[..at], bytes, &payload[at + marker.len()..]].concat()
}

#[test]
fn odd_bytes_inside_strings_are_answered() {
    let module = load(cluster());
    let mut tally = Tally::default();
    let mut object = deployment(
        "meshed",
        json!({"linkerd.io/inject": "MARK_INJECT", "note": "MARK_NOTE"}),
    );
    object["metadata"]["name"] = json!("MARK_NAME");
    object["spec"]["template"]["spec"]["futureField"] = json!("MARK_UNKNOWN");
    let base = create_payload(&object);
    let contents: [(&str, &[u8]); 9] = [
        ("invalid UTF-8", b"\xff\xfe"),
        ("a lone continuation byte", b"a\x80b"),
        ("an overlong encoding", b"\xc0\xaf"),
        ("a raw NUL", b"a\x00b"),
        ("a raw control character", b"a\x01\x1fb"),
        ("an escaped NUL", br"a\u0000b"),
        ("a lone surrogate escape", br"\ud800"),
        ("a reversed surrogate pair", br"\udc00\ud800"),
        ("a bad escape", br"\x41"),
    ];
    for marker in ["MARK_INJECT", "MARK_NOTE", "MARK_NAME", "MARK_UNKNOWN"] {
        for (what, bytes) in contents {
            let payload = splice(&base, marker, bytes);
            let verdict = tally.send(&module, &format!("{what} in {marker}"), &payload);
            let valid_json = serde_json::from_slice::<Value>(&payload).is_ok();
            if !valid_json {
                // Not JSON, or not the UTF-8 JSON must be: refused as a bad request.
                assert!(!verdict.accepted, "{what} in {marker}: accepted");
                assert_eq!(
                    verdict.code,
                    Some(400),
                    "{what} in {marker}: {:?}",
                    verdict.message
                );
            }
        }
    }
    // Strings of valid but unusual text everywhere the rules quote them.
    for text in [
        "\u{202e}desrever",
        "😀".repeat(10_000).as_str(),
        "\u{feff}enabled",
        "enabled\n",
        "a\"b\\c",
    ] {
        let object = deployment(
            "shop",
            json!({"linkerd.io/inject": text, "cluster-autoscaler.kubernetes.io/safe-to-evict": text}),
        );
        let verdict = tally.send(
            &module,
            &format!("annotation {text:.20?}"),
            &create_payload(&object),
        );
        assert!(!verdict.accepted, "{text:.20?}");
    }
    tally.report("odd bytes inside strings");
    tally.assert_no_server_errors();
}

#[test]
fn every_truncation_of_a_request_is_answered() {
    let module = load(cluster());
    let mut tally = Tally::default();
    let object = deployment("meshed", json!({"linkerd.io/inject": "enabled"}));
    let full = serde_json::to_vec(&json!({"request": {
        "uid": "1", "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
        "namespace": "meshed", "operation": "CREATE", "object": object}, "settings": {}}))
    .unwrap();
    for end in 0..full.len() {
        let verdict = tally.send(&module, &format!("the first {end} bytes"), &full[..end]);
        assert!(!verdict.accepted, "the first {end} bytes were accepted");
        assert_eq!(verdict.code, Some(400));
    }
    // Trailing garbage after a complete request.
    for tail in [&b" "[..], b"}", b"{}", b"\x00", b"garbage"] {
        let payload = [full.as_slice(), tail].concat();
        tally.send(&module, &format!("trailing {tail:?}"), &payload);
    }
    tally.report("truncations");
    tally.assert_no_server_errors();
}

#[test]
fn deep_nesting_in_skipped_fields_and_settings_is_answered() {
    let module = load(cluster());
    let mut tally = Tally::default();
    for depth in [64, 127, 128, 129, 1_000, 100_000] {
        let nested = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
        let object_nested = format!("{}{}", "{\"a\":".repeat(depth), "}".repeat(depth))
            .replacen("{\"a\":}", "{}", 1);
        for (place, inner) in [("array", &nested), ("object", &object_nested)] {
            // Inside a field no rule reads, of a workload the policy mutates.
            let mut object = deployment("meshed", json!({}));
            object["spec"]["template"]["spec"]["futureField"] = json!("MARK");
            let payload = splice(&create_payload(&object), "\"MARK\"", inner.as_bytes());
            tally.send(
                &module,
                &format!("{place} nested {depth} deep in an unknown field"),
                &payload,
            );
            // Where a rule reads a string.
            let payload = splice(
                &create_payload(&deployment("meshed", json!({"note": "MARK"}))),
                "\"MARK\"",
                inner.as_bytes(),
            );
            let verdict = tally.send(
                &module,
                &format!("{place} nested {depth} deep in an annotation"),
                &payload,
            );
            assert!(!verdict.accepted);
            let request = admission_request(&deployment("meshed", json!({})), "CREATE");
            let payload = format!(
                r#"{{"request": {}, "settings": {{"rules": {inner}}}}}"#,
                request
            );
            let verdict = tally.send(
                &module,
                &format!("{place} nested {depth} deep in settings"),
                payload.as_bytes(),
            );
            assert!(!verdict.accepted);
            let answer = module
                .validate_settings_raw(format!(r#"{{"rules": {inner}}}"#).as_bytes())
                .unwrap_or_else(|e| panic!("settings nested {depth}: {e}"));
            assert!(!answer.valid);
        }
    }
    tally.report("deep nesting");
    // A field no rule reads may nest deeper than serde_json's limit (128),
    // which only the mutation's full decode enforces.
    tally.assert_no_server_errors();
}
