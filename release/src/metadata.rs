//! The policy metadata, shaped like Kubewarden's
//! `policy_evaluator::policy_metadata::Metadata`: `kwctl annotate` embeds
//! that struct serialised with serde (camelCase) as JSON, and the policy
//! server reads it back with the same struct. Field order, the sorted
//! `contextAwareResources` set and the sorted annotation map follow it, so
//! the embedded JSON is what kwctl would write.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{ReleaseError, Result};
use crate::project::read_to_string;

pub const ANNOTATION_TITLE: &str = "io.kubewarden.policy.title";
pub const ANNOTATION_VERSION: &str = "io.kubewarden.policy.version";
pub const ANNOTATION_DESCRIPTION: &str = "io.kubewarden.policy.description";
pub const ANNOTATION_AUTHOR: &str = "io.kubewarden.policy.author";
pub const ANNOTATION_URL: &str = "io.kubewarden.policy.url";
pub const ANNOTATION_SOURCE: &str = "io.kubewarden.policy.source";
pub const ANNOTATION_LICENSE: &str = "io.kubewarden.policy.license";
pub const ANNOTATION_USAGE: &str = "io.kubewarden.policy.usage";
/// The artifact's repository without tag; `kwctl scaffold artifacthub`
/// builds the package's image reference from it and the version.
pub const ANNOTATION_OCI_URL: &str = "io.kubewarden.policy.ociUrl";
pub const ANNOTATION_DISPLAY_NAME: &str = "io.artifacthub.displayName";
pub const ANNOTATION_RESOURCES: &str = "io.artifacthub.resources";
pub const ANNOTATION_KEYWORDS: &str = "io.artifacthub.keywords";

/// Annotations a published policy must carry: Artifact Hub, the OCI
/// manifest and the policy server's UI read them.
const REQUIRED_ANNOTATIONS: &[&str] = &[
    ANNOTATION_TITLE,
    ANNOTATION_DESCRIPTION,
    ANNOTATION_AUTHOR,
    ANNOTATION_URL,
    ANNOTATION_OCI_URL,
    ANNOTATION_SOURCE,
    ANNOTATION_LICENSE,
    ANNOTATION_DISPLAY_NAME,
    ANNOTATION_RESOURCES,
    ANNOTATION_KEYWORDS,
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
// Unknown keys are rejected rather than silently dropped from the module:
// a typo in metadata.yml would otherwise ship a policy without that field.
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metadata {
    /// metadata.yml usually omits it; kwctl fills it from the module's own
    /// answer, which for policies built on the Rust SDK is `v1`.
    #[serde(default)]
    pub protocol_version: ProtocolVersion,
    pub rules: Vec<Rule>,
    #[serde(default)]
    pub annotations: Option<BTreeMap<String, String>>,
    pub mutating: bool,
    #[serde(default = "default_true")]
    pub background_audit: bool,
    #[serde(default)]
    pub execution_mode: ExecutionMode,
    #[serde(default)]
    pub policy_type: PolicyType,
    #[serde(default)]
    pub context_aware_resources: BTreeSet<ContextAwareResource>,
    /// Host calls the module makes (`namespace/operation`, Kubewarden
    /// 1.35+); the policy server denies any call not listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_capabilities: Option<BTreeSet<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_kubewarden_version: Option<String>,
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProtocolVersion {
    #[default]
    #[serde(rename = "v1")]
    V1,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rule {
    pub api_groups: Vec<String>,
    pub api_versions: Vec<String>,
    pub resources: Vec<String>,
    pub operations: Vec<Operation>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Operation {
    #[serde(rename = "CREATE")]
    Create,
    #[serde(rename = "UPDATE")]
    Update,
    #[serde(rename = "DELETE")]
    Delete,
    #[serde(rename = "CONNECT")]
    Connect,
    #[serde(rename = "*")]
    All,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContextAwareResource {
    pub api_version: String,
    pub kind: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExecutionMode {
    #[default]
    #[serde(rename = "kubewarden-wapc")]
    KubewardenWapc,
    #[serde(rename = "opa")]
    Opa,
    #[serde(rename = "gatekeeper")]
    Gatekeeper,
    #[serde(rename = "wasi")]
    Wasi,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum PolicyType {
    #[default]
    #[serde(rename = "kubernetes")]
    Kubernetes,
    #[serde(rename = "raw")]
    Raw,
}

impl Metadata {
    pub fn load(path: &Path) -> Result<Self> {
        Self::parse(&read_to_string(path)?, path)
    }

    /// Parses and validates metadata; `path` only names the source in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let metadata: Metadata =
            serde_yaml_ng::from_str(text).map_err(|source| ReleaseError::MetadataSyntax {
                path: path.to_path_buf(),
                source,
            })?;
        metadata.validate()?;
        Ok(metadata)
    }

    /// The checks kwctl and the policy server make before accepting
    /// metadata, plus the annotations a published package needs.
    pub fn validate(&self) -> Result<()> {
        let invalid = |reason: String| Err(ReleaseError::InvalidMetadata(reason));
        if self.policy_type == PolicyType::Kubernetes && self.rules.is_empty() {
            return invalid("a kubernetes policy needs at least one rule".into());
        }
        for (index, rule) in self.rules.iter().enumerate() {
            let empty = [
                ("apiVersions", rule.api_versions.is_empty()),
                ("resources", rule.resources.is_empty()),
                ("operations", rule.operations.is_empty()),
            ];
            if let Some((field, _)) = empty.iter().find(|(_, is_empty)| *is_empty) {
                return invalid(format!("rules[{index}].{field} is empty"));
            }
        }
        for key in REQUIRED_ANNOTATIONS {
            match self.annotation(key) {
                None => return invalid(format!("annotation {key} is missing")),
                Some(value) if value.trim().is_empty() => {
                    return invalid(format!("annotation {key} is empty"))
                }
                Some(_) => {}
            }
        }
        if let Some(author) = self.annotation(ANNOTATION_AUTHOR) {
            maintainers(author)?;
        }
        Ok(())
    }

    /// The declared host capabilities, empty when none are declared.
    pub fn host_capabilities(&self) -> BTreeSet<String> {
        self.host_capabilities.clone().unwrap_or_default()
    }

    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.as_ref()?.get(key).map(String::as_str)
    }

    /// What `annotate` embeds: metadata.yml plus the crate version and the
    /// usage text. A version written in metadata.yml must agree with
    /// Cargo.toml, so a bump cannot leave either one behind.
    pub fn for_release(mut self, version: &str, usage: &str) -> Result<Self> {
        if let Some(declared) = self.annotation(ANNOTATION_VERSION) {
            if declared != version {
                return Err(ReleaseError::VersionDrift {
                    metadata: declared.to_string(),
                    cargo: version.to_string(),
                });
            }
        }
        let annotations = self.annotations.get_or_insert_with(BTreeMap::new);
        annotations.insert(ANNOTATION_VERSION.into(), version.into());
        annotations.insert(ANNOTATION_USAGE.into(), usage.into());
        Ok(self)
    }

    /// The compact JSON kwctl writes into the custom section.
    pub fn to_json(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|source| ReleaseError::Json {
            what: "policy metadata",
            source,
        })
    }

    pub fn from_json(json: &[u8]) -> serde_json::Result<Self> {
        serde_json::from_slice(json)
    }
}

/// One maintainer, as Artifact Hub lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Maintainer {
    pub name: String,
    pub email: String,
}

/// Reads the author annotation: `Name <email>`, comma-separated, the form
/// `kwctl scaffold artifacthub` requires (an RFC 5322 address list).
pub fn maintainers(author: &str) -> Result<Vec<Maintainer>> {
    author
        .split(',')
        .map(str::trim)
        .map(|entry| {
            let invalid = || {
                ReleaseError::InvalidMetadata(format!(
                    "annotation {ANNOTATION_AUTHOR}: `{entry}` is not `Name <email>`"
                ))
            };
            let (name, rest) = entry.split_once('<').ok_or_else(invalid)?;
            let email = rest.strip_suffix('>').ok_or_else(invalid)?.trim();
            let name = name.trim();
            let well_formed = email
                .split_once('@')
                .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
            if name.is_empty() || !well_formed {
                return Err(invalid());
            }
            Ok(Maintainer {
                name: name.to_string(),
                email: email.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
rules:
  - apiGroups: [""]
    apiVersions: ["v1"]
    resources: ["pods"]
    operations: ["CREATE"]
mutating: false
contextAwareResources:
  - {apiVersion: v1, kind: Node}
  - {apiVersion: policy/v1, kind: PodDisruptionBudget}
annotations:
  io.kubewarden.policy.title: t
  io.kubewarden.policy.description: d
  io.kubewarden.policy.author: A <a@example.org>
  io.kubewarden.policy.url: u
  io.kubewarden.policy.ociUrl: o
  io.kubewarden.policy.source: s
  io.kubewarden.policy.license: l
  io.artifacthub.displayName: n
  io.artifacthub.resources: Pod
  io.artifacthub.keywords: k
"#;

    #[test]
    fn json_matches_kwctl_shape() -> Result<()> {
        let metadata =
            Metadata::parse(MINIMAL, Path::new("test.yml"))?.for_release("1.2.3", "# usage")?;
        let json: serde_json::Value =
            serde_json::from_slice(&metadata.to_json()?).map_err(|source| ReleaseError::Json {
                what: "test",
                source,
            })?;
        assert_eq!(json["protocolVersion"], "v1");
        assert_eq!(json["executionMode"], "kubewarden-wapc");
        assert_eq!(json["policyType"], "kubernetes");
        assert_eq!(json["backgroundAudit"], true);
        assert_eq!(json["rules"][0]["apiGroups"][0], "");
        // kwctl keeps these in a BTreeSet: sorted by apiVersion, then kind.
        assert_eq!(json["contextAwareResources"][0]["apiVersion"], "policy/v1");
        assert_eq!(json["annotations"][ANNOTATION_VERSION], "1.2.3");
        assert_eq!(json["annotations"][ANNOTATION_USAGE], "# usage");
        assert!(json.get("minimumKubewardenVersion").is_none());
        Ok(())
    }

    #[test]
    fn a_different_version_in_metadata_is_drift() -> Result<()> {
        let text = format!("{MINIMAL}  io.kubewarden.policy.version: 0.0.9\n");
        let error = Metadata::parse(&text, Path::new("test.yml"))?
            .for_release("0.1.0", "")
            .unwrap_err();
        assert!(error.to_string().contains("0.0.9"), "{error}");
        Ok(())
    }

    #[test]
    fn unknown_keys_and_missing_annotations_are_rejected() {
        let typo = MINIMAL.replace("mutating:", "mutate:");
        assert!(Metadata::parse(&typo, Path::new("test.yml")).is_err());
        let missing = MINIMAL.replace("  io.artifacthub.keywords: k\n", "");
        let error = Metadata::parse(&missing, Path::new("test.yml"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("io.artifacthub.keywords"), "{error}");
    }

    #[test]
    fn authors_are_name_and_email() {
        let listed = maintainers("Ann Example <ann@example.org>, Bo <bo@example.com>").unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[1].name, "Bo");
        assert_eq!(listed[1].email, "bo@example.com");
        for wrong in [
            "developers",
            "Ann <ann>",
            "<ann@example.org>",
            "Ann ann@example.org>",
        ] {
            assert!(maintainers(wrong).is_err(), "{wrong}");
        }
        let text = MINIMAL.replace("A <a@example.org>", "the developers");
        let error = Metadata::parse(&text, Path::new("test.yml")).unwrap_err();
        assert!(error.to_string().contains("Name <email>"), "{error}");
    }
}
