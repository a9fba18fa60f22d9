//! The floor of the benchmarks: the least a Kubewarden policy built with the
//! Rust SDK can do. It decodes the validation payload the way the SDK's
//! template does (`ValidationRequest`, the object as a `serde_json::Value`)
//! and accepts. Anything a real policy does costs on top of this.
//!
//! Built with the workspace's release profile, like linkerd-ha-policy:
//! `cargo build --release --target wasm32-wasip1 -p floor-policy`.
#![deny(unsafe_code)]

use kubewarden_policy_sdk::request::ValidationRequest;
use kubewarden_policy_sdk::settings::Validatable;
use serde::Deserialize;

/// No settings, but decoded like a real policy's, unknown fields ignored.
#[derive(Debug, Default, Deserialize)]
pub struct Settings {}

impl Validatable for Settings {
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}

/// Decodes `payload` as the SDK does, then accepts.
pub fn validate(payload: &[u8]) -> wapc_guest::CallResult {
    let _request = ValidationRequest::<Settings>::new(payload)?;
    kubewarden_policy_sdk::accept_request()
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
    fn refuses_what_is_not_a_payload() {
        assert!(validate(b"{").is_err());
    }
}
