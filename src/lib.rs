//! linkerd-ha-policy: a Kubewarden policy that keeps workloads and Linkerd's
//! control plane within Linkerd's high-availability rules.
//!
//! Data path: waPC entry points (here) → [`settings`] → [`admission`] decodes
//! what the rules read ([`workload`] gives one view of every pod-creating
//! kind) → [`rules`] → [`verdict`] → [`mutation`] edits the request's JSON.
#![deny(unsafe_code)]

pub mod admission;
pub(crate) mod decode;
pub mod finding;
#[cfg(feature = "kubewarden")]
pub mod host;
pub mod injection;
pub mod json_path;
pub mod json_value;
pub mod lifecycle;
pub mod mutation;
pub mod objects;
pub mod phrasebook;
pub mod quantity;
pub mod rules;
pub mod selector;
pub mod settings;
pub mod verdict;
pub mod workload;

#[cfg(feature = "kubewarden")]
mod entry_points {
    use kubewarden_policy_sdk::settings::SettingsValidationResponse;
    use wapc_guest::prelude::*;

    use crate::settings::Settings;
    use crate::{admission, host};

    #[allow(unsafe_code)] // waPC requires this exported, unmangled symbol
    #[unsafe(no_mangle)]
    pub extern "C" fn wapc_init() {
        register_function("validate", validate);
        register_function("validate_settings", validate_settings);
        register_function(
            "protocol_version",
            kubewarden_policy_sdk::protocol_version_guest,
        );
    }

    fn validate(payload: &[u8]) -> CallResult {
        let response = admission::validate(payload, &host::KubewardenHost);
        Ok(serde_json::to_vec(&response)?)
    }

    fn validate_settings(payload: &[u8]) -> CallResult {
        Ok(serde_json::to_vec(&settings_verdict(payload))?)
    }

    /// Settings are judged here rather than by the SDK's helper so that a
    /// malformed document is a `valid: false` answer naming the field, not a
    /// guest error.
    pub fn settings_verdict(payload: &[u8]) -> SettingsValidationResponse {
        let checked = Settings::from_json(payload)
            .map_err(|error| error.to_string())
            .and_then(|settings| settings.check());
        SettingsValidationResponse {
            valid: checked.is_ok(),
            message: checked.err(),
        }
    }
}

#[cfg(feature = "kubewarden")]
pub use entry_points::settings_verdict;

/// The module has no environment. std's panic hook still asks libc's
/// `getenv` for `RUST_BACKTRACE`, and wasi-libc's `getenv` imports
/// `environ_get`, `environ_sizes_get` and `proc_exit` to set one up. This
/// one answers "not set", so none of them is imported.
#[cfg(all(target_arch = "wasm32", target_os = "wasi"))]
#[allow(unsafe_code)] // libc's symbol, so it must be unmangled
#[unsafe(no_mangle)]
pub extern "C" fn getenv(_name: *const core::ffi::c_char) -> *mut core::ffi::c_char {
    core::ptr::null_mut()
}
