//! Reading manifests the way `kubectl apply -f` hands them to the API server,
//! and building the AdmissionRequest the API server sends for each object.
//!
//! This mirrors `policy-harness` (`manifests.rs`, `admission.rs` and the CLI's
//! namespace defaulting) rather than depending on it: the harness embeds
//! wasmtime, which has no place in a browser. `tests/parity.rs` holds the two
//! to the same verdicts.

use serde::Deserialize;
use serde_json::{json, Map, Value};

/// Which input box a document came from, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Manifest,
    Cluster,
    Settings,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Manifest => "manifest",
            Self::Cluster => "cluster objects",
            Self::Settings => "settings",
        })
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ManifestError {
    #[error("{source_box}: document {document} is not valid YAML: {message}")]
    Yaml {
        source_box: Source,
        document: usize,
        message: String,
    },
    #[error("{source_box}: document {document} is {found}, not a Kubernetes object (a map)")]
    NotAnObject {
        source_box: Source,
        document: usize,
        found: &'static str,
    },
    #[error("{source_box}: document {document} has no `kind`")]
    NoKind { source_box: Source, document: usize },
}

/// One object of a manifest and the YAML document (1-based) it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestObject {
    pub document: usize,
    pub object: Value,
}

impl ManifestObject {
    pub fn kind(&self) -> &str {
        str_at(&self.object, &["kind"]).unwrap_or_default()
    }
}

/// The objects of a multi-document YAML stream, in order.
///
/// As kubectl (and the harness) do: empty and comment-only documents are
/// skipped and the items of a `kind: List` are taken one by one. Every object
/// must have a `kind`; namespaced objects without a namespace get
/// `default_namespace`, as the API server fills in the request's namespace.
pub fn load_objects(
    text: &str,
    source_box: Source,
    default_namespace: &str,
) -> Result<Vec<ManifestObject>, ManifestError> {
    let mut objects = Vec::new();
    for (index, document) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let document_number = index + 1;
        let value = Value::deserialize(document).map_err(|error| ManifestError::Yaml {
            source_box,
            document: document_number,
            message: error.to_string(),
        })?;
        let mut found = Vec::new();
        match value {
            Value::Null => {}
            Value::Object(ref fields) if is_list(fields) => {
                if let Some(Value::Array(items)) = fields.get("items") {
                    found.extend(items.iter().filter(|item| !item.is_null()).cloned());
                }
            }
            Value::Object(_) => found.push(value),
            other => {
                return Err(ManifestError::NotAnObject {
                    source_box,
                    document: document_number,
                    found: type_name(&other),
                })
            }
        }
        for mut object in found {
            let Some(kind) = str_at(&object, &["kind"]) else {
                return Err(ManifestError::NoKind {
                    source_box,
                    document: document_number,
                });
            };
            if is_namespaced_kind(kind) {
                default_namespace_of(&mut object, default_namespace);
            }
            objects.push(ManifestObject {
                document: document_number,
                object,
            });
        }
    }
    Ok(objects)
}

fn is_list(fields: &Map<String, Value>) -> bool {
    fields.get("kind").and_then(Value::as_str) == Some("List")
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "empty",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

/// Puts `namespace` in the object's metadata unless it has one: the API
/// server sends the object with the request's namespace filled in.
fn default_namespace_of(object: &mut Value, namespace: &str) {
    let Some(fields) = object.as_object_mut() else {
        return;
    };
    let metadata = fields.entry("metadata").or_insert_with(|| json!({}));
    if let Some(metadata) = metadata.as_object_mut() {
        metadata
            .entry("namespace")
            .or_insert_with(|| namespace.into());
    }
}

/// Built-in kinds that are cluster-scoped: requests about them carry no
/// namespace. The same list as policy-harness.
const CLUSTER_SCOPED_KINDS: &[&str] = &[
    "APIService",
    "CertificateSigningRequest",
    "ClusterRole",
    "ClusterRoleBinding",
    "CSIDriver",
    "CSINode",
    "CustomResourceDefinition",
    "IngressClass",
    "MutatingWebhookConfiguration",
    "Namespace",
    "Node",
    "PersistentVolume",
    "PriorityClass",
    "RuntimeClass",
    "StorageClass",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "ValidatingWebhookConfiguration",
    "VolumeAttachment",
];

pub fn is_namespaced_kind(kind: &str) -> bool {
    !CLUSTER_SCOPED_KINDS.contains(&kind)
}

/// The string at `path` in `value`, if every step exists and the leaf is a string.
pub fn str_at<'v>(value: &'v Value, path: &[&str]) -> Option<&'v str> {
    path.iter()
        .try_fold(value, |node, key| node.get(key))
        .and_then(Value::as_str)
}

/// The AdmissionRequest the API server sends for a CREATE of `object`.
///
/// Only what the policy reads is filled in faithfully (kind split from
/// `apiVersion`, namespace, operation, object); the rest (`resource`, `uid`,
/// `userInfo`) is there so the request has the shape a webhook receives.
pub fn create_request(object: &Value) -> Value {
    let api_version = str_at(object, &["apiVersion"]).unwrap_or_default();
    let kind = str_at(object, &["kind"]).unwrap_or_default();
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let group_version_kind = json!({"group": group, "version": version, "kind": kind});
    let group_version_resource =
        json!({"group": group, "version": version, "resource": resource_for_kind(kind)});
    let mut request = Map::new();
    request.insert("uid".into(), "705ab4f5-6393-11e8-b7cc-42010a800002".into());
    request.insert("kind".into(), group_version_kind.clone());
    request.insert("resource".into(), group_version_resource.clone());
    request.insert("requestKind".into(), group_version_kind);
    request.insert("requestResource".into(), group_version_resource);
    if let Some(name) = str_at(object, &["metadata", "name"]) {
        request.insert("name".into(), name.into());
    }
    if is_namespaced_kind(kind) {
        if let Some(namespace) = str_at(object, &["metadata", "namespace"]) {
            request.insert("namespace".into(), namespace.into());
        }
    }
    request.insert("operation".into(), "CREATE".into());
    request.insert(
        "userInfo".into(),
        json!({"username": "kubernetes-admin", "groups": ["system:masters", "system:authenticated"]}),
    );
    request.insert("object".into(), object.clone());
    request.insert("dryRun".into(), false.into());
    request.insert("options".into(), json!({}));
    Value::Object(request)
}

/// apimachinery's plural guess (`UnsafeGuessKindToResource`).
fn resource_for_kind(kind: &str) -> String {
    let lower = kind.to_lowercase();
    if lower == "endpoints" {
        lower
    } else if lower.ends_with('s') {
        format!("{lower}es")
    } else if let Some(stem) = lower.strip_suffix('y') {
        format!("{stem}ies")
    } else {
        format!("{lower}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_empty_documents_expands_lists_and_defaults_namespaces() {
        let text = "\
# a comment before the first separator starts no document
---
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Namespace, metadata: {name: a}}
- {apiVersion: apps/v1, kind: Deployment, metadata: {name: d}}
---
---
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: x}
";
        let objects = load_objects(text, Source::Manifest, "default").expect("loads");
        let summary: Vec<_> = objects
            .iter()
            .map(|o| {
                (
                    o.document,
                    o.kind(),
                    str_at(&o.object, &["metadata", "namespace"]),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (1, "Namespace", None),
                (1, "Deployment", Some("default")),
                (3, "Pod", Some("x")),
            ]
        );
    }

    #[test]
    fn names_the_bad_document() {
        assert_eq!(
            load_objects("a: 1\nkind: X\n---\n- a list\n", Source::Cluster, "default"),
            Err(ManifestError::NotAnObject {
                source_box: Source::Cluster,
                document: 2,
                found: "a list"
            })
        );
        assert_eq!(
            load_objects("kind: X\n---\nmetadata: {}\n", Source::Manifest, "default"),
            Err(ManifestError::NoKind {
                source_box: Source::Manifest,
                document: 2
            })
        );
        let error =
            load_objects("kind: [unclosed\n", Source::Manifest, "default").expect_err("bad YAML");
        assert!(
            error
                .to_string()
                .starts_with("manifest: document 1 is not valid YAML: "),
            "{error}"
        );
    }

    #[test]
    fn create_request_mirrors_the_api_server() {
        let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment",
                                "metadata": {"name": "web", "namespace": "shop"}});
        let request = create_request(&deployment);
        assert_eq!(
            request["kind"],
            json!({"group": "apps", "version": "v1", "kind": "Deployment"})
        );
        assert_eq!(request["resource"]["resource"], "deployments");
        assert_eq!(request["namespace"], "shop");
        assert_eq!(request["operation"], "CREATE");
        assert_eq!(request["object"], deployment);

        let namespace = json!({"apiVersion": "v1", "kind": "Namespace",
                               "metadata": {"name": "shop", "namespace": "stray"}});
        let request = create_request(&namespace);
        assert_eq!(request["kind"]["group"], "");
        assert!(request.get("namespace").is_none());
        assert_eq!(resource_for_kind("Prometheus"), "prometheuses");
        assert_eq!(resource_for_kind("NetworkPolicy"), "networkpolicies");
    }
}
