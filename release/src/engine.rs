//! Kubewarden's own engine, run as a cluster runs it: the kwctl and
//! policy-server binaries (built once per machine by
//! `../shared/kubewarden/install.sh`), Debian's distribution registry on
//! loopback, and policy-server processes loading the published artifact
//! from it. Shared by the e2e tests and the load run.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use crate::metadata::Metadata;
use crate::project::Project;

/// The Kubewarden release the tests and the load run use.
pub const KUBEWARDEN_VERSION: &str = "1.35.0";
/// Paths of the binaries, as `make test` passes them.
pub const KWCTL_ENV: &str = "KWCTL";
pub const POLICY_SERVER_ENV: &str = "POLICY_SERVER";
/// Debian's `docker-registry` package (`make setup` installs it).
pub const REGISTRY_BINARY: &str = "/usr/bin/docker-registry";

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("Kubewarden's binaries are not available: {0}")]
    Binaries(String),
    #[error("cannot start {what}: {source}")]
    Spawn {
        what: String,
        source: std::io::Error,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("{what} did not become ready: {reason}\n--- its log ---\n{log}")]
    NotReady {
        what: String,
        reason: String,
        log: String,
    },
    #[error("policy.yaml: {0}")]
    PolicyYaml(String),
}

pub type Result<T> = std::result::Result<T, EngineError>;

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> EngineError {
    let what = what.into();
    move |source| EngineError::Io { what, source }
}

/// kwctl and policy-server.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub kwctl: PathBuf,
    pub policy_server: PathBuf,
}

impl Binaries {
    /// `$KWCTL` and `$POLICY_SERVER` when set (what `make test` does), else
    /// the folder `../shared/kubewarden/install.sh` prints (instant once
    /// built; the first build takes 15-25 minutes).
    pub fn locate() -> Result<Binaries> {
        if let (Some(kwctl), Some(policy_server)) = (
            std::env::var_os(KWCTL_ENV),
            std::env::var_os(POLICY_SERVER_ENV),
        ) {
            return Self::checked(PathBuf::from(kwctl), PathBuf::from(policy_server));
        }
        let script = Project::default_root().join("../shared/kubewarden/install.sh");
        if !script.exists() {
            return Err(EngineError::Binaries(format!(
                "set {KWCTL_ENV} and {POLICY_SERVER_ENV}, or put the shared folder beside the \
                 project ({} is missing)",
                script.display()
            )));
        }
        let output = Command::new("bash")
            .arg(&script)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .map_err(|source| EngineError::Spawn {
                what: script.display().to_string(),
                source,
            })?;
        if !output.status.success() {
            return Err(EngineError::Binaries(format!(
                "{} failed ({})",
                script.display(),
                output.status
            )));
        }
        let folder = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        Self::checked(folder.join("kwctl"), folder.join("policy-server"))
    }

    fn checked(kwctl: PathBuf, policy_server: PathBuf) -> Result<Binaries> {
        for binary in [&kwctl, &policy_server] {
            if !binary.is_file() {
                return Err(EngineError::Binaries(format!(
                    "{} does not exist",
                    binary.display()
                )));
            }
        }
        Ok(Binaries {
            kwctl,
            policy_server,
        })
    }
}

/// A free port on 127.0.0.1 (it can be taken before it is bound: callers
/// retry).
pub fn free_port() -> Result<u16> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(io("probing for a free loopback port"))
}

/// The status code of a plain HTTP/1.0 GET, or None if nothing answers.
pub fn http_status(address: &str, path: &str) -> Option<u16> {
    let socket: SocketAddr = address.parse().ok()?;
    let mut stream = TcpStream::connect_timeout(&socket, Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    // "HTTP/1.1 200"
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// Polls `ready` every 100 ms until it holds, `child` exits, or `limit`.
fn wait_for(
    child: &mut Child,
    limit: Duration,
    mut ready: impl FnMut() -> bool,
) -> std::result::Result<(), String> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("it exited ({status})"));
        }
        if ready() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("no answer within {limit:?}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// An open distribution registry on 127.0.0.1, stopped and its storage
/// deleted on drop.
pub struct Registry {
    child: Child,
    dir: tempfile::TempDir,
    /// `127.0.0.1:PORT`
    pub address: String,
}

impl Registry {
    pub fn start() -> Result<Registry> {
        let mut failures = Vec::new();
        // The free port can be taken between probing and binding: retry.
        for _ in 0..3 {
            match Self::try_start() {
                Ok(registry) => return Ok(registry),
                Err(error) => failures.push(error.to_string()),
            }
        }
        Err(EngineError::NotReady {
            what: "the registry".into(),
            reason: "three attempts failed".into(),
            log: failures.join("\n---\n"),
        })
    }

    fn try_start() -> Result<Registry> {
        let dir = tempfile::tempdir().map_err(io("creating the registry's folder"))?;
        let address = format!("127.0.0.1:{}", free_port()?);
        let config = format!(
            "version: 0.1\n\
             log:\n  level: warn\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n\
             http:\n  addr: {address}\n  secret: linkerd-ha-policy-e2e\n",
            dir.path().join("data").display()
        );
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).map_err(io("writing the registry config"))?;
        let log_path = dir.path().join("registry.log");
        let log = std::fs::File::create(&log_path).map_err(io("creating the registry log"))?;
        let child = Command::new(REGISTRY_BINARY)
            .arg("serve")
            .arg(&config_path)
            // The registry reads REGISTRY_* variables as config overrides.
            .env_clear()
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(io("registry log"))?)
            .stderr(log)
            .spawn()
            .map_err(|source| EngineError::Spawn {
                what: format!("{REGISTRY_BINARY} (apt-get install docker-registry)"),
                source,
            })?;
        let mut registry = Registry {
            child,
            dir,
            address,
        };
        let address = registry.address.clone();
        wait_for(&mut registry.child, Duration::from_secs(20), || {
            http_status(&address, "/v2/") == Some(200)
        })
        .map_err(|reason| EngineError::NotReady {
            what: format!("the registry on {address}"),
            reason,
            log: std::fs::read_to_string(registry.dir.path().join("registry.log"))
                .unwrap_or_default(),
        })?;
        Ok(registry)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The media type of a Sigstore ClientTrustConfig, what kwctl's and
/// policy-server's `--sigstore-trust-config` read.
pub const CLIENT_TRUST_CONFIG_MEDIA_TYPE: &str =
    "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json";

/// Writes a ClientTrustConfig holding the `trusted_root.json` that the
/// sigstore crate in this workspace ships (the one kwctl 1.35 embeds), so
/// that kwctl and policy-server verify without fetching Sigstore's TUF
/// repository. Key-based checks use none of its keys, but both tools load
/// a trust root before any signature is looked at.
///
/// The file is found through `cargo metadata`: cargo has the crate's
/// sources wherever this workspace is built.
pub fn write_sigstore_trust_config(project: &Project, path: &Path) -> Result<()> {
    let metadata = cargo_metadata::MetadataCommand::new()
        .manifest_path(project.root.join("Cargo.toml"))
        .exec()
        .map_err(|e| EngineError::Binaries(format!("cargo metadata: {e}")))?;
    let sigstore = metadata
        .packages
        .iter()
        .find(|p| p.name.as_str() == "sigstore")
        .ok_or_else(|| EngineError::Binaries("the workspace has no sigstore crate".into()))?;
    let root_json = sigstore
        .manifest_path
        .as_std_path()
        .with_file_name("trust_root/prod/trusted_root.json");
    let text = std::fs::read_to_string(&root_json).map_err(io(root_json.display().to_string()))?;
    let trusted_root: Value = serde_json::from_str(&text)
        .map_err(|e| EngineError::Binaries(format!("{}: {e}", root_json.display())))?;
    let config = json!({
        "mediaType": CLIENT_TRUST_CONFIG_MEDIA_TYPE,
        "trustedRoot": trusted_root,
    });
    std::fs::write(path, config.to_string()).map_err(io(path.display().to_string()))
}

/// The ClusterAdmissionPolicy objects of policy.yaml.
pub fn policy_yaml_policies(project: &Project) -> Result<Vec<Value>> {
    let path = project.policy_yaml_path();
    let text = std::fs::read_to_string(&path).map_err(io(path.display().to_string()))?;
    let mut policies = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_str(&text) {
        let value: Value = serde::Deserialize::deserialize(document)
            .map_err(|e| EngineError::PolicyYaml(e.to_string()))?;
        if value["kind"] == "ClusterAdmissionPolicy" {
            policies.push(value);
        }
    }
    Ok(policies)
}

/// The policy id the controller gives a ClusterAdmissionPolicy, and the
/// one the audit scanner posts to (`/audit/clusterwide-<name>`).
pub fn cluster_policy_id(policy: &Value) -> String {
    format!(
        "clusterwide-{}",
        policy["metadata"]["name"].as_str().unwrap_or_default()
    )
}

/// policy-server's `policies.yml` for policy.yaml's ClusterAdmissionPolicies,
/// as the controller writes it, each loading `module` (a `registry://`
/// reference) and allowed the host capabilities the metadata declares.
pub fn policies_file(project: &Project, module: &str, metadata: &Metadata) -> Result<Value> {
    let mut policies = Map::new();
    for policy in policy_yaml_policies(project)? {
        let spec = &policy["spec"];
        let mut entry = json!({
            "module": module,
            "policyMode": spec["mode"].as_str().unwrap_or("protect"),
            "allowedToMutate": spec["mutating"].as_bool().unwrap_or(false),
            "settings": spec.get("settings").cloned().unwrap_or_else(|| json!({})),
            "contextAwareResources": spec
                .get("contextAwareResources")
                .cloned()
                .unwrap_or_else(|| json!([])),
            "hostCapabilities": metadata.host_capabilities(),
        });
        if let Some(seconds) = spec.get("timeoutEvalSeconds") {
            entry["timeoutEvalSeconds"] = seconds.clone();
        }
        policies.insert(cluster_policy_id(&policy), entry);
    }
    if policies.is_empty() {
        return Err(EngineError::PolicyYaml(
            "no ClusterAdmissionPolicy found".into(),
        ));
    }
    Ok(Value::Object(policies))
}

/// How to run one policy-server.
#[derive(Debug, Clone)]
pub struct PolicyServerConfig {
    pub binary: PathBuf,
    /// The `policies.yml` content.
    pub policies: Value,
    /// Registries reached over plain HTTP (`127.0.0.1:PORT`).
    pub insecure_sources: Vec<String>,
    /// Extra environment, e.g. `RUST_BACKTRACE=1`.
    pub env: Vec<(String, String)>,
    pub workers: Option<usize>,
}

/// The serving certificate and key policy-server presents when it is an
/// API server's webhook (`--cert-file`, `--key-file`).
#[derive(Debug, Clone)]
pub struct ServingTls {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

/// How to run policy-server beyond [`PolicyServerConfig`] (kept apart so
/// that the callers' struct literals of the config keep building).
#[derive(Debug, Clone, Default)]
pub struct PolicyServerOptions {
    /// More command-line arguments (e.g. `--verification-path`).
    pub extra_args: Vec<std::ffi::OsString>,
    /// Serve HTTPS with this certificate; plain HTTP without.
    pub tls: Option<ServingTls>,
    /// A kubeconfig for the context-aware lookups, given as `KUBECONFIG`
    /// (kube-rs reads it as kubectl does). Without one, the server runs with
    /// `--ignore-kubernetes-connection-failure`: every lookup fails.
    pub kubeconfig: Option<PathBuf>,
    /// How many times to try free ports (1 when the server is expected to
    /// refuse to start); 0 counts as 1.
    pub attempts: usize,
}

/// A policy-server process on loopback (by default without TLS and without
/// a cluster: `--ignore-kubernetes-connection-failure`); killed on drop.
pub struct PolicyServer {
    config: PolicyServerConfig,
    options: PolicyServerOptions,
    dir: tempfile::TempDir,
    child: Option<Child>,
    pub port: u16,
    pub readiness_port: u16,
}

impl PolicyServer {
    /// Starts the server and waits until it has loaded its policies.
    pub fn start(config: PolicyServerConfig) -> Result<PolicyServer> {
        Self::start_with_args(config, Vec::new(), 3)
    }

    /// As `start`, with more arguments, and `attempts` tries (1 when the
    /// server is expected to refuse to start).
    pub fn start_with_args(
        config: PolicyServerConfig,
        extra_args: Vec<std::ffi::OsString>,
        attempts: usize,
    ) -> Result<PolicyServer> {
        Self::start_with_options(
            config,
            PolicyServerOptions {
                extra_args,
                attempts,
                ..PolicyServerOptions::default()
            },
        )
    }

    /// As `start`, with TLS, a cluster to look things up in, more
    /// arguments or a number of attempts.
    pub fn start_with_options(
        config: PolicyServerConfig,
        options: PolicyServerOptions,
    ) -> Result<PolicyServer> {
        let attempts = options.attempts;
        let dir = tempfile::tempdir().map_err(io("creating policy-server's folder"))?;
        let policies = serde_yaml_ng::to_string(&config.policies)
            .map_err(|e| EngineError::PolicyYaml(e.to_string()))?;
        std::fs::write(dir.path().join("policies.yml"), policies)
            .map_err(io("writing policies.yml"))?;
        let sources = serde_yaml_ng::to_string(&json!({
            "insecure_sources": config.insecure_sources,
        }))
        .map_err(|e| EngineError::PolicyYaml(e.to_string()))?;
        std::fs::write(dir.path().join("sources.yml"), sources)
            .map_err(io("writing sources.yml"))?;
        for sub in ["downloads", "sigstore"] {
            std::fs::create_dir_all(dir.path().join(sub)).map_err(io("policy-server folders"))?;
        }
        let mut server = PolicyServer {
            config,
            options,
            dir,
            child: None,
            port: 0,
            readiness_port: 0,
        };
        let mut failures = Vec::new();
        for _ in 0..attempts.max(1) {
            server.port = free_port()?;
            server.readiness_port = free_port()?;
            match server.spawn_and_wait() {
                Ok(()) => return Ok(server),
                Err(error) => failures.push(error.to_string()),
            }
        }
        Err(EngineError::NotReady {
            what: "policy-server".into(),
            reason: format!("{} attempt(s) failed", attempts.max(1)),
            log: failures.join("\n---\n"),
        })
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("policy-server.log")
    }

    /// Everything the server wrote, across restarts.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn spawn_and_wait(&mut self) -> Result<()> {
        let root = self.dir.path();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .map_err(io("opening policy-server's log"))?;
        let mut command = Command::new(&self.config.binary);
        command
            .current_dir(root)
            .args(["--addr", "127.0.0.1"])
            .args(["--port", &self.port.to_string()])
            .args(["--readiness-probe-port", &self.readiness_port.to_string()])
            .arg("--policies")
            .arg(root.join("policies.yml"))
            .arg("--policies-download-dir")
            .arg(root.join("downloads"))
            .arg("--sigstore-cache-dir")
            .arg(root.join("sigstore"))
            .arg("--sources-path")
            .arg(root.join("sources.yml"))
            .args(["--log-level", "warn", "--log-no-color"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(io("policy-server log"))?)
            .stderr(log);
        if let Some(workers) = self.config.workers {
            command.args(["--workers", &workers.to_string()]);
        }
        if let Some(tls) = &self.options.tls {
            command
                .arg("--cert-file")
                .arg(&tls.cert_file)
                .arg("--key-file")
                .arg(&tls.key_file);
        }
        match &self.options.kubeconfig {
            Some(kubeconfig) => {
                command.env("KUBECONFIG", kubeconfig);
            }
            None => {
                command.arg("--ignore-kubernetes-connection-failure");
            }
        }
        command.args(&self.options.extra_args);
        // Only what is given here: no KUBEWARDEN_* override from the caller.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("KUBEWARDEN_") {
                command.env_remove(key);
            }
        }
        command.envs(self.config.env.iter().map(|(k, v)| (k, v)));
        let child = command.spawn().map_err(|source| EngineError::Spawn {
            what: self.config.binary.display().to_string(),
            source,
        })?;
        let child = self.child.insert(child);
        let readiness = format!("127.0.0.1:{}", self.readiness_port);
        let outcome = wait_for(child, Duration::from_secs(180), || {
            http_status(&readiness, "/readiness") == Some(200)
        });
        if let Err(reason) = outcome {
            self.stop();
            return Err(EngineError::NotReady {
                what: format!("policy-server on port {}", self.port),
                reason,
                log: self.log(),
            });
        }
        Ok(())
    }

    /// `http://127.0.0.1:PORT`, or `https://` when it serves TLS.
    pub fn base_url(&self) -> String {
        let scheme = if self.options.tls.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Resident memory in KiB, from /proc.
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// Kills the process (SIGKILL, as a node failure would).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops and starts again on the same ports; returns how long it was
    /// not ready.
    pub fn restart(&mut self) -> Result<Duration> {
        let started = Instant::now();
        self.stop();
        self.spawn_and_wait()?;
        Ok(started.elapsed())
    }

    pub fn workdir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for PolicyServer {
    fn drop(&mut self) {
        self.stop();
    }
}
