//! The answers a Kubewarden policy gives, as the SDK serializes them.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The answer to `validate`: Kubewarden's `ValidationResponse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub accepted: bool,
    /// Shown to the user when the request is rejected.
    pub message: Option<String>,
    /// The HTTP code shown with a rejection.
    pub code: Option<u16>,
    /// The whole object after mutation, for mutating policies.
    pub mutated_object: Option<Value>,
    pub warnings: Option<Vec<String>>,
    pub audit_annotations: Option<BTreeMap<String, String>>,
}

/// What a verdict amounts to for the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Accepted,
    Mutated,
    Rejected,
}

impl Verdict {
    pub fn outcome(&self) -> Outcome {
        match (self.accepted, &self.mutated_object) {
            (false, _) => Outcome::Rejected,
            (true, Some(_)) => Outcome::Mutated,
            (true, None) => Outcome::Accepted,
        }
    }

    /// The JSON patch from `original` to the mutated object, as policy-server
    /// computes it for the API server; `None` when the policy did not mutate.
    pub fn patch(&self, original: &Value) -> Option<json_patch::Patch> {
        self.mutated_object
            .as_ref()
            .map(|mutated| json_patch::diff(original, mutated))
    }

    /// The warnings, none being an empty list.
    pub fn warnings(&self) -> &[String] {
        self.warnings.as_deref().unwrap_or_default()
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Accepted => "ACCEPTED",
            Self::Mutated => "MUTATED",
            Self::Rejected => "REJECTED",
        })
    }
}

/// The answer to `validate_settings`: Kubewarden's `SettingsValidationResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsValidation {
    pub valid: bool,
    pub message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_the_sdk_wire_format() {
        let verdict: Verdict = serde_json::from_value(json!({
            "accepted": false,
            "message": "no",
            "code": 400,
            "mutated_object": null,
            "audit_annotations": null,
            "warnings": ["w"],
        }))
        .expect("decodes");
        assert_eq!(verdict.outcome(), Outcome::Rejected);
        assert_eq!(verdict.warnings(), ["w"]);
        assert_eq!(verdict.code, Some(400));

        // The SDK always writes every field, but absent optional fields mean none.
        let verdict: Verdict = serde_json::from_value(json!({"accepted": true})).expect("decodes");
        assert_eq!(verdict.outcome(), Outcome::Accepted);
        assert!(verdict.warnings().is_empty());
    }

    #[test]
    fn patch_diffs_original_and_mutated_object() {
        let original = json!({"spec": {"replicas": 1}});
        let verdict = Verdict {
            accepted: true,
            message: None,
            code: None,
            mutated_object: Some(json!({"spec": {"replicas": 3}})),
            warnings: None,
            audit_annotations: None,
        };
        assert_eq!(verdict.outcome(), Outcome::Mutated);
        let patch = verdict.patch(&original).expect("mutated");
        assert_eq!(
            serde_json::to_value(&patch).expect("serializes"),
            json!([{"op": "replace", "path": "/spec/replicas", "value": 3}])
        );

        let accepted = Verdict {
            mutated_object: None,
            ..verdict
        };
        assert_eq!(accepted.patch(&original), None);
    }
}
