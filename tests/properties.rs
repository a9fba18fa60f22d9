//! Properties of the policy over generated objects: workloads of all eight
//! pod-creating kinds with random annotations (valid, invalid and absent
//! `linkerd.io/inject`, safe-to-evict `true`/`false`/absent/other, random
//! extra annotations, unknown fields) in namespaces with and without
//! injection, and Namespaces.
//!
//! 1. A mutation is idempotent: the mutated object passes with no patch.
//! 2. A mutation only adds what its rule owns: every other field is left as
//!    it was, an explicit safe-to-evict "false" is never changed.
//! 3. A workload gets the verdict of a Pod made from its pod template.
//! 4. A failed lookup never makes the policy reject for want of information,
//!    nor skip (or make) a mutation the object alone does not decide: every
//!    verdict under a failed lookup is one that every possible answer of the
//!    lookup would also give.
//!
//! Each runs natively through `admission::validate` (many cases, fast) and
//! on the built `.wasm` through the waPC harness (fewer cases).

mod common;

use std::collections::BTreeSet;

use common::*;
use linkerd_ha_policy::admission::{self, ClusterLookup};
use linkerd_ha_policy::objects::{NamespaceObject, Node, PodDisruptionBudget};

use linkerd_ha_policy::workload::WorkloadKind;
use policy_harness::{admission_request, Cluster, PolicyModule, Verdict};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use rstest::rstest;
use serde_json::{json, Map, Value};

/// Cases per property natively and on the module (each module call
/// instantiates it afresh, as policy-server does).
const NATIVE_CASES: u32 = 2048;
const WASM_CASES: u32 = 192;

const INJECT: &str = "linkerd.io/inject";
const SAFE_TO_EVICT: &str = "cluster-autoscaler.kubernetes.io/safe-to-evict";
const WEBHOOKS_LABEL: &str = "config.linkerd.io/admission-webhooks";

/// The namespaces of the cluster the policy looks up, by their injection.
fn namespaces() -> Vec<Value> {
    vec![
        namespace("plain", json!({}), json!({})),
        namespace("meshed", json!({INJECT: "enabled"}), json!({})),
        namespace("ingress-ns", json!({INJECT: "ingress"}), json!({})),
        namespace("optout", json!({INJECT: "disabled"}), json!({})),
        namespace("typo", json!({INJECT: "true"}), json!({})),
        namespace(
            "kube-system",
            json!({}),
            json!({WEBHOOKS_LABEL: "disabled"}),
        ),
    ]
}

// ---------------------------------------------------------------------------
// Evaluators: the same request natively or through the module.

trait Evaluator {
    fn validate(&self, object: &Value, operation: &str, settings: &Value) -> Verdict;
}

/// The namespaces above, as the native policy reads them; any other name is
/// not found, as in the harness's fake cluster.
struct NativeCluster(Vec<Value>);

impl ClusterLookup for NativeCluster {
    fn namespace(&self, name: &str) -> Result<NamespaceObject, String> {
        let found = self.0.iter().find(|ns| ns["metadata"]["name"] == name);
        let object = found.ok_or_else(|| format!("namespaces \"{name}\" not found"))?;
        serde_json::from_value(object.clone()).map_err(|e| e.to_string())
    }

    fn disruption_budgets(&self, _namespace: &str) -> Result<Vec<PodDisruptionBudget>, String> {
        Ok(Vec::new())
    }

    fn nodes(&self) -> Result<Vec<Node>, String> {
        Ok(Vec::new())
    }

    fn control_plane_workloads(
        &self,
        _namespace: &str,
    ) -> Result<Vec<linkerd_ha_policy::workload::Workload>, String> {
        Ok(Vec::new())
    }
}

/// The policy run natively through `admission::validate`, its lookups
/// answered by `L`.
struct NativeWith<L>(L);

impl<L: ClusterLookup> Evaluator for NativeWith<L> {
    fn validate(&self, object: &Value, operation: &str, settings: &Value) -> Verdict {
        let payload =
            json!({"request": admission_request(object, operation), "settings": settings});
        let response = admission::validate(payload.to_string().as_bytes(), &self.0);
        // Through the wire format, as policy-server reads the module's answer.
        serde_json::from_value(serde_json::to_value(&response).unwrap()).unwrap()
    }
}

struct Wasm(PolicyModule);

impl Evaluator for Wasm {
    fn validate(&self, object: &Value, operation: &str, settings: &Value) -> Verdict {
        self.0
            .validate(&admission_request(object, operation), settings)
            .unwrap_or_else(|e| panic!("the guest failed on {object}: {e}"))
    }
}

/// Where a property is checked: natively (many cases, fast) or on the
/// built module through the waPC harness (fewer cases: each call
/// instantiates the module afresh, as policy-server does).
#[derive(Debug, Clone, Copy)]
enum Engine {
    Native,
    Module,
}

impl Engine {
    fn cases(self) -> u32 {
        match self {
            Engine::Native => NATIVE_CASES,
            Engine::Module => WASM_CASES,
        }
    }

    /// The policy, finding the namespaces `namespaces` and no others.
    fn with_namespaces(self, namespaces: Vec<Value>) -> Box<dyn Evaluator> {
        match self {
            Engine::Native => Box::new(NativeWith(NativeCluster(namespaces))),
            Engine::Module => Box::new(Wasm(load(Cluster::from_objects(namespaces)))),
        }
    }

    /// The policy whose namespace lookups fail, as when policy-server is
    /// denied or times out.
    fn with_failing_lookups(self) -> Box<dyn Evaluator> {
        match self {
            Engine::Native => Box::new(NativeWith(FailingNamespaces)),
            Engine::Module => Box::new(Wasm(load(
                Cluster::from_objects(answered_namespaces(Some("enabled")))
                    .with_failing(policy_harness::ObjectKind::Namespace),
            ))),
        }
    }
}

fn run<T: std::fmt::Debug>(
    cases: u32,
    strategy: impl Strategy<Value = T>,
    test: impl Fn(T) -> Result<(), TestCaseError>,
) {
    let mut runner = TestRunner::new(Config {
        cases,
        // Shrinking an object through the module is slow and the first
        // failing case already names the object.
        max_shrink_iters: 256,
        // Failures are reported with their input; nothing to persist.
        failure_persistence: None,
        ..Config::default()
    });
    if let Err(error) = runner.run(&strategy, test) {
        panic!("{error}");
    }
}

// ---------------------------------------------------------------------------
// Generated objects.

/// Where a kind keeps its pod template and which `apiVersion` it is
/// written at, from the policy's own view of the eight kinds.
trait WorkloadShape {
    fn api_version(self) -> String;
    fn template_pointer(self) -> String;
}

impl WorkloadShape for WorkloadKind {
    fn api_version(self) -> String {
        // The policy knows each kind by its group: ask it which.
        match ["apps", "batch"]
            .into_iter()
            .find(|group| WorkloadKind::from_group_kind(group, self.name()) == Some(self))
        {
            Some(group) => format!("{group}/v1"),
            None => "v1".to_owned(),
        }
    }

    fn template_pointer(self) -> String {
        self.template_path()
            .iter()
            .map(|step| format!("/{step}"))
            .collect()
    }
}

/// A workload: its own metadata, and a pod template whose metadata and
/// spec may be absent, `null` or filled.
#[derive(Debug, Clone)]
struct Workload {
    kind: WorkloadKind,
    name: String,
    namespace: String,
    own_annotations: Map<String, Value>,
    replicas: Option<u32>,
    /// `None`: no `metadata` key in the template at all.
    template_metadata: Option<Value>,
    pod_spec: Value,
    /// Fields no rule reads, on the object's top level and its spec.
    unknown: Map<String, Value>,
}

impl Workload {
    fn object(&self) -> Value {
        let (api_version, kind) = (self.kind.api_version(), self.kind.name());
        let mut template = Map::new();
        if let Some(metadata) = &self.template_metadata {
            template.insert("metadata".into(), metadata.clone());
        }
        template.insert("spec".into(), self.pod_spec.clone());
        let mut object = json!({"apiVersion": api_version, "kind": kind});
        match self.kind {
            WorkloadKind::Pod => object = self.pod(),
            WorkloadKind::CronJob => {
                object["metadata"] = self.own_metadata();
                object["spec"] = json!({"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": template}}});
            }
            _ => {
                object["metadata"] = self.own_metadata();
                object["spec"] =
                    json!({"selector": {"matchLabels": {"app": "web"}}, "template": template});
                if let (true, Some(replicas)) = (self.kind.has_replicas(), self.replicas) {
                    object["spec"]["replicas"] = json!(replicas);
                }
            }
        }
        for (key, value) in &self.unknown {
            object[key.as_str()] = value.clone();
            if let Some(spec) = object["spec"].as_object_mut() {
                spec.insert(key.clone(), value.clone());
            }
        }
        object
    }

    fn own_metadata(&self) -> Value {
        json!({"name": self.name, "namespace": self.namespace,
               "labels": {"app": "web"}, "annotations": self.own_annotations})
    }

    /// The Pod the template makes: the template's metadata (with a name and
    /// namespace) and its spec.
    fn pod(&self) -> Value {
        let mut metadata = match &self.template_metadata {
            Some(Value::Object(map)) => Value::Object(map.clone()),
            _ => json!({}),
        };
        metadata["name"] = json!(self.name);
        metadata["namespace"] = json!(self.namespace);
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": self.pod_spec})
    }

    fn template_annotation(&self, key: &str) -> Option<&Value> {
        self.template_metadata
            .as_ref()?
            .get("annotations")?
            .get(key)
    }
}

fn namespace_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec!["plain", "meshed", "ingress-ns", "optout", "typo", "kube-system"])
            .prop_map(String::from),
        // Not in the cluster: the lookup fails.
        1 => "[a-z][a-z0-9-]{0,10}",
    ]
}

fn inject_value() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        3 => Just(None),
        2 => prop::sample::select(vec!["enabled", "ingress", "disabled"]).prop_map(|v| Some(v.to_string())),
        2 => prop::sample::select(vec!["true", "Enabled", "", "yes", "enabled "]).prop_map(|v| Some(v.to_string())),
        1 => "\\PC{0,12}".prop_map(Some),
    ]
}

fn safe_to_evict_value() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        3 => Just(None),
        2 => Just(Some("true".to_string())),
        2 => Just(Some("false".to_string())),
        1 => "\\PC{0,8}".prop_map(Some),
    ]
}

/// Which numbers unknown fields hold.
#[derive(Debug, Clone, Copy)]
enum Floats {
    /// Any finite f64: what "every other field unchanged" must survive.
    Any,
    /// Only ones every JSON parser reads back exactly (multiples of 1/8),
    /// so that the other properties are not about number parsing.
    Exact,
}

/// A JSON value of any shape, for unknown fields.
fn any_json(floats: Floats) -> impl Strategy<Value = Value> {
    let float = match floats {
        Floats::Any => any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(Value::from)
            .boxed(),
        Floats::Exact => (-8000i32..8000)
            .prop_map(|n| Value::from(f64::from(n) / 8.0))
            .boxed(),
    };
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        float,
        "\\PC{0,16}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z]{1,8}", inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Annotations: the two the rules read most, plus random ones.
fn annotations() -> impl Strategy<Value = Map<String, Value>> {
    (
        inject_value(),
        safe_to_evict_value(),
        prop::collection::btree_map("[a-z]{1,8}\\.(io|com)/[a-z-]{1,12}", "\\PC{0,20}", 0..4),
    )
        .prop_map(|(inject, safe_to_evict, extra)| {
            let mut map: Map<String, Value> = extra
                .into_iter()
                .map(|(k, v)| (k, Value::from(v)))
                .collect();
            if let Some(value) = inject {
                map.insert(INJECT.into(), value.into());
            }
            if let Some(value) = safe_to_evict {
                map.insert(SAFE_TO_EVICT.into(), value.into());
            }
            map
        })
}

fn template_metadata(floats: Floats) -> impl Strategy<Value = Option<Value>> {
    let labels = prop_oneof![
        4 => Just(json!({"app": "web"})),
        1 => Just(json!({"app": "web", "linkerd.io/cni-resource": "true"})),
        1 => Just(json!({"app": "web", "linkerd.io/control-plane-component": "destination"})),
    ];
    prop_oneof![
        1 => Just(None),
        1 => Just(Some(json!({"labels": {"app": "web"}, "annotations": null}))),
        6 => (labels, annotations(), any_json(floats)).prop_map(|(labels, annotations, unknown)| {
            Some(json!({"labels": labels, "annotations": annotations, "futureMetadataField": unknown}))
        }),
    ]
}

fn container(floats: Floats) -> impl Strategy<Value = Value> {
    (
        prop_oneof![
            3 => Just("web".to_string()),
            1 => Just("linkerd-proxy".to_string()),
            1 => "[a-z]{1,10}",
        ],
        prop::option::of(prop::sample::select(vec![
            json!({"requests": {"cpu": "100m", "memory": "20Mi"}}),
            json!({"requests": {"cpu": "1"}}),
            json!({"limits": {"memory": "1Gi"}}),
        ])),
        prop::option::of(any_json(floats)),
    )
        .prop_map(|(name, resources, unknown)| {
            let mut container = json!({"name": name, "image": format!("example/{name}")});
            if let Some(resources) = resources {
                container["resources"] = resources;
            }
            if let Some(unknown) = unknown {
                container["futureContainerField"] = unknown;
            }
            container
        })
}

fn pod_spec(floats: Floats) -> impl Strategy<Value = Value> {
    (
        prop::collection::vec(container(floats), 0..4),
        prop::option::of(any::<bool>()),
        any::<bool>(),
        prop::option::of(any_json(floats)),
    )
        .prop_map(|(containers, host_network, native_sidecar, unknown)| {
            let mut spec = json!({"containers": containers});
            if let Some(host_network) = host_network {
                spec["hostNetwork"] = json!(host_network);
            }
            if native_sidecar {
                spec["initContainers"] =
                    json!([{"name": "linkerd-proxy", "image": "proxy", "restartPolicy": "Always"}]);
            }
            if let Some(unknown) = unknown {
                spec["futurePodField"] = unknown;
            }
            spec
        })
}

fn workload_of(kinds: Vec<WorkloadKind>, floats: Floats) -> impl Strategy<Value = Workload> {
    (
        prop::sample::select(kinds),
        "[a-z][a-z0-9-]{0,12}",
        namespace_name(),
        annotations(),
        prop::option::of(0u32..6),
        template_metadata(floats),
        pod_spec(floats),
        prop::collection::btree_map("future[A-Z][a-z]{1,6}", any_json(floats), 0..3),
    )
        .prop_map(
            |(
                kind,
                name,
                namespace,
                own_annotations,
                replicas,
                template_metadata,
                pod_spec,
                unknown,
            )| Workload {
                kind,
                name,
                namespace,
                own_annotations,
                replicas,
                template_metadata,
                pod_spec,
                unknown: unknown.into_iter().collect(),
            },
        )
}

fn workload(floats: Floats) -> impl Strategy<Value = Workload> {
    workload_of(WorkloadKind::ALL.to_vec(), floats)
}

/// A Namespace: a system one or not, with or without its label and with
/// any injection annotation.
fn namespace_object(floats: Floats) -> impl Strategy<Value = Value> {
    (
        prop_oneof![Just("kube-system".to_string()), "[a-z][a-z0-9-]{0,10}"],
        prop::option::of(prop::sample::select(vec!["disabled", "enabled", ""])),
        inject_value(),
        any_json(floats),
    )
        .prop_map(|(name, label, inject, unknown)| {
            let mut labels = json!({"kubernetes.io/metadata.name": name});
            if let Some(label) = label {
                labels[WEBHOOKS_LABEL] = json!(label);
            }
            let annotations = inject.map_or_else(|| json!({}), |v| json!({INJECT: v}));
            json!({"apiVersion": "v1", "kind": "Namespace",
                   "metadata": {"name": name, "labels": labels, "annotations": annotations},
                   "spec": {"finalizers": ["kubernetes"]}, "futureField": unknown})
        })
}

/// Any object the properties run on.
fn subject(floats: Floats) -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => workload(floats).prop_map(|w| w.object()),
        1 => namespace_object(floats),
    ]
}

fn operation() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["CREATE", "UPDATE"])
}

/// Settings under which mutations happen: the defaults and the variants
/// that change what is mutated.
fn mutating_settings() -> impl Strategy<Value = Value> {
    prop::sample::select(vec![
        json!({}),
        json!({"safeToEvict": {"annotation": "safe-to-evict-local-volumes"}}),
        json!({"rules": {"proxyResources": "mutate"}}),
        json!({"rules": {"systemNamespaces": "enforce", "injectionAnnotation": "warn"}}),
        json!({"systemNamespaces": ["kube-system", "plain", "meshed"]}),
    ])
}

// ---------------------------------------------------------------------------
// The properties.

/// Property 1: running the policy on its mutated output accepts it with no patch.
fn idempotent(
    policy: &dyn Evaluator,
    object: &Value,
    operation: &str,
    settings: &Value,
) -> Result<(), TestCaseError> {
    let verdict = policy.validate(object, operation, settings);
    let Some(mutated) = &verdict.mutated_object else {
        return Ok(());
    };
    let again = policy.validate(mutated, operation, settings);
    prop_assert!(
        again.accepted,
        "mutated object rejected: {:?}\nsettings: {settings}\nmutated: {mutated}",
        again.message
    );
    prop_assert!(
        again.mutated_object.is_none(),
        "mutated again: {:?}\nsettings: {settings}\nmutated: {mutated}",
        again.patch(mutated)
    );
    Ok(())
}

/// The leaves a patch adds: each `add` (or `replace` of a `null`) flattened
/// into (JSON pointer, value) pairs.
fn added_leaves(
    original: &Value,
    verdict: &Verdict,
) -> Result<Vec<(String, Value)>, TestCaseError> {
    let patch = serde_json::to_value(verdict.patch(original).expect("mutated")).unwrap();
    let mut leaves = Vec::new();
    for op in patch.as_array().expect("a patch is a list") {
        let path = op["path"].as_str().expect("a path").to_string();
        let replaces_null = op["op"] == "replace" && original.pointer(&path) == Some(&Value::Null);
        prop_assert!(
            op["op"] == "add" || replaces_null || is_owned_label_rewrite(original, op),
            "{op} changes what was there: only additions are allowed (a field no rule owns must stay as it was)"
        );
        flatten(&path, &op["value"], &mut leaves);
    }
    Ok(leaves)
}

/// The system-namespace rule owns its label: a value other than `disabled`
/// is set to `disabled`.
fn is_owned_label_rewrite(original: &Value, op: &Value) -> bool {
    original["kind"] == "Namespace"
        && op["op"] == "replace"
        && op["path"] == "/metadata/labels/config.linkerd.io~1admission-webhooks"
        && op["value"] == "disabled"
}

fn flatten(path: &str, value: &Value, leaves: &mut Vec<(String, Value)>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, value) in map {
                let key = key.replace('~', "~0").replace('/', "~1");
                flatten(&format!("{path}/{key}"), value, leaves);
            }
        }
        _ => leaves.push((path.to_string(), value.clone())),
    }
}

/// Property 2: under the default settings a workload is only ever given
/// safe-to-evict "true" on its pod template, a Namespace only its webhook
/// label: the patch adds that one leaf and nothing else changes.
fn only_owned_additions(
    policy: &dyn Evaluator,
    object: &Value,
    operation: &str,
) -> Result<(), TestCaseError> {
    let verdict = policy.validate(object, operation, &json!({}));
    if verdict.mutated_object.is_none() {
        return Ok(());
    }
    let owned = if object["kind"] == "Namespace" {
        (
            "/metadata/labels/config.linkerd.io~1admission-webhooks".to_string(),
            json!("disabled"),
        )
    } else if object["kind"] == "Pod" {
        // A bare Pod: only its identity volume is released.
        (
            "/metadata/annotations/cluster-autoscaler.kubernetes.io~1safe-to-evict-local-volumes"
                .to_string(),
            json!("linkerd-identity-end-entity"),
        )
    } else {
        let template = match object["kind"].as_str() {
            Some("CronJob") => "/spec/jobTemplate/spec/template",
            _ => "/spec/template",
        };
        (
            format!(
                "{template}/metadata/annotations/cluster-autoscaler.kubernetes.io~1safe-to-evict"
            ),
            json!("true"),
        )
    };
    let leaves = added_leaves(object, &verdict)?;
    prop_assert_eq!(leaves, vec![owned], "{}", object);
    Ok(())
}

/// An explicit safe-to-evict "false" survives every mutation, under
/// every mutating setting.
fn explicit_false_kept(
    policy: &dyn Evaluator,
    workload: &Workload,
    settings: &Value,
) -> Result<(), TestCaseError> {
    if workload.template_annotation(SAFE_TO_EVICT) != Some(&json!("false")) {
        return Ok(());
    }
    let object = workload.object();
    let verdict = policy.validate(&object, "CREATE", settings);
    if let Some(mutated) = &verdict.mutated_object {
        let pointer = format!(
            "{}/metadata/annotations/cluster-autoscaler.kubernetes.io~1safe-to-evict",
            workload.kind.template_pointer()
        );
        prop_assert_eq!(
            mutated.pointer(&pointer),
            Some(&json!("false")),
            "{}",
            mutated
        );
    }
    Ok(())
}

/// Where a verdict's findings were reported, by rule: `[safeToEvict]` in the
/// rejection message or in a warning. Warnings without a rule tag (a failed
/// lookup) are counted apart.
fn findings(verdict: &Verdict) -> (BTreeSet<(String, &'static str)>, usize) {
    fn tags(text: &str, place: &'static str, into: &mut BTreeSet<(String, &'static str)>) -> bool {
        let mut found = false;
        for piece in text.split('[').skip(1) {
            if let Some((tag, _)) = piece.split_once(']') {
                if !tag.is_empty() && tag.chars().all(|c| c.is_ascii_alphabetic()) {
                    into.insert((tag.to_string(), place));
                    found = true;
                }
            }
        }
        found
    }
    let mut found = BTreeSet::new();
    if let Some(message) = &verdict.message {
        tags(message, "rejection", &mut found);
    }
    let mut untagged = 0;
    for warning in verdict.warnings() {
        if !tags(warning, "warning", &mut found) {
            untagged += 1;
        }
    }
    (found, untagged)
}

/// Property 3: a workload's verdict is its template's, as a Pod: same acceptance,
/// the same rules reporting in the same places, the same patch below the
/// template. Up to the kind: only a workload's own metadata can carry a
/// misplaced `linkerd.io/inject`, which is reported there when the template
/// lacks it or says otherwise (the same value in both misleads no one).
fn same_verdict_as_its_pod(
    policy: &dyn Evaluator,
    workload: &Workload,
    operation: &str,
) -> Result<(), TestCaseError> {
    let object = workload.object();
    let pod = workload.pod();
    // The annotation a bare Pod always gets, so both get the same one.
    let settings = json!({"safeToEvict": {"annotation": "safe-to-evict-local-volumes"}});
    let of_workload = policy.validate(&object, operation, &settings);
    let of_pod = policy.validate(&pod, operation, &settings);
    prop_assert_eq!(
        of_workload.accepted,
        of_pod.accepted,
        "workload: {:?}\npod: {:?}",
        of_workload.message,
        of_pod.message
    );
    let (mut expected, untagged) = findings(&of_pod);
    let template_value = workload
        .template_metadata
        .as_ref()
        .and_then(|meta| meta.get("annotations"))
        .and_then(|annotations| annotations.get(INJECT));
    if let Some(own) = workload.own_annotations.get(INJECT) {
        if template_value != Some(own) {
            expected.insert(("injectionAnnotation".to_string(), "warning"));
        }
    }
    prop_assert_eq!(findings(&of_workload), (expected, untagged));

    let strip = |leaves: Vec<(String, Value)>, prefix: &str| -> Vec<(String, Value)> {
        leaves
            .into_iter()
            .map(|(path, value)| {
                (
                    path.strip_prefix(prefix).unwrap_or(&path).to_string(),
                    value,
                )
            })
            .collect()
    };
    let workload_leaves = match of_workload.mutated_object {
        Some(_) => strip(
            added_leaves(&object, &of_workload)?,
            &workload.kind.template_pointer(),
        ),
        None => Vec::new(),
    };
    let pod_leaves = match of_pod.mutated_object {
        Some(_) => added_leaves(&pod, &of_pod)?,
        None => Vec::new(),
    };
    prop_assert_eq!(workload_leaves, pod_leaves);
    Ok(())
}

// ---------------------------------------------------------------------------
// Natively and on the built module.

/// The four properties above, each natively and on the module.
#[derive(Debug, Clone, Copy)]
enum Property {
    Idempotent,
    OnlyOwnedAdditions,
    ExplicitFalseKept,
    SameVerdictAsItsPod,
}

#[rstest]
fn property_holds(
    #[values(Engine::Native, Engine::Module)] engine: Engine,
    #[values(
        Property::Idempotent,
        Property::OnlyOwnedAdditions,
        Property::ExplicitFalseKept,
        Property::SameVerdictAsItsPod
    )]
    property: Property,
) {
    let policy = engine.with_namespaces(namespaces());
    let policy = &*policy;
    let cases = engine.cases();
    match property {
        Property::Idempotent => run(
            cases,
            (subject(Floats::Exact), operation(), mutating_settings()),
            |(object, operation, settings)| idempotent(policy, &object, operation, &settings),
        ),
        Property::OnlyOwnedAdditions => run(
            cases,
            (subject(Floats::Any), operation()),
            |(object, operation)| only_owned_additions(policy, &object, operation),
        ),
        Property::ExplicitFalseKept => run(
            cases,
            (workload(Floats::Exact), mutating_settings()),
            |(workload, settings)| explicit_false_kept(policy, &workload, &settings),
        ),
        Property::SameVerdictAsItsPod => {
            let owners = WorkloadKind::ALL
                .into_iter()
                .filter(|kind| *kind != WorkloadKind::Pod)
                .collect();
            run(
                cases,
                (workload_of(owners, Floats::Exact), operation()),
                |(workload, operation)| same_verdict_as_its_pod(policy, &workload, operation),
            )
        }
    }
}

/// The native and the module verdicts agree: the properties proven natively
/// on many cases hold for the module.
#[test]
fn native_and_module_agree() {
    let (native, module) = (
        Engine::Native.with_namespaces(namespaces()),
        Engine::Module.with_namespaces(namespaces()),
    );
    run(
        WASM_CASES,
        (subject(Floats::Exact), operation(), mutating_settings()),
        |(object, operation, settings)| {
            let a = native.validate(&object, operation, &settings);
            let b = module.validate(&object, operation, &settings);
            // Warnings of failed lookups quote the host's error, which the
            // waPC layer words its own way: compare them by rule.
            prop_assert_eq!(
                (a.accepted, &a.message, &a.mutated_object, findings(&a)),
                (b.accepted, &b.message, &b.mutated_object, findings(&b)),
                "{}",
                object
            );
            Ok(())
        },
    );
}

// ---------------------------------------------------------------------------
// 4. Fail-safe lookups.

/// What a namespace may say about injection.
const NAMESPACE_ANSWERS: [Option<&str>; 5] = [
    None,
    Some("enabled"),
    Some("ingress"),
    Some("disabled"),
    Some("true"),
];

/// The namespaces a fail-safe case runs in: an ordinary one and a system one.
const FAIL_SAFE_NAMESPACES: [&str; 2] = ["app", "kube-system"];

fn answered_namespaces(inject: Option<&str>) -> Vec<Value> {
    let annotations = inject.map_or_else(|| json!({}), |v| json!({INJECT: v}));
    FAIL_SAFE_NAMESPACES
        .iter()
        .map(|name| {
            namespace(
                name,
                annotations.clone(),
                json!({WEBHOOKS_LABEL: "disabled"}),
            )
        })
        .collect()
}

/// The lookups fail, as when policy-server is denied or times out.
struct FailingNamespaces;

impl ClusterLookup for FailingNamespaces {
    fn namespace(&self, name: &str) -> Result<NamespaceObject, String> {
        Err(format!("namespaces \"{name}\" is forbidden"))
    }

    fn disruption_budgets(&self, _namespace: &str) -> Result<Vec<PodDisruptionBudget>, String> {
        Err("timed out".to_string())
    }

    fn nodes(&self) -> Result<Vec<Node>, String> {
        Err("timed out".to_string())
    }

    fn control_plane_workloads(
        &self,
        _namespace: &str,
    ) -> Result<Vec<linkerd_ha_policy::workload::Workload>, String> {
        Err("timed out".to_string())
    }
}

/// The policy with failing lookups, and with each possible answer.
struct FailSafeCase {
    failing: Box<dyn Evaluator>,
    answered: Vec<Box<dyn Evaluator>>,
    /// How the verdicts under failure went: rejected, mutated, accepted as is.
    seen: std::cell::Cell<[u32; 3]>,
}

impl FailSafeCase {
    fn count(&self, verdict: &Verdict) {
        let mut seen = self.seen.get();
        seen[usize::from(verdict.accepted)
            + usize::from(verdict.accepted && verdict.mutated_object.is_none())] += 1;
        self.seen.set(seen);
    }

    /// The property proves something only if failures led to each verdict:
    /// checked on the many native cases (the module's fewer cases may miss
    /// the rarer mutations).
    fn report(&self, test: &str, require_each: bool) {
        let [rejected, mutated, accepted] = self.seen.get();
        println!("{test}: with failed lookups {rejected} rejected, {mutated} mutated, {accepted} accepted");
        assert!(
            !require_each || rejected > 0 && mutated > 0 && accepted > 0,
            "too few kinds of verdict to prove anything"
        );
    }
}

impl FailSafeCase {
    fn new(engine: Engine) -> Self {
        FailSafeCase {
            failing: engine.with_failing_lookups(),
            answered: NAMESPACE_ANSWERS
                .iter()
                .map(|inject| engine.with_namespaces(answered_namespaces(*inject)))
                .collect(),
            seen: Default::default(),
        }
    }
}

/// Settings whose verdicts depend on the namespace: the defaults, the
/// validating instance (proxyPresent) and enforced proxy requests.
fn lookup_dependent_settings() -> impl Strategy<Value = Value> {
    prop::sample::select(vec![
        json!({}),
        json!({"rules": {"proxyPresent": "enforce", "injectionAnnotation": "off", "systemNamespaces": "off", "safeToEvict": "off", "proxyResources": "warn"}}),
        json!({"rules": {"proxyResources": "enforce"}}),
        json!({"rules": {"safeToEvict": "enforce"}}),
    ])
}

fn fail_safe(
    case: &FailSafeCase,
    workload: &Workload,
    operation: &str,
    settings: &Value,
) -> Result<(), TestCaseError> {
    let object = workload.object();
    let failed = case.failing.validate(&object, operation, settings);
    case.count(&failed);
    let answered: Vec<Verdict> = case
        .answered
        .iter()
        .map(|policy| policy.validate(&object, operation, settings))
        .collect();
    let leaves = |verdict: &Verdict| -> Result<Option<Vec<(String, Value)>>, TestCaseError> {
        match verdict.mutated_object {
            Some(_) => added_leaves(&object, verdict).map(Some),
            None => Ok(None),
        }
    };
    if !failed.accepted {
        for (inject, verdict) in NAMESPACE_ANSWERS.iter().zip(&answered) {
            prop_assert!(
                !verdict.accepted,
                "rejected when the lookup failed ({:?}), accepted when the namespace says {inject:?}",
                failed.message
            );
        }
        return Ok(());
    }
    let failed_leaves = leaves(&failed)?;
    let answered_leaves = answered.iter().map(leaves).collect::<Result<Vec<_>, _>>()?;
    let decided = answered_leaves.windows(2).all(|pair| pair[0] == pair[1])
        && answered.iter().all(|verdict| verdict.accepted);
    if decided {
        // Every answer gives the same verdict: the object alone decides it.
        prop_assert_eq!(
            &failed_leaves,
            &answered_leaves[0],
            "the mutation every answer makes"
        );
    } else if failed_leaves.is_some() {
        // Answers disagree: a mutation needs the namespace's word.
        for (inject, verdict_leaves) in NAMESPACE_ANSWERS.iter().zip(&answered_leaves) {
            prop_assert_eq!(
                &failed_leaves,
                verdict_leaves,
                "mutated without the lookup, not when the namespace says {:?}",
                inject
            );
        }
    }
    Ok(())
}

fn fail_safe_workload() -> impl Strategy<Value = Workload> {
    (
        workload(Floats::Exact),
        prop::sample::select(FAIL_SAFE_NAMESPACES.to_vec()),
    )
        .prop_map(|(mut workload, namespace)| {
            workload.namespace = namespace.to_string();
            workload
        })
}

/// The module's fewer cases may miss the rarer verdicts: only the native
/// run must see each (see [`FailSafeCase::report`]).
#[rstest]
#[case::native(Engine::Native, NATIVE_CASES, true)]
#[case::module(Engine::Module, WASM_CASES / 2, false)]
fn failed_lookups_are_fail_safe(
    #[case] engine: Engine,
    #[case] cases: u32,
    #[case] require_each_verdict: bool,
) {
    let case = FailSafeCase::new(engine);
    run(
        cases,
        (
            fail_safe_workload(),
            operation(),
            lookup_dependent_settings(),
        ),
        |(workload, operation, settings)| fail_safe(&case, &workload, operation, &settings),
    );
    case.report(&format!("{engine:?}"), require_each_verdict);
}

/// The control plane's lookups (disruption budgets, nodes) through the
/// harness: a failed list never rejects what some answer would accept.
#[test]
fn module_failed_budget_and_node_lookups_are_fail_safe() {
    let install = linkerd_fixture("install_ha_output.golden");
    let budgets: Vec<Value> = install
        .iter()
        .filter(|o| o["kind"] == "PodDisruptionBudget")
        .cloned()
        .collect();
    let blocking: Vec<Value> = budgets
        .iter()
        .cloned()
        .map(|mut b| {
            b["spec"] = json!({"maxUnavailable": 0, "selector": b["spec"]["selector"]});
            b
        })
        .collect();
    let linkerd = namespace("linkerd", json!({}), json!({WEBHOOKS_LABEL: "disabled"}));
    let mut answers = Vec::new();
    for budgets in [Vec::new(), budgets, blocking] {
        for node_count in [0, 1, 2, 3, 5] {
            let objects = budgets
                .iter()
                .cloned()
                .chain(nodes(node_count))
                .chain([linkerd.clone()]);
            answers.push(load(Cluster::from_objects(objects)));
        }
    }
    let failing = load(
        Cluster::from_objects([linkerd.clone()])
            .with_failing(policy_harness::ObjectKind::PodDisruptionBudget)
            .with_failing(policy_harness::ObjectKind::Node),
    );
    let (mut tried, mut rejected) = (0, 0);
    for deployment in install.iter().filter(|o| o["kind"] == "Deployment") {
        for replicas in [1, 2, 3, 5] {
            for keep_affinity in [true, false] {
                let mut object = deployment.clone();
                object["spec"]["replicas"] = json!(replicas);
                if !keep_affinity {
                    object["spec"]["template"]["spec"]["affinity"] = Value::Null;
                }
                for settings in [
                    json!({}),
                    json!({"rules": {"nodeCapacity": "enforce"}}),
                    json!({"rules": {"controlPlaneAntiAffinity": "mutate", "disruptionBudgets": "enforce"}}),
                ] {
                    tried += 1;
                    let request = admission_request(&object, "CREATE");
                    let failed = failing.validate(&request, &settings).unwrap();
                    if failed.accepted {
                        continue;
                    }
                    rejected += 1;
                    for answer in &answers {
                        let verdict = answer.validate(&request, &settings).unwrap();
                        assert!(
                            !verdict.accepted,
                            "{} ({replicas} replicas, affinity {keep_affinity}, {settings}): rejected when the lookups failed ({:?}), accepted with {:?}",
                            describe(&object),
                            failed.message,
                            answer.cluster()
                        );
                    }
                }
            }
        }
    }
    println!(
        "{tried} control-plane requests, {rejected} rejected with failed lookups, each also rejected under {} cluster answers",
        answers.len()
    );
}
