//! A small model of an AdmissionReview for the policy, derived with
//! `Arbitrary`: each field draws mostly from the values the rules care
//! about (kinds, namespaces, annotation keys and values, labels,
//! quantities, selectors), with an escape to arbitrary strings and JSON
//! values so that the unexpected is tried too.

use arbitrary::{Arbitrary, Unstructured};
use linkerd_ha_policy::finding::RuleId;
use linkerd_ha_policy::workload::WorkloadKind;
use serde_json::{json, Map, Value};

use crate::FakeCluster;

#[derive(Arbitrary, Debug)]
pub struct Review {
    pub kind: Kind,
    pub operation: Operation,
    pub sub_resource: Option<String>,
    pub namespace: Namespace,
    /// Whether the request's own `namespace` field is sent.
    pub request_namespace: bool,
    pub name: Option<String>,
    pub own_labels: Vec<(LabelKey, LabelValue)>,
    pub own_annotations: Vec<(AnnotationKey, AnnotationValue)>,
    pub replicas: Option<Leaf>,
    pub template: Option<Template>,
    pub budget: Budget,
    pub webhooks: Vec<Webhook>,
    pub prometheus: PrometheusSpec,
    /// A Node's scheduling, before the request (`oldObject`) and after it.
    pub node: (NodeSpec, NodeSpec),
    /// Fields no rule reads, at the object's top level.
    pub unknown: Vec<(String, Leaf)>,
    pub settings: Settings,
    pub cluster: ClusterModel,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Kind {
    Workload(Workload),
    Namespace,
    PodDisruptionBudget,
    MutatingWebhookConfiguration,
    Prometheus,
    ConfigMap,
    Node,
}

/// One of the policy's own eight pod-creating kinds.
#[derive(Debug, Clone, Copy)]
pub struct Workload(pub WorkloadKind);

impl<'a> Arbitrary<'a> for Workload {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        u.choose(&WorkloadKind::ALL).copied().map(Self)
    }
}

impl Kind {
    fn group_version(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Self::Workload(Workload(kind)) => {
                // The policy knows each kind by its group: ask it which.
                let group = ["", "apps", "batch"]
                    .into_iter()
                    .find(|group| WorkloadKind::from_group_kind(group, kind.name()) == Some(kind))
                    .unwrap_or_default();
                (group, "v1", kind.name())
            }
            Self::Namespace => ("", "v1", "Namespace"),
            Self::ConfigMap => ("", "v1", "ConfigMap"),
            Self::PodDisruptionBudget => ("policy", "v1", "PodDisruptionBudget"),
            Self::MutatingWebhookConfiguration => (
                "admissionregistration.k8s.io",
                "v1",
                "MutatingWebhookConfiguration",
            ),
            Self::Prometheus => ("monitoring.coreos.com", "v1", "Prometheus"),
            Self::Node => ("", "v1", "Node"),
        }
    }
}

/// What `nodeChanges` reads of a Node: the cordon and the taints.
#[derive(Arbitrary, Debug)]
pub struct NodeSpec {
    pub unschedulable: Option<Leaf>,
    pub taints: Vec<(TaintKey, Option<String>, TaintEffect)>,
}

#[derive(Arbitrary, Debug)]
pub enum TaintKey {
    Dedicated,
    Unschedulable,
    Other(String),
}

#[derive(Arbitrary, Debug)]
pub enum TaintEffect {
    NoSchedule,
    NoExecute,
    PreferNoSchedule,
    Other(String),
}

impl NodeSpec {
    fn json(&self) -> Value {
        let mut spec = Map::new();
        if let Some(unschedulable) = &self.unschedulable {
            spec.insert("unschedulable".into(), unschedulable.json());
        }
        let taints: Vec<Value> = self
            .taints
            .iter()
            .map(|(key, value, effect)| {
                let key = match key {
                    TaintKey::Dedicated => "dedicated",
                    TaintKey::Unschedulable => "node.kubernetes.io/unschedulable",
                    TaintKey::Other(text) => text,
                };
                let effect = match effect {
                    TaintEffect::NoSchedule => "NoSchedule",
                    TaintEffect::NoExecute => "NoExecute",
                    TaintEffect::PreferNoSchedule => "PreferNoSchedule",
                    TaintEffect::Other(text) => text,
                };
                json!({"key": key, "value": value, "effect": effect})
            })
            .collect();
        if !taints.is_empty() {
            spec.insert("taints".into(), Value::Array(taints));
        }
        Value::Object(spec)
    }
}

#[derive(Arbitrary, Debug)]
pub enum Operation {
    Create,
    Update,
    Delete,
    Connect,
    Other(String),
}

#[derive(Arbitrary, Debug)]
pub enum Namespace {
    Linkerd,
    KubeSystem,
    Shop,
    LinkerdViz,
    /// The fake cluster cannot find it.
    Missing,
    /// The fake cluster fails to read it.
    Failing,
    Empty,
    Other(String),
}

impl Namespace {
    fn name(&self) -> &str {
        match self {
            Self::Linkerd => "linkerd",
            Self::KubeSystem => "kube-system",
            Self::Shop => "shop",
            Self::LinkerdViz => "linkerd-viz",
            Self::Missing => "missing",
            Self::Failing => "failing",
            Self::Empty => "",
            Self::Other(name) => name,
        }
    }
}

#[derive(Arbitrary, Debug)]
pub enum LabelKey {
    ControlPlaneComponent,
    CniResource,
    App,
    AdmissionWebhooks,
    Other(String),
}

#[derive(Arbitrary, Debug)]
pub enum LabelValue {
    Destination,
    Identity,
    ProxyInjector,
    Disabled,
    Web,
    Other(String),
    NotAString(Leaf),
}

#[derive(Arbitrary, Debug)]
pub enum AnnotationKey {
    Inject,
    SafeToEvict,
    LocalVolumes,
    ProxyCpuRequest,
    ProxyMemoryRequest,
    Other(String),
}

#[derive(Arbitrary, Debug)]
pub enum AnnotationValue {
    Enabled,
    Ingress,
    Disabled,
    True,
    False,
    CapitalEnabled,
    Empty,
    IdentityVolume,
    Quantity(Quantity),
    Other(String),
    NotAString(Leaf),
}

#[derive(Arbitrary, Debug)]
pub enum Quantity {
    Known(u8),
    Number(i64),
    Other(String),
}

const QUANTITIES: [&str; 12] = [
    "100m", "1", "0.5", "10Mi", "20Mi", "1Gi", "0", "1e3", "500Ki", "2k", "-1", "1.5Gi",
];

impl Quantity {
    fn json(&self) -> Value {
        match self {
            Self::Known(i) => json!(QUANTITIES[usize::from(*i) % QUANTITIES.len()]),
            Self::Number(n) => json!(n),
            Self::Other(text) => json!(text),
        }
    }
}

/// A JSON value of any type, for fields no rule reads or to put a wrong
/// type where a rule reads.
#[derive(Arbitrary, Debug)]
pub enum Leaf {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    EmptyObject,
    EmptyList,
    List(Vec<i8>),
}

impl Leaf {
    fn json(&self) -> Value {
        match self {
            Self::Null => Value::Null,
            Self::Bool(b) => json!(b),
            Self::Int(i) => json!(i),
            // Not every f64 is JSON: NaN and the infinities become null.
            Self::Float(f) => json!(f),
            Self::Str(s) => json!(s),
            Self::EmptyObject => json!({}),
            Self::EmptyList => json!([]),
            Self::List(items) => json!(items),
        }
    }
}

#[derive(Arbitrary, Debug)]
pub struct Template {
    pub labels: Option<Vec<(LabelKey, LabelValue)>>,
    pub annotations: Option<Vec<(AnnotationKey, AnnotationValue)>>,
    pub host_network: Option<Leaf>,
    pub containers: Option<Vec<Container>>,
    pub init_containers: Vec<Container>,
    pub anti_affinity: Option<AntiAffinity>,
    pub unknown: Vec<(String, Leaf)>,
}

#[derive(Arbitrary, Debug)]
pub struct Container {
    pub name: ContainerName,
    pub requests: Option<Vec<(ResourceName, Quantity)>>,
    pub restart_policy_always: Option<bool>,
}

#[derive(Arbitrary, Debug)]
pub enum ContainerName {
    Proxy,
    Destination,
    Identity,
    App,
    Other(String),
}

#[derive(Arbitrary, Debug)]
pub enum ResourceName {
    Cpu,
    Memory,
    Other(String),
}

#[derive(Arbitrary, Debug)]
pub struct AntiAffinity {
    pub required: Vec<Term>,
    pub preferred: Vec<(i64, Term)>,
}

#[derive(Arbitrary, Debug)]
pub struct Term {
    pub topology_key: TopologyKey,
    pub selector: Option<Selector>,
}

#[derive(Arbitrary, Debug)]
pub enum TopologyKey {
    Hostname,
    Zone,
    Other(String),
}

#[derive(Arbitrary, Debug)]
pub struct Selector {
    pub match_labels: Vec<(LabelKey, LabelValue)>,
    pub expressions: Vec<Expression>,
}

#[derive(Arbitrary, Debug)]
pub struct Expression {
    pub key: LabelKey,
    pub operator: SelectorOperator,
    pub values: Vec<LabelValue>,
}

#[derive(Arbitrary, Debug)]
pub enum SelectorOperator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
    Other(String),
}

#[derive(Arbitrary, Debug)]
pub struct Budget {
    pub selector: Option<Selector>,
    pub min_available: Option<IntOrString>,
    pub max_unavailable: Option<IntOrString>,
}

#[derive(Arbitrary, Debug)]
pub enum IntOrString {
    Int(i64),
    Percent(u8),
    Other(String),
}

impl IntOrString {
    fn json(&self) -> Value {
        match self {
            Self::Int(n) => json!(n),
            Self::Percent(p) => json!(format!("{p}%")),
            Self::Other(text) => json!(text),
        }
    }
}

#[derive(Arbitrary, Debug)]
pub struct Webhook {
    pub injector: bool,
    pub failure_policy: Option<FailurePolicy>,
    pub namespace_selector: Option<Selector>,
}

#[derive(Arbitrary, Debug)]
pub enum FailurePolicy {
    Fail,
    Ignore,
    Other(String),
}

#[derive(Arbitrary, Debug)]
pub struct PrometheusSpec {
    pub retention: Option<String>,
    pub retention_size: Option<String>,
    pub memory_request: Option<Quantity>,
}

#[derive(Arbitrary, Debug)]
pub struct Settings {
    /// Sent as `null` rather than as a map.
    pub null: bool,
    pub rules: Vec<(Rule, ActionSpelling)>,
    pub system_namespaces: Option<Vec<Namespace>>,
    pub local_volumes: Option<bool>,
    pub autoscaler_skips_local_storage: Option<bool>,
    pub replicas: Option<Leaf>,
    pub all_containers: Option<bool>,
    pub meshed_pods: Option<u16>,
    pub unknown_field: Option<String>,
}

/// One of the policy's rules.
#[derive(Debug, Clone, Copy)]
pub struct Rule(pub RuleId);

impl<'a> Arbitrary<'a> for Rule {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        u.choose(&RuleId::ALL).copied().map(Self)
    }
}

#[derive(Arbitrary, Debug)]
pub enum ActionSpelling {
    Enforce,
    Mutate,
    Warn,
    Off,
    /// YAML's unquoted `off`.
    False,
    Other(Leaf),
}

#[derive(Arbitrary, Debug)]
pub struct ClusterModel {
    pub namespace_inject: Option<AnnotationValue>,
    pub namespaces_fail: bool,
    /// `None`: the list fails.
    pub budgets: Option<Vec<Budget>>,
    /// (schedulable, cordoned), or `None`: the list fails.
    pub nodes: Option<(u8, u8)>,
}

impl ClusterModel {
    pub fn fake(&self) -> FakeCluster {
        FakeCluster {
            namespace_inject: self
                .namespace_inject
                .as_ref()
                .and_then(|v| v.json().as_str().map(str::to_string)),
            namespaces_fail: self.namespaces_fail,
            budgets: self.budgets.as_ref().map(|budgets| {
                budgets
                    .iter()
                    .enumerate()
                    .map(|(i, b)| json!({"metadata": {"name": format!("pdb-{i}")}, "spec": b.spec()}))
                    .collect()
            }),
            nodes: self.nodes.map(|(schedulable, cordoned)| {
                let schedulable = (0..schedulable % 8).map(|i| json!({"metadata": {"name": format!("node-{i}")}}));
                let cordoned = (0..cordoned % 4).map(|i| {
                    json!({"metadata": {"name": format!("cordoned-{i}")}, "spec": {"unschedulable": true}})
                });
                schedulable.chain(cordoned).collect()
            }),
            ..FakeCluster::default()
        }
    }
}

fn map<K, V>(pairs: &[(K, V)], key: impl Fn(&K) -> String, value: impl Fn(&V) -> Value) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| (key(k), value(v)))
            .collect::<Map<_, _>>(),
    )
}

impl LabelKey {
    fn text(&self) -> String {
        match self {
            Self::ControlPlaneComponent => "linkerd.io/control-plane-component".into(),
            Self::CniResource => "linkerd.io/cni-resource".into(),
            Self::App => "app".into(),
            Self::AdmissionWebhooks => "config.linkerd.io/admission-webhooks".into(),
            Self::Other(text) => text.clone(),
        }
    }
}

impl LabelValue {
    fn json(&self) -> Value {
        match self {
            Self::Destination => json!("destination"),
            Self::Identity => json!("identity"),
            Self::ProxyInjector => json!("proxy-injector"),
            Self::Disabled => json!("disabled"),
            Self::Web => json!("web"),
            Self::Other(text) => json!(text),
            Self::NotAString(leaf) => leaf.json(),
        }
    }
}

impl AnnotationKey {
    fn text(&self) -> String {
        match self {
            Self::Inject => "linkerd.io/inject".into(),
            Self::SafeToEvict => "cluster-autoscaler.kubernetes.io/safe-to-evict".into(),
            Self::LocalVolumes => {
                "cluster-autoscaler.kubernetes.io/safe-to-evict-local-volumes".into()
            }
            Self::ProxyCpuRequest => "config.linkerd.io/proxy-cpu-request".into(),
            Self::ProxyMemoryRequest => "config.linkerd.io/proxy-memory-request".into(),
            Self::Other(text) => text.clone(),
        }
    }
}

impl AnnotationValue {
    fn json(&self) -> Value {
        match self {
            Self::Enabled => json!("enabled"),
            Self::Ingress => json!("ingress"),
            Self::Disabled => json!("disabled"),
            Self::True => json!("true"),
            Self::False => json!("false"),
            Self::CapitalEnabled => json!("Enabled"),
            Self::Empty => json!(""),
            Self::IdentityVolume => json!("scratch,linkerd-identity-end-entity"),
            Self::Quantity(q) => match q.json() {
                Value::Number(n) => json!(n.to_string()),
                other => other,
            },
            Self::Other(text) => json!(text),
            Self::NotAString(leaf) => leaf.json(),
        }
    }
}

fn labels(pairs: &[(LabelKey, LabelValue)]) -> Value {
    map(pairs, LabelKey::text, LabelValue::json)
}

fn annotations(pairs: &[(AnnotationKey, AnnotationValue)]) -> Value {
    map(pairs, AnnotationKey::text, AnnotationValue::json)
}

fn unknown(target: &mut Map<String, Value>, fields: &[(String, Leaf)]) {
    for (key, leaf) in fields {
        // Unknown fields only: never overwrite one the model set.
        target
            .entry(format!("x-{key}"))
            .or_insert_with(|| leaf.json());
    }
}

impl Selector {
    fn json(&self) -> Value {
        json!({
            "matchLabels": labels(&self.match_labels),
            "matchExpressions": self.expressions.iter().map(|e| json!({
                "key": e.key.text(),
                "operator": match &e.operator {
                    SelectorOperator::In => "In".to_string(),
                    SelectorOperator::NotIn => "NotIn".to_string(),
                    SelectorOperator::Exists => "Exists".to_string(),
                    SelectorOperator::DoesNotExist => "DoesNotExist".to_string(),
                    SelectorOperator::Other(text) => text.clone(),
                },
                "values": e.values.iter().map(LabelValue::json).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })
    }
}

impl Term {
    fn json(&self) -> Value {
        let mut term = json!({"topologyKey": match &self.topology_key {
            TopologyKey::Hostname => "kubernetes.io/hostname".to_string(),
            TopologyKey::Zone => "topology.kubernetes.io/zone".to_string(),
            TopologyKey::Other(text) => text.clone(),
        }});
        if let Some(selector) = &self.selector {
            term["labelSelector"] = selector.json();
        }
        term
    }
}

impl Container {
    fn json(&self) -> Value {
        let mut container = json!({"name": match &self.name {
            ContainerName::Proxy => "linkerd-proxy".to_string(),
            ContainerName::Destination => "destination".to_string(),
            ContainerName::Identity => "identity".to_string(),
            ContainerName::App => "app".to_string(),
            ContainerName::Other(text) => text.clone(),
        }, "image": "example"});
        if let Some(requests) = &self.requests {
            container["resources"] = json!({"requests": map(requests, |r| match r {
                ResourceName::Cpu => "cpu".to_string(),
                ResourceName::Memory => "memory".to_string(),
                ResourceName::Other(text) => text.clone(),
            }, Quantity::json)});
        }
        if let Some(always) = self.restart_policy_always {
            container["restartPolicy"] = json!(if always { "Always" } else { "OnFailure" });
        }
        container
    }
}

impl Template {
    fn json(&self) -> Value {
        let mut metadata = Map::new();
        if let Some(pairs) = &self.labels {
            metadata.insert("labels".into(), labels(pairs));
        }
        if let Some(pairs) = &self.annotations {
            metadata.insert("annotations".into(), annotations(pairs));
        }
        let mut spec = Map::new();
        if let Some(host_network) = &self.host_network {
            spec.insert("hostNetwork".into(), host_network.json());
        }
        if let Some(containers) = &self.containers {
            spec.insert(
                "containers".into(),
                containers.iter().map(Container::json).collect(),
            );
        }
        if !self.init_containers.is_empty() {
            spec.insert(
                "initContainers".into(),
                self.init_containers.iter().map(Container::json).collect(),
            );
        }
        if let Some(affinity) = &self.anti_affinity {
            spec.insert(
                "affinity".into(),
                json!({"podAntiAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution":
                        affinity.required.iter().map(Term::json).collect::<Vec<_>>(),
                    "preferredDuringSchedulingIgnoredDuringExecution":
                        affinity.preferred.iter().map(|(weight, term)| json!({"weight": weight, "podAffinityTerm": term.json()})).collect::<Vec<_>>(),
                }}),
            );
        }
        unknown(&mut spec, &self.unknown);
        json!({"metadata": metadata, "spec": spec})
    }
}

impl Budget {
    fn spec(&self) -> Value {
        let mut spec = Map::new();
        if let Some(selector) = &self.selector {
            spec.insert("selector".into(), selector.json());
        }
        if let Some(value) = &self.min_available {
            spec.insert("minAvailable".into(), value.json());
        }
        if let Some(value) = &self.max_unavailable {
            spec.insert("maxUnavailable".into(), value.json());
        }
        Value::Object(spec)
    }
}

impl Settings {
    fn json(&self) -> Value {
        if self.null {
            return Value::Null;
        }
        let mut settings = json!({"rules": map(&self.rules, |r| r.0.name().to_string(), |a| match a {
            ActionSpelling::Enforce => json!("enforce"),
            ActionSpelling::Mutate => json!("mutate"),
            ActionSpelling::Warn => json!("warn"),
            ActionSpelling::Off => json!("off"),
            ActionSpelling::False => json!(false),
            ActionSpelling::Other(leaf) => leaf.json(),
        })});
        if let Some(namespaces) = &self.system_namespaces {
            settings["systemNamespaces"] = namespaces.iter().map(|n| json!(n.name())).collect();
        }
        let mut safe_to_evict = Map::new();
        if let Some(local) = self.local_volumes {
            let annotation = if local {
                "safe-to-evict-local-volumes"
            } else {
                "safe-to-evict"
            };
            safe_to_evict.insert("annotation".into(), json!(annotation));
        }
        if let Some(skips) = self.autoscaler_skips_local_storage {
            safe_to_evict.insert("autoscalerSkipsLocalStorage".into(), json!(skips));
        }
        settings["safeToEvict"] = Value::Object(safe_to_evict);
        let mut control_plane = Map::new();
        if let Some(replicas) = &self.replicas {
            control_plane.insert("replicas".into(), replicas.json());
        }
        if let Some(all) = self.all_containers {
            control_plane.insert(
                "resourceContainers".into(),
                json!(if all { "all" } else { "main" }),
            );
        }
        settings["controlPlane"] = Value::Object(control_plane);
        if let Some(pods) = self.meshed_pods {
            settings["prometheus"] = json!({"meshedPods": pods});
        }
        if let Some(field) = &self.unknown_field {
            settings[field.as_str()] = json!(true);
        }
        settings
    }
}

impl Review {
    /// The object under review.
    pub fn object(&self) -> Value {
        let (group, version, kind) = self.kind.group_version();
        let api_version = if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        };
        let mut metadata = json!({
            "namespace": self.namespace.name(),
            "labels": labels(&self.own_labels),
            "annotations": annotations(&self.own_annotations),
        });
        if let Some(name) = &self.name {
            metadata["name"] = json!(name);
        }
        let mut object = json!({"apiVersion": api_version, "kind": kind, "metadata": metadata});
        let template = self.template.as_ref().map(Template::json);
        match (self.kind, template) {
            (Kind::Workload(Workload(WorkloadKind::Pod)), Some(template)) => {
                // A Pod is its own template: its metadata joins the Pod's.
                for (key, value) in template["metadata"].as_object().into_iter().flatten() {
                    object["metadata"][key] = value.clone();
                }
                object["spec"] = template["spec"].clone();
            }
            (Kind::Workload(Workload(WorkloadKind::CronJob)), Some(template)) => {
                object["spec"] = json!({"schedule": "* * * * *", "jobTemplate": {"spec": {"template": template}}});
            }
            (Kind::Workload(_), Some(template)) => object["spec"] = json!({"template": template}),
            (Kind::PodDisruptionBudget, _) => object["spec"] = self.budget.spec(),
            (Kind::Node, _) => object["spec"] = self.node.1.json(),
            (Kind::MutatingWebhookConfiguration, _) => {
                object["webhooks"] = self
                    .webhooks
                    .iter()
                    .enumerate()
                    .map(|(i, w)| {
                        let mut webhook = json!({"name": if w.injector { "linkerd-proxy-injector.linkerd.io".to_string() } else { format!("other-{i}.example.com") }});
                        if let Some(policy) = &w.failure_policy {
                            webhook["failurePolicy"] = json!(match policy {
                                FailurePolicy::Fail => "Fail",
                                FailurePolicy::Ignore => "Ignore",
                                FailurePolicy::Other(text) => text,
                            });
                        }
                        if let Some(selector) = &w.namespace_selector {
                            webhook["namespaceSelector"] = selector.json();
                        }
                        webhook
                    })
                    .collect();
            }
            (Kind::Prometheus, _) => {
                let mut spec = Map::new();
                if let Some(retention) = &self.prometheus.retention {
                    spec.insert("retention".into(), json!(retention));
                }
                if let Some(size) = &self.prometheus.retention_size {
                    spec.insert("retentionSize".into(), json!(size));
                }
                if let Some(memory) = &self.prometheus.memory_request {
                    spec.insert(
                        "resources".into(),
                        json!({"requests": {"memory": memory.json()}}),
                    );
                }
                object["spec"] = Value::Object(spec);
            }
            _ => {}
        }
        if let (Some(replicas), Some(spec)) = (&self.replicas, object.get_mut("spec")) {
            if let Some(spec) = spec.as_object_mut() {
                spec.insert("replicas".into(), replicas.json());
            }
        }
        if let Some(fields) = object.as_object_mut() {
            unknown(fields, &self.unknown);
        }
        object
    }

    /// The `validate` payload: `{"request": ..., "settings": ...}`.
    pub fn payload(&self) -> Value {
        let (group, version, kind) = self.kind.group_version();
        let mut request = json!({
            "uid": "fuzz",
            "kind": {"group": group, "version": version, "kind": kind},
            "operation": match &self.operation {
                Operation::Create => "CREATE",
                Operation::Update => "UPDATE",
                Operation::Delete => "DELETE",
                Operation::Connect => "CONNECT",
                Operation::Other(text) => text,
            },
            "object": self.object(),
        });
        if self.request_namespace {
            request["namespace"] = json!(self.namespace.name());
        }
        if let Some(sub_resource) = &self.sub_resource {
            request["subResource"] = json!(sub_resource);
        }
        if let Kind::Node = self.kind {
            // What the API server sends: the Node before the change, and
            // for a DELETE no object.
            let mut old = self.object();
            old["spec"] = self.node.0.json();
            request["oldObject"] = old;
            if let Operation::Delete = self.operation {
                request["object"] = Value::Null;
            }
        }
        json!({"request": request, "settings": self.settings.json()})
    }
}
