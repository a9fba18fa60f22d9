//! Mutations as edits of the request's own JSON: every field the policy does
//! not own, known to this crate's Kubernetes version or not, stays as it was.

use serde_json::{Map, Value};

/// One change to the object, addressed by a path of object keys and array
/// indices from the object's root.
#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    /// Sets `key` in the JSON object at `path`, creating missing objects on
    /// the way (a `null` counts as missing).
    Insert {
        path: Vec<String>,
        key: String,
        value: Value,
    },
    /// Appends `value` to the array at `path`, creating it when missing.
    Append { path: Vec<String>, value: Value },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot edit the object at /{path}: {reason}")]
pub struct EditError {
    pub path: String,
    pub reason: &'static str,
}

impl Edit {
    pub fn insert(path: Vec<String>, key: impl Into<String>, value: impl Into<Value>) -> Self {
        Self::Insert {
            path,
            key: key.into(),
            value: value.into(),
        }
    }

    pub fn append(path: Vec<String>, value: Value) -> Self {
        Self::Append { path, value }
    }

    pub fn apply(&self, object: &mut Value) -> Result<(), EditError> {
        match self {
            Self::Insert { path, key, value } => {
                let target = walk(object, path)?;
                as_object(target, path)?.insert(key.clone(), value.clone());
            }
            Self::Append { path, value } => {
                let target = walk(object, path)?;
                if target.is_null() {
                    *target = Value::Array(Vec::new());
                }
                match target {
                    Value::Array(items) => items.push(value.clone()),
                    _ => return Err(error(path, path.len(), "not a list")),
                }
            }
        }
        Ok(())
    }
}

/// Applies every edit in order.
pub fn apply_all(object: &mut Value, edits: &[Edit]) -> Result<(), EditError> {
    edits.iter().try_for_each(|edit| edit.apply(object))
}

/// Follows `path`, creating objects for missing keys.
fn walk<'v>(mut node: &'v mut Value, path: &[String]) -> Result<&'v mut Value, EditError> {
    for (depth, segment) in path.iter().enumerate() {
        node = match node {
            Value::Array(items) => match segment.parse::<usize>() {
                Ok(index) => items
                    .get_mut(index)
                    .ok_or_else(|| error(path, depth + 1, "no such list item"))?,
                // A list where Kubernetes has a map.
                Err(_) => return Err(error(path, depth, "not an object")),
            },
            other => as_object(other, &path[..depth])?
                .entry(segment.clone())
                .or_insert(Value::Null),
        };
    }
    Ok(node)
}

fn as_object<'v>(
    node: &'v mut Value,
    path: &[String],
) -> Result<&'v mut Map<String, Value>, EditError> {
    if node.is_null() {
        *node = Value::Object(Map::new());
    }
    match node {
        Value::Object(map) => Ok(map),
        _ => Err(error(path, path.len(), "not an object")),
    }
}

fn error(path: &[String], depth: usize, reason: &'static str) -> EditError {
    EditError {
        path: path[..depth.min(path.len())].join("/"),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn path(segments: &[&str]) -> Vec<String> {
        segments.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn insert_creates_missing_maps_and_keeps_other_fields() {
        let mut object = json!({"metadata": {"name": "a", "futureField": {"x": 1}}, "spec": {}});
        Edit::insert(path(&["metadata", "annotations"]), "k", "v")
            .apply(&mut object)
            .unwrap();
        assert_eq!(
            object,
            json!({"metadata": {"name": "a", "futureField": {"x": 1}, "annotations": {"k": "v"}}, "spec": {}})
        );
    }

    #[test]
    fn insert_replaces_null_maps() {
        let mut object = json!({"metadata": {"annotations": null}});
        Edit::insert(path(&["metadata", "annotations"]), "k", "v")
            .apply(&mut object)
            .unwrap();
        assert_eq!(object, json!({"metadata": {"annotations": {"k": "v"}}}));
    }

    #[test]
    fn insert_follows_list_indices() {
        let mut object = json!({"containers": [{"name": "a"}, {"name": "b"}]});
        Edit::insert(
            path(&["containers", "1", "resources", "requests"]),
            "cpu",
            "100m",
        )
        .apply(&mut object)
        .unwrap();
        assert_eq!(
            object["containers"][1]["resources"]["requests"]["cpu"],
            "100m"
        );
        assert_eq!(object["containers"][0], json!({"name": "a"}));
    }

    #[test]
    fn append_creates_the_list() {
        let mut object = json!({"spec": {}});
        Edit::append(path(&["spec", "terms"]), json!(1))
            .apply(&mut object)
            .unwrap();
        Edit::append(path(&["spec", "terms"]), json!(2))
            .apply(&mut object)
            .unwrap();
        assert_eq!(object, json!({"spec": {"terms": [1, 2]}}));
    }

    #[test]
    fn wrong_shapes_are_errors_not_panics() {
        let mut object = json!({"metadata": "text", "containers": []});
        assert!(Edit::insert(path(&["metadata", "annotations"]), "k", "v")
            .apply(&mut object)
            .is_err());
        assert!(Edit::insert(path(&["containers", "3"]), "k", "v")
            .apply(&mut object)
            .is_err());
        assert!(Edit::append(path(&["metadata"]), json!(1))
            .apply(&mut object)
            .is_err());
    }
}
