//! The annotated module: its `io.kubewarden.metadata` section is
//! metadata.yml plus the crate version and the README, read back with
//! wasmparser, and nothing else in the module changed.

mod common;

use std::collections::BTreeSet;

use common::{annotated_module, built_module, project};
use policy_release::annotate::{annotate_bytes, embedded_metadata, release_metadata};
use policy_release::size::human;
use policy_release::wasm::{
    custom_section_name, custom_sections, sections, Section, METADATA_SECTION,
};
use serde_json::Value;

/// metadata.yml as plain JSON, read independently of the crate's types.
fn metadata_yml() -> Value {
    let text = std::fs::read_to_string(project().metadata_path()).expect("metadata.yml");
    serde_yaml_ng::from_str(&text).expect("metadata.yml is YAML")
}

fn embedded_json() -> Value {
    let sections =
        custom_sections(annotated_module(), METADATA_SECTION, "annotated").expect("parse");
    assert_eq!(sections.len(), 1, "exactly one metadata section");
    serde_json::from_slice(sections[0]).expect("the section is JSON")
}

fn as_set(value: &Value) -> BTreeSet<String> {
    value
        .as_array()
        .expect("an array")
        .iter()
        .map(Value::to_string)
        .collect()
}

#[test]
fn section_holds_metadata_yml_with_version_and_usage() {
    let yml = metadata_yml();
    let json = embedded_json();
    let project = project();

    // What kwctl adds or defaults.
    assert_eq!(json["protocolVersion"], "v1");
    assert_eq!(json["executionMode"], "kubewarden-wapc");
    assert_eq!(json["policyType"], "kubernetes");

    // Everything metadata.yml says, unchanged.
    assert_eq!(json["rules"], yml["rules"]);
    assert_eq!(json["mutating"], yml["mutating"]);
    assert_eq!(json["backgroundAudit"], yml["backgroundAudit"]);
    assert_eq!(json["executionMode"], yml["executionMode"]);
    assert_eq!(json["policyType"], yml["policyType"]);
    // A set in kwctl (sorted), a list in metadata.yml.
    assert_eq!(
        as_set(&json["contextAwareResources"]),
        as_set(&yml["contextAwareResources"])
    );
    let annotations = json["annotations"].as_object().expect("annotations");
    for (key, value) in yml["annotations"]
        .as_object()
        .expect("metadata.yml annotations")
    {
        assert_eq!(annotations.get(key), Some(value), "annotation {key}");
    }

    // What annotate adds.
    assert_eq!(
        annotations["io.kubewarden.policy.version"],
        project.version.as_str()
    );
    let usage = project.usage().expect("README.md and the usage documents");
    assert_eq!(annotations["io.kubewarden.policy.usage"], usage.as_str());
    for section in [
        "# linkerd-ha-policy",
        "# The rules",
        "# Settings",
        "controlPlane:",
    ] {
        assert!(usage.contains(section), "the usage lacks {section}");
    }
    let yml_keys = yml["annotations"].as_object().map(|a| a.len()).unwrap_or(0);
    let added = usize::from(
        yml["annotations"]
            .get("io.kubewarden.policy.version")
            .is_none(),
    ) + 1;
    assert_eq!(annotations.len(), yml_keys + added, "no other annotations");

    // Nothing metadata.yml lacks, beyond protocolVersion.
    let yml_keys: BTreeSet<&String> = yml.as_object().expect("a map").keys().collect();
    for key in json.as_object().expect("a map").keys() {
        assert!(
            key == "protocolVersion" || yml_keys.contains(key),
            "unexpected key {key}"
        );
    }

    // And the library reads back what it wrote.
    let metadata = embedded_metadata(annotated_module(), "annotated").expect("embedded metadata");
    assert_eq!(
        metadata,
        release_metadata(&project).expect("release metadata")
    );
}

#[test]
fn every_other_section_is_unchanged() {
    let original = built_module();
    let is_metadata =
        |s: &Section| s.id == 0 && custom_section_name(s.data) == Some(METADATA_SECTION);
    let before: Vec<Section> = sections(&original, "built")
        .expect("built module parses")
        .into_iter()
        .filter(|s| !is_metadata(s))
        .collect();
    let after = sections(annotated_module(), "annotated").expect("annotated module parses");
    let (last, rest) = after.split_last().expect("sections");
    assert!(is_metadata(last), "the metadata section comes last");
    assert!(
        rest == before.as_slice(),
        "sections other than the metadata changed"
    );
    assert!(!rest.iter().any(is_metadata));
}

#[test]
fn annotating_is_deterministic_and_idempotent() {
    let metadata = release_metadata(&project()).expect("release metadata");
    let again = annotate_bytes(&built_module(), &metadata, "built").expect("annotate");
    assert!(again == annotated_module());
    let twice = annotate_bytes(annotated_module(), &metadata, "annotated").expect("re-annotate");
    assert!(
        twice == annotated_module(),
        "re-annotating must replace, not add"
    );
}

/// Prints the module sizes (`cargo test -p policy-release --test annotate
/// -- --nocapture`) and keeps the module within a download budget.
#[test]
fn module_size() {
    let built = built_module().len();
    let annotated = annotated_module().len();
    println!("policy module: {built} bytes ({})", human(built));
    println!("annotated module: {annotated} bytes ({})", human(annotated));
    // Every policy server replica downloads and compiles it at start-up.
    const BUDGET: usize = 1536 * 1024;
    assert!(built < BUDGET, "the module grew to {}", human(built));
}
