//! The floor of the benchmarks: the least a Kubewarden policy built with the
//! Rust SDK can do. It decodes the validation payload the way the SDK's
//! template does (`ValidationRequest`, the object as a `serde_json::Value`)
//! and accepts. Anything a real policy does costs on top of this.
//!
//! With `{"mutate": true}` it is the floor of a mutating policy: it adds one
//! annotation to the decoded object and returns it (`mutate_request`), so
//! the engine reads the object back and diffs it into a JSON patch, the
//! part of a mutation no policy can avoid.
//!
//! Built with the workspace's release profile, like linkerd-ha-policy:
//! `cargo build --release --target wasm32-wasip1 -p floor-policy`.
#![deny(unsafe_code)]

use kubewarden_policy_sdk::request::ValidationRequest;
use kubewarden_policy_sdk::settings::Validatable;
use serde::Deserialize;

/// Decoded like a real policy's settings, unknown fields ignored.
#[derive(Debug, Default, Deserialize)]
pub struct Settings {
    /// Add an annotation and return the object, as a mutating policy does.
    #[serde(default)]
    pub mutate: bool,
}

/// The annotation the mutating floor adds.
pub const MUTATED_ANNOTATION: &str = "floor-policy/mutated";

impl Validatable for Settings {
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}

/// Decodes `payload` as the SDK does, then accepts.
pub fn validate(payload: &[u8]) -> wapc_guest::CallResult {
    let request = ValidationRequest::<Settings>::new(payload)?;
    if !request.settings.mutate {
        return kubewarden_policy_sdk::accept_request();
    }
    let mut object = request.request.object;
    let annotations = object
        .get_mut("metadata")
        .and_then(serde_json::Value::as_object_mut)
        .map(|metadata| {
            metadata
                .entry("annotations")
                .or_insert_with(|| serde_json::json!({}))
        })
        .and_then(serde_json::Value::as_object_mut);
    match annotations {
        Some(annotations) => {
            annotations.insert(MUTATED_ANNOTATION.to_string(), "true".into());
            kubewarden_policy_sdk::mutate_request(object)
        }
        None => kubewarden_policy_sdk::accept_request(),
    }
}

#[cfg(target_arch = "wasm32")]
mod entry_points {
    use wapc_guest::prelude::*;

    #[allow(unsafe_code)] // waPC requires this exported, unmangled symbol
    #[unsafe(no_mangle)]
    pub extern "C" fn wapc_init() {
        register_function("validate", super::validate);
        register_function(
            "validate_settings",
            kubewarden_policy_sdk::validate_settings::<super::Settings>,
        );
        register_function(
            "protocol_version",
            kubewarden_policy_sdk::protocol_version_guest,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_whatever_it_can_decode() {
        let payload = br#"{"settings": {}, "request": {"uid": "1", "kind": {"group": "", "version": "v1", "kind": "Pod"}, "operation": "CREATE", "object": {"metadata": {"name": "p"}}}}"#;
        let answer: serde_json::Value =
            serde_json::from_slice(&validate(payload).expect("accepted")).expect("JSON");
        assert_eq!(answer["accepted"], true);
    }

    #[test]
    fn the_mutating_floor_adds_one_annotation() {
        let payload = br#"{"settings": {"mutate": true}, "request": {"uid": "1", "kind": {"group": "", "version": "v1", "kind": "Pod"}, "operation": "CREATE", "object": {"metadata": {"name": "p"}}}}"#;
        let answer: serde_json::Value =
            serde_json::from_slice(&validate(payload).expect("accepted")).expect("JSON");
        assert_eq!(answer["accepted"], true);
        assert_eq!(
            answer["mutated_object"]["metadata"]["annotations"][MUTATED_ANNOTATION],
            "true"
        );
    }

    #[test]
    fn refuses_what_is_not_a_payload() {
        assert!(validate(b"{").is_err());
    }
}
