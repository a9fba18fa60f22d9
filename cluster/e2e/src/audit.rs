//! kube-apiserver's audit log, as `cluster/up.sh` writes it
//! (`DIR/logs/audit.log`, one JSON `audit.k8s.io/v1` Event a line, policy
//! `DIR/audit-policy.yaml`): every write at Metadata level, with the
//! admission webhooks' audit annotations, and the reads of service accounts
//! outside kube-system (policy-server's lookups, made with its token).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::wait_until;

/// The events of the audit log at `path`, in the order written. A line
/// still being written (no newline yet, or not JSON) is left out.
pub fn events(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e} (cluster/up.sh writes it)", path.display()));
    text.split_inclusive('\n')
        .filter(|line| line.ends_with('\n'))
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

/// One request's event, read as the log's consumer reads it.
pub trait AuditEvent {
    fn stage(&self) -> &str;
    fn verb(&self) -> &str;
    fn username(&self) -> &str;
    /// objectRef's resource, subresource, namespace and name ("" if absent).
    fn object_ref(&self) -> (&str, &str, &str, &str);
    /// The annotations whose key starts with `prefix`, prefix removed.
    fn annotations_under(&self, prefix: &str) -> BTreeMap<String, String>;
    /// All annotations.
    fn annotations(&self) -> BTreeMap<String, String>;
    /// `responseStatus.code`.
    fn code(&self) -> Option<u64>;
}

impl AuditEvent for Value {
    fn stage(&self) -> &str {
        self["stage"].as_str().unwrap_or_default()
    }

    fn verb(&self) -> &str {
        self["verb"].as_str().unwrap_or_default()
    }

    fn username(&self) -> &str {
        self["user"]["username"].as_str().unwrap_or_default()
    }

    fn object_ref(&self) -> (&str, &str, &str, &str) {
        let field = |key: &str| self["objectRef"][key].as_str().unwrap_or_default();
        (
            field("resource"),
            field("subresource"),
            field("namespace"),
            field("name"),
        )
    }

    fn annotations_under(&self, prefix: &str) -> BTreeMap<String, String> {
        self.annotations()
            .into_iter()
            .filter_map(|(key, value)| key.strip_prefix(prefix).map(|k| (k.to_string(), value)))
            .collect()
    }

    fn annotations(&self) -> BTreeMap<String, String> {
        self["annotations"]
            .as_object()
            .map(|map| {
                map.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn code(&self) -> Option<u64> {
        self["responseStatus"]["code"].as_u64()
    }
}

/// The ResponseComplete events of `verb` on `resource` (no subresource)
/// named `name` in `namespace` ("" for a cluster-scoped object). The
/// API server writes an event once the response is sent, so this waits
/// (up to 10 s) for at least one.
pub fn completed(
    path: &Path,
    verb: &str,
    resource: &str,
    namespace: &str,
    name: &str,
) -> Vec<Value> {
    wait_until(
        &format!("the audit event of {verb} {resource} {namespace}/{name}"),
        Duration::from_secs(10),
        || {
            let found: Vec<Value> = events(path)
                .into_iter()
                .filter(|e| {
                    e.stage() == "ResponseComplete"
                        && e.verb() == verb
                        && e.object_ref() == (resource, "", namespace, name)
                })
                .collect();
            if found.is_empty() {
                Err("none yet".to_string())
            } else {
                Ok(found)
            }
        },
    )
}

/// The requests `username` made among `events`, as `verb resource
/// namespace` (the reads and writes the audit policy keeps), in order. A
/// watch counts once it has started (its ResponseComplete comes when it
/// ends), every other request once complete.
pub fn requests_by(events: &[Value], username: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| {
            e.username() == username
                && match e.verb() {
                    "watch" => e.stage() == "ResponseStarted",
                    _ => e.stage() == "ResponseComplete",
                }
        })
        .map(|e| {
            let (resource, subresource, namespace, _) = e.object_ref();
            let what = if resource.is_empty() {
                e["requestURI"].as_str().unwrap_or_default().to_string()
            } else if subresource.is_empty() {
                resource.to_string()
            } else {
                format!("{resource}/{subresource}")
            };
            format!("{} {what} {namespace}", e.verb())
                .trim_end()
                .to_string()
        })
        .collect()
}
