//! Shared by the release tests: the project, the built and annotated module,
//! and a real OCI registry (Debian's `docker-registry`, the CNCF
//! distribution registry) on loopback.

#![allow(dead_code)] // each test binary uses a different part

pub mod engine;
pub mod signing;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use policy_release::annotate::{annotate_bytes, release_metadata};
use policy_release::engine::http_status;
use policy_release::project::{read_module, POLICY_WASM_ENV};
use policy_release::Project;

pub fn project() -> Project {
    Project::load(Project::default_root()).expect("the workspace's Cargo.toml")
}

/// The built policy module: `$POLICY_WASM`, or where the release build
/// writes it.
pub fn module_path() -> PathBuf {
    project().module_path()
}

pub fn built_module() -> Vec<u8> {
    let path = module_path();
    assert!(
        path.exists(),
        "the policy module {} is missing: build it with `cargo build --release --target \
         wasm32-wasip1 -p linkerd-ha-policy` (or set {POLICY_WASM_ENV})",
        path.display()
    );
    read_module(&path).expect("the built module is readable")
}

/// The module as `policy-release annotate` makes it, computed once per test
/// binary.
pub fn annotated_module() -> &'static [u8] {
    static ANNOTATED: OnceLock<Vec<u8>> = OnceLock::new();
    ANNOTATED.get_or_init(|| {
        let metadata = release_metadata(&project()).expect("release metadata");
        annotate_bytes(&built_module(), &metadata, "built module").expect("annotation")
    })
}

pub fn release_binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_policy-release"))
}

/// Runs `command`, killing it after `limit`; returns (success, stdout, stderr).
pub fn run_bounded(command: &mut Command, limit: Duration) -> (bool, String, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let out_path = dir.path().join("stdout");
    let err_path = dir.path().join("stderr");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).expect("stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for child") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{command:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    (status.success(), read(&out_path), read(&err_path))
}

const REGISTRY_BINARY: &str = "/usr/bin/docker-registry";

/// Installs Debian's `docker-registry` if it is not there yet (once per
/// test binary). Its postinst never starts a daemon here: there is no
/// systemd, and the tests run the binary themselves.
pub fn registry_binary() -> &'static Path {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    let outcome = INSTALLED.get_or_init(|| {
        if Path::new(REGISTRY_BINARY).exists() {
            return Ok(());
        }
        let apt = |args: &[&str]| {
            let (ok, out, err) = run_bounded(
                Command::new("apt-get")
                    // Wait for another apt/dpkg run to finish instead of failing.
                    .args(["-o", "DPkg::Lock::Timeout=300"])
                    .args(args)
                    .env("DEBIAN_FRONTEND", "noninteractive"),
                Duration::from_secs(600),
            );
            if ok {
                Ok(())
            } else {
                Err(format!("apt-get {args:?} failed:\n{out}\n{err}"))
            }
        };
        apt(&["update"])?;
        apt(&[
            "install",
            "-y",
            "--no-install-recommends",
            "docker-registry",
        ])?;
        if Path::new(REGISTRY_BINARY).exists() {
            Ok(())
        } else {
            Err(format!(
                "docker-registry installed but {REGISTRY_BINARY} is missing"
            ))
        }
    });
    if let Err(error) = outcome {
        panic!("cannot install the test registry (`apt-get install docker-registry`): {error}");
    }
    Path::new(REGISTRY_BINARY)
}

/// A registry process on 127.0.0.1, stopped (and its storage deleted) on drop.
pub struct Registry {
    child: Child,
    dir: tempfile::TempDir,
    /// `127.0.0.1:PORT`
    pub address: String,
}

impl Registry {
    /// An open registry.
    pub fn start() -> Registry {
        Self::start_with(None)
    }

    /// A registry requiring HTTP basic auth for `username`/`password`.
    pub fn start_with_auth(username: &str, password: &str) -> Registry {
        Self::start_with(Some((username, password)))
    }

    fn start_with(credentials: Option<(&str, &str)>) -> Registry {
        let binary = registry_binary();
        // The free port can be taken between probing and binding: retry.
        let mut failures = Vec::new();
        for _ in 0..3 {
            match Self::try_start(binary, credentials) {
                Ok(registry) => return registry,
                Err(error) => failures.push(error),
            }
        }
        panic!(
            "the test registry did not start:\n{}",
            failures.join("\n---\n")
        );
    }

    fn try_start(binary: &Path, credentials: Option<(&str, &str)>) -> Result<Registry, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let port = free_port();
        let address = format!("127.0.0.1:{port}");
        let auth = match credentials {
            Some((username, password)) => {
                // bcrypt is the only hash the registry's htpasswd accepts;
                // cost 5 keeps each request fast.
                let hash = bcrypt::hash_with_result(password, 5)
                    .map_err(|e| e.to_string())?
                    .format_for_version(bcrypt::Version::TwoY);
                let htpasswd = dir.path().join("htpasswd");
                std::fs::write(&htpasswd, format!("{username}:{hash}\n"))
                    .map_err(|e| e.to_string())?;
                format!(
                    "auth:\n  htpasswd:\n    realm: policy-release-tests\n    path: {}\n",
                    htpasswd.display()
                )
            }
            None => String::new(),
        };
        let config = format!(
            "version: 0.1\n\
             log:\n  level: warn\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
             http:\n  addr: {address}\n  secret: policy-release-tests\n\
             {auth}",
            dir.path().join("data").display()
        );
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).map_err(|e| e.to_string())?;
        let log =
            std::fs::File::create(dir.path().join("registry.log")).map_err(|e| e.to_string())?;
        let child = Command::new(binary)
            .arg("serve")
            .arg(&config_path)
            // The registry reads REGISTRY_* variables as config overrides.
            .env_clear()
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
        let mut registry = Registry {
            child,
            dir,
            address,
        };
        registry.wait_until_ready(Duration::from_secs(20))?;
        Ok(registry)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Polls `GET /v2/` until the registry answers 200 (or 401 with auth).
    fn wait_until_ready(&mut self, limit: Duration) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("the registry exited ({status}):\n{}", self.log()));
            }
            if let Some(status) = http_status(&self.address, "/v2/") {
                if status == 200 || status == 401 {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the registry did not answer on {} within {limit:?}:\n{}",
                    self.address,
                    self.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free loopback port")
}
