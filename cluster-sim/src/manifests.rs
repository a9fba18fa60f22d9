//! Reading Kubernetes manifests: multi-document YAML as `kubectl apply -f`
//! takes it, and the objects as the API server receives them.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::admission::is_namespaced_kind;
use crate::str_at;

/// Why a manifest could not be read. Messages name the document (1-based)
/// and, for files, the file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read {}: {message}", path.display())]
    Io { path: PathBuf, message: String },
    #[error("{}document {document} {problem}", file_prefix(file.as_deref()))]
    Document {
        file: Option<PathBuf>,
        /// 1-based position of the document in the stream.
        document: usize,
        problem: DocumentProblem,
    },
}

/// What is wrong with one document of a manifest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentProblem {
    #[error("is not valid YAML: {0}")]
    Yaml(String),
    #[error("is {0}, not a Kubernetes object (a map)")]
    NotAnObject(&'static str),
    #[error("has no `kind`")]
    NoKind,
}

impl ManifestError {
    /// The document the error is about, if it is about one.
    pub fn document(&self) -> Option<usize> {
        match self {
            Self::Io { .. } => None,
            Self::Document { document, .. } => Some(*document),
        }
    }

    /// Names `path` as the file the error comes from.
    fn in_file(self, path: &Path) -> Self {
        match self {
            Self::Document {
                document, problem, ..
            } => Self::Document {
                file: Some(path.to_owned()),
                document,
                problem,
            },
            io @ Self::Io { .. } => io,
        }
    }
}

fn file_prefix(file: Option<&Path>) -> String {
    file.map(|file| format!("{}: ", file.display()))
        .unwrap_or_default()
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

/// The objects of a multi-document YAML stream, in order, with the
/// document each came from.
///
/// Empty documents and documents holding only comments (as in `linkerd
/// install` output) are skipped, and the items of a `kind: List` document are
/// taken one by one, as kubectl does. Objects are returned as written; see
/// [`load_objects`] for what the API server makes of them.
pub fn read_documents(text: &str) -> Result<Vec<ManifestObject>, ManifestError> {
    let mut objects = Vec::new();
    for (index, document) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let document_number = index + 1;
        let problem = |problem| ManifestError::Document {
            file: None,
            document: document_number,
            problem,
        };
        let value = Value::deserialize(document)
            .map_err(|error| problem(DocumentProblem::Yaml(error.to_string())))?;
        let mut push = |object| {
            objects.push(ManifestObject {
                document: document_number,
                object,
            })
        };
        match value {
            Value::Null => {}
            Value::Object(ref fields) if is_list(fields) => {
                if let Some(Value::Array(items)) = fields.get("items") {
                    items
                        .iter()
                        .filter(|item| !item.is_null())
                        .cloned()
                        .for_each(&mut push);
                }
            }
            Value::Object(_) => push(value),
            other => return Err(problem(DocumentProblem::NotAnObject(type_name(&other)))),
        }
    }
    Ok(objects)
}

/// The objects of a multi-document YAML stream, in order (see
/// [`read_documents`]).
pub fn load_yaml_documents(text: &str) -> Result<Vec<Value>, ManifestError> {
    Ok(read_documents(text)?
        .into_iter()
        .map(|object| object.object)
        .collect())
}

/// [`load_yaml_documents`] of the file at `path`.
pub fn load_yaml_file(path: &Path) -> Result<Vec<Value>, ManifestError> {
    load_yaml_documents(&read_file(path)?).map_err(|error| error.in_file(path))
}

/// The objects of a manifest as the API server receives them from `kubectl
/// apply -f`: every object must have a `kind`, and namespaced objects
/// without a namespace get `default_namespace` (the request's namespace,
/// which the API server fills into the object).
pub fn load_objects(
    text: &str,
    default_namespace: &str,
) -> Result<Vec<ManifestObject>, ManifestError> {
    let mut objects = read_documents(text)?;
    for object in &mut objects {
        let Some(kind) = str_at(&object.object, &["kind"]) else {
            return Err(ManifestError::Document {
                file: None,
                document: object.document,
                problem: DocumentProblem::NoKind,
            });
        };
        if is_namespaced_kind(kind) {
            default_namespace_of(&mut object.object, default_namespace);
        }
    }
    Ok(objects)
}

/// [`load_objects`] of the file at `path`.
pub fn load_file_objects(
    path: &Path,
    default_namespace: &str,
) -> Result<Vec<ManifestObject>, ManifestError> {
    load_objects(&read_file(path)?, default_namespace).map_err(|error| error.in_file(path))
}

/// Puts `namespace` in the object's metadata unless it has one.
pub fn default_namespace_of(object: &mut Value, namespace: &str) {
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

fn read_file(path: &Path) -> Result<String, ManifestError> {
    std::fs::read_to_string(path).map_err(|cause| ManifestError::Io {
        path: path.to_owned(),
        message: cause.to_string(),
    })
}

fn is_list(fields: &Map<String, Value>) -> bool {
    fields.get("kind").and_then(Value::as_str) == Some("List")
}

/// What a JSON value is, for messages: `a string`, `a list`, `empty`...
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "empty",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    use rstest::rstest;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/fixtures/linkerd")
            .join(name)
    }

    #[test]
    fn loads_every_object_of_linkerd_install_ha() {
        let objects = load_yaml_file(&fixture("install_ha_output.golden")).expect("fixture loads");
        let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
        for object in &objects {
            let kind = object["kind"].as_str().expect("every object has a kind");
            *kinds.entry(kind).or_default() += 1;
        }
        // Counted independently with `grep -c '^kind:'` on the fixture.
        let expected = BTreeMap::from([
            ("ClusterRole", 5),
            ("ClusterRoleBinding", 5),
            ("ConfigMap", 2),
            ("CronJob", 1),
            ("Deployment", 3),
            ("MutatingWebhookConfiguration", 1),
            ("Namespace", 1),
            ("PodDisruptionBudget", 3),
            ("Role", 3),
            ("RoleBinding", 2),
            ("Secret", 2),
            ("Service", 8),
            ("ServiceAccount", 4),
            ("ValidatingWebhookConfiguration", 2),
        ]);
        assert_eq!(kinds, expected);
        assert_eq!(objects.len(), 42);
        assert_eq!(objects[0]["metadata"]["name"], "linkerd");
        assert_eq!(
            objects[0]["metadata"]["annotations"]["linkerd.io/inject"],
            "disabled"
        );
    }

    #[test]
    fn skips_empty_and_comment_only_documents() {
        let text = "\
---
###
### Linkerd Namespace
###
kind: Namespace
apiVersion: v1
metadata:
  name: linkerd
---
# only a comment
---
---
###
### Another banner
###
---
kind: Node
apiVersion: v1
metadata:
  name: n
";
        let objects = load_yaml_documents(text).expect("loads");
        assert_eq!(
            objects,
            [
                json!({"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "linkerd"}}),
                json!({"kind": "Node", "apiVersion": "v1", "metadata": {"name": "n"}}),
            ]
        );
        assert_eq!(load_yaml_documents("").expect("empty"), Vec::<Value>::new());
        assert_eq!(
            load_yaml_documents("# nothing\n").expect("comment"),
            Vec::<Value>::new()
        );
    }

    #[test]
    fn expands_lists() {
        let text = "\
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Namespace, metadata: {name: a}}
- {apiVersion: v1, kind: Namespace, metadata: {name: b}}
";
        let objects = load_yaml_documents(text).expect("loads");
        assert_eq!(objects.len(), 2);
        assert_eq!(objects[1]["metadata"]["name"], "b");
    }

    #[test]
    fn keeps_yaml_types() {
        let objects =
            load_yaml_documents("a: 1\nb: \"1\"\nc: true\nd: 1.5\ne: null\n").expect("loads");
        assert_eq!(
            objects,
            [json!({"a": 1, "b": "1", "c": true, "d": 1.5, "e": null})]
        );
    }

    #[test]
    fn reports_bad_documents_by_position() {
        let error = load_yaml_documents("a: 1\n---\n- just\n- a list\n").expect_err("a list");
        assert_eq!(
            error,
            ManifestError::Document {
                file: None,
                document: 2,
                problem: DocumentProblem::NotAnObject("a list"),
            }
        );
        assert_eq!(
            error.to_string(),
            "document 2 is a list, not a Kubernetes object (a map)"
        );

        let error = load_yaml_documents("a: 1\n---\nb: [unclosed\n").expect_err("bad YAML");
        assert!(matches!(
            error,
            ManifestError::Document {
                document: 2,
                problem: DocumentProblem::Yaml(_),
                ..
            }
        ));
        assert!(
            error
                .to_string()
                .starts_with("document 2 is not valid YAML: "),
            "{error}"
        );
    }

    #[test]
    fn missing_file_is_an_io_error_naming_it() {
        let error = load_yaml_file(Path::new("/nonexistent/x.yaml")).expect_err("missing");
        assert!(matches!(error, ManifestError::Io { .. }));
        assert!(error.to_string().contains("/nonexistent/x.yaml"));
    }

    #[test]
    fn errors_in_a_file_name_it() {
        let path = std::env::temp_dir().join(format!("cluster-sim-{}.yaml", std::process::id()));
        std::fs::write(&path, "kind: X\n---\nmetadata: {}\n").expect("writes");
        let error = load_file_objects(&path, "default").expect_err("no kind");
        std::fs::remove_file(&path).ok();
        assert_eq!(error.document(), Some(2));
        assert_eq!(
            error.to_string(),
            format!("{}: document 2 has no `kind`", path.display())
        );
    }

    #[test]
    fn objects_as_applied_get_the_default_namespace_and_keep_their_document() {
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
---
apiVersion: v1
kind: Pod
";
        let objects = load_objects(text, "default").expect("loads");
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
                (4, "Pod", Some("default")),
            ]
        );
    }

    #[test]
    fn objects_as_applied_need_a_kind() {
        assert_eq!(
            load_objects("kind: X\n---\nmetadata: {}\n", "default"),
            Err(ManifestError::Document {
                file: None,
                document: 2,
                problem: DocumentProblem::NoKind,
            })
        );
        // Raw reading does not judge the objects.
        assert_eq!(
            load_yaml_documents("metadata: {}\n").expect("raw"),
            [json!({"metadata": {}})]
        );
    }

    #[rstest]
    #[case::missing(json!({"kind": "Deployment", "metadata": {"name": "d"}}), "default")]
    #[case::kept(json!({"kind": "Deployment", "metadata": {"name": "d", "namespace": "x"}}), "x")]
    #[case::no_metadata(json!({"kind": "Pod"}), "default")]
    fn default_namespace_fills_only_a_missing_one(
        #[case] mut object: Value,
        #[case] expected: &str,
    ) {
        default_namespace_of(&mut object, "default");
        assert_eq!(object["metadata"]["namespace"], expected);
    }
}
