//! Linkerd's own decision whether a pod gets a proxy, to the letter: the
//! injector webhook's scope (namespaces skipped by name or by label, pods
//! skipped by label), then `pkg/inject/report.go` (host network, existing
//! sidecars, the service-account token, and `disabledByAnnotation`'s truth
//! table of the namespace's and the pod's `linkerd.io/inject`).

use crate::objects::{Container, ObjectMeta};
use crate::phrasebook::LookupFailure;
use crate::settings::Settings;
use crate::workload::{Workload, PROXY_CONTAINER};

pub const INJECT_ANNOTATION: &str = "linkerd.io/inject";
pub const CONTROL_PLANE_COMPONENT_LABEL: &str = "linkerd.io/control-plane-component";
pub const CNI_RESOURCE_LABEL: &str = "linkerd.io/cni-resource";
pub const ADMISSION_WEBHOOKS_LABEL: &str = "config.linkerd.io/admission-webhooks";
pub const ADMISSION_WEBHOOKS_DISABLED: &str = "disabled";

/// A valid `linkerd.io/inject` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InjectMode {
    Enabled,
    Ingress,
    Disabled,
}

impl InjectMode {
    pub const VALID: &'static str = "enabled, ingress or disabled";

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "enabled" => Some(Self::Enabled),
            "ingress" => Some(Self::Ingress),
            "disabled" => Some(Self::Disabled),
            _ => None,
        }
    }

    pub fn requests_injection(self) -> bool {
        matches!(self, Self::Enabled | Self::Ingress)
    }
}

/// A `linkerd.io/inject` annotation as Linkerd's webhook reads it
/// (`isInjectAnnotationValid`): an empty value is the same as none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InjectValue {
    Absent,
    Valid(InjectMode),
    /// `true`, `Enabled`, `yes`...: Linkerd skips injection for it.
    Invalid,
}

impl InjectValue {
    pub fn of(meta: &ObjectMeta) -> Self {
        match meta.annotation(INJECT_ANNOTATION) {
            None | Some("") => Self::Absent,
            Some(value) => InjectMode::parse(value).map_or(Self::Invalid, Self::Valid),
        }
    }

    pub fn requests_injection(self) -> bool {
        matches!(self, Self::Valid(mode) if mode.requests_injection())
    }
}

/// What Linkerd's injector reads from a namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NamespaceFacts {
    pub inject: InjectValue,
    /// Labelled `config.linkerd.io/admission-webhooks: disabled`: the
    /// injector's webhook never sees its pods.
    pub webhooks_disabled: bool,
}

impl NamespaceFacts {
    pub fn of(meta: &ObjectMeta) -> Self {
        Self {
            inject: InjectValue::of(meta),
            webhooks_disabled: meta.label(ADMISSION_WEBHOOKS_LABEL)
                == Some(ADMISSION_WEBHOOKS_DISABLED),
        }
    }
}

/// What is known of the pod's namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamespaceInjection {
    /// Read from the cluster.
    Known(NamespaceFacts),
    /// The lookup was not needed: the pod decides on its own.
    NotNeeded,
    /// The lookup failed; the decision is made from the object alone.
    Unknown { failure: LookupFailure },
}

/// Why a pod is or is not meshed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeshReason {
    /// The pod already carries Linkerd's proxy.
    ProxyPresent,
    /// The pod's own annotation enables injection.
    PodAnnotation,
    /// The namespace enables injection and the pod does not opt out.
    NamespaceAnnotation,
    /// The webhook skips the namespace by name (`injectorWebhook.skippedNamespaces`).
    SkippedNamespace,
    /// The namespace is labelled `config.linkerd.io/admission-webhooks: disabled`.
    NamespaceOptedOut,
    ControlPlaneComponent,
    CniResource,
    HostNetwork,
    /// Another mesh's sidecar (or a leftover proxy-init) is there already.
    OtherSidecar,
    /// `automountServiceAccountToken: false`.
    NoServiceAccountToken,
    InvalidNamespaceValue,
    InvalidPodValue,
    PodDisabled,
    NotRequested,
    /// The pod would be meshed unless its namespace says otherwise, and the
    /// namespace could not be read: judged as not meshed, so a failed lookup
    /// never adds or rejects anything.
    NamespaceUnknown,
}

impl MeshReason {
    /// Why Linkerd skips the pod, for messages.
    pub fn skip_reason(self) -> Option<&'static str> {
        Some(match self {
            Self::SkippedNamespace => "the injector's webhook skips its namespace by name",
            Self::NamespaceOptedOut => {
                "its namespace is labelled config.linkerd.io/admission-webhooks: disabled"
            }
            Self::ControlPlaneComponent => "it is a Linkerd control-plane pod",
            Self::CniResource => "it is a Linkerd CNI pod",
            Self::HostNetwork => "it uses hostNetwork",
            Self::OtherSidecar => "it already has another mesh's sidecar",
            Self::NoServiceAccountToken => "it sets automountServiceAccountToken: false",
            Self::InvalidNamespaceValue => "its namespace has an invalid linkerd.io/inject value",
            Self::InvalidPodValue => "it has an invalid linkerd.io/inject value",
            Self::PodDisabled => "it says linkerd.io/inject: disabled",
            Self::NotRequested => "neither it nor its namespace asks for injection",
            Self::NamespaceUnknown => "its namespace could not be read",
            Self::ProxyPresent | Self::PodAnnotation | Self::NamespaceAnnotation => return None,
        })
    }
}

/// Linkerd's verdict for one pod template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EffectiveInjection {
    /// The pod runs (or will run) with a Linkerd proxy.
    pub meshed: bool,
    /// Linkerd's injector adds the proxy when the pod is created: what the
    /// fail-closed check compares against.
    pub injection_requested: bool,
    pub reason: MeshReason,
    /// The namespace lookup failed and the decision may be incomplete.
    pub namespace_unknown: bool,
}

impl EffectiveInjection {
    /// Whether deciding needs the namespace: unless the pod already has the
    /// proxy, the webhook skips it anyway, or its own annotation says no
    /// (the namespace's labels and an invalid namespace value override even
    /// a pod's `enabled`).
    pub fn needs_namespace(workload: &Workload, namespace: &str, settings: &Settings) -> bool {
        has_linkerd_proxy(workload).is_none()
            && skipped_by_name(namespace, settings).is_none()
            && skipped_for_the_pod(workload).is_none()
            && !matches!(
                InjectValue::of(workload.pod_meta()),
                InjectValue::Invalid | InjectValue::Valid(InjectMode::Disabled)
            )
    }

    pub fn resolve(
        workload: &Workload,
        namespace: &str,
        facts: &NamespaceInjection,
        settings: &Settings,
    ) -> Self {
        let decided = |meshed: bool, reason: MeshReason| Self {
            meshed,
            injection_requested: meshed && reason != MeshReason::ProxyPresent,
            reason,
            namespace_unknown: false,
        };
        if has_linkerd_proxy(workload).is_some() {
            return decided(true, MeshReason::ProxyPresent);
        }
        if let Some(reason) = skipped_by_name(namespace, settings) {
            return decided(false, reason);
        }
        let namespace_facts = match facts {
            NamespaceInjection::Known(facts) => Some(*facts),
            NamespaceInjection::NotNeeded | NamespaceInjection::Unknown { .. } => None,
        };
        if namespace_facts.is_some_and(|facts| facts.webhooks_disabled) {
            return decided(false, MeshReason::NamespaceOptedOut);
        }
        if let Some(reason) = skipped_for_the_pod(workload) {
            return decided(false, reason);
        }
        let namespace_value = namespace_facts.map_or(InjectValue::Absent, |facts| facts.inject);
        let pod_value = InjectValue::of(workload.pod_meta());
        // report.go's disabledByAnnotation, in its order.
        let (meshed, reason) = match (namespace_value, pod_value) {
            (InjectValue::Invalid, _) => (false, MeshReason::InvalidNamespaceValue),
            (_, InjectValue::Invalid) => (false, MeshReason::InvalidPodValue),
            (_, InjectValue::Valid(InjectMode::Disabled)) => (false, MeshReason::PodDisabled),
            (namespace, _) if namespace.requests_injection() => {
                (true, MeshReason::NamespaceAnnotation)
            }
            (_, pod) if pod.requests_injection() => (true, MeshReason::PodAnnotation),
            _ => (false, MeshReason::NotRequested),
        };
        let pod_decides = matches!(
            pod_value,
            InjectValue::Invalid | InjectValue::Valid(InjectMode::Disabled)
        );
        if matches!(facts, NamespaceInjection::Unknown { .. }) && !pod_decides {
            let reason = if meshed {
                MeshReason::NamespaceUnknown
            } else {
                reason
            };
            return Self {
                namespace_unknown: true,
                ..decided(false, reason)
            };
        }
        decided(meshed, reason)
    }
}

/// Linkerd's proxy, by container name (regular or native sidecar) or image.
pub fn has_linkerd_proxy(workload: &Workload) -> Option<&Container> {
    let spec = workload.pod_spec();
    spec.containers
        .iter()
        .chain(&spec.init_containers)
        .find(|c| c.name == PROXY_CONTAINER || c.image.starts_with("cr.l5d.io/linkerd/proxy:"))
}

fn skipped_by_name(namespace: &str, settings: &Settings) -> Option<MeshReason> {
    settings
        .injector_webhook
        .skips(namespace)
        .then_some(MeshReason::SkippedNamespace)
}

/// Pods the webhook's objectSelector or report.go skip, from the pod alone.
fn skipped_for_the_pod(workload: &Workload) -> Option<MeshReason> {
    let meta = workload.pod_meta();
    let spec = workload.pod_spec();
    if meta.labels.contains_key(CONTROL_PLANE_COMPONENT_LABEL) {
        Some(MeshReason::ControlPlaneComponent)
    } else if meta.labels.contains_key(CNI_RESOURCE_LABEL) {
        Some(MeshReason::CniResource)
    } else if spec.host_network {
        Some(MeshReason::HostNetwork)
    } else if has_other_sidecar(workload) {
        Some(MeshReason::OtherSidecar)
    } else if spec.automount_service_account_token == Some(false) {
        Some(MeshReason::NoServiceAccountToken)
    } else {
        None
    }
}

/// `pkg/healthcheck/sidecar.go`, less Linkerd's own proxy (which means the
/// pod is meshed already).
fn has_other_sidecar(workload: &Workload) -> bool {
    let spec = workload.pod_spec();
    spec.containers
        .iter()
        .any(|c| c.name == "istio-proxy" || c.image.starts_with("gcr.io/istio-release/proxyv2:"))
        || spec.init_containers.iter().any(|c| {
            matches!(c.name.as_str(), "linkerd-init" | "istio-init")
                || c.image.starts_with("cr.l5d.io/linkerd/proxy-init:")
                || c.image.starts_with("gcr.io/istio-release/proxy_init:")
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::WorkloadKind;
    use rstest::rstest;
    use serde_json::{json, Value};

    fn pod(annotation: Option<&str>, extra: Value) -> Workload {
        let mut object = json!({
            "metadata": {"name": "p", "namespace": "app", "labels": {}, "annotations": {}},
            "spec": {"containers": [{"name": "app"}]}
        });
        if let Some(value) = annotation {
            object["metadata"]["annotations"][INJECT_ANNOTATION] = json!(value);
        }
        if let Some(labels) = extra.get("labels") {
            object["metadata"]["labels"] = labels.clone();
        }
        if let Some(spec) = extra.get("spec") {
            object["spec"] = spec.clone();
        }
        Workload::decode(WorkloadKind::Pod, &object.to_string()).unwrap()
    }

    fn namespace(annotation: Option<&str>, labels: Value) -> NamespaceInjection {
        let mut meta = json!({"name": "app", "labels": labels, "annotations": {}});
        if let Some(value) = annotation {
            meta["annotations"][INJECT_ANNOTATION] = json!(value);
        }
        let meta: ObjectMeta = serde_json::from_value(meta).unwrap();
        NamespaceInjection::Known(NamespaceFacts::of(&meta))
    }

    fn ns(annotation: Option<&str>) -> NamespaceInjection {
        namespace(annotation, json!({}))
    }

    fn resolve(workload: &Workload, facts: &NamespaceInjection) -> EffectiveInjection {
        EffectiveInjection::resolve(workload, "app", facts, &Settings::default())
    }

    /// report.go's truth table, line by line (its `""` is both an absent
    /// annotation and an empty one), then the invalid values.
    #[rstest]
    #[case::enabled_enabled(Some("enabled"), Some("enabled"), true)]
    #[case::enabled_absent(Some("enabled"), None, true)]
    #[case::enabled_empty(Some("enabled"), Some(""), true)]
    #[case::enabled_disabled(Some("enabled"), Some("disabled"), false)]
    #[case::disabled_enabled(Some("disabled"), Some("enabled"), true)]
    #[case::absent_enabled(None, Some("enabled"), true)]
    #[case::empty_enabled(Some(""), Some("enabled"), true)]
    #[case::disabled_disabled(Some("disabled"), Some("disabled"), false)]
    #[case::absent_disabled(None, Some("disabled"), false)]
    #[case::disabled_absent(Some("disabled"), None, false)]
    #[case::absent_absent(None, None, false)]
    #[case::empty_empty(Some(""), Some(""), false)]
    #[case::ingress_absent(Some("ingress"), None, true)]
    #[case::absent_ingress(None, Some("ingress"), true)]
    #[case::ingress_disabled(Some("ingress"), Some("disabled"), false)]
    #[case::invalid_namespace_overrides_pod_enabled(Some("true"), Some("enabled"), false)]
    #[case::invalid_namespace_overrides_pod_ingress(Some("Enabled"), Some("ingress"), false)]
    #[case::invalid_namespace_alone(Some("yes"), None, false)]
    #[case::invalid_pod_in_enabled_namespace(Some("enabled"), Some("true"), false)]
    #[case::invalid_pod_in_ingress_namespace(Some("ingress"), Some("Enabled"), false)]
    #[case::invalid_pod_alone(None, Some("true"), false)]
    fn report_go_truth_table(
        #[case] namespace_value: Option<&str>,
        #[case] pod_value: Option<&str>,
        #[case] injected: bool,
    ) {
        let decision = resolve(&pod(pod_value, json!({})), &ns(namespace_value));
        assert_eq!(decision.meshed, injected, "{decision:?}");
        assert_eq!(decision.injection_requested, injected);
    }

    #[rstest]
    #[case::invalid_namespace(Some("true"), Some("enabled"), MeshReason::InvalidNamespaceValue)]
    #[case::invalid_pod(Some("enabled"), Some("true"), MeshReason::InvalidPodValue)]
    #[case::pod_disabled(Some("enabled"), Some("disabled"), MeshReason::PodDisabled)]
    #[case::namespace(Some("enabled"), None, MeshReason::NamespaceAnnotation)]
    #[case::pod(None, Some("enabled"), MeshReason::PodAnnotation)]
    #[case::nothing(None, Some(""), MeshReason::NotRequested)]
    fn reasons(
        #[case] namespace_value: Option<&str>,
        #[case] pod_value: Option<&str>,
        #[case] reason: MeshReason,
    ) {
        assert_eq!(
            resolve(&pod(pod_value, json!({})), &ns(namespace_value)).reason,
            reason
        );
    }

    #[rstest]
    #[case::kube_system("kube-system")]
    #[case::cert_manager("cert-manager")]
    fn namespaces_the_webhook_skips_by_name_are_never_meshed(#[case] name: &str) {
        let workload = pod(Some("enabled"), json!({}));
        let decision = EffectiveInjection::resolve(
            &workload,
            name,
            &ns(Some("enabled")),
            &Settings::default(),
        );
        assert_eq!(
            (decision.meshed, decision.reason),
            (false, MeshReason::SkippedNamespace)
        );
        assert!(!EffectiveInjection::needs_namespace(
            &workload,
            name,
            &Settings::default()
        ));
    }

    #[test]
    fn the_skipped_list_is_a_setting() {
        let mut settings = Settings::default();
        settings.injector_webhook.skipped_namespaces = vec!["legacy".into()];
        let workload = pod(Some("enabled"), json!({}));
        assert!(EffectiveInjection::resolve(&workload, "kube-system", &ns(None), &settings).meshed);
        assert!(!EffectiveInjection::resolve(&workload, "legacy", &ns(None), &settings).meshed);
    }

    #[test]
    fn a_namespace_labelled_admission_webhooks_disabled_is_never_meshed() {
        let facts = namespace(
            Some("enabled"),
            json!({ADMISSION_WEBHOOKS_LABEL: "disabled"}),
        );
        let decision = resolve(&pod(Some("enabled"), json!({})), &facts);
        assert_eq!(
            (decision.meshed, decision.reason),
            (false, MeshReason::NamespaceOptedOut)
        );
        let enabled_label = namespace(None, json!({ADMISSION_WEBHOOKS_LABEL: "enabled"}));
        assert!(resolve(&pod(Some("enabled"), json!({})), &enabled_label).meshed);
    }

    #[rstest]
    #[case::host_network(json!({"spec": {"hostNetwork": true, "containers": []}}), MeshReason::HostNetwork)]
    #[case::control_plane(json!({"labels": {"linkerd.io/control-plane-component": "destination"}}), MeshReason::ControlPlaneComponent)]
    #[case::cni(json!({"labels": {"linkerd.io/cni-resource": "true"}}), MeshReason::CniResource)]
    #[case::istio_proxy_name(json!({"spec": {"containers": [{"name": "istio-proxy"}]}}), MeshReason::OtherSidecar)]
    #[case::istio_proxy_image(json!({"spec": {"containers": [{"name": "mesh", "image": "gcr.io/istio-release/proxyv2:1.20"}]}}), MeshReason::OtherSidecar)]
    #[case::istio_init(json!({"spec": {"containers": [{"name": "app"}], "initContainers": [{"name": "istio-init"}]}}), MeshReason::OtherSidecar)]
    #[case::istio_init_image(json!({"spec": {"containers": [{"name": "app"}], "initContainers": [{"name": "x", "image": "gcr.io/istio-release/proxy_init:1.20"}]}}), MeshReason::OtherSidecar)]
    #[case::linkerd_init_leftover(json!({"spec": {"containers": [{"name": "app"}], "initContainers": [{"name": "linkerd-init"}]}}), MeshReason::OtherSidecar)]
    #[case::linkerd_init_image(json!({"spec": {"containers": [{"name": "app"}], "initContainers": [{"name": "x", "image": "cr.l5d.io/linkerd/proxy-init:v2.4.1"}]}}), MeshReason::OtherSidecar)]
    #[case::no_token(json!({"spec": {"automountServiceAccountToken": false, "containers": [{"name": "app"}]}}), MeshReason::NoServiceAccountToken)]
    fn never_injected(#[case] extra: Value, #[case] reason: MeshReason) {
        let workload = pod(Some("enabled"), extra);
        let decision = resolve(&workload, &ns(Some("enabled")));
        assert!(!decision.meshed && !decision.injection_requested);
        assert_eq!(decision.reason, reason);
        assert!(!EffectiveInjection::needs_namespace(
            &workload,
            "app",
            &Settings::default()
        ));
    }

    #[rstest]
    #[case::by_name(json!({"spec": {"containers": [{"name": "app"}, {"name": "linkerd-proxy"}]}}))]
    #[case::by_image(json!({"spec": {"containers": [{"name": "app"}, {"name": "sidecar", "image": "cr.l5d.io/linkerd/proxy:edge-24.1.1"}]}}))]
    #[case::native_sidecar(json!({"spec": {"containers": [{"name": "app"}], "initContainers": [{"name": "linkerd-proxy", "restartPolicy": "Always"}]}}))]
    fn an_injected_pod_is_meshed_whatever_its_annotations(#[case] extra: Value) {
        let decision = resolve(&pod(Some("disabled"), extra), &ns(None));
        assert!(decision.meshed && !decision.injection_requested);
        assert_eq!(decision.reason, MeshReason::ProxyPresent);
    }

    /// The namespace's label or an invalid value there would turn even an
    /// `enabled` pod off: unread, the pod is judged as not meshed (nothing
    /// added, nothing rejected) and the edge says so in a warning.
    #[rstest]
    #[case::pod_enabled(Some("enabled"), true)]
    #[case::pod_silent(None, true)]
    #[case::pod_disabled(Some("disabled"), false)]
    fn an_unknown_namespace_is_fail_safe(#[case] value: Option<&str>, #[case] flagged: bool) {
        let unknown = NamespaceInjection::Unknown {
            failure: LookupFailure::Refused("denied".into()),
        };
        let decision = resolve(&pod(value, json!({})), &unknown);
        assert!(!decision.meshed && !decision.injection_requested);
        assert_eq!(decision.namespace_unknown, flagged);
    }

    #[rstest]
    #[case::no_annotation(None, true)]
    #[case::empty(Some(""), true)]
    #[case::enabled_still_needs_the_namespace_labels(Some("enabled"), true)]
    #[case::invalid(Some("true"), false)]
    #[case::disabled(Some("disabled"), false)]
    fn namespace_lookup_only_when_it_matters(#[case] value: Option<&str>, #[case] needed: bool) {
        assert_eq!(
            EffectiveInjection::needs_namespace(
                &pod(value, json!({})),
                "app",
                &Settings::default()
            ),
            needed
        );
    }
}
