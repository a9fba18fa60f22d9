//! The admission edge: reads the request, decides which kind it is, asks the
//! cluster only what the enabled rules need, runs the rules and answers.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::decode::{json_object, Key};
use crate::finding::{Finding, RuleId};
use crate::injection::{EffectiveInjection, NamespaceFacts, NamespaceInjection};
use crate::json_value::Members;
use crate::lifecycle::{broken_rules, EditScope, Lifecycle};
use crate::mutation::apply_to_text;
use crate::objects::{
    MutatingWebhookConfiguration, NamespaceObject, Node, ObjectMeta, PodDisruptionBudget,
    PrometheusObject,
};
use crate::phrasebook::{message_line, LookupFailure, ObjectRef};
use crate::rules::{
    check_all, critical_component, needing_a_node_each, needs_control_plane_namespace, Context,
    Lookup, NodeChange, Operation, Subject,
};
use crate::settings::Settings;
use crate::verdict::{AuditAnnotations, Verdict};
use crate::workload::{decode_json, Workload, WorkloadKind};

/// Kubewarden's `ValidationResponse`, as the policy server reads it.
#[derive(Debug, Clone, serde::Serialize, Deserialize)]
pub struct Response {
    pub accepted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    /// The object's JSON text with the edits made, written out as it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mutated_object: Option<Box<RawValue>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warnings: Option<Vec<String>>,
    /// On a mutation, the rules that made it (`mutated-by`) and what each
    /// fixed: policy-server passes them on, and the API server writes them
    /// to its audit log under the webhook's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit_annotations: Option<AuditAnnotations>,
}

impl Response {
    pub fn accept() -> Self {
        Self {
            accepted: true,
            message: None,
            code: None,
            mutated_object: None,
            warnings: None,
            audit_annotations: None,
        }
    }

    pub fn reject(message: String, code: u16) -> Self {
        Self {
            accepted: false,
            message: Some(message),
            code: Some(code),
            ..Self::accept()
        }
    }

    fn with_warnings(mut self, warnings: Vec<String>) -> Self {
        if !warnings.is_empty() {
            self.warnings = Some(warnings);
        }
        self
    }
}

/// Cluster lookups through Kubewarden's host capabilities. Errors are plain
/// text: they end up in a warning, never in a rejection.
pub trait ClusterLookup {
    fn namespace(&self, name: &str) -> Result<NamespaceObject, String>;
    fn disruption_budgets(&self, namespace: &str) -> Result<Vec<PodDisruptionBudget>, String>;
    fn nodes(&self) -> Result<Vec<Node>, String>;
    /// The Deployments and StatefulSets of `namespace`.
    fn control_plane_workloads(&self, namespace: &str) -> Result<Vec<Workload>, String>;
}

/// The validation payload: `{"request": AdmissionRequest, "settings": ...}`.
#[derive(Default)]
struct Payload<'a> {
    request: Option<AdmissionRequest<'a>>,
    settings: Option<&'a RawValue>,
}

json_object!(lenient Payload<'de> {
    "request" => request,
    "settings" => settings,
});

#[derive(Default)]
struct AdmissionRequest<'a> {
    kind: Option<GroupVersionKind>,
    operation: Option<String>,
    sub_resource: Option<String>,
    namespace: Option<String>,
    object: Option<&'a RawValue>,
    old_object: Option<&'a RawValue>,
}

json_object!(lenient AdmissionRequest<'de> {
    "kind" => kind,
    "operation" => operation,
    "subResource" => sub_resource,
    "namespace" => namespace,
    "object" => object,
    "oldObject" => old_object,
});

#[derive(Default)]
struct GroupVersionKind {
    group: String,
    kind: Option<String>,
}

json_object!(lenient GroupVersionKind {
    "group" => group,
    "kind" => kind,
});

#[derive(Debug, thiserror::Error)]
enum RequestError {
    #[error("the request is not a Kubewarden validation payload: {0}")]
    Payload(String),
    #[error("invalid policy settings: {0}")]
    Settings(String),
    #[error("{kind} {name}: {source}")]
    Object {
        kind: String,
        name: String,
        source: crate::workload::DecodeError,
    },
    #[error("the {0} request carries no object")]
    NoObject(String),
    #[error("{kind} {name}: the object has an unexpected shape: {source}")]
    Edit {
        kind: String,
        name: String,
        source: crate::mutation::EditError,
    },
}

impl RequestError {
    /// Every failure is the request's: malformed input is a 400, never a
    /// server error.
    fn code(&self) -> u16 {
        400
    }
}

/// Validates one request. Never panics on input: anything unreadable is a
/// rejection that says what could not be read.
pub fn validate(payload: &[u8], cluster: &dyn ClusterLookup) -> Response {
    evaluate(payload, cluster)
        .unwrap_or_else(|error| Response::reject(error.to_string(), error.code()))
}

fn evaluate(payload: &[u8], cluster: &dyn ClusterLookup) -> Result<Response, RequestError> {
    let payload: Payload<'_> = decode_payload(payload).map_err(RequestError::Payload)?;
    let missing = |field: &str| RequestError::Payload(format!("missing field `{field}`"));
    let request = payload.request.ok_or_else(|| missing("request"))?;
    let group = request.kind.as_ref().map_or("", |kind| kind.group.as_str());
    let kind_name = request
        .kind
        .as_ref()
        .and_then(|kind| kind.kind.clone())
        .ok_or_else(|| missing("kind"))?;
    let settings = match payload.settings {
        Some(raw) if raw.get() != "null" => {
            let settings = Settings::from_json(raw.get().as_bytes())
                .map_err(|e| RequestError::Settings(e.to_string()))?;
            settings.check().map_err(RequestError::Settings)?;
            settings
        }
        _ => Settings::from_json(b"{}").map_err(|e| RequestError::Settings(e.to_string()))?,
    };
    let operation = match request.operation.as_deref() {
        Some("CREATE") => Operation::Create,
        Some("UPDATE") => Operation::Update,
        // Read only for Nodes; CONNECT carries nothing to check.
        Some("DELETE") => Operation::Delete,
        _ => return Ok(Response::accept()),
    };
    if request
        .sub_resource
        .as_deref()
        .is_some_and(|s| !s.is_empty())
    {
        return Ok(Response::accept());
    }
    let Some(kind) = SubjectKind::from_group_kind(group, &kind_name) else {
        return Ok(Response::accept());
    };
    if kind == SubjectKind::Node {
        return Ok(judge_node_change(
            operation,
            request.object,
            request.old_object,
            &settings,
            cluster,
        ));
    }
    if operation == Operation::Delete {
        return Ok(Response::accept());
    }
    let raw_object = request
        .object
        .filter(|raw| raw.get() != "null")
        .ok_or_else(|| RequestError::NoObject(kind_name.clone()))?;
    let subject = kind
        .decode(raw_object.get())
        .map_err(|source| RequestError::Object {
            kind: kind_name.clone(),
            name: object_name(raw_object.get()),
            source,
        })?;
    let meta = subject_meta(&subject);
    // The API server names a Namespace's own name as the request's
    // namespace; a cluster-scoped object lives in none.
    let namespace = if kind.is_cluster_scoped() {
        String::new()
    } else {
        request
            .namespace
            .filter(|ns| !ns.is_empty())
            .unwrap_or_else(|| meta.namespace.clone())
    };
    let object = ObjectRef {
        kind: kind_name.clone(),
        namespace: namespace.clone(),
        name: meta.display_name().to_string(),
    };

    let old_object = request.old_object.filter(|raw| raw.get() != "null");
    let mut context = gather_context(&subject, operation, namespace, &settings, cluster);
    if let (Subject::Namespace(_), Operation::Update, Some(old)) = (&subject, operation, old_object)
    {
        // Only systemNamespaces reads it. Unreadable, it counts as a
        // namespace that lacked the label too: warned about, never mutated.
        if settings.rules.is_on(RuleId::SystemNamespaces) {
            context.previous_namespace = decode_json(old.get()).ok();
        }
    }
    let findings = check_all(&subject, &context, &settings);
    let lifecycle = lifecycle_of(
        kind,
        &subject,
        raw_object,
        old_object,
        &mut context,
        &findings,
        &settings,
        cluster,
    );
    let findings = lifecycle.weigh(findings, &settings);
    let verdict = Verdict::from_findings(findings, &settings.rules, &object);
    // The edge's own warning comes first, whatever the rules say.
    let edge_warning = match &context.namespace_injection {
        NamespaceInjection::Unknown { failure }
            if context.injection.is_some_and(|d| d.namespace_unknown) =>
        {
            Some(namespace_unknown(&object, &context.namespace, failure))
        }
        _ => None,
    };
    let warnings = |rules: Vec<String>| edge_warning.iter().cloned().chain(rules).collect();
    if let Some(message) = verdict.rejection_message(&object) {
        return Ok(Response::reject(message, 400).with_warnings(warnings(verdict.warnings)));
    }
    if verdict.edits.is_empty() {
        return Ok(Response::accept().with_warnings(warnings(verdict.warnings)));
    }
    // The edits go into the request's own text: no second decode, no tree.
    let edit_error = |source| RequestError::Edit {
        kind: object.kind.clone(),
        name: object.name.clone(),
        source,
    };
    let mutated = apply_to_text(raw_object.get(), &verdict.edits).map_err(edit_error)?;
    // Checked once more, so a faulty splice is a rejection, never an answer
    // the policy server cannot read.
    let mutated = RawValue::from_string(mutated).map_err(|_| {
        edit_error(crate::mutation::EditError {
            path: String::new(),
            reason: "the edited object is not well-formed JSON",
        })
    })?;
    let audit_annotations = verdict.mutation_annotations();
    let mut rule_warnings = verdict.warnings;
    if !rule_warnings.is_empty() {
        // The rules' warnings speak of the object as stored: judged again
        // with the fixes made, none says a request is missing that a fix
        // just added.
        if let Ok(fixed) = kind.decode(mutated.get()) {
            let findings = lifecycle.weigh(check_all(&fixed, &context, &settings), &settings);
            rule_warnings = Verdict::from_findings(findings, &settings.rules, &object).warnings;
        }
    }
    let warnings = warnings(rule_warnings);
    let mut response = Response::accept().with_warnings(warnings);
    response.mutated_object = Some(mutated);
    response.audit_annotations = Some(audit_annotations);
    Ok(response)
}

/// The warning for pods judged without their namespace: why it could not be
/// read, and the remedy for that cause.
fn namespace_unknown(object: &ObjectRef, namespace: &str, failure: &LookupFailure) -> String {
    let what = format!("namespace {namespace:?}");
    let problem = format!(
        "{}, so its labels and annotation, which can turn injection off, are unknown: the pods were judged as not meshed, and nothing was added or rejected for the mesh",
        failure.what_happened(&what)
    );
    let fix = failure.remedy(
        "get",
        "v1",
        "Namespace",
        &format!("create Namespace {namespace} before its workloads (the API server refuses an object whose namespace does not exist; in a manifest, put the Namespace first)"),
    );
    message_line(None, object, &problem, &fix)
}

fn decode_payload(payload: &[u8]) -> Result<Payload<'_>, String> {
    let text = std::str::from_utf8(payload).map_err(|e| format!("not UTF-8 ({e})"))?;
    decode_json(text).map_err(|e| e.0)
}

/// The name of an object that failed to decode, for the message.
fn object_name(json: &str) -> String {
    // Only the name: the rest of the metadata may be what failed.
    #[derive(Default)]
    struct Named {
        metadata: NameOnly,
    }
    json_object!(lenient Named { "metadata" => metadata });
    #[derive(Default)]
    struct NameOnly {
        name: String,
    }
    json_object!(lenient NameOnly { "name" => name });
    serde_json::from_str::<Named>(json)
        .ok()
        .map(|object| object.metadata.name)
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "<unnamed>".to_string())
}

/// The kinds the policy reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SubjectKind {
    Workload(WorkloadKind),
    Namespace,
    DisruptionBudget,
    WebhookConfiguration,
    Prometheus,
    /// Judged on its own path ([`judge_node_change`]), never refused.
    Node,
}

impl SubjectKind {
    fn from_group_kind(group: &str, kind: &str) -> Option<Self> {
        if let Some(workload) = WorkloadKind::from_group_kind(group, kind) {
            return Some(Self::Workload(workload));
        }
        Some(match (group, kind) {
            ("", "Namespace") => Self::Namespace,
            ("policy", "PodDisruptionBudget") => Self::DisruptionBudget,
            ("admissionregistration.k8s.io", "MutatingWebhookConfiguration") => {
                Self::WebhookConfiguration
            }
            ("monitoring.coreos.com", "Prometheus") => Self::Prometheus,
            ("", "Node") => Self::Node,
            _ => return None,
        })
    }

    fn is_cluster_scoped(self) -> bool {
        matches!(
            self,
            Self::Namespace | Self::WebhookConfiguration | Self::Node
        )
    }

    fn decode(self, json: &str) -> Result<Subject, crate::workload::DecodeError> {
        Ok(match self {
            Self::Workload(kind) => Subject::Workload(Workload::decode(kind, json)?),
            Self::Namespace => Subject::Namespace(decode_json(json)?),
            Self::DisruptionBudget => Subject::DisruptionBudget(decode_json(json)?),
            Self::WebhookConfiguration => {
                Subject::InjectorWebhook(decode_json::<MutatingWebhookConfiguration>(json)?)
            }
            Self::Prometheus => Subject::Prometheus(decode_json::<PrometheusObject>(json)?),
            // Read before and after by judge_node_change, never here.
            Self::Node => {
                return Err(crate::workload::DecodeError(
                    "a Node is judged as a change, by judge_node_change".to_string(),
                ))
            }
        })
    }
}

fn subject_meta(subject: &Subject) -> &ObjectMeta {
    match subject {
        Subject::Workload(workload) => &workload.meta,
        Subject::Namespace(namespace) => &namespace.metadata,
        Subject::DisruptionBudget(budget) => &budget.metadata,
        Subject::InjectorWebhook(configuration) => &configuration.metadata,
        Subject::Prometheus(prometheus) => &prometheus.metadata,
        Subject::NodeChange(change) => &change.before.metadata,
    }
}

/// A Node UPDATE or DELETE: answered with warnings at most, as operators
/// cordon and delete nodes in emergencies. A change that takes no room
/// from any pod (a kubelet's heartbeat, a label) is answered before any
/// lookup; an unreadable Node is accepted with a warning that says so.
fn judge_node_change(
    operation: Operation,
    object: Option<&RawValue>,
    old_object: Option<&RawValue>,
    settings: &Settings,
    cluster: &dyn ClusterLookup,
) -> Response {
    if operation == Operation::Create || !settings.rules.is_on(RuleId::NodeChanges) {
        return Response::accept();
    }
    fn read(raw: Option<&RawValue>) -> Result<Node, String> {
        let raw = raw.filter(|raw| raw.get() != "null");
        let raw = raw.ok_or_else(|| "the request does not carry it".to_string())?;
        decode_json::<Node>(raw.get()).map_err(|error| error.0)
    }
    let change = read(old_object).and_then(|before| {
        let after = match operation {
            Operation::Delete => None,
            _ => Some(read(object)?),
        };
        Ok(NodeChange { before, after })
    });
    let change = match change {
        Ok(change) => change,
        Err(error) => {
            let node = ObjectRef {
                kind: "Node".to_string(),
                namespace: String::new(),
                name: object
                    .or(old_object)
                    .map_or_else(|| "<unnamed>".to_string(), |raw| object_name(raw.get())),
            };
            return Response::accept().with_warnings(vec![message_line(
                Some(RuleId::NodeChanges.name()),
                &node,
                &format!("the Node could not be read ({error}), so whether the change leaves the critical control-plane components enough nodes is unknown; it was let through"),
                "nothing on the Node; check what sent the request",
            )]);
        }
    };
    if !change.narrows_placement() {
        return Response::accept();
    }
    let object = ObjectRef {
        kind: "Node".to_string(),
        namespace: String::new(),
        name: change.before.metadata.display_name().to_string(),
    };
    let mut context = Context::new(operation, "");
    context.control_plane_workloads = looked_up(
        cluster
            .control_plane_workloads(&settings.control_plane.namespace)
            .map(Into::into),
    );
    // Nodes are listed only when a critical component needs a node each.
    let needs_nodes = match &context.control_plane_workloads {
        Lookup::Found(workloads) => !needing_a_node_each(workloads, settings).is_empty(),
        _ => false,
    };
    if needs_nodes {
        context.nodes = looked_up(cluster.nodes());
    }
    let findings = check_all(&Subject::NodeChange(change), &context, settings);
    let verdict = Verdict::from_findings(findings, &settings.rules, &object);
    // Never a refusal: validate_settings refuses `enforce` for the rule,
    // and it finds nothing Forbidden, so all it says is a warning.
    Response::accept().with_warnings(verdict.warnings)
}

/// Looks up only what an enabled rule will read for this object.
fn gather_context(
    subject: &Subject,
    operation: Operation,
    namespace: String,
    settings: &Settings,
    cluster: &dyn ClusterLookup,
) -> Context {
    let mut context = Context::new(operation, namespace);
    let rules = &settings.rules;
    if let Subject::InjectorWebhook(configuration) = subject {
        if rules.is_on(RuleId::InjectorWebhook)
            && needs_control_plane_namespace(configuration, settings)
        {
            context.control_plane_namespace =
                looked_up(cluster.namespace(&settings.control_plane.namespace));
        }
        return context;
    }
    let Subject::Workload(workload) = subject else {
        return context;
    };
    resolve_injection(&mut context, workload, settings, cluster);
    if critical_component(workload, &context.namespace, settings).is_some() {
        if rules.is_on(RuleId::DisruptionBudgets) {
            context.disruption_budgets = looked_up(cluster.disruption_budgets(&context.namespace));
        }
        if rules.is_on(RuleId::NodeCapacity) {
            context.nodes = looked_up(cluster.nodes());
        }
    }
    context
}

/// A host answer as the rules see it: the error told apart by kind.
fn looked_up<T>(answer: Result<T, String>) -> Lookup<T> {
    match answer {
        Ok(found) => Lookup::Found(found),
        Err(error) => Lookup::Failed(LookupFailure::from_host_error(&error)),
    }
}

/// Linkerd's injection decision for the workload's pods, reading the
/// namespace from the cluster only when an injection rule is on and the pod
/// does not decide on its own (and only once per request).
fn resolve_injection(
    context: &mut Context,
    workload: &Workload,
    settings: &Settings,
    cluster: &dyn ClusterLookup,
) {
    let injection_rules_on = [
        RuleId::InjectionAnnotation,
        RuleId::SafeToEvict,
        RuleId::ProxyPresent,
        RuleId::ProxyResources,
        RuleId::SystemNamespaces,
    ]
    .into_iter()
    .any(|rule| settings.rules.is_on(rule));
    if injection_rules_on
        && context.namespace_injection == NamespaceInjection::NotNeeded
        && EffectiveInjection::needs_namespace(workload, &context.namespace, settings)
    {
        context.namespace_injection = if context.namespace.is_empty() {
            NamespaceInjection::Unknown {
                failure: LookupFailure::Failed("the request names no namespace".to_string()),
            }
        } else {
            match cluster.namespace(&context.namespace) {
                Ok(namespace) => NamespaceInjection::Known(NamespaceFacts::of(&namespace.metadata)),
                Err(error) => NamespaceInjection::Unknown {
                    failure: LookupFailure::from_host_error(&error),
                },
            }
        };
    }
    context.injection = Some(EffectiveInjection::resolve(
        workload,
        &context.namespace,
        &context.namespace_injection,
        settings,
    ));
}

/// What the request's place in the cluster's life allows: which edits it
/// may carry, whether a controller owns it, and (on UPDATE) which rules its
/// oldObject already broke. The old object is read only when a finding
/// would otherwise be refused or an edit needs the template comparison.
#[allow(clippy::too_many_arguments)]
fn lifecycle_of(
    kind: SubjectKind,
    subject: &Subject,
    raw_object: &RawValue,
    raw_old_object: Option<&RawValue>,
    context: &mut Context,
    findings: &[Finding],
    settings: &Settings,
    cluster: &dyn ClusterLookup,
) -> Lifecycle {
    let workload_kind = match kind {
        SubjectKind::Workload(workload_kind) => Some(workload_kind),
        _ => None,
    };
    let owner = match subject {
        Subject::Workload(workload) => workload.meta.controller_owner().map(ToString::to_string),
        _ => None,
    };
    let mut lifecycle = Lifecycle::unowned_create();
    lifecycle.owner = owner;
    if context.operation == Operation::Create {
        lifecycle.edits = EditScope::for_request(
            context.operation,
            workload_kind,
            lifecycle.owner.as_deref(),
            None,
        );
        return lifecycle;
    }
    let template_changed = match (workload_kind, raw_old_object) {
        (Some(workload_kind), Some(old)) if findings.iter().any(Finding::has_edits) => {
            template_changed(workload_kind, raw_object.get(), old.get())
        }
        _ => None,
    };
    lifecycle.edits = EditScope::for_request(
        context.operation,
        workload_kind,
        lifecycle.owner.as_deref(),
        template_changed,
    );
    let refused = findings.iter().any(Finding::could_refuse);
    if !refused || !settings.allow_existing_violations {
        return lifecycle;
    }
    // An unreadable oldObject ratchets nothing: the UPDATE is judged alone.
    let Some(old_subject) = raw_old_object.and_then(|old| kind.decode(old.get()).ok()) else {
        return lifecycle;
    };
    // The oldObject is judged in the request's context with its own
    // injection decision, put back afterwards: borrowed, not cloned, as a
    // copy of every lookup's answer would cost the module its clone code.
    let injection = context.injection;
    let namespace_injection = context.namespace_injection.clone();
    if let Subject::Workload(old_workload) = &old_subject {
        resolve_injection(context, old_workload, settings, cluster);
    }
    lifecycle.preexisting = broken_rules(&check_all(&old_subject, context, settings), settings);
    context.injection = injection;
    context.namespace_injection = namespace_injection;
    lifecycle
}

/// Whether an UPDATE changes the pod template (a Pod's labels,
/// annotations or spec): `None` when either side cannot be read.
fn template_changed(kind: WorkloadKind, new: &str, old: &str) -> Option<bool> {
    const POD_PARTS: [&[&str]; 3] = [
        &["metadata", "labels"],
        &["metadata", "annotations"],
        &["spec"],
    ];
    let template = [kind.template_path()];
    let parts: &[&[&str]] = if kind == WorkloadKind::Pod {
        &POD_PARTS
    } else {
        &template
    };
    for path in parts {
        if differs(raw_at(new, path)?, raw_at(old, path)?)? {
            return Some(true);
        }
    }
    Some(false)
}

/// Whether two JSON texts hold different values. Equal text is equal;
/// otherwise objects are compared member by member (so key order and
/// spacing never count as a change), lists item by item, strings by what
/// they spell and numbers by their value, as `serde_json::Value` compares.
/// `None` if either is not JSON.
fn differs(new: &RawValue, old: &RawValue) -> Option<bool> {
    let (new, old) = (new.get(), old.get());
    if new == old {
        return Some(false);
    }
    Some(match (new.as_bytes().first()?, old.as_bytes().first()?) {
        (b'{', b'{') => {
            let new: Members<&RawValue> = serde_json::from_str(new).ok()?;
            let old: Members<&RawValue> = serde_json::from_str(old).ok()?;
            members_differ(&new, &old)?
        }
        (b'[', b'[') => {
            let new: Vec<&RawValue> = serde_json::from_str(new).ok()?;
            let old: Vec<&RawValue> = serde_json::from_str(old).ok()?;
            if new.len() != old.len() {
                return Some(true);
            }
            for (new, old) in new.iter().zip(&old) {
                if differs(new, old)? {
                    return Some(true);
                }
            }
            false
        }
        (b'"', b'"') => {
            let new: Key<'_> = serde_json::from_str(new).ok()?;
            let old: Key<'_> = serde_json::from_str(old).ok()?;
            new.0 != old.0
        }
        (b'-' | b'0'..=b'9', b'-' | b'0'..=b'9') => {
            let new: serde_json::Number = serde_json::from_str(new).ok()?;
            let old: serde_json::Number = serde_json::from_str(old).ok()?;
            new != old
        }
        // Different literals, or values of different types.
        _ => true,
    })
}

/// Whether two objects differ. The API server writes both the same way,
/// so the members usually line up and one pass compares them; otherwise
/// each key is looked up (a repeated key counts its last time).
fn members_differ(new: &Members<&RawValue>, old: &Members<&RawValue>) -> Option<bool> {
    let (new_members, old_members) = (new.as_slice(), old.as_slice());
    if new_members.len() == old_members.len()
        && new_members
            .iter()
            .zip(old_members)
            .all(|((new_key, _), (old_key, _))| new_key == old_key)
    {
        for ((_, new), (_, old)) in new_members.iter().zip(old_members) {
            if differs(new, old)? {
                return Some(true);
            }
        }
        return Some(false);
    }
    for (key, _) in new_members {
        let (Some(new_value), Some(old_value)) = (new.get(key), old.get(key)) else {
            return Some(true);
        };
        if differs(new_value, old_value)? {
            return Some(true);
        }
    }
    Some(old_members.iter().any(|(key, _)| !new.contains_key(key)))
}

/// The JSON text at `path` (object keys), or `null` where a key is missing.
fn raw_at<'a>(json: &'a str, path: &[&str]) -> Option<&'a RawValue> {
    const NULL: &str = "null";
    let mut current: &'a RawValue = serde_json::from_str(json).ok()?;
    for key in path {
        if current.get() == NULL {
            break;
        }
        let members: Members<&'a RawValue> = serde_json::from_str(current.get()).ok()?;
        match members.get(key) {
            Some(value) => current = value,
            None => return serde_json::from_str(NULL).ok(),
        }
    }
    Some(current)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn raw(json: &str) -> &RawValue {
        serde_json::from_str(json).unwrap()
    }

    #[rstest]
    #[case::same_text(r#"{"a":1}"#, r#"{"a":1}"#, Some(false))]
    #[case::spacing(r#"{"a": [1, 2]}"#, r#"{ "a":[1,2] }"#, Some(false))]
    #[case::key_order(
        r#"{"a":1,"b":{"c":"x","d":null}}"#,
        r#"{"b":{"d":null,"c":"x"},"a":1}"#,
        Some(false)
    )]
    #[case::escaped_spelling(r#"{"a":"\u0078"}"#, r#"{"a":"x"}"#, Some(false))]
    #[case::escaped_key(r#"{"\u0061":1}"#, r#"{"a":1}"#, Some(false))]
    #[case::float_spelling("[1.0]", "[1.00]", Some(false))]
    #[case::repeated_key_counts_last(r#"{"a":1,"a":2}"#, r#"{"a":2}"#, Some(false))]
    #[case::value_changed(r#"{"a":1}"#, r#"{"a":2}"#, Some(true))]
    #[case::integer_is_not_float("1", "1.0", Some(true))]
    #[case::member_added(r#"{"a":1}"#, r#"{"a":1,"b":2}"#, Some(true))]
    #[case::member_removed(r#"{"a":1,"b":2}"#, r#"{"b":2}"#, Some(true))]
    #[case::member_renamed(r#"{"a":1,"b":2}"#, r#"{"b":2,"c":1}"#, Some(true))]
    #[case::item_order(r#"[1,2]"#, r#"[2,1]"#, Some(true))]
    #[case::longer_list(r#"[1]"#, r#"[1,1]"#, Some(true))]
    #[case::deep_change(r#"{"a":[{"b":"x"}]}"#, r#"{"a":[{"b":"y"}]}"#, Some(true))]
    #[case::type_changed(r#"{"a":"1"}"#, r#"{"a":1}"#, Some(true))]
    #[case::null_is_not_absent(r#"{"a":null}"#, r#"{}"#, Some(true))]
    #[case::literals("true", "false", Some(true))]
    fn json_values_compare_as_values(
        #[case] new: &str,
        #[case] old: &str,
        #[case] expected: Option<bool>,
    ) {
        assert_eq!(differs(raw(new), raw(old)), expected);
        assert_eq!(differs(raw(old), raw(new)), expected, "symmetric");
    }

    #[rstest]
    #[case::scaled(
        r#"{"spec":{"replicas":3,"template":{"spec":{"containers":[]}}}}"#,
        r#"{"spec":{"template":{"spec":{"containers":[]}},"replicas":1}}"#,
        Some(false)
    )]
    #[case::labelled(
        r#"{"metadata":{"labels":{"a":"b"}},"spec":{"template":{}}}"#,
        r#"{"metadata":{},"spec":{"template":{}}}"#,
        Some(false)
    )]
    #[case::new_image(
        r#"{"spec":{"template":{"spec":{"containers":[{"image":"b"}]}}}}"#,
        r#"{"spec":{"template":{"spec":{"containers":[{"image":"a"}]}}}}"#,
        Some(true)
    )]
    #[case::template_added(r#"{"spec":{"template":{}}}"#, r#"{"spec":{}}"#, Some(true))]
    #[case::unreadable(r#"{"spec":{"template":{}}}"#, r#"{"spec":"#, None)]
    fn template_changes_are_told_from_other_updates(
        #[case] new: &str,
        #[case] old: &str,
        #[case] expected: Option<bool>,
    ) {
        assert_eq!(
            template_changed(WorkloadKind::Deployment, new, old),
            expected
        );
    }
}
