//! Linkerd's own manifests (../shared/fixtures/linkerd) through the built
//! module: the HA install is compliant, the default install is not, and
//! `linkerd inject` output is a meshed workload.

mod common;

use common::*;
use policy_harness::{Cluster, Outcome, PolicyModule};
use rstest::rstest;
use serde_json::{json, Value};

/// A cluster holding what the manifests create (Namespaces, PDBs) and three
/// nodes, answering the module's lookups as the API server would after
/// `kubectl apply`.
fn cluster_for(objects: &[Value]) -> Cluster {
    Cluster::from_objects(objects.iter().cloned().chain(nodes(3)))
}

fn critical(object: &Value) -> bool {
    object["kind"] == "Deployment"
        && [
            "linkerd-destination",
            "linkerd-identity",
            "linkerd-proxy-injector",
        ]
        .contains(&object["metadata"]["name"].as_str().unwrap_or_default())
}

#[test]
fn ha_install_is_accepted_without_mutation() {
    let objects = linkerd_fixture("install_ha_output.golden");
    assert!(
        objects.len() > 30,
        "the HA install has {} objects",
        objects.len()
    );
    let module = load(cluster_for(&objects));
    for object in &objects {
        let verdict = create(&module, object, &json!({}));
        assert_eq!(
            verdict.outcome(),
            Outcome::Accepted,
            "{}: {:?} {:?}",
            describe(object),
            verdict.message,
            verdict.patch(object)
        );
        assert!(
            verdict.warnings().is_empty(),
            "{}: {:?}",
            describe(object),
            verdict.warnings()
        );
    }
}

#[test]
fn ha_install_lookups_are_only_what_the_rules_need() {
    let objects = linkerd_fixture("install_ha_output.golden");
    let module = load(cluster_for(&objects));
    for object in objects.iter().filter(|o| critical(o)) {
        module.clear_host_calls();
        create(&module, object, &json!({}));
        let kinds: Vec<String> = module
            .host_calls()
            .iter()
            .filter_map(|c| c.kind().map(String::from))
            .collect();
        assert_eq!(
            kinds,
            ["PodDisruptionBudget", "Node"],
            "{}",
            describe(object)
        );
    }
}

#[test]
fn default_install_control_plane_is_rejected_naming_the_fix() {
    let objects = linkerd_fixture("install_default.golden");
    let module = load(cluster_for(&objects));
    let mut rejected = Vec::new();
    for object in &objects {
        let verdict = create(&module, object, &json!({}));
        if critical(object) {
            let message = verdict.message.clone().unwrap_or_default();
            assert!(!verdict.accepted, "{} accepted", describe(object));
            for expected in [
                "[controlPlaneReplicas]",
                "controlPlane.replicas",
                "[controlPlaneAntiAffinity]",
                "kubernetes.io/hostname",
                "topology.kubernetes.io/zone",
            ] {
                assert!(
                    message.contains(expected),
                    "{}: {expected:?} not in {message}",
                    describe(object)
                );
            }
        }
        if object["kind"] == "MutatingWebhookConfiguration" {
            let message = verdict.message.clone().unwrap_or_default();
            assert!(!verdict.accepted);
            assert!(
                message.contains("failurePolicy Ignore")
                    && message.contains("injectorWebhook.failurePolicy"),
                "{message}"
            );
        }
        if !verdict.accepted {
            rejected.push(describe(object));
        }
    }
    rejected.sort();
    assert_eq!(
        rejected,
        [
            "Deployment linkerd/linkerd-destination",
            "Deployment linkerd/linkerd-identity",
            "Deployment linkerd/linkerd-proxy-injector",
            "MutatingWebhookConfiguration /linkerd-proxy-injector-webhook-config",
        ]
    );
}

#[test]
fn default_install_webhook_passes_when_ignore_is_the_intent() {
    let objects = linkerd_fixture("install_default.golden");
    let module = load(cluster_for(&objects));
    let webhook = objects
        .iter()
        .find(|o| o["kind"] == "MutatingWebhookConfiguration")
        .unwrap();
    let verdict = create(
        &module,
        webhook,
        &json!({"injectorWebhook": {"failurePolicy": "Ignore"}}),
    );
    assert!(verdict.accepted, "{:?}", verdict.message);
}

/// The HA page's `linkerd install --ha --controller-replicas=2`: admitted
/// under the defaults, with a warning that HA mode runs 3.
#[test]
fn controller_replicas_two_is_admitted_with_a_warning() {
    let objects = linkerd_fixture("install_ha_with_overrides_output.golden");
    let module = load(cluster_for(&objects));
    let criticals: Vec<&Value> = objects.iter().filter(|o| critical(o)).collect();
    assert_eq!(criticals.len(), 3);
    for object in criticals {
        let under_defaults = create(&module, object, &json!({}));
        assert_eq!(
            under_defaults.outcome(),
            Outcome::Accepted,
            "{}: {:?}",
            describe(object),
            under_defaults.message
        );
        assert_eq!(
            under_defaults.warnings().len(),
            1,
            "{:?}",
            under_defaults.warnings()
        );
        assert!(
            under_defaults.warnings()[0]
                .contains("runs 2 replicas, which survive the loss of 1; HA mode runs 3 (controlPlane.replicas)"),
            "{:?}",
            under_defaults.warnings()
        );
        let configured = create(&module, object, &json!({"controlPlane": {"replicas": 2}}));
        assert_eq!(configured.outcome(), Outcome::Accepted);
        assert!(
            configured.warnings().is_empty(),
            "{:?}",
            configured.warnings()
        );
        let stricter = create(
            &module,
            object,
            &json!({"controlPlane": {"minReplicas": 3}}),
        );
        assert!(!stricter.accepted, "{}", describe(object));
        assert!(stricter
            .message
            .unwrap_or_default()
            .contains("the policy accepts no fewer than 3 (controlPlane.minReplicas)"));
    }
    for object in objects.iter().filter(|o| !critical(o)) {
        let verdict = create(&module, object, &json!({}));
        assert!(
            verdict.accepted,
            "{}: {:?}",
            describe(object),
            verdict.message
        );
    }
}

#[test]
fn one_replica_is_rejected_under_the_defaults() {
    let objects = linkerd_fixture("install_ha_output.golden");
    let module = load(cluster_for(&objects));
    let mut identity = find(&objects, "Deployment", "linkerd-identity");
    identity["spec"]["replicas"] = json!(1);
    let verdict = create(&module, &identity, &json!({}));
    assert_eq!(
        verdict.message.as_deref(),
        Some("[controlPlaneReplicas] Deployment linkerd/linkerd-identity: critical component identity runs 1 replica; the policy accepts no fewer than 2 (controlPlane.minReplicas) and HA mode runs 3 (controlPlane.replicas). Fix: set spec.replicas: 3 (linkerd install --ha, or --controller-replicas=3), or set controlPlane.minReplicas: 1 in the policy settings if fewer replicas are intended")
    );
}

fn find(objects: &[Value], kind: &str, name: &str) -> Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("{kind} {name} is in the fixture"))
}

#[test]
fn default_install_is_fixed_by_mutation_where_it_can_be() {
    let objects = linkerd_fixture("install_default.golden");
    let module = load(cluster_for(&objects));
    // Replicas and budgets cannot be fixed by mutation: only warned about here.
    let settings = json!({"rules": {"controlPlaneAntiAffinity": "mutate", "controlPlaneResources": "mutate",
                                    "controlPlaneReplicas": "warn", "disruptionBudgets": "warn"}});
    for object in objects.iter().filter(|o| critical(o)) {
        let verdict = create(&module, object, &settings);
        assert_eq!(
            verdict.outcome(),
            Outcome::Mutated,
            "{}: {:?}",
            describe(object),
            verdict.message
        );
        assert!(
            verdict
                .warnings()
                .iter()
                .any(|w| w.contains("[controlPlaneReplicas]")),
            "{:?}",
            verdict.warnings()
        );
        let mutated = verdict.mutated_object.as_ref().unwrap();
        let anti_affinity = &mutated["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"];
        assert_eq!(
            anti_affinity["requiredDuringSchedulingIgnoredDuringExecution"][0]["topologyKey"],
            "kubernetes.io/hostname"
        );
        assert_eq!(
            anti_affinity["preferredDuringSchedulingIgnoredDuringExecution"][0]["weight"],
            100
        );
        // values-ha.yaml's companion setting: 25% of the replicas rounds
        // down to 0, and with a pod per node the rollout would wait forever.
        assert_eq!(
            object["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"],
            "25%"
        );
        assert_eq!(
            mutated["spec"]["strategy"],
            json!({"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}})
        );
        assert_idempotent(&module, &verdict, &settings);
    }
}

fn inject_cluster() -> Cluster {
    Cluster::from_objects([
        namespace("emojivoto", json!({}), json!({})),
        namespace(
            "kube-public",
            json!({"linkerd.io/inject": "enabled"}),
            json!({}),
        ),
    ])
}

#[test]
fn injected_workloads_are_meshed_and_get_safe_to_evict() {
    let module = load(inject_cluster());
    for name in [
        "inject_emojivoto_deployment.golden.yml",
        "inject_emojivoto_cronjob.golden.yml",
    ] {
        for object in linkerd_fixture(name) {
            let verdict = create(&module, &object, &json!({}));
            assert_eq!(
                verdict.outcome(),
                Outcome::Mutated,
                "{name}: {:?}",
                verdict.message
            );
            let patch = serde_json::to_value(verdict.patch(&object).unwrap()).unwrap();
            let path = if object["kind"] == "CronJob" {
                "/spec/jobTemplate/spec/template/metadata/annotations/cluster-autoscaler.kubernetes.io~1safe-to-evict"
            } else {
                "/spec/template/metadata/annotations/cluster-autoscaler.kubernetes.io~1safe-to-evict"
            };
            assert_eq!(
                patch,
                json!([{"op": "add", "path": path, "value": "true"}]),
                "{name}"
            );
            assert_idempotent(&module, &verdict, &json!({}));
        }
    }
}

#[test]
fn uninjected_workload_without_intent_is_left_alone() {
    let module = load(inject_cluster());
    for name in [
        "inject_emojivoto_deployment.input.yml",
        "inject_emojivoto_cronjob.input.yml",
    ] {
        for object in linkerd_fixture(name) {
            assert_eq!(
                create(&module, &object, &json!({})).outcome(),
                Outcome::Accepted,
                "{name}"
            );
        }
    }
}

#[test]
fn injector_fixtures_follow_the_namespace_annotation() {
    let objects: Vec<Value> = [
        "injector-namespace-inject-enabled.yaml",
        "injector-namespace-inject-disabled.yaml",
    ]
    .into_iter()
    .flat_map(linkerd_fixture)
    .collect();
    let module = load(Cluster::from_objects(objects));
    // kube-public enables injection, the Deployment opts out: not meshed.
    let disabled = linkerd_fixture("injector-deployment-inject-disabled.yaml").remove(0);
    assert_eq!(
        create(&module, &disabled, &json!({})).outcome(),
        Outcome::Accepted
    );
    // The same Deployment without its opt-out inherits the namespace's.
    let mut inherited = disabled.clone();
    inherited["spec"]["template"]["metadata"]["annotations"]
        .as_object_mut()
        .unwrap()
        .remove("linkerd.io/inject");
    let verdict = create(&module, &inherited, &json!({}));
    assert_eq!(verdict.outcome(), Outcome::Mutated, "{:?}", verdict.message);
}

fn ha_module() -> (PolicyModule, Vec<Value>) {
    let objects = linkerd_fixture("install_ha_output.golden");
    (load(cluster_for(&objects)), objects)
}

/// `kubectl apply` creates linkerd-proxy-injector before its budget: the
/// missing budget is cluster state, reported and never rejected.
#[rstest]
#[case::identity("linkerd-identity", "identity")]
#[case::proxy_injector_before_its_budget("linkerd-proxy-injector", "proxy-injector")]
fn missing_budget_is_a_warning_not_a_rejection(#[case] name: &str, #[case] component: &str) {
    let (_, objects) = ha_module();
    let without_budgets: Vec<Value> = objects
        .iter()
        .filter(|o| o["kind"] != "PodDisruptionBudget")
        .cloned()
        .collect();
    let module = load(cluster_for(&without_budgets));
    let deployment = find(&objects, "Deployment", name);
    let verdict = create(&module, &deployment, &json!({}));
    assert_eq!(
        verdict.outcome(),
        Outcome::Accepted,
        "{:?}",
        verdict.message
    );
    assert_eq!(
        verdict.warnings(),
        [format!("[disruptionBudgets] Deployment linkerd/{name}: no PodDisruptionBudget in \"linkerd\" selects critical component {component} yet, so a node drain may evict every replica at once. Fix: create a PodDisruptionBudget with maxUnavailable: 1 selecting linkerd.io/control-plane-component={component} (linkerd install --ha does)")]
    );
}

#[test]
fn an_empty_selector_budget_covers_the_control_plane() {
    let (_, objects) = ha_module();
    let mut cluster_objects: Vec<Value> = objects
        .iter()
        .filter(|o| o["kind"] != "PodDisruptionBudget")
        .cloned()
        .collect();
    cluster_objects.push(
        json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": "everything", "namespace": "linkerd"},
        "spec": {"maxUnavailable": 1, "selector": {}}}),
    );
    let module = load(cluster_for(&cluster_objects));
    let verdict = create(
        &module,
        &find(&objects, "Deployment", "linkerd-destination"),
        &json!({}),
    );
    assert_eq!(verdict.outcome(), Outcome::Accepted);
    assert!(verdict.warnings().is_empty(), "{:?}", verdict.warnings());
}

#[rstest]
#[case::ha(json!({"maxUnavailable": 1}), None)]
#[case::blocks_every_drain(json!({"maxUnavailable": 0}), Some("maxUnavailable: 0 allows no disruption, which blocks every node drain"))]
#[case::min_available_all(json!({"minAvailable": 3}), Some("keeps all 3 replicas (controlPlane.replicas) up, which blocks every node drain"))]
#[case::all_at_once(json!({"maxUnavailable": 3}), Some("maxUnavailable: 3 lets all 3 replicas (controlPlane.replicas) be evicted at once, so it protects nothing"))]
#[case::whole_percentage(json!({"maxUnavailable": "100%"}), Some("so it protects nothing"))]
#[case::min_available_zero(json!({"minAvailable": 0}), Some("minAvailable: 0 keeps none of the 3 replicas (controlPlane.replicas) up, so it protects nothing"))]
#[case::empty_selector_blocks_the_whole_control_plane(json!({"maxUnavailable": 0, "selector": {}}), Some("PodDisruptionBudget linkerd-identity for destination, identity, proxy-injector: maxUnavailable: 0 allows no disruption"))]
#[case::absent_selector_selects_nothing(json!({"maxUnavailable": 0, "selector": null}), None)]
fn budgets_are_judged_through_the_module(#[case] spec: Value, #[case] problem: Option<&str>) {
    let (module, objects) = ha_module();
    let mut budget = find(&objects, "PodDisruptionBudget", "linkerd-identity");
    let selector = budget["spec"]["selector"].clone();
    budget["spec"] = spec;
    if budget["spec"].get("selector").is_none() {
        budget["spec"]["selector"] = selector;
    } else if budget["spec"]["selector"].is_null() {
        budget["spec"].as_object_mut().unwrap().remove("selector");
    }
    let verdict = create(&module, &budget, &json!({}));
    match problem {
        None => assert_eq!(
            verdict.outcome(),
            Outcome::Accepted,
            "{:?}",
            verdict.message
        ),
        Some(problem) => {
            let message = verdict.message.unwrap_or_default();
            assert!(!verdict.accepted);
            assert!(
                message.starts_with(
                    "[disruptionBudgets] PodDisruptionBudget linkerd/linkerd-identity: "
                ),
                "{message}"
            );
            assert!(message.contains(problem), "{message:?} lacks {problem:?}");
            assert!(
                message.ends_with("Fix: use maxUnavailable: 1 as linkerd install --ha does"),
                "{message}"
            );
        }
    }
}

/// The HA install's webhook has no objectSelector: safe only because the
/// `linkerd` namespace opts out, which the policy reads from the cluster.
#[rstest]
#[case::namespace_opted_out(json!({"config.linkerd.io/admission-webhooks": "disabled"}), json!(null), true)]
#[case::namespace_selected(json!({}), json!(null), false)]
#[case::chart_object_selector(json!({}), json!({"matchExpressions": [{"key": "linkerd.io/control-plane-component", "operator": "DoesNotExist"}, {"key": "linkerd.io/cni-resource", "operator": "DoesNotExist"}]}), true)]
fn injector_webhook_never_deadlocks_the_control_plane(
    #[case] namespace_labels: Value,
    #[case] object_selector: Value,
    #[case] accepted: bool,
) {
    let objects = linkerd_fixture("install_ha_output.golden");
    let cluster_objects: Vec<Value> = objects
        .iter()
        .filter(|o| o["kind"] != "Namespace")
        .cloned()
        .chain([namespace("linkerd", json!({}), namespace_labels)])
        .collect();
    let module = load(cluster_for(&cluster_objects));
    let mut webhook = find(
        &objects,
        "MutatingWebhookConfiguration",
        "linkerd-proxy-injector-webhook-config",
    );
    webhook["webhooks"][0]["objectSelector"] = object_selector.clone();
    module.clear_host_calls();
    let verdict = create(&module, &webhook, &json!({}));
    assert_eq!(verdict.accepted, accepted, "{:?}", verdict.message);
    assert!(verdict.warnings().is_empty(), "{:?}", verdict.warnings());
    let lookups: Vec<String> = module
        .host_calls()
        .iter()
        .filter_map(|c| c.kind().map(String::from))
        .collect();
    let expected: &[&str] = if object_selector.is_null() {
        &["Namespace"]
    } else {
        &[]
    };
    assert_eq!(lookups, expected);
    if !accepted {
        let message = verdict.message.unwrap();
        assert!(
            message.contains("has no objectSelector leaving out pods labelled linkerd.io/control-plane-component, and its namespaceSelector selects the control-plane namespace \"linkerd\""),
            "{message}"
        );
        assert!(message.contains("operator: DoesNotExist"), "{message}");
    }
}

#[rstest]
#[case::opt_in(json!({"matchExpressions": [{"key": "config.linkerd.io/admission-webhooks", "operator": "In", "values": ["enabled"]}]}), true)]
#[case::does_not_exist(json!({"matchExpressions": [{"key": "config.linkerd.io/admission-webhooks", "operator": "DoesNotExist"}]}), true)]
#[case::match_labels(json!({"matchLabels": {"config.linkerd.io/admission-webhooks": "enabled"}}), true)]
#[case::by_name_only(json!({"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system"]}]}), false)]
#[case::everything(json!({}), false)]
fn injector_namespace_selectors_are_evaluated(#[case] selector: Value, #[case] accepted: bool) {
    let (module, objects) = ha_module();
    let mut webhook = find(
        &objects,
        "MutatingWebhookConfiguration",
        "linkerd-proxy-injector-webhook-config",
    );
    webhook["webhooks"][0]["namespaceSelector"] = selector;
    webhook["webhooks"][0]["objectSelector"] = json!({"matchExpressions": [{"key": "linkerd.io/control-plane-component", "operator": "DoesNotExist"}]});
    let verdict = create(&module, &webhook, &json!({}));
    assert_eq!(verdict.accepted, accepted, "{:?}", verdict.message);
    if !accepted {
        assert!(verdict
            .message
            .unwrap()
            .contains("selects namespaces labelled config.linkerd.io/admission-webhooks=disabled"));
    }
}

fn ha_nodes_cluster(objects: &[Value], node_count: usize) -> policy_harness::Cluster {
    Cluster::from_objects(objects.iter().cloned().chain(nodes(node_count)))
}

/// The default 25% of 3 replicas rounds down to 0: with a pod per node and
/// no spare node, the rollout never progresses.
#[rstest]
#[case::three_nodes(3, false)]
#[case::spare_node(4, true)]
fn rollout_deadlock_is_rejected_under_enforce(#[case] node_count: usize, #[case] accepted: bool) {
    let objects = linkerd_fixture("install_ha_output.golden");
    let module = load(ha_nodes_cluster(&objects, node_count));
    let mut destination = find(&objects, "Deployment", "linkerd-destination");
    destination["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] = json!("25%");
    let verdict = create(&module, &destination, &json!({}));
    assert_eq!(verdict.accepted, accepted, "{:?}", verdict.message);
    if !accepted {
        assert_eq!(
            verdict.message.as_deref(),
            Some("[controlPlaneAntiAffinity] Deployment linkerd/linkerd-destination: critical component destination can never finish a rolling update: maxUnavailable: \"25%\" rounds down to 0 of 3 replicas, so each new pod needs a node with none of the component's pods (required anti-affinity on kubernetes.io/hostname), and its 3 replicas fill all 3 schedulable node(s). Fix: set spec.strategy.rollingUpdate.maxUnavailable: 1 (linkerd install --ha does)")
        );
    }
}

#[test]
fn rollout_limit_is_added_under_mutate_when_absent() {
    let objects = linkerd_fixture("install_ha_output.golden");
    let module = load(ha_nodes_cluster(&objects, 3));
    let mut destination = find(&objects, "Deployment", "linkerd-destination");
    destination["spec"]
        .as_object_mut()
        .unwrap()
        .remove("strategy");
    let settings = json!({"rules": {"controlPlaneAntiAffinity": "mutate"}});
    let verdict = create(&module, &destination, &settings);
    assert_eq!(verdict.outcome(), Outcome::Mutated, "{:?}", verdict.message);
    assert_eq!(
        serde_json::to_value(verdict.patch(&destination).unwrap()).unwrap(),
        json!([{"op": "add", "path": "/spec/strategy", "value": {"rollingUpdate": {"maxUnavailable": 1}}}])
    );
    assert_idempotent(&module, &verdict, &settings);
}

/// Under mutate, one rejection lists every violation, the fixable ones too.
#[test]
fn a_rejection_under_mutate_lists_what_the_policy_would_fix() {
    let objects = linkerd_fixture("install_default.golden");
    let module = load(cluster_for(&objects));
    let identity = find(&objects, "Deployment", "linkerd-identity");
    let settings =
        json!({"rules": {"controlPlaneAntiAffinity": "mutate", "controlPlaneResources": "mutate"}});
    let verdict = create(&module, &identity, &settings);
    assert!(!verdict.accepted);
    let message = verdict.message.unwrap();
    assert!(
        message.starts_with("Deployment linkerd/linkerd-identity violates 5 Linkerd HA rules; the policy would fix 4 of them itself once the other is fixed:\n- [controlPlaneReplicas]"),
        "{message}"
    );
    assert_eq!(
        message
            .matches("— the policy makes this fix itself once nothing else rejects the object")
            .count(),
        4,
        "{message}"
    );
    assert!(message.contains("requiredDuringSchedulingIgnoredDuringExecution"));
    assert!(message.contains("preferredDuringSchedulingIgnoredDuringExecution"));
    assert!(!message.contains(".."), "{message}");
}
