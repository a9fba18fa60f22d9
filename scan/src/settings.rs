//! The policy's settings, read from a YAML file as a `ClusterAdmissionPolicy`
//! carries them under `spec.settings`.

use std::path::Path;

use linkerd_ha_policy::settings::{RuleActions, Settings};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::input::position_as_line;

/// Why the settings file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{path}: {cause}")]
    Io { path: String, cause: std::io::Error },
    #[error("{path}: not a YAML document: {message}")]
    Yaml { path: String, message: String },
    #[error("{path}: expected one YAML document, found {count}")]
    Documents { path: String, count: usize },
}

/// The settings document; no file, an empty file or `null` mean `{}`, as
/// policy-server sends for a policy deployed without settings.
pub fn load(path: Option<&Path>) -> Result<Value, SettingsError> {
    let Some(path) = path else {
        return Ok(json!({}));
    };
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|cause| SettingsError::Io {
        path: name.clone(),
        cause,
    })?;
    let mut documents = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_str(&text) {
        let value = Value::deserialize(document).map_err(|error| SettingsError::Yaml {
            path: name.clone(),
            message: position_as_line(error.to_string(), &text, 0, 1),
        })?;
        documents.push(value);
    }
    match documents.len() {
        0 => Ok(json!({})),
        1 => Ok(match documents.swap_remove(0) {
            Value::Null => json!({}),
            settings => settings,
        }),
        count => Err(SettingsError::Documents { path: name, count }),
    }
}

/// Each rule's action under `settings`, as the policy reads them (the
/// module has accepted them by then; the defaults if this build of the
/// rules reads them differently).
pub fn rule_actions(settings: &Value) -> RuleActions {
    serde_json::to_vec(settings)
        .ok()
        .and_then(|bytes| Settings::from_json(&bytes).ok())
        .map(|settings| settings.rules)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The YAML parser's places are the file's lines and columns, even
    /// where libyaml counts bytes.
    #[test]
    fn a_settings_error_names_its_line_and_column() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("settings.yaml");
        std::fs::write(&path, "rules:\n  safeToEvict: \"x\u{1}\"\n").expect("written");
        let error = load(Some(&path)).expect_err("not YAML").to_string();
        assert_eq!(
            error,
            format!(
                "{}: not a YAML document: control characters are not allowed at line 2 column 18",
                path.display()
            )
        );
    }
}
