//! The built module through the waPC protocol, as Kubewarden's policy server
//! calls it: settings validation, every rule's accepting, rejecting and
//! mutating cases, exact patches, idempotence, unknown fields, lookup
//! failures and hostile input.

mod common;

use common::*;
use policy_harness::{admission_request, AdmissionRequestBuilder, Cluster, ObjectKind, Outcome};
use rstest::rstest;
use serde_json::{json, Value};

fn shop_cluster() -> Cluster {
    Cluster::from_objects([
        namespace("shop", json!({}), json!({})),
        namespace("meshed", json!({"linkerd.io/inject": "enabled"}), json!({})),
        namespace(
            "kube-system",
            json!({}),
            json!({"config.linkerd.io/admission-webhooks": "disabled"}),
        ),
    ])
}

fn pod(namespace: &str, annotations: Value, containers: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "web-1", "namespace": namespace, "annotations": annotations},
           "spec": {"containers": containers}})
}

fn app() -> Value {
    json!([{"name": "web", "image": "web"}])
}

fn patch_of(verdict: &policy_harness::Verdict, original: &Value) -> Value {
    serde_json::to_value(verdict.patch(original).expect("a mutation")).unwrap()
}

#[test]
fn speaks_protocol_v1() {
    assert_eq!(load(Cluster::default()).protocol_version().unwrap(), "v1");
}

#[rstest]
#[case::empty(json!({}))]
#[case::null(Value::Null)]
#[case::documented_mutating(policy_settings("linkerd-ha-mutating"))]
#[case::documented_validating(policy_settings("linkerd-ha-validating"))]
#[case::documented_nodes(policy_settings("linkerd-ha-nodes"))]
fn valid_settings_are_accepted(#[case] settings: Value) {
    let answer = load(Cluster::default())
        .validate_settings(&settings)
        .unwrap();
    assert!(answer.valid, "{:?}", answer.message);
}

#[rstest]
#[case::unknown_field(json!({"rules": {"safeToEvic": "warn"}}), "settings.rules.safeToEvic: unknown field")]
#[case::unknown_action(json!({"rules": {"safeToEvict": "block"}}), "settings.rules.safeToEvict: unknown action `block`")]
#[case::mutate_on_a_validating_rule(json!({"rules": {"proxyPresent": "mutate"}}), "settings.rules.proxyPresent: `mutate` is not an action")]
#[case::empty_namespace(json!({"systemNamespaces": [""]}), "settings.systemNamespaces[0]: must not be empty")]
#[case::malformed_quantity(json!({"proxyResources": {"memoryRequest": "20 megs"}}), "settings.proxyResources.memoryRequest")]
#[case::zero_replicas(json!({"controlPlane": {"replicas": 0}}), "settings.controlPlane.replicas: must be at least 1")]
#[case::zero_min_replicas(json!({"controlPlane": {"minReplicas": 0}}), "settings.controlPlane.minReplicas: must be at least 1")]
#[case::min_replicas_above_replicas(json!({"controlPlane": {"replicas": 2, "minReplicas": 3}}), "settings.controlPlane.minReplicas: 3 is more than controlPlane.replicas (2)")]
#[case::unknown_failure_policy(json!({"injectorWebhook": {"failurePolicy": "Sometimes"}}), "settings.injectorWebhook.failurePolicy")]
#[case::no_components(json!({"controlPlane": {"components": []}}), "settings.controlPlane.components")]
#[case::wrong_type(json!({"prometheus": {"meshedPods": "many"}}), "settings.prometheus.meshedPods: invalid type")]
#[case::not_a_map(json!("enforce"), "settings: expected a map")]
fn invalid_settings_name_the_field(#[case] settings: Value, #[case] expected: &str) {
    let answer = load(Cluster::default())
        .validate_settings(&settings)
        .unwrap();
    assert!(!answer.valid);
    let message = answer.message.unwrap_or_default();
    assert!(message.contains(expected), "{message:?} lacks {expected:?}");
}

#[test]
fn every_kind_is_mutated_on_its_pod_template_and_idempotent() {
    let module = load(shop_cluster());
    for object in test_data("workloads.yaml") {
        let verdict = create(&module, &object, &json!({}));
        assert_eq!(
            verdict.outcome(),
            Outcome::Mutated,
            "{}: {:?}",
            describe(&object),
            verdict.message
        );
        let template = match object["kind"].as_str().unwrap() {
            "Pod" => "",
            "CronJob" => "/spec/jobTemplate/spec/template",
            _ => "/spec/template",
        };
        // A bare Pod releases only its identity volume: safe-to-evict would
        // let the autoscaler evict a pod nothing recreates.
        let (key, value) = match object["kind"].as_str().unwrap() {
            "Pod" => ("safe-to-evict-local-volumes", "linkerd-identity-end-entity"),
            _ => ("safe-to-evict", "true"),
        };
        assert_eq!(
            patch_of(&verdict, &object),
            json!([{"op": "add", "path": format!("{template}/metadata/annotations/cluster-autoscaler.kubernetes.io~1{key}"), "value": value}]),
            "{}",
            describe(&object)
        );
        assert_idempotent(&module, &verdict, &json!({}));
    }
}

#[test]
fn the_same_template_gets_the_same_verdict_in_every_kind() {
    let module = load(shop_cluster());
    let settings = json!({"rules": {"safeToEvict": "enforce"}});
    for object in test_data("workloads.yaml") {
        let verdict = create(&module, &object, &settings);
        assert!(!verdict.accepted, "{}", describe(&object));
        assert!(verdict.message.unwrap().contains("[safeToEvict]"));
    }
}

#[rstest]
#[case::pod_annotation("shop", json!({"linkerd.io/inject": "enabled"}), Outcome::Mutated)]
#[case::namespace_annotation("meshed", json!({}), Outcome::Mutated)]
#[case::pod_opts_out("meshed", json!({"linkerd.io/inject": "disabled"}), Outcome::Accepted)]
#[case::typo_in_enabled_namespace_is_still_meshed("meshed", json!({"linkerd.io/inject": "true"}), Outcome::Rejected)]
#[case::not_meshed("shop", json!({}), Outcome::Accepted)]
#[case::explicit_false_kept("meshed", json!({"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"}), Outcome::Accepted)]
#[case::already_true("meshed", json!({"cluster-autoscaler.kubernetes.io/safe-to-evict": "true"}), Outcome::Accepted)]
fn safe_to_evict_follows_linkerds_decision(
    #[case] namespace: &str,
    #[case] annotations: Value,
    #[case] expected: Outcome,
) {
    let module = load(shop_cluster());
    let object = pod(namespace, annotations, app());
    let verdict = create(&module, &object, &json!({}));
    assert_eq!(verdict.outcome(), expected, "{:?}", verdict.message);
}

#[test]
fn explicit_false_is_never_overwritten_and_warned_about() {
    let module = load(shop_cluster());
    let object = pod(
        "meshed",
        json!({"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"}),
        app(),
    );
    let verdict = create(&module, &object, &json!({}));
    assert_eq!(verdict.mutated_object, None);
    assert!(
        verdict.warnings()[0].contains("kept as the operator's decision"),
        "{:?}",
        verdict.warnings()
    );
}

#[test]
fn local_volumes_annotation_is_merged_into_the_list() {
    let module = load(shop_cluster());
    let object = pod(
        "meshed",
        json!({"cluster-autoscaler.kubernetes.io/safe-to-evict-local-volumes": "scratch"}),
        app(),
    );
    let settings = json!({"safeToEvict": {"annotation": "safe-to-evict-local-volumes"}});
    let verdict = create(&module, &object, &settings);
    assert_eq!(
        patch_of(&verdict, &object),
        json!([{"op": "replace", "path": "/metadata/annotations/cluster-autoscaler.kubernetes.io~1safe-to-evict-local-volumes", "value": "scratch,linkerd-identity-end-entity"}])
    );
    assert_idempotent(&module, &verdict, &settings);
}

#[test]
fn autoscaler_without_local_storage_check_makes_the_rule_moot() {
    let module = load(shop_cluster());
    let object = pod("meshed", json!({}), app());
    let verdict = create(
        &module,
        &object,
        &json!({"safeToEvict": {"autoscalerSkipsLocalStorage": true}}),
    );
    assert_eq!(verdict.outcome(), Outcome::Accepted);
}

#[test]
fn mutations_keep_fields_unknown_to_the_kubernetes_api() {
    let objects = test_data("future-fields.yaml");
    let module = load(shop_cluster().with_object(namespace("linkerd", json!({}), json!({}))));
    let settings = json!({"rules": {"controlPlaneAntiAffinity": "mutate", "controlPlaneResources": "mutate", "disruptionBudgets": "off", "nodeCapacity": "off"}});
    for object in &objects {
        let verdict = create(&module, object, &settings);
        assert_eq!(
            verdict.outcome(),
            Outcome::Mutated,
            "{}: {:?}",
            describe(object),
            verdict.message
        );
        let patch = patch_of(&verdict, object);
        for op in patch.as_array().unwrap() {
            assert_eq!(
                op["op"],
                "add",
                "{}: only additions, got {op}",
                describe(object)
            );
        }
        let mutated = verdict.mutated_object.as_ref().unwrap();
        let text = mutated.to_string();
        for kept in [
            "futureMetadataField",
            "futurePodField",
            "futureContainerField",
            "futureDeploymentField",
            "futureResourceField",
            "resourceClaims",
            "hostUsers",
        ] {
            assert_eq!(
                object.to_string().contains(kept),
                text.contains(kept),
                "{}: {kept} lost",
                describe(object)
            );
        }
        assert_idempotent(&module, &verdict, &settings);
    }
}

#[test]
fn control_plane_mutation_adds_exactly_the_missing_terms_and_requests() {
    let object = test_data("future-fields.yaml").remove(1);
    let module = load(Cluster::default());
    let settings = json!({"rules": {"controlPlaneAntiAffinity": "mutate", "controlPlaneResources": "mutate", "disruptionBudgets": "off", "safeToEvict": "off"}});
    let verdict = create(&module, &object, &settings);
    let selector = json!({"matchExpressions": [{"key": "linkerd.io/control-plane-component", "operator": "In", "values": ["identity"]}]});
    assert_eq!(
        patch_of(&verdict, &object),
        json!([
            {"op": "add", "path": "/spec/strategy", "value": {"rollingUpdate": {"maxUnavailable": 1}}},
            {"op": "add", "path": "/spec/template/spec/affinity", "value": {"podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [{"labelSelector": selector, "topologyKey": "kubernetes.io/hostname"}],
                "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100, "podAffinityTerm": {"labelSelector": selector, "topologyKey": "topology.kubernetes.io/zone"}}]
            }}},
            {"op": "add", "path": "/spec/template/spec/containers/0/resources", "value": {"requests": {"cpu": "100m", "memory": "10Mi"}}}
        ])
    );
    assert_idempotent(&module, &verdict, &settings);
}

#[test]
fn tolerated_taints_leave_the_node_schedulable() {
    let objects = linkerd_fixture("install_ha_output.golden");
    let mut nodes = nodes(2);
    nodes.push(json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "control-plane"},
        "spec": {"taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]}}));
    let module = load(Cluster::from_objects(objects.iter().cloned().chain(nodes)));
    let mut identity = objects
        .iter()
        .find(|o| o["kind"] == "Deployment" && o["metadata"]["name"] == "linkerd-identity")
        .unwrap()
        .clone();
    identity["spec"]["template"]["spec"]["tolerations"] = json!([
        {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}
    ]);
    let verdict = create(&module, &identity, &json!({}));
    assert_eq!(verdict.outcome(), Outcome::Accepted);
    assert!(verdict.warnings().is_empty(), "{:?}", verdict.warnings());
}

fn identity_with_resources(resources: Value) -> Value {
    let mut object = test_data("future-fields.yaml").remove(1);
    object["spec"]["template"]["spec"]["containers"][0]["resources"] = resources;
    object
}

/// A container with limits and no requests gets requests equal to its
/// limits from the API server: that is what is compared, and never undercut.
#[rstest]
#[case::limits_only(json!({"limits": {"cpu": "1", "memory": "1Gi"}}), Outcome::Accepted, None)]
#[case::missing(json!({}), Outcome::Mutated, None)]
#[case::limit_below_the_floor(json!({"limits": {"cpu": "50m", "memory": "1Gi"}}), Outcome::Rejected, Some("sets no cpu request, so the API server makes it equal to the cpu limit 50m, less than controlPlane.requests.cpu 100m"))]
#[case::unreadable(json!({"requests": {"cpu": "fast", "memory": "500M"}}), Outcome::Rejected, Some("\"fast\", cannot be read as a Kubernetes quantity"))]
#[case::below_as_written(json!({"requests": {"cpu": "1", "memory": "5M"}}), Outcome::Rejected, Some("requests memory 5M, less than controlPlane.requests.memory 10Mi"))]
fn control_plane_requests_as_the_api_server_defaults_them(
    #[case] resources: Value,
    #[case] expected: Outcome,
    #[case] problem: Option<&str>,
) {
    let module = load(Cluster::default());
    let settings = json!({"rules": {"controlPlaneResources": "mutate", "controlPlaneAntiAffinity": "off", "disruptionBudgets": "off", "nodeCapacity": "off", "safeToEvict": "off"}});
    let object = identity_with_resources(resources);
    let verdict = create(&module, &object, &settings);
    assert_eq!(verdict.outcome(), expected, "{:?}", verdict.message);
    if let Some(problem) = problem {
        let message = verdict.message.clone().unwrap();
        assert!(message.contains(problem), "{message:?} lacks {problem:?}");
        assert!(!message.contains(".."), "{message}");
    }
    if expected == Outcome::Mutated {
        assert_eq!(
            patch_of(&verdict, &object),
            json!([{"op": "add", "path": "/spec/template/spec/containers/0/resources/requests", "value": {"cpu": "100m", "memory": "10Mi"}}])
        );
        assert_idempotent(&module, &verdict, &settings);
    }
}

#[rstest]
#[case::defaults_are_24h(json!({}), "either", true)]
#[case::defaults_lack_a_size(json!({}), "size", false)]
#[case::size_set(json!({"retentionSize": "10GB"}), "size", true)]
fn operator_prometheus_defaults_count_as_what_they_are(
    #[case] spec: Value,
    #[case] require: &str,
    #[case] accepted: bool,
) {
    let module = load(Cluster::default());
    let object = json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "Prometheus",
        "metadata": {"name": "k8s", "namespace": "linkerd-viz"}, "spec": spec});
    let settings =
        json!({"rules": {"prometheusRetention": "enforce"}, "prometheus": {"require": require}});
    let verdict = create(&module, &object, &settings);
    assert_eq!(verdict.accepted, accepted, "{:?}", verdict.message);
    if !accepted {
        let message = verdict.message.unwrap();
        assert!(
            message.contains(
                "the Prometheus Operator's default of 24h applies: bounded in time, not in size"
            ),
            "{message}"
        );
        assert!(!message.contains("OOMKilled"), "{message}");
    }
}

#[test]
fn system_namespace_gets_its_label() {
    let module = load(Cluster::default());
    let object = namespace("kube-system", json!({}), json!({"team": "platform"}));
    let verdict = create(&module, &object, &json!({}));
    assert_eq!(
        patch_of(&verdict, &object),
        json!([{"op": "add", "path": "/metadata/labels/config.linkerd.io~1admission-webhooks", "value": "disabled"}])
    );
    assert_idempotent(&module, &verdict, &json!({}));
}

/// A reconciler that owns kube-system sends this on every sync: refusing it
/// (or putting the label back) would fight it forever, under any action.
#[rstest]
#[case::enforce("enforce")]
#[case::mutate("mutate")]
fn removing_the_label_on_update_is_left_alone_with_a_warning(#[case] action: &str) {
    let module = load(Cluster::default());
    let object = namespace("kube-system", json!({}), json!({}));
    let labelled = namespace(
        "kube-system",
        json!({}),
        json!({"config.linkerd.io/admission-webhooks": "disabled"}),
    );
    let request = AdmissionRequestBuilder::new(&object, "UPDATE")
        .old_object(&labelled)
        .build();
    let verdict = module
        .validate(&request, &json!({"rules": {"systemNamespaces": action}}))
        .unwrap();
    assert!(verdict.accepted, "{verdict:?}");
    assert_eq!(verdict.mutated_object, None);
    assert!(
        verdict.warnings()[0].contains("the policy does not put it back"),
        "{:?}",
        verdict.warnings()
    );
}

#[rstest]
#[case::mutate("mutate")]
#[case::warn("warn")]
#[case::enforce("enforce")]
fn injection_in_a_system_namespace_is_rejected_whatever_the_action(#[case] action: &str) {
    let module = load(shop_cluster());
    let settings = json!({"rules": {"systemNamespaces": action}});
    let object = namespace(
        "kube-system",
        json!({"linkerd.io/inject": "enabled"}),
        json!({"config.linkerd.io/admission-webhooks": "disabled"}),
    );
    assert!(!create(&module, &object, &settings).accepted);
    let workload = pod(
        "kube-system",
        json!({"linkerd.io/inject": "ingress"}),
        app(),
    );
    assert!(!create(&module, &workload, &settings).accepted);
}

#[rstest]
#[case::typo_true("true")]
#[case::capitalised("Enabled")]
fn invalid_inject_values_are_rejected_with_the_valid_ones(#[case] value: &str) {
    let module = load(shop_cluster());
    let verdict = create(
        &module,
        &pod("shop", json!({"linkerd.io/inject": value}), app()),
        &json!({}),
    );
    let message = verdict.message.unwrap();
    assert!(
        message.contains(&format!("{value:?}")) && message.contains("enabled, ingress or disabled"),
        "{message}"
    );
    assert!(message.contains("Pod shop/web-1"), "{message}");
}

#[test]
fn every_violation_is_listed_in_one_rejection() {
    let module = load(shop_cluster());
    // `shop` declared a system namespace: the pod asks for injection there
    // and carries a safe-to-evict value the autoscaler cannot read.
    let object = pod(
        "shop",
        json!({"linkerd.io/inject": "enabled", "cluster-autoscaler.kubernetes.io/safe-to-evict": "maybe"}),
        app(),
    );
    let settings = json!({"systemNamespaces": ["kube-system", "shop"]});
    let message = create(&module, &object, &settings).message.unwrap();
    assert!(
        message.starts_with("Pod shop/web-1 violates 2 Linkerd HA rules:"),
        "{message}"
    );
    assert!(
        message.contains("[systemNamespaces]") && message.contains("[safeToEvict]"),
        "{message}"
    );
}

fn proxy_present() -> Value {
    policy_settings("linkerd-ha-validating")
}

#[rstest]
#[case::annotated_without_proxy("shop", json!({"linkerd.io/inject": "enabled"}), app(), false)]
#[case::namespace_without_proxy("meshed", json!({}), app(), false)]
#[case::injected("meshed", json!({}), json!([{"name": "web"}, {"name": "linkerd-proxy", "resources": {"requests": {"cpu": "100m", "memory": "20Mi"}}}]), true)]
#[case::not_meshed("shop", json!({}), app(), true)]
#[case::opted_out("meshed", json!({"linkerd.io/inject": "disabled"}), app(), true)]
fn validating_instance_stops_pods_the_injector_missed(
    #[case] namespace: &str,
    #[case] annotations: Value,
    #[case] containers: Value,
    #[case] accepted: bool,
) {
    let module = load(shop_cluster());
    let verdict = create(
        &module,
        &pod(namespace, annotations, containers),
        &proxy_present(),
    );
    assert_eq!(verdict.accepted, accepted, "{:?}", verdict.message);
    assert_eq!(
        verdict.mutated_object, None,
        "a validating instance never mutates"
    );
    if !accepted {
        assert!(verdict.message.unwrap().contains("[proxyPresent]"));
    }
}

#[test]
fn failed_namespace_lookup_never_rejects_and_says_so() {
    let module = load(shop_cluster().with_failing(ObjectKind::Namespace));
    let verdict = create(&module, &pod("meshed", json!({}), app()), &proxy_present());
    assert!(verdict.accepted);
    assert!(
        verdict
            .warnings()
            .iter()
            .any(|w| w.contains("the policy may not read namespace \"meshed\"")),
        "{:?}",
        verdict.warnings()
    );
    // Even the pod's own `enabled` needs the namespace (its opt-out label
    // or an invalid value there turns injection off): nothing is added.
    let object = pod("meshed", json!({"linkerd.io/inject": "enabled"}), app());
    assert_eq!(
        create(&module, &object, &json!({})).outcome(),
        Outcome::Accepted
    );
    // What the object decides alone is still decided: a pod with its proxy.
    let injected = pod(
        "meshed",
        json!({}),
        json!([{"name": "web"}, {"name": "linkerd-proxy"}]),
    );
    assert_eq!(
        create(&module, &injected, &json!({})).outcome(),
        Outcome::Mutated
    );
}

#[test]
fn failed_budget_and_node_lookups_are_warnings() {
    let objects = linkerd_fixture("install_ha_output.golden");
    let module = load(
        Cluster::from_objects(objects.clone())
            .with_failing(ObjectKind::PodDisruptionBudget)
            .with_failing(ObjectKind::Node),
    );
    let identity = objects
        .iter()
        .find(|o| o["kind"] == "Deployment" && o["metadata"]["name"] == "linkerd-identity")
        .unwrap();
    let verdict = create(&module, identity, &json!({}));
    assert!(verdict.accepted, "{:?}", verdict.message);
    assert_eq!(verdict.warnings().len(), 2, "{:?}", verdict.warnings());
}

#[test]
fn namespace_is_looked_up_only_when_the_pod_does_not_decide() {
    let module = load(shop_cluster());
    // The pod says no on its own: nothing about the namespace can change that.
    for value in ["disabled", "true"] {
        create(
            &module,
            &pod("meshed", json!({"linkerd.io/inject": value}), app()),
            &json!({}),
        );
    }
    create(&module, &pod("kube-system", json!({}), app()), &json!({}));
    assert!(module.host_calls().is_empty(), "{:?}", module.host_calls());
    // `enabled` still needs the namespace: its opt-out label or an invalid
    // value there turns injection off.
    create(
        &module,
        &pod("meshed", json!({"linkerd.io/inject": "enabled"}), app()),
        &json!({}),
    );
    create(&module, &pod("meshed", json!({}), app()), &json!({}));
    assert_eq!(module.host_calls().len(), 2);
}

#[rstest]
#[case::cordoned(json!({"unschedulable": true}))]
#[case::kubeadm_control_plane(json!({"taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]}))]
#[case::no_execute(json!({"taints": [{"key": "dedicated", "value": "db", "effect": "NoExecute"}]}))]
fn node_capacity_is_checked_against_schedulable_nodes(#[case] third_node: Value) {
    let objects = linkerd_fixture("install_ha_output.golden");
    let mut two_nodes = nodes(2);
    two_nodes.push(json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "unusable"}, "spec": third_node}));
    let module = load(Cluster::from_objects(
        objects.iter().cloned().chain(two_nodes),
    ));
    let identity = objects
        .iter()
        .find(|o| o["kind"] == "Deployment" && o["metadata"]["name"] == "linkerd-identity")
        .unwrap();
    let verdict = create(&module, identity, &json!({}));
    assert!(verdict.accepted);
    assert!(
        verdict.warnings()[0].contains("only 2 of 3 node(s) are schedulable for its pods"),
        "{:?}",
        verdict.warnings()
    );
    let enforced = create(
        &module,
        identity,
        &json!({"rules": {"nodeCapacity": "enforce"}}),
    );
    assert!(!enforced.accepted);
}

#[rstest]
#[case::delete("DELETE")]
#[case::connect("CONNECT")]
fn non_writes_are_accepted_untouched(#[case] operation: &str) {
    let module = load(shop_cluster());
    let object = pod("kube-system", json!({"linkerd.io/inject": "true"}), app());
    let verdict = module
        .validate(&admission_request(&object, operation), &json!({}))
        .unwrap();
    assert_eq!(verdict.outcome(), Outcome::Accepted);
}

#[test]
fn subresource_requests_are_accepted_untouched() {
    let module = load(shop_cluster());
    let object = pod("kube-system", json!({"linkerd.io/inject": "true"}), app());
    let request = AdmissionRequestBuilder::new(&object, "UPDATE")
        .sub_resource("status")
        .build();
    assert_eq!(
        module.validate(&request, &json!({})).unwrap().outcome(),
        Outcome::Accepted
    );
}

#[rstest]
#[case::service(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "shop", "annotations": {"linkerd.io/inject": "true"}}}))]
#[case::pod_in_another_group(json!({"apiVersion": "example.com/v1", "kind": "Pod", "metadata": {"name": "p"}}))]
#[case::validating_webhook(json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration", "metadata": {"name": "linkerd-proxy-injector-webhook-config"}}))]
fn kinds_the_policy_does_not_handle_are_accepted(#[case] object: Value) {
    let module = load(shop_cluster());
    assert_eq!(
        create(&module, &object, &json!({})).outcome(),
        Outcome::Accepted
    );
}

/// Payloads a broken or hostile client could send: each gets a well-formed
/// answer, never a trap.
#[test]
fn hostile_payloads_get_answers_not_traps() {
    let module = load(shop_cluster());
    let valid = serde_json::to_vec(&json!({"request": admission_request(&pod("shop", json!({}), app()), "CREATE"), "settings": {}})).unwrap();
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let huge_annotation = pod(
        "meshed",
        json!({"linkerd.io/inject": "x".repeat(2 << 20)}),
        app(),
    );
    let many_containers = pod(
        "meshed",
        json!({}),
        Value::Array(
            (0..5000)
                .map(|i| json!({"name": format!("c{i}")}))
                .collect(),
        ),
    );
    let wrong_types = [
        json!({"metadata": {"name": 5}}),
        json!({"metadata": {"annotations": {"linkerd.io/inject": 1}}}),
        json!({"metadata": {"annotations": []}}),
        json!({"spec": {"containers": {}}}),
        json!({"spec": {"containers": [{"resources": {"requests": {"cpu": true}}}]}}),
        json!({"spec": {"hostNetwork": "yes"}}),
        json!({"spec": "nothing"}),
        json!(null),
        json!([]),
    ];
    let mut payloads: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"{".to_vec(),
        valid[..valid.len() / 2].to_vec(),
        vec![0xff, 0xfe, 0x00],
        b"null".to_vec(),
        br#"{"request": null}"#.to_vec(),
        br#"{"request": {"kind": {"group": "", "version": "v1", "kind": "Pod"}, "operation": "CREATE"}}"#.to_vec(),
        br#"{"request": {"kind": {"group": "", "version": "v1", "kind": "Pod"}, "operation": "CREATE", "object": null}}"#.to_vec(),
        br#"{"request": {"kind": 7, "operation": "CREATE"}, "settings": {}}"#.to_vec(),
        br#"{"request": {"kind": {"group": "", "version": "v1", "kind": "Pod"}, "operation": "CREATE", "object": {}}, "settings": {"rules": 3}}"#.to_vec(),
        deep.clone().into_bytes(),
        format!(r#"{{"request": {{"kind": {{"group": "", "version": "v1", "kind": "Pod"}}, "operation": "CREATE", "object": {deep}}}}}"#).into_bytes(),
        serde_json::to_vec(&json!({"request": admission_request(&huge_annotation, "CREATE")})).unwrap(),
        serde_json::to_vec(&json!({"request": admission_request(&many_containers, "CREATE")})).unwrap(),
    ];
    for (i, shape) in wrong_types.iter().enumerate() {
        let mut object = pod("shop", json!({}), app());
        if shape.is_object() {
            merge(&mut object, shape);
        } else {
            object = shape.clone();
        }
        let mut request = admission_request(&pod("shop", json!({}), app()), "CREATE");
        request["object"] = object;
        payloads.push(
            serde_json::to_vec(&json!({"request": request, "settings": {}}))
                .unwrap_or_else(|_| panic!("case {i}")),
        );
    }
    let tried = payloads.len();
    for (i, payload) in payloads.iter().enumerate() {
        let verdict = module
            .validate_raw(payload)
            .unwrap_or_else(|e| panic!("payload {i} trapped the guest: {e}"));
        if !verdict.accepted {
            let message = verdict.message.unwrap_or_default();
            assert!(
                !message.is_empty() && message.len() < 4096,
                "payload {i}: {message:?}"
            );
        }
    }
    println!("{tried} hostile payloads answered");
}

#[test]
fn unreadable_objects_are_rejected_naming_what_failed() {
    let module = load(shop_cluster());
    let mut request = admission_request(&pod("shop", json!({}), app()), "CREATE");
    request["object"]["spec"]["containers"] = json!([{"name": "web", "args": "not-a-list"}]);
    let verdict = module.validate(&request, &json!({})).unwrap();
    assert!(!verdict.accepted);
    let message = verdict.message.unwrap();
    assert!(
        message.contains(
            "Pod web-1: the object cannot be read: spec.containers[0].args: invalid type: string \"not-a-list\", expected a sequence"
        ),
        "{message}"
    );
}

fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                match target.get_mut(key) {
                    Some(existing) if existing.is_object() && value.is_object() => {
                        merge(existing, value)
                    }
                    _ => {
                        target.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (target, patch) => *target = patch.clone(),
    }
}

/// A proxy limit with no request becomes the request: no request annotation
/// is added that would lower it or exceed the limit.
#[rstest]
#[case::cpu_limit(json!({"config.linkerd.io/proxy-cpu-limit": "50m"}), vec![("config.linkerd.io~1proxy-memory-request", "20Mi")])]
#[case::both_limits(json!({"config.linkerd.io/proxy-cpu-limit": "1", "config.linkerd.io/proxy-memory-limit": "250Mi"}), vec![])]
#[case::no_limits(json!({}), vec![("config.linkerd.io~1proxy-cpu-request", "100m"), ("config.linkerd.io~1proxy-memory-request", "20Mi")])]
fn proxy_limit_annotations_are_never_undercut(
    #[case] annotations: Value,
    #[case] added: Vec<(&str, &str)>,
) {
    let module = load(shop_cluster());
    let settings = json!({"rules": {"proxyResources": "mutate", "safeToEvict": "off"}});
    let object = pod("meshed", annotations, app());
    let verdict = create(&module, &object, &settings);
    if added.is_empty() {
        assert_eq!(
            verdict.outcome(),
            Outcome::Accepted,
            "{:?}",
            verdict.message
        );
        return;
    }
    let expected: Vec<Value> = added
        .into_iter()
        .map(|(key, value)| json!({"op": "add", "path": format!("/metadata/annotations/{key}"), "value": value}))
        .collect();
    assert_eq!(patch_of(&verdict, &object), Value::Array(expected));
    assert_idempotent(&module, &verdict, &settings);
}

/// A warn rule speaks of the object as it is stored: the default install's
/// `linkerd-identity` scaled to three gets its proxy's requests from
/// controlPlaneResources' fix in the same admission, so proxyResources no
/// longer says the proxy has none (it had, as sent), and judges what the
/// fix wrote.
#[test]
fn warnings_speak_of_the_object_as_fixed() {
    let mut identity = linkerd_fixture("install_default.golden")
        .into_iter()
        .find(|o| o["kind"] == "Deployment" && o["metadata"]["name"] == "linkerd-identity")
        .expect("linkerd-identity");
    identity["spec"]["replicas"] = json!(3);
    let cluster = Cluster::from_objects(
        linkerd_fixture("install_default.golden")
            .into_iter()
            .filter(|o| o["kind"] == "Namespace")
            .chain(nodes(3)),
    );
    let module = load(cluster);
    let verdict = create(&module, &identity, &policy_settings("linkerd-ha-mutating"));
    assert_eq!(verdict.outcome(), Outcome::Mutated, "{verdict:?}");
    let mutated = verdict.mutated_object.as_ref().expect("mutated");
    let proxy = mutated["spec"]["template"]["spec"]["containers"]
        .as_array()
        .and_then(|containers| containers.iter().find(|c| c["name"] == "linkerd-proxy"))
        .expect("linkerd-proxy");
    assert!(
        proxy["resources"]["requests"]["memory"].is_string(),
        "{proxy}"
    );
    assert!(
        verdict
            .warnings()
            .iter()
            .all(|w| !w.contains("has no cpu or memory request")),
        "{:#?}",
        verdict.warnings()
    );
}
