//! A small simulated Kubernetes cluster for testing admission policies.
//!
//! What a policy sees of Kubernetes, without a Kubernetes: manifests read as
//! `kubectl apply -f` reads them ([`manifests`]), the AdmissionRequest the
//! API server sends for each object ([`admission`]), and an in-memory object
//! store ([`Cluster`]) answering the lookups a Kubewarden policy makes through
//! its host capabilities, with label and field selectors and field masks
//! ([`selectors`]), and the paths a live cluster takes ([`simulation`]):
//! `kubectl apply` in stream order, the controller chain Deployment →
//! ReplicaSet → Pods, and UPDATEs unrelated to the pods.
//!
//! No wasm runtime: policy-harness runs the Kubewarden module on top of this
//! crate, and the browser playground (wasm32-unknown-unknown) answers the
//! native rule engine's lookups from the same store.
//!
//! ```
//! use cluster_sim::{admission_request, manifests, Cluster};
//!
//! let objects = manifests::load_objects(
//!     "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n---\n\
//!      apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n",
//!     "default",
//! )?;
//! let cluster = Cluster::from_objects(objects.iter().map(|o| o.object.clone()));
//! assert!(cluster.get("Namespace", None, "shop").is_some());
//! let request = admission_request(&objects[1].object, "CREATE");
//! assert_eq!(request["namespace"], "default");
//! # Ok::<(), cluster_sim::manifests::ManifestError>(())
//! ```

pub mod admission;
pub mod cluster;
pub mod findings;
pub mod manifests;
pub mod selectors;
pub mod simulation;

use serde_json::Value;

pub use admission::{admission_request, AdmissionRequestBuilder};
pub use cluster::{Cluster, HostCall, HostCallError, ObjectKind};
pub use manifests::{ManifestError, ManifestObject};
pub use simulation::{
    apply_in_order, apply_request, Admission, Admitted, ApplyRequest, Change, Refusal,
};

/// The string at `path` in `value`, if every step exists and the leaf is a string.
pub fn str_at<'v>(value: &'v Value, path: &[&str]) -> Option<&'v str> {
    path.iter()
        .try_fold(value, |node, key| node.get(key))
        .and_then(Value::as_str)
}
