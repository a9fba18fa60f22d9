//! Linkerd's own decision whether a pod gets a proxy (pkg/inject/report.go):
//! the pod's `linkerd.io/inject` over the namespace's, `ingress` counting as
//! enabled, unknown values counting as nothing, and a few kinds of pod never
//! injected.

use crate::objects::ObjectMeta;
use crate::workload::Workload;

pub const INJECT_ANNOTATION: &str = "linkerd.io/inject";
pub const CONTROL_PLANE_COMPONENT_LABEL: &str = "linkerd.io/control-plane-component";
pub const CNI_RESOURCE_LABEL: &str = "linkerd.io/cni-resource";

/// A `linkerd.io/inject` value as Linkerd reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InjectMode {
    Enabled,
    Ingress,
    Disabled,
}

impl InjectMode {
    pub const VALID: &'static str = "enabled, ingress or disabled";

    /// `None` for anything Linkerd does not recognise (`true`, `Enabled`,
    /// empty): Linkerd ignores such a value silently.
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

    /// The mode an object's annotation asks for, if it asks validly.
    pub fn of(meta: &ObjectMeta) -> Option<Self> {
        meta.annotation(INJECT_ANNOTATION).and_then(Self::parse)
    }
}

/// What is known of the namespace's own `linkerd.io/inject`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamespaceInjection {
    /// Read from the cluster (or the object itself): the valid mode, if any.
    Known(Option<InjectMode>),
    /// The lookup was not needed: the pod's own annotation decides.
    NotNeeded,
    /// The lookup failed; the decision is made from the object alone.
    Unknown { reason: String },
}

/// Why a pod is or is not meshed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeshReason {
    /// The pod already carries the proxy.
    ProxyPresent,
    /// The pod's own annotation enables injection.
    PodAnnotation,
    /// The namespace enables injection and the pod does not opt out.
    NamespaceAnnotation,
    HostNetwork,
    ControlPlaneComponent,
    CniResource,
    PodDisabled,
    NotRequested,
}

/// Linkerd's verdict for one pod template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EffectiveInjection {
    /// The pod runs (or will run) with a Linkerd proxy.
    pub meshed: bool,
    /// Linkerd's injector is asked to add the proxy (regardless of whether
    /// it already did): what the fail-closed check compares against.
    pub injection_requested: bool,
    pub reason: MeshReason,
    /// The namespace lookup failed and the decision may be incomplete.
    pub namespace_unknown: bool,
}

impl EffectiveInjection {
    /// Whether deciding needs the namespace's annotation: only when the pod
    /// neither carries a proxy nor says `enabled`, `ingress` or `disabled`,
    /// and is not a kind of pod Linkerd never injects.
    pub fn needs_namespace(workload: &Workload) -> bool {
        excluded(workload).is_none()
            && InjectMode::of(workload.pod_meta()).is_none()
            && workload.proxy_container().is_none()
    }

    pub fn resolve(workload: &Workload, namespace: &NamespaceInjection) -> Self {
        let namespace_unknown = matches!(namespace, NamespaceInjection::Unknown { .. });
        let has_proxy = workload.proxy_container().is_some();
        if let Some(reason) = excluded(workload) {
            return Self {
                meshed: false,
                injection_requested: false,
                reason,
                namespace_unknown: false,
            };
        }
        let pod_mode = InjectMode::of(workload.pod_meta());
        let namespace_mode = match namespace {
            NamespaceInjection::Known(mode) => *mode,
            NamespaceInjection::NotNeeded | NamespaceInjection::Unknown { .. } => None,
        };
        let (requested, reason) = match (pod_mode, namespace_mode) {
            (Some(InjectMode::Disabled), _) => (false, MeshReason::PodDisabled),
            (Some(_), _) => (true, MeshReason::PodAnnotation),
            (None, Some(mode)) if mode.requests_injection() => {
                (true, MeshReason::NamespaceAnnotation)
            }
            (None, _) => (false, MeshReason::NotRequested),
        };
        Self {
            meshed: requested || has_proxy,
            injection_requested: requested,
            reason: if has_proxy {
                MeshReason::ProxyPresent
            } else {
                reason
            },
            namespace_unknown: namespace_unknown && pod_mode.is_none() && !has_proxy,
        }
    }
}

/// Pods Linkerd never injects, whatever the annotations say.
fn excluded(workload: &Workload) -> Option<MeshReason> {
    let meta = workload.pod_meta();
    if workload.pod_spec().host_network {
        Some(MeshReason::HostNetwork)
    } else if meta.labels.contains_key(CONTROL_PLANE_COMPONENT_LABEL) {
        Some(MeshReason::ControlPlaneComponent)
    } else if meta.labels.contains_key(CNI_RESOURCE_LABEL) {
        Some(MeshReason::CniResource)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::WorkloadKind;
    use rstest::rstest;
    use serde_json::json;

    fn pod(annotation: Option<&str>, extra: serde_json::Value) -> Workload {
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

    fn ns(value: Option<&str>) -> NamespaceInjection {
        NamespaceInjection::Known(value.and_then(InjectMode::parse))
    }

    #[rstest]
    #[case::pod_enabled(Some("enabled"), ns(None), true, MeshReason::PodAnnotation)]
    #[case::pod_ingress(Some("ingress"), ns(None), true, MeshReason::PodAnnotation)]
    #[case::namespace_enabled(None, ns(Some("enabled")), true, MeshReason::NamespaceAnnotation)]
    #[case::namespace_ingress(None, ns(Some("ingress")), true, MeshReason::NamespaceAnnotation)]
    #[case::pod_disabled_overrides_namespace(
        Some("disabled"),
        ns(Some("enabled")),
        false,
        MeshReason::PodDisabled
    )]
    #[case::pod_enabled_overrides_namespace_disabled(
        Some("enabled"),
        ns(Some("disabled")),
        true,
        MeshReason::PodAnnotation
    )]
    #[case::typo_true_on_pod(Some("true"), ns(None), false, MeshReason::NotRequested)]
    #[case::typo_capitalised(Some("Enabled"), ns(None), false, MeshReason::NotRequested)]
    #[case::typo_on_pod_in_enabled_namespace(
        Some("true"),
        ns(Some("enabled")),
        true,
        MeshReason::NamespaceAnnotation
    )]
    #[case::typo_on_namespace(None, ns(Some("true")), false, MeshReason::NotRequested)]
    #[case::nothing(None, ns(None), false, MeshReason::NotRequested)]
    #[case::namespace_unknown(None, NamespaceInjection::Unknown { reason: "denied".into() }, false, MeshReason::NotRequested)]
    fn annotations_decide(
        #[case] pod_value: Option<&str>,
        #[case] namespace: NamespaceInjection,
        #[case] meshed: bool,
        #[case] reason: MeshReason,
    ) {
        let decision = EffectiveInjection::resolve(&pod(pod_value, json!({})), &namespace);
        assert_eq!((decision.meshed, decision.reason), (meshed, reason));
        assert_eq!(decision.injection_requested, meshed);
    }

    #[rstest]
    #[case::host_network(json!({"spec": {"hostNetwork": true, "containers": []}}), MeshReason::HostNetwork)]
    #[case::control_plane(json!({"labels": {"linkerd.io/control-plane-component": "destination"}}), MeshReason::ControlPlaneComponent)]
    #[case::cni(json!({"labels": {"linkerd.io/cni-resource": "true"}}), MeshReason::CniResource)]
    fn never_injected(#[case] extra: serde_json::Value, #[case] reason: MeshReason) {
        let workload = pod(Some("enabled"), extra);
        let decision = EffectiveInjection::resolve(&workload, &ns(Some("enabled")));
        assert!(!decision.meshed && !decision.injection_requested);
        assert_eq!(decision.reason, reason);
        assert!(!EffectiveInjection::needs_namespace(&workload));
    }

    #[test]
    fn an_injected_pod_is_meshed_without_annotations() {
        let workload = pod(
            None,
            json!({"spec": {"containers": [{"name": "app"}, {"name": "linkerd-proxy"}]}}),
        );
        let decision = EffectiveInjection::resolve(&workload, &ns(None));
        assert!(decision.meshed && !decision.injection_requested);
        assert_eq!(decision.reason, MeshReason::ProxyPresent);
    }

    #[test]
    fn a_native_sidecar_proxy_counts() {
        let workload = pod(
            None,
            json!({"spec": {"containers": [{"name": "app"}],
            "initContainers": [{"name": "linkerd-proxy", "restartPolicy": "Always"}]}}),
        );
        assert!(EffectiveInjection::resolve(&workload, &ns(None)).meshed);
    }

    #[rstest]
    #[case::no_annotation(None, true)]
    #[case::invalid_annotation(Some("true"), true)]
    #[case::enabled(Some("enabled"), false)]
    #[case::disabled(Some("disabled"), false)]
    fn namespace_lookup_only_when_it_matters(#[case] value: Option<&str>, #[case] needed: bool) {
        assert_eq!(
            EffectiveInjection::needs_namespace(&pod(value, json!({}))),
            needed
        );
    }
}
