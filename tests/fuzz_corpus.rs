//! The fuzzers' committed seed corpus (fuzz/corpus/) is built from this
//! repository's test data, examples and Linkerd's own manifests, as the
//! AdmissionReview payloads policy-server sends. This test keeps it current:
//! it fails when a seed is missing or stale; regenerate with
//!
//! ```text
//! FUZZ_CORPUS_UPDATE=1 cargo test --test fuzz_corpus
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use policy_harness::admission_request;
use policy_harness::manifests::{load_yaml_documents, load_yaml_file};
use serde_json::{json, Value};

/// Seeds are named `seed-*` so that they stand apart from the inputs
/// libFuzzer adds (named by their hash).
fn seed_name(source: &str, index: usize, object: &Value) -> String {
    let clean = |text: &str| -> String {
        text.chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect()
    };
    format!(
        "seed-{}-{index:03}-{}-{}.json",
        clean(source),
        clean(object["kind"].as_str().unwrap_or("none")),
        clean(object["metadata"]["name"].as_str().unwrap_or("unnamed")),
    )
}

fn repository() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every manifest the corpus is built from: (source name, file).
fn sources() -> Vec<(String, PathBuf)> {
    let mut files = Vec::new();
    for dir in ["test_data", "examples", "../shared/fixtures/linkerd"] {
        let dir = repository().join(dir);
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.expect("a directory entry").path())
            .filter(|path| path.is_file() && path.extension().is_none_or(|e| e != "md"))
            .collect();
        entries.sort();
        for path in entries {
            let name = path
                .file_name()
                .expect("a file")
                .to_string_lossy()
                .into_owned();
            files.push((name, path));
        }
    }
    files
}

/// The settings documents the settings fuzzer starts from.
fn settings_seeds() -> Vec<(String, Value)> {
    let text = std::fs::read_to_string(repository().join("policy.yaml")).expect("policy.yaml");
    let mut seeds: Vec<(String, Value)> = load_yaml_documents(&text)
        .expect("policy.yaml")
        .into_iter()
        .filter(|doc| doc["spec"]["settings"].is_object())
        .map(|doc| {
            (
                format!(
                    "seed-policy-yaml-{}.json",
                    doc["metadata"]["name"].as_str().unwrap_or("?")
                ),
                doc["spec"]["settings"].clone(),
            )
        })
        .collect();
    seeds.extend([
        ("seed-empty.json".to_string(), json!({})),
        ("seed-null.json".to_string(), Value::Null),
        (
            "seed-every-field.json".to_string(),
            json!({
                "rules": {"injectionAnnotation": "enforce", "systemNamespaces": "mutate", "safeToEvict": "mutate",
                          "proxyPresent": false, "proxyResources": "mutate", "controlPlaneReplicas": "enforce",
                          "controlPlaneAntiAffinity": "mutate", "controlPlaneResources": "mutate",
                          "disruptionBudgets": "warn", "injectorWebhook": "enforce", "prometheusRetention": "warn",
                          "nodeCapacity": "off"},
                "systemNamespaces": ["kube-system", "kube-public"],
                "safeToEvict": {"annotation": "safe-to-evict-local-volumes", "autoscalerSkipsLocalStorage": false},
                "proxyResources": {"cpuRequest": "0.2", "memoryRequest": "64Mi"},
                "controlPlane": {"namespace": "linkerd", "components": ["destination"], "replicas": 2,
                                 "requests": {"cpu": "100m", "memory": "10Mi"}, "resourceContainers": "all"},
                "injectorWebhook": {"name": "x", "failurePolicy": "Ignore"},
                "prometheus": {"namespaces": ["linkerd-viz"], "require": "both", "meshedPods": 40}
            }),
        ),
        (
            "seed-invalid.json".to_string(),
            json!({"rules": {"proxyPresent": "mutate"}, "controlPlane": {"replicas": 0}, "systemNamespaces": ["", ""]}),
        ),
    ]);
    seeds
}

/// Every seed file: path under fuzz/corpus → content.
fn expected_corpus() -> BTreeMap<PathBuf, Vec<u8>> {
    let mut corpus = BTreeMap::new();
    let validate = Path::new("validate_bytes");
    for (source, path) in sources() {
        let objects = load_yaml_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for (index, object) in objects.iter().enumerate() {
            let payload = json!({"request": admission_request(object, "CREATE"), "settings": {}});
            corpus.insert(
                validate.join(seed_name(&source, index, object)),
                serde_json::to_vec_pretty(&payload).expect("JSON"),
            );
        }
    }
    for (name, settings) in settings_seeds() {
        corpus.insert(
            Path::new("settings_bytes").join(name),
            serde_json::to_vec_pretty(&settings).expect("JSON"),
        );
    }
    corpus
}

#[test]
fn seed_corpus_is_current() {
    let root = repository().join("fuzz/corpus");
    let update = std::env::var_os("FUZZ_CORPUS_UPDATE").is_some();
    let expected = expected_corpus();
    let mut stale = Vec::new();
    for (path, content) in &expected {
        let path = root.join(path);
        if std::fs::read(&path).ok().as_deref() == Some(content.as_slice()) {
            continue;
        }
        if update {
            std::fs::create_dir_all(path.parent().expect("a directory")).expect("mkdir");
            std::fs::write(&path, content).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        } else {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "{} seed(s) missing or stale, e.g. {:?}: run FUZZ_CORPUS_UPDATE=1 cargo test --test fuzz_corpus",
        stale.len(),
        &stale[..stale.len().min(3)]
    );
    println!("{} seeds current", expected.len());
}
