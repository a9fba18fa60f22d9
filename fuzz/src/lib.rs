//! What the fuzz targets share: a deterministic fake cluster, the
//! well-formed-response invariant, and the structure-aware request model.
//!
//! The checks panic on purpose: a panic is how libFuzzer learns an
//! invariant broke.

pub mod model;

use linkerd_ha_policy::admission::{validate, ClusterLookup, Response};
use linkerd_ha_policy::objects::{NamespaceObject, Node, PodDisruptionBudget};
use linkerd_ha_policy::workload::{Workload, WorkloadKind};
use serde_json::{json, Value};

use crate::model::Review;

/// The annotation an explicit `"false"` of which must never change.
const SAFE_TO_EVICT: &str = "cluster-autoscaler.kubernetes.io/safe-to-evict";

/// Keys whose existing value a rule owns and may rewrite: the local-volumes
/// list is merged into, the webhook label set to `disabled`.
const REWRITABLE: [&str; 2] = [
    "cluster-autoscaler.kubernetes.io/safe-to-evict-local-volumes",
    "config.linkerd.io/admission-webhooks",
];

/// Answers lookups from fixed data; `None` makes that lookup fail, as an
/// RBAC denial or a timeout would.
#[derive(Debug, Clone)]
pub struct FakeCluster {
    /// `linkerd.io/inject` of every namespace but `missing` and `failing`.
    pub namespace_inject: Option<String>,
    pub namespaces_fail: bool,
    pub budgets: Option<Vec<Value>>,
    pub nodes: Option<Vec<Value>>,
    /// The control plane's Deployments, listed for a Node change.
    pub deployments: Option<Vec<Value>>,
}

impl Default for FakeCluster {
    fn default() -> Self {
        Self {
            namespace_inject: Some("enabled".to_string()),
            namespaces_fail: false,
            budgets: Some(Vec::new()),
            nodes: Some(
                (0..3)
                    .map(|i| json!({"metadata": {"name": format!("node-{i}")}}))
                    .collect(),
            ),
            deployments: Some(vec![json!({
                "metadata": {"name": "linkerd-destination", "namespace": "linkerd"},
                "spec": {"replicas": 3, "template": {
                    "metadata": {"labels": {"linkerd.io/control-plane-component": "destination"}},
                    "spec": {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                        {"labelSelector": {"matchLabels": {"linkerd.io/control-plane-component": "destination"}},
                         "topologyKey": "kubernetes.io/hostname"}]}}}}}
            })]),
        }
    }
}

fn decode_all<T: serde::de::DeserializeOwned>(items: &[Value]) -> Result<Vec<T>, String> {
    items
        .iter()
        .map(|item| serde_json::from_value(item.clone()).map_err(|e| e.to_string()))
        .collect()
}

impl ClusterLookup for FakeCluster {
    fn namespace(&self, name: &str) -> Result<NamespaceObject, String> {
        if self.namespaces_fail || name == "failing" {
            return Err(format!("namespaces \"{name}\" is forbidden"));
        }
        if name == "missing" {
            return Err(format!("namespaces \"{name}\" not found"));
        }
        let annotations = self
            .namespace_inject
            .as_ref()
            .map_or_else(|| json!({}), |v| json!({"linkerd.io/inject": v}));
        serde_json::from_value(json!({"metadata": {"name": name, "annotations": annotations}}))
            .map_err(|e| e.to_string())
    }

    fn disruption_budgets(&self, _namespace: &str) -> Result<Vec<PodDisruptionBudget>, String> {
        decode_all(self.budgets.as_deref().ok_or("list timed out")?)
    }

    fn nodes(&self) -> Result<Vec<Node>, String> {
        decode_all(self.nodes.as_deref().ok_or("list timed out")?)
    }

    fn control_plane_workloads(&self, _namespace: &str) -> Result<Vec<Workload>, String> {
        let deployments = self.deployments.as_deref().ok_or("list timed out")?;
        let list = json!({"items": deployments}).to_string();
        Workload::decode_list(WorkloadKind::Deployment, &list).map_err(|e| e.0)
    }
}

/// The answer is one policy-server can use: it encodes and decodes back to
/// itself, a rejection says why with an HTTP code, an acceptance carries no
/// code, a mutation is an object and only comes with an acceptance.
pub fn assert_well_formed(response: &Response) {
    // The mutated object travels as raw JSON text: compare as values.
    let encoded = serde_json::to_string(response).expect("the response encodes");
    let decoded: Response = serde_json::from_str(&encoded).expect("the response decodes");
    assert_eq!(
        serde_json::to_value(&decoded).expect("the response encodes"),
        serde_json::to_value(response).expect("the response encodes"),
        "the response survives the wire"
    );
    if response.accepted {
        assert_eq!(
            response.code, None,
            "an acceptance with a code: {response:?}"
        );
    } else {
        let message = response.message.as_deref().unwrap_or_default();
        assert!(!message.trim().is_empty(), "a rejection without a message");
        assert!(
            matches!(response.code, Some(400 | 500)),
            "rejection code {:?}: {message}",
            response.code
        );
        assert!(
            response.mutated_object.is_none(),
            "a rejection that mutates"
        );
    }
    if let Some(mutated) = &response.mutated_object {
        let value: Value = serde_json::from_str(mutated.get()).expect("the mutated object is JSON");
        assert!(
            value.is_object(),
            "mutated object is not an object: {mutated}"
        );
    }
    if let Some(warnings) = &response.warnings {
        assert!(
            !warnings.is_empty(),
            "an empty warnings list is sent as none"
        );
        assert!(
            warnings.iter().all(|w| !w.trim().is_empty()),
            "an empty warning: {warnings:?}"
        );
    }
}

/// Runs one modelled request through `validate`, with its invariants:
/// a well-formed answer; a mutation that only adds (or rewrites a value its
/// rule owns), never touches an explicit safe-to-evict "false", and is
/// idempotent: the mutated object passes again with no further change.
pub fn check_review(review: &Review) {
    let cluster = review.cluster.fake();
    let mut payload = review.payload();
    let bytes = serde_json::to_vec(&payload).expect("the payload encodes");
    let response = validate(&bytes, &cluster);
    assert_well_formed(&response);
    if let crate::model::Kind::Node = review.kind {
        // Operators cordon and delete nodes in emergencies: a Node change is
        // never refused nor changed, whatever it holds, under any settings
        // validate_settings lets through.
        let settings = serde_json::to_vec(&payload["settings"]).expect("settings encode");
        if linkerd_ha_policy::settings::Settings::from_json(&settings)
            .is_ok_and(|settings| settings.check().is_ok())
            || payload["settings"].is_null()
        {
            assert!(
                response.accepted,
                "a Node change refused: {:?}",
                response.message
            );
            assert!(response.mutated_object.is_none(), "a Node changed");
        }
    }
    let Some(mutated) = response.mutated_object else {
        return;
    };
    let mutated: Value = serde_json::from_str(mutated.get()).expect("the mutated object is JSON");
    let original = &payload["request"]["object"];
    assert_only_additions(original, &mutated, &mut Vec::new());

    payload["request"]["object"] = mutated.clone();
    let bytes = serde_json::to_vec(&payload).expect("the payload encodes");
    let again = validate(&bytes, &cluster);
    assert_well_formed(&again);
    assert!(
        again.accepted,
        "the mutated object is rejected: {:?}\nmutated: {mutated}",
        again.message
    );
    assert!(
        again.mutated_object.is_none(),
        "the mutated object is mutated again\nmutated: {mutated}"
    );
}

/// Every value of `original` is still in `mutated`, unchanged, except a
/// `null` that an edit filled and the values of [`REWRITABLE`] keys; lists
/// only grow at their end. An explicit safe-to-evict "false" stays.
pub fn assert_only_additions(original: &Value, mutated: &Value, path: &mut Vec<String>) {
    match (original, mutated) {
        (Value::Object(before), Value::Object(after)) => {
            for (key, value) in before {
                let Some(now) = after.get(key) else {
                    panic!("/{}/{key} was removed", path.join("/"));
                };
                if key == SAFE_TO_EVICT && value == "false" {
                    assert_eq!(
                        now,
                        "false",
                        "/{}: an explicit \"false\" changed",
                        path.join("/")
                    );
                }
                if REWRITABLE.contains(&key.as_str()) && value.is_string() && now.is_string() {
                    continue;
                }
                path.push(key.clone());
                assert_only_additions(value, now, path);
                path.pop();
            }
        }
        (Value::Array(before), Value::Array(after)) => {
            assert!(
                after.len() >= before.len(),
                "/{}: a list shrank",
                path.join("/")
            );
            for (index, (value, now)) in before.iter().zip(after).enumerate() {
                path.push(index.to_string());
                assert_only_additions(value, now, path);
                path.pop();
            }
        }
        (Value::Null, _) => {}
        (before, after) => assert_eq!(before, after, "/{} changed", path.join("/")),
    }
}
