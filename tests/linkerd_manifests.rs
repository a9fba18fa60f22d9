//! Linkerd's own manifests (../shared/fixtures/linkerd) through the built
//! module: the HA install is compliant, the default install is not, and
//! `linkerd inject` output is a meshed workload.

mod common;

use common::*;
use policy_harness::{Cluster, Outcome, PolicyModule};
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

#[test]
fn controller_replicas_override_needs_matching_settings() {
    let objects = linkerd_fixture("install_ha_with_overrides_output.golden");
    let module = load(cluster_for(&objects));
    let criticals: Vec<&Value> = objects.iter().filter(|o| critical(o)).collect();
    assert_eq!(criticals.len(), 3);
    for object in criticals {
        let under_defaults = create(&module, object, &json!({}));
        assert!(!under_defaults.accepted, "{}", describe(object));
        assert!(under_defaults
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("runs 2 replica(s)"));
        let configured = create(&module, object, &json!({"controlPlane": {"replicas": 2}}));
        assert_eq!(
            configured.outcome(),
            Outcome::Accepted,
            "{}: {:?}",
            describe(object),
            configured.message
        );
    }
    for object in objects.iter().filter(|o| !critical(o)) {
        assert!(
            create(&module, object, &json!({"controlPlane": {"replicas": 2}})).accepted,
            "{}",
            describe(object)
        );
    }
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

#[test]
fn missing_budget_is_found_through_the_cluster() {
    let (_, objects) = ha_module();
    let without_budgets: Vec<Value> = objects
        .iter()
        .filter(|o| o["kind"] != "PodDisruptionBudget")
        .cloned()
        .collect();
    let module = load(cluster_for(&without_budgets));
    let identity = objects
        .iter()
        .find(|o| o["metadata"]["name"] == "linkerd-identity" && o["kind"] == "Deployment")
        .unwrap();
    let verdict = create(&module, identity, &json!({}));
    assert!(!verdict.accepted);
    assert!(verdict
        .message
        .unwrap()
        .contains("no PodDisruptionBudget in \"linkerd\" selects critical component identity"));
}
