//! `linkerd-ha-scan`: the linkerd-ha-policy module run over manifests the
//! way a cluster would receive them, for CI.
//!
//! The path of the data: [`input`] reads the manifests (files, folders,
//! standard input; documents with their bytes and lines) → [`scan`] sends
//! each object, in order, as `kubectl apply` has the API server send it,
//! to the module on wasmtime (policy-harness), against a cluster that grows
//! as objects are admitted → [`gate`] turns the verdicts into an exit
//! status → [`output`] writes them for people or CI tools, or [`fix`]
//! writes the manifests with the policy's mutations applied.

pub mod fix;
pub mod gate;
pub mod input;
pub mod output;
pub mod rules;
pub mod scan;
pub mod settings;
