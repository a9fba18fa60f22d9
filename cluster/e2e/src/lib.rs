//! linkerd-ha-policy behind a real API server (issue 22).
//!
//! Each test starts its own loopback cluster with `cluster/up.sh` (etcd,
//! kube-apiserver and kube-controller-manager v1.37.2, built from source by
//! `cluster/build.sh`) and its own policy-server 1.35 serving policy.yaml's
//! three ClusterAdmissionPolicies over TLS, registered with the webhook
//! configurations Kubewarden's controller writes for them. Everything is
//! driven with kubectl, and what kubectl printed, what the API server stored
//! (and recorded in its audit log) and what the controllers did are read
//! back from the cluster.
//!
//! Nothing here is skipped: a missing binary is a failure naming the make
//! target that builds it (`make test-cluster` builds them all).

pub mod audit;
pub mod cluster;
pub mod controllers;
pub mod kubectl;
pub mod objects;
pub mod pki;
pub mod policy;
pub mod world;

use std::path::PathBuf;
use std::time::{Duration, Instant};

pub use cluster::Cluster;
pub use kubectl::{Kubectl, Printed, Run};
pub use world::{Lookups, World, WorldOptions};

/// The binaries the suite runs, from the environment `make test-cluster`
/// sets.
#[derive(Debug, Clone)]
pub struct Tools {
    /// etcd, kube-apiserver, kube-controller-manager and kubectl
    /// (`cluster/build.sh` prints this folder).
    pub cluster_bin: PathBuf,
    pub kubectl: PathBuf,
    pub policy_server: PathBuf,
}

/// `CLUSTER_BIN`: the folder `cluster/build.sh` prints.
pub const CLUSTER_BIN_ENV: &str = "CLUSTER_BIN";
/// `KUBECTL`: defaults to `$CLUSTER_BIN/kubectl`.
pub const KUBECTL_ENV: &str = "KUBECTL";
/// `POLICY_SERVER`: policy-server 1.35 (`../shared/kubewarden/install.sh`).
pub const POLICY_SERVER_ENV: &str = policy_release::engine::POLICY_SERVER_ENV;

impl Tools {
    /// Reads the environment; panics with the make target to run when
    /// something is missing.
    pub fn from_env() -> Tools {
        let cluster_bin = PathBuf::from(std::env::var_os(CLUSTER_BIN_ENV).unwrap_or_else(|| {
            panic!(
                "{CLUSTER_BIN_ENV} is not set: run `make test-cluster` (it builds the cluster's \
                 binaries with cluster/build.sh and sets it), or export {CLUSTER_BIN_ENV}=\"$(cluster/build.sh)\""
            )
        }));
        for binary in [
            "etcd",
            "kube-apiserver",
            "kube-controller-manager",
            "kubectl",
        ] {
            let path = cluster_bin.join(binary);
            assert!(
                path.is_file(),
                "{} is missing: `make test-cluster` builds it (cluster/build.sh)",
                path.display()
            );
        }
        let kubectl = std::env::var_os(KUBECTL_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| cluster_bin.join("kubectl"));
        assert!(
            kubectl.is_file(),
            "kubectl {} is missing: `make test-cluster` builds it (cluster/build.sh)",
            kubectl.display()
        );
        let policy_server = PathBuf::from(std::env::var_os(POLICY_SERVER_ENV).unwrap_or_else(|| {
            panic!(
                "{POLICY_SERVER_ENV} is not set: run `make test-cluster` (or `make kubewarden`, then \
                 export {POLICY_SERVER_ENV}=\"$(../shared/kubewarden/install.sh)/policy-server\")"
            )
        }));
        assert!(
            policy_server.is_file(),
            "policy-server {} is missing: `make kubewarden` builds it",
            policy_server.display()
        );
        Tools {
            cluster_bin,
            kubectl,
            policy_server,
        }
    }
}

/// The project (policy.yaml, the built module, cluster/).
pub fn project() -> policy_release::Project {
    policy_release::Project::load(policy_release::Project::default_root())
        .expect("the workspace's Cargo.toml")
}

/// The scanner as `cargo build -p linkerd-ha-scan` leaves it (in
/// `$CARGO_TARGET_DIR`, else the workspace's `target/`).
pub fn scanner_binary() -> PathBuf {
    let scanner = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| project().root.join("target"))
        .join("debug/linkerd-ha-scan");
    assert!(
        scanner.is_file(),
        "{} is missing: `cargo build -p linkerd-ha-scan` builds it",
        scanner.display()
    );
    scanner
}

/// A line on stderr naming what the suite is doing (shown with
/// `--nocapture`, which `make test-cluster` passes).
pub fn progress(message: impl AsRef<str>) {
    eprintln!("[cluster-e2e] {}", message.as_ref());
}

/// Polls `check` every 250 ms until it returns Some, or panics after
/// `limit` with `what` and the last value seen.
pub fn wait_until<T>(
    what: &str,
    limit: Duration,
    mut check: impl FnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        match check() {
            Ok(value) => return value,
            Err(last) if Instant::now() > deadline => {
                panic!("timed out after {limit:?} waiting for {what}; last seen: {last}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(250)),
        }
    }
}

/// `text` without ANSI colour sequences (policy-server colours its log).
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // ESC [ ... final byte in @..~
            for next in chars.by_ref() {
                if ('@'..='~').contains(&next) && next != '[' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
