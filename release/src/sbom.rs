//! The SBOM of the shipped module: SPDX 2.3 JSON listing exactly the
//! crates compiled into it, i.e. the policy crate and its normal
//! dependencies for wasm32-wasip1 with its default features. The workspace's
//! tools, dev-dependencies and build scripts' dependencies are not in the
//! module, so they are not in its SBOM.
//!
//! The graph is cargo's own (`cargo tree -p` for the module's target, which
//! resolves features as the module's build does); licenses and sources come
//! from `cargo metadata`, checksums from Cargo.lock; the document is
//! serde-spdx's SPDX 2.3 types, generated from SPDX's JSON schema.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use cargo_metadata::{Metadata, MetadataCommand, Package};
use serde::Deserialize;
use serde_spdx::spdx::v_2_3 as spdx;
use sha2::{Digest, Sha256};

use crate::error::{ReleaseError, Result};
use crate::project::{read_to_string, Project};

/// The module's target: what decides which target-specific dependencies
/// are in it.
pub const MODULE_TARGET: &str = "wasm32-wasip1";
const CRATES_IO: &str = "registry+https://github.com/rust-lang/crates.io-index";
const NOASSERTION: &str = "NOASSERTION";
/// The SPDXID of the described package, the module itself.
pub const MODULE_SPDX_ID: &str = "SPDXRef-Package-module";

/// One crate compiled into the module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crate {
    pub name: String,
    pub version: String,
    /// A valid SPDX expression, or None when the crate declares none.
    pub license: Option<String>,
    /// `registry+…`, `git+…`, or None for a path (workspace) crate.
    pub source: Option<String>,
    /// Cargo.lock's sha256 of the `.crate` file (registry crates only).
    pub checksum: Option<String>,
    /// Names@versions of its normal dependencies, in the module.
    pub depends_on: Vec<String>,
}

impl Crate {
    pub fn key(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }

    pub fn spdx_id(&self) -> String {
        spdx_id(&format!("Package-{}-{}", self.name, self.version))
    }

    /// Where the crate's source can be downloaded.
    pub fn download_location(&self) -> String {
        match self.source.as_deref() {
            Some(CRATES_IO) => format!(
                "https://crates.io/api/v1/crates/{}/{}/download",
                self.name, self.version
            ),
            // SPDX's VCS form is `git+URL@REV`; cargo writes `git+URL#REV`.
            Some(git) if git.starts_with("git+") => git.replacen('#', "@", 1),
            _ => NOASSERTION.to_string(),
        }
    }
}

/// SPDX identifiers allow letters, digits, `.` and `-` only.
fn spdx_id(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("SPDXRef-{cleaned}")
}

/// Cargo's legacy `A/B` license form means "A or B" (the Cargo book); SPDX
/// validators only read the expression form.
pub fn normalise_license(license: &str) -> String {
    if !license.contains('/') {
        return license.trim().to_string();
    }
    license
        .split('/')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" OR ")
}

#[derive(Deserialize)]
struct CargoLock {
    #[serde(default)]
    package: Vec<LockedPackage>,
}

#[derive(Deserialize)]
struct LockedPackage {
    name: String,
    version: String,
    checksum: Option<String>,
}

/// name@version -> checksum, from the workspace's Cargo.lock.
fn lock_checksums(root: &Path) -> Result<BTreeMap<String, String>> {
    let path = root.join("Cargo.lock");
    let text = read_to_string(&path)?;
    let lock: CargoLock =
        toml::from_str(&text).map_err(|source| ReleaseError::CargoToml { path, source })?;
    Ok(lock
        .package
        .into_iter()
        .filter_map(|p| Some((format!("{}@{}", p.name, p.version), p.checksum?)))
        .collect())
}

fn metadata(root: &Path) -> Result<Metadata> {
    MetadataCommand::new()
        .manifest_path(root.join("Cargo.toml"))
        .other_options(vec![
            "--filter-platform".to_string(),
            MODULE_TARGET.to_string(),
        ])
        .exec()
        .map_err(|e| {
            ReleaseError::Sbom(format!(
                "`cargo metadata` in {} failed: {e}",
                root.display()
            ))
        })
}

/// One line of `cargo tree --prefix depth -f {p}`: depth, name, version.
fn tree_line(line: &str) -> Option<(usize, String, String)> {
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    let depth = line.get(..digits)?.parse().ok()?;
    let mut words = line.get(digits..)?.split_whitespace();
    let name = words.next()?.to_string();
    let version = words.next()?.strip_prefix('v')?.to_string();
    Some((depth, name, version))
}

/// The policy crate's normal dependency graph for the module's target, as
/// `cargo build -p <policy> --target wasm32-wasip1` resolves it: edges
/// (parent, child) as `name@version`, root first.
///
/// `cargo tree -p` and not `cargo metadata`'s graph: metadata unifies
/// features across the whole workspace, so another member's features would
/// add crates the module never compiles (anyhow, log, libm, …).
fn module_graph(project: &Project) -> Result<(String, Vec<(String, String)>)> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = std::process::Command::new(cargo)
        .current_dir(&project.root)
        .args(["tree", "-p", &project.name, "-e", "normal"])
        .args(["--target", MODULE_TARGET, "--prefix", "depth", "-f", "{p}"])
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| ReleaseError::Sbom(format!("cannot run `cargo tree`: {e}")))?;
    if !output.status.success() {
        return Err(ReleaseError::Sbom(format!(
            "`cargo tree -p {}` in {} failed: {}",
            project.name,
            project.root.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let mut root = None;
    let mut path: Vec<String> = Vec::new();
    let mut edges = Vec::new();
    for (depth, name, version) in text.lines().filter_map(tree_line) {
        let key = format!("{name}@{version}");
        path.truncate(depth);
        match path.last() {
            Some(parent) => edges.push((parent.clone(), key.clone())),
            None => root = Some(key.clone()),
        }
        path.push(key);
    }
    let root = root.ok_or_else(|| {
        ReleaseError::Sbom(format!("`cargo tree -p {}` printed no crate", project.name))
    })?;
    Ok((root, edges))
}

/// The crates compiled into the module: the policy crate and everything it
/// reaches through normal dependency edges, sorted by name and version.
/// The graph is `cargo tree`'s; licenses and sources are `cargo
/// metadata`'s; checksums are Cargo.lock's.
pub fn module_crates(project: &Project) -> Result<Vec<Crate>> {
    let (root, edges) = module_graph(project)?;
    let metadata = metadata(&project.root)?;
    let checksums = lock_checksums(&project.root)?;
    let packages: BTreeMap<String, &Package> = metadata
        .packages
        .iter()
        .map(|p| (format!("{}@{}", p.name, p.version), p))
        .collect();
    let mut depends: BTreeMap<String, BTreeSet<String>> = BTreeMap::from([(root, BTreeSet::new())]);
    for (parent, child) in edges {
        depends.entry(child.clone()).or_default();
        depends.entry(parent).or_default().insert(child);
    }
    depends
        .into_iter()
        .map(|(key, deps)| {
            let package = packages.get(&key).ok_or_else(|| {
                ReleaseError::Sbom(format!("`cargo metadata` does not know {key}"))
            })?;
            Ok(Crate {
                name: package.name.to_string(),
                version: package.version.to_string(),
                license: package.license.as_deref().map(normalise_license),
                source: package.source.as_ref().map(|s| s.repr.clone()),
                checksum: checksums.get(&key).cloned(),
                depends_on: deps.into_iter().collect(),
            })
        })
        .collect::<Result<Vec<_>>>()
        .map(|mut crates| {
            crates.sort_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
            crates
        })
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `linkerd-ha-policy-0.1.0.spdx.json`
pub fn file_name(project: &Project) -> String {
    format!("{}-{}.spdx.json", project.name, project.version)
}

/// The SBOM of `module` (the annotated module as shipped).
pub fn generate(project: &Project, module: &[u8]) -> Result<spdx::Spdx> {
    let crates = module_crates(project)?;
    let created = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    document(project, module, &crates, &created)
}

fn build_error(what: &str, error: impl std::fmt::Display) -> ReleaseError {
    ReleaseError::Sbom(format!("cannot build the {what}: {error}"))
}

/// The document: the module is the described package, generated from the
/// policy crate, which depends on the rest.
pub fn document(
    project: &Project,
    module: &[u8],
    crates: &[Crate],
    created: &str,
) -> Result<spdx::Spdx> {
    let module_sha256 = hex_sha256(module);
    let module_package = spdx::SpdxItemPackagesBuilder::default()
        .spdxid(MODULE_SPDX_ID)
        .name(project.name.clone())
        .version_info(project.version.clone())
        .package_file_name(format!("{}.wasm", project.name))
        .primary_package_purpose("APPLICATION")
        .download_location(NOASSERTION)
        .files_analyzed(false)
        .checksums(vec![spdx::SpdxItemPackagesItemChecksumsBuilder::default()
            .algorithm("SHA256")
            .checksum_value(module_sha256.clone())
            .build()
            .map_err(|e| build_error("module checksum", e))?])
        .license_concluded(NOASSERTION)
        .license_declared(NOASSERTION)
        .copyright_text(NOASSERTION)
        .comment(format!(
            "The WebAssembly module ({MODULE_TARGET}) as published, annotated with its policy metadata"
        ))
        .build()
        .map_err(|e| build_error("module package", e))?;

    let mut packages = vec![module_package];
    let mut relationships = vec![relationship(
        "SPDXRef-DOCUMENT",
        "DESCRIBES",
        MODULE_SPDX_ID,
    )?];
    let ids: BTreeMap<String, String> = crates.iter().map(|c| (c.key(), c.spdx_id())).collect();
    for krate in crates {
        let mut builder = spdx::SpdxItemPackagesBuilder::default();
        builder
            .spdxid(krate.spdx_id())
            .name(krate.name.clone())
            .version_info(krate.version.clone())
            .download_location(krate.download_location())
            .files_analyzed(false)
            .license_concluded(NOASSERTION)
            .license_declared(krate.license.clone().unwrap_or_else(|| NOASSERTION.into()))
            .copyright_text(NOASSERTION)
            .primary_package_purpose("LIBRARY")
            .external_refs(vec![
                spdx::SpdxItemPackagesItemExternalRefsBuilder::default()
                    .reference_category("PACKAGE-MANAGER")
                    .reference_type("purl")
                    .reference_locator(format!("pkg:cargo/{}@{}", krate.name, krate.version))
                    .build()
                    .map_err(|e| build_error("package URL", e))?,
            ]);
        if let Some(checksum) = &krate.checksum {
            builder.checksums(vec![spdx::SpdxItemPackagesItemChecksumsBuilder::default()
                .algorithm("SHA256")
                .checksum_value(checksum.clone())
                .build()
                .map_err(|e| build_error("crate checksum", e))?]);
        }
        packages.push(
            builder
                .build()
                .map_err(|e| build_error("crate package", e))?,
        );
        if krate.name == project.name && krate.source.is_none() {
            relationships.push(relationship(
                MODULE_SPDX_ID,
                "GENERATED_FROM",
                &krate.spdx_id(),
            )?);
        }
        for dep in &krate.depends_on {
            if let Some(dep_id) = ids.get(dep) {
                relationships.push(relationship(&krate.spdx_id(), "DEPENDS_ON", dep_id)?);
            }
        }
    }

    spdx::SpdxBuilder::default()
        .spdxid("SPDXRef-DOCUMENT")
        .spdx_version("SPDX-2.3")
        .data_license("CC0-1.0")
        .name(format!("{}-{}", project.name, project.version))
        // Unique per module: the same bytes always get the same namespace.
        .document_namespace(format!(
            "https://spdx.org/spdxdocs/{}-{}-{module_sha256}",
            project.name, project.version
        ))
        .creation_info(
            spdx::SpdxCreationInfoBuilder::default()
                .created(created)
                .creators(vec![format!(
                    "Tool: policy-release-{}",
                    env!("CARGO_PKG_VERSION")
                )])
                .build()
                .map_err(|e| build_error("creation info", e))?,
        )
        .document_describes(vec![MODULE_SPDX_ID.to_string()])
        .packages(packages)
        .relationships(relationships)
        .build()
        .map_err(|e| build_error("document", e))
}

fn relationship(from: &str, kind: &str, to: &str) -> Result<spdx::SpdxItemRelationships> {
    spdx::SpdxItemRelationshipsBuilder::default()
        .spdx_element_id(from)
        .relationship_type(kind)
        .related_spdx_element(to)
        .build()
        .map_err(|e| build_error("relationship", e))
}

pub fn to_json(document: &spdx::Spdx) -> Result<Vec<u8>> {
    let mut bytes = serde_json::to_vec_pretty(document).map_err(|source| ReleaseError::Json {
        what: "SBOM",
        source,
    })?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// The sha256 (hex) of the package an SBOM describes.
pub fn described_sha256(sbom: &[u8]) -> Result<String> {
    let document: spdx::Spdx = serde_json::from_slice(sbom)
        .map_err(|e| ReleaseError::Sbom(format!("not an SPDX JSON document: {e}")))?;
    let described = document
        .document_describes
        .as_ref()
        .and_then(|ids| ids.first())
        .ok_or_else(|| ReleaseError::Sbom("it describes no package".into()))?;
    document
        .packages
        .iter()
        .flatten()
        .find(|p| &p.spdxid == described)
        .and_then(|p| p.checksums.as_ref())
        .and_then(|sums| sums.iter().find(|c| c.algorithm == "SHA256"))
        .map(|c| c.checksum_value.clone())
        .ok_or_else(|| ReleaseError::Sbom(format!("{described} has no SHA256 checksum")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("MIT/Apache-2.0", "MIT OR Apache-2.0")]
    #[case("Apache-2.0 / MIT", "Apache-2.0 OR MIT")]
    #[case("MIT OR Apache-2.0", "MIT OR Apache-2.0")]
    #[case(
        "(MIT OR Apache-2.0) AND Unicode-3.0",
        "(MIT OR Apache-2.0) AND Unicode-3.0"
    )]
    #[case("Zlib", "Zlib")]
    fn licenses_become_spdx_expressions(#[case] cargo: &str, #[case] expected: &str) {
        assert_eq!(normalise_license(cargo), expected);
    }

    #[rstest]
    #[case("toml", "0.9.12+spec-1.1.0", "SPDXRef-Package-toml-0.9.12-spec-1.1.0")]
    #[case("serde_json", "1.0.0", "SPDXRef-Package-serde-json-1.0.0")]
    fn spdx_ids_use_allowed_characters(
        #[case] name: &str,
        #[case] version: &str,
        #[case] expected: &str,
    ) {
        let krate = Crate {
            name: name.into(),
            version: version.into(),
            license: None,
            source: None,
            checksum: None,
            depends_on: vec![],
        };
        assert_eq!(krate.spdx_id(), expected);
    }

    #[rstest]
    #[case("0linkerd-ha-policy v0.1.0 (/w)", Some((0, "linkerd-ha-policy", "0.1.0")))]
    #[case("12serde_derive v1.0.229 (proc-macro) (*)", Some((12, "serde_derive", "1.0.229")))]
    #[case("3toml v0.9.12+spec-1.1.0", Some((3, "toml", "0.9.12+spec-1.1.0")))]
    #[case("", None)]
    fn cargo_tree_lines(#[case] line: &str, #[case] expected: Option<(usize, &str, &str)>) {
        assert_eq!(
            tree_line(line),
            expected.map(|(d, n, v)| (d, n.to_string(), v.to_string()))
        );
    }

    #[rstest]
    #[case(Some(CRATES_IO), "https://crates.io/api/v1/crates/c/1.0.0/download")]
    #[case(Some("git+https://example.com/r#abc"), "git+https://example.com/r@abc")]
    #[case(None, "NOASSERTION")]
    fn download_locations(#[case] source: Option<&str>, #[case] expected: &str) {
        let krate = Crate {
            name: "c".into(),
            version: "1.0.0".into(),
            license: None,
            source: source.map(String::from),
            checksum: None,
            depends_on: vec![],
        };
        assert_eq!(krate.download_location(), expected);
    }
}
