//! `nodeChanges` on the built module, as policy.yaml's `linkerd-ha-nodes`
//! instance runs it: Node UPDATEs and DELETEs against Linkerd's own HA
//! install in the cluster. Each case shows the warning the operator reads,
//! or that the module asked the cluster nothing.

mod common;

use common::*;
use policy_harness::{AdmissionRequestBuilder, Cluster, Outcome, PolicyModule, Verdict};
use rstest::rstest;
use serde_json::{json, Value};

/// `linkerd install --ha`'s objects, four nodes (three plain, `node-3`
/// already tainted for GPUs), optionally with every control-plane pod
/// template tolerating `dedicated=linkerd:NoSchedule`.
fn ha_cluster(tolerating: bool) -> Cluster {
    let mut objects = linkerd_fixture("install_ha_output.golden");
    if tolerating {
        for object in &mut objects {
            if object["kind"] == "Deployment" {
                object["spec"]["template"]["spec"]["tolerations"] = json!([
                    {"key": "dedicated", "operator": "Equal", "value": "linkerd", "effect": "NoSchedule"}
                ]);
            }
        }
    }
    let mut nodes = nodes(3);
    nodes.push(node(
        "node-3",
        json!({"taints": [{"key": "gpu", "effect": "NoSchedule"}]}),
    ));
    Cluster::from_objects(objects.into_iter().chain(nodes))
}

fn node(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Node",
           "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
           "spec": spec})
}

/// The kinds the module looked up, in order.
fn kinds_asked(module: &PolicyModule) -> Vec<String> {
    module
        .host_calls()
        .iter()
        .filter_map(|call| call.kind().map(str::to_string))
        .collect()
}

fn settings() -> Value {
    policy_settings("linkerd-ha-nodes")
}

fn update(module: &PolicyModule, before: &Value, after: &Value) -> Verdict {
    let request = AdmissionRequestBuilder::new(after, "UPDATE")
        .old_object(before)
        .build();
    module.validate(&request, &settings()).expect("a verdict")
}

fn delete(module: &PolicyModule, node: &Value) -> Verdict {
    let request = AdmissionRequestBuilder::new(node, "DELETE").build();
    module.validate(&request, &settings()).expect("a verdict")
}

/// What the three critical components are told, from `from` to `to`
/// schedulable nodes.
fn shortfall(change: &str, from: usize, to: usize) -> String {
    let each = |name: &str| {
        format!("Deployment linkerd/linkerd-{name} (3 replicas): {from} schedulable nodes before, {to} after")
    };
    format!(
        "{change} leaves fewer schedulable nodes than replicas (one node each: required anti-affinity on kubernetes.io/hostname) for 3 critical control-plane components: {}; {}; {}. Running pods stay, but the next rollout, or rescheduling after an eviction or the node's removal, cannot place every replica: the rest stay Pending",
        each("destination"),
        each("identity"),
        each("proxy-injector"),
    )
}

#[rstest]
#[case::cordon(
    json!({"unschedulable": true}),
    "cordoning the node",
    "when the work on the node is done, run `kubectl uncordon node-2`; to keep it out longer, first add a node the components' pods may run on (HA mode assumes at least 3)"
)]
#[case::no_schedule_taint(
    json!({"taints": [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]}),
    "adding the taint dedicated=db:NoSchedule",
    "remove the taint when it is no longer needed (`kubectl taint nodes node-2 KEY[=VALUE]:EFFECT-`), tolerate it in the components' pod templates, or add a node the components' pods may run on (HA mode assumes at least 3)"
)]
#[case::no_execute_taint(
    json!({"taints": [{"key": "maintenance", "effect": "NoExecute"}]}),
    "adding the taint maintenance:NoExecute",
    "remove the taint when it is no longer needed (`kubectl taint nodes node-2 KEY[=VALUE]:EFFECT-`), tolerate it in the components' pod templates, or add a node the components' pods may run on (HA mode assumes at least 3)"
)]
fn an_update_that_takes_a_needed_node_warns_and_is_admitted(
    #[case] spec: Value,
    #[case] change: &str,
    #[case] fix: &str,
) {
    let module = load(ha_cluster(false));
    let verdict = update(&module, &node("node-2", json!({})), &node("node-2", spec));
    assert_eq!(verdict.outcome(), Outcome::Accepted, "{verdict:?}");
    assert_eq!(
        verdict.warnings(),
        [format!(
            "[nodeChanges] Node node-2: {}. Fix: {fix}",
            shortfall(change, 3, 2)
        )]
    );
}

#[test]
fn a_delete_that_takes_a_needed_node_warns_and_is_admitted() {
    let module = load(ha_cluster(false));
    let verdict = delete(&module, &node("node-1", json!({})));
    assert_eq!(verdict.outcome(), Outcome::Accepted, "{verdict:?}");
    assert_eq!(
        verdict.warnings(),
        [format!(
            "[nodeChanges] Node node-1: {}. Fix: add a node the components' pods may run on (HA mode assumes at least 3) before the next rollout",
            shortfall("deleting the node", 3, 2)
        )]
    );
}

/// Kubelets and controllers write Nodes all the time: labels, annotations,
/// conditions through the main resource. None of it takes room from a pod,
/// so the module answers without a single lookup.
#[rstest]
#[case::heartbeat_like_annotations(json!({}), json!({}), json!({"node.alpha.kubernetes.io/ttl": "0"}))]
#[case::uncordon(json!({"unschedulable": true}), json!({}), json!({}))]
#[case::prefer_no_schedule(json!({}), json!({"taints": [{"key": "spot", "effect": "PreferNoSchedule"}]}), json!({}))]
#[case::taint_removed(json!({"taints": [{"key": "gpu", "effect": "NoSchedule"}]}), json!({}), json!({}))]
fn an_update_that_takes_no_room_is_answered_without_a_lookup(
    #[case] before: Value,
    #[case] after: Value,
    #[case] annotations: Value,
) {
    let module = load(ha_cluster(false));
    let mut after = node("node-2", after);
    after["metadata"]["annotations"] = annotations;
    let verdict = update(&module, &node("node-2", before), &after);
    assert_eq!(verdict.outcome(), Outcome::Accepted);
    assert!(verdict.warnings().is_empty(), "{verdict:?}");
    assert_eq!(module.host_calls(), [], "no lookup");
}

#[test]
fn the_status_subresource_is_never_judged() {
    let module = load(ha_cluster(false));
    let cordoned = node("node-2", json!({"unschedulable": true}));
    let request = AdmissionRequestBuilder::new(&cordoned, "UPDATE")
        .old_object(&node("node-2", json!({})))
        .sub_resource("status")
        .build();
    let verdict = module.validate(&request, &settings()).unwrap();
    assert_eq!(verdict.outcome(), Outcome::Accepted);
    assert!(verdict.warnings().is_empty());
    assert_eq!(module.host_calls(), []);
}

#[test]
fn a_tolerated_taint_takes_no_node_from_the_components() {
    let module = load(ha_cluster(true));
    let tainted = node(
        "node-2",
        json!({"taints": [{"key": "dedicated", "value": "linkerd", "effect": "NoSchedule"}]}),
    );
    let verdict = update(&module, &node("node-2", json!({})), &tainted);
    assert_eq!(verdict.outcome(), Outcome::Accepted);
    assert!(verdict.warnings().is_empty(), "{verdict:?}");
    // It was judged, not skipped: the components and the nodes were read.
    let kinds = kinds_asked(&module);
    assert_eq!(kinds, ["Deployment", "StatefulSet", "Node"]);
}

/// node-3 carries a GPU taint no component tolerates: it was never theirs,
/// so cordoning or deleting it changes nothing for them.
#[test]
fn a_node_that_is_not_a_candidate_changes_nothing() {
    let module = load(ha_cluster(false));
    let gpu = json!({"taints": [{"key": "gpu", "effect": "NoSchedule"}]});
    let mut cordoned = gpu.clone();
    cordoned["unschedulable"] = json!(true);
    let verdict = update(
        &module,
        &node("node-3", gpu.clone()),
        &node("node-3", cordoned),
    );
    assert!(verdict.warnings().is_empty(), "{verdict:?}");
    let verdict = delete(&module, &node("node-3", gpu));
    assert!(verdict.warnings().is_empty(), "{verdict:?}");
}

#[test]
fn a_spare_node_absorbs_a_cordon() {
    let mut cluster = ha_cluster(false);
    cluster.insert(node("node-4", json!({})));
    let module = load(cluster);
    let verdict = update(
        &module,
        &node("node-0", json!({})),
        &node("node-0", json!({"unschedulable": true})),
    );
    assert!(verdict.warnings().is_empty(), "{verdict:?}");
}

/// Without Linkerd's control plane in the cluster, a cordon costs one list
/// of its namespace and never the Nodes.
#[test]
fn without_a_control_plane_the_nodes_are_not_listed() {
    let module = load(Cluster::from_objects(nodes(3)));
    let verdict = update(
        &module,
        &node("node-0", json!({})),
        &node("node-0", json!({"unschedulable": true})),
    );
    assert!(verdict.warnings().is_empty(), "{verdict:?}");
    let kinds = kinds_asked(&module);
    assert_eq!(kinds, ["Deployment", "StatefulSet"]);
}

/// The lookups refused (no RBAC for Deployments): a warning that says so
/// and how to grant it, and the cordon goes through.
#[test]
fn a_refused_lookup_still_admits_the_cordon() {
    let module = load(ha_cluster(false).with_failing(policy_harness::ObjectKind::Deployment));
    let verdict = update(
        &module,
        &node("node-0", json!({})),
        &node("node-0", json!({"unschedulable": true})),
    );
    assert_eq!(verdict.outcome(), Outcome::Accepted);
    let warnings = verdict.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("[nodeChanges] Node node-0: ")
            && warnings[0]
                .contains("so the room cordoning the node leaves the control plane is unknown"),
        "{}",
        warnings[0]
    );
}

/// No setting makes the rule refuse: `enforce` and `mutate` are refused by
/// validate_settings, naming the field.
#[rstest]
#[case::enforce("enforce")]
#[case::mutate("mutate")]
fn no_setting_refuses_a_node_change(#[case] action: &str) {
    let module = load(Cluster::default());
    let answer = module
        .validate_settings(&json!({"rules": {"nodeChanges": action}}))
        .unwrap();
    assert!(!answer.valid);
    let message = answer.message.unwrap_or_default();
    assert!(message.contains("settings.rules.nodeChanges"), "{message}");
}

/// The mutating and validating instances have the rule off and never see a
/// Node; a Node CREATE only adds room.
#[test]
fn off_and_create_ask_nothing() {
    let module = load(ha_cluster(false));
    let cordoned = node("node-0", json!({"unschedulable": true}));
    let request = AdmissionRequestBuilder::new(&cordoned, "UPDATE")
        .old_object(&node("node-0", json!({})))
        .build();
    let verdict = module
        .validate(&request, &policy_settings("linkerd-ha-mutating"))
        .unwrap();
    assert!(verdict.warnings().is_empty());
    let verdict = create(&module, &cordoned, &settings());
    assert_eq!(verdict.outcome(), Outcome::Accepted);
    assert!(verdict.warnings().is_empty());
    assert_eq!(module.host_calls(), []);
}

/// An unreadable Node is let through, with a warning that says so.
#[test]
fn an_unreadable_node_is_admitted_with_a_warning() {
    let module = load(ha_cluster(false));
    let before = node("node-0", json!({}));
    let mut after = node("node-0", json!({}));
    after["spec"] = json!("cordoned");
    let verdict = update(&module, &before, &after);
    assert_eq!(verdict.outcome(), Outcome::Accepted);
    assert_eq!(verdict.warnings().len(), 1, "{verdict:?}");
    assert!(
        verdict.warnings()[0].contains("the Node could not be read"),
        "{:?}",
        verdict.warnings()
    );
}
