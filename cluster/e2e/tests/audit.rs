//! Every mutation names its rules: the module's `audit_annotations`
//! (`mutated-by` and one key per rule), passed on by policy-server 1.35
//! (policy-evaluator's admission_response.rs) and recorded by
//! kube-apiserver in its audit log under the webhook's name
//! (`clusterwide-linkerd-ha-mutating.kubewarden.admission/<key>`), read
//! from `cluster/up.sh`'s audit log (every write at Metadata level).

use std::collections::BTreeMap;
use std::time::Duration;

use cluster_e2e::audit::{self, AuditEvent};
use cluster_e2e::controllers::wait_for;
use cluster_e2e::objects::policy_changes;
use cluster_e2e::world::{linkerd_fixture, MUTATING};
use cluster_e2e::{progress, World, WorldOptions};
use serde_json::{json, Value};

const SAFE_TO_EVICT: &str = "cluster-autoscaler.kubernetes.io/safe-to-evict";
const MUTATING_WEBHOOK: &str = "clusterwide-linkerd-ha-mutating.kubewarden.admission";
/// The API server's own record that a mutating webhook was called.
const MUTATION: &str = "mutation.webhook.admission.k8s.io/round_0_index_0";

/// `kubectl apply -f` of `objects` written to `file`, shown as it went;
/// it must succeed.
fn apply(world: &World, file: &str, objects: &[Value]) -> cluster_e2e::Printed {
    let path = world.manifest(file, objects);
    let printed = world
        .kubectl()
        .print(&["apply", "-f", path.to_str().expect("UTF-8")]);
    progress(format!(
        "{printed}(exit {}, {:.2} s)",
        if printed.success { 0 } else { 1 },
        printed.elapsed.as_secs_f64()
    ));
    assert!(printed.success, "{printed}");
    printed
}

fn ours(event: &Value) -> BTreeMap<String, String> {
    event.annotations_under(&format!("{MUTATING_WEBHOOK}/"))
}

/// The one ResponseComplete event of `verb` on the object.
fn event_of(world: &World, verb: &str, resource: &str, namespace: &str, name: &str) -> Value {
    let mut found = audit::completed(&world.audit_log(), verb, resource, namespace, name);
    assert_eq!(
        found.len(),
        1,
        "one {verb} of {resource} {namespace}/{name}: {found:?}"
    );
    found.remove(0)
}

#[test]
fn a_mutation_is_recorded_in_the_audit_log() {
    progress(
        "audit: a meshed Deployment the mutating policy changes, and the API server's audit log",
    );
    let world = World::start(WorldOptions::default());
    let kubectl = world.kubectl();
    // A namespace that enables injection and a Deployment without
    // safe-to-evict; its template already holds the proxy (as `linkerd
    // inject` writes it), so its Pods are admitted without the injector.
    let namespace = json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "shop", "annotations": {"linkerd.io/inject": "enabled"}},
    });
    let deployment = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [
                    {"name": "web", "image": "nginx:1.27",
                     "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}},
                    {"name": "linkerd-proxy", "image": "cr.l5d.io/linkerd/proxy:edge-25.4.4",
                     "resources": {"requests": {"cpu": "100m", "memory": "20Mi"}}},
                ]},
            },
        },
    });
    let printed = apply(
        &world,
        "shop.yaml",
        &[namespace.clone(), deployment.clone()],
    );
    assert_eq!(
        printed.text, "namespace/shop created\ndeployment.apps/web created\n",
        "a mutation prints nothing but the result"
    );
    assert_eq!(
        policy_changes(kubectl, &deployment),
        [
            json!({"op": "add", "path": "/spec/template/metadata/annotations",
                "value": {SAFE_TO_EVICT: "true"}})
        ],
        "the policy added safe-to-evict and nothing else"
    );

    // The Deployment's CREATE: the API server's record of the mutation and
    // the module's own annotations, under the webhook's name.
    let created = event_of(&world, "create", "deployments", "shop", "web");
    progress(format!(
        "audit event of the Deployment's create: {}",
        serde_json::to_string_pretty(&json!({
            "verb": created["verb"], "user": created["user"]["username"],
            "objectRef": created["objectRef"], "responseStatus": created["responseStatus"],
            "annotations": created["annotations"],
        }))
        .unwrap()
    ));
    assert_eq!(created.code(), Some(201));
    let annotations = ours(&created);
    assert_eq!(
        annotations.keys().collect::<Vec<_>>(),
        ["mutated-by", "safeToEvict"],
        "{created}"
    );
    assert_eq!(annotations["mutated-by"], "safeToEvict");
    let fixed = &annotations["safeToEvict"];
    assert!(
        fixed.starts_with("[safeToEvict] Deployment shop/web: ") && !fixed.contains('\n'),
        "{fixed}"
    );
    let mutation: Value = serde_json::from_str(&created.annotations()[MUTATION]).unwrap();
    assert_eq!(
        mutation,
        json!({"configuration": MUTATING, "webhook": MUTATING_WEBHOOK, "mutated": true})
    );

    // The Namespace was sent to the policy too and left as it was: the API
    // server records the call, the module adds nothing.
    let namespace_created = event_of(&world, "create", "namespaces", "", "shop");
    assert!(ours(&namespace_created).is_empty(), "{namespace_created}");
    let mutation: Value = serde_json::from_str(&namespace_created.annotations()[MUTATION]).unwrap();
    assert_eq!(mutation["mutated"], false, "{namespace_created}");

    // What the controllers create from it already has safe-to-evict in its
    // template: admitted unchanged, nothing in the audit log from the
    // module.
    let snapshot = wait_for(
        kubectl,
        "shop",
        "the ReplicaSet and its 2 Pods",
        Duration::from_secs(60),
        |s| s.pods_of_deployment("web").len() == 2,
    );
    let events = world.cluster.audit_events();
    let creates: Vec<&Value> = events
        .iter()
        .filter(|e| {
            e.stage() == "ResponseComplete"
                && e.verb() == "create"
                && matches!(e.object_ref(), ("replicasets" | "pods", "", "shop", _))
        })
        .collect();
    assert_eq!(creates.len(), 3, "{}", snapshot.summary());
    for event in &creates {
        assert!(ours(event).is_empty(), "{event}");
        let mutation: Value = serde_json::from_str(&event.annotations()[MUTATION]).unwrap();
        assert_eq!(mutation["mutated"], false, "{event}");
    }
    progress(format!(
        "{}: created by the controllers, {} audit events, none with {MUTATING_WEBHOOK}/ annotations (mutated: false)",
        snapshot.summary(),
        creates.len()
    ));

    // A fix by more than one rule: the default install's linkerd-identity
    // with 3 replicas lacks the HA anti-affinity and the requests, which
    // the policy adds (controlPlaneAntiAffinity and controlPlaneResources:
    // mutate). mutated-by lists both, in the policy's order; each rule's
    // key holds one line per fix.
    let (_, default) = linkerd_fixture("install_default.golden");
    let linkerd = default
        .iter()
        .find(|o| o["kind"] == "Namespace")
        .expect("the linkerd Namespace")
        .clone();
    let mut identity = default
        .iter()
        .find(|o| o["kind"] == "Deployment" && o["metadata"]["name"] == "linkerd-identity")
        .expect("linkerd-identity")
        .clone();
    identity["spec"]["replicas"] = json!(3);
    let printed = apply(&world, "identity.yaml", &[linkerd, identity.clone()]);
    assert_eq!(
        printed.results(),
        [
            ("namespace/linkerd".to_string(), "created".to_string()),
            (
                "deployment.apps/linkerd-identity".to_string(),
                "created".to_string()
            )
        ]
    );
    // Its warnings come from the rules that warn; the fixes are not among
    // them: what the policy changed is only in the audit log.
    assert!(
        printed
            .warnings()
            .iter()
            .all(|w| !w.starts_with("[controlPlaneAntiAffinity]")
                && !w.starts_with("[controlPlaneResources]")),
        "{printed}"
    );
    let created = event_of(
        &world,
        "create",
        "deployments",
        "linkerd",
        "linkerd-identity",
    );
    let annotations = ours(&created);
    progress(format!(
        "audit annotations of linkerd-identity's create: {}",
        serde_json::to_string_pretty(&annotations).unwrap()
    ));
    assert_eq!(
        annotations["mutated-by"],
        "controlPlaneAntiAffinity,controlPlaneResources"
    );
    assert_eq!(
        annotations.keys().collect::<Vec<_>>(),
        [
            "controlPlaneAntiAffinity",
            "controlPlaneResources",
            "mutated-by"
        ]
    );
    for rule in ["controlPlaneAntiAffinity", "controlPlaneResources"] {
        let lines: Vec<&str> = annotations[rule].lines().collect();
        assert!(
            !lines.is_empty()
                && lines.iter().all(|line| line
                    .starts_with(&format!("[{rule}] Deployment linkerd/linkerd-identity: "))),
            "{rule}: {lines:?}"
        );
    }
    let changes = policy_changes(kubectl, &identity);
    progress(format!(
        "stored with {} change(s) by the policy: {}",
        changes.len(),
        changes
            .iter()
            .map(|c| c["path"].as_str().unwrap_or_default())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    assert!(!changes.is_empty());
    let stored = kubectl
        .get(&["-n", "linkerd", "deployment", "linkerd-identity"])
        .unwrap();
    progress(format!(
        "stored requests: {}",
        stored["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| format!("{} {}", c["name"], c["resources"]["requests"]))
            .collect::<Vec<_>>()
            .join(", ")
    ));

    let events = world.cluster.audit_events();
    let size = std::fs::metadata(world.audit_log()).map_or(0, |m| m.len());
    progress(format!(
        "audit log: {} events, {} KiB",
        events.len(),
        size / 1024
    ));
}
