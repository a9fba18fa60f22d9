//! Issue 22's scenarios on a real API server: each starts its own loopback
//! cluster and policy-server (cluster_e2e::World) and checks three things:
//! what kubectl printed, what the API server stored (the policy's mutations
//! and nothing else, measured against the API server's own dry run without
//! the policy) and what the controllers did.
//!
//! policy-server's ServiceAccount has Kubewarden 1.35's RBAC plus
//! linkerd-ha-policy-lookups (tests/lookups.rs shows why).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cluster_e2e::controllers::{assert_steady, events, wait_for, Snapshot};
use cluster_e2e::objects::{
    admission_review, describe, kind, kubectl_name, name, policy_changes, stored,
};
use cluster_e2e::world::{linkerd_fixture, MUTATING};
use cluster_e2e::{progress, wait_until, Kubectl, Printed, World, WorldOptions};
use serde_json::{json, Value};

const SAFE_TO_EVICT: &str = "cluster-autoscaler.kubernetes.io/safe-to-evict";
const ADMISSION_WEBHOOKS: &str = "config.linkerd.io/admission-webhooks";
const MUTATING_WEBHOOK: &str = "clusterwide-linkerd-ha-mutating.kubewarden.admission";
const VALIDATING_WEBHOOK: &str = "clusterwide-linkerd-ha-validating.kubewarden.admission";

fn path_str(path: &std::path::Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

fn show(printed: &Printed) {
    progress(format!(
        "{printed}(exit {}, {:.1} s)",
        if printed.success { "0" } else { "1" },
        printed.elapsed.as_secs_f64()
    ));
}

/// The verb kubectl printed for `object` (`created`, ...), if any.
fn result_of<'a>(printed: &'a [(String, String)], object: &Value) -> Option<&'a str> {
    let wanted = kubectl_name(object);
    printed
        .iter()
        .find(|(name, _)| *name == wanted)
        .map(|(_, verb)| verb.as_str())
}

/// Asserts that the API server stored each object exactly as it would have
/// without the policy; returns how many objects were compared.
fn assert_stored_unchanged(kubectl: &Kubectl, objects: &[&Value]) -> usize {
    for object in objects {
        let changes = policy_changes(kubectl, object);
        assert!(
            changes.is_empty(),
            "{} was stored with changes the API server alone would not make: {}",
            describe(object),
            Value::Array(changes)
        );
    }
    objects.len()
}

/// Every Deployment of `namespace` has one ReplicaSet with spec.replicas
/// Pods, each owned by it; no FailedCreate event; then nothing changes for
/// five seconds.
fn assert_control_plane_pods(world: &World, namespace: &str, deployments: &[&Value]) -> Snapshot {
    let kubectl = world.kubectl();
    let wanted: BTreeMap<String, usize> = deployments
        .iter()
        .map(|d| {
            (
                name(d).to_string(),
                d["spec"]["replicas"].as_u64().unwrap_or(1) as usize,
            )
        })
        .collect();
    let started = Instant::now();
    let snapshot = wait_for(
        kubectl,
        namespace,
        "a ReplicaSet and its Pods for each control-plane Deployment",
        Duration::from_secs(120),
        |s| {
            wanted.iter().all(|(deployment, replicas)| {
                s.replicasets_of(deployment).len() == 1
                    && s.pods_of_deployment(deployment).len() == *replicas
            })
        },
    );
    progress(format!(
        "controllers: {} ({:.1} s)",
        snapshot.summary(),
        started.elapsed().as_secs_f64()
    ));
    // Each Pod carries its template's metadata: the policy added nothing
    // to the control plane's pods.
    for deployment in wanted.keys() {
        for rs in snapshot.replicasets_of(deployment) {
            for pod in snapshot.pods_of(rs) {
                let template = &rs["spec"]["template"]["metadata"];
                assert_eq!(
                    pod["metadata"]["annotations"],
                    template["annotations"],
                    "pod {} has other annotations than its template",
                    name(pod)
                );
            }
        }
    }
    let failed = events(kubectl, namespace, "FailedCreate");
    assert!(failed.is_empty(), "FailedCreate events: {failed:?}");
    assert_steady(kubectl, namespace, &snapshot, Duration::from_secs(5));
    snapshot
}

/// The webhook configurations as the controller writes them (see
/// cluster_e2e::policy::webhook_configuration) are stored with nothing but
/// the API server's defaults added.
fn assert_webhook_configurations(world: &World) {
    let kubectl = world.kubectl();
    for sent in &world.webhooks {
        let stored = stored(kubectl, sent).expect("the webhook configuration is stored");
        let mut shown = sent.clone();
        shown["webhooks"][0]["clientConfig"]["caBundle"] = json!("<the test's CA>");
        progress(format!(
            "{}: {}",
            kind(sent),
            serde_json::to_string(&shown["webhooks"][0]).unwrap()
        ));
        let mut defaults = cluster_e2e::objects::changes(sent, &stored);
        defaults.sort_by_key(|op| op["path"].as_str().unwrap_or_default().to_string());
        let rules = sent["webhooks"][0]["rules"].as_array().unwrap().len();
        let mut expected = vec![
            json!({"op": "add", "path": "/webhooks/0/matchPolicy", "value": "Equivalent"}),
            json!({"op": "add", "path": "/webhooks/0/objectSelector", "value": {}}),
        ];
        if kind(sent) == "MutatingWebhookConfiguration" {
            expected.push(
                json!({"op": "add", "path": "/webhooks/0/reinvocationPolicy", "value": "Never"}),
            );
        }
        for rule in 0..rules {
            expected.push(json!({"op": "add", "path": format!("/webhooks/0/rules/{rule}/scope"), "value": "*"}));
        }
        expected.sort_by_key(|op| op["path"].as_str().unwrap_or_default().to_string());
        assert_eq!(defaults, expected, "{} as stored", name(sent));
    }
    progress("webhook configurations stored with only the API server's defaults added (matchPolicy Equivalent, objectSelector {}, reinvocationPolicy Never, scope *)");
}

#[test]
fn a_install_ha_in_one_go() {
    progress("scenario a: `linkerd install --ha` output, kubectl apply -f in one go");
    let world = World::start(WorldOptions::default());
    let kubectl = world.kubectl();
    assert_webhook_configurations(&world);
    let (path, objects) = linkerd_fixture("install_ha_output.golden");

    let printed = kubectl.print(&["apply", "-f", path_str(&path)]);
    show(&printed);
    assert!(printed.success, "{printed}");
    assert!(printed.errors().is_empty(), "{printed}");
    let results = printed.results();
    assert_eq!(
        results.len(),
        objects.len(),
        "one line per object: {printed}"
    );
    for object in &objects {
        assert_eq!(
            result_of(&results, object),
            Some("created"),
            "{}: {printed}",
            describe(object)
        );
    }
    // The only warning: the proxy injector's budget comes after its
    // Deployment in the file, so at its admission no budget selects it.
    let warnings = printed.warnings();
    assert_eq!(warnings.len(), 1, "{printed}");
    assert!(
        warnings[0].starts_with(
            "[disruptionBudgets] Deployment linkerd/linkerd-proxy-injector: no PodDisruptionBudget"
        ),
        "{printed}"
    );

    let compared = assert_stored_unchanged(kubectl, &objects.iter().collect::<Vec<_>>());
    progress(format!(
        "stored: all {compared} objects exactly as the API server stores them without the policy"
    ));

    let deployments: Vec<&Value> = objects.iter().filter(|o| kind(o) == "Deployment").collect();
    assert_eq!(deployments.len(), 3);
    let snapshot = assert_control_plane_pods(&world, "linkerd", &deployments);
    assert_eq!(snapshot.pods.len(), 9);
}

#[test]
fn b_default_install_then_upgrade_ha() {
    progress("scenario b: the default install, then `upgrade --ha` over it");
    let world = World::start(WorldOptions::default());
    let kubectl = world.kubectl();
    let (default_path, default) = linkerd_fixture("install_default.golden");

    let printed = kubectl.print(&["apply", "-f", path_str(&default_path)]);
    show(&printed);
    assert!(!printed.success, "{printed}");
    let results = printed.results();
    let refused: Vec<&Value> = default
        .iter()
        .filter(|o| result_of(&results, o).is_none())
        .collect();
    let refused_names: Vec<String> = refused.iter().map(|o| describe(o)).collect();
    // The control plane's three Deployments run one replica each.
    assert_eq!(
        refused_names,
        [
            "Deployment linkerd/linkerd-identity",
            "Deployment linkerd/linkerd-destination",
            "Deployment linkerd/linkerd-proxy-injector"
        ],
        "{printed}"
    );
    let errors = printed.errors();
    assert_eq!(errors.len(), 3, "{printed}");
    for (error, object) in errors.iter().zip(&refused) {
        assert!(
            error.contains(&format!(
                "admission webhook \"{MUTATING_WEBHOOK}\" denied the request: Deployment {}",
                format_args!("linkerd/{}", name(object))
            )),
            "{error}"
        );
        assert!(error.contains("[controlPlaneReplicas]"), "{error}");
        assert!(stored(kubectl, object).is_none());
    }
    for object in &default {
        if !refused.contains(&object) {
            assert_eq!(result_of(&results, object), Some("created"));
        }
    }
    // The proxy injector's webhook configuration has failurePolicy Ignore,
    // which the policy refuses (injectorWebhook: enforce), yet it is stored:
    // the API server never calls admission webhooks for webhook
    // configurations. policy-server, asked directly, refuses it.
    let injector = default
        .iter()
        .find(|o| kind(o) == "MutatingWebhookConfiguration")
        .expect("the injector's webhook configuration");
    let stored_injector = stored(kubectl, injector).expect("stored");
    assert_eq!(stored_injector["webhooks"][0]["failurePolicy"], "Ignore");
    let answer = world.ask_policy_server(
        MUTATING,
        &admission_review(
            injector,
            "CREATE",
            (
                "admissionregistration.k8s.io",
                "v1",
                "mutatingwebhookconfigurations",
            ),
        ),
    );
    assert_eq!(answer["response"]["allowed"], false, "{answer}");
    let message = answer["response"]["status"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(message.contains("[injectorWebhook]"), "{message}");
    progress(format!(
        "stored despite the policy (never sent to webhooks): {}; policy-server asked directly: {}",
        describe(injector),
        message.lines().next().unwrap_or_default()
    ));
    let admitted: Vec<&Value> = default.iter().filter(|o| !refused.contains(o)).collect();
    let compared = assert_stored_unchanged(kubectl, &admitted);
    progress(format!(
        "stored: {compared} admitted objects unchanged by the policy"
    ));
    let snapshot = Snapshot::take(kubectl, "linkerd");
    assert!(snapshot.replicasets.is_empty() && snapshot.pods.is_empty());

    progress("scenario b: `linkerd upgrade --ha` (install_ha_output.golden) over it");
    let (ha_path, ha) = linkerd_fixture("install_ha_output.golden");
    let printed = kubectl.print(&["apply", "-f", path_str(&ha_path)]);
    show(&printed);
    assert!(printed.success, "{printed}");
    let results = printed.results();
    for object in &ha {
        let verb = result_of(&results, object);
        let existed = default
            .iter()
            .any(|o| describe(o) == describe(object) && !refused.contains(&o));
        if existed {
            assert!(
                matches!(verb, Some("configured" | "unchanged")),
                "{}: {verb:?}",
                describe(object)
            );
        } else {
            assert_eq!(verb, Some("created"), "{}", describe(object));
        }
    }
    for warning in printed.warnings() {
        assert!(warning.starts_with('['), "{warning}");
    }
    let stored_injector = stored(kubectl, injector).expect("stored");
    assert_eq!(stored_injector["webhooks"][0]["failurePolicy"], "Fail");
    let compared = assert_stored_unchanged(
        kubectl,
        &ha.iter()
            .filter(|o| {
                matches!(
                    kind(o),
                    "Deployment" | "PodDisruptionBudget" | "Namespace" | "CronJob"
                )
            })
            .collect::<Vec<_>>(),
    );
    progress(format!(
        "stored: {compared} objects the webhooks match, unchanged by the policy"
    ));
    let deployments: Vec<&Value> = ha.iter().filter(|o| kind(o) == "Deployment").collect();
    assert_control_plane_pods(&world, "linkerd", &deployments);
}

fn meshed_namespace(name: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": name, "annotations": {"linkerd.io/inject": "enabled"}},
    })
}

/// A Deployment of `replicas` nginx pods; with `proxy`, its template
/// already holds the linkerd-proxy container (as `linkerd inject` writes
/// it), so the fail-closed rule admits its pods without the injector.
fn web_deployment(namespace: &str, replicas: u64, proxy: bool) -> Value {
    let mut containers = vec![json!({
        "name": "web", "image": "nginx:1.27",
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
    })];
    if proxy {
        containers.push(json!({
            "name": "linkerd-proxy", "image": "cr.l5d.io/linkerd/proxy:edge-25.4.4",
            "resources": {"requests": {"cpu": "100m", "memory": "20Mi"}},
        }));
    }
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": containers},
            },
        },
    })
}

#[test]
fn c_meshed_namespace_without_the_injector() {
    progress(
        "scenario c: a meshed application namespace, no Linkerd injector, proxyPresent: enforce",
    );
    let world = World::start(WorldOptions::default());
    let kubectl = world.kubectl();
    let objects = vec![meshed_namespace("shop"), web_deployment("shop", 2, false)];
    let path = world.manifest("shop.yaml", &objects);

    let applied = Instant::now();
    let printed = kubectl.print(&["apply", "-f", path_str(&path)]);
    show(&printed);
    assert!(printed.success, "{printed}");
    assert_eq!(
        printed.results(),
        [
            ("namespace/shop".to_string(), "created".to_string()),
            ("deployment.apps/web".to_string(), "created".to_string())
        ]
    );
    assert_eq!(policy_changes(kubectl, &objects[0]), Vec::<Value>::new());
    assert_eq!(
        policy_changes(kubectl, &objects[1]),
        [
            json!({"op": "add", "path": "/spec/template/metadata/annotations",
                "value": {SAFE_TO_EVICT: "true"}})
        ],
        "the Deployment is stored with safe-to-evict in its template, and nothing else"
    );
    progress("stored: the Deployment's template got cluster-autoscaler.kubernetes.io/safe-to-evict: \"true\"");

    // The ReplicaSet is created, its Pods are refused by the validating
    // policy, and the Deployment reports the failure.
    let deployment = wait_until(
        "the Deployment to report ReplicaFailure",
        Duration::from_secs(60),
        || {
            let d = kubectl.get(&["-n", "shop", "deployment", "web"]).unwrap();
            let failure = d["status"]["conditions"]
                .as_array()
                .and_then(|c| c.iter().find(|c| c["type"] == "ReplicaFailure").cloned());
            failure
                .map(|_| d.clone())
                .ok_or_else(|| d["status"].to_string())
        },
    );
    let condition = deployment["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "ReplicaFailure")
        .unwrap()
        .clone();
    assert_eq!(condition["status"], "True");
    assert_eq!(condition["reason"], "FailedCreate");
    let message = condition["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!("admission webhook \"{VALIDATING_WEBHOOK}\" denied the request: [proxyPresent] Pod shop/web-")),
        "{message}"
    );
    assert!(
        message.contains("has no linkerd-proxy container"),
        "{message}"
    );
    progress(format!(
        "the Deployment's condition ReplicaFailure=True FailedCreate: {message}"
    ));

    let snapshot = Snapshot::take(kubectl, "shop");
    assert_eq!(snapshot.replicasets_of("web").len(), 1);
    assert!(snapshot.pods.is_empty(), "no pod may be stored unmeshed");
    let rs = snapshot.replicasets_of("web")[0];
    let template = &rs["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(template[SAFE_TO_EVICT], "true");
    let describe_rs = kubectl.print(&["-n", "shop", "describe", "replicaset", name(rs)]);
    let lines = describe_rs.lines_with("FailedCreate  ");
    assert!(!lines.is_empty(), "{describe_rs}");
    assert!(
        describe_rs
            .text
            .contains("ReplicaFailure   True    FailedCreate"),
        "{describe_rs}"
    );
    assert!(
        lines.iter().all(|l| l.contains("[proxyPresent]")),
        "{describe_rs}"
    );
    progress(format!(
        "kubectl describe replicaset {}:\n{}",
        name(rs),
        lines.join("\n")
    ));
    // The ReplicaSet controller retries with its back-off; the Deployment
    // controller makes no other ReplicaSet.
    let before = events(kubectl, "shop", "FailedCreate");
    let before_at = applied.elapsed();
    std::thread::sleep(Duration::from_secs(10));
    let after = Snapshot::take(kubectl, "shop");
    assert_eq!(after.replicasets.len(), 1, "{}", after.summary());
    assert_eq!(
        after.replicasets[0]["metadata"]["uid"],
        rs["metadata"]["uid"]
    );
    assert!(after.pods.is_empty());
    let failed = events(kubectl, "shop", "FailedCreate");
    let attempts = |events: &[(String, i64, String)]| events.iter().map(|e| e.1).sum::<i64>();
    progress(format!(
        "FailedCreate: {} pod creations refused {:.0} s after the apply, {} after {:.0} s; still 1 ReplicaSet, 0 Pods",
        attempts(&before),
        before_at.as_secs_f64(),
        attempts(&failed),
        applied.elapsed().as_secs_f64()
    ));
    assert!(failed.iter().all(|(object, _, message)| object
        == &format!("ReplicaSet/{}", name(rs))
        && message.contains("[proxyPresent]")));
}

#[test]
fn d_kube_system() {
    progress("scenario d: kube-system (the admission-webhooks label; injection refused; the inject typo)");
    let world = World::start(WorldOptions::default());
    let kubectl = world.kubectl();

    let namespace =
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system"}});
    let path = world.manifest("kube-system.yaml", std::slice::from_ref(&namespace));
    let printed = kubectl.print(&["apply", "-f", path_str(&path)]);
    show(&printed);
    assert!(printed.success, "{printed}");
    assert_eq!(
        printed.results(),
        [(
            "namespace/kube-system".to_string(),
            "configured".to_string()
        )]
    );
    // kube-system already exists: applying it is an UPDATE, which the
    // policy never mutates (a reconciler's syncs would fight it, scenario
    // g); it says what is missing and gives the command.
    assert_eq!(
        policy_changes(kubectl, &namespace),
        Vec::<Value>::new(),
        "an UPDATE of kube-system is stored as sent"
    );
    let warnings = printed.warnings();
    assert!(
        warnings.iter().any(|w| w.contains(
            "[systemNamespaces] Namespace kube-system: system namespace \"kube-system\" lacks the label"
        ) && w.contains("kubectl label namespace kube-system config.linkerd.io/admission-webhooks=disabled --overwrite")),
        "{printed}"
    );
    // The advice, followed as written.
    let printed = kubectl.print(&[
        "label",
        "namespace",
        "kube-system",
        "config.linkerd.io/admission-webhooks=disabled",
        "--overwrite",
    ]);
    show(&printed);
    assert!(printed.success, "{printed}");
    let ns = kubectl.get(&["namespace", "kube-system"]).unwrap();
    assert_eq!(ns["metadata"]["labels"][ADMISSION_WEBHOOKS], "disabled");
    progress("stored: kube-system carries config.linkerd.io/admission-webhooks: disabled once labelled as the warning says");

    // Injection asked for in kube-system: by a workload, and by the
    // namespace itself.
    let mut deployment = web_deployment("kube-system", 1, false);
    deployment["spec"]["template"]["metadata"]["annotations"] =
        json!({"linkerd.io/inject": "enabled"});
    let path = world.manifest("kube-system-app.yaml", std::slice::from_ref(&deployment));
    let printed = kubectl.print(&["apply", "-f", path_str(&path)]);
    show(&printed);
    assert!(!printed.success);
    let errors = printed.errors();
    assert_eq!(errors.len(), 1, "{printed}");
    assert!(
        errors[0].contains(&format!(
            "admission webhook \"{MUTATING_WEBHOOK}\" denied the request"
        )) && errors[0].contains("[systemNamespaces]"),
        "{printed}"
    );
    assert!(stored(kubectl, &deployment).is_none());

    let printed = kubectl.print(&[
        "annotate",
        "namespace",
        "kube-system",
        "linkerd.io/inject=enabled",
    ]);
    show(&printed);
    assert!(!printed.success);
    assert!(
        printed.text.contains("[systemNamespaces]") && printed.text.contains("requests injection"),
        "{printed}"
    );
    let ns = kubectl.get(&["namespace", "kube-system"]).unwrap();
    assert!(ns["metadata"]["annotations"]["linkerd.io/inject"].is_null());

    // `linkerd.io/inject: "true"`: Linkerd only knows enabled, ingress and
    // disabled, and would silently not mesh the pod.
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "typo", "namespace": "default",
                     "annotations": {"linkerd.io/inject": "true"}},
        "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]},
    });
    let path = world.manifest("typo.yaml", std::slice::from_ref(&pod));
    let printed = kubectl.print(&["apply", "-f", path_str(&path)]);
    show(&printed);
    assert!(!printed.success);
    assert!(
        printed.text.contains(&format!(
            "admission webhook \"{MUTATING_WEBHOOK}\" denied the request"
        )) && printed.text.contains("[injectionAnnotation]"),
        "{printed}"
    );
    assert!(stored(kubectl, &pod).is_none());
}

/// The Deployment's template and ReplicaSets at one moment.
fn rollout_state(kubectl: &Kubectl) -> (Value, Vec<String>) {
    let d = kubectl.get(&["-n", "shop", "deployment", "web"]).unwrap();
    let snapshot = Snapshot::take(kubectl, "shop");
    let mut replicasets: Vec<String> = snapshot
        .replicasets_of("web")
        .iter()
        .map(|rs| name(rs).to_string())
        .collect();
    replicasets.sort();
    (d, replicasets)
}

#[test]
fn e_scale_label_and_rollout_restart() {
    progress(
        "scenario e: kubectl scale, a label change and rollout restart on a meshed Deployment",
    );
    let mut world = World::start(WorldOptions {
        register_webhooks: false,
        ..WorldOptions::default()
    });
    // A Deployment from before the policy: meshed (its namespace enables
    // injection, its template holds the proxy) but without safe-to-evict.
    let objects = vec![meshed_namespace("shop"), web_deployment("shop", 2, true)];
    let path = world.manifest("shop.yaml", &objects);
    let printed = world.kubectl().print(&["apply", "-f", path_str(&path)]);
    assert!(printed.success, "{printed}");
    wait_for(
        world.kubectl(),
        "shop",
        "the legacy Deployment's 2 pods",
        Duration::from_secs(60),
        |s| s.pods_of_deployment("web").len() == 2,
    );
    world.register_webhooks();
    let kubectl = world.kubectl();
    let (before, replicasets) = rollout_state(kubectl);
    assert_eq!(replicasets.len(), 1);
    assert!(before["spec"]["template"]["metadata"]["annotations"].is_null());

    // scale: the scale subresource, which the webhooks' rules do not name.
    let printed = kubectl.print(&["-n", "shop", "scale", "deployment/web", "--replicas=3"]);
    show(&printed);
    assert!(
        printed.success && printed.warnings().is_empty(),
        "{printed}"
    );
    let (after_scale, rs_after_scale) = rollout_state(kubectl);
    assert_eq!(after_scale["spec"]["replicas"], 3);
    assert_eq!(after_scale["spec"]["template"], before["spec"]["template"]);
    assert_eq!(rs_after_scale, replicasets, "no new ReplicaSet");
    wait_for(kubectl, "shop", "3 pods", Duration::from_secs(60), |s| {
        s.pods_of_deployment("web").len() == 3
    });
    progress("scale: template untouched, same ReplicaSet, 3 pods admitted");

    // A label: an UPDATE of the Deployment that leaves the template alone.
    // What safe-to-evict would fix is a warning, not a mutation.
    let printed = kubectl.print(&["-n", "shop", "label", "deployment/web", "tier=frontend"]);
    show(&printed);
    assert!(printed.success, "{printed}");
    let (after_label, rs_after_label) = rollout_state(kubectl);
    let changes = cluster_e2e::objects::changes(&after_scale, &after_label);
    assert_eq!(
        changes,
        [json!({"op": "add", "path": "/metadata/labels", "value": {"tier": "frontend"}})],
        "only the label changed"
    );
    assert_eq!(
        after_label["metadata"]["generation"],
        after_scale["metadata"]["generation"]
    );
    assert_eq!(rs_after_label, replicasets, "no new ReplicaSet");
    let warnings = printed.warnings();
    progress(format!(
        "label: only the label stored; warnings: {warnings:?}"
    ));

    // rollout restart: the template changes, so the policy mutates it like
    // a CREATE (safe-to-evict) within the same UPDATE: one new ReplicaSet.
    let printed = kubectl.print(&["-n", "shop", "rollout", "restart", "deployment/web"]);
    show(&printed);
    assert!(printed.success, "{printed}");
    let (after_restart, _) = rollout_state(kubectl);
    let template = &after_restart["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(template[SAFE_TO_EVICT], "true", "{template}");
    assert!(template["kubectl.kubernetes.io/restartedAt"].is_string());
    let snapshot = wait_for(
        kubectl,
        "shop",
        "the new ReplicaSet and its first pod",
        Duration::from_secs(60),
        |s| {
            s.replicasets_of("web").len() == 2
                && s.replicasets_of("web").iter().any(|rs| {
                    rs["spec"]["template"]["metadata"]["annotations"][SAFE_TO_EVICT] == "true"
                        && !s.pods_of(rs).is_empty()
                })
        },
    );
    progress(format!("rollout restart: {}", snapshot.summary()));
    // No kubelet: the new pods never become Ready, so the rollout waits
    // (maxUnavailable) and nothing else happens.
    assert_steady(kubectl, "shop", &snapshot, Duration::from_secs(10));
    let (_, final_replicasets) = rollout_state(kubectl);
    assert_eq!(final_replicasets.len(), 2, "exactly one new ReplicaSet");
}

#[test]
fn f_policy_server_down_then_up() {
    progress("scenario f: policy-server stopped, then started again on the same port");
    let mut world = World::start(WorldOptions::default());
    let app = vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}),
        web_deployment("shop", 1, false),
    ];
    let path = world.manifest("shop.yaml", &app);
    let printed = world.kubectl().print(&["apply", "-f", path_str(&path)]);
    assert!(printed.success, "{printed}");
    wait_for(
        world.kubectl(),
        "shop",
        "1 pod",
        Duration::from_secs(60),
        |s| s.pods_of_deployment("web").len() == 1,
    );

    world.server.stop();
    let stopped = Instant::now();
    progress("policy-server killed");
    let kubectl = world.kubectl();
    let more = vec![
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "settings", "namespace": "shop"}, "data": {"a": "1"}}),
        {
            let mut api = web_deployment("shop", 1, false);
            api["metadata"]["name"] = json!("api");
            api
        },
    ];
    let more_path = world.manifest("more.yaml", &more);
    let printed = kubectl.print(&["apply", "-f", path_str(&more_path)]);
    show(&printed);
    assert!(!printed.success);
    assert_eq!(
        printed.results(),
        [("configmap/settings".to_string(), "created".to_string())],
        "a ConfigMap is no webhook's business"
    );
    let errors = printed.errors();
    assert_eq!(errors.len(), 1, "{printed}");
    assert!(
        errors[0].contains(&format!("failed calling webhook \"{MUTATING_WEBHOOK}\""))
            && errors[0].contains("connection refused"),
        "{printed}"
    );
    assert!(stored(kubectl, &more[1]).is_none(), "nothing half-applied");

    let printed = kubectl.print(&["label", "namespace", "shop", "team=web"]);
    show(&printed);
    assert!(!printed.success, "{printed}");
    let ns = kubectl.get(&["namespace", "shop"]).unwrap();
    assert!(ns["metadata"]["labels"]["team"].is_null());

    // The scale subresource is not matched, so `kubectl scale` is stored;
    // but the Deployment controller's own UPDATE of the ReplicaSet is
    // matched (replicasets UPDATE), so the scale-out waits for the policy.
    let refusals = || {
        world
            .cluster
            .log_tail("kube-apiserver", 100_000)
            .lines()
            .filter(|l| l.contains("Failed calling webhook, failing closed"))
            .count()
    };
    let refused_before = refusals();
    let printed = kubectl.print(&["-n", "shop", "scale", "deployment/web", "--replicas=2"]);
    show(&printed);
    assert!(printed.success, "{printed}");
    // No event records it: the API server's log does, once per retry of
    // the Deployment controller (with its back-off).
    wait_until(
        "the Deployment controller's ReplicaSet update to be refused",
        Duration::from_secs(30),
        || {
            let refused = refusals() - refused_before;
            if refused >= 2 {
                Ok(())
            } else {
                Err(format!("{refused} refusals"))
            }
        },
    );
    let snapshot = Snapshot::take(kubectl, "shop");
    assert_eq!(snapshot.pods.len(), 1, "{}", snapshot.summary());
    assert_eq!(snapshot.replicasets_of("web")[0]["spec"]["replicas"], 1);
    let deployment = kubectl.get(&["-n", "shop", "deployment", "web"]).unwrap();
    assert_eq!(deployment["spec"]["replicas"], 2);

    let down_for = stopped.elapsed();
    progress(format!(
        "kube-apiserver logged {} \"Failed calling webhook, failing closed\" after the scale (the controller's retries)",
        refusals() - refused_before
    ));
    let restart = world.server.restart().unwrap_or_else(|e| panic!("{e}"));
    progress(format!(
        "policy-server restarted on port {} ({:.1} s to ready; down {:.1} s)",
        world.server.port,
        restart.as_secs_f64(),
        down_for.as_secs_f64() + restart.as_secs_f64()
    ));
    let kubectl = world.kubectl();
    let started = Instant::now();
    let snapshot = wait_for(
        kubectl,
        "shop",
        "the controllers' retries to scale the ReplicaSet and create the second pod",
        Duration::from_secs(120),
        |s| s.pods_of_deployment("web").len() == 2,
    );
    progress(format!(
        "after the restart the controllers scaled out in {:.1} s: {}",
        started.elapsed().as_secs_f64(),
        snapshot.summary()
    ));
    let printed = kubectl.print(&["apply", "-f", path_str(&more_path)]);
    show(&printed);
    assert!(printed.success, "{printed}");
    assert!(stored(kubectl, &more[1]).is_some());
    let printed = kubectl.print(&["label", "namespace", "shop", "team=web"]);
    show(&printed);
    assert!(printed.success, "{printed}");
    let snapshot = wait_for(kubectl, "shop", "api's pod", Duration::from_secs(60), |s| {
        s.pods_of_deployment("api").len() == 1 && s.pods_of_deployment("web").len() == 2
    });
    assert_steady(kubectl, "shop", &snapshot, Duration::from_secs(5));
}

#[test]
fn g_reconciler_replacing_kube_system() {
    progress("scenario g: a reconciler replacing kube-system without the admission-webhooks label, 20 times");
    let world = World::start(WorldOptions::default());
    let kubectl = world.kubectl();
    // What an addon manager holds for kube-system: no Linkerd label.
    let namespace = json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "kube-system",
                     "labels": {"addonmanager.kubernetes.io/mode": "Reconcile"}},
    });
    let path = world.manifest("kube-system.yaml", std::slice::from_ref(&namespace));
    let read = || {
        let ns = kubectl.get(&["namespace", "kube-system"]).unwrap();
        (
            ns["metadata"]["resourceVersion"]
                .as_str()
                .unwrap()
                .to_string(),
            ns["metadata"]["labels"][ADMISSION_WEBHOOKS] == "disabled",
        )
    };
    let (mut version, mut labelled) = read();
    assert!(!labelled, "kube-system starts without the label");
    let mut writes = 0;
    let mut added = Vec::new();
    let mut removed = Vec::new();
    let mut warned = Vec::new();
    for round in 1..=20 {
        let printed = kubectl.print(&["replace", "-f", path_str(&path)]);
        assert!(printed.success, "replace {round}: {printed}");
        let (now_version, now_labelled) = read();
        if now_version != version {
            writes += 1;
        }
        // Each UPDATE under the policy's rule: an UPDATE whose old object
        // lacked the label too gets it added; one that removes the label
        // the old object had is left alone, with a warning that the
        // injector webhook will be called for kube-system.
        if labelled {
            assert!(
                !now_labelled,
                "replace {round}: the removal is accepted as sent"
            );
            let warning = printed
                .warnings()
                .into_iter()
                .find(|w| w.starts_with("[systemNamespaces]"))
                .unwrap_or_else(|| panic!("replace {round}: no warning: {printed}"));
            assert!(warning.contains("failurePolicy"), "{warning}");
            removed.push(round);
            warned.push(round);
        } else if now_labelled {
            added.push(round);
        }
        version = now_version;
        labelled = now_labelled;
    }
    progress(format!(
        "20 replaces: {writes} writes (resourceVersion changes); label added by the policy on replaces {added:?}; \
         removed as sent, with a warning, on {removed:?}"
    ));
    assert!(
        added.len() <= 1,
        "the policy and the reconciler fight: the label was added {} times ({added:?}) and removed {} times \
         ({removed:?}) in 20 replaces, {writes} writes",
        added.len(),
        removed.len()
    );
    assert!(
        writes <= 2,
        "after at most one mutation and the reconciler's one removal, replaces must be no-ops: {writes} writes"
    );
}
