//! What the controllers did: Deployments, the ReplicaSets they own, the
//! Pods those own, read back from the API server.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;

use crate::kubectl::Kubectl;
use crate::wait_until;

/// The Deployments, ReplicaSets and Pods of a namespace at one moment.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub deployments: Vec<Value>,
    pub replicasets: Vec<Value>,
    pub pods: Vec<Value>,
}

fn uid(object: &Value) -> &str {
    object["metadata"]["uid"].as_str().unwrap_or_default()
}

fn name(object: &Value) -> &str {
    object["metadata"]["name"].as_str().unwrap_or_default()
}

/// Whether `object` has a controller ownerReference to `owner`.
pub fn owned_by(object: &Value, owner: &Value) -> bool {
    object["metadata"]["ownerReferences"]
        .as_array()
        .is_some_and(|refs| {
            refs.iter()
                .any(|r| r["uid"] == owner["metadata"]["uid"] && r["controller"] == true)
        })
}

impl Snapshot {
    pub fn take(kubectl: &Kubectl, namespace: &str) -> Snapshot {
        Snapshot {
            deployments: kubectl.list(&["-n", namespace, "deployments"]),
            replicasets: kubectl.list(&["-n", namespace, "replicasets"]),
            pods: kubectl.list(&["-n", namespace, "pods"]),
        }
    }

    pub fn deployment(&self, deployment: &str) -> Option<&Value> {
        self.deployments.iter().find(|d| name(d) == deployment)
    }

    /// The ReplicaSets a Deployment owns.
    pub fn replicasets_of(&self, deployment: &str) -> Vec<&Value> {
        match self.deployment(deployment) {
            Some(d) => self
                .replicasets
                .iter()
                .filter(|rs| owned_by(rs, d))
                .collect(),
            None => Vec::new(),
        }
    }

    /// The Pods a ReplicaSet owns.
    pub fn pods_of(&self, replicaset: &Value) -> Vec<&Value> {
        self.pods
            .iter()
            .filter(|p| owned_by(p, replicaset))
            .collect()
    }

    /// The Pods of every ReplicaSet of a Deployment.
    pub fn pods_of_deployment(&self, deployment: &str) -> Vec<&Value> {
        self.replicasets_of(deployment)
            .into_iter()
            .flat_map(|rs| self.pods_of(rs))
            .collect()
    }

    /// Every uid of the ReplicaSets and Pods, to tell a steady namespace
    /// from one where something is recreated.
    pub fn uids(&self) -> BTreeSet<String> {
        self.replicasets
            .iter()
            .chain(self.pods.iter())
            .map(|o| format!("{} {}", o["kind"].as_str().unwrap_or_default(), name(o)))
            .chain(
                self.replicasets
                    .iter()
                    .chain(self.pods.iter())
                    .map(|o| uid(o).to_string()),
            )
            .collect()
    }

    /// `deployment: N ReplicaSet(s), M Pod(s)` for each Deployment.
    pub fn summary(&self) -> String {
        self.deployments
            .iter()
            .map(|d| {
                format!(
                    "{}: {} ReplicaSet(s), {} Pod(s)",
                    name(d),
                    self.replicasets_of(name(d)).len(),
                    self.pods_of_deployment(name(d)).len()
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Waits until `check` holds for a snapshot of `namespace`.
pub fn wait_for(
    kubectl: &Kubectl,
    namespace: &str,
    what: &str,
    limit: Duration,
    check: impl Fn(&Snapshot) -> bool,
) -> Snapshot {
    wait_until(what, limit, || {
        let snapshot = Snapshot::take(kubectl, namespace);
        if check(&snapshot) {
            Ok(snapshot)
        } else {
            Err(snapshot.summary())
        }
    })
}

/// Waits `quiet`, then asserts that no ReplicaSet or Pod of `namespace`
/// was created or deleted since `before`, and that every Deployment's
/// controller has seen its latest generation: nothing recreated in a loop.
pub fn assert_steady(kubectl: &Kubectl, namespace: &str, before: &Snapshot, quiet: Duration) {
    std::thread::sleep(quiet);
    let after = Snapshot::take(kubectl, namespace);
    assert_eq!(
        before.uids(),
        after.uids(),
        "ReplicaSets or Pods of {namespace} changed within {quiet:?} with nothing applied:\n\
         before: {}\nafter: {}",
        before.summary(),
        after.summary()
    );
    for deployment in &after.deployments {
        assert_eq!(
            deployment["status"]["observedGeneration"],
            deployment["metadata"]["generation"],
            "the Deployment controller has not caught up with {namespace}/{}",
            name(deployment)
        );
    }
}

/// The events of `namespace` with `reason`, as `(involved object, count,
/// message)`.
pub fn events(kubectl: &Kubectl, namespace: &str, reason: &str) -> Vec<(String, i64, String)> {
    kubectl
        .list(&[
            "-n",
            namespace,
            "events",
            &format!("--field-selector=reason={reason}"),
        ])
        .iter()
        .map(|event| {
            (
                format!(
                    "{}/{}",
                    event["involvedObject"]["kind"].as_str().unwrap_or_default(),
                    event["involvedObject"]["name"].as_str().unwrap_or_default()
                ),
                event["count"]
                    .as_i64()
                    .or(event["series"]["count"].as_i64())
                    .unwrap_or(1),
                event["message"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}
