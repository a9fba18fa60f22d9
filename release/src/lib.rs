//! Release tooling for the linkerd-ha-policy Kubewarden policy: what `kwctl
//! annotate`, `kwctl push` and `kwctl scaffold artifacthub` do, cosign's
//! key-based signing and verification, and the SPDX SBOM of the module, as a
//! library (used by the tests) and the `policy-release` command.

pub mod annotate;
pub mod artifacthub;
pub mod engine;
pub mod error;
pub mod keys;
pub mod metadata;
pub mod oci;
pub mod project;
pub mod sbom;
pub mod signing;
pub mod size;
pub mod wasm;

pub use error::{ReleaseError, Result};
pub use project::Project;
