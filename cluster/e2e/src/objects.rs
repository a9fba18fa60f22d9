//! Manifests, and what the API server stored compared with what was sent.
//!
//! "What the policy changed" is measured against the API server itself:
//! the same object is created with `--dry-run=server` in Kubewarden's own
//! namespace, which both webhooks leave out (their namespaceSelector), so
//! that copy has every default and every built-in admission plugin's
//! change but none of the policy's. The JSON patch from that copy to the
//! stored object is then exactly what the policy did.

use serde_json::{json, Value};

use crate::kubectl::Kubectl;
use crate::policy::KUBEWARDEN_NAMESPACE;

/// The documents of a multi-document YAML stream (empty ones dropped).
pub fn documents(yaml: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(yaml)
        .map(|document| {
            serde::Deserialize::deserialize(document)
                .unwrap_or_else(|e| panic!("a manifest does not parse: {e}"))
        })
        .filter(|value: &Value| value.is_object())
        .collect()
}

pub fn to_yaml(objects: &[Value]) -> String {
    objects
        .iter()
        .map(|object| serde_yaml_ng::to_string(object).expect("YAML"))
        .collect::<Vec<_>>()
        .join("---\n")
}

pub fn kind(object: &Value) -> &str {
    object["kind"].as_str().unwrap_or_default()
}

pub fn name(object: &Value) -> &str {
    object["metadata"]["name"].as_str().unwrap_or_default()
}

pub fn namespace(object: &Value) -> Option<&str> {
    object["metadata"]["namespace"].as_str()
}

/// `Kind namespace/name` or `Kind name`.
pub fn describe(object: &Value) -> String {
    match namespace(object) {
        Some(ns) => format!("{} {ns}/{}", kind(object), name(object)),
        None => format!("{} {}", kind(object), name(object)),
    }
}

/// kubectl's `resource.group/name` for an object of these manifests (the
/// resource names kubectl prints; only the kinds the fixtures hold).
pub fn kubectl_name(object: &Value) -> String {
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let group = api_version
        .rsplit_once('/')
        .map(|(group, _)| group)
        .unwrap_or("");
    let resource = match kind(object) {
        "PodDisruptionBudget" => "poddisruptionbudget".to_string(),
        other => other.to_lowercase(),
    };
    if group.is_empty() {
        format!("{resource}/{}", name(object))
    } else {
        format!("{resource}.{group}/{}", name(object))
    }
}

/// Annotations that a client or a controller writes, never the policy.
const NOT_THE_POLICYS: [&str; 2] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    "deployment.kubernetes.io/revision",
];

/// The object without what the API server sets on every write (identity,
/// versions, managed fields, status, a Service's allocated IP) or clients
/// and controllers add.
pub fn normalised(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(meta) = object["metadata"].as_object_mut() {
        for field in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "generation",
            "managedFields",
            "selfLink",
            "namespace",
        ] {
            meta.remove(field);
        }
        if let Some(annotations) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            for key in NOT_THE_POLICYS {
                annotations.remove(key);
            }
            if annotations.is_empty() {
                meta.remove("annotations");
            }
        }
    }
    if let Some(map) = object.as_object_mut() {
        map.remove("status");
    }
    // Allocated by the API server on every create (a free Service IP).
    if object["kind"] == "Service" {
        if let Some(spec) = object["spec"].as_object_mut() {
            spec.remove("clusterIP");
            spec.remove("clusterIPs");
        }
    }
    object
}

/// The operations that take `from` to `to` (both normalised).
pub fn changes(from: &Value, to: &Value) -> Vec<Value> {
    let patch = json_patch::diff(&normalised(from), &normalised(to));
    match serde_json::to_value(&patch).expect("a JSON patch") {
        Value::Array(operations) => operations,
        other => vec![other],
    }
}

/// What the policy changed on `sent`, as stored by the API server: a JSON
/// patch, empty when it stored the object as it would without the policy.
///
/// - Namespaced objects: against a `--dry-run=server` create of the same
///   object in Kubewarden's namespace, which the webhooks never see.
/// - Namespaces: against what was sent, plus the
///   `kubernetes.io/metadata.name` label and `kubernetes` finalizer the API
///   server adds to every namespace.
/// - Other cluster-scoped objects: against a `--dry-run=server` create of
///   the object under another name (`<name>-e2e-baseline`).
pub fn policy_changes(kubectl: &Kubectl, sent: &Value) -> Vec<Value> {
    let stored =
        stored(kubectl, sent).unwrap_or_else(|| panic!("{} was not stored", describe(sent)));
    let baseline = baseline(kubectl, sent);
    changes(&baseline, &stored)
}

/// The stored copy of `object`, or None.
pub fn stored(kubectl: &Kubectl, object: &Value) -> Option<Value> {
    let resource = kubectl_name(object);
    match namespace(object) {
        Some(ns) => kubectl.get(&["-n", ns, &resource]),
        None => kubectl.get(&[&resource]),
    }
}

/// What the API server would store for `sent` without the policy.
pub fn baseline(kubectl: &Kubectl, sent: &Value) -> Value {
    if kind(sent) == "Namespace" {
        let mut expected = sent.clone();
        expected["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!(name(sent));
        expected["spec"]["finalizers"] = json!(["kubernetes"]);
        return expected;
    }
    let mut copy = sent.clone();
    let original_name = name(sent).to_string();
    if namespace(sent).is_some() {
        copy["metadata"]["namespace"] = json!(KUBEWARDEN_NAMESPACE);
    } else {
        copy["metadata"]["name"] = json!(format!("{original_name}-e2e-baseline"));
    }
    let run = kubectl
        .run_with_stdin(
            &["create", "--dry-run=server", "-o", "json", "-f", "-"],
            Some(&serde_json::to_string(&copy).expect("JSON")),
        )
        .ok();
    let mut baseline = run.json();
    baseline["metadata"]["name"] = json!(original_name);
    baseline
}

/// The JSON pointer of an annotation or label key (`/` is `~1`).
pub fn pointer_key(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// An admission.k8s.io/v1 AdmissionReview for `object`, as the API server
/// sends it to a webhook (`resource` as `group/version/resource`, the group
/// empty for the core API).
pub fn admission_review(object: &Value, operation: &str, resource: (&str, &str, &str)) -> Value {
    let (group, version, plural) = resource;
    let kind = json!({"group": group, "version": version, "kind": kind(object)});
    let resource = json!({"group": group, "version": version, "resource": plural});
    let mut request = json!({
        "uid": "00000000-0000-0000-0000-0000000000e2",
        "kind": kind,
        "resource": resource,
        "requestKind": kind,
        "requestResource": resource,
        "name": name(object),
        "operation": operation,
        "userInfo": {"username": "kubernetes-admin", "groups": ["system:masters", "system:authenticated"]},
        "object": object,
        "oldObject": null,
        "dryRun": false,
        "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
    });
    if let Some(ns) = namespace(object) {
        request["namespace"] = json!(ns);
    }
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": request,
    })
}
