//! The policy along the paths a live cluster takes, through the built module:
//! controllers stamping children out of templates, UPDATEs that have nothing
//! to do with the pods, Linkerd's injector's real scope, bare pods, and
//! `kubectl apply` sending a manifest's objects one at a time in file order,
//! with every lookup answered from what the cluster holds at that moment.

mod common;

use common::*;
use policy_harness::simulation::{
    apply_in_order, deployment_recognises, pod_of, replicaset_of, Admission, Admitted, Change,
};
use policy_harness::{AdmissionRequestBuilder, Cluster, Outcome, PolicyModule, Verdict};
use rstest::rstest;
use serde_json::{json, Value};

const SAFE_TO_EVICT: &str = "cluster-autoscaler.kubernetes.io/safe-to-evict";
const LOCAL_VOLUMES: &str = "cluster-autoscaler.kubernetes.io/safe-to-evict-local-volumes";

/// Namespaces as a cluster would hold them: `meshed` enables injection,
/// `opted-out` carries Linkerd's opt-out label (and, misleadingly, asks for
/// injection), the system namespaces the chart skips by name.
fn app_cluster() -> Cluster {
    Cluster::from_objects(
        [
            namespace("app", json!({}), json!({})),
            namespace("meshed", json!({"linkerd.io/inject": "enabled"}), json!({})),
            namespace(
                "opted-out",
                json!({"linkerd.io/inject": "enabled"}),
                json!({"config.linkerd.io/admission-webhooks": "disabled"}),
            ),
            namespace(
                "cert-manager",
                json!({"linkerd.io/inject": "enabled"}),
                json!({}),
            ),
            namespace(
                "kube-system",
                json!({}),
                json!({"config.linkerd.io/admission-webhooks": "disabled"}),
            ),
        ]
        .into_iter()
        .chain(nodes(3)),
    )
}

fn proxy_present() -> Value {
    json!({"rules": {"safeToEvict": "off", "proxyResources": "off", "proxyPresent": "enforce"}})
}

fn update(module: &PolicyModule, old: &Value, new: &Value, settings: &Value) -> Verdict {
    let request = AdmissionRequestBuilder::new(new, "UPDATE")
        .old_object(old)
        .build();
    module
        .validate(&request, settings)
        .unwrap_or_else(|e| panic!("the guest failed on {}: {e}", describe(new)))
}

fn pod_template(annotations: Value) -> Value {
    json!({
        "metadata": {"labels": {"app": "web"}, "annotations": annotations},
        "spec": {"containers": [{"name": "web", "image": "ghcr.io/example/web:1.0"}]}
    })
}

/// A meshed Deployment in `app` whose template lacks safe-to-evict.
fn meshed_deployment() -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "app", "uid": "d-1", "generation": 1},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": pod_template(json!({"linkerd.io/inject": "enabled"}))
        }
    })
}

/// A Pod its controller `owner` (`Kind`, `name`) made in `namespace` from
/// `template`.
fn pod_from(template: &Value, namespace: &str, owner: (&str, &str)) -> Value {
    let owner = json!({"apiVersion": "apps/v1", "kind": owner.0,
                       "metadata": {"name": owner.1, "namespace": namespace},
                       "spec": {"template": template}});
    pod_of(&owner)
}

fn bare_pod(namespace: &str, annotations: Value, containers: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "debug", "namespace": namespace, "annotations": annotations},
           "spec": {"containers": containers}})
}

fn ops(verdict: &Verdict, original: &Value) -> Vec<Value> {
    verdict
        .patch(original)
        .map(|patch| {
            serde_json::to_value(patch)
                .unwrap()
                .as_array()
                .unwrap()
                .clone()
        })
        .unwrap_or_default()
}

fn assert_outcome(verdict: &Verdict, expected: Outcome) {
    assert_eq!(
        verdict.outcome(),
        expected,
        "{:?} {:?}",
        verdict.message,
        verdict.warnings()
    );
}

fn warned_about(verdict: &Verdict, text: &str) -> bool {
    verdict.warnings().iter().any(|w| w.contains(text))
}

// 1. Controllers and their children.

#[test]
fn deployment_replicaset_pods_chain_keeps_templates_equal() {
    let module = load(app_cluster());
    let deployment = meshed_deployment();
    let admitted = create(&module, &deployment, &json!({}));
    assert_eq!(admitted.outcome(), Outcome::Mutated);
    let deployment = admitted.mutated_object.clone().unwrap();
    assert_eq!(
        deployment["spec"]["template"]["metadata"]["annotations"][SAFE_TO_EVICT],
        "true"
    );

    // The ReplicaSet stamped from the admitted template is left exactly as
    // made, so the Deployment controller still recognises it as its own.
    let replicaset = replicaset_of(&deployment, "5d8f");
    let verdict = create(&module, &replicaset, &json!({}));
    assert_outcome(&verdict, Outcome::Accepted);
    assert!(verdict.warnings().is_empty(), "{:?}", verdict.warnings());
    let admitted = verdict.mutated_object.unwrap_or(replicaset);
    assert!(deployment_recognises(&deployment, &admitted));

    let verdict = create(&module, &pod_of(&admitted), &json!({}));
    assert_outcome(&verdict, Outcome::Accepted);
}

#[test]
fn a_legacy_deployments_replicaset_is_never_mutated_but_its_pods_are() {
    let module = load(app_cluster());
    // The Deployment predates the policy: its ReplicaSet lacks the annotation.
    let replicaset = replicaset_of(&meshed_deployment(), "5d8f");
    let verdict = create(&module, &replicaset, &json!({}));
    assert_eq!(verdict.outcome(), Outcome::Accepted);
    assert_eq!(verdict.mutated_object, None);
    assert!(
        warned_about(&verdict, "its controller Deployment/web"),
        "{:?}",
        verdict.warnings()
    );

    let pod = pod_of(&replicaset);
    let verdict = create(&module, &pod, &json!({}));
    assert_eq!(
        ops(&verdict, &pod),
        vec![
            json!({"op": "add", "path": "/metadata/annotations/cluster-autoscaler.kubernetes.io~1safe-to-evict", "value": "true"})
        ]
    );
    assert_idempotent(&module, &verdict, &json!({}));
}

#[test]
fn a_cronjobs_job_is_never_mutated() {
    let module = load(app_cluster());
    let cronjob = json!({
        "apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {"name": "nightly", "namespace": "app"},
        "spec": {"jobTemplate": {"spec": {"template": pod_template(json!({"linkerd.io/inject": "enabled"}))}}}
    });
    let job = json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "nightly-29000000", "namespace": "app",
                     "ownerReferences": [policy_harness::simulation::controller_reference(&cronjob)]},
        "spec": cronjob["spec"]["jobTemplate"]["spec"]
    });
    let verdict = create(&module, &job, &json!({}));
    assert_eq!(verdict.outcome(), Outcome::Accepted);
    assert!(warned_about(&verdict, "its controller CronJob/nightly"));
}

#[rstest]
#[case::inject_typo_from_a_replicaset("app", json!({"linkerd.io/inject": "true"}), ("ReplicaSet", "web-5d8f"), "injectionAnnotation")]
#[case::kube_system_daemonset_asking_for_injection("kube-system", json!({"linkerd.io/inject": "enabled"}), ("DaemonSet", "kube-proxy"), "systemNamespaces")]
fn an_owned_pod_is_warned_for_its_template_never_rejected(
    #[case] namespace: &str,
    #[case] annotations: Value,
    #[case] owner: (&str, &str),
    #[case] rule: &str,
) {
    let module = load(app_cluster());
    let pod = pod_from(&pod_template(annotations.clone()), namespace, owner);
    let verdict = create(&module, &pod, &json!({}));
    assert_outcome(&verdict, Outcome::Accepted);
    assert!(
        warned_about(&verdict, &format!("[{rule}]"))
            && warned_about(&verdict, &format!("its controller {}/{}", owner.0, owner.1)),
        "{:?}",
        verdict.warnings()
    );

    // The same pod made by hand is rejected: nothing else would catch it.
    let mut bare = pod;
    bare["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("ownerReferences");
    bare["metadata"]["name"] = json!("by-hand");
    let verdict = create(&module, &bare, &json!({}));
    assert_eq!(verdict.outcome(), Outcome::Rejected);
    assert!(verdict.message.unwrap().contains(&format!("[{rule}]")));
}

// proxyPresent stays fail-closed for owned pods, and only for pods Linkerd's
// injector would really have meshed.
#[rstest]
#[case::namespace_enables("meshed", json!({}), json!([{"name": "web"}]), true)]
#[case::pod_enables("app", json!({"linkerd.io/inject": "enabled"}), json!([{"name": "web"}]), true)]
#[case::cert_manager_skipped_by_name("cert-manager", json!({}), json!([{"name": "web"}]), false)]
#[case::kube_system_skipped_by_name("kube-system", json!({"linkerd.io/inject": "enabled"}), json!([{"name": "web"}]), false)]
#[case::namespace_labelled_opted_out("opted-out", json!({"linkerd.io/inject": "enabled"}), json!([{"name": "web"}]), false)]
#[case::istio_sidecar("meshed", json!({}), json!([{"name": "web"}, {"name": "istio-proxy"}]), false)]
#[case::invalid_pod_value_in_enabled_namespace("meshed", json!({"linkerd.io/inject": "true"}), json!([{"name": "web"}]), false)]
#[case::already_injected("meshed", json!({}), json!([{"name": "web"}, {"name": "linkerd-proxy"}]), false)]
fn proxy_present_rejects_only_pods_the_injector_would_mesh(
    #[case] namespace: &str,
    #[case] annotations: Value,
    #[case] containers: Value,
    #[case] rejected: bool,
) {
    let module = load(app_cluster());
    let mut template = pod_template(annotations);
    template["spec"]["containers"] = containers;
    let pod = pod_from(&template, namespace, ("ReplicaSet", "web-5d8f"));
    let verdict = create(&module, &pod, &proxy_present());
    assert_eq!(
        verdict.outcome() == Outcome::Rejected,
        rejected,
        "{:?} {:?}",
        verdict.message,
        verdict.warnings()
    );
    if rejected {
        assert!(verdict.message.unwrap().contains("[proxyPresent]"));
    }
}

// 2. UPDATE, the Kubernetes way.

#[rstest]
#[case::scale(Change::Scale(5))]
#[case::label(Change::Relabel)]
#[case::finalizer_removal(Change::RemoveFinalizer)]
fn an_update_that_leaves_the_template_alone_never_starts_a_rollout(#[case] change: Change) {
    let module = load(app_cluster());
    let mut old = meshed_deployment();
    old["metadata"]["finalizers"] = json!(["example.com/cleanup"]);
    let new = change.apply(&old);
    let verdict = update(&module, &old, &new, &json!({}));
    assert_outcome(&verdict, Outcome::Accepted);
    assert!(
        warned_about(&verdict, "this UPDATE does not change the pod template"),
        "{:?}",
        verdict.warnings()
    );
}

#[test]
fn an_update_that_changes_the_template_is_mutated() {
    let module = load(app_cluster());
    let old = meshed_deployment();
    let new = Change::NewImage.apply(&old);
    let verdict = update(&module, &old, &new, &json!({}));
    assert_eq!(
        ops(&verdict, &new),
        vec![
            json!({"op": "add", "path": "/spec/template/metadata/annotations/cluster-autoscaler.kubernetes.io~1safe-to-evict", "value": "true"})
        ]
    );
    let mutated = verdict.mutated_object.unwrap();
    let again = update(&module, &old, &mutated, &json!({}));
    assert_eq!(again.outcome(), Outcome::Accepted);
}

#[test]
fn an_update_without_a_readable_old_object_is_not_mutated() {
    let module = load(app_cluster());
    let new = meshed_deployment();
    let verdict = update(&module, &json!("not an object"), &new, &json!({}));
    assert_outcome(&verdict, Outcome::Accepted);
}

#[test]
fn a_job_is_never_mutated_on_update() {
    let module = load(app_cluster());
    let old = json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "migrate", "namespace": "app"},
        "spec": {"template": pod_template(json!({"linkerd.io/inject": "enabled"}))}
    });
    let new = Change::Relabel.apply(&old);
    let verdict = update(&module, &old, &new, &json!({}));
    assert_eq!(verdict.outcome(), Outcome::Accepted);
    assert!(warned_about(&verdict, "a Job's pod template cannot change"));
}

#[test]
fn a_pod_update_never_patches_the_spec() {
    let module = load(app_cluster());
    let settings = json!({"rules": {"proxyResources": "mutate"}});
    // An injected pod whose proxy has no requests, and no safe-to-evict.
    let old = pod_from(
        &json!({"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web"}, {"name": "linkerd-proxy"}]}}),
        "app",
        ("ReplicaSet", "web-5d8f"),
    );
    let new = Change::Relabel.apply(&old);
    let verdict = update(&module, &old, &new, &settings);
    assert_outcome(&verdict, Outcome::Mutated);
    let ops = ops(&verdict, &new);
    assert!(
        ops.iter()
            .all(|op| op["path"].as_str().unwrap().starts_with("/metadata/")),
        "{ops:?}"
    );
    assert!(warned_about(
        &verdict,
        "a Pod's spec cannot change after creation"
    ));
}

/// A critical control-plane Deployment from Linkerd's HA install, with
/// `replicas` set.
fn destination(replicas: i64) -> (Vec<Value>, Value) {
    let objects = linkerd_fixture("install_ha_output.golden");
    let mut deployment = objects
        .iter()
        .find(|o| o["kind"] == "Deployment" && o["metadata"]["name"] == "linkerd-destination")
        .unwrap()
        .clone();
    deployment["spec"]["replicas"] = json!(replicas);
    (objects, deployment)
}

#[rstest]
#[case::relabel_a_legacy_object(1, Change::Relabel, json!({}), Outcome::Accepted)]
#[case::hpa_scales_a_legacy_object(1, Change::Scale(1), json!({}), Outcome::Accepted)]
#[case::finalizer_removal_of_a_legacy_object(1, Change::RemoveFinalizer, json!({}), Outcome::Accepted)]
#[case::ratcheting_off(1, Change::Relabel, json!({"allowExistingViolations": false}), Outcome::Rejected)]
#[case::a_new_violation(3, Change::Scale(1), json!({}), Outcome::Rejected)]
fn updates_ratchet_existing_violations(
    #[case] old_replicas: i64,
    #[case] change: Change,
    #[case] settings: Value,
    #[case] expected: Outcome,
) {
    let (objects, mut old) = destination(old_replicas);
    old["metadata"]["finalizers"] = json!(["example.com/cleanup"]);
    let module = load(Cluster::from_objects(objects.into_iter().chain(nodes(3))));
    let new = change.apply(&old);
    let verdict = update(&module, &old, &new, &settings);
    assert_eq!(verdict.outcome(), expected, "{:?}", verdict.message);
    if expected == Outcome::Accepted {
        assert!(
            warned_about(&verdict, "[controlPlaneReplicas]")
                && warned_about(&verdict, "already broke this rule before this UPDATE"),
            "{:?}",
            verdict.warnings()
        );
        // CREATE of the same object is still refused.
        assert_eq!(
            create(&module, &new, &settings).outcome(),
            Outcome::Rejected
        );
    }
}

// 3. Linkerd's injection decision, in its real scope.

#[rstest]
#[case::cert_manager("cert-manager")]
#[case::kube_system("kube-system")]
#[case::opted_out_by_label("opted-out")]
fn pods_outside_the_injectors_scope_are_not_meshed(#[case] namespace: &str) {
    let module = load(app_cluster());
    let mut deployment = meshed_deployment();
    deployment["metadata"]["namespace"] = json!(namespace);
    deployment["spec"]["template"]["metadata"]["annotations"] = json!({});
    let verdict = create(
        &module,
        &deployment,
        &json!({"rules": {"systemNamespaces": "off"}}),
    );
    assert_outcome(&verdict, Outcome::Accepted);
    assert_eq!(
        verdict.mutated_object,
        None,
        "{:?}",
        verdict.patch(&deployment)
    );
}

#[rstest]
#[case::invalid_namespace_value_wins_over_pod_enabled("broken", json!({"linkerd.io/inject": "enabled"}))]
#[case::invalid_pod_value_wins_over_namespace_enabled("meshed", json!({"linkerd.io/inject": "Enabled"}))]
fn invalid_values_turn_injection_off(#[case] namespace: &str, #[case] annotations: Value) {
    let mut cluster = app_cluster();
    cluster.insert(namespace_with_invalid_value());
    let module = load(cluster);
    let mut deployment = meshed_deployment();
    deployment["metadata"]["namespace"] = json!(namespace);
    deployment["spec"]["template"]["metadata"]["annotations"] = annotations;
    // Not meshed, so nothing to add for the autoscaler.
    let settings = json!({"rules": {"injectionAnnotation": "warn"}});
    let verdict = create(&module, &deployment, &settings);
    assert_eq!(
        verdict.mutated_object,
        None,
        "{:?}",
        verdict.patch(&deployment)
    );
}

fn namespace_with_invalid_value() -> Value {
    namespace("broken", json!({"linkerd.io/inject": "true"}), json!({}))
}

#[test]
fn an_empty_inject_value_is_no_annotation_and_no_violation() {
    let module = load(app_cluster());
    let mut deployment = meshed_deployment();
    deployment["metadata"]["namespace"] = json!("meshed");
    deployment["spec"]["template"]["metadata"]["annotations"] = json!({"linkerd.io/inject": ""});
    let verdict = create(&module, &deployment, &json!({}));
    // Meshed through its namespace, so it gets safe-to-evict; not rejected.
    assert_outcome(&verdict, Outcome::Mutated);
}

// 4. Bare pods.

#[rstest]
#[case::nothing_listed(json!({"linkerd.io/inject": "enabled"}), "linkerd-identity-end-entity")]
#[case::merged(json!({"linkerd.io/inject": "enabled", LOCAL_VOLUMES: "scratch"}), "scratch,linkerd-identity-end-entity")]
fn a_bare_meshed_pod_releases_only_its_identity_volume(
    #[case] annotations: Value,
    #[case] expected: &str,
) {
    let module = load(app_cluster());
    let pod = bare_pod("app", annotations.clone(), json!([{"name": "debug"}]));
    for settings in [
        json!({}),
        json!({"safeToEvict": {"annotation": "safe-to-evict"}}),
    ] {
        let verdict = create(&module, &pod, &settings);
        let mutated = verdict.mutated_object.clone().expect("a mutation");
        assert_eq!(mutated["metadata"]["annotations"][LOCAL_VOLUMES], expected);
        assert!(mutated["metadata"]["annotations"]
            .get(SAFE_TO_EVICT)
            .is_none());
        assert_idempotent(&module, &verdict, &settings);
    }
}

// 5. Linkerd's own install, as the HA page applies it.

/// The built module as the simulation's admission controller: lookups are
/// answered from the module's cluster, which the simulation keeps current.
struct Policy {
    module: PolicyModule,
    settings: Value,
}

impl Admission for Policy {
    fn cluster_mut(&mut self) -> &mut Cluster {
        self.module.cluster_mut()
    }

    fn admit(&mut self, request: &Value) -> Admitted {
        let verdict = self
            .module
            .validate(request, &self.settings)
            .unwrap_or_else(|e| panic!("the guest failed: {e}"));
        Admitted {
            accepted: verdict.accepted,
            mutated: verdict.mutated_object,
            message: verdict.message,
        }
    }
}

/// `kubectl apply -f -` of `objects` onto a cluster holding `existing`.
fn apply(objects: &[Value], existing: Vec<Value>, settings: &Value) -> Vec<String> {
    let mut policy = Policy {
        module: load(Cluster::from_objects(existing)),
        settings: settings.clone(),
    };
    apply_in_order(&mut policy, objects)
        .into_iter()
        .map(|refusal| {
            format!(
                "{} {}: {:?}",
                refusal.operation, refusal.object, refusal.message
            )
        })
        .collect()
}

#[rstest]
#[case::cli_ha_install("install_ha_output.golden")]
#[case::ha_with_overrides("install_ha_with_overrides_output.golden")]
fn linkerd_ha_install_is_admitted_in_stream_order(#[case] fixture: &str) {
    let objects = linkerd_fixture(fixture);
    for existing in [nodes(3), Vec::new()] {
        let refused = apply(&objects, existing, &json!({}));
        assert!(refused.is_empty(), "{fixture}: {refused:#?}");
    }
}

#[test]
fn linkerd_upgrade_ha_is_admitted_over_a_default_install() {
    let default = linkerd_fixture("install_default.golden");
    let ha = linkerd_fixture("install_ha_output.golden");
    let existing = default.into_iter().chain(nodes(3)).collect();
    let refused = apply(&ha, existing, &json!({}));
    assert!(refused.is_empty(), "{refused:#?}");
}
