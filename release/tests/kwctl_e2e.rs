//! The Kubewarden e2e convention (`e2e.bats` in Kubewarden's own policies),
//! on kwctl 1.35 and the annotated module: every rule accepting and
//! rejecting, the JSON patches kwctl computes, warnings, settings errors,
//! context-aware lookups replayed from test_data/kubewarden/replay/, and
//! the metadata kwctl reads, annotates and scaffolds from.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use common::engine::{
    binaries, fixture_path, object, policy_yaml_settings, review, Answer, Expect,
};
use common::{annotated_module, module_path, project, run_bounded};
use policy_release::annotate::embedded_metadata;
use policy_release::engine::KUBEWARDEN_VERSION;
use rstest::rstest;
use serde_json::{json, Value};

const LIMIT: Duration = Duration::from_secs(180);

fn scratch() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("kwctl-e2e");
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

/// The annotated module, written once per test binary.
fn module() -> &'static Path {
    static WRITTEN: OnceLock<PathBuf> = OnceLock::new();
    WRITTEN.get_or_init(|| {
        let path = scratch().join("linkerd-ha-policy.wasm");
        std::fs::write(&path, annotated_module()).expect("write the annotated module");
        path
    })
}

fn kwctl() -> Command {
    let mut command = Command::new(&binaries().kwctl);
    command.current_dir(scratch()).env("NO_COLOR", "1");
    command
}

/// Which settings a case runs with.
#[derive(Debug, Clone, Copy)]
enum With {
    /// None given: the module's defaults.
    Defaults,
    /// policy.yaml's linkerd-ha-mutating instance.
    Mutating,
    /// policy.yaml's linkerd-ha-validating instance.
    Validating,
    Json(&'static str),
}

impl With {
    fn settings(self) -> Option<Value> {
        match self {
            With::Defaults => None,
            With::Mutating => Some(policy_yaml_settings("linkerd-ha-mutating")),
            With::Validating => Some(policy_yaml_settings("linkerd-ha-validating")),
            With::Json(text) => Some(serde_json::from_str(text).expect("settings JSON")),
        }
    }
}

/// `kwctl run` on `object`; returns the answer, or kwctl's stderr when it
/// refused to run.
fn kwctl_run(object: &Value, with: With, replay: Option<&str>) -> Result<Answer, String> {
    kwctl_review(&review(object, "CREATE"), with.settings(), replay)
}

/// `kwctl run` on an AdmissionReview, with `settings` and the lookups
/// replayed from `replay`; the answer, or kwctl's stderr when it refused.
fn kwctl_review(
    review: &Value,
    settings: Option<Value>,
    replay: Option<&str>,
) -> Result<Answer, String> {
    let request = tempfile::NamedTempFile::new_in(scratch()).expect("request file");
    std::fs::write(request.path(), review.to_string()).expect("write request");
    let mut command = kwctl();
    command.arg("run").arg("--request-path").arg(request.path());
    if let Some(settings) = settings {
        command.arg("--settings-json").arg(settings.to_string());
    }
    if let Some(session) = replay {
        command
            .arg("--allow-context-aware")
            .arg("--replay-host-capabilities-interactions")
            .arg(fixture_path(&format!("replay/{session}.yml")));
    }
    command.arg(module());
    let (ok, stdout, stderr) = run_bounded(&mut command, LIMIT);
    if !ok {
        return Err(stderr);
    }
    let line = stdout
        .lines()
        .rev()
        .find(|line| line.trim_start().starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON answer from kwctl run:\n{stdout}\n{stderr}"));
    let response: Value = serde_json::from_str(line).expect("kwctl prints the response as JSON");
    Ok(Answer::from_response(&response))
}

fn run_case(name: &str, with: With, replay: Option<&str>) -> (Value, Answer) {
    let object = object(name);
    let answer = kwctl_run(&object, with, replay)
        .unwrap_or_else(|stderr| panic!("kwctl run {name} failed:\n{stderr}"));
    (object, answer)
}

/// Every rule, with the lookups it makes answered from a session file
/// (`None`: decided from the object alone, no lookup is made).
#[rstest]
#[case::inject_true_rejected("pod-inject-true", None, With::Defaults, Expect::Rejected(&["injectionAnnotation", "linkerd.io/inject", "Pod shop/web"]))]
#[case::inject_disabled_accepted("pod-inject-disabled", None, With::Defaults, Expect::Accepted)]
#[case::system_namespace_labelled_accepted(
    "namespace-kube-system-labelled",
    None,
    With::Defaults,
    Expect::Accepted
)]
#[case::system_namespace_injected_rejected("namespace-kube-system-injected", None, With::Defaults, Expect::Rejected(&["systemNamespaces", "kube-system"]))]
#[case::evictable_accepted(
    "deployment-meshed-evictable",
    Some("namespace-shop"),
    With::Defaults,
    Expect::Accepted
)]
#[case::not_evictable_warned("deployment-meshed-not-evictable", Some("namespace-shop"), With::Defaults, Expect::Warned(&["safe-to-evict"]))]
#[case::one_replica_rejected("destination-one-replica", None, With::Defaults, Expect::Rejected(&["controlPlaneReplicas", "linkerd/linkerd-destination", "replicas"]))]
#[case::no_anti_affinity_rejected("destination-no-anti-affinity", None, With::Defaults, Expect::Rejected(&["controlPlaneAntiAffinity", "kubernetes.io/hostname"]))]
#[case::no_requests_rejected("destination-no-requests", None, With::Defaults, Expect::Rejected(&["controlPlaneResources", "destination"]))]
#[case::webhook_fail_accepted(
    "webhook-fail",
    Some("namespace-linkerd"),
    With::Defaults,
    Expect::Accepted
)]
#[case::webhook_ignore_rejected("webhook-ignore", None, With::Defaults, Expect::Rejected(&["injectorWebhook", "failurePolicy"]))]
#[case::budget_allowing_accepted("pdb-allowing", None, With::Defaults, Expect::Accepted)]
#[case::budget_blocking_rejected("pdb-blocking", None, With::Defaults, Expect::Rejected(&["disruptionBudgets", "linkerd/linkerd-destination"]))]
#[case::prometheus_bounded_accepted(
    "prometheus-bounded",
    None,
    With::Json(r#"{"prometheus":{"require":"both"}}"#),
    Expect::Accepted
)]
#[case::prometheus_unbounded_size_warned("prometheus-time-only", None, With::Json(r#"{"prometheus":{"require":"both"}}"#), Expect::Warned(&["prometheusRetention"]))]
#[case::proxy_missing_rejected("pod-meshed-without-proxy", Some("namespace-shop"), With::Validating, Expect::Rejected(&["proxyPresent", "linkerd-proxy"]))]
#[case::proxy_with_requests_accepted(
    "pod-meshed-proxy-with-requests",
    None,
    With::Validating,
    Expect::Accepted
)]
#[case::proxy_without_requests_warned("pod-meshed-proxy-without-requests", None, With::Validating, Expect::Warned(&["proxyResources"]))]
fn rules_on_kwctl(
    #[case] name: &str,
    #[case] session: Option<&str>,
    #[case] with: With,
    #[case] expect: Expect,
) {
    let (_, answer) = run_case(name, with, session);
    expect.check(&answer, name);
}

/// The mutations, as the JSON patch kwctl computes from the module's
/// answer; applying it gives an object the policy passes unchanged.
#[rstest]
#[case::system_namespace_label("namespace-kube-system", With::Defaults, json!([
    {"op": "add", "path": "/metadata/labels", "value": {"config.linkerd.io/admission-webhooks": "disabled"}}
]), "systemNamespaces")]
#[case::safe_to_evict("deployment-meshed", With::Defaults, json!([
    {"op": "add", "path": "/spec/template/metadata/annotations/cluster-autoscaler.kubernetes.io~1safe-to-evict", "value": "true"}
]), "safeToEvict")]
#[case::safe_to_evict_as_deployed("deployment-meshed", With::Mutating, json!([
    {"op": "add", "path": "/spec/template/metadata/annotations/cluster-autoscaler.kubernetes.io~1safe-to-evict", "value": "true"}
]), "safeToEvict")]
fn mutations_on_kwctl(
    #[case] name: &str,
    #[case] with: With,
    #[case] ops: Value,
    #[case] rule: &str,
) {
    // The namespace's labels and annotation can turn even a pod's `enabled`
    // off, so a meshed workload's namespace is always read.
    let session = (name != "namespace-kube-system").then_some("namespace-shop");
    let (object, answer) = run_case(name, with, session);
    Expect::Patched(ops).check(&answer, name);
    // The rule behind the change, as Kubewarden's engine passes it on to
    // the API server (its audit log records it under the webhook's name).
    let annotations = &answer.raw["auditAnnotations"];
    assert_eq!(annotations["mutated-by"], rule, "{}", answer.raw);
    assert!(
        annotations[rule]
            .as_str()
            .is_some_and(|said| said.starts_with(&format!("[{rule}] "))),
        "{}",
        answer.raw
    );
    let fixed = answer.patched(&object);
    let again = kwctl_run(&fixed, with, session).expect("kwctl run on the patched object");
    Expect::Accepted.check(&again, &format!("{name}, patched"));
}

/// `kwctl run` on a Node UPDATE, with policy.yaml's Node instance.
fn kwctl_node_update(before: &Value, after: &Value, replay: Option<&str>) -> Answer {
    let review = json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": policy_harness::AdmissionRequestBuilder::new(after, "UPDATE")
            .old_object(before)
            .build(),
    });
    kwctl_review(
        &review,
        Some(policy_yaml_settings("linkerd-ha-nodes")),
        replay,
    )
    .unwrap_or_else(|stderr| panic!("kwctl run failed:\n{stderr}"))
}

fn node(spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-c"}, "spec": spec})
}

/// A cordon of one of three nodes, the control plane's Deployments, the
/// StatefulSets and the Nodes replayed: admitted, with the warning.
#[test]
fn a_cordon_on_kwctl_is_admitted_with_a_warning() {
    let answer = kwctl_node_update(
        &node(json!({})),
        &node(json!({"unschedulable": true})),
        Some("node-cordon-three-nodes"),
    );
    Expect::Warned(&[
        "[nodeChanges] Node node-c: cordoning the node leaves fewer schedulable nodes than replicas",
        "Deployment linkerd/linkerd-destination (3 replicas): 3 schedulable nodes before, 2 after",
        "kubectl uncordon node-c",
    ])
    .check(&answer, "cordon");
}

/// A write that takes no room (a label) makes no lookup: kwctl runs it
/// without a replay session, and a lookup would fail the run.
#[test]
fn a_label_on_a_node_on_kwctl_asks_nothing() {
    let mut labelled = node(json!({}));
    labelled["metadata"]["labels"] = json!({"team": "platform"});
    let answer = kwctl_node_update(&node(json!({})), &labelled, None);
    Expect::Accepted.check(&answer, "label");
}

/// Under `mutate` the missing anti-affinity is added, and what is added
/// satisfies the rule under `enforce`.
#[test]
fn anti_affinity_is_added_under_mutate() {
    let name = "destination-no-anti-affinity";
    let with = With::Json(
        r#"{"rules":{"controlPlaneAntiAffinity":"mutate","disruptionBudgets":"off","nodeCapacity":"off","safeToEvict":"off"}}"#,
    );
    let (object, answer) = run_case(name, with, None);
    assert!(answer.allowed, "{}", answer.raw);
    let ops = answer.patch.clone().expect("a patch");
    assert!(
        // The anti-affinity terms, and a rolling update that can progress
        // under them (`maxUnavailable: 1`, as values-ha.yaml sets).
        ops.as_array().is_some_and(|ops| !ops.is_empty()
            && ops.iter().all(|op| op["path"].as_str().is_some_and(|p| {
                p.starts_with("/spec/template/spec/affinity") || p.starts_with("/spec/strategy")
            }))),
        "{ops}"
    );
    let fixed = answer.patched(&object);
    let enforce = With::Json(
        r#"{"rules":{"disruptionBudgets":"off","nodeCapacity":"off","safeToEvict":"off"}}"#,
    );
    let again = kwctl_run(&fixed, enforce, None).expect("kwctl run on the patched object");
    Expect::Accepted.check(&again, "patched destination under enforce");
}

/// Lookups answered from committed session files, through the module's own
/// contextAwareResources.
#[rstest]
#[case::namespace_decides_injection("pod-unannotated", "namespace-injected", Expect::Patched(json!([
    {"op": "add", "path": "/metadata/annotations", "value": {"cluster-autoscaler.kubernetes.io/safe-to-evict-local-volumes": "linkerd-identity-end-entity"}}
])))]
#[case::failed_lookup_is_a_warning("pod-unannotated", "namespace-forbidden", Expect::Warned(&["namespace", "is forbidden"]))]
#[case::budget_and_nodes_found("destination-ha", "control-plane-three-nodes", Expect::Accepted)]
#[case::too_few_nodes_warned("destination-ha", "control-plane-two-nodes", Expect::Warned(&["nodeCapacity", "node"]))]
fn context_aware_on_kwctl(#[case] name: &str, #[case] session: &str, #[case] expect: Expect) {
    let (_, answer) = run_case(name, With::Defaults, Some(session));
    assert!(
        !answer.raw.to_string().contains("Replay error"),
        "{name}: the session {session} does not match the policy's calls: {}",
        answer.raw
    );
    expect.check(&answer, name);
}

/// A host error is quoted by its first line, without its final full stop:
/// no stack trace and no ".." reaches `kubectl`.
#[test]
fn a_failed_lookup_quotes_only_the_first_line() {
    let (_, answer) = run_case(
        "pod-unannotated",
        With::Defaults,
        Some("namespace-forbidden"),
    );
    let warning = answer
        .warnings
        .iter()
        .find(|w| w.contains("is forbidden"))
        .unwrap_or_else(|| panic!("no lookup warning: {}", answer.raw));
    assert!(!warning.contains("backtrace"), "{warning}");
    assert!(!warning.contains(".."), "{warning}");
    assert!(!warning.contains('\n'), "{warning}");
    assert!(warning.contains("at the cluster scope"), "{warning}");
    assert!(warning.chars().count() < 600, "{warning}");
}

/// validate_settings errors name the field; kwctl refuses to run.
#[rstest]
#[case::replicas_zero(r#"{"controlPlane":{"replicas":0}}"#, "controlPlane.replicas")]
#[case::mutate_not_possible(r#"{"rules":{"injectorWebhook":"mutate"}}"#, "rules.injectorWebhook")]
#[case::unknown_action(r#"{"rules":{"safeToEvict":"fix"}}"#, "rules.safeToEvict")]
#[case::unknown_field(r#"{"controlPlane":{"replica":3}}"#, "replica")]
#[case::bad_quantity(
    r#"{"proxyResources":{"cpuRequest":"lots"}}"#,
    "proxyResources.cpuRequest"
)]
fn settings_errors_on_kwctl(#[case] settings: &'static str, #[case] field: &str) {
    let error = kwctl_run(&object("pod-inject-disabled"), With::Json(settings), None)
        .map(|answer| answer.raw.to_string())
        .expect_err("kwctl must refuse invalid settings");
    assert!(
        error.contains(field),
        "{settings}: no {field:?} in:\n{error}"
    );
}

#[test]
fn kwctl_inspect_shows_the_metadata() {
    let (ok, stdout, stderr) = run_bounded(kwctl().arg("inspect").arg(module()), LIMIT);
    assert!(ok, "{stderr}");
    let version = project().version;
    for expected in [
        "linkerd-ha-policy",
        version.as_str(),
        "PodDisruptionBudget",
        "Namespace",
        "Node",
        "mutatingwebhookconfigurations",
        "Linkerd HA",
        KUBEWARDEN_VERSION,
    ] {
        assert!(stdout.contains(expected), "no {expected:?} in:\n{stdout}");
    }
}

/// `kwctl annotate` on the built module with metadata.yml warns about
/// nothing (1.35 warns when hostCapabilities and the host calls it finds in
/// the module disagree), and embeds what `policy-release annotate` does.
#[test]
fn kwctl_annotate_agrees_with_policy_release() {
    let project = project();
    let out = scratch().join("kwctl-annotated.wasm");
    let usage = scratch().join("usage.md");
    std::fs::write(&usage, project.usage().expect("the usage")).expect("usage written");
    let (ok, stdout, stderr) = run_bounded(
        kwctl()
            .arg("annotate")
            .arg("--metadata-path")
            .arg(project.metadata_path())
            .arg("--usage-path")
            .arg(&usage)
            .arg("--output-path")
            .arg(&out)
            .arg(module_path()),
        LIMIT,
    );
    assert!(ok, "{stdout}\n{stderr}");
    let output = format!("{stdout}\n{stderr}");
    // kwctl's two mismatch warnings (kwctl/src/annotate.rs).
    for mismatch in [
        "used by the policy but not declared in metadata",
        "declared in metadata but not detected in the policy",
    ] {
        assert!(
            !output.contains(mismatch),
            "kwctl annotate: host capabilities {mismatch}:\n{output}"
        );
    }
    // The control: without the declaration, kwctl finds the calls and warns.
    let undeclared = scratch().join("metadata-without-host-capabilities.yml");
    let text = std::fs::read_to_string(project.metadata_path()).expect("metadata.yml");
    let mut yaml: Value = serde_yaml_ng::from_str(&text).expect("metadata.yml");
    if let Some(map) = yaml.as_object_mut() {
        map.remove("hostCapabilities");
    }
    std::fs::write(&undeclared, serde_yaml_ng::to_string(&yaml).expect("YAML")).expect("write");
    let (ok, stdout, stderr) = run_bounded(
        kwctl()
            .arg("annotate")
            .arg("--metadata-path")
            .arg(&undeclared)
            .arg("--output-path")
            .arg(scratch().join("undeclared.wasm"))
            .arg(module_path()),
        LIMIT,
    );
    assert!(ok, "{stderr}");
    let output = format!("{stdout}\n{stderr}");
    assert!(
        output.contains("used by the policy but not declared in metadata")
            && output.contains("kubernetes/get_resource"),
        "kwctl annotate did not notice undeclared host calls:\n{output}"
    );

    let by_kwctl = embedded_metadata(&std::fs::read(&out).expect("kwctl's module"), "kwctl's")
        .expect("kwctl's metadata");
    let ours = embedded_metadata(annotated_module(), "ours").expect("our metadata");
    // kwctl adds its own version; everything else must be the same.
    let mut without_kwctl = by_kwctl.clone();
    if let Some(annotations) = without_kwctl.annotations.as_mut() {
        annotations.remove("io.kubewarden.kwctl");
    }
    assert!(
        without_kwctl == ours,
        "kwctl annotate and policy-release annotate embed different metadata"
    );
    assert_eq!(
        by_kwctl.annotation("io.kubewarden.kwctl"),
        Some(KUBEWARDEN_VERSION)
    );
    assert_eq!(
        ours.host_capabilities(),
        BTreeSet::from(
            [
                "kubernetes/get_resource",
                "kubernetes/list_resources_all",
                "kubernetes/list_resources_by_namespace",
            ]
            .map(String::from)
        )
    );
}

/// Drops what legitimately differs, and reads the YAML held in annotations.
fn comparable(mut package: Value) -> Value {
    if let Some(map) = package.as_object_mut() {
        map.remove("createdAt");
        map.remove("install");
    }
    if let Some(annotations) = package["annotations"].as_object_mut() {
        for (_, value) in annotations.iter_mut() {
            if let Some(text) = value.as_str() {
                if let Ok(parsed @ (Value::Array(_) | Value::Object(_))) =
                    serde_yaml_ng::from_str::<Value>(text)
                {
                    *value = parsed;
                }
            }
        }
    }
    package
}

/// `kwctl scaffold artifacthub` on the annotated module's metadata and
/// questions-ui.yml gives the committed package (but for its release time,
/// and an install text the committed one extends).
#[test]
fn kwctl_scaffold_artifacthub_matches_the_committed_package() {
    let project = project();
    let metadata_json = scratch().join("embedded-metadata.json");
    let metadata = embedded_metadata(annotated_module(), "annotated module").expect("metadata");
    std::fs::write(&metadata_json, metadata.to_json().expect("JSON")).expect("write");
    let (ok, stdout, stderr) = run_bounded(
        kwctl()
            .args(["scaffold", "artifacthub", "--metadata-path"])
            .arg(&metadata_json)
            .arg("--questions-path")
            .arg(project.root.join("questions-ui.yml")),
        LIMIT,
    );
    assert!(ok, "{stderr}");
    let by_kwctl: Value = serde_yaml_ng::from_str(&stdout).expect("kwctl's package");
    let committed: Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(project.artifacthub_path()).expect("artifacthub-pkg.yml"),
    )
    .expect("committed package");
    let kwctl_install = by_kwctl["install"].as_str().expect("install");
    let committed_install = committed["install"].as_str().expect("install");
    assert!(
        committed_install.contains(kwctl_install.trim()),
        "the committed install text lacks kwctl's:\n{kwctl_install}"
    );
    assert_eq!(comparable(committed), comparable(by_kwctl));
}

/// `kwctl scaffold manifest` gives the ClusterAdmissionPolicy that
/// policy.yaml's mutating instance is, but for the module's location.
#[test]
fn kwctl_scaffold_manifest_matches_policy_yaml() {
    let settings = policy_yaml_settings("linkerd-ha-mutating");
    let (ok, stdout, stderr) = run_bounded(
        kwctl()
            .args(["scaffold", "manifest", "--type", "ClusterAdmissionPolicy"])
            .args(["--title", "linkerd-ha-mutating", "--allow-context-aware"])
            .arg("--settings-json")
            .arg(settings.to_string())
            .arg(module()),
        LIMIT,
    );
    assert!(ok, "{stderr}");
    let scaffolded: Value = serde_yaml_ng::from_str(&stdout).expect("kwctl's manifest");
    let policies = policy_release::engine::policy_yaml_policies(&project()).expect("policy.yaml");
    let ours = policies
        .iter()
        .find(|p| p["metadata"]["name"] == "linkerd-ha-mutating")
        .expect("the mutating instance");
    assert_eq!(scaffolded["kind"], "ClusterAdmissionPolicy");
    assert_eq!(scaffolded["metadata"]["name"], "linkerd-ha-mutating");
    // kwctl leaves out backgroundAudit when it is the default, true.
    assert_eq!(ours["spec"]["backgroundAudit"], true);
    assert!(scaffolded["spec"]["backgroundAudit"]
        .as_bool()
        .unwrap_or(true));
    for field in ["mutating", "settings"] {
        assert_eq!(
            ours["spec"][field], scaffolded["spec"][field],
            "spec.{field} differs from kwctl scaffold manifest"
        );
    }
    // kwctl scaffolds one policy for everything metadata.yml declares;
    // policy.yaml gives Nodes their own fail-open instance, and together
    // the two cover it, rule for rule and lookup for lookup.
    let nodes = policies
        .iter()
        .find(|p| p["metadata"]["name"] == "linkerd-ha-nodes")
        .expect("the Node instance");
    let rules: Vec<Value> = [ours, nodes]
        .iter()
        .flat_map(|policy| {
            policy["spec"]["rules"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(
        Value::Array(rules),
        scaffolded["spec"]["rules"],
        "spec.rules of the mutating and the Node instance differ from kwctl scaffold manifest"
    );
    let lookups = |policy: &Value| -> std::collections::BTreeSet<String> {
        policy["spec"]["contextAwareResources"]
            .as_array()
            .into_iter()
            .flatten()
            .map(Value::to_string)
            .collect()
    };
    let mut ours_lookups = lookups(ours);
    ours_lookups.extend(lookups(nodes));
    assert_eq!(
        ours_lookups,
        lookups(&scaffolded),
        "contextAwareResources of the mutating and the Node instance differ from kwctl scaffold manifest"
    );
}
