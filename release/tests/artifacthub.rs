//! artifacthub-pkg.yml is exactly what `policy-release artifacthub`
//! generates from metadata.yml and Cargo.toml, and says what they say.

mod common;

use common::project;
use policy_release::artifacthub::{self, Package};
use policy_release::metadata::{ContextAwareResource, Metadata, Rule};
use policy_release::project::USAGE_DOCUMENTS;
use std::collections::BTreeSet;

#[test]
fn committed_file_matches_what_is_generated() {
    if let Err(error) = artifacthub::check(&project()) {
        panic!("{error}");
    }
}

#[test]
fn package_names_the_published_artifact_and_the_metadata() {
    let project = project();
    let text = std::fs::read_to_string(project.artifacthub_path()).expect("artifacthub-pkg.yml");
    let package: Package = serde_yaml_ng::from_str(&text).expect("artifacthub-pkg.yml parses");
    let metadata = Metadata::load(&project.metadata_path()).expect("metadata.yml");

    assert_eq!(package.version, project.version);
    assert_eq!(package.name, project.name);
    artifacthub::validate_created_at(&package.created_at).expect("createdAt is RFC 3339");
    assert_eq!(package.containers_images.len(), 1);
    assert_eq!(package.containers_images[0].name, "policy");
    assert_eq!(
        package.containers_images[0].image,
        project.published_reference()
    );
    assert!(package.install.contains("kubectl apply -f policy.yaml"));
    assert!(package.install.contains(&project.published_reference()));
    assert_eq!(package.provider.name, "kubewarden");
    assert!(
        !package.maintainers.is_empty(),
        "maintainers from the author"
    );
    let questions =
        std::fs::read_to_string(project.root.join("questions-ui.yml")).expect("questions-ui.yml");
    assert_eq!(package.annotations["kubewarden/questions-ui"], questions);

    let annotations = &package.annotations;
    assert_eq!(
        annotations["kubewarden/mutation"],
        metadata.mutating.to_string()
    );
    let rules: Vec<Rule> =
        serde_yaml_ng::from_str(&annotations["kubewarden/rules"]).expect("rules YAML");
    assert_eq!(rules, metadata.rules);
    let resources: BTreeSet<ContextAwareResource> =
        serde_yaml_ng::from_str(&annotations["kubewarden/contextAwareResources"])
            .expect("resources YAML");
    assert_eq!(resources, metadata.context_aware_resources);
    assert_eq!(
        Some(annotations["kubewarden/resources"].as_str()),
        metadata.annotation("io.artifacthub.resources")
    );
}

#[test]
fn drift_is_reported_with_the_first_differing_line() {
    let project = project();
    let dir = tempfile::tempdir().expect("temp dir");
    // A copy of the project whose committed file is stale.
    for file in [
        "Cargo.toml",
        "metadata.yml",
        "README.md",
        "questions-ui.yml",
        "artifacthub-pkg.yml",
    ]
    .into_iter()
    .chain(USAGE_DOCUMENTS)
    {
        let to = dir.path().join(file);
        if let Some(folder) = to.parent() {
            std::fs::create_dir_all(folder).expect("folder");
        }
        std::fs::copy(project.root.join(file), to).expect("copy");
    }
    let stale_path = dir.path().join("artifacthub-pkg.yml");
    let stale = std::fs::read_to_string(&stale_path).expect("read").replace(
        "kubewarden/mutation: 'true'",
        "kubewarden/mutation: 'false'",
    );
    std::fs::write(&stale_path, stale).expect("write");
    let copy = policy_release::Project::load(dir.path()).expect("copied project");
    let error = artifacthub::check(&copy)
        .expect_err("drift must fail")
        .to_string();
    assert!(error.contains("kubewarden/mutation: 'false'"), "{error}");
    assert!(error.contains("policy-release -- artifacthub"), "{error}");

    // A version bump without a release time asks for one.
    let cargo = std::fs::read_to_string(dir.path().join("Cargo.toml"))
        .expect("read")
        .replacen(
            &format!("version = \"{}\"", project.version),
            "version = \"9.9.9\"",
            1,
        );
    std::fs::write(dir.path().join("Cargo.toml"), cargo).expect("write");
    let bumped = policy_release::Project::load(dir.path()).expect("bumped project");
    let error = artifacthub::check(&bumped)
        .expect_err("a new version needs createdAt")
        .to_string();
    assert!(error.contains("--created-at"), "{error}");
}
