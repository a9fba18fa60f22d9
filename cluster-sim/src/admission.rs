//! Building `admission.k8s.io/v1` AdmissionRequest bodies the way the API
//! server sends them to a webhook (and policy-server passes them on to a policy).

use serde_json::{json, Map, Value};

use crate::str_at;

/// The uid of every request built here. Fixed so test output is reproducible;
/// it is the example uid from the Kubernetes admission webhook documentation.
pub const REQUEST_UID: &str = "705ab4f5-6393-11e8-b7cc-42010a800002";

/// Kinds of the built-in API that are cluster-scoped, so requests about them
/// carry no namespace.
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

/// Plural resource names that the usual English-ish guess gets wrong.
const IRREGULAR_RESOURCES: &[(&str, &str)] = &[("Endpoints", "endpoints")];

/// The identity every request is made by: a cluster administrator, as with a
/// `kubectl apply` from the kubeadm admin kubeconfig.
const USERNAME: &str = "kubernetes-admin";
const USER_GROUPS: &[&str] = &["system:masters", "system:authenticated"];

/// Whether objects of `kind` live in a namespace.
pub fn is_namespaced_kind(kind: &str) -> bool {
    !CLUSTER_SCOPED_KINDS.contains(&kind)
}

/// The lowercase plural resource name of `kind`, e.g. `Deployment` →
/// `deployments`, `NetworkPolicy` → `networkpolicies`, `Prometheus` →
/// `prometheuses`.
///
/// Follows apimachinery's `UnsafeGuessKindToResource`, which is what the
/// API server's REST mapper uses for kinds registered without an explicit plural.
pub fn resource_for_kind(kind: &str) -> String {
    if let Some((_, resource)) = IRREGULAR_RESOURCES.iter().find(|(k, _)| *k == kind) {
        return (*resource).to_owned();
    }
    let lower = kind.to_lowercase();
    if lower.ends_with('s') {
        format!("{lower}es")
    } else if let Some(stem) = lower.strip_suffix('y') {
        format!("{stem}ies")
    } else {
        format!("{lower}s")
    }
}

/// Splits an `apiVersion` into (group, version); the core group is `""`.
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    api_version.split_once('/').unwrap_or(("", api_version))
}

/// An AdmissionRequest for `object` as the API server would send it for
/// `operation` (`CREATE`, `UPDATE`, `DELETE` or `CONNECT`).
///
/// See [`AdmissionRequestBuilder`] for the details and for variants
/// (subresources, a distinct old object, dry runs).
pub fn admission_request(object: &Value, operation: &str) -> Value {
    AdmissionRequestBuilder::new(object, operation).build()
}

/// Builds an AdmissionRequest body (the `request` field of an AdmissionReview).
///
/// * `kind`/`requestKind` come from the object's `apiVersion` and `kind`,
///   `resource`/`requestResource` from [`resource_for_kind`];
/// * `name` and `namespace` come from the object's metadata; the namespace is
///   left out for cluster-scoped kinds but a Namespace, whose own name the
///   API server sends, and so is the name when absent (a CREATE relying on
///   `generateName`), as the API server does;
/// * `object` is sent for CREATE and UPDATE, `oldObject` for UPDATE and
///   DELETE (the same object unless [`Self::old_object`] says otherwise).
#[derive(Debug, Clone)]
pub struct AdmissionRequestBuilder<'a> {
    object: &'a Value,
    old_object: Option<&'a Value>,
    operation: &'a str,
    sub_resource: Option<&'a str>,
    dry_run: bool,
}

impl<'a> AdmissionRequestBuilder<'a> {
    pub fn new(object: &'a Value, operation: &'a str) -> Self {
        Self {
            object,
            old_object: None,
            operation,
            sub_resource: None,
            dry_run: false,
        }
    }

    /// Makes the request about a subresource such as `scale` or `status`.
    pub fn sub_resource(mut self, sub_resource: &'a str) -> Self {
        self.sub_resource = Some(sub_resource);
        self
    }

    /// The object before the change, for UPDATE and DELETE.
    pub fn old_object(mut self, old_object: &'a Value) -> Self {
        self.old_object = Some(old_object);
        self
    }

    pub fn dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }

    pub fn build(&self) -> Value {
        let api_version = str_at(self.object, &["apiVersion"]).unwrap_or_default();
        let kind = str_at(self.object, &["kind"]).unwrap_or_default();
        let (group, version) = split_api_version(api_version);
        let group_version_kind = json!({"group": group, "version": version, "kind": kind});
        let group_version_resource = json!({
            "group": group,
            "version": version,
            "resource": resource_for_kind(kind),
        });

        let mut request = Map::new();
        request.insert("uid".into(), REQUEST_UID.into());
        request.insert("kind".into(), group_version_kind.clone());
        request.insert("resource".into(), group_version_resource.clone());
        request.insert("requestKind".into(), group_version_kind);
        request.insert("requestResource".into(), group_version_resource);
        if let Some(sub_resource) = self.sub_resource {
            request.insert("subResource".into(), sub_resource.into());
            request.insert("requestSubResource".into(), sub_resource.into());
        }
        if let Some(name) = str_at(self.object, &["metadata", "name"]) {
            request.insert("name".into(), name.into());
        }
        if is_namespaced_kind(kind) {
            if let Some(namespace) = str_at(self.object, &["metadata", "namespace"]) {
                request.insert("namespace".into(), namespace.into());
            }
        } else if kind == "Namespace" {
            // The API server files a Namespace under itself (seen on
            // kube-apiserver 1.37: request.namespace is its own name).
            if let Some(name) = str_at(self.object, &["metadata", "name"]) {
                request.insert("namespace".into(), name.into());
            }
        }
        request.insert("operation".into(), self.operation.into());
        request.insert(
            "userInfo".into(),
            json!({"username": USERNAME, "groups": USER_GROUPS}),
        );
        if matches!(self.operation, "CREATE" | "UPDATE") {
            request.insert("object".into(), self.object.clone());
        }
        if matches!(self.operation, "UPDATE" | "DELETE") {
            let old = self.old_object.unwrap_or(self.object);
            request.insert("oldObject".into(), old.clone());
        }
        request.insert("dryRun".into(), self.dry_run.into());
        request.insert("options".into(), json!({}));
        Value::Object(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "linkerd-destination", "namespace": "linkerd"},
            "spec": {"replicas": 3},
        })
    }

    #[test]
    fn create_request_mirrors_the_api_server() {
        let object = deployment();
        let request = admission_request(&object, "CREATE");
        assert_eq!(
            request,
            json!({
                "uid": REQUEST_UID,
                "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
                "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
                "requestKind": {"group": "apps", "version": "v1", "kind": "Deployment"},
                "requestResource": {"group": "apps", "version": "v1", "resource": "deployments"},
                "name": "linkerd-destination",
                "namespace": "linkerd",
                "operation": "CREATE",
                "userInfo": {
                    "username": "kubernetes-admin",
                    "groups": ["system:masters", "system:authenticated"],
                },
                "object": object,
                "dryRun": false,
                "options": {},
            })
        );
    }

    #[test]
    fn core_group_is_the_empty_string() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ns"}});
        let request = admission_request(&pod, "CREATE");
        assert_eq!(
            request["kind"],
            json!({"group": "", "version": "v1", "kind": "Pod"})
        );
        assert_eq!(request["resource"]["resource"], "pods");
        assert_eq!(request["resource"]["group"], "");
    }

    #[test]
    fn update_sends_both_objects_and_delete_only_the_old_one() {
        let object = deployment();
        let update = admission_request(&object, "UPDATE");
        assert_eq!(update["object"], object);
        assert_eq!(update["oldObject"], object);

        let delete = admission_request(&object, "DELETE");
        assert!(delete.get("object").is_none());
        assert_eq!(delete["oldObject"], object);

        let create = admission_request(&object, "CREATE");
        assert!(create.get("oldObject").is_none());
    }

    #[test]
    fn builder_sets_old_object_sub_resource_and_dry_run() {
        let object = deployment();
        let mut old = deployment();
        old["spec"]["replicas"] = json!(1);
        let request = AdmissionRequestBuilder::new(&object, "UPDATE")
            .old_object(&old)
            .sub_resource("scale")
            .dry_run(true)
            .build();
        assert_eq!(request["oldObject"], old);
        assert_eq!(request["object"], object);
        assert_eq!(request["subResource"], "scale");
        assert_eq!(request["requestSubResource"], "scale");
        assert_eq!(request["dryRun"], true);
    }

    #[rstest]
    #[case::node("v1", "Node")]
    #[case::mutating_webhook("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration")]
    #[case::cluster_role("rbac.authorization.k8s.io/v1", "ClusterRole")]
    fn cluster_scoped_kinds_have_no_namespace(#[case] api_version: &str, #[case] kind: &str) {
        // A stray namespace in the manifest is ignored by the API server.
        let object = json!({
            "apiVersion": api_version,
            "kind": kind,
            "metadata": {"name": "x", "namespace": "stray"},
        });
        let request = admission_request(&object, "CREATE");
        assert!(request.get("namespace").is_none());
        assert_eq!(request["name"], "x");
        assert!(!is_namespaced_kind(kind));
    }

    #[test]
    fn a_namespace_is_filed_under_its_own_name() {
        let object =
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system"}});
        let request = admission_request(&object, "UPDATE");
        assert_eq!(request["namespace"], "kube-system");
        assert!(!is_namespaced_kind("Namespace"));
    }

    #[test]
    fn missing_name_is_left_out() {
        let pod = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"generateName": "web-", "namespace": "ns"},
        });
        let request = admission_request(&pod, "CREATE");
        assert!(request.get("name").is_none());
        assert_eq!(request["namespace"], "ns");
    }

    #[rstest]
    #[case::pod("Pod", "pods")]
    #[case::deployment("Deployment", "deployments")]
    #[case::replica_set("ReplicaSet", "replicasets")]
    #[case::stateful_set("StatefulSet", "statefulsets")]
    #[case::daemon_set("DaemonSet", "daemonsets")]
    #[case::replication_controller("ReplicationController", "replicationcontrollers")]
    #[case::job("Job", "jobs")]
    #[case::cron_job("CronJob", "cronjobs")]
    #[case::namespace("Namespace", "namespaces")]
    #[case::budget("PodDisruptionBudget", "poddisruptionbudgets")]
    #[case::webhook("MutatingWebhookConfiguration", "mutatingwebhookconfigurations")]
    #[case::ending_in_s("Prometheus", "prometheuses")]
    #[case::node("Node", "nodes")]
    #[case::ending_in_y("NetworkPolicy", "networkpolicies")]
    #[case::ingress("Ingress", "ingresses")]
    #[case::irregular("Endpoints", "endpoints")]
    #[case::unknown_kind("Widget", "widgets")]
    fn resource_names(#[case] kind: &str, #[case] resource: &str) {
        assert_eq!(resource_for_kind(kind), resource);
    }

    #[test]
    fn object_without_api_version_or_kind_still_builds() {
        let request = admission_request(&json!({}), "CREATE");
        assert_eq!(
            request["kind"],
            json!({"group": "", "version": "", "kind": ""})
        );
        assert_eq!(request["object"], json!({}));
    }
}
