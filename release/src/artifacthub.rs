//! `artifacthub-pkg.yml`, Artifact Hub's Kubewarden package file, generated
//! from metadata.yml and Cargo.toml (as `kwctl scaffold artifacthub` does)
//! so that its version, rules and context-aware resources cannot drift.
//!
//! The one input that is not derived is `createdAt`, the release time: it
//! is kept from the committed file while the version is unchanged, and must
//! be given (`--created-at`) for a new version. Using the clock would make
//! every regeneration a change.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::annotate::release_metadata;
use crate::error::{ReleaseError, Result};
use crate::metadata::{self, ContextAwareResource, Metadata, Rule};
use crate::project::{read_to_string, write_file, Project};

const HEADER: &str = "\
# Artifact Hub package of this Kubewarden policy: https://artifacthub.io/docs/topics/repositories/kubewarden-policies/
# Generated from metadata.yml and Cargo.toml by `cargo run -p policy-release -- artifacthub`;
# edit those and regenerate (a test fails when this file is out of date).
";

/// As `kwctl scaffold artifacthub` writes it for every Kubewarden policy.
const PROVIDER: &str = "kubewarden";
const CONTROLLER_CHART: &str =
    "https://artifacthub.io/packages/helm/kubewarden/kubewarden-controller";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Package {
    pub version: String,
    pub name: String,
    pub display_name: String,
    pub created_at: String,
    pub description: String,
    pub license: String,
    #[serde(rename = "homeURL")]
    pub home_url: String,
    pub containers_images: Vec<ContainerImage>,
    pub keywords: Vec<String>,
    pub links: Vec<Link>,
    pub install: String,
    pub maintainers: Vec<metadata::Maintainer>,
    pub provider: Provider,
    pub recommendations: Vec<Recommendation>,
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerImage {
    pub name: String,
    pub image: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Link {
    pub name: String,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provider {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    pub url: String,
}

/// The fields of a committed file that generation reuses.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Committed {
    version: String,
    created_at: String,
}

/// The example policy in `install`, fields in the order people write them.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExamplePolicy<'a> {
    api_version: &'static str,
    kind: &'static str,
    metadata: ExampleMeta<'a>,
    spec: ExampleSpec<'a>,
}

#[derive(Serialize)]
struct ExampleMeta<'a> {
    name: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExampleSpec<'a> {
    module: &'a str,
    mode: &'static str,
    mutating: bool,
    background_audit: bool,
    rules: &'a [Rule],
    context_aware_resources: &'a BTreeSet<ContextAwareResource>,
    settings: BTreeMap<String, String>,
}

fn yaml<T: Serialize>(value: &T, what: &'static str) -> Result<String> {
    serde_yaml_ng::to_string(value).map_err(|source| ReleaseError::Yaml { what, source })
}

fn required<'a>(metadata: &'a Metadata, key: &str) -> Result<&'a str> {
    metadata
        .annotation(key)
        .ok_or_else(|| ReleaseError::InvalidMetadata(format!("annotation {key} is missing")))
}

/// Checks that `created_at` is an RFC 3339 time, as Artifact Hub requires.
pub fn validate_created_at(created_at: &str) -> Result<()> {
    chrono::DateTime::parse_from_rfc3339(created_at)
        .map(|_| ())
        .map_err(|error| ReleaseError::CreatedAt {
            value: created_at.to_string(),
            reason: error.to_string(),
        })
}

/// The install text `kwctl scaffold artifacthub` writes for `reference`
/// (kwctl 1.35), which the package's own text follows.
fn kwctl_install_text(reference: &str) -> String {
    format!(
        "The policy can be obtained using [`kwctl`](https://github.com/kubewarden/kwctl):\n\
         ```console\n\
         kwctl pull {reference}\n\
         ```\n\
         Then, generate the policy manifest and tune it to your liking. For example:\n\
         ```console\n\
         kwctl scaffold manifest -t ClusterAdmissionPolicy registry://{reference}\n\
         ```\n"
    )
}

/// The artifact `io.kubewarden.policy.ociUrl` names at this version, which
/// must be the one policy.yaml installs.
fn oci_reference(project: &Project, metadata: &Metadata) -> Result<String> {
    let oci_url = required(metadata, metadata::ANNOTATION_OCI_URL)?;
    let reference = format!("{oci_url}:{}", project.tag());
    if reference != project.published_reference() {
        return Err(ReleaseError::InvalidMetadata(format!(
            "annotation {}: {oci_url} is not where releases are pushed ({})",
            metadata::ANNOTATION_OCI_URL,
            project.published_reference()
        )));
    }
    Ok(reference)
}

fn install_text(project: &Project, metadata: &Metadata, source: &str) -> Result<String> {
    let reference = oci_reference(project, metadata)?;
    let example = yaml(
        &ExamplePolicy {
            api_version: "policies.kubewarden.io/v1",
            kind: "ClusterAdmissionPolicy",
            metadata: ExampleMeta {
                name: &project.name,
            },
            spec: ExampleSpec {
                module: &reference,
                mode: "protect",
                mutating: metadata.mutating,
                background_audit: metadata.background_audit,
                rules: &metadata.rules,
                context_aware_resources: &metadata.context_aware_resources,
                settings: BTreeMap::new(),
            },
        },
        "example policy",
    )?;
    Ok(format!(
        "{}\n\
         The repository's [`policy.yaml`]({source}/blob/main/policy.yaml) installs the policy the \
         recommended way: a highly available `PolicyServer` (3 replicas, a disruption budget, \
         anti-affinity) running a mutating, a validating and a Node-change `ClusterAdmissionPolicy`:\n\
         \n\
         ```console\n\
         kubectl apply -f policy.yaml\n\
         ```\n\
         \n\
         A single instance with the default settings:\n\
         \n\
         ```yaml\n\
         {example}\
         ```\n\
         \n\
         ## What it says\n\
         \n\
         {answers}",
        kwctl_install_text(&reference),
        answers = readme_answers(project)?,
    ))
}

/// The README's block of the module's real answers (a rejection, a
/// mutation, a node warning), which `tests/answers_shown.rs` keeps equal to
/// what the built module says.
fn readme_answers(project: &Project) -> Result<String> {
    const BEGIN: &str = "<!-- answers: begin (tests/answers_shown.rs) -->";
    const END: &str = "<!-- answers: end -->";
    let readme = read_to_string(&project.readme_path())?;
    let block = readme
        .find(BEGIN)
        .and_then(|start| {
            let inside = &readme[start + BEGIN.len()..];
            Some(&inside[..inside.find(END)?])
        })
        .ok_or_else(|| ReleaseError::ArtifactHub {
            path: project.readme_path(),
            reason: format!("no {BEGIN} … {END} block"),
        })?;
    Ok(block.trim_start_matches('\n').to_string())
}

/// The package for the project's current metadata and version.
pub fn package(project: &Project, created_at: &str) -> Result<Package> {
    validate_created_at(created_at)?;
    // The release metadata, so a version disagreement fails here too.
    let metadata = release_metadata(project)?;
    let source = required(&metadata, metadata::ANNOTATION_SOURCE)?;
    let mut annotations = BTreeMap::new();
    annotations.insert(
        "kubewarden/mutation".to_string(),
        metadata.mutating.to_string(),
    );
    annotations.insert(
        "kubewarden/resources".to_string(),
        required(&metadata, metadata::ANNOTATION_RESOURCES)?.to_string(),
    );
    annotations.insert(
        "kubewarden/rules".to_string(),
        yaml(&metadata.rules, "rules")?,
    );
    annotations.insert(
        "kubewarden/contextAwareResources".to_string(),
        yaml(&metadata.context_aware_resources, "context-aware resources")?,
    );
    // Rancher's Kubewarden UI builds the settings form from this.
    annotations.insert(
        "kubewarden/questions-ui".to_string(),
        read_to_string(&project.questions_path())?,
    );
    let reference = oci_reference(project, &metadata)?;
    let mut links = Vec::new();
    // As kwctl does for a GitHub source: the release's module, then the source.
    if source.starts_with("https://github.com/") {
        links.push(Link {
            name: "policy".to_string(),
            url: format!("{source}/releases/download/{}/policy.wasm", project.tag()),
        });
    }
    links.push(Link {
        name: "source".to_string(),
        url: source.to_string(),
    });
    Ok(Package {
        version: project.version.clone(),
        name: project.name.clone(),
        display_name: required(&metadata, metadata::ANNOTATION_DISPLAY_NAME)?.to_string(),
        created_at: created_at.to_string(),
        description: required(&metadata, metadata::ANNOTATION_DESCRIPTION)?.to_string(),
        license: required(&metadata, metadata::ANNOTATION_LICENSE)?.to_string(),
        home_url: required(&metadata, metadata::ANNOTATION_URL)?.to_string(),
        containers_images: vec![ContainerImage {
            name: "policy".to_string(),
            image: reference,
        }],
        keywords: required(&metadata, metadata::ANNOTATION_KEYWORDS)?
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(String::from)
            .collect(),
        links,
        install: install_text(project, &metadata, source)?,
        maintainers: metadata::maintainers(required(&metadata, metadata::ANNOTATION_AUTHOR)?)?,
        provider: Provider {
            name: PROVIDER.to_string(),
        },
        recommendations: vec![Recommendation {
            url: CONTROLLER_CHART.to_string(),
        }],
        annotations,
    })
}

/// The file's text.
pub fn render(package: &Package) -> Result<String> {
    Ok(format!("{HEADER}{}", yaml(package, "artifacthub-pkg.yml")?))
}

/// `createdAt` for generation: the given one, else the committed file's
/// while its version is the current one.
pub fn resolve_created_at(project: &Project, given: Option<&str>) -> Result<String> {
    if let Some(created_at) = given {
        return Ok(created_at.to_string());
    }
    let path = project.artifacthub_path();
    let needs_flag = |reason: String| ReleaseError::ArtifactHub {
        path: path.clone(),
        reason: format!("{reason}: pass --created-at <RFC 3339 release time>"),
    };
    if !path.exists() {
        return Err(needs_flag(
            "no committed file to take createdAt from".into(),
        ));
    }
    let committed: Committed = serde_yaml_ng::from_str(&read_to_string(&path)?)
        .map_err(|e| needs_flag(format!("cannot read version/createdAt ({e})")))?;
    if committed.version != project.version {
        return Err(needs_flag(format!(
            "version changed from {} to {}, so this is a new release",
            committed.version, project.version
        )));
    }
    Ok(committed.created_at)
}

/// Regenerates the file; returns its text.
pub fn generate(project: &Project, created_at: Option<&str>, output: &Path) -> Result<String> {
    let created_at = resolve_created_at(project, created_at)?;
    let text = render(&package(project, &created_at)?)?;
    write_file(output, text.as_bytes())?;
    Ok(text)
}

/// Fails with the first differing line when the committed file is not what
/// generation would write.
pub fn check(project: &Project) -> Result<()> {
    let path = project.artifacthub_path();
    let created_at = resolve_created_at(project, None)?;
    let generated = render(&package(project, &created_at)?)?;
    let committed = read_to_string(&path)?;
    if committed == generated {
        return Ok(());
    }
    let mut committed_lines = committed.lines();
    let mut generated_lines = generated.lines();
    let mut line = 1;
    loop {
        match (committed_lines.next(), generated_lines.next()) {
            (Some(a), Some(b)) if a == b => line += 1,
            (a, b) => {
                return Err(ReleaseError::ArtifactHubDrift {
                    path,
                    line,
                    committed: a.unwrap_or("<end of file>").to_string(),
                    generated: b.unwrap_or("<end of file>").to_string(),
                })
            }
        }
    }
}
