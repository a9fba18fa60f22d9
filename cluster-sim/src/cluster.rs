//! An in-memory cluster: a store of objects of any kind, answering the host
//! calls a policy makes through Kubewarden's `kubewarden`/`kubernetes`
//! capability the way policy-server answers them from the API server.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::admission::is_namespaced_kind;
use crate::selectors::{apply_field_masks, labels_of, FieldSelector, LabelSelector};
use crate::str_at;

/// The kinds the fake API server serves to host calls. The store holds
/// objects of every kind; lookups of other kinds are refused as unknown
/// resources, as policy-server's RBAC-limited view would.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ObjectKind {
    Namespace,
    PodDisruptionBudget,
    Node,
    /// Listed for a Node change: the control plane's components.
    Deployment,
    StatefulSet,
}

impl ObjectKind {
    pub const ALL: [ObjectKind; 5] = [
        Self::Namespace,
        Self::PodDisruptionBudget,
        Self::Node,
        Self::Deployment,
        Self::StatefulSet,
    ];

    /// The kind named `kind` (as in an object's `kind` field), if the fake cluster serves it.
    pub fn from_kind(kind: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.kind() == kind)
    }

    pub fn kind(self) -> &'static str {
        match self {
            Self::Namespace => "Namespace",
            Self::PodDisruptionBudget => "PodDisruptionBudget",
            Self::Node => "Node",
            Self::Deployment => "Deployment",
            Self::StatefulSet => "StatefulSet",
        }
    }

    /// The only `apiVersion` the fake API server serves the kind at (the
    /// others, e.g. `policy/v1beta1`, were removed from Kubernetes).
    pub fn api_version(self) -> &'static str {
        match self {
            Self::PodDisruptionBudget => "policy/v1",
            Self::Deployment | Self::StatefulSet => "apps/v1",
            Self::Namespace | Self::Node => "v1",
        }
    }

    pub fn group(self) -> &'static str {
        match self {
            Self::PodDisruptionBudget => "policy",
            Self::Deployment | Self::StatefulSet => "apps",
            Self::Namespace | Self::Node => "",
        }
    }

    /// The plural resource name, as in URLs and RBAC rules.
    pub fn resource(self) -> &'static str {
        match self {
            Self::Namespace => "namespaces",
            Self::PodDisruptionBudget => "poddisruptionbudgets",
            Self::Node => "nodes",
            Self::Deployment => "deployments",
            Self::StatefulSet => "statefulsets",
        }
    }

    pub fn is_namespaced(self) -> bool {
        matches!(
            self,
            Self::PodDisruptionBudget | Self::Deployment | Self::StatefulSet
        )
    }

    /// `resource.group`, the way API server error messages name a resource.
    fn qualified_resource(self) -> String {
        match self.group() {
            "" => self.resource().to_owned(),
            group => format!("{}.{group}", self.resource()),
        }
    }
}

/// One host call the guest made, as received.
#[derive(Debug, Clone, PartialEq)]
pub struct HostCall {
    pub binding: String,
    pub namespace: String,
    pub operation: String,
    /// The request payload; a payload that is not JSON is kept as a string.
    pub payload: Value,
}

impl HostCall {
    /// The `kind` the call asked about, for Kubernetes calls.
    pub fn kind(&self) -> Option<&str> {
        self.payload.get("kind").and_then(Value::as_str)
    }
}

/// Why a host call failed. The guest receives the `Display` text, so the
/// texts follow the API server's wording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostCallError {
    #[error("unsupported host capability {binding}/{namespace}/{operation}")]
    Unsupported {
        binding: String,
        namespace: String,
        operation: String,
    },
    #[error("invalid {operation} request: {reason}")]
    BadRequest { operation: String, reason: String },
    #[error("the server doesn't have a resource type \"{kind}\" in \"{api_version}\" (the fake cluster serves Namespace, PodDisruptionBudget, Node, Deployment and StatefulSet)")]
    UnknownResource { api_version: String, kind: String },
    #[error("{resource} \"{name}\" not found")]
    NotFound { resource: String, name: String },
    /// The failure switch for this kind is on: what an RBAC denial looks like.
    #[error("{0}")]
    Forbidden(String),
}

/// A fake cluster: objects of any kind, a failure switch per served kind,
/// and a record of the host calls received.
///
/// Clones share the record of host calls (so a test keeps a handle on what a
/// policy host owning a clone received) but not the objects.
#[derive(Debug, Clone, Default)]
pub struct Cluster {
    /// By `kind` (without the API group), then namespace and name.
    objects: BTreeMap<String, BTreeMap<ObjectKey, Value>>,
    failing: BTreeSet<ObjectKind>,
    record: Arc<Mutex<Record>>,
}

/// Objects are keyed by namespace (empty for cluster-scoped kinds), then name,
/// which is also the order lists are answered in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct ObjectKey {
    namespace: String,
    name: String,
}

impl ObjectKey {
    fn new(kind: &str, namespace: Option<&str>, name: &str) -> Self {
        Self {
            namespace: if is_namespaced_kind(kind) {
                namespace.unwrap_or_default().to_owned()
            } else {
                String::new()
            },
            name: name.to_owned(),
        }
    }
}

#[derive(Debug, Default)]
struct Record {
    calls: Vec<HostCall>,
    logs: Vec<Value>,
}

/// The identity policy-server's requests are made with, for RBAC messages.
const POLICY_SERVER_USER: &str = "system:serviceaccount:kubewarden:policy-server-default";

impl Cluster {
    /// A cluster holding `objects` (see [`Self::insert`]).
    pub fn from_objects(objects: impl IntoIterator<Item = Value>) -> Self {
        objects.into_iter().fold(Self::default(), Self::with_object)
    }

    /// Adds `object`; see [`Self::insert`].
    pub fn with_object(mut self, object: Value) -> Self {
        self.insert(object);
        self
    }

    /// Stores `object` under its `kind`, namespace and name, replacing the
    /// object stored there, as an apply does. Returns whether it was stored:
    /// objects without a `kind` or a name, or namespaced without a namespace,
    /// are not.
    ///
    /// The stored copy of a kind the fake API server serves gets the
    /// `apiVersion` it is served at (see [`ObjectKind::api_version`]), as
    /// the API server converts on read.
    pub fn insert(&mut self, object: Value) -> bool {
        self.replace(object).is_ok()
    }

    /// [`Self::insert`], answering the object it replaced (`Ok(None)`: it is
    /// new), or giving `object` back when it cannot be stored.
    pub fn replace(&mut self, mut object: Value) -> Result<Option<Value>, Value> {
        let (Some(kind), Some(name)) = (
            str_at(&object, &["kind"]),
            str_at(&object, &["metadata", "name"]),
        ) else {
            return Err(object);
        };
        let namespace = str_at(&object, &["metadata", "namespace"]);
        if is_namespaced_kind(kind) && namespace.is_none() {
            return Err(object);
        }
        let key = ObjectKey::new(kind, namespace, name);
        let kind = kind.to_owned();
        if let (Some(served), Some(fields)) = (ObjectKind::from_kind(&kind), object.as_object_mut())
        {
            fields.insert("apiVersion".into(), served.api_version().into());
        }
        Ok(self.objects.entry(kind).or_default().insert(key, object))
    }

    /// Removes the object of `kind` named `name` (in `namespace`, for
    /// namespaced kinds), answering it.
    pub fn remove(&mut self, kind: &str, namespace: Option<&str>, name: &str) -> Option<Value> {
        self.objects
            .get_mut(kind)?
            .remove(&ObjectKey::new(kind, namespace, name))
    }

    /// The object of `kind` named `name` (in `namespace`, for namespaced
    /// kinds; ignored for cluster-scoped ones).
    pub fn get(&self, kind: &str, namespace: Option<&str>, name: &str) -> Option<&Value> {
        self.objects
            .get(kind)?
            .get(&ObjectKey::new(kind, namespace, name))
    }

    /// The objects of `kind` (in `namespace`, or in every namespace when
    /// `None`), ordered by namespace then name.
    pub fn list<'a>(
        &'a self,
        kind: &str,
        namespace: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Value> + 'a {
        self.objects
            .get(kind)
            .into_iter()
            .flat_map(BTreeMap::iter)
            .filter(move |(key, _)| namespace.is_none_or(|namespace| key.namespace == namespace))
            .map(|(_, object)| object)
    }

    /// [`Self::list`], keeping the objects whose labels `selector` selects.
    pub fn select<'a>(
        &'a self,
        kind: &str,
        namespace: Option<&'a str>,
        selector: &'a LabelSelector,
    ) -> impl Iterator<Item = &'a Value> + 'a {
        self.list(kind, namespace)
            .filter(move |object| selector.matches(&labels_of(object)))
    }

    /// The kinds of which objects are stored.
    pub fn kinds(&self) -> impl Iterator<Item = &str> {
        self.objects
            .iter()
            .filter(|(_, objects)| !objects.is_empty())
            .map(|(kind, _)| kind.as_str())
    }

    /// How many objects are stored, of every kind.
    pub fn len(&self) -> usize {
        self.objects.values().map(BTreeMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Makes every host call about `kind` fail, as when policy-server lacks
    /// the RBAC permission to read it.
    pub fn with_failing(mut self, kind: ObjectKind) -> Self {
        self.set_failing(kind, true);
        self
    }

    pub fn set_failing(&mut self, kind: ObjectKind, failing: bool) {
        if failing {
            self.failing.insert(kind);
        } else {
            self.failing.remove(&kind);
        }
    }

    /// The host calls received so far, oldest first (log calls excluded, see
    /// [`Self::guest_logs`]).
    pub fn host_calls(&self) -> Vec<HostCall> {
        self.record().calls.clone()
    }

    pub fn clear_host_calls(&self) {
        self.record().calls.clear();
    }

    /// The log events the guest sent through `kubewarden`/`tracing`/`log`.
    /// They are kept apart from [`Self::host_calls`] because they are not
    /// lookups: policy-server accepts them and forwards them to its own log.
    pub fn guest_logs(&self) -> Vec<Value> {
        self.record().logs.clone()
    }

    fn record(&self) -> MutexGuard<'_, Record> {
        // A panic while holding the lock leaves the record consistent (each
        // mutation is a single push or clear), so poisoning can be ignored.
        self.record.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Answers one waPC host call: the function policy-server registers as
    /// the waPC host callback, minus the module id.
    ///
    /// Serves `kubewarden`/`kubernetes` `get_resource`,
    /// `list_resources_by_namespace` and `list_resources_all` for the kinds
    /// of [`ObjectKind`], honouring label selectors, the `metadata.name` and
    /// `metadata.namespace` field selectors, and field masks. Accepts
    /// `kubewarden`/`tracing`/`log`. Everything else is
    /// [`HostCallError::Unsupported`].
    pub fn host_call(
        &self,
        binding: &str,
        namespace: &str,
        operation: &str,
        payload: &[u8],
    ) -> Result<Vec<u8>, HostCallError> {
        let parsed: Option<Value> = serde_json::from_slice(payload).ok();
        if (binding, namespace, operation) == ("kubewarden", "tracing", "log") {
            let event = parsed.unwrap_or_else(|| lossy_string(payload));
            self.record().logs.push(event);
            return Ok(Vec::new());
        }
        self.record().calls.push(HostCall {
            binding: binding.to_owned(),
            namespace: namespace.to_owned(),
            operation: operation.to_owned(),
            payload: parsed.unwrap_or_else(|| lossy_string(payload)),
        });

        let answer = match (binding, namespace, operation) {
            ("kubewarden", "kubernetes", "get_resource") => {
                self.get_resource(&parse_request(operation, payload)?)?
            }
            ("kubewarden", "kubernetes", "list_resources_by_namespace") => {
                self.list_resources_by_namespace(&parse_request(operation, payload)?)?
            }
            ("kubewarden", "kubernetes", "list_resources_all") => {
                self.list_resources_all(&parse_request(operation, payload)?)?
            }
            _ => {
                return Err(HostCallError::Unsupported {
                    binding: binding.to_owned(),
                    namespace: namespace.to_owned(),
                    operation: operation.to_owned(),
                })
            }
        };
        serde_json::to_vec(&answer).map_err(|e| HostCallError::BadRequest {
            operation: operation.to_owned(),
            reason: format!("cannot serialize the answer: {e}"),
        })
    }

    /// The answer to `get_resource`, as [`Self::host_call`] gives it
    /// (without recording the call): the object, pruned to the field masks.
    pub fn get_resource(&self, request: &GetResourceRequest) -> Result<Value, HostCallError> {
        const OPERATION: &str = "get_resource";
        let kind = served_kind(&request.api_version, &request.kind)?;
        let namespace = match (kind.is_namespaced(), request.namespace.as_deref()) {
            (true, Some(namespace)) => Some(namespace),
            (true, None) => {
                return Err(bad_request(
                    OPERATION,
                    format!("{} is namespaced: a namespace is required", kind.kind()),
                ))
            }
            (false, None) => None,
            (false, Some(namespace)) => {
                return Err(bad_request(
                    OPERATION,
                    format!(
                        "{} is cluster-scoped: namespace must be null, not {namespace:?}",
                        kind.kind()
                    ),
                ))
            }
        };
        self.check_allowed(kind, "get", Some(&request.name), namespace)?;
        let object = self
            .get(kind.kind(), namespace, &request.name)
            .ok_or_else(|| HostCallError::NotFound {
                resource: kind.qualified_resource(),
                name: request.name.clone(),
            })?;
        Ok(apply_field_masks(object, masks(&request.field_masks)))
    }

    /// The answer to `list_resources_by_namespace` (without recording the
    /// call): a typed list of the kind's objects in the namespace.
    pub fn list_resources_by_namespace(
        &self,
        request: &ListResourcesByNamespaceRequest,
    ) -> Result<Value, HostCallError> {
        let kind = served_kind(&request.api_version, &request.kind)?;
        if !kind.is_namespaced() {
            return Err(bad_request(
                "list_resources_by_namespace",
                format!("{} is cluster-scoped: use list_resources_all", kind.kind()),
            ));
        }
        self.check_allowed(kind, "list", None, Some(&request.namespace))?;
        let filter = ListFilter::new(
            "list_resources_by_namespace",
            request.label_selector.as_deref(),
            request.field_selector.as_deref(),
        )?;
        let items = self
            .list(kind.kind(), Some(&request.namespace))
            .filter(|object| filter.matches(object));
        Ok(list_answer(kind, items, masks(&request.field_masks)))
    }

    /// The answer to `list_resources_all` (without recording the call): a
    /// typed list of the kind's objects in every namespace.
    pub fn list_resources_all(
        &self,
        request: &ListAllResourcesRequest,
    ) -> Result<Value, HostCallError> {
        let kind = served_kind(&request.api_version, &request.kind)?;
        self.check_allowed(kind, "list", None, None)?;
        let filter = ListFilter::new(
            "list_resources_all",
            request.label_selector.as_deref(),
            request.field_selector.as_deref(),
        )?;
        let items = self
            .list(kind.kind(), None)
            .filter(|object| filter.matches(object));
        Ok(list_answer(kind, items, masks(&request.field_masks)))
    }

    /// Fails like an RBAC denial when the failure switch for `kind` is on.
    fn check_allowed(
        &self,
        kind: ObjectKind,
        verb: &str,
        name: Option<&str>,
        namespace: Option<&str>,
    ) -> Result<(), HostCallError> {
        if !self.failing.contains(&kind) {
            return Ok(());
        }
        let subject = match name {
            Some(name) => format!("{} \"{name}\"", kind.qualified_resource()),
            None => kind.qualified_resource(),
        };
        let scope = match namespace {
            Some(namespace) => format!("in the namespace \"{namespace}\""),
            None => "at the cluster scope".to_owned(),
        };
        Err(HostCallError::Forbidden(format!(
            "{subject} is forbidden: User \"{POLICY_SERVER_USER}\" cannot {verb} resource \"{}\" in API group \"{}\" {scope}",
            kind.resource(),
            kind.group(),
        )))
    }
}

/// The request body of `get_resource`, as the Kubewarden SDK
/// (`kubewarden_policy_sdk::host_capabilities::kubernetes`) encodes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetResourceRequest {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
    /// The fake cluster has no cache, so this changes nothing.
    pub disable_cache: bool,
    pub field_masks: Option<Vec<String>>,
}

/// The request body of `list_resources_by_namespace`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListResourcesByNamespaceRequest {
    pub api_version: String,
    pub kind: String,
    pub namespace: String,
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    pub field_masks: Option<Vec<String>>,
}

/// The request body of `list_resources_all`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListAllResourcesRequest {
    pub api_version: String,
    pub kind: String,
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    pub field_masks: Option<Vec<String>>,
}

fn parse_request<T: for<'de> Deserialize<'de>>(
    operation: &str,
    payload: &[u8],
) -> Result<T, HostCallError> {
    serde_json::from_slice(payload).map_err(|e| bad_request(operation, e.to_string()))
}

fn bad_request(operation: &str, reason: String) -> HostCallError {
    HostCallError::BadRequest {
        operation: operation.to_owned(),
        reason,
    }
}

/// The kind asked for, if the fake cluster serves it at that `apiVersion`.
fn served_kind(api_version: &str, kind: &str) -> Result<ObjectKind, HostCallError> {
    ObjectKind::from_kind(kind)
        .filter(|k| k.api_version() == api_version)
        .ok_or_else(|| HostCallError::UnknownResource {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
        })
}

fn masks(field_masks: &Option<Vec<String>>) -> &[String] {
    field_masks.as_deref().unwrap_or_default()
}

fn lossy_string(payload: &[u8]) -> Value {
    Value::String(String::from_utf8_lossy(payload).into_owned())
}

struct ListFilter {
    labels: LabelSelector,
    fields: FieldSelector,
}

impl ListFilter {
    fn new(
        operation: &str,
        label_selector: Option<&str>,
        field_selector: Option<&str>,
    ) -> Result<Self, HostCallError> {
        Ok(Self {
            labels: LabelSelector::parse(label_selector.unwrap_or_default())
                .map_err(|reason| bad_request(operation, reason))?,
            fields: FieldSelector::parse(field_selector.unwrap_or_default())
                .map_err(|reason| bad_request(operation, reason))?,
        })
    }

    fn matches(&self, object: &Value) -> bool {
        self.labels.matches(&labels_of(object)) && self.fields.matches(object)
    }
}

/// A typed list (`PodDisruptionBudgetList` at `policy/v1`, ...), as the API
/// server answers: the guest deserializes it into `k8s_openapi::List<T>`,
/// which rejects any other `apiVersion`/`kind`, a generic `v1 List` included.
fn list_answer<'a>(
    kind: ObjectKind,
    items: impl Iterator<Item = &'a Value>,
    masks: &[String],
) -> Value {
    let items: Vec<Value> = items.map(|item| apply_field_masks(item, masks)).collect();
    json!({
        "apiVersion": kind.api_version(),
        "kind": format!("{}List", kind.kind()),
        "metadata": {"resourceVersion": "1"},
        "items": items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn namespace(name: &str, labels: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}})
    }

    fn pdb(namespace: &str, name: &str, app: &str) -> Value {
        json!({
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": name, "namespace": namespace, "labels": {"app": app}},
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": app}}},
        })
    }

    fn node(name: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}})
    }

    fn cluster() -> Cluster {
        Cluster::from_objects([
            namespace("linkerd", json!({"linkerd.io/is-control-plane": "true"})),
            namespace("default", json!({})),
            pdb("linkerd", "linkerd-destination", "destination"),
            pdb("linkerd", "linkerd-identity", "identity"),
            pdb("emojivoto", "web", "web"),
            node("node-a"),
            node("node-b"),
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "linkerd"}}),
        ])
    }

    fn call(cluster: &Cluster, operation: &str, payload: Value) -> Result<Value, HostCallError> {
        let answer = cluster.host_call(
            "kubewarden",
            "kubernetes",
            operation,
            payload.to_string().as_bytes(),
        )?;
        Ok(serde_json::from_slice(&answer).expect("answers are JSON"))
    }

    fn get(api_version: &str, kind: &str, name: &str, namespace: Option<&str>) -> Value {
        json!({
            "api_version": api_version,
            "kind": kind,
            "name": name,
            "namespace": namespace,
            "disable_cache": false,
            "field_masks": null,
        })
    }

    fn list_in(kind_api: (&str, &str), namespace: &str, label_selector: Option<&str>) -> Value {
        json!({
            "api_version": kind_api.0,
            "kind": kind_api.1,
            "namespace": namespace,
            "label_selector": label_selector,
            "field_selector": null,
            "field_masks": null,
        })
    }

    fn list_all(kind_api: (&str, &str)) -> Value {
        json!({
            "api_version": kind_api.0,
            "kind": kind_api.1,
            "label_selector": null,
            "field_selector": null,
            "field_masks": null,
        })
    }

    fn item_names(list: &Value) -> Vec<&str> {
        list["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|item| str_at(item, &["metadata", "name"]))
            .collect()
    }

    #[test]
    fn stores_objects_of_every_kind() {
        let cluster = cluster();
        assert_eq!(cluster.list("Namespace", None).count(), 2);
        assert_eq!(cluster.list("PodDisruptionBudget", None).count(), 3);
        assert_eq!(cluster.list("Node", None).count(), 2);
        assert_eq!(
            cluster
                .get("Deployment", Some("linkerd"), "d")
                .and_then(|d| str_at(d, &["kind"])),
            Some("Deployment")
        );
        assert_eq!(
            cluster.kinds().collect::<Vec<_>>(),
            ["Deployment", "Namespace", "Node", "PodDisruptionBudget"]
        );
        assert_eq!(cluster.len(), 8);
    }

    #[rstest]
    #[case::namespaced_without_namespace(json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "p"}}))]
    #[case::without_name(json!({"kind": "Namespace", "metadata": {}}))]
    #[case::without_kind(json!({"metadata": {"name": "n"}}))]
    #[case::not_an_object(json!("not an object"))]
    fn objects_without_an_address_are_not_stored(#[case] object: Value) {
        let mut cluster = Cluster::default();
        assert!(!cluster.insert(object.clone()));
        assert_eq!(cluster.replace(object.clone()), Err(object));
        assert!(cluster.is_empty());
    }

    #[test]
    fn replace_answers_the_previous_object_and_remove_takes_it_out() {
        let mut cluster = Cluster::default();
        let first = json!({"apiVersion": "apps/v1", "kind": "Deployment",
                           "metadata": {"name": "web", "namespace": "shop"}, "spec": {"replicas": 1}});
        let mut second = first.clone();
        second["spec"]["replicas"] = json!(3);
        assert_eq!(cluster.replace(first.clone()), Ok(None));
        assert_eq!(cluster.replace(second.clone()), Ok(Some(first)));
        assert_eq!(
            cluster.get("Deployment", Some("shop"), "web"),
            Some(&second)
        );
        assert_eq!(cluster.get("Deployment", Some("other"), "web"), None);
        assert_eq!(
            cluster.remove("Deployment", Some("shop"), "web"),
            Some(second)
        );
        assert!(cluster.is_empty());
        assert_eq!(cluster.remove("Deployment", Some("shop"), "web"), None);
    }

    #[test]
    fn cluster_scoped_objects_ignore_a_stray_namespace() {
        let cluster = Cluster::default().with_object(
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n", "namespace": "stray"}}),
        );
        assert!(cluster.get("Node", None, "n").is_some());
        assert!(cluster.get("Node", Some("anything"), "n").is_some());
    }

    #[test]
    fn lists_by_namespace_and_selects_by_labels() {
        let cluster = cluster();
        let names = |objects: Vec<&Value>| -> Vec<String> {
            objects
                .into_iter()
                .filter_map(|o| str_at(o, &["metadata", "name"]).map(str::to_owned))
                .collect()
        };
        assert_eq!(
            names(
                cluster
                    .list("PodDisruptionBudget", Some("linkerd"))
                    .collect()
            ),
            ["linkerd-destination", "linkerd-identity"]
        );
        let identity = LabelSelector::parse("app=identity").expect("selector");
        assert_eq!(
            names(
                cluster
                    .select("PodDisruptionBudget", None, &identity)
                    .collect()
            ),
            ["linkerd-identity"]
        );
        assert_eq!(cluster.list("ReplicaSet", None).count(), 0);
    }

    #[test]
    fn get_resource_answers_the_object() {
        let cluster = cluster();
        let answer = call(
            &cluster,
            "get_resource",
            get("v1", "Namespace", "linkerd", None),
        );
        assert_eq!(
            answer,
            Ok(namespace(
                "linkerd",
                json!({"linkerd.io/is-control-plane": "true"})
            ))
        );

        let answer = call(
            &cluster,
            "get_resource",
            get("policy/v1", "PodDisruptionBudget", "web", Some("emojivoto")),
        );
        assert_eq!(answer, Ok(pdb("emojivoto", "web", "web")));

        let answer = call(&cluster, "get_resource", get("v1", "Node", "node-b", None));
        assert_eq!(answer, Ok(node("node-b")));
    }

    #[test]
    fn get_resource_of_a_missing_object_is_not_found() {
        let cluster = cluster();
        let error = call(
            &cluster,
            "get_resource",
            get("v1", "Namespace", "absent", None),
        )
        .expect_err("absent");
        assert_eq!(error.to_string(), "namespaces \"absent\" not found");

        let error = call(
            &cluster,
            "get_resource",
            get("policy/v1", "PodDisruptionBudget", "web", Some("linkerd")),
        )
        .expect_err("wrong namespace");
        assert_eq!(
            error.to_string(),
            "poddisruptionbudgets.policy \"web\" not found"
        );
    }

    #[test]
    fn get_resource_checks_scope_and_api_version() {
        let cluster = cluster();
        let pdb_without_namespace = get("policy/v1", "PodDisruptionBudget", "web", None);
        assert!(matches!(
            call(&cluster, "get_resource", pdb_without_namespace),
            Err(HostCallError::BadRequest { .. })
        ));
        let namespace_in_namespace = get("v1", "Namespace", "linkerd", Some("linkerd"));
        assert!(matches!(
            call(&cluster, "get_resource", namespace_in_namespace),
            Err(HostCallError::BadRequest { .. })
        ));
        let removed_version = get(
            "policy/v1beta1",
            "PodDisruptionBudget",
            "web",
            Some("emojivoto"),
        );
        assert!(matches!(
            call(&cluster, "get_resource", removed_version),
            Err(HostCallError::UnknownResource { .. })
        ));
        let daemon_set = get("apps/v1", "DaemonSet", "d", Some("linkerd"));
        assert!(matches!(
            call(&cluster, "get_resource", daemon_set),
            Err(HostCallError::UnknownResource { .. })
        ));
    }

    #[test]
    fn get_resource_applies_field_masks() {
        let cluster = cluster();
        let mut request = get("v1", "Namespace", "linkerd", None);
        request["field_masks"] = json!(["metadata.labels"]);
        assert_eq!(
            call(&cluster, "get_resource", request),
            Ok(json!({
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"labels": {"linkerd.io/is-control-plane": "true"}},
            }))
        );
    }

    #[test]
    fn list_by_namespace_answers_a_typed_list() {
        let cluster = cluster();
        let list = call(
            &cluster,
            "list_resources_by_namespace",
            list_in(("policy/v1", "PodDisruptionBudget"), "linkerd", None),
        )
        .expect("list");
        assert_eq!(list["apiVersion"], "policy/v1");
        assert_eq!(list["kind"], "PodDisruptionBudgetList");
        assert_eq!(
            item_names(&list),
            ["linkerd-destination", "linkerd-identity"]
        );
        assert_eq!(
            list["items"][0],
            pdb("linkerd", "linkerd-destination", "destination")
        );

        let empty = call(
            &cluster,
            "list_resources_by_namespace",
            list_in(("policy/v1", "PodDisruptionBudget"), "nowhere", None),
        )
        .expect("list");
        assert_eq!(empty["items"], json!([]));
    }

    #[test]
    fn list_by_namespace_honours_label_selectors() {
        let cluster = cluster();
        let list = call(
            &cluster,
            "list_resources_by_namespace",
            list_in(
                ("policy/v1", "PodDisruptionBudget"),
                "linkerd",
                Some("app=identity"),
            ),
        )
        .expect("list");
        assert_eq!(item_names(&list), ["linkerd-identity"]);

        let error = call(
            &cluster,
            "list_resources_by_namespace",
            list_in(
                ("policy/v1", "PodDisruptionBudget"),
                "linkerd",
                Some("app in identity"),
            ),
        );
        assert!(matches!(error, Err(HostCallError::BadRequest { .. })));
    }

    #[test]
    fn list_by_namespace_of_a_cluster_scoped_kind_is_refused() {
        let cluster = cluster();
        let error = call(
            &cluster,
            "list_resources_by_namespace",
            list_in(("v1", "Node"), "linkerd", None),
        );
        assert!(matches!(error, Err(HostCallError::BadRequest { .. })));
    }

    #[test]
    fn list_all_answers_every_object_of_the_kind() {
        let cluster = cluster();
        let pdbs = call(
            &cluster,
            "list_resources_all",
            list_all(("policy/v1", "PodDisruptionBudget")),
        )
        .expect("list");
        // Ordered by namespace, then name.
        assert_eq!(
            item_names(&pdbs),
            ["web", "linkerd-destination", "linkerd-identity"]
        );

        let nodes = call(&cluster, "list_resources_all", list_all(("v1", "Node"))).expect("list");
        assert_eq!(nodes["kind"], "NodeList");
        assert_eq!(item_names(&nodes), ["node-a", "node-b"]);

        let mut by_name = list_all(("v1", "Namespace"));
        by_name["field_selector"] = json!("metadata.name=linkerd");
        let namespaces = call(&cluster, "list_resources_all", by_name).expect("list");
        assert_eq!(item_names(&namespaces), ["linkerd"]);
    }

    #[test]
    fn failure_switch_fails_only_that_kind_like_an_rbac_denial() {
        let cluster = cluster().with_failing(ObjectKind::PodDisruptionBudget);
        let error = call(
            &cluster,
            "list_resources_by_namespace",
            list_in(("policy/v1", "PodDisruptionBudget"), "linkerd", None),
        )
        .expect_err("failing");
        assert_eq!(
            error.to_string(),
            "poddisruptionbudgets.policy is forbidden: User \"system:serviceaccount:kubewarden:policy-server-default\" \
             cannot list resource \"poddisruptionbudgets\" in API group \"policy\" in the namespace \"linkerd\""
        );
        assert!(matches!(
            call(
                &cluster,
                "list_resources_all",
                list_all(("policy/v1", "PodDisruptionBudget"))
            ),
            Err(HostCallError::Forbidden(_))
        ));
        assert!(call(
            &cluster,
            "get_resource",
            get("v1", "Namespace", "linkerd", None)
        )
        .is_ok());

        let mut cluster = cluster.with_failing(ObjectKind::Namespace);
        let error = call(
            &cluster,
            "get_resource",
            get("v1", "Namespace", "linkerd", None),
        )
        .expect_err("failing");
        assert!(error
            .to_string()
            .starts_with("namespaces \"linkerd\" is forbidden"));
        assert!(error.to_string().ends_with("at the cluster scope"));

        cluster.set_failing(ObjectKind::Namespace, false);
        assert!(call(
            &cluster,
            "get_resource",
            get("v1", "Namespace", "linkerd", None)
        )
        .is_ok());
    }

    #[test]
    fn other_capabilities_are_unsupported() {
        let cluster = cluster();
        for (binding, namespace, operation) in [
            ("kubewarden", "oci", "v1/manifest_digest"),
            ("kubewarden", "kubernetes", "can_i"),
            ("kubewarden", "net", "v1/dns_lookup_host"),
            ("other", "kubernetes", "get_resource"),
        ] {
            let error = cluster
                .host_call(binding, namespace, operation, b"{}")
                .expect_err(operation);
            assert_eq!(
                error.to_string(),
                format!("unsupported host capability {binding}/{namespace}/{operation}")
            );
        }
    }

    #[test]
    fn malformed_requests_are_bad_requests() {
        let cluster = cluster();
        for payload in [&b"not json"[..], b"{}", b"{\"kind\": 1}"] {
            assert!(matches!(
                cluster.host_call("kubewarden", "kubernetes", "get_resource", payload),
                Err(HostCallError::BadRequest { .. })
            ));
        }
    }

    #[test]
    fn host_calls_are_recorded_and_shared_between_clones() {
        let cluster = cluster();
        let handle = cluster.clone();
        let request = get("v1", "Namespace", "linkerd", None);
        call(&cluster, "get_resource", request.clone()).expect("found");
        cluster
            .host_call("kubewarden", "oci", "v1/manifest_digest", b"\xff")
            .expect_err("unsupported");
        cluster
            .host_call(
                "kubewarden",
                "tracing",
                "log",
                br#"{"level":"info","msg":"hi"}"#,
            )
            .expect("logs are accepted");

        let calls = handle.host_calls();
        assert_eq!(
            calls,
            [
                HostCall {
                    binding: "kubewarden".into(),
                    namespace: "kubernetes".into(),
                    operation: "get_resource".into(),
                    payload: request,
                },
                HostCall {
                    binding: "kubewarden".into(),
                    namespace: "oci".into(),
                    operation: "v1/manifest_digest".into(),
                    payload: json!("\u{fffd}"),
                },
            ]
        );
        assert_eq!(calls[0].kind(), Some("Namespace"));
        assert_eq!(handle.guest_logs(), [json!({"level": "info", "msg": "hi"})]);

        handle.clear_host_calls();
        assert!(cluster.host_calls().is_empty());
    }

    #[test]
    fn stored_objects_are_served_at_the_current_api_version() {
        let mut old = pdb("ns", "p", "a");
        old["apiVersion"] = json!("policy/v1beta1");
        let cluster = Cluster::default().with_object(old);
        let answer = call(
            &cluster,
            "get_resource",
            get("policy/v1", "PodDisruptionBudget", "p", Some("ns")),
        )
        .expect("found");
        assert_eq!(answer["apiVersion"], "policy/v1");
    }
}
