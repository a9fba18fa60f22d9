//! The policy as a cluster runs it: the annotated module pushed with
//! `policy-release push` to a registry on loopback, loaded by policy-server
//! 1.35 (with RUST_BACKTRACE=1, as a user may run it) from a policies.yml
//! holding both ClusterAdmissionPolicies of policy.yaml, and sent
//! AdmissionReviews over HTTP as the API server and the audit scanner send
//! them. There is no cluster: every lookup fails, which the policy must
//! survive with a warning.

mod common;

use std::time::Duration;

use common::engine::{binaries, object, review, Answer, Expect};
use common::{annotated_module, project, registry_binary, release_binary, run_bounded};
use policy_release::annotate::embedded_metadata;
use policy_release::engine::{
    cluster_policy_id, policies_file, policy_yaml_policies, PolicyServer, PolicyServerConfig,
    Registry,
};
use serde_json::{json, Value};

const MUTATING: &str = "clusterwide-linkerd-ha-mutating";
const VALIDATING: &str = "clusterwide-linkerd-ha-validating";
const NODES: &str = "clusterwide-linkerd-ha-nodes";

/// A registry holding the pushed module and a policy-server serving it;
/// both stop when dropped.
struct Deployment {
    server: PolicyServer,
    _registry: Registry,
    client: reqwest::Client,
    runtime: tokio::runtime::Runtime,
}

fn deploy() -> Deployment {
    registry_binary();
    let project = project();
    let registry = Registry::start().unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().expect("temp dir");
    let module = dir.path().join("linkerd-ha-policy.wasm");
    std::fs::write(&module, annotated_module()).expect("write the annotated module");
    let (ok, stdout, stderr) = run_bounded(
        release_binary()
            .arg("push")
            .args(["--registry", &registry.address, "--insecure"])
            .arg("--module")
            .arg(&module),
        Duration::from_secs(120),
    );
    assert!(ok, "policy-release push failed:\n{stdout}\n{stderr}");
    let reference = format!(
        "registry://{}/{}:{}",
        registry.address,
        project.repository(),
        project.tag()
    );
    assert!(
        stdout.contains(reference.trim_start_matches("registry://")),
        "{stdout}"
    );
    let metadata = embedded_metadata(annotated_module(), "annotated module").expect("metadata");
    let policies = policies_file(&project, &reference, &metadata).expect("policies.yml");
    assert_eq!(
        policies.as_object().map(|map| map.len()),
        Some(3),
        "{policies}"
    );
    let server = PolicyServer::start(PolicyServerConfig {
        binary: binaries().policy_server.clone(),
        policies,
        insecure_sources: vec![registry.address.clone()],
        env: vec![("RUST_BACKTRACE".into(), "1".into())],
        workers: Some(2),
    })
    .unwrap_or_else(|e| panic!("{e}"));
    Deployment {
        server,
        _registry: registry,
        client: {
            policy_release::oci::install_crypto_provider();
            reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("HTTP client")
        },
        runtime: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime"),
    }
}

impl Deployment {
    /// POSTs `body` to `path`; returns the HTTP status and the JSON answer.
    fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let url = format!("{}{path}", self.server.base_url());
        self.runtime.block_on(async {
            let response = self
                .client
                .post(&url)
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await
                .unwrap_or_else(|e| panic!("POST {url}: {e}\n{}", self.server.log()));
            let status = response.status().as_u16();
            let bytes = response.bytes().await.expect("the body");
            let answer = serde_json::from_slice(&bytes).unwrap_or_else(
                |_| json!({"unparsed": String::from_utf8_lossy(&bytes).to_string()}),
            );
            (status, answer)
        })
    }

    /// An AdmissionReview for `name` to `/validate/<policy>`, as the API
    /// server sends it; checks the envelope and returns the response.
    fn validate(&self, policy: &str, name: &str) -> (Value, Answer) {
        let object = object(name);
        let (status, answer) =
            self.post(&format!("/validate/{policy}"), &review(&object, "CREATE"));
        assert_eq!(status, 200, "{name}: {answer}");
        check_envelope(&answer);
        (object, Answer::from_response(&answer["response"]))
    }
}

fn check_envelope(answer: &Value) {
    assert_eq!(answer["apiVersion"], "admission.k8s.io/v1", "{answer}");
    assert_eq!(answer["kind"], "AdmissionReview", "{answer}");
    assert_eq!(
        answer["response"]["uid"],
        review(&json!({}), "CREATE")["request"]["uid"],
        "the response names the request"
    );
}

#[test]
fn policies_yml_holds_every_instance_of_policy_yaml() {
    let names: Vec<String> = policy_yaml_policies(&project())
        .expect("policy.yaml")
        .iter()
        .map(cluster_policy_id)
        .collect();
    assert_eq!(names, [MUTATING, VALIDATING, NODES]);
}

/// policy-server passes on the rules behind a mutation (auditAnnotations,
/// which the API server records in its audit log), and answers a cordon on
/// the Node instance with a warning, never a refusal, even when every
/// lookup fails (no cluster here).
#[test]
fn policy_server_passes_on_the_rules_and_never_refuses_a_cordon() {
    let deployment = deploy();
    let (_, answer) = deployment.validate(MUTATING, "namespace-kube-system");
    assert_eq!(
        answer.raw["auditAnnotations"]["mutated-by"], "systemNamespaces",
        "{}",
        answer.raw
    );

    let node = |spec: Value| json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-c"}, "spec": spec});
    let (before, after) = (node(json!({})), node(json!({"unschedulable": true})));
    let request = policy_harness::AdmissionRequestBuilder::new(&after, "UPDATE")
        .old_object(&before)
        .build();
    let body =
        json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request});
    let (status, review) = deployment.post(&format!("/validate/{NODES}"), &body);
    assert_eq!(status, 200, "{review}");
    check_envelope(&review);
    let answer = Answer::from_response(&review["response"]);
    assert!(answer.allowed, "{}", answer.raw);
    assert_eq!(answer.patch, None, "{}", answer.raw);
    assert_eq!(answer.warnings.len(), 1, "{}", answer.raw);
    assert!(
        answer.warnings[0].starts_with("[nodeChanges] Node node-c: ")
            && answer.warnings[0]
                .contains("so the room cordoning the node leaves the control plane is unknown"),
        "{}",
        answer.warnings[0]
    );
}

#[test]
fn policy_server_answers_as_the_api_server_expects() {
    let deployment = deploy();
    let cases: Vec<(&str, &str, Expect)> = vec![
        (
            MUTATING,
            "pod-inject-true",
            Expect::Rejected(&["injectionAnnotation", "linkerd.io/inject"]),
        ),
        (MUTATING, "pod-inject-disabled", Expect::Accepted),
        (
            MUTATING,
            "destination-one-replica",
            Expect::Rejected(&["controlPlaneReplicas", "linkerd/linkerd-destination"]),
        ),
        (
            MUTATING,
            "webhook-ignore",
            Expect::Rejected(&["injectorWebhook", "failurePolicy"]),
        ),
        // Without a cluster nothing that depends on cluster state is decided:
        // whether the control-plane namespace opted out of the injector, or
        // whether a workload's namespace turns injection off. The policy
        // accepts, adds and rejects nothing for it, and says why.
        (
            MUTATING,
            "webhook-fail",
            Expect::Warned(&["injectorWebhook", "could not be read"]),
        ),
        (
            MUTATING,
            "pdb-blocking",
            Expect::Rejected(&["disruptionBudgets"]),
        ),
        (
            MUTATING,
            "namespace-kube-system",
            Expect::Patched(json!([
                {"op": "add", "path": "/metadata/labels", "value": {"config.linkerd.io/admission-webhooks": "disabled"}}
            ])),
        ),
        (
            MUTATING,
            "deployment-meshed",
            Expect::Warned(&["namespace \"shop\"", "judged as not meshed"]),
        ),
        (
            VALIDATING,
            "pod-meshed-without-proxy",
            Expect::Warned(&["namespace \"shop\"", "judged as not meshed"]),
        ),
        (
            VALIDATING,
            "pod-meshed-proxy-with-requests",
            Expect::Accepted,
        ),
        (
            VALIDATING,
            "pod-meshed-proxy-without-requests",
            Expect::Warned(&["proxyResources"]),
        ),
    ];
    for (policy, name, expect) in cases {
        let (_, answer) = deployment.validate(policy, name);
        expect.check(&answer, &format!("{policy} {name}"));
        if !answer.allowed {
            assert_eq!(answer.code, Some(400), "{name}: {}", answer.raw);
        }
    }
}

/// Without a cluster every lookup fails. The policy still answers, says so
/// in a warning, and quotes the host's error by its first line only, about
/// 200 characters at most, with no ".." (the server runs with
/// RUST_BACKTRACE=1, which appends a stack trace to its errors).
#[test]
fn failed_lookups_are_warnings_quoting_one_line() {
    let deployment = deploy();
    for (name, allowed) in [("pod-unannotated", true), ("destination-ha", true)] {
        let (_, answer) = deployment.validate(MUTATING, name);
        assert_eq!(answer.allowed, allowed, "{name}: {}", answer.raw);
        assert!(
            !answer.warnings.is_empty(),
            "{name}: no warning: {}",
            answer.raw
        );
        for warning in &answer.warnings {
            assert!(!warning.contains('\n'), "{name}: {warning}");
            assert!(!warning.contains(".."), "{name}: {warning}");
            assert!(
                !warning.to_lowercase().contains("backtrace"),
                "{name}: {warning}"
            );
            // The warning's own words, the object and the fix around the
            // quoted host error.
            assert!(warning.chars().count() <= 600, "{name}: {warning}");
        }
    }
    let (_, pod) = deployment.validate(MUTATING, "pod-unannotated");
    assert!(
        pod.warnings
            .iter()
            .any(|w| w.contains("namespace") && w.contains("shop")),
        "{}",
        pod.raw
    );
}

/// What Kubewarden's audit scanner records for an `/audit` answer, from its
/// source (kubewarden/audit-scanner, internal/scanner/scanner.go and
/// internal/report/report.go): `error` when the request failed or the
/// answer's status code is 500; otherwise `pass` when allowed and `fail`
/// when not. The result's message is the answer's status message; the
/// patch and the warnings are not recorded.
fn audit_scanner_result(http_status: u16, review: &Value) -> (&'static str, String) {
    let response = &review["response"];
    if http_status != 200 || response["status"]["code"] == 500 {
        return ("error", String::new());
    }
    let message = response["status"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if response["allowed"] == true {
        ("pass", message)
    } else {
        ("fail", message)
    }
}

/// The README's Audit section, on the real `/audit` endpoint.
#[test]
fn audit_reports_what_the_readme_says() {
    let deployment = deploy();
    let audit = |policy: &str, name: &str| {
        let object = object(name);
        let (status, answer) =
            deployment.post(&format!("/audit/{policy}"), &review(&object, "CREATE"));
        if status == 200 {
            check_envelope(&answer);
        }
        (audit_scanner_result(status, &answer), answer)
    };

    // A violation the policy rejects is a `fail` carrying the rejection.
    let ((result, message), answer) = audit(MUTATING, "destination-one-replica");
    assert_eq!(result, "fail", "{answer}");
    assert!(message.contains("controlPlaneReplicas"), "{answer}");
    let ((result, message), answer) = audit(MUTATING, "pod-inject-true");
    assert_eq!(result, "fail", "{answer}");
    assert!(message.contains("injectionAnnotation"), "{answer}");

    // What the mutating instance would fix is allowed with a patch: the
    // scanner records `pass`, and the patch is not applied or reported.
    let ((result, message), answer) = audit(MUTATING, "namespace-kube-system");
    assert_eq!(result, "pass", "{answer}");
    assert!(message.is_empty(), "{answer}");
    assert!(answer["response"]["patch"].is_string(), "{answer}");

    // Warnings are not recorded either.
    let ((result, _), answer) = audit(MUTATING, "deployment-meshed-not-evictable");
    assert_eq!(result, "pass", "{answer}");
    assert!(answer["response"]["warnings"].is_array(), "{answer}");

    // A compliant object passes.
    let ((result, _), answer) = audit(MUTATING, "deployment-meshed-evictable");
    assert_eq!(result, "pass", "{answer}");
}
