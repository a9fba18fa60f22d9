//! Verdict parity: the playground's engine and the Kubewarden module, fed
//! the same fixtures, give the same verdicts, messages, warnings and
//! patches for every object.
//!
//! The module runs in policy-harness (waPC on wasmtime, as policy-server
//! runs it), driven as the scanner (`linkerd-ha-scan FILE`) drives it: each
//! file's objects sent in `kubectl apply`'s order, each against what was
//! admitted before it. It is `$POLICY_WASM`, or the release build (`make
//! build`).

use std::path::{Path, PathBuf};

use cluster_sim::{apply_request, ApplyRequest};
use policy_harness::manifests::load_file_objects;
use policy_harness::{Cluster, PolicyModule};
use policy_playground::{Finding, ObjectReport, Outcome, DEFAULT_NAMESPACE};
use serde_json::{json, Value};

/// Settings under which the fixtures are judged: the defaults, every
/// fixable rule on `mutate` (the mutation paths), and `enforce` everywhere
/// it is allowed (the rejection paths).
const PROFILES: &[(&str, &str)] = &[
    ("defaults", ""),
    (
        "mutate",
        "
rules:
  safeToEvict: mutate
  systemNamespaces: mutate
  proxyResources: mutate
  controlPlaneAntiAffinity: mutate
  controlPlaneResources: mutate
safeToEvict: {annotation: safe-to-evict-local-volumes}
controlPlane: {resourceContainers: all}
",
    ),
    (
        "enforce",
        "
rules:
  safeToEvict: enforce
  systemNamespaces: enforce
  proxyPresent: enforce
  proxyResources: enforce
  prometheusRetention: enforce
  nodeCapacity: enforce
prometheus: {require: both, meshedPods: 40}
",
    ),
];

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn module_path() -> PathBuf {
    std::env::var_os("POLICY_WASM")
        .map(PathBuf::from)
        .unwrap_or_else(|| repository().join("target/wasm32-wasip1/release/linkerd_ha_policy.wasm"))
}

/// The repository's examples and test data, and Linkerd's manifests beside it.
fn fixtures() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for (directory, required) in [
        (repository().join("examples"), true),
        (repository().join("test_data"), true),
        (repository().join("../shared/fixtures/linkerd"), true),
        (repository().join("web/examples"), false),
        (repository().join("playground/tests/fixtures"), true),
    ] {
        if !required && !directory.exists() {
            continue;
        }
        let entries = std::fs::read_dir(&directory)
            .unwrap_or_else(|e| panic!("{}: {e}", directory.display()));
        let before = files.len();
        for entry in entries {
            let path = entry.expect("directory entry").path();
            let extension = path
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or_default();
            if matches!(extension, "yaml" | "yml" | "golden") {
                files.push(path);
            }
        }
        assert!(
            !required || files.len() > before,
            "no fixtures in {}",
            directory.display()
        );
    }
    files.sort();
    files
}

/// What both sides are compared on.
#[derive(Debug, PartialEq)]
struct Judgement {
    title: String,
    operation: String,
    outcome: Outcome,
    code: Option<u16>,
    message: Option<String>,
    warnings: Vec<String>,
    patch: Option<Value>,
}

/// Runs the Kubewarden module over `file` like `linkerd-ha-scan`.
fn module_judgements(file: &Path, profiles: &[Value]) -> Vec<Vec<Judgement>> {
    let objects: Vec<Value> = load_file_objects(file, DEFAULT_NAMESPACE)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|loaded| loaded.object)
        .collect();
    let mut module = PolicyModule::load(&module_path(), Cluster::default()).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (build it with `make build`)",
            module_path().display()
        )
    });
    profiles
        .iter()
        .map(|settings| {
            let validation = module
                .validate_settings(settings)
                .expect("validate_settings");
            assert!(validation.valid, "{settings}: {validation:?}");
            // Each profile applies the file to an empty cluster.
            *module.cluster_mut() = Cluster::default();
            objects
                .iter()
                .map(|object| {
                    let ApplyRequest {
                        operation, request, ..
                    } = apply_request(module.cluster(), object);
                    let verdict = module
                        .validate(&request, settings)
                        .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
                    if verdict.accepted {
                        let stored = verdict
                            .mutated_object
                            .clone()
                            .unwrap_or_else(|| object.clone());
                        module.cluster_mut().insert(stored);
                    }
                    let outcome = match (verdict.accepted, &verdict.mutated_object) {
                        (false, _) => Outcome::Rejected,
                        (true, Some(_)) => Outcome::Mutated,
                        (true, None) => Outcome::Accepted,
                    };
                    Judgement {
                        title: title(
                            object["kind"].as_str(),
                            object["metadata"]["namespace"].as_str(),
                            object["metadata"]["name"].as_str(),
                        ),
                        operation: operation.to_owned(),
                        outcome,
                        code: verdict.code,
                        message: verdict.message.clone(),
                        warnings: verdict.warnings().iter().map(|w| normalize(w)).collect(),
                        patch: verdict
                            .patch(object)
                            .map(|patch| serde_json::to_value(patch).expect("patch")),
                    }
                })
                .collect()
        })
        .collect()
}

fn playground_judgements(text: &str, settings: &str) -> Vec<Judgement> {
    let report = policy_playground::evaluate(text, settings, "")
        .unwrap_or_else(|e| panic!("the playground fails: {e}"));
    report
        .objects
        .iter()
        .map(|object: &ObjectReport| Judgement {
            title: title(
                Some(&object.kind),
                object.namespace.as_deref(),
                object.name.as_deref(),
            ),
            operation: object.operation.clone(),
            outcome: object.outcome,
            code: object.code,
            message: object.message.clone(),
            warnings: object
                .warnings
                .iter()
                .map(|w| normalize(&Finding::line(w)))
                .collect(),
            patch: object.patch.clone(),
        })
        .collect()
}

fn title(kind: Option<&str>, namespace: Option<&str>, name: Option<&str>) -> String {
    format!(
        "{} {}/{}",
        kind.unwrap_or_default(),
        namespace.unwrap_or_default(),
        name.unwrap_or_default()
    )
}

/// Why a namespace lookup failed is worded by the host (the harness says
/// `get_resource failed: Host error: namespaces "x" not found`, the page
/// where to add the namespace); everything around it must match.
fn normalize(warning: &str) -> String {
    const BEFORE: &str = "namespace \"";
    const AFTER: &str = "), so its labels and annotation";
    let (Some(start), Some(end)) = (warning.find(BEFORE), warning.find(AFTER)) else {
        return warning.to_owned();
    };
    match warning[start..end].find(" (") {
        Some(open) => format!(
            "{}(<lookup error>{}",
            &warning[..start + open + 1],
            &warning[end..]
        ),
        None => warning.to_owned(),
    }
}

#[test]
fn playground_verdicts_equal_the_kubewarden_modules() {
    let profiles: Vec<Value> = PROFILES
        .iter()
        .map(|(_, text)| {
            let value: Value = serde_yaml_ng::from_str(text).expect("profile YAML");
            if value.is_null() {
                json!({})
            } else {
                value
            }
        })
        .collect();
    let mut compared = 0;
    let mut outcomes = [0; 3];
    for file in fixtures() {
        let text = std::fs::read_to_string(&file).expect("fixture");
        let module = module_judgements(&file, &profiles);
        for ((name, settings), expected) in PROFILES.iter().zip(module) {
            let actual = playground_judgements(&text, settings);
            assert_eq!(
                actual.len(),
                expected.len(),
                "{} ({name}): object count",
                file.display()
            );
            for (actual, expected) in actual.iter().zip(&expected) {
                assert_eq!(
                    actual,
                    expected,
                    "{} under the {name} settings",
                    file.display()
                );
                outcomes[expected.outcome as usize] += 1;
                compared += 1;
            }
        }
    }
    // The fixtures exercise every outcome, so equality is not vacuous.
    assert!(
        outcomes.iter().all(|&count| count > 0),
        "outcomes (accepted, mutated, rejected): {outcomes:?}"
    );
    eprintln!("compared {compared} verdicts; (accepted, mutated, rejected) = {outcomes:?}");
}

#[test]
fn normalize_keeps_everything_but_the_lookup_error() {
    let harness = "Deployment default/a: namespace \"default\" does not exist (get_resource failed: Host error: namespaces \"default\" not found), so its labels and annotation, which can turn injection off, are unknown. Fix: x";
    let page = "Deployment default/a: namespace \"default\" does not exist (namespaces \"default\" not found: it is neither in the manifest nor in the cluster box), so its labels and annotation, which can turn injection off, are unknown. Fix: x";
    assert_eq!(normalize(harness), normalize(page));
    assert_eq!(
        normalize(harness),
        "Deployment default/a: namespace \"default\" does not exist (<lookup error>), so its labels and annotation, which can turn injection off, are unknown. Fix: x"
    );
    assert_eq!(normalize("other"), "other");
}
