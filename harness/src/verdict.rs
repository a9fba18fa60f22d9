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

/// The audit annotation in which the policy names the rules behind a
/// mutation: their `settings.rules` names, comma-separated, in the policy's
/// order. Each rule's own key (its name) holds what it fixed, one line per
/// fix (`[rule] Kind ns/name: problem. Fix: fix`).
pub const MUTATED_BY: &str = "mutated-by";

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

    /// The rules the answer's audit annotations name as the makers of its
    /// mutation ([`MUTATED_BY`]), in their order, each with the lines its
    /// own key holds (none when it has no key). Empty when the answer names
    /// no rule: it does not mutate, or comes from a module older than the
    /// annotation.
    pub fn mutated_by(&self) -> Vec<(String, Vec<String>)> {
        let Some(annotations) = &self.audit_annotations else {
            return Vec::new();
        };
        let Some(rules) = annotations.get(MUTATED_BY) else {
            return Vec::new();
        };
        let mut named: Vec<(String, Vec<String>)> = Vec::new();
        for rule in rules.split(',').map(str::trim).filter(|r| !r.is_empty()) {
            if named.iter().any(|(seen, _)| seen == rule) {
                continue;
            }
            let lines = annotations
                .get(rule)
                .map(|text| text.lines().map(str::to_owned).collect())
                .unwrap_or_default();
            named.push((rule.to_owned(), lines));
        }
        named
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

    /// The module's answer to a mutation (src/verdict.rs,
    /// `mutation_annotations`), and answers that name no rule.
    #[test]
    fn mutated_by_reads_the_rules_the_answer_names() {
        // (the audit annotations, the rules read from them with their lines)
        type Case<'a> = (Option<Value>, Vec<(&'a str, Vec<&'a str>)>);
        let cases: [Case; 4] = [
            (
                Some(json!({
                    "mutated-by": "safeToEvict,proxyResources",
                    "proxyResources": "[proxyResources] Deployment app/web: no cpu. Fix: add it",
                    "safeToEvict": "[safeToEvict] Deployment app/web: a. Fix: b\n[safeToEvict] Deployment app/web: c. Fix: d"
                })),
                vec![
                    (
                        "safeToEvict",
                        vec![
                            "[safeToEvict] Deployment app/web: a. Fix: b",
                            "[safeToEvict] Deployment app/web: c. Fix: d",
                        ],
                    ),
                    (
                        "proxyResources",
                        vec!["[proxyResources] Deployment app/web: no cpu. Fix: add it"],
                    ),
                ],
            ),
            // Named twice, and without its own key.
            (
                Some(json!({"mutated-by": "safeToEvict, safeToEvict"})),
                vec![("safeToEvict", vec![])],
            ),
            // A rule's key alone names nothing.
            (Some(json!({"safeToEvict": "[safeToEvict] x"})), vec![]),
            (None, vec![]),
        ];
        for (annotations, expected) in cases {
            let verdict: Verdict = serde_json::from_value(json!({
                "accepted": true,
                "mutated_object": {},
                "audit_annotations": annotations,
            }))
            .expect("decodes");
            let expected: Vec<(String, Vec<String>)> = expected
                .into_iter()
                .map(|(rule, lines)| {
                    (
                        rule.to_owned(),
                        lines.into_iter().map(str::to_owned).collect(),
                    )
                })
                .collect();
            assert_eq!(verdict.mutated_by(), expected, "{annotations:?}");
        }
    }
}
