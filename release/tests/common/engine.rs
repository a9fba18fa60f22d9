//! Shared by the tests on Kubewarden's own engine (kwctl and policy-server
//! 1.35): the binaries, the fixtures under test_data/kubewarden/, and the
//! AdmissionReviews and responses as the API server sends and reads them.

use std::path::PathBuf;
use std::sync::OnceLock;

use base64::Engine as _;
use policy_harness::admission_request;
use policy_release::engine::{policy_yaml_policies, Binaries};
use serde_json::{json, Value};

use super::project;

pub fn binaries() -> &'static Binaries {
    static FOUND: OnceLock<Binaries> = OnceLock::new();
    FOUND.get_or_init(|| Binaries::locate().unwrap_or_else(|error| panic!("{error}")))
}

pub fn fixture_path(relative: &str) -> PathBuf {
    project().root.join("test_data/kubewarden").join(relative)
}

/// The object in test_data/kubewarden/objects/NAME.yaml.
pub fn object(name: &str) -> Value {
    let path = fixture_path(&format!("objects/{name}.yaml"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// An admission.k8s.io/v1 AdmissionReview carrying `object`.
pub fn review(object: &Value, operation: &str) -> Value {
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": admission_request(object, operation),
    })
}

/// The settings of one of policy.yaml's ClusterAdmissionPolicies.
pub fn policy_yaml_settings(name: &str) -> Value {
    policy_yaml_policies(&project())
        .expect("policy.yaml")
        .into_iter()
        .find(|policy| policy["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("policy.yaml has no {name}"))["spec"]["settings"]
        .clone()
}

/// An AdmissionResponse, as the API server reads it.
#[derive(Debug, Clone)]
pub struct Answer {
    pub allowed: bool,
    pub message: String,
    pub code: Option<u64>,
    /// The decoded JSON patch.
    pub patch: Option<Value>,
    pub warnings: Vec<String>,
    pub raw: Value,
}

impl Answer {
    pub fn from_response(response: &Value) -> Answer {
        let patch = response["patch"].as_str().map(|encoded| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .expect("the patch is base64");
            serde_json::from_slice(&bytes).expect("the patch is JSON")
        });
        if patch.is_some() {
            assert_eq!(response["patchType"], "JSONPatch", "{response}");
        }
        Answer {
            allowed: response["allowed"].as_bool().expect("allowed"),
            message: response["status"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            code: response["status"]["code"].as_u64(),
            patch,
            warnings: response["warnings"]
                .as_array()
                .map(|list| {
                    list.iter()
                        .map(|w| w.as_str().unwrap_or_default().to_string())
                        .collect()
                })
                .unwrap_or_default(),
            raw: response.clone(),
        }
    }

    /// `object` with the patch applied.
    pub fn patched(&self, object: &Value) -> Value {
        let patch: json_patch::Patch =
            serde_json::from_value(self.patch.clone().expect("a patch")).expect("a JSON patch");
        let mut patched = object.clone();
        json_patch::patch(&mut patched, &patch.0).expect("the patch applies");
        patched
    }
}

/// What a case expects; texts are matched as substrings, so wording can
/// change without breaking the e2e suite.
#[derive(Debug, Clone)]
pub enum Expect {
    /// Allowed, no patch, no warning.
    Accepted,
    /// Denied with a message holding every text.
    Rejected(&'static [&'static str]),
    /// Allowed with exactly this JSON patch.
    Patched(Value),
    /// Allowed, no patch, a warning holding every text.
    Warned(&'static [&'static str]),
}

impl Expect {
    pub fn check(&self, answer: &Answer, what: &str) {
        let raw = &answer.raw;
        match self {
            Expect::Accepted => {
                assert!(answer.allowed, "{what}: denied: {raw}");
                assert_eq!(answer.patch, None, "{what}: patched: {raw}");
                assert!(answer.warnings.is_empty(), "{what}: warned: {raw}");
            }
            Expect::Rejected(texts) => {
                assert!(!answer.allowed, "{what}: allowed: {raw}");
                for text in *texts {
                    assert!(
                        answer.message.contains(text),
                        "{what}: no {text:?} in {raw}"
                    );
                }
            }
            Expect::Patched(ops) => {
                assert!(answer.allowed, "{what}: denied: {raw}");
                assert_eq!(answer.patch.as_ref(), Some(ops), "{what}: {raw}");
            }
            Expect::Warned(texts) => {
                assert!(answer.allowed, "{what}: denied: {raw}");
                assert_eq!(answer.patch, None, "{what}: patched: {raw}");
                for text in *texts {
                    assert!(
                        answer.warnings.iter().any(|w| w.contains(text)),
                        "{what}: no warning with {text:?}: {raw}"
                    );
                }
            }
        }
    }
}
