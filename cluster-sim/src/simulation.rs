//! The paths a live cluster takes, for judging a policy along them rather
//! than on one object alone:
//! - [`apply_in_order`]: `kubectl apply -f` sends a manifest's objects one at
//!   a time, in file order; each is admitted against the cluster as it is
//!   then, and an object that exists already is an UPDATE;
//! - the controller chain: [`replicaset_of`] a Deployment and [`pod_of`] any
//!   controller, made as the controllers make them, and
//!   [`deployment_recognises`], the Deployment controller's check that a
//!   ReplicaSet is still its own;
//! - [`Change`]: UPDATEs that have nothing to do with the pods (scale, a
//!   label, a finalizer removal) and one that does (a new image).

use serde_json::{json, Value};

use crate::admission::AdmissionRequestBuilder;
use crate::{str_at, Cluster};

/// What admission said about one object.
#[derive(Debug, Clone, PartialEq)]
pub struct Admitted {
    pub accepted: bool,
    /// The object as mutated, when it was.
    pub mutated: Option<Value>,
    pub message: Option<String>,
}

/// An admission controller under test: it judges AdmissionRequests and
/// answers its lookups from a [`Cluster`] that the simulation keeps current.
pub trait Admission {
    fn cluster_mut(&mut self) -> &mut Cluster;
    fn admit(&mut self, request: &Value) -> Admitted;
}

/// An object admission refused along the way.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// `Kind namespace/name`.
    pub object: String,
    pub operation: &'static str,
    pub message: Option<String>,
}

/// `kubectl apply -f`: each object in order is sent as a CREATE, or as an
/// UPDATE of what the cluster holds under its kind, namespace and name; what
/// is admitted (mutated, if it was) is stored before the next object is
/// sent, so every lookup sees exactly the objects before it.
pub fn apply_in_order(admission: &mut impl Admission, objects: &[Value]) -> Vec<Refusal> {
    let mut refused = Vec::new();
    for object in objects {
        let ApplyRequest {
            operation, request, ..
        } = apply_request(admission.cluster_mut(), object);
        let admitted = admission.admit(&request);
        if !admitted.accepted {
            refused.push(Refusal {
                object: describe(object),
                operation,
                message: admitted.message,
            });
            continue;
        }
        let stored = admitted.mutated.unwrap_or_else(|| object.clone());
        admission.cluster_mut().insert(stored);
    }
    refused
}

/// The AdmissionRequest `kubectl apply` makes the API server send for one
/// object of a manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplyRequest {
    /// `CREATE`, or `UPDATE` when the cluster holds the object already.
    pub operation: &'static str,
    pub request: Value,
    /// What the cluster held, for an UPDATE (the request's `oldObject`).
    pub old_object: Option<Value>,
}

/// What `kubectl apply` sends for `object` to a cluster holding `cluster`:
/// an UPDATE of the object stored under the same kind, namespace and name
/// (with it as `oldObject`), or else a CREATE. The caller stores what is
/// admitted before sending the next object.
pub fn apply_request(cluster: &Cluster, object: &Value) -> ApplyRequest {
    let old_object = identity(object)
        .and_then(|(kind, namespace, name)| cluster.get(kind, namespace, name))
        .cloned();
    match old_object {
        Some(old) => ApplyRequest {
            operation: "UPDATE",
            request: AdmissionRequestBuilder::new(object, "UPDATE")
                .old_object(&old)
                .build(),
            old_object: Some(old),
        },
        None => ApplyRequest {
            operation: "CREATE",
            request: AdmissionRequestBuilder::new(object, "CREATE").build(),
            old_object: None,
        },
    }
}

fn identity(object: &Value) -> Option<(&str, Option<&str>, &str)> {
    Some((
        str_at(object, &["kind"])?,
        str_at(object, &["metadata", "namespace"]),
        str_at(object, &["metadata", "name"])?,
    ))
}

/// `Kind namespace/name`, for messages.
pub fn describe(object: &Value) -> String {
    format!(
        "{} {}/{}",
        str_at(object, &["kind"]).unwrap_or("?"),
        str_at(object, &["metadata", "namespace"]).unwrap_or_default(),
        str_at(object, &["metadata", "name"])
            .or_else(|| str_at(object, &["metadata", "generateName"]))
            .unwrap_or("?")
    )
}

/// The label the Deployment controller adds to its ReplicaSets' templates.
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";

/// An ownerReference naming `owner` as the controller.
pub fn controller_reference(owner: &Value) -> Value {
    json!({
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"].as_str().unwrap_or("00000000-0000-0000-0000-000000000000"),
        "controller": true,
        "blockOwnerDeletion": true
    })
}

/// The ReplicaSet the Deployment controller makes for `deployment`: its
/// template copied with `pod-template-hash: hash` added to the template's
/// labels and the selector, owned by the Deployment.
pub fn replicaset_of(deployment: &Value, hash: &str) -> Value {
    let mut template = deployment["spec"]["template"].clone();
    template["metadata"]["labels"][POD_TEMPLATE_HASH] = json!(hash);
    let mut selector = deployment["spec"]["selector"].clone();
    selector["matchLabels"][POD_TEMPLATE_HASH] = json!(hash);
    let name = str_at(deployment, &["metadata", "name"]).unwrap_or("deployment");
    json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": format!("{name}-{hash}"),
            "namespace": deployment["metadata"]["namespace"],
            "labels": template["metadata"]["labels"],
            "ownerReferences": [controller_reference(deployment)]
        },
        "spec": {
            "replicas": deployment["spec"]["replicas"],
            "selector": selector,
            "template": template
        }
    })
}

/// A Pod as `owner`'s controller makes it from the owner's pod template
/// (`spec.template`, or a CronJob's `spec.jobTemplate.spec.template`):
/// `generateName` from the owner's name, the owner's namespace, and an
/// ownerReference naming the owner as its controller.
pub fn pod_of(owner: &Value) -> Value {
    let template = if owner["kind"] == "CronJob" {
        &owner["spec"]["jobTemplate"]["spec"]["template"]
    } else {
        &owner["spec"]["template"]
    };
    let mut metadata = template["metadata"].clone();
    if !metadata.is_object() {
        metadata = json!({});
    }
    let name = str_at(owner, &["metadata", "name"]).unwrap_or("pod");
    metadata["generateName"] = json!(format!("{name}-"));
    metadata["namespace"] = owner["metadata"]["namespace"].clone();
    metadata["ownerReferences"] = json!([controller_reference(owner)]);
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template["spec"]})
}

/// The Deployment controller's test that `replicaset` is still its own:
/// the two templates are equal once `pod-template-hash` is ignored
/// (`EqualIgnoreHash`). When it fails, the controller makes a new
/// ReplicaSet, and a policy that edits each new one makes it do so forever.
pub fn deployment_recognises(deployment: &Value, replicaset: &Value) -> bool {
    let mut template = replicaset["spec"]["template"].clone();
    if let Some(labels) = template["metadata"]["labels"].as_object_mut() {
        labels.remove(POD_TEMPLATE_HASH);
    }
    let mut wanted = deployment["spec"]["template"].clone();
    if let Some(labels) = wanted["metadata"]["labels"].as_object_mut() {
        labels.remove(POD_TEMPLATE_HASH);
    }
    template == wanted
}

/// An UPDATE as clients and controllers make them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// An HPA or `kubectl scale`: `spec.replicas`.
    Scale(i64),
    /// `kubectl label`: a label on the object itself.
    Relabel,
    /// The garbage collector or an operator removing the last finalizer of
    /// an object being deleted.
    RemoveFinalizer,
    /// A new image in the pod template's first container: a rollout.
    NewImage,
}

impl Change {
    /// `object` after the change (the old object of the UPDATE is `object`).
    pub fn apply(self, object: &Value) -> Value {
        let mut new = object.clone();
        match self {
            Change::Scale(replicas) => new["spec"]["replicas"] = json!(replicas),
            Change::Relabel => new["metadata"]["labels"]["simulation/relabelled"] = json!("true"),
            Change::RemoveFinalizer => {
                new["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
                new["metadata"]["finalizers"] = json!([]);
            }
            Change::NewImage => {
                let containers = if new["kind"] == "Pod" {
                    &mut new["spec"]["containers"]
                } else if new["kind"] == "CronJob" {
                    &mut new["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
                } else {
                    &mut new["spec"]["template"]["spec"]["containers"]
                };
                if let Some(first) = containers.get_mut(0) {
                    first["image"] = json!("registry.example/next:2.0");
                }
            }
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn deployment() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "web", "namespace": "shop", "uid": "d-1"},
               "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                        "template": {"metadata": {"labels": {"app": "web"}},
                                     "spec": {"containers": [{"name": "web", "image": "web:1"}]}}}})
    }

    #[test]
    fn a_replicaset_is_its_deployments_template_plus_the_hash() {
        let replicaset = replicaset_of(&deployment(), "5d8f");
        assert_eq!(replicaset["metadata"]["name"], "web-5d8f");
        assert_eq!(
            replicaset["spec"]["template"]["metadata"]["labels"]["pod-template-hash"],
            "5d8f"
        );
        assert_eq!(
            replicaset["metadata"]["ownerReferences"][0]["kind"],
            "Deployment"
        );
        assert!(deployment_recognises(&deployment(), &replicaset));
    }

    #[test]
    fn an_edited_replicaset_is_no_longer_recognised() {
        let mut replicaset = replicaset_of(&deployment(), "5d8f");
        replicaset["spec"]["template"]["metadata"]["annotations"] = json!({"edited": "yes"});
        assert!(!deployment_recognises(&deployment(), &replicaset));
    }

    #[rstest]
    #[case::from_a_replicaset(replicaset_of(&deployment(), "5d8f"), "web-5d8f-", "ReplicaSet")]
    #[case::from_a_cronjob(json!({"apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {"name": "nightly", "namespace": "ops"},
        "spec": {"jobTemplate": {"spec": {"template": {"metadata": {"labels": {"job": "n"}},
                                                     "spec": {"containers": [{"name": "n"}]}}}}}}), "nightly-", "CronJob")]
    fn pods_are_made_from_their_owners_template(
        #[case] owner: Value,
        #[case] generate_name: &str,
        #[case] owner_kind: &str,
    ) {
        let pod = pod_of(&owner);
        assert_eq!(pod["metadata"]["generateName"], generate_name);
        assert_eq!(pod["metadata"]["namespace"], owner["metadata"]["namespace"]);
        assert_eq!(pod["metadata"]["ownerReferences"][0]["kind"], owner_kind);
        assert_eq!(pod["metadata"]["ownerReferences"][0]["controller"], true);
        assert!(pod["spec"]["containers"].is_array());
    }

    #[rstest]
    #[case::scale(Change::Scale(5), "/spec/replicas")]
    #[case::relabel(Change::Relabel, "/metadata/labels")]
    #[case::remove_finalizer(Change::RemoveFinalizer, "/metadata/finalizers")]
    #[case::new_image(Change::NewImage, "/spec/template/spec/containers/0/image")]
    fn changes_touch_what_they_say(#[case] change: Change, #[case] pointer: &str) {
        let mut old = deployment();
        old["metadata"]["finalizers"] = json!(["example.com/cleanup"]);
        let new = change.apply(&old);
        assert_ne!(old.pointer(pointer), new.pointer(pointer));
        let template_changed = old["spec"]["template"] != new["spec"]["template"];
        assert_eq!(template_changed, change == Change::NewImage);
    }

    /// Accepts everything but objects named `refused`, mutating nothing;
    /// records the operations it saw and what the cluster held at each.
    #[derive(Default)]
    struct Recorder {
        cluster: Cluster,
        seen: Vec<(String, usize)>,
    }

    impl Admission for Recorder {
        fn cluster_mut(&mut self) -> &mut Cluster {
            &mut self.cluster
        }
        fn admit(&mut self, request: &Value) -> Admitted {
            let operation = request["operation"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            self.seen.push((operation, self.cluster.len()));
            Admitted {
                accepted: request["object"]["metadata"]["name"] != "refused",
                mutated: None,
                message: Some("no".into()),
            }
        }
    }

    #[test]
    fn apply_sends_each_object_against_what_came_before() {
        let namespace =
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}});
        let refused = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "refused", "namespace": "shop"}});
        let mut recorder = Recorder::default();
        let refusals = apply_in_order(
            &mut recorder,
            &[namespace.clone(), deployment(), refused, deployment()],
        );
        assert_eq!(
            recorder.seen,
            [
                ("CREATE".to_string(), 0),
                ("CREATE".to_string(), 1),
                ("CREATE".to_string(), 2),
                ("UPDATE".to_string(), 2),
            ]
        );
        assert_eq!(refusals.len(), 1);
        assert_eq!(refusals[0].object, "ConfigMap shop/refused");
        assert!(recorder
            .cluster
            .get("ConfigMap", Some("shop"), "refused")
            .is_none());
    }
}
