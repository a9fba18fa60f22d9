//! Shared by the signing tests: key pairs made by `policy-release keygen`
//! in a temporary folder (no key is ever committed), a loopback registry
//! holding pushed and signed artifacts, and the offline Sigstore trust
//! config kwctl and policy-server need.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use policy_release::engine::{write_sigstore_trust_config, Registry};

use super::{annotated_module, project, registry_binary, release_binary, run_bounded};

pub const PASSWORD: &str = "correct horse battery staple";
const LIMIT: Duration = Duration::from_secs(300);

/// A key pair written by `policy-release keygen` into its own folder.
pub struct KeyPair {
    pub dir: tempfile::TempDir,
}

impl KeyPair {
    pub fn generate() -> KeyPair {
        let dir = tempfile::tempdir().expect("temp dir");
        let (ok, stdout, stderr) = run_bounded(
            release_binary()
                .arg("keygen")
                .current_dir(dir.path())
                .env("COSIGN_PASSWORD", PASSWORD),
            LIMIT,
        );
        assert!(ok, "keygen failed:\n{stdout}\n{stderr}");
        KeyPair { dir }
    }

    pub fn private(&self) -> PathBuf {
        self.dir.path().join("cosign.key")
    }

    pub fn public(&self) -> PathBuf {
        self.dir.path().join("cosign.pub")
    }
}

/// The ClientTrustConfig file, written once per test binary.
pub fn trust_config() -> &'static Path {
    static WRITTEN: OnceLock<PathBuf> = OnceLock::new();
    WRITTEN.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sigstore");
        std::fs::create_dir_all(&dir).expect("trust config folder");
        let path = dir.join("trust-config.json");
        write_sigstore_trust_config(&project(), &path).unwrap_or_else(|e| panic!("{e}"));
        path
    })
}

/// A registry on loopback and a folder of scratch files, for one test.
pub struct World {
    pub registry: Registry,
    pub dir: tempfile::TempDir,
}

impl World {
    pub fn new() -> World {
        registry_binary();
        World {
            registry: Registry::start().unwrap_or_else(|e| panic!("{e}")),
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// `HOST:PORT/policies/linkerd-ha-policy:TAG`
    pub fn reference(&self, tag: &str) -> String {
        format!("{}/{}:{tag}", self.registry.address, project().repository())
    }

    /// Pushes `module` under `tag` with `policy-release push`; returns the
    /// manifest digest it printed.
    pub fn push(&self, module: &[u8], tag: &str) -> String {
        let path = self.dir.path().join(format!("{tag}.wasm"));
        std::fs::write(&path, module).expect("write the module");
        let (ok, stdout, stderr) = run_bounded(
            release_binary()
                .arg("push")
                .args(["--registry", &self.registry.address, "--insecure"])
                .args(["--tag", tag])
                .arg("--module")
                .arg(&path),
            LIMIT,
        );
        assert!(ok, "push failed:\n{stdout}\n{stderr}");
        stdout
            .lines()
            .rev()
            .find(|line| line.starts_with("sha256:"))
            .unwrap_or_else(|| panic!("no digest in:\n{stdout}"))
            .to_string()
    }

    pub fn push_release(&self, tag: &str) -> String {
        self.push(annotated_module(), tag)
    }

    /// Where `sign` writes the SBOM in this world.
    pub fn sbom_dir(&self) -> PathBuf {
        self.dir.path().join("sbom")
    }

    /// `policy-release sign`; returns (success, stdout, stderr).
    pub fn sign(
        &self,
        key: &Path,
        annotations: &[&str],
        reference: &str,
    ) -> (bool, String, String) {
        self.sign_with(key, PASSWORD, annotations, reference)
    }

    pub fn sign_with(
        &self,
        key: &Path,
        password: &str,
        annotations: &[&str],
        reference: &str,
    ) -> (bool, String, String) {
        let mut command = release_binary();
        command
            .arg("sign")
            .arg("--key")
            .arg(key)
            .arg("--insecure")
            .arg("--sbom-dir")
            .arg(self.sbom_dir())
            .env("COSIGN_PASSWORD", password);
        for annotation in annotations {
            command.args(["-a", annotation]);
        }
        command.arg(reference);
        run_bounded(&mut command, LIMIT)
    }

    pub fn sign_ok(&self, key: &Path, annotations: &[&str], reference: &str) {
        let (ok, stdout, stderr) = self.sign(key, annotations, reference);
        assert!(ok, "sign {reference} failed:\n{stdout}\n{stderr}");
    }

    /// `policy-release verify`; returns (success, stdout, stderr).
    pub fn verify(
        &self,
        key: &Path,
        annotations: &[&str],
        reference: &str,
    ) -> (bool, String, String) {
        let mut command = release_binary();
        command
            .arg("verify")
            .arg("--key")
            .arg(key)
            .arg("--insecure");
        for annotation in annotations {
            command.args(["-a", annotation]);
        }
        command.arg(reference);
        run_bounded(&mut command, LIMIT)
    }

    /// sources.yml letting Kubewarden's tools pull over plain HTTP.
    pub fn sources(&self) -> PathBuf {
        let path = self.dir.path().join("sources.yml");
        std::fs::write(
            &path,
            format!("insecure_sources: [\"{}\"]\n", self.registry.address),
        )
        .expect("write sources.yml");
        path
    }
}

/// The annotated module with one more custom section: other bytes, still
/// a valid annotated policy.
pub fn other_module() -> Vec<u8> {
    let mut module = annotated_module().to_vec();
    let name = b"other";
    let payload = b"bytes";
    // Custom section: id 0, size, name (length-prefixed), payload; all
    // lengths fit one LEB128 byte.
    module.push(0);
    module.push((1 + name.len() + payload.len()) as u8);
    module.push(name.len() as u8);
    module.extend_from_slice(name);
    module.extend_from_slice(payload);
    module
}

/// A command's combined output, for messages.
pub fn output(stdout: &str, stderr: &str) -> String {
    format!("--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}")
}

/// Files under `dir` (none if it does not exist).
pub fn files_in(dir: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries.flatten().map(|e| e.path()).collect(),
        Err(_) => Vec::new(),
    }
}

pub fn command_exists(program: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}
