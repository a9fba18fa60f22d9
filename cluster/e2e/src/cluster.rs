//! One loopback cluster per test: `cluster/up.sh DIR` into a temporary
//! folder, `cluster/down.sh DIR` when dropped (also while a failed test
//! unwinds), so no etcd, kube-apiserver or controller manager outlives it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::{progress, project, Tools};

pub struct Cluster {
    dir: tempfile::TempDir,
    /// DIR/cluster.env: APISERVER, APISERVER_PORT, SERVICE_CIDR, ...
    pub env: BTreeMap<String, String>,
    pub kubeconfig: PathBuf,
    down: bool,
}

fn script(name: &str) -> PathBuf {
    project().root.join("cluster").join(name)
}

impl Cluster {
    /// Starts a cluster (about 10 s) and waits until up.sh says it is ready.
    pub fn up(tools: &Tools) -> Cluster {
        let dir = tempfile::Builder::new()
            .prefix("cluster-e2e-")
            .tempdir()
            .expect("a temporary folder for the cluster");
        let mut cluster = Cluster {
            kubeconfig: dir.path().join("kubeconfig"),
            dir,
            env: BTreeMap::new(),
            down: false,
        };
        let started = Instant::now();
        let log_path = cluster.dir.path().join("up.log");
        let log = std::fs::File::create(&log_path).expect("up.sh's log");
        let status = Command::new(script("up.sh"))
            .arg(cluster.dir.path())
            .env("CLUSTER_BIN", &tools.cluster_bin)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .status()
            .expect("cannot run cluster/up.sh");
        // up.sh stops what it started when it fails, so the cluster is only
        // worth a down.sh once it is up; down.sh is harmless either way.
        assert!(
            status.success(),
            "cluster/up.sh failed ({status}):\n{}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
        let env_text = std::fs::read_to_string(cluster.dir.path().join("cluster.env"))
            .expect("up.sh writes cluster.env");
        cluster.env = env_text
            .lines()
            .filter_map(|line| line.split_once('='))
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect();
        progress(format!(
            "cluster up in {:.1} s: {} (folder {})",
            started.elapsed().as_secs_f64(),
            cluster.apiserver(),
            cluster.dir.path().display()
        ));
        cluster
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `https://127.0.0.1:PORT`
    pub fn apiserver(&self) -> &str {
        self.env.get("APISERVER").map(String::as_str).unwrap_or("")
    }

    /// kube-apiserver's audit log (JSON lines; see [`crate::audit`]).
    pub fn audit_log(&self) -> PathBuf {
        self.env
            .get("AUDIT_LOG")
            .map(PathBuf::from)
            .unwrap_or_else(|| self.dir.path().join("logs/audit.log"))
    }

    /// Every event of the audit log so far.
    pub fn audit_events(&self) -> Vec<serde_json::Value> {
        crate::audit::events(&self.audit_log())
    }

    /// The cluster CA (what a kubeconfig's certificate-authority names).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("pki/ca.crt")
    }

    /// The last lines of a component's log (etcd, kube-apiserver,
    /// kube-controller-manager), for failure messages.
    pub fn log_tail(&self, component: &str, lines: usize) -> String {
        let text = std::fs::read_to_string(self.dir.path().join(format!("logs/{component}.log")))
            .unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Stops the cluster (down.sh); called by drop.
    pub fn down(&mut self) {
        if self.down {
            return;
        }
        self.down = true;
        let outcome = Command::new(script("down.sh"))
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        match outcome {
            Ok(status) if status.success() => progress("cluster stopped"),
            Ok(status) => progress(format!("cluster/down.sh failed ({status})")),
            Err(error) => progress(format!("cannot run cluster/down.sh: {error}")),
        }
        if std::env::var_os("CLUSTER_E2E_KEEP").is_some() {
            let kept = self.dir.path().to_path_buf();
            progress(format!("CLUSTER_E2E_KEEP: keeping {}", kept.display()));
            // Leak the folder on purpose: its logs are what was asked for.
            let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("temp dir"));
            let _ = dir.keep();
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.down();
    }
}
