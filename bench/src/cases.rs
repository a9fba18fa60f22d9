//! The requests benchmarked: the representative set of issue 5 and the
//! growing objects of the scaling table.

use std::path::{Path, PathBuf};

use policy_harness::manifests::load_yaml_file;
use policy_harness::{admission_request, Cluster};
use serde_json::{json, Value};

use crate::BenchError;

/// One benchmarked request.
pub struct Case {
    pub name: String,
    /// The `validate` payload: `{"request": ..., "settings": {}}`.
    pub payload: Vec<u8>,
}

impl Case {
    fn new(name: impl Into<String>, object: &Value) -> Result<Self, BenchError> {
        Ok(Self {
            name: name.into(),
            payload: payload(object)?,
        })
    }
}

/// A CREATE request for `object` under default settings, as policy-server
/// hands it to the policy.
pub fn payload(object: &Value) -> Result<Vec<u8>, BenchError> {
    serde_json::to_vec(&json!({"request": admission_request(object, "CREATE"), "settings": {}}))
        .map_err(|e| BenchError::Fixture(format!("cannot encode a request: {e}")))
}

/// Linkerd's own manifests, beside this repository in ../shared.
pub fn linkerd_fixture(name: &str) -> Result<Vec<Value>, BenchError> {
    let path: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures/linkerd")
        .join(name);
    load_yaml_file(&path).map_err(|e| BenchError::Fixture(format!("{}: {e}", path.display())))
}

fn first_of_kind(objects: &[Value], kind: &str) -> Result<Value, BenchError> {
    objects
        .iter()
        .find(|o| o["kind"] == kind)
        .cloned()
        .ok_or_else(|| BenchError::Fixture(format!("no {kind} in the fixture")))
}

fn namespace(name: &str, annotations: Value, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace",
           "metadata": {"name": name, "annotations": annotations, "labels": labels}})
}

/// The cluster every case runs against: Linkerd's HA install (its namespace
/// and disruption budgets), three nodes, a meshed `emojivoto` namespace and
/// an unmeshed `shop`.
pub fn cluster() -> Result<Cluster, BenchError> {
    let install = linkerd_fixture("install_ha_output.golden")?;
    let nodes = (0..3).map(|i| {
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": format!("node-{i}")}, "spec": {}})
    });
    Ok(Cluster::from_objects(
        install.into_iter().chain(nodes).chain([
            namespace(
                "emojivoto",
                json!({"linkerd.io/inject": "enabled"}),
                json!({}),
            ),
            namespace(
                "shop",
                json!({}),
                json!({"kubernetes.io/metadata.name": "shop"}),
            ),
        ]),
    ))
}

/// The representative set of issue 5.
pub fn representative() -> Result<Vec<Case>, BenchError> {
    let mut cases = vec![Case::new("small Pod (5 KB, unmeshed)", &small_pod())?];

    // `linkerd inject` output: meshed by the proxy it carries, so no lookup
    // decides it, under kwctl bench (which answers none) as in a cluster.
    let mut web = first_of_kind(
        &linkerd_fixture("inject_emojivoto_deployment.golden.yml")?,
        "Deployment",
    )?;
    cases.push(Case::new("meshed Deployment (safe-to-evict)", &web)?);
    web["spec"]["template"]["metadata"]["annotations"]
        ["cluster-autoscaler.kubernetes.io/safe-to-evict"] = json!("true");
    cases.push(Case::new("compliant meshed Deployment", &web)?);

    let mut cronjob = first_of_kind(
        &linkerd_fixture("inject_emojivoto_cronjob.golden.yml")?,
        "CronJob",
    )?;
    cronjob["metadata"]["namespace"] = json!("emojivoto");
    // `linkerd inject` only annotates a CronJob; give its template the proxy
    // the injector adds, so it too is meshed without a lookup.
    if let Some(containers) =
        cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"].as_array_mut()
    {
        containers
            .push(json!({"name": "linkerd-proxy", "image": "cr.l5d.io/linkerd/proxy:stable"}));
    }
    cases.push(Case::new("meshed CronJob", &cronjob)?);

    let kube_system = namespace(
        "kube-system",
        json!({}),
        json!({"kubernetes.io/metadata.name": "kube-system"}),
    );
    cases.push(Case::new(
        "kube-system Namespace (label added)",
        &kube_system,
    )?);
    let mut labelled = kube_system;
    labelled["metadata"]["labels"]["config.linkerd.io/admission-webhooks"] = json!("disabled");
    cases.push(Case::new("kube-system Namespace (labelled)", &labelled)?);

    for deployment in linkerd_fixture("install_ha_output.golden")?
        .into_iter()
        .filter(|o| o["kind"] == "Deployment")
        .filter(|o| o["metadata"]["labels"]["linkerd.io/control-plane-component"].is_string())
    {
        let name = deployment["metadata"]["name"]
            .as_str()
            .unwrap_or("?")
            .to_owned();
        cases.push(Case::new(format!("HA {name}"), &deployment)?);
    }

    cases.push(Case::new(
        "500-container Deployment (meshed)",
        &deployment_with(500, 2),
    )?);
    cases.push(Case::new("ignored kind (ConfigMap)", &config_map())?);
    Ok(cases)
}

/// A Pod as the API server sends it after defaulting, `managedFields`
/// included: about 5 KB of request, like the one Kubewarden's figures use.
pub fn small_pod() -> Value {
    let container = json!({
        "name": "web", "image": "registry.example.com/shop/web:1.4.2",
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
        "env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "POD_IP", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}}}],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080, "scheme": "HTTP"}, "periodSeconds": 10, "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3},
        "livenessProbe": {"httpGet": {"path": "/live", "port": 8080, "scheme": "HTTP"}, "periodSeconds": 10, "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3},
        "volumeMounts": [{"name": "kube-api-access-x2f9k", "readOnly": true, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}],
        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
        "securityContext": {"allowPrivilegeEscalation": false, "runAsNonRoot": true, "capabilities": {"drop": ["ALL"]}}
    });
    let managed = json!([{
        "manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1", "time": "2026-05-01T10:00:00Z", "fieldsType": "FieldsV1",
        "fieldsV1": {"f:metadata": {"f:generateName": {}, "f:labels": {".": {}, "f:app": {}, "f:pod-template-hash": {}}, "f:ownerReferences": {".": {}, "k:{\"uid\":\"5f0c7a4e-0d63-4c1e-9a8e-2b1f6f8e9a10\"}": {}}},
            "f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {".": {}, "f:env": {".": {}, "k:{\"name\":\"LOG_LEVEL\"}": {".": {}, "f:name": {}, "f:value": {}}, "k:{\"name\":\"POD_IP\"}": {".": {}, "f:name": {}, "f:valueFrom": {".": {}, "f:fieldRef": {}}}},
                "f:image": {}, "f:imagePullPolicy": {}, "f:livenessProbe": {".": {}, "f:failureThreshold": {}, "f:httpGet": {".": {}, "f:path": {}, "f:port": {}, "f:scheme": {}}, "f:periodSeconds": {}, "f:successThreshold": {}, "f:timeoutSeconds": {}},
                "f:name": {}, "f:ports": {".": {}, "k:{\"containerPort\":8080,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}, "f:name": {}, "f:protocol": {}}},
                "f:readinessProbe": {".": {}, "f:failureThreshold": {}, "f:httpGet": {".": {}, "f:path": {}, "f:port": {}, "f:scheme": {}}, "f:periodSeconds": {}, "f:successThreshold": {}, "f:timeoutSeconds": {}},
                "f:resources": {".": {}, "f:limits": {".": {}, "f:memory": {}}, "f:requests": {".": {}, "f:cpu": {}, "f:memory": {}}},
                "f:securityContext": {".": {}, "f:allowPrivilegeEscalation": {}, "f:capabilities": {".": {}, "f:drop": {}}, "f:runAsNonRoot": {}},
                "f:terminationMessagePath": {}, "f:terminationMessagePolicy": {}}},
                "f:dnsPolicy": {}, "f:enableServiceLinks": {}, "f:restartPolicy": {}, "f:schedulerName": {}, "f:securityContext": {}, "f:terminationGracePeriodSeconds": {}}}
    }]);
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "generateName": "web-7d9f8b6c5d-", "name": "web-7d9f8b6c5d-x2f9k", "namespace": "shop",
            "uid": "9b1de1a4-6a3b-4f5e-8c1e-3f3b2a1d0c9e", "creationTimestamp": "2026-05-01T10:00:00Z",
            "labels": {"app": "web", "pod-template-hash": "7d9f8b6c5d"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d9f8b6c5d", "uid": "5f0c7a4e-0d63-4c1e-9a8e-2b1f6f8e9a10", "controller": true, "blockOwnerDeletion": true}],
            "managedFields": managed
        },
        "spec": {
            "containers": [container],
            "volumes": [{"name": "kube-api-access-x2f9k", "projected": {"defaultMode": 420, "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]}}],
            "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default", "serviceAccount": "default", "securityContext": {"fsGroup": 2000},
            "schedulerName": "default-scheduler", "enableServiceLinks": true, "preemptionPolicy": "PreemptLowerPriority", "priority": 0,
            "tolerations": [
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]
        },
        "status": {"phase": "Pending", "qosClass": "Burstable"}
    })
}

fn config_map() -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": "shop-config", "namespace": "shop", "annotations": {"linkerd.io/inject": "true"}},
           "data": {"config.yaml": "listen: 0.0.0.0:8080\nlog: info\n".repeat(20)}})
}

/// An injected Deployment (its last container is Linkerd's proxy), with
/// `containers` containers and `annotations` extra pod-template annotations.
pub fn deployment_with(containers: usize, annotations: usize) -> Value {
    let mut containers: Vec<Value> = (0..containers.saturating_sub(1))
        .map(|i| {
            json!({"name": format!("worker-{i}"), "image": format!("registry.example.com/shop/worker:{i}"),
                   "ports": [{"containerPort": 9000 + i % 1000, "protocol": "TCP"}],
                   "env": [{"name": "SHARD", "value": i.to_string()}],
                   "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}})
        })
        .collect();
    containers.push(
        json!({"name": "linkerd-proxy", "image": "cr.l5d.io/linkerd/proxy:stable",
                           "resources": {"requests": {"cpu": "100m", "memory": "20Mi"}}}),
    );
    let mut template_annotations = serde_json::Map::new();
    template_annotations.insert("linkerd.io/inject".into(), "enabled".into());
    for i in 0..annotations {
        template_annotations.insert(
            format!("example.com/key-{i}"),
            format!("value number {i} of the benchmark").into(),
        );
    }
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "workers", "namespace": "shop", "labels": {"app": "workers"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "workers"}},
            "template": {
                "metadata": {"labels": {"app": "workers"}, "annotations": template_annotations},
                "spec": {"containers": containers}
            }
        }
    })
}
