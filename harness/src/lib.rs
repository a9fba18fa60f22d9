//! A stand-in for Kubewarden's policy-server, for testing the
//! linkerd-ha-policy module end to end: it loads the compiled `.wasm` with
//! waPC on wasmtime, sends it AdmissionRequests built like the API server's,
//! and answers its Kubernetes lookups from an in-memory [`Cluster`].
//!
//! The cluster, the requests, the manifests and the selectors are
//! [`cluster_sim`]'s (shared with the browser playground, which has no place
//! for wasmtime); they are re-exported here under their old paths.
//!
//! ```no_run
//! use policy_harness::{admission_request, Cluster, PolicyModule};
//! use serde_json::json;
//!
//! let namespace = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "linkerd"}});
//! let cluster = Cluster::default().with_object(namespace);
//! let policy = PolicyModule::load("policy.wasm".as_ref(), cluster)?;
//! let deployment = json!({
//!     "apiVersion": "apps/v1",
//!     "kind": "Deployment",
//!     "metadata": {"name": "linkerd-destination", "namespace": "linkerd"},
//! });
//! let verdict = policy.validate(&admission_request(&deployment, "CREATE"), &json!({}))?;
//! println!("{verdict:?} after {:?}", policy.host_calls());
//! # Ok::<(), policy_harness::HarnessError>(())
//! ```

mod error;
mod guest_memory;
mod policy_module;
mod verdict;
pub mod wapc_host;
mod wasi;

pub use cluster_sim::{admission, cluster, manifests, selectors, simulation};
pub use cluster_sim::{
    admission_request, AdmissionRequestBuilder, Cluster, HostCall, HostCallError, ManifestError,
    ObjectKind,
};
pub use error::{GuestFailure, HarnessError};
pub use policy_module::{cluster_host_calls, LoadOptions, PolicyModule};
pub use verdict::{Outcome, SettingsValidation, Verdict};
