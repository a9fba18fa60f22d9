//! Issue 22, item 3: policy-server's lookups go to the API server with a
//! TokenRequest token of `kubewarden/policy-server`, bound to exactly the
//! RBAC a Kubewarden 1.35 install gives policy-server
//! (manifests/kubewarden-policy-server-rbac.yaml). What that is enough for,
//! what it is not, and what linkerd-ha-policy needs on top
//! (policy.yaml's ClusterRole linkerd-ha-policy-lookups).

use std::time::{Duration, Instant};

use cluster_e2e::objects::{documents, policy_changes};
use cluster_e2e::policy::policy_lookups_rbac;
use cluster_e2e::world::linkerd_fixture;
use cluster_e2e::{progress, wait_until, Lookups, World, WorldOptions};
use serde_json::json;

const SAFE_TO_EVICT: &str = "cluster-autoscaler.kubernetes.io/safe-to-evict";

fn meshed_app() -> Vec<serde_json::Value> {
    documents(
        r#"
apiVersion: v1
kind: Namespace
metadata:
  name: shop
  annotations:
    linkerd.io/inject: enabled
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        resources:
          requests: {cpu: 10m, memory: 16Mi}
"#,
    )
}

#[test]
fn lookups_with_kubewardens_own_rbac() {
    progress("lookups: policy-server with exactly the RBAC of a Kubewarden 1.35 install");
    let world = World::start(WorldOptions {
        lookups: Lookups::KubewardenOnly,
        ..WorldOptions::default()
    });
    let kubectl = world.kubectl();

    let can_i = kubectl
        .run(&[
            "auth",
            "can-i",
            "--list",
            "--as=system:serviceaccount:kubewarden:policy-server",
        ])
        .ok()
        .stdout;
    progress(format!("policy-server may:\n{}", can_i.trim_end()));
    for (verb, resource, allowed) in [
        ("list", "namespaces", true),
        ("watch", "namespaces", true),
        ("list", "poddisruptionbudgets.policy", false),
        ("list", "nodes", false),
    ] {
        let run = kubectl.run(&[
            "auth",
            "can-i",
            verb,
            resource,
            "--as=system:serviceaccount:kubewarden:policy-server",
        ]);
        assert_eq!(
            run.stdout.trim() == "yes",
            allowed,
            "can policy-server {verb} {resource}? {}",
            run.stdout
        );
    }

    // A Deployment in a namespace that enables injection: only the
    // namespace's annotation says it is meshed, so safe-to-evict is added
    // only if the Namespace lookup worked.
    progress("lookups: a Deployment in a meshed namespace (Namespace get)");
    let app = meshed_app();
    let path = world.manifest("app.yaml", &app);
    let printed = kubectl.print(&["apply", "-f", path.to_str().unwrap()]);
    progress(format!("{printed}"));
    assert!(printed.success, "{printed}");
    assert!(
        printed.warnings().is_empty(),
        "no lookup may fail: {printed}"
    );
    assert_eq!(
        policy_changes(kubectl, &app[1]),
        vec![
            json!({"op": "add", "path": "/spec/template/metadata/annotations",
                    "value": {SAFE_TO_EVICT: "true"}})
        ],
        "the Namespace lookup decides safe-to-evict"
    );

    // The control plane: the policy lists the disruption budgets of the
    // control-plane namespace and the nodes. Kubewarden's RBAC grants
    // neither, and policy-server answers such lookups from a reflector that
    // retries the forbidden list instead of failing the call: the policy
    // never gets its "lookup failed" answer, and the API server gives up
    // at the webhook's timeoutSeconds.
    progress(
        "lookups: linkerd-identity of linkerd install --ha (PodDisruptionBudget and Node lists)",
    );
    let (_, ha) = linkerd_fixture("install_ha_output.golden");
    let wanted: Vec<_> = ha
        .iter()
        .filter(|o| {
            (o["kind"] == "Namespace" && o["metadata"]["name"] == "linkerd")
                || (o["kind"] == "Deployment" && o["metadata"]["name"] == "linkerd-identity")
        })
        .cloned()
        .collect();
    assert_eq!(wanted.len(), 2);
    let path = world.manifest("identity.yaml", &wanted);
    let started = Instant::now();
    let printed = kubectl.print(&["apply", "-f", path.to_str().unwrap()]);
    let took = started.elapsed();
    progress(format!("{printed}(took {:.1} s)", took.as_secs_f64()));
    assert!(!printed.success, "{printed}");
    assert!(
        printed.errors().iter().any(|e| e.contains(
            "failed calling webhook \"clusterwide-linkerd-ha-mutating.kubewarden.admission\""
        ) && e.contains("context deadline exceeded")),
        "{printed}"
    );
    assert!(
        took >= Duration::from_secs(9),
        "the API server waits for timeoutSeconds (10 s): {took:?}"
    );
    let log = cluster_e2e::strip_ansi(&world.server_log());
    let forbidden = log
        .lines()
        .filter(|l| l.contains("403") && l.contains("poddisruptionbudgets"))
        .count();
    progress(format!(
        "policy-server logged {forbidden} forbidden PodDisruptionBudget lists, e.g.: {}",
        log.lines()
            .find(|l| l.contains("403") && l.contains("poddisruptionbudgets"))
            .unwrap_or("(none)")
            .chars()
            .take(300)
            .collect::<String>()
    ));
    assert!(forbidden > 0, "policy-server's log:\n{log}");

    // What linkerd-ha-policy needs on top: list/watch of both (and of the
    // control plane's Deployments and StatefulSets, which only the Node
    // instance reads: tests/nodes.rs). The reflectors recover on their
    // next retry.
    progress("lookups: + linkerd-ha-policy-lookups (nodes, poddisruptionbudgets, deployments, statefulsets)");
    kubectl
        .run_with_stdin(&["apply", "-f", "-"], Some(&policy_lookups_rbac()))
        .ok();
    let printed = wait_until(
        "the control plane Deployment to be admitted",
        Duration::from_secs(90),
        || {
            let printed = kubectl.print(&["apply", "-f", path.to_str().unwrap()]);
            if printed.success {
                Ok(printed)
            } else {
                Err(printed.to_string())
            }
        },
    );
    progress(format!("{printed}"));
    assert!(
        printed
            .results()
            .contains(&("deployment.apps/linkerd-identity".into(), "created".into())),
        "{printed}"
    );
    // The budget list answered: "no budget selects it yet" is the rule
    // speaking, not a failed lookup.
    for warning in printed.warnings() {
        assert!(
            !warning.contains("may not read") && !warning.contains("could not be read"),
            "{warning}"
        );
    }
    assert!(
        printed.warnings().iter().any(|w| w.starts_with(
            "[disruptionBudgets] Deployment linkerd/linkerd-identity: no PodDisruptionBudget"
        )),
        "{printed}"
    );
}
