//! What Artifact Hub's own linter, `ah lint --kind kubewarden`, checks in
//! artifacthub-pkg.yml, restated here because `ah` cannot be installed on
//! this project's machines: the Go module proxy answers `403 Forbidden`
//! ("This module version is not available.") for github.com/artifacthub/hub
//! and its cmd/ah, at @latest and at pinned tags, and for sigs.k8s.io/krew
//! v0.4.5, which cmd/ah's lint code imports.
//!
//! The rules are Artifact Hub v1.22.0's: `yaml.UnmarshalStrict` into
//! `hub.PackageMetadata` (internal/hub/pkg.go), so a key it does not know
//! fails the lint; then `pkg.ValidatePackageMetadata` (internal/pkg/metadata.go)
//! with its Kubewarden case; then the package's README.md, read from beside
//! the file when `readme` is not set. `ah lint` v1.22.0, built once from the
//! source for comparison, passed this repository's file (0 errors).

mod common;

use common::project;
use policy_release::artifacthub;
use serde_yaml_ng::{Mapping, Value};
use std::path::Path;

/// hub.PackageMetadata's YAML keys, and those of the types it nests.
const PACKAGE_KEYS: &[&str] = &[
    "version",
    "name",
    "alternativeName",
    "category",
    "displayName",
    "createdAt",
    "description",
    "logoPath",
    "logoURL",
    "digest",
    "license",
    "homeURL",
    "appVersion",
    "publisherID",
    "containersImages",
    "operator",
    "deprecated",
    "keywords",
    "links",
    "readme",
    "install",
    "changes",
    "containsSecurityUpdates",
    "prerelease",
    "maintainers",
    "provider",
    "ignore",
    "recommendations",
    "screenshots",
    "annotations",
];
const NESTED_KEYS: &[(&str, &[&str])] = &[
    (
        "containersImages",
        &["name", "image", "whitelisted", "platforms"],
    ),
    ("links", &["name", "url"]),
    // Maintainer.MaintainerID has no yaml tag: yaml.v2 lower-cases the name.
    ("maintainers", &["name", "email", "maintainerid"]),
    ("recommendations", &["url"]),
    ("screenshots", &["title", "url"]),
    ("changes", &["kind", "description", "links"]),
];
const CATEGORIES: &[&str] = &[
    "ai-machine-learning",
    "database",
    "integration-delivery",
    "monitoring-logging",
    "networking",
    "security",
    "storage",
    "streaming-messaging",
    "skip-prediction",
];
const CHANGE_KINDS: &[&str] = &[
    "added",
    "changed",
    "deprecated",
    "removed",
    "fixed",
    "security",
];
/// The Kubewarden case of ValidateContainersImages.
const POLICY_IMAGE: &str = "policy";
const POLICY_IMAGE_ALTERNATIVE: &str = "policy-alternative-location";

/// A YAML key as the error names it: `"homeUrl"`.
fn shown(key: &Value) -> String {
    key.as_str()
        .map_or_else(|| format!("{key:?}"), |key| format!("{key:?}"))
}

fn text<'a>(map: &'a Mapping, key: &str) -> Option<&'a str> {
    map.get(key).and_then(Value::as_str)
}

fn list<'a>(map: &'a Mapping, key: &str) -> &'a [Value] {
    map.get(key)
        .and_then(Value::as_sequence)
        .map_or(&[], Vec::as_slice)
}

/// A version Masterminds/semver's NewVersion accepts: an optional `v`, one
/// to three numbers, then an optional pre-release and build.
fn is_semver(version: &str) -> bool {
    let version = version.strip_prefix('v').unwrap_or(version);
    let core = version.split(['-', '+']).next().unwrap_or_default();
    let numbers: Vec<&str> = core.split('.').collect();
    numbers.len() <= 3
        && numbers
            .iter()
            .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// An image reference go-containerregistry's name.ParseReference accepts:
/// lower-case repository path components, then a tag or a digest.
fn is_image_reference(reference: &str) -> bool {
    let (name, tag_ok) = match reference.split_once('@') {
        Some((name, digest)) => (
            name,
            digest
                .strip_prefix("sha256:")
                .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())),
        ),
        None => match reference.rsplit_once(':') {
            Some((name, tag)) if !tag.contains('/') => (
                name,
                !tag.is_empty()
                    && tag.len() <= 128
                    && !tag.starts_with(['.', '-'])
                    && tag
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b)),
            ),
            _ => (reference, true),
        },
    };
    let mut components = name.split('/');
    let registry = components.next().unwrap_or_default();
    let registry_ok = !registry.is_empty()
        && registry
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".:-".contains(&b));
    let path: Vec<&str> = components.collect();
    tag_ok
        && registry_ok
        && !path.is_empty()
        && path.iter().all(|component| {
            !component.is_empty()
                && component
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                && component.starts_with(|c: char| c.is_ascii_alphanumeric())
                && component.ends_with(|c: char| c.is_ascii_alphanumeric())
        })
}

/// What `ah lint --kind kubewarden` would report for the package folder
/// `folder` (artifacthub-pkg.yml, and README.md beside it), one line each;
/// empty when it passes.
fn ah_lint_kubewarden(folder: &Path) -> Vec<String> {
    let mut errors = Vec::new();
    let source = match std::fs::read_to_string(folder.join("artifacthub-pkg.yml")) {
        Ok(source) => source,
        Err(error) => return vec![format!("error reading package metadata file: {error}")],
    };
    let package: Mapping = match serde_yaml_ng::from_str(&source) {
        Ok(package) => package,
        Err(error) => return vec![format!("error unmarshaling package metadata file: {error}")],
    };

    // yaml.UnmarshalStrict: every key is a field of the Go types.
    for key in package.keys() {
        match key.as_str() {
            Some(key) if PACKAGE_KEYS.contains(&key) => {}
            _ => errors.push(format!(
                "field {} not found in type hub.PackageMetadata",
                shown(key)
            )),
        }
    }
    for (field, keys) in NESTED_KEYS {
        for entry in list(&package, field) {
            let Some(entry) = entry.as_mapping() else {
                errors.push(format!("{field}: an entry is not a mapping"));
                continue;
            };
            for key in entry.keys() {
                match key.as_str() {
                    Some(key) if keys.contains(&key) => {}
                    _ => errors.push(format!("{field}: field {} not found", shown(key))),
                }
            }
        }
    }
    if let Some(provider) = package.get("provider") {
        let known = provider
            .as_mapping()
            .is_some_and(|provider| provider.keys().all(|key| key.as_str() == Some("name")));
        if !known {
            errors.push("provider: only `name` is known".into());
        }
    }
    if let Some(annotations) = package.get("annotations") {
        let strings = annotations.as_mapping().is_some_and(|annotations| {
            annotations
                .iter()
                .all(|(key, value)| key.is_string() && value.is_string())
        });
        if !strings {
            errors.push("annotations: a map of strings to strings is expected".into());
        }
    }

    // ValidatePackageMetadata.
    match text(&package, "version") {
        None | Some("") => errors.push("version not provided".into()),
        Some(version) if !is_semver(version) => {
            errors.push(format!("invalid version (semver expected): {version}"))
        }
        Some(_) => {}
    }
    for (key, what) in [
        ("name", "name"),
        ("displayName", "display name"),
        ("description", "description"),
    ] {
        if text(&package, key).unwrap_or_default().is_empty() {
            errors.push(format!("{what} not provided"));
        }
    }
    if let (Some(name), Some(alternative)) = (
        text(&package, "name"),
        text(&package, "alternativeName").filter(|a| !a.is_empty()),
    ) {
        if !name.contains(alternative) && !alternative.contains(name) {
            errors
                .push("invalid alternative name (must be a subset or superset of the name)".into());
        }
    }
    if let Some(category) = text(&package, "category").filter(|c| !c.is_empty()) {
        if !CATEGORIES.contains(&category) {
            errors.push(format!("invalid category: {category}"));
        }
    }
    match text(&package, "createdAt") {
        None | Some("") => errors.push("createdAt not provided".into()),
        Some(created_at) => {
            if let Err(error) = artifacthub::validate_created_at(created_at) {
                errors.push(format!("invalid createdAt (RFC3339 expected): {error}"));
            }
        }
    }
    for maintainer in list(&package, "maintainers") {
        if maintainer["email"].as_str().unwrap_or_default().is_empty() {
            errors.push("maintainer email not provided".into());
        }
    }
    for change in list(&package, "changes") {
        let kind = change["kind"].as_str().unwrap_or_default();
        if !kind.is_empty() && !CHANGE_KINDS.contains(&kind.to_lowercase().as_str()) {
            errors.push(format!("invalid change: invalid kind: {kind}"));
        }
        if change["description"]
            .as_str()
            .unwrap_or_default()
            .is_empty()
        {
            errors.push("invalid change: description not provided".into());
        }
    }
    let images = list(&package, "containersImages");
    for image in images {
        let reference = image["image"].as_str().unwrap_or_default();
        if !is_image_reference(reference) {
            errors.push(format!("invalid image reference: {reference:?}"));
        }
    }
    let mut names: Vec<&str> = images
        .iter()
        .map(|image| image["name"].as_str().unwrap_or_default())
        .collect();
    names.sort_unstable();
    match names.as_slice() {
        [POLICY_IMAGE] | [POLICY_IMAGE, POLICY_IMAGE_ALTERNATIVE] => {}
        [] | [_] => errors.push(format!("\"{POLICY_IMAGE}\" image not provided")),
        _ => errors.push(format!(
            "only \"{POLICY_IMAGE}\" and \"{POLICY_IMAGE_ALTERNATIVE}\" images can be provided"
        )),
    }
    errors
}

#[test]
fn artifacthub_pkg_passes_what_ah_lint_checks_for_kubewarden() {
    let project = project();
    let errors = ah_lint_kubewarden(&project.root);
    assert!(
        errors.is_empty(),
        "artifacthub-pkg.yml would fail `ah lint --kind kubewarden`:\n  {}\nfix the generator \
         (release/src/artifacthub.rs) and regenerate it with `cargo run -p policy-release -- \
         artifacthub`",
        errors.join("\n  ")
    );
    // Without `readme`, Artifact Hub shows the README.md beside the file.
    let source = std::fs::read_to_string(project.artifacthub_path()).unwrap();
    if !source.lines().any(|line| line.starts_with("readme:")) {
        assert!(
            project.root.join("README.md").is_file(),
            "the package page's readme: README.md beside artifacthub-pkg.yml"
        );
    }
}

/// `source` with its top-level `key:` line replaced by `line`.
fn with_line(source: &str, key: &str, line: &str) -> String {
    let prefix = format!("{key}:");
    assert!(
        source.lines().any(|l| l.starts_with(&prefix)),
        "artifacthub-pkg.yml has a {key} line"
    );
    source
        .lines()
        .map(|l| if l.starts_with(&prefix) { line } else { l })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_restated_lint_fails_what_ah_lint_fails() {
    let project = project();
    let good = std::fs::read_to_string(project.artifacthub_path()).unwrap();
    let image = format!("image: {}", project.published_reference());
    assert!(good.contains(&image));
    let cases = [
        (
            with_line(&good, "homeURL", "homeUrl: https://example.com"),
            "field \"homeUrl\" not found",
        ),
        (
            good.replacen("- name: policy\n", "- name: wasm\n", 1),
            "\"policy\" image not provided",
        ),
        (
            with_line(&good, "version", "version: 0.1.0.1"),
            "invalid version",
        ),
        (
            with_line(&good, "displayName", "displayName: ''"),
            "display name not provided",
        ),
        (
            with_line(&good, "createdAt", "createdAt: '2026-11-26'"),
            "invalid createdAt",
        ),
        (
            good.replacen(&image, &image.replace("ghcr.io/", "ghcr.io/Upper/"), 1),
            "invalid image reference",
        ),
    ];
    for (source, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("artifacthub-pkg.yml"), source).unwrap();
        let errors = ah_lint_kubewarden(dir.path());
        assert!(
            errors.iter().any(|error| error.contains(expected)),
            "expected {expected:?} in {errors:?}"
        );
        assert_eq!(errors.len(), 1, "one error each: {errors:?}");
    }
}
