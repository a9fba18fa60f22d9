//! Every piece of advice the policy gives works when followed: for each
//! finding that carries a fix, the case below does what the message's
//! "Fix:" says (a settings change, a field value, an annotation, an object
//! created in the cluster), as the message states it, and the finding is
//! gone. The built module judges both sides, through waPC as Kubewarden
//! runs it. Followed settings must also pass `validate_settings`.
//!
//! The same cases write `docs/messages.md`: the docs quote the messages a
//! user really reads, and this test fails when they drift (regenerate with
//! `UPDATE_DOCS=1 cargo test --test advice`).

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::*;
use linkerd_ha_policy::finding::RuleId;
use policy_harness::{AdmissionRequestBuilder, Cluster, ObjectKind, Verdict};
use serde_json::{json, Value};

/// How a case follows the advice.
enum Follow {
    /// A JSON merge patch (RFC 7386) on the settings.
    Settings(Value),
    /// A JSON merge patch on the object.
    Object(Value),
    /// Objects created (or replaced) in the cluster, and kinds the policy
    /// may now read.
    Cluster {
        objects: Vec<Value>,
        grant: Vec<ObjectKind>,
    },
}

struct Case {
    name: &'static str,
    /// The rule whose finding this is; `None` for what the edge reports.
    rule: Option<RuleId>,
    settings: Value,
    cluster: Vec<Value>,
    refused: Vec<ObjectKind>,
    object: Value,
    /// The stored object, for an UPDATE (a CREATE without one).
    old: Option<Value>,
    /// The request deletes `object`.
    deleting: bool,
    /// A phrase of the problem that picks the finding's line.
    finding: &'static str,
    /// The advice, as the line's "Fix:" states it.
    says: &'static str,
    follow: Follow,
}

impl Case {
    fn new(name: &'static str, rule: Option<RuleId>, object: Value) -> Self {
        Self {
            name,
            rule,
            settings: json!({}),
            cluster: base_cluster(),
            refused: Vec::new(),
            object,
            old: None,
            deleting: false,
            finding: "",
            says: "",
            follow: Follow::Settings(json!({})),
        }
    }

    fn settings(mut self, settings: Value) -> Self {
        self.settings = settings;
        self
    }

    fn cluster(mut self, objects: Vec<Value>) -> Self {
        self.cluster = objects;
        self
    }

    fn refused(mut self, kind: ObjectKind) -> Self {
        self.refused.push(kind);
        self
    }

    fn updating(mut self, old: Value) -> Self {
        self.old = Some(old);
        self
    }

    fn deleting(mut self) -> Self {
        self.deleting = true;
        self
    }

    fn finds(mut self, finding: &'static str, says: &'static str, follow: Follow) -> Self {
        self.finding = finding;
        self.says = says;
        self.follow = follow;
        self
    }
}

fn base_cluster() -> Vec<Value> {
    let mut objects = vec![
        namespace("app", json!({"linkerd.io/inject": "enabled"}), json!({})),
        namespace("plain", json!({}), json!({})),
        namespace(
            "linkerd",
            json!({}),
            json!({"config.linkerd.io/admission-webhooks": "disabled"}),
        ),
        namespace(
            "kube-system",
            json!({}),
            json!({"config.linkerd.io/admission-webhooks": "disabled"}),
        ),
        budget("linkerd-destination", json!({"maxUnavailable": 1})),
    ];
    objects.extend(nodes(3));
    objects
}

fn budget(name: &str, spec: Value) -> Value {
    let mut spec = spec;
    spec["selector"] =
        json!({"matchLabels": {"linkerd.io/control-plane-component": "destination"}});
    json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
           "metadata": {"name": name, "namespace": "linkerd"}, "spec": spec})
}

/// The base cluster with `linkerd-destination` running in it.
fn with_control_plane() -> Vec<Value> {
    let mut objects = base_cluster();
    objects.push(destination());
    objects
}

fn node(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}, "spec": spec})
}

/// `linkerd-destination` as `linkerd install --ha` writes it.
fn destination() -> Value {
    test_data("kubewarden/objects/destination-ha.yaml").remove(0)
}

fn with(mut object: Value, patch: Value) -> Value {
    json_patch::merge(&mut object, &patch);
    object
}

fn pod(namespace: &str, annotations: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "web", "namespace": namespace, "annotations": annotations},
           "spec": {"containers": [{"name": "web", "image": "web"}]}})
}

fn injected_pod(namespace: &str, annotations: Value) -> Value {
    with(
        pod(namespace, annotations),
        json!({"spec": {"containers": [
            {"name": "linkerd-proxy", "image": "cr.l5d.io/linkerd/proxy:edge"},
            {"name": "web", "image": "web"}]}}),
    )
}

fn prometheus_deployment(args: Value, resources: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "prometheus", "namespace": "linkerd-viz"},
           "spec": {"selector": {"matchLabels": {"app": "prometheus"}},
                    "template": {"metadata": {"labels": {"app": "prometheus"}},
                                 "spec": {"containers": [{"name": "prometheus", "image": "prom/prometheus",
                                                          "args": args, "resources": resources}]}}}})
}

/// Linkerd's injector webhook with `failurePolicy: Ignore`, and the same
/// with `Fail` (a merge patch replaces a list whole).
fn loosened_webhook() -> Value {
    test_data("kubewarden/objects/webhook-ignore.yaml").remove(0)
}

fn failing_closed_webhooks() -> Value {
    let mut webhooks = loosened_webhook()["webhooks"].clone();
    webhooks[0]["failurePolicy"] = json!("Fail");
    json!({ "webhooks": webhooks })
}

fn cases() -> Vec<Case> {
    use Follow::*;
    use RuleId::*;
    vec![
        Case::new("invalid-pod-value", Some(InjectionAnnotation), pod("plain", json!({"linkerd.io/inject": "true"})))
            .finds("is not a value Linkerd accepts",
                   "set `linkerd.io/inject` to enabled, ingress or disabled (lower case)",
                   Object(json!({"metadata": {"annotations": {"linkerd.io/inject": "enabled"}}}))),
        Case::new("annotation-on-own-metadata", Some(InjectionAnnotation),
                  with(deployment("plain", json!({})), json!({"metadata": {"annotations": {"linkerd.io/inject": "enabled"}}})))
            .finds("own metadata has no effect",
                   "move it to spec.template.metadata.annotations",
                   Object(json!({"metadata": {"annotations": null},
                                 "spec": {"template": {"metadata": {"annotations": {"linkerd.io/inject": "enabled"}}}}}))),
        Case::new("annotation-contradicting-the-template", Some(InjectionAnnotation),
                  with(deployment("plain", json!({"linkerd.io/inject": "disabled"})), json!({"metadata": {"annotations": {"linkerd.io/inject": "enabled"}}})))
            .finds("own metadata has no effect",
                   "give spec.template.metadata.annotations the value intended, and remove the one on the Deployment's own metadata",
                   Object(json!({"metadata": {"annotations": null}}))),
        Case::new("invalid-namespace-value", Some(InjectionAnnotation), pod("typo", json!({"linkerd.io/inject": "enabled"})))
            .cluster([base_cluster(), vec![namespace("typo", json!({"linkerd.io/inject": "True"}), json!({}))]].concat())
            .finds("asks for injection",
                   "set namespace \"typo\"'s `linkerd.io/inject` to enabled, ingress or disabled (lower case)",
                   Cluster { objects: vec![namespace("typo", json!({"linkerd.io/inject": "enabled"}), json!({}))], grant: vec![] }),
        Case::new("system-namespace-label", Some(SystemNamespaces), namespace("kube-system", json!({}), json!({})))
            .settings(json!({"rules": {"systemNamespaces": "enforce"}}))
            .finds("must carry the label",
                   "kubectl label namespace kube-system config.linkerd.io/admission-webhooks=disabled --overwrite",
                   Object(json!({"metadata": {"labels": {"config.linkerd.io/admission-webhooks": "disabled"}}}))),
        // An UPDATE never gets the label: said, with the command.
        Case::new("system-namespace-label-missing-on-update", Some(SystemNamespaces), namespace("kube-system", json!({}), json!({})))
            .updating(namespace("kube-system", json!({}), json!({})))
            .finds("lacks the label",
                   "kubectl label namespace kube-system config.linkerd.io/admission-webhooks=disabled --overwrite",
                   Object(json!({"metadata": {"labels": {"config.linkerd.io/admission-webhooks": "disabled"}}}))),
        // A reconciler's sync: the label is not put back (no fight); the
        // fix is the reconciler's copy.
        Case::new("system-namespace-label-removed", Some(SystemNamespaces), namespace("kube-system", json!({}), json!({})))
            .updating(namespace("kube-system", json!({}), json!({"config.linkerd.io/admission-webhooks": "disabled"})))
            .finds("this UPDATE removes the label",
                   "keep the label in the copy of the namespace that the reconciler applies",
                   Object(json!({"metadata": {"labels": {"config.linkerd.io/admission-webhooks": "disabled"}}}))),
        Case::new("system-namespace-label-removed-loosened", Some(SystemNamespaces), namespace("kube-system", json!({}), json!({})))
            .updating(namespace("kube-system", json!({}), json!({"config.linkerd.io/admission-webhooks": "disabled"})))
            .finds("this UPDATE removes the label",
                   "set the injector webhook's failurePolicy to Ignore (and injectorWebhook.failurePolicy: Ignore in the policy settings)",
                   Settings(json!({"injectorWebhook": {"failurePolicy": "Ignore"}}))),
        Case::new("system-namespace-injection", Some(SystemNamespaces),
                  namespace("kube-system", json!({"linkerd.io/inject": "enabled"}), json!({"config.linkerd.io/admission-webhooks": "disabled"})))
            .finds("requests injection",
                   "remove the annotation or set `linkerd.io/inject: disabled`",
                   Object(json!({"metadata": {"annotations": {"linkerd.io/inject": "disabled"}}}))),
        Case::new("system-namespace-workload", Some(SystemNamespaces), pod("kube-system", json!({"linkerd.io/inject": "enabled"})))
            .finds("in the system namespace",
                   "remove `linkerd.io/inject` from the Pod's metadata.annotations",
                   Object(json!({"metadata": {"annotations": {"linkerd.io/inject": null}}}))),
        Case::new("safe-to-evict-missing", Some(SafeToEvict), deployment("app", json!({})))
            .settings(json!({"rules": {"safeToEvict": "enforce"}}))
            .finds("meshed pods need",
                   "add `cluster-autoscaler.kubernetes.io/safe-to-evict: \"true\"` to spec.template.metadata.annotations",
                   Object(json!({"spec": {"template": {"metadata": {"annotations": {"cluster-autoscaler.kubernetes.io/safe-to-evict": "true"}}}}}))),
        Case::new("safe-to-evict-skips-local-storage", Some(SafeToEvict), deployment("app", json!({})))
            .settings(json!({"rules": {"safeToEvict": "enforce"}}))
            .finds("meshed pods need",
                   "set safeToEvict.autoscalerSkipsLocalStorage",
                   Settings(json!({"safeToEvict": {"autoscalerSkipsLocalStorage": true}}))),
        Case::new("safe-to-evict-false", Some(SafeToEvict),
                  deployment("app", json!({"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"})))
            .finds("kept as the operator's decision",
                   "remove it or set it to \"true\"",
                   Object(json!({"spec": {"template": {"metadata": {"annotations": {"cluster-autoscaler.kubernetes.io/safe-to-evict": "true"}}}}}))),
        Case::new("safe-to-evict-unknown-value", Some(SafeToEvict),
                  deployment("app", json!({"cluster-autoscaler.kubernetes.io/safe-to-evict": "yes"})))
            .finds("does not understand",
                   "set `cluster-autoscaler.kubernetes.io/safe-to-evict: \"true\"` in spec.template.metadata.annotations",
                   Object(json!({"spec": {"template": {"metadata": {"annotations": {"cluster-autoscaler.kubernetes.io/safe-to-evict": "true"}}}}}))),
        // A controller's pod: the fix is in the controller's template, and
        // the pods it makes from it carry the annotation.
        Case::new("safe-to-evict-owned-pod", Some(SafeToEvict),
                  with(pod("app", json!({"cluster-autoscaler.kubernetes.io/safe-to-evict": "yes"})),
                       json!({"metadata": {"ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-5d8f", "uid": "1", "controller": true}]}})))
            .finds("does not understand",
                   "in the pod template of its controller ReplicaSet/web-5d8f",
                   Object(json!({"metadata": {"annotations": {"cluster-autoscaler.kubernetes.io/safe-to-evict": "true"}}}))),
        Case::new("safe-to-evict-bare-pod", Some(SafeToEvict), pod("app", json!({})))
            .settings(json!({"rules": {"safeToEvict": "enforce"}}))
            .finds("linkerd-identity-end-entity listed",
                   "set `cluster-autoscaler.kubernetes.io/safe-to-evict-local-volumes: \"linkerd-identity-end-entity\"` in the Pod's metadata.annotations",
                   Object(json!({"metadata": {"annotations": {"cluster-autoscaler.kubernetes.io/safe-to-evict-local-volumes": "linkerd-identity-end-entity"}}}))),
        Case::new("proxy-missing", Some(ProxyPresent), pod("app", json!({})))
            .settings(json!({"rules": {"proxyPresent": "enforce"}}))
            .finds("has no linkerd-proxy container",
                   "or set `linkerd.io/inject: disabled` on the pod",
                   Object(json!({"metadata": {"annotations": {"linkerd.io/inject": "disabled"}}}))),
        // Recreated, the pod is injected with the annotated requests: what
        // Linkerd's injector writes into the proxy container from them.
        Case::new("proxy-requests-bare-pod", Some(ProxyResources), injected_pod("app", json!({})))
            .finds("has no cpu or memory request",
                   "set `config.linkerd.io/proxy-cpu-request` and `config.linkerd.io/proxy-memory-request` in the Pod's metadata.annotations",
                   Object(json!({"metadata": {"annotations": {"config.linkerd.io/proxy-cpu-request": "100m", "config.linkerd.io/proxy-memory-request": "20Mi"}},
                                 "spec": {"containers": [
                                     {"name": "linkerd-proxy", "image": "cr.l5d.io/linkerd/proxy:edge", "resources": {"requests": {"cpu": "100m", "memory": "20Mi"}}},
                                     {"name": "web", "image": "web"}]}}))),
        Case::new("proxy-requests-annotations", Some(ProxyResources), deployment("app", json!({"cluster-autoscaler.kubernetes.io/safe-to-evict": "true"})))
            .settings(json!({"rules": {"proxyResources": "enforce"}}))
            .finds("meshed pods need proxy resource requests",
                   "to spec.template.metadata.annotations",
                   Object(json!({"spec": {"template": {"metadata": {"annotations": {"config.linkerd.io/proxy-cpu-request": "100m", "config.linkerd.io/proxy-memory-request": "20Mi"}}}}}))),
        Case::new("proxy-request-unreadable", Some(ProxyResources),
                  deployment("app", json!({"cluster-autoscaler.kubernetes.io/safe-to-evict": "true", "config.linkerd.io/proxy-cpu-request": "a lot"})))
            .finds("cannot be read",
                   "set `config.linkerd.io/proxy-cpu-request` to a quantity such as 100m",
                   Object(json!({"spec": {"template": {"metadata": {"annotations": {"config.linkerd.io/proxy-cpu-request": "100m"}}}}}))),
        Case::new("too-few-replicas", Some(ControlPlaneReplicas), with(destination(), json!({"spec": {"replicas": 1}})))
            .finds("runs 1 replica;",
                   "set spec.replicas: 3",
                   Object(json!({"spec": {"replicas": 3}}))),
        Case::new("too-few-replicas-intended", Some(ControlPlaneReplicas), with(destination(), json!({"spec": {"replicas": 1}})))
            .finds("runs 1 replica;",
                   "or set controlPlane.minReplicas: 1 in the policy settings",
                   Settings(json!({"controlPlane": {"minReplicas": 1}}))),
        Case::new("fewer-replicas-than-ha", Some(ControlPlaneReplicas), with(destination(), json!({"spec": {"replicas": 2}})))
            .finds("runs 2 replicas",
                   "or set controlPlane.replicas: 2 in the policy settings",
                   Settings(json!({"controlPlane": {"replicas": 2}}))),
        Case::new("one-replica-intended", Some(ControlPlaneReplicas), with(destination(), json!({"spec": {"replicas": 1}})))
            .settings(json!({"controlPlane": {"minReplicas": 1}}))
            .finds("runs 1 replica, which survives the loss of none",
                   "or set controlPlane.replicas: 1 and rules.disruptionBudgets: off",
                   Settings(json!({"controlPlane": {"replicas": 1}, "rules": {"disruptionBudgets": "off"}}))),
        Case::new("no-required-anti-affinity", Some(ControlPlaneAntiAffinity),
                  with(destination(), json!({"spec": {"template": {"spec": {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": null}}}}}})))
            .finds("lacks a requiredDuringSchedulingIgnoredDuringExecution",
                   "add to spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution: {labelSelector: {matchExpressions: [{key: linkerd.io/control-plane-component, operator: In, values: [destination]}]}, topologyKey: kubernetes.io/hostname}",
                   Object(json!({"spec": {"template": {"spec": {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                       {"labelSelector": {"matchExpressions": [{"key": "linkerd.io/control-plane-component", "operator": "In", "values": ["destination"]}]},
                        "topologyKey": "kubernetes.io/hostname"}]}}}}}}))),
        Case::new("no-preferred-anti-affinity", Some(ControlPlaneAntiAffinity),
                  with(destination(), json!({"spec": {"template": {"spec": {"affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": null}}}}}})))
            .finds("lacks a preferredDuringSchedulingIgnoredDuringExecution",
                   "add to spec.template.spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution: {weight: 100, podAffinityTerm: {labelSelector: {matchExpressions: [{key: linkerd.io/control-plane-component, operator: In, values: [destination]}]}, topologyKey: topology.kubernetes.io/zone}}",
                   Object(json!({"spec": {"template": {"spec": {"affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                       {"weight": 100, "podAffinityTerm": {"labelSelector": {"matchExpressions": [{"key": "linkerd.io/control-plane-component", "operator": "In", "values": ["destination"]}]},
                        "topologyKey": "topology.kubernetes.io/zone"}}]}}}}}}))),
        Case::new("rollout-deadlock", Some(ControlPlaneAntiAffinity),
                  with(destination(), json!({"spec": {"strategy": {"rollingUpdate": {"maxUnavailable": 0}}}})))
            .finds("can never finish a rolling update",
                   "set spec.strategy.rollingUpdate.maxUnavailable: 1",
                   Object(json!({"spec": {"strategy": {"rollingUpdate": {"maxUnavailable": 1}}}}))),
        Case::new("rollout-deadlock-no-nodes-listed", Some(ControlPlaneAntiAffinity),
                  with(destination(), json!({"spec": {"strategy": {"rollingUpdate": {"maxUnavailable": 0}}}})))
            .cluster(base_cluster().into_iter().filter(|o| o["kind"] != "Node").collect())
            .finds("no Node was listed",
                   "set spec.strategy.rollingUpdate.maxUnavailable: 1",
                   Object(json!({"spec": {"strategy": {"rollingUpdate": {"maxUnavailable": 1}}}}))),
        Case::new("requests-missing", Some(ControlPlaneResources),
                  with(destination(), json!({"spec": {"template": {"spec": {"containers": [
                      {"name": "destination", "image": "cr.l5d.io/linkerd/controller"},
                      {"name": "linkerd-proxy", "image": "cr.l5d.io/linkerd/proxy", "resources": {"requests": {"cpu": "100m", "memory": "20Mi"}}}]}}}})))
            .finds("requests no cpu",
                   "set resources.requests on container \"destination\" (containers[0]): cpu: 100m, memory: 10Mi",
                   Object(json!({"spec": {"template": {"spec": {"containers": [
                      {"name": "destination", "image": "cr.l5d.io/linkerd/controller", "resources": {"requests": {"cpu": "100m", "memory": "10Mi"}}},
                      {"name": "linkerd-proxy", "image": "cr.l5d.io/linkerd/proxy", "resources": {"requests": {"cpu": "100m", "memory": "20Mi"}}}]}}}}))),
        Case::new("requests-below", Some(ControlPlaneResources),
                  with(destination(), json!({"spec": {"template": {"spec": {"containers": [
                      {"name": "destination", "image": "cr.l5d.io/linkerd/controller", "resources": {"requests": {"cpu": "10m", "memory": "50Mi"}}},
                      {"name": "linkerd-proxy", "image": "cr.l5d.io/linkerd/proxy", "resources": {"requests": {"cpu": "100m", "memory": "20Mi"}}}]}}}})))
            .finds("requests cpu 10m",
                   "raise resources.requests.cpu on container \"destination\" (containers[0]) to at least 100m",
                   Object(json!({"spec": {"template": {"spec": {"containers": [
                      {"name": "destination", "image": "cr.l5d.io/linkerd/controller", "resources": {"requests": {"cpu": "100m", "memory": "50Mi"}}},
                      {"name": "linkerd-proxy", "image": "cr.l5d.io/linkerd/proxy", "resources": {"requests": {"cpu": "100m", "memory": "20Mi"}}}]}}}}))),
        Case::new("requests-below-intended", Some(ControlPlaneResources),
                  with(destination(), json!({"spec": {"template": {"spec": {"containers": [
                      {"name": "destination", "image": "cr.l5d.io/linkerd/controller", "resources": {"requests": {"cpu": "10m", "memory": "50Mi"}}},
                      {"name": "linkerd-proxy", "image": "cr.l5d.io/linkerd/proxy", "resources": {"requests": {"cpu": "100m", "memory": "20Mi"}}}]}}}})))
            .finds("requests cpu 10m",
                   "or lower controlPlane.requests.cpu",
                   Settings(json!({"controlPlane": {"requests": {"cpu": "10m"}}}))),
        Case::new("budget-blocks-drains", Some(DisruptionBudgets), budget("linkerd-destination", json!({"maxUnavailable": 0})))
            .finds("allows no disruption",
                   "use maxUnavailable: 1",
                   Object(json!({"spec": {"maxUnavailable": 1}}))),
        Case::new("budget-missing", Some(DisruptionBudgets), destination())
            .cluster(base_cluster().into_iter().filter(|o| o["kind"] != "PodDisruptionBudget").collect())
            .finds("no PodDisruptionBudget",
                   "create a PodDisruptionBudget with maxUnavailable: 1 selecting linkerd.io/control-plane-component=destination",
                   Cluster { objects: vec![budget("linkerd-destination", json!({"maxUnavailable": 1}))], grant: vec![] }),
        Case::new("budgets-refused", Some(DisruptionBudgets), destination())
            .refused(ObjectKind::PodDisruptionBudget)
            .finds("the policy may not read the PodDisruptionBudgets",
                   "grant the policy list on policy/v1 PodDisruptionBudget",
                   Cluster { objects: vec![], grant: vec![ObjectKind::PodDisruptionBudget] }),
        Case::new("failure-policy", Some(InjectorWebhook), loosened_webhook())
            .finds("has failurePolicy Ignore",
                   "set failurePolicy: Fail",
                   Object(failing_closed_webhooks())),
        Case::new("failure-policy-loosened", Some(InjectorWebhook), loosened_webhook())
            .finds("has failurePolicy Ignore",
                   "or set injectorWebhook.failurePolicy: Ignore",
                   Settings(json!({"injectorWebhook": {"failurePolicy": "Ignore"}}))),
        Case::new("prometheus-retention", Some(PrometheusRetention),
                  test_data("kubewarden/objects/prometheus-time-only.yaml").remove(0))
            .settings(json!({"prometheus": {"require": "both"}}))
            .finds("prometheus.require: both",
                   "set spec.retentionSize (e.g. 10GB)",
                   Object(json!({"spec": {"retentionSize": "10GB"}}))),
        Case::new("prometheus-memory", Some(PrometheusRetention),
                  prometheus_deployment(json!(["--storage.tsdb.retention.time=6h"]), json!({"requests": {"memory": "100Mi"}})))
            .settings(json!({"prometheus": {"meshedPods": 100}}))
            .finds("meshed pods (prometheus.meshedPods) need about",
                   "set resources.requests.memory of container \"prometheus\" to at least 500Mi",
                   Object(json!({"spec": {"template": {"spec": {"containers": [{"name": "prometheus", "image": "prom/prometheus",
                       "args": ["--storage.tsdb.retention.time=6h"], "resources": {"requests": {"memory": "500Mi"}}}]}}}}))),
        Case::new("too-few-nodes", Some(NodeCapacity), destination())
            .cluster([base_cluster().into_iter().filter(|o| o["kind"] != "Node").collect(), nodes(2)].concat())
            .finds("only 2 of 2 node(s) are schedulable",
                   "add nodes its pods may run on",
                   Cluster { objects: nodes(3), grant: vec![] }),
        Case::new("nodes-refused", Some(NodeCapacity), destination())
            .refused(ObjectKind::Node)
            .finds("the policy may not read the Nodes",
                   "grant the policy list on v1 Node",
                   Cluster { objects: vec![], grant: vec![ObjectKind::Node] }),
        Case::new("cordon-leaves-too-few-nodes", Some(NodeChanges), node("node-2", json!({"unschedulable": true})))
            .cluster(with_control_plane())
            .updating(node("node-2", json!({})))
            .finds("cordoning the node leaves fewer schedulable nodes than replicas",
                   "when the work on the node is done, run `kubectl uncordon node-2`",
                   Object(json!({"spec": {"unschedulable": false}}))),
        Case::new("taint-leaves-too-few-nodes", Some(NodeChanges),
                  node("node-2", json!({"taints": [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]})))
            .cluster(with_control_plane())
            .updating(node("node-2", json!({})))
            .finds("adding the taint dedicated=db:NoSchedule leaves fewer schedulable nodes than replicas",
                   "or add a node the components' pods may run on (HA mode assumes at least 3)",
                   Cluster { objects: vec![node("node-3", json!({}))], grant: vec![] }),
        Case::new("delete-leaves-too-few-nodes", Some(NodeChanges), node("node-1", json!({})))
            .cluster(with_control_plane())
            .deleting()
            .finds("deleting the node leaves fewer schedulable nodes than replicas",
                   "add a node the components' pods may run on (HA mode assumes at least 3) before the next rollout",
                   Cluster { objects: vec![node("node-3", json!({}))], grant: vec![] }),
        Case::new("components-refused", Some(NodeChanges), node("node-2", json!({"unschedulable": true})))
            .cluster(with_control_plane())
            .updating(node("node-2", json!({})))
            .refused(ObjectKind::Deployment)
            .finds("so the room cordoning the node leaves the control plane is unknown",
                   "grant the policy list on apps/v1 Deployment",
                   Cluster { objects: vec![], grant: vec![ObjectKind::Deployment] }),
        Case::new("namespace-missing", None, deployment("shop", json!({"linkerd.io/inject": "enabled"})))
            .finds("namespace \"shop\" does not exist",
                   "create Namespace shop before its workloads",
                   Cluster { objects: vec![namespace("shop", json!({}), json!({}))], grant: vec![] }),
        Case::new("namespace-refused", None, deployment("app", json!({})))
            .refused(ObjectKind::Namespace)
            .finds("the policy may not read namespace \"app\"",
                   "grant the policy get on v1 Namespace",
                   Cluster { objects: vec![], grant: vec![ObjectKind::Namespace] }),
    ]
}

/// Every line the user reads for the object: the rejection's lines, then
/// the warnings.
fn lines(verdict: &Verdict) -> Vec<String> {
    let mut lines: Vec<String> = match &verdict.message {
        Some(message) if message.contains("\n- ") => {
            message.split("\n- ").skip(1).map(String::from).collect()
        }
        Some(message) => vec![message.clone()],
        None => Vec::new(),
    };
    lines.extend(verdict.warnings().iter().cloned());
    lines
}

fn judge(
    case: &Case,
    cluster: &[Value],
    refused: &[ObjectKind],
    object: &Value,
    settings: &Value,
) -> Verdict {
    let mut store = Cluster::from_objects(cluster.iter().cloned());
    for kind in refused {
        store.set_failing(*kind, true);
    }
    let module = load(store);
    let request = match &case.old {
        _ if case.deleting => AdmissionRequestBuilder::new(object, "DELETE").build(),
        Some(old) => AdmissionRequestBuilder::new(object, "UPDATE")
            .old_object(old)
            .build(),
        None => AdmissionRequestBuilder::new(object, "CREATE").build(),
    };
    module
        .validate(&request, settings)
        .unwrap_or_else(|e| panic!("{}: the guest failed: {e}", case.name))
}

/// The finding's line, if the verdict has it.
fn finding_line(case: &Case, verdict: &Verdict) -> Option<String> {
    let tag = case.rule.map(|rule| format!("[{}] ", rule.name()));
    lines(verdict).into_iter().find(|line| {
        line.contains(case.finding)
            && match &tag {
                Some(tag) => line.starts_with(tag.as_str()),
                None => !line.starts_with('['),
            }
    })
}

/// Runs the case: the finding with its advice, then the advice followed.
fn run(case: &Case) -> String {
    let before = judge(
        case,
        &case.cluster,
        &case.refused,
        &case.object,
        &case.settings,
    );
    let line = finding_line(case, &before).unwrap_or_else(|| {
        panic!(
            "{}: no line with {:?}; the module said {:#?}",
            case.name,
            case.finding,
            lines(&before)
        )
    });
    let fix = line
        .split_once(" Fix: ")
        .unwrap_or_else(|| panic!("{}: {line:?} has no \"Fix:\"", case.name))
        .1;
    assert!(
        fix.contains(case.says),
        "{}: the fix {fix:?} does not say {:?}",
        case.name,
        case.says
    );

    let (mut cluster, mut refused, mut object, mut settings) = (
        case.cluster.clone(),
        case.refused.clone(),
        case.object.clone(),
        case.settings.clone(),
    );
    match &case.follow {
        Follow::Settings(patch) => {
            json_patch::merge(&mut settings, patch);
            let module = load(Cluster::default());
            let validation = module
                .validate_settings(&settings)
                .expect("validate_settings runs");
            assert!(
                validation.valid,
                "{}: the advised settings {settings} are refused: {:?}",
                case.name, validation.message
            );
        }
        Follow::Object(patch) => json_patch::merge(&mut object, patch),
        Follow::Cluster { objects, grant } => {
            for added in objects {
                cluster.retain(|o| {
                    !(o["kind"] == added["kind"]
                        && o["metadata"]["name"] == added["metadata"]["name"])
                });
                cluster.push(added.clone());
            }
            refused.retain(|kind| !grant.contains(kind));
        }
    }
    let after = judge(case, &cluster, &refused, &object, &settings);
    assert_eq!(
        finding_line(case, &after),
        None,
        "{}: following {:?} left the finding",
        case.name,
        case.says
    );
    line
}

#[test]
fn every_fix_removes_its_finding_and_the_docs_quote_the_messages() {
    let cases = cases();
    let mut doc = String::from(
        "# What the policy says\n\n\
         Each message below is what the built module answered, quoted by\n\
         `tests/advice.rs`, which also follows each message's fix as it is\n\
         written and checks that the finding is gone. Regenerate with\n\
         `UPDATE_DOCS=1 cargo test --test advice`.\n\n\
         Every line reads `[rule] Kind namespace/name: what is wrong. Fix: how\n\
         to fix it`; the edge's own warnings (a namespace that could not be\n\
         read) start at the object. A rejection with several lines lists every\n\
         one of them, so one fix-and-retry cycle is enough.\n",
    );
    // Cases that follow two fixes of one message quote it once.
    let mut quoted: Vec<(Option<RuleId>, Vec<&str>, String)> = Vec::new();
    for case in &cases {
        let line = run(case);
        match quoted.last_mut() {
            Some((_, names, last)) if *last == line => names.push(case.name),
            _ => quoted.push((case.rule, vec![case.name], line)),
        }
    }
    let mut section = None;
    for (rule, names, line) in &quoted {
        if section != Some(*rule) {
            section = Some(*rule);
            let heading = rule.map_or("The edge's own warnings".to_string(), |r| {
                format!("`{}`", r.name())
            });
            doc.push_str(&format!("\n## {heading}\n"));
        }
        doc.push_str(&format!(
            "\n{}:\n\n```text\n{line}\n```\n",
            names.join(", ")
        ));
    }

    let covered: BTreeSet<RuleId> = cases.iter().filter_map(|case| case.rule).collect();
    let every: BTreeSet<RuleId> = RuleId::ALL.into_iter().collect();
    assert_eq!(covered, every, "a rule without an advice case");

    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/messages.md");
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, &doc).expect("docs/messages.md is written");
    }
    let written = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        written == doc,
        "docs/messages.md does not quote what the module says; regenerate it with UPDATE_DOCS=1 cargo test --test advice"
    );
}
