//! policy.yaml's ClusterAdmissionPolicies as Kubewarden's controller 1.35
//! turns them into policy-server's `policies.yml` and into webhook
//! configurations, with only the webhooks' clientConfig changed (a loopback
//! URL instead of the policy-server Service).

use serde_json::{json, Map, Value};

use policy_release::engine::{cluster_policy_id, policy_yaml_policies};

use crate::project;

/// The namespace Kubewarden is installed in (the Helm charts' release
/// namespace in Kubewarden's docs): the controller's
/// `--deployments-namespace`, excluded from every ClusterAdmissionPolicy's
/// webhook.
pub const KUBEWARDEN_NAMESPACE: &str = "kubewarden";

/// policy.yaml's ClusterAdmissionPolicy objects.
pub fn cluster_admission_policies() -> Vec<Value> {
    let policies = policy_yaml_policies(&project()).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = policies
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        names,
        ["linkerd-ha-mutating", "linkerd-ha-validating", "linkerd-ha-nodes"],
        "policy.yaml should declare the mutating, the validating and the nodes ClusterAdmissionPolicy"
    );
    policies
}

/// policy-server's policies.yml as the controller writes it into the
/// PolicyServer's ConfigMap: kubewarden-controller v1.35.0,
/// internal/controller/policyserver_controller_configmap.go
/// (`buildPoliciesMap`, `policyServerConfigEntry.MarshalJSON`,
/// `hostCapabilitiesForPolicy`: a cluster-wide policy gets `["*"]`).
/// `module` replaces the OCI reference (a `file://` URL of the annotated
/// module); `settings` may replace a policy's settings (by policy name).
pub fn policies_file(module: &str, settings: &[(String, Value)]) -> Value {
    let mut policies = Map::new();
    for policy in cluster_admission_policies() {
        let name = policy["metadata"]["name"].as_str().unwrap_or_default();
        let spec = &policy["spec"];
        let mut entry = json!({
            "namespacedName": {"Namespace": "", "Name": name},
            "module": module,
            "policyMode": spec["mode"].as_str().unwrap_or("protect"),
            "allowedToMutate": spec["mutating"].as_bool().unwrap_or(false),
            "hostCapabilities": ["*"],
        });
        if let Some(resources) = spec.get("contextAwareResources") {
            entry["contextAwareResources"] = resources.clone();
        }
        let replaced = settings.iter().find(|(policy, _)| policy == name);
        match (replaced, spec.get("settings")) {
            (Some((_, value)), _) => entry["settings"] = value.clone(),
            (None, Some(value)) => entry["settings"] = value.clone(),
            (None, None) => {}
        }
        if let Some(message) = spec.get("message") {
            entry["message"] = message.clone();
        }
        if let Some(seconds) = spec.get("timeoutEvalSeconds") {
            entry["timeoutEvalSeconds"] = seconds.clone();
        }
        policies.insert(cluster_policy_id(&policy), entry);
    }
    Value::Object(policies)
}

/// The ValidatingWebhookConfiguration or MutatingWebhookConfiguration the
/// controller writes for a ClusterAdmissionPolicy: kubewarden-controller
/// v1.35.0, internal/controller/policy_subreconciler_webhook.go
/// (`reconcileMutatingWebhookConfiguration`,
/// `reconcileValidatingWebhookConfiguration`, `namespaceSelector`), with
/// the getters of api/policies/v1/clusteradmissionpolicy_types.go
/// (`GetUniqueName` is `clusterwide-<name>`; the rest return the spec's
/// fields as they are), the label and annotation keys of
/// internal/constants/constants.go, and the CRD default `timeoutSeconds:
/// 10` (api/policies/v1/policy_types.go). Unset pointers stay unset, so
/// the API server defaults them as it does the controller's.
///
/// Only clientConfig differs: the controller names the Service
/// `policy-server-<PolicyServer>` in its namespace, port 443, path
/// `/validate/<unique name>`; here it is `base_url` + the same path.
pub fn webhook_configuration(policy: &Value, base_url: &str, ca_bundle: &str) -> Value {
    let name = policy["metadata"]["name"].as_str().unwrap_or_default();
    let unique_name = cluster_policy_id(policy);
    let spec = &policy["spec"];
    let mutating = spec["mutating"].as_bool().unwrap_or(false);
    let mut webhook = json!({
        "name": format!("{unique_name}.kubewarden.admission"),
        "clientConfig": {
            "url": format!("{base_url}/validate/{unique_name}"),
            "caBundle": ca_bundle,
        },
        "rules": spec.get("rules").cloned().unwrap_or_else(|| json!([])),
        "namespaceSelector": namespace_selector(spec),
        // policy.GetSideEffects() or None.
        "sideEffects": spec.get("sideEffects").cloned().unwrap_or_else(|| json!("None")),
        "timeoutSeconds": spec.get("timeoutSeconds").cloned().unwrap_or_else(|| json!(10)),
        "admissionReviewVersions": ["v1"],
    });
    for field in ["failurePolicy", "matchPolicy", "objectSelector"] {
        if let Some(value) = spec.get(field).filter(|v| !v.is_null()) {
            webhook[field] = value.clone();
        }
    }
    // Set when the cluster has the AdmissionWebhookMatchConditions feature
    // (GA since Kubernetes 1.30: always here).
    if let Some(conditions) = spec
        .get("matchConditions")
        .filter(|v| v.as_array().is_some_and(|a| !a.is_empty()))
    {
        webhook["matchConditions"] = conditions.clone();
    }
    json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": if mutating { "MutatingWebhookConfiguration" } else { "ValidatingWebhookConfiguration" },
        "metadata": {
            "name": unique_name,
            "labels": {"app.kubernetes.io/part-of": "kubewarden"},
            "annotations": {
                "kubewardenPolicyName": name,
                "kubewardenPolicyNamespace": "",
            },
        },
        "webhooks": [webhook],
    })
}

/// `namespaceSelector` of policy_subreconciler_webhook.go for a
/// ClusterAdmissionPolicy: Kubewarden's own namespace is left out, and the
/// policy's own matchExpressions (only those) are appended; with
/// `allowInsideAdmissionControllerNamespace` the policy's selector as it is.
fn namespace_selector(spec: &Value) -> Value {
    if spec["allowInsideAdmissionControllerNamespace"].as_bool() == Some(true) {
        return spec
            .get("namespaceSelector")
            .cloned()
            .unwrap_or(Value::Null);
    }
    let mut expressions = vec![json!({
        "key": "kubernetes.io/metadata.name",
        "operator": "NotIn",
        "values": [KUBEWARDEN_NAMESPACE],
    })];
    if let Some(own) = spec["namespaceSelector"]["matchExpressions"].as_array() {
        expressions.extend(own.iter().cloned());
    }
    json!({ "matchExpressions": expressions })
}

/// Kubewarden 1.35's RBAC for policy-server (cluster/e2e/manifests/).
pub const KUBEWARDEN_RBAC: &str = include_str!("../manifests/kubewarden-policy-server-rbac.yaml");
/// What linkerd-ha-policy's lookups need on top of it: the ClusterRole and
/// ClusterRoleBinding documents of policy.yaml, as users apply them.
pub fn policy_lookups_rbac() -> String {
    include_str!("../../../policy.yaml")
        .split("\n---\n")
        .filter(|document| {
            document.contains("\nkind: ClusterRole\n")
                || document.contains("\nkind: ClusterRoleBinding\n")
        })
        .collect::<Vec<_>>()
        .join("\n---\n")
}
