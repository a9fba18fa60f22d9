//! Reading Kubernetes manifests: multi-document YAML as `kubectl apply -f` takes it.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::HarnessError;

/// The objects of a multi-document YAML stream, in order.
///
/// Empty documents and documents holding only comments (as in `linkerd
/// install` output) are skipped, and the items of a `kind: List` document are
/// taken one by one, as kubectl does.
pub fn load_yaml_documents(text: &str) -> Result<Vec<Value>, HarnessError> {
    let mut objects = Vec::new();
    for (index, document) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let value = Value::deserialize(document).map_err(|cause| HarnessError::Yaml {
            file: None,
            document: index + 1,
            cause,
        })?;
        match value {
            Value::Null => {}
            Value::Object(ref fields) if is_list(fields) => {
                if let Some(Value::Array(items)) = fields.get("items") {
                    objects.extend(items.iter().filter(|item| !item.is_null()).cloned());
                }
            }
            Value::Object(_) => objects.push(value),
            other => {
                return Err(HarnessError::NotAnObject {
                    file: None,
                    document: index + 1,
                    found: other,
                })
            }
        }
    }
    Ok(objects)
}

/// [`load_yaml_documents`] of the file at `path`.
pub fn load_yaml_file(path: &Path) -> Result<Vec<Value>, HarnessError> {
    let text = std::fs::read_to_string(path).map_err(|cause| HarnessError::Io {
        path: path.to_owned(),
        cause,
    })?;
    load_yaml_documents(&text).map_err(|error| error.in_file(path))
}

fn is_list(fields: &serde_json::Map<String, Value>) -> bool {
    fields.get("kind").and_then(Value::as_str) == Some("List")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use serde_json::json;

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
        assert!(matches!(
            error,
            HarnessError::NotAnObject { document: 2, .. }
        ));

        let error = load_yaml_documents("a: 1\n---\nb: [unclosed\n").expect_err("bad YAML");
        assert!(matches!(error, HarnessError::Yaml { document: 2, .. }));
    }

    #[test]
    fn missing_file_is_an_io_error_naming_it() {
        let error = load_yaml_file(Path::new("/nonexistent/x.yaml")).expect_err("missing");
        assert!(matches!(error, HarnessError::Io { .. }));
        assert!(error.to_string().contains("/nonexistent/x.yaml"));
    }
}
