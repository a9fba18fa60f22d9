//! Where the policy's files are and what the root Cargo.toml says about it.
//!
//! The root package's name and version are the single source of truth for
//! the artifact's name, its tag and the version annotation, so nothing that
//! is published can disagree with what `cargo` builds.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{ReleaseError, Result};

/// The registry namespace the policy is published under; `policy.yaml` and
/// `artifacthub-pkg.yml` reference the artifact there.
pub const PUBLISHED_REGISTRY: &str = "ghcr.io/linkerd-ha-policy";

/// Environment variable overriding where the built (not yet annotated)
/// module is, shared with the other test suites.
pub const POLICY_WASM_ENV: &str = "POLICY_WASM";

#[derive(Debug, Clone)]
pub struct Project {
    pub root: PathBuf,
    /// The policy crate's package name (`linkerd-ha-policy`).
    pub name: String,
    /// The policy crate's version (`0.1.0`), without a `v`.
    pub version: String,
}

#[derive(Deserialize)]
struct CargoManifest {
    package: CargoPackage,
}

#[derive(Deserialize)]
struct CargoPackage {
    name: String,
    // A plain string: an inherited `version.workspace = true` is rejected
    // by serde with a message naming the field.
    version: String,
}

/// The reference documents the usage carries after the README.
pub const USAGE_DOCUMENTS: [&str; 3] = ["docs/rules.md", "docs/lifecycle.md", "docs/settings.md"];

impl Project {
    /// The workspace this crate was built in: the default for the CLI, so
    /// it works from any directory.
    pub fn default_root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."))
    }

    pub fn load(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        let path = root.join("Cargo.toml");
        let text = read_to_string(&path)?;
        let manifest: CargoManifest =
            toml::from_str(&text).map_err(|source| ReleaseError::CargoToml { path, source })?;
        Ok(Project {
            root,
            name: manifest.package.name,
            version: manifest.package.version,
        })
    }

    pub fn metadata_path(&self) -> PathBuf {
        self.root.join("metadata.yml")
    }

    pub fn readme_path(&self) -> PathBuf {
        self.root.join("README.md")
    }

    /// What `kwctl inspect` and Artifact Hub show as the policy's usage:
    /// the README, then the reference it links to that a user of the
    /// policy needs (the rules, the lifecycle table, the settings), so the
    /// usage stays complete while the README stays one screen.
    pub fn usage(&self) -> Result<String> {
        let mut usage = read_to_string(&self.readme_path())?;
        for document in USAGE_DOCUMENTS {
            usage.push('\n');
            usage.push_str(&read_to_string(&self.root.join(document))?);
        }
        Ok(usage)
    }

    pub fn policy_yaml_path(&self) -> PathBuf {
        self.root.join("policy.yaml")
    }

    /// The settings form of Rancher's Kubewarden UI.
    pub fn questions_path(&self) -> PathBuf {
        self.root.join("questions-ui.yml")
    }

    pub fn artifacthub_path(&self) -> PathBuf {
        self.root.join("artifacthub-pkg.yml")
    }

    fn target_dir(&self) -> PathBuf {
        std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| self.root.join("target"))
    }

    /// The module `cargo build --release --target wasm32-wasip1` writes, or
    /// `$POLICY_WASM` when set.
    pub fn module_path(&self) -> PathBuf {
        match std::env::var_os(POLICY_WASM_ENV) {
            Some(path) => PathBuf::from(path),
            None => self
                .target_dir()
                .join("wasm32-wasip1/release")
                .join(format!("{}.wasm", self.name.replace('-', "_"))),
        }
    }

    /// Where `annotate` writes the module that gets published.
    pub fn annotated_module_path(&self) -> PathBuf {
        self.target_dir()
            .join("policy")
            .join(format!("{}.wasm", self.name))
    }

    /// Where `push` and `sign` write the SBOM and its signature.
    pub fn sbom_dir(&self) -> PathBuf {
        self.target_dir().join("sbom")
    }

    /// Repository path of the artifact inside a registry namespace.
    pub fn repository(&self) -> String {
        format!("policies/{}", self.name)
    }

    /// The tag a release is pushed under: `v` and the crate version, as
    /// Kubewarden's own policies are tagged.
    pub fn tag(&self) -> String {
        format!("v{}", self.version)
    }

    /// The published artifact, as `policy.yaml` and Artifact Hub name it.
    pub fn published_reference(&self) -> String {
        format!("{PUBLISHED_REGISTRY}/{}:{}", self.repository(), self.tag())
    }
}

pub(crate) fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| ReleaseError::Read {
        path: path.to_path_buf(),
        source,
    })
}

pub(crate) fn read_to_string(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| ReleaseError::Read {
        path: path.to_path_buf(),
        source,
    })
}

pub fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let wrap = |source| ReleaseError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(wrap)?;
    }
    std::fs::write(path, bytes).map_err(wrap)
}

/// Writes `path` through a temporary file in its folder, renamed into
/// place: a reader (or a failure half-way) never sees a partial file.
pub fn write_file_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let wrap = |source| ReleaseError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = path
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(wrap)?;
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(wrap)?;
    file.write_all(bytes).map_err(wrap)?;
    file.persist(path).map_err(|e| wrap(e.error))?;
    Ok(())
}

/// Reads the built module, or says how to build it.
pub fn read_module(path: &Path) -> Result<Vec<u8>> {
    if !path.exists() {
        return Err(ReleaseError::ModuleMissing {
            path: path.to_path_buf(),
        });
    }
    read(path)
}
