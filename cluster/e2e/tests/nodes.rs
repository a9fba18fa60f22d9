//! policy.yaml's third instance, `linkerd-ha-nodes` (nodeChanges: warn,
//! failurePolicy Ignore, Node UPDATE and DELETE), on a real API server:
//! what an operator's `kubectl cordon`, `taint`, `label`, `annotate` and
//! `delete node` print once Linkerd's HA control plane is installed, that
//! every one of them goes through, which of them made policy-server look
//! anything up (the API server's audit log records its lookups, made with
//! its token), and that a cordon goes through with policy-server down.
//!
//! No kubelet: the Nodes are up.sh's node-a, node-b and node-c (labelled
//! kubernetes.io/hostname, os, arch and zone; the not-ready taint lifted
//! as a kubelet would), and the control plane's Pods stay Pending. The
//! rule reads the Deployments, not their Pods.

use std::time::{Duration, Instant};

use cluster_e2e::audit::{self, AuditEvent};
use cluster_e2e::world::{linkerd_fixture, NODES};
use cluster_e2e::{progress, wait_until, Kubectl, Printed, World, WorldOptions};
use serde_json::{json, Value};

const NODES_WEBHOOK: &str = "clusterwide-linkerd-ha-nodes.kubewarden.admission";
const POLICY_SERVER: &str = "system:serviceaccount:kubewarden:policy-server";
/// The API server's audit annotation for a webhook call that failed open.
const FAILED_OPEN: &str = "failed-open.validating.webhook.admission.k8s.io/round_0_index_0";

fn show(printed: &Printed) {
    progress(format!(
        "{}(exit {}, {:.2} s)",
        printed,
        if printed.success { "0" } else { "1" },
        printed.elapsed.as_secs_f64()
    ));
}

/// The key parts of the warning for the three critical components of
/// `install --ha` (3 replicas each, required anti-affinity on
/// kubernetes.io/hostname), as tests/node_changes.rs has the module give
/// it; the wording in between is the module's (and its tests') business.
/// One line, whole: it ends with the module's Fix, so nothing was cut.
fn assert_shortfall(warnings: &[String], node: &str, change: &str, fix: &str) {
    assert_eq!(warnings.len(), 1, "one warning: {warnings:?}");
    let warning = &warnings[0];
    let start =
        format!("[nodeChanges] Node {node}: {change} leaves fewer schedulable nodes than replicas");
    assert!(
        warning.starts_with(&start),
        "{warning}\nshould start with {start}"
    );
    for part in [
        "3 critical control-plane components",
        "required anti-affinity on kubernetes.io/hostname",
        "Deployment linkerd/linkerd-destination",
        "Deployment linkerd/linkerd-identity",
        "Deployment linkerd/linkerd-proxy-injector",
        "cannot place every replica",
    ] {
        assert!(warning.contains(part), "{warning}\nshould say {part}");
    }
    let end = format!(". Fix: {fix}");
    assert!(warning.ends_with(&end), "{warning}\nshould end with {end}");
}

fn node(kubectl: &Kubectl, name: &str) -> Option<Value> {
    kubectl.get(&["node", name])
}

/// What policy-server asked the API server for since the audit log had
/// `mark` events (its reads: the lookups' lists and watches).
fn lookups_since(world: &World, mark: usize) -> Vec<String> {
    let events = world.cluster.audit_events();
    audit::requests_by(&events[mark.min(events.len())..], POLICY_SERVER)
}

/// Runs kubectl as the operator would and checks it succeeded and printed
/// `result`, no error, and a warning only with `warns`; returns what it
/// printed and how many times the API server called the Node webhook.
fn operate(world: &World, args: &[&str], result: &str, warns: bool) -> (Printed, u64) {
    let before = world.webhook_calls(NODES_WEBHOOK);
    let printed = world.kubectl().print(args);
    show(&printed);
    assert!(printed.success, "{printed}");
    assert!(
        printed.lines().any(|line| line == result),
        "expected `{result}`: {printed}"
    );
    assert_eq!(!printed.warnings().is_empty(), warns, "{printed}");
    assert!(printed.errors().is_empty(), "{printed}");
    let calls = world.webhook_calls(NODES_WEBHOOK) - before;
    (printed, calls)
}

#[test]
fn node_changes_warn_and_go_through() {
    progress("nodes: cordon, taint, label, annotate and delete a Node under linkerd-ha-nodes");
    let started = Instant::now();
    let mut world = World::start(WorldOptions::default());
    let kubectl = world.kubectl().clone();

    // The ValidatingWebhookConfiguration Kubewarden's controller writes for
    // linkerd-ha-nodes, as stored: fails open, Nodes only (never
    // nodes/status, where kubelets write their heartbeats).
    let configuration = kubectl
        .get(&["validatingwebhookconfiguration", NODES])
        .expect("the Node instance's webhook configuration");
    let webhook = &configuration["webhooks"][0];
    assert_eq!(webhook["name"], NODES_WEBHOOK);
    assert_eq!(webhook["failurePolicy"], "Ignore");
    assert_eq!(webhook["timeoutSeconds"], 5);
    assert_eq!(
        webhook["rules"],
        json!([{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["UPDATE", "DELETE"],
                "resources": ["nodes"], "scope": "*"}])
    );
    progress(format!(
        "{NODES}: failurePolicy Ignore, timeoutSeconds 5, rules {}",
        webhook["rules"]
    ));

    let nodes = kubectl.list(&["nodes"]);
    let names: Vec<&str> = nodes
        .iter()
        .map(|n| n["metadata"]["name"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(names, ["node-a", "node-b", "node-c"]);
    assert!(
        nodes.iter().all(|n| n["spec"]["taints"].is_null()
            && n["spec"]["unschedulable"].is_null()
            && n["metadata"]["labels"]["kubernetes.io/hostname"] == n["metadata"]["name"]),
        "three schedulable nodes: {nodes:?}"
    );

    // Linkerd's HA control plane: its Deployments must exist in the API
    // server for the lookup; their Pods stay Pending.
    let (path, objects) = linkerd_fixture("install_ha_output.golden");
    let printed = kubectl.print(&["apply", "-f", path.to_str().expect("UTF-8")]);
    assert!(printed.success, "{printed}");
    assert_eq!(printed.results().len(), objects.len(), "{printed}");
    progress(format!(
        "install --ha applied: {} objects ({:.1} s)",
        objects.len(),
        printed.elapsed.as_secs_f64()
    ));

    // A label and an annotation: UPDATEs of the Node that change neither
    // spec.unschedulable nor its taints. The webhook is called, the module
    // answers at once: nothing is looked up (policy-server's first lookup
    // of Deployments would start a reflector: a list and a watch of
    // deployments in "linkerd", made with its token, in the audit log).
    let mark = world.cluster.audit_events().len();
    let (_, label_calls) = operate(
        &world,
        &["label", "node", "node-a", "foo=bar"],
        "node/node-a labeled",
        false,
    );
    let (_, annotate_calls) = operate(
        &world,
        &["annotate", "node", "node-a", "example.com/owner=team-a"],
        "node/node-a annotated",
        false,
    );
    let stored = node(&kubectl, "node-a").unwrap();
    assert_eq!(stored["metadata"]["labels"]["foo"], "bar");
    assert_eq!(
        stored["metadata"]["annotations"]["example.com/owner"],
        "team-a"
    );
    let lookups = lookups_since(&world, mark);
    progress(format!(
        "label: {label_calls} call(s) of {NODES_WEBHOOK}, annotate: {annotate_calls}; policy-server's requests to the API server meanwhile: {lookups:?}"
    ));
    assert_eq!((label_calls, annotate_calls), (1, 1));
    assert!(
        !lookups
            .iter()
            .any(|r| r.contains("deployments") || r.contains("statefulsets")),
        "a label or an annotation made policy-server look the workloads up: {lookups:?}"
    );

    // cordon: spec.unschedulable, leaving 2 nodes to 3 replicas each.
    let mark = world.cluster.audit_events().len();
    let (printed, calls) = operate(&world, &["cordon", "node-c"], "node/node-c cordoned", true);
    assert_shortfall(
        &printed.warnings(),
        "node-c",
        "cordoning the node",
        "when the work on the node is done, run `kubectl uncordon node-c`; to keep it out longer, first add a node the components' pods may run on (HA mode assumes at least 3)",
    );
    assert_eq!(calls, 1);
    assert_eq!(
        node(&kubectl, "node-c").unwrap()["spec"]["unschedulable"],
        true,
        "the cordon is stored"
    );
    let lookups = lookups_since(&world, mark);
    progress(format!(
        "cordon stored (spec.unschedulable: true); policy-server's requests meanwhile: {lookups:?}"
    ));
    for kind in ["deployments", "statefulsets"] {
        assert!(
            lookups
                .iter()
                .any(|r| r.starts_with("list ") && r.contains(&format!("{kind} linkerd"))),
            "the cordon's lookup of {kind} in linkerd: {lookups:?}"
        );
    }

    // uncordon: gives room back; no warning.
    let (_, calls) = operate(
        &world,
        &["uncordon", "node-c"],
        "node/node-c uncordoned",
        false,
    );
    assert_eq!(calls, 1);
    assert!(node(&kubectl, "node-c").unwrap()["spec"]["unschedulable"].is_null());

    // A NoSchedule taint no component tolerates: a warning; then removed.
    let (printed, calls) = operate(
        &world,
        &["taint", "nodes", "node-b", "dedicated=db:NoSchedule"],
        "node/node-b tainted",
        true,
    );
    assert_eq!(calls, 1);
    assert_shortfall(
        &printed.warnings(),
        "node-b",
        "adding the taint dedicated=db:NoSchedule",
        "remove the taint when it is no longer needed (`kubectl taint nodes node-b KEY[=VALUE]:EFFECT-`), tolerate it in the components' pod templates, or add a node the components' pods may run on (HA mode assumes at least 3)",
    );
    assert_eq!(
        node(&kubectl, "node-b").unwrap()["spec"]["taints"],
        json!([{"key": "dedicated", "value": "db", "effect": "NoSchedule"}])
    );
    operate(
        &world,
        &["taint", "nodes", "node-b", "dedicated=db:NoSchedule-"],
        "node/node-b untainted",
        false,
    );
    assert!(node(&kubectl, "node-b").unwrap()["spec"]["taints"].is_null());

    // Deleting a node: a warning, and the Node is gone.
    let (printed, calls) = operate(
        &world,
        &["delete", "node", "node-a"],
        "node \"node-a\" deleted",
        true,
    );
    assert_shortfall(
        &printed.warnings(),
        "node-a",
        "deleting the node",
        "add a node the components' pods may run on (HA mode assumes at least 3) before the next rollout",
    );
    assert_eq!(calls, 1);
    assert!(node(&kubectl, "node-a").is_none(), "node-a is deleted");

    // failurePolicy Ignore: with policy-server down, a cordon goes through
    // without a warning; the API server logs that it failed open and
    // records it in the request's audit event.
    world.server.stop();
    progress("policy-server killed");
    let (printed, _) = operate(&world, &["cordon", "node-b"], "node/node-b cordoned", false);
    assert_eq!(
        node(&kubectl, "node-b").unwrap()["spec"]["unschedulable"],
        true,
        "the cordon is stored with policy-server down"
    );
    let failed_open: Vec<String> = world
        .cluster
        .log_tail("kube-apiserver", 100_000)
        .lines()
        .filter(|l| l.contains("Failed calling webhook, failing open") && l.contains(NODES_WEBHOOK))
        .map(str::to_string)
        .collect();
    assert_eq!(failed_open.len(), 1, "{failed_open:?}");
    assert!(
        failed_open[0].contains("connection refused"),
        "{}",
        failed_open[0]
    );
    // Its audit event is the last PATCH of node-b (the taint's came before).
    let last = wait_until("the cordon's audit event", Duration::from_secs(10), || {
        let events = world.cluster.audit_events();
        let last = events
            .iter()
            .rfind(|e| {
                e.stage() == "ResponseComplete"
                    && e.verb() == "patch"
                    && e.object_ref() == ("nodes", "", "", "node-b")
            })
            .cloned();
        match last {
            Some(event) if event.annotations().contains_key(FAILED_OPEN) => Ok(event),
            other => Err(format!("{other:?}")),
        }
    });
    assert_eq!(last.annotations()[FAILED_OPEN], NODES_WEBHOOK, "{last}");
    progress(format!(
        "with policy-server down: cordon stored in {:.2} s; kube-apiserver: {}; audit annotations: {}",
        printed.elapsed.as_secs_f64(),
        failed_open[0]
            .split_once("] ")
            .map_or(failed_open[0].as_str(), |(_, l)| l),
        serde_json::to_string(&last["annotations"]).unwrap()
    ));
    progress(format!(
        "nodes: done in {:.1} s",
        started.elapsed().as_secs_f64()
    ));
}
