//! The policy's settings: typed, camelCase, unknown fields rejected, defaults
//! in the `Default` impls below and nowhere else.

use crate::decode::{decode_object, json_choice, json_object};
use crate::finding::{Action, RuleId};
use crate::quantity::Quantity;

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub rules: RuleActions,
    pub system_namespaces: Vec<String>,
    pub safe_to_evict: SafeToEvictSettings,
    pub proxy_resources: ProxyResourcesSettings,
    pub control_plane: ControlPlaneSettings,
    pub injector_webhook: InjectorWebhookSettings,
    pub prometheus: PrometheusSettings,
    /// On UPDATE, a rule the old object already broke only warns: legacy
    /// objects keep scaling, relabelling and being garbage-collected
    /// (Kyverno's `allowExistingViolations`).
    pub allow_existing_violations: bool,
}

json_object!(strict Settings {
    "rules" => rules,
    "systemNamespaces" => system_namespaces,
    "safeToEvict" => safe_to_evict,
    "proxyResources" => proxy_resources,
    "controlPlane" => control_plane,
    "injectorWebhook" => injector_webhook,
    "prometheus" => prometheus,
    "allowExistingViolations" => allow_existing_violations,
});

impl Default for Settings {
    fn default() -> Self {
        Self {
            rules: RuleActions::default(),
            system_namespaces: vec!["kube-system".to_string()],
            safe_to_evict: SafeToEvictSettings::default(),
            proxy_resources: ProxyResourcesSettings::default(),
            control_plane: ControlPlaneSettings::default(),
            injector_webhook: InjectorWebhookSettings::default(),
            prometheus: PrometheusSettings::default(),
            allow_existing_violations: true,
        }
    }
}

/// One action per rule, keyed by the rule's settings name.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleActions {
    pub injection_annotation: Action,
    pub system_namespaces: Action,
    pub safe_to_evict: Action,
    pub proxy_present: Action,
    pub proxy_resources: Action,
    pub control_plane_replicas: Action,
    pub control_plane_anti_affinity: Action,
    pub control_plane_resources: Action,
    pub disruption_budgets: Action,
    pub injector_webhook: Action,
    pub prometheus_retention: Action,
    pub node_capacity: Action,
    pub node_changes: Action,
}

json_object!(strict RuleActions {
    "injectionAnnotation" => injection_annotation,
    "systemNamespaces" => system_namespaces,
    "safeToEvict" => safe_to_evict,
    "proxyPresent" => proxy_present,
    "proxyResources" => proxy_resources,
    "controlPlaneReplicas" => control_plane_replicas,
    "controlPlaneAntiAffinity" => control_plane_anti_affinity,
    "controlPlaneResources" => control_plane_resources,
    "disruptionBudgets" => disruption_budgets,
    "injectorWebhook" => injector_webhook,
    "prometheusRetention" => prometheus_retention,
    "nodeCapacity" => node_capacity,
    "nodeChanges" => node_changes,
});

impl Default for RuleActions {
    fn default() -> Self {
        Self {
            injection_annotation: Action::Enforce,
            system_namespaces: Action::Mutate,
            safe_to_evict: Action::Mutate,
            // Only meaningful after every mutating webhook ran, i.e. in a
            // validating deployment of the policy.
            proxy_present: Action::Off,
            // Before injection the control plane's proxy defaults are
            // invisible, so only the certain cases are reported by default.
            proxy_resources: Action::Warn,
            control_plane_replicas: Action::Enforce,
            control_plane_anti_affinity: Action::Enforce,
            control_plane_resources: Action::Enforce,
            disruption_budgets: Action::Enforce,
            injector_webhook: Action::Enforce,
            prometheus_retention: Action::Warn,
            node_capacity: Action::Warn,
            // Only ever a warning: see RuleId::can_refuse.
            node_changes: Action::Warn,
        }
    }
}

impl RuleActions {
    pub fn action(&self, rule: RuleId) -> Action {
        match rule {
            RuleId::InjectionAnnotation => self.injection_annotation,
            RuleId::SystemNamespaces => self.system_namespaces,
            RuleId::SafeToEvict => self.safe_to_evict,
            RuleId::ProxyPresent => self.proxy_present,
            RuleId::ProxyResources => self.proxy_resources,
            RuleId::ControlPlaneReplicas => self.control_plane_replicas,
            RuleId::ControlPlaneAntiAffinity => self.control_plane_anti_affinity,
            RuleId::ControlPlaneResources => self.control_plane_resources,
            RuleId::DisruptionBudgets => self.disruption_budgets,
            RuleId::InjectorWebhook => self.injector_webhook,
            RuleId::PrometheusRetention => self.prometheus_retention,
            RuleId::NodeCapacity => self.node_capacity,
            RuleId::NodeChanges => self.node_changes,
        }
    }

    pub fn is_on(&self, rule: RuleId) -> bool {
        self.action(rule) != Action::Off
    }
}

/// Which Cluster Autoscaler annotation marks a meshed pod as evictable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SafeToEvictAnnotation {
    /// `cluster-autoscaler.kubernetes.io/safe-to-evict: "true"`
    SafeToEvict,
    /// `cluster-autoscaler.kubernetes.io/safe-to-evict-local-volumes`
    /// listing the proxy's identity volume.
    LocalVolumes,
}

json_choice!(SafeToEvictAnnotation {
    "safe-to-evict" => SafeToEvict,
    "safe-to-evict-local-volumes" => LocalVolumes,
});

#[derive(Debug, Clone, PartialEq)]
pub struct SafeToEvictSettings {
    pub annotation: SafeToEvictAnnotation,
    /// The autoscaler runs with `--skip-nodes-with-local-storage=false`, so
    /// the proxy's volume never blocks a scale-down.
    pub autoscaler_skips_local_storage: bool,
}

json_object!(strict SafeToEvictSettings {
    "annotation" => annotation,
    "autoscalerSkipsLocalStorage" => autoscaler_skips_local_storage,
});

impl Default for SafeToEvictSettings {
    fn default() -> Self {
        Self {
            annotation: SafeToEvictAnnotation::SafeToEvict,
            autoscaler_skips_local_storage: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProxyResourcesSettings {
    pub cpu_request: Quantity,
    pub memory_request: Quantity,
    /// The annotation values the mutation writes, as the operator spelled them.
    pub spelled: (String, String),
}

json_object!(strict ProxyResourcesSettings {
    "cpuRequest" => cpu_request,
    "memoryRequest" => memory_request,
});

impl Default for ProxyResourcesSettings {
    fn default() -> Self {
        Self {
            cpu_request: Quantity::from_nanos(100_000_000),
            memory_request: Quantity::from_units(20 << 20),
            spelled: (String::new(), String::new()),
        }
    }
}

/// Which containers of a control-plane pod must carry resource requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceContainers {
    /// The component's own container (named like the component) and the proxy.
    Main,
    /// Every container.
    All,
}

json_choice!(ResourceContainers {
    "main" => Main,
    "all" => All,
});

#[derive(Debug, Clone, PartialEq)]
pub struct ControlPlaneSettings {
    pub namespace: String,
    /// Values of the `linkerd.io/control-plane-component` label held critical.
    pub components: Vec<String>,
    /// What HA mode runs: fewer, down to `min_replicas`, is accepted with a
    /// warning.
    pub replicas: u32,
    /// Fewer replicas than this are rejected. Unset: 2, or `replicas` when
    /// that is lower (see [`ControlPlaneSettings::min_replicas`]).
    pub min_replicas_setting: Option<u32>,
    pub requests: ResourceRequests,
    pub resource_containers: ResourceContainers,
}

json_object!(strict ControlPlaneSettings {
    "namespace" => namespace,
    "components" => components,
    "replicas" => replicas,
    "minReplicas" => min_replicas_setting,
    "requests" => requests,
    "resourceContainers" => resource_containers,
});

impl Default for ControlPlaneSettings {
    fn default() -> Self {
        Self {
            namespace: "linkerd".to_string(),
            components: ["destination", "identity", "proxy-injector"]
                .map(String::from)
                .to_vec(),
            replicas: 3,
            min_replicas_setting: None,
            requests: ResourceRequests::default(),
            resource_containers: ResourceContainers::Main,
        }
    }
}

impl ControlPlaneSettings {
    /// `minReplicas` when unset: the HA page's own `--controller-replicas=2`
    /// example is the smallest count that survives losing one replica.
    pub const DEFAULT_MIN_REPLICAS: u32 = 2;

    /// The fewest replicas accepted: `minReplicas`, or by default 2 (never
    /// more than `replicas`, so `replicas: 1` alone still means one).
    pub fn min_replicas(&self) -> u32 {
        self.min_replicas_setting
            .unwrap_or(Self::DEFAULT_MIN_REPLICAS.min(self.replicas))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ResourceRequests {
    pub cpu: Quantity,
    pub memory: Quantity,
}

json_object!(strict ResourceRequests {
    "cpu" => cpu,
    "memory" => memory,
});

impl Default for ResourceRequests {
    fn default() -> Self {
        Self {
            cpu: Quantity::from_nanos(100_000_000),
            memory: Quantity::from_units(10 << 20),
        }
    }
}

/// The admission webhook failure policies Kubernetes knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailurePolicy {
    Fail,
    Ignore,
}

json_choice!(FailurePolicy {
    "Fail" => Fail,
    "Ignore" => Ignore,
});

impl FailurePolicy {
    pub fn name(self) -> &'static str {
        match self {
            Self::Fail => "Fail",
            Self::Ignore => "Ignore",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct InjectorWebhookSettings {
    pub name: String,
    pub failure_policy: FailurePolicy,
    /// Namespaces the injector's webhook skips by name (Linkerd's chart:
    /// `kubernetes.io/metadata.name NotIn [kube-system, cert-manager]`).
    /// Pods there are never meshed, whatever their annotations say.
    pub skipped_namespaces: Vec<String>,
}

json_object!(strict InjectorWebhookSettings {
    "name" => name,
    "failurePolicy" => failure_policy,
    "skippedNamespaces" => skipped_namespaces,
});

impl InjectorWebhookSettings {
    /// Whether the injector's webhook skips `namespace` by name.
    pub fn skips(&self, namespace: &str) -> bool {
        self.skipped_namespaces
            .iter()
            .any(|skipped| skipped == namespace)
    }
}

impl Default for InjectorWebhookSettings {
    fn default() -> Self {
        Self {
            name: "linkerd-proxy-injector-webhook-config".to_string(),
            failure_policy: FailurePolicy::Fail,
            skipped_namespaces: vec!["kube-system".to_string(), "cert-manager".to_string()],
        }
    }
}

/// Which Prometheus retention limits must be set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetentionRequirement {
    Time,
    Size,
    Both,
    Either,
}

json_choice!(RetentionRequirement {
    "time" => Time,
    "size" => Size,
    "both" => Both,
    "either" => Either,
});

#[derive(Debug, Clone, PartialEq)]
pub struct PrometheusSettings {
    pub namespaces: Vec<String>,
    pub require: RetentionRequirement,
    /// More than zero: check Prometheus memory against ~5 MiB per meshed pod.
    pub meshed_pods: u64,
}

json_object!(strict PrometheusSettings {
    "namespaces" => namespaces,
    "require" => require,
    "meshedPods" => meshed_pods,
});

impl Default for PrometheusSettings {
    fn default() -> Self {
        Self {
            namespaces: vec!["linkerd-viz".to_string()],
            require: RetentionRequirement::Either,
            meshed_pods: 0,
        }
    }
}

/// Why settings were refused; the message always names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// `path` is empty or starts with a dot: `settings.rules.safeToEvict`.
    #[error("settings{path}: {message}")]
    Decode { path: String, message: String },
    #[error("settings.{field}: {message}")]
    Invalid { field: String, message: String },
}

impl Settings {
    /// Decodes settings JSON, naming the offending field on failure.
    pub fn from_json(json: &[u8]) -> Result<Self, SettingsError> {
        // A policy deployed without settings may be handed `null` or nothing.
        let trimmed = json.trim_ascii();
        let json = if trimmed.is_empty() || trimmed == b"null" {
            b"{}"
        } else {
            json
        };
        // serde would also read a struct from a list; settings are a map.
        if json.trim_ascii_start().first() != Some(&b'{') {
            return Err(SettingsError::Decode {
                path: String::new(),
                message: "expected a map of settings (a JSON object)".to_string(),
            });
        }
        // Read as text, like every other document the module reads, so
        // serde_json's code is there once.
        let json = std::str::from_utf8(json).map_err(|error| SettingsError::Decode {
            path: String::new(),
            message: format!("not UTF-8 ({error})"),
        })?;
        let mut settings: Settings = decode_object(json).map_err(|error| {
            let (path, message) = crate::json_path::locate(json, &error);
            SettingsError::Decode { path, message }
        })?;
        settings.proxy_resources.spelled = (
            settings.proxy_resources.cpu_request.to_string(),
            settings.proxy_resources.memory_request.to_string(),
        );
        Ok(settings)
    }

    /// Every problem with the values, each naming its field.
    pub fn problems(&self) -> Vec<SettingsError> {
        let mut problems = Vec::new();
        let mut invalid = |field: String, message: String| {
            problems.push(SettingsError::Invalid { field, message })
        };
        for rule in RuleId::ALL {
            let action = self.rules.action(rule);
            if action == Action::Enforce && !rule.can_refuse() {
                invalid(
                    format!("rules.{}", rule.name()),
                    "`enforce` is not an action this rule can take: it would refuse cordons and Node deletions, which operators make in emergencies; use warn or off".to_string(),
                );
            } else if action == Action::Mutate && !rule.can_mutate() {
                let instead = if rule.can_refuse() {
                    "enforce, warn or off"
                } else {
                    "warn or off"
                };
                invalid(
                    format!("rules.{}", rule.name()),
                    format!("`mutate` is not an action this rule can take (it has nothing it could fix); use {instead}"),
                );
            }
        }
        check_names(&mut invalid, "systemNamespaces", &self.system_namespaces);
        check_name(
            &mut invalid,
            "controlPlane.namespace",
            &self.control_plane.namespace,
        );
        if self.control_plane.components.is_empty() {
            invalid(
                "controlPlane.components".into(),
                "must list at least one control-plane component (e.g. destination, identity, proxy-injector)".into(),
            );
        }
        check_names(
            &mut invalid,
            "controlPlane.components",
            &self.control_plane.components,
        );
        if self.control_plane.replicas == 0 {
            invalid(
                "controlPlane.replicas".into(),
                "must be at least 1 (Linkerd's HA mode uses 3)".into(),
            );
        } else if self.control_plane.replicas == 1 && self.rules.is_on(RuleId::DisruptionBudgets) {
            // A budget for one replica either blocks every drain or protects
            // nothing: the budget rule would refuse every budget there is.
            invalid(
                "controlPlane.replicas".into(),
                "1 leaves no PodDisruptionBudget that both lets a node drain proceed and keeps a replica up, so rules.disruptionBudgets would refuse every budget; set controlPlane.replicas to 2 or more (Linkerd's HA mode uses 3), or set rules.disruptionBudgets: off".into(),
            );
        }
        match self.control_plane.min_replicas_setting {
            Some(0) => invalid(
                "controlPlane.minReplicas".into(),
                "must be at least 1 (fewer replicas than this are rejected)".into(),
            ),
            Some(min) if min > self.control_plane.replicas => invalid(
                "controlPlane.minReplicas".into(),
                format!(
                    "{min} is more than controlPlane.replicas ({}); it must be at most that",
                    self.control_plane.replicas
                ),
            ),
            _ => {}
        }
        if self.injector_webhook.name.trim().is_empty() {
            invalid("injectorWebhook.name".into(), "must not be empty".into());
        }
        check_names(
            &mut invalid,
            "injectorWebhook.skippedNamespaces",
            &self.injector_webhook.skipped_namespaces,
        );
        check_names(
            &mut invalid,
            "prometheus.namespaces",
            &self.prometheus.namespaces,
        );
        problems
    }
}

fn check_name(invalid: &mut impl FnMut(String, String), field: &str, name: &str) {
    if name.trim().is_empty() {
        invalid(field.to_string(), "must not be empty".into());
    } else if name.trim() != name {
        invalid(
            field.to_string(),
            format!("{name:?} has surrounding white space"),
        );
    }
}

fn check_names(invalid: &mut impl FnMut(String, String), field: &str, names: &[String]) {
    for (index, name) in names.iter().enumerate() {
        check_name(invalid, &format!("{field}[{index}]"), name);
        if names[..index].contains(name) {
            invalid(
                format!("{field}[{index}]"),
                format!("{name:?} is listed twice"),
            );
        }
    }
}

#[cfg(feature = "kubewarden")]
impl kubewarden_policy_sdk::settings::Validatable for Settings {
    fn validate(&self) -> Result<(), String> {
        self.check()
    }
}

impl Settings {
    /// Every problem, joined into one message for `validate_settings`.
    pub fn check(&self) -> Result<(), String> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use serde_json::json;

    fn decode(value: serde_json::Value) -> Result<Settings, SettingsError> {
        Settings::from_json(value.to_string().as_bytes())
    }

    #[test]
    fn empty_settings_are_the_defaults() {
        let settings = decode(json!({})).unwrap();
        assert_eq!(settings.rules, RuleActions::default());
        assert_eq!(settings.system_namespaces, vec!["kube-system"]);
        assert_eq!(
            settings.proxy_resources.spelled,
            ("100m".into(), "20Mi".into())
        );
        assert!(settings.check().is_ok());
    }

    #[test]
    fn documented_block_decodes() {
        let settings = decode(json!({
            "rules": {"injectionAnnotation": "enforce", "systemNamespaces": "mutate",
                      "safeToEvict": "mutate", "proxyPresent": "off", "proxyResources": "warn",
                      "controlPlaneReplicas": "enforce", "controlPlaneAntiAffinity": "mutate",
                      "controlPlaneResources": "mutate", "disruptionBudgets": "enforce",
                      "injectorWebhook": "enforce", "prometheusRetention": "warn", "nodeCapacity": "warn",
                      "nodeChanges": "warn"},
            "systemNamespaces": ["kube-system", "kube-public"],
            "safeToEvict": {"annotation": "safe-to-evict-local-volumes", "autoscalerSkipsLocalStorage": false},
            "proxyResources": {"cpuRequest": "0.2", "memoryRequest": "64Mi"},
            "controlPlane": {"namespace": "linkerd", "components": ["destination"], "replicas": 2, "minReplicas": 1,
                             "requests": {"cpu": "100m", "memory": "10Mi"}, "resourceContainers": "all"},
            "injectorWebhook": {"name": "x", "failurePolicy": "Ignore"},
            "prometheus": {"namespaces": ["linkerd-viz"], "require": "both", "meshedPods": 40}
        }))
        .unwrap();
        assert!(settings.check().is_ok());
        assert_eq!(
            settings.proxy_resources.spelled,
            ("200m".into(), "64Mi".into())
        );
        assert_eq!(
            settings.safe_to_evict.annotation,
            SafeToEvictAnnotation::LocalVolumes
        );
        assert_eq!(
            settings.control_plane.resource_containers,
            ResourceContainers::All
        );
        assert_eq!(settings.control_plane.min_replicas(), 1);
    }

    #[rstest]
    #[case::unknown_top_level(json!({"rulez": {}}), "settings.rulez: unknown field `rulez`, expected one of `rules`")]
    #[case::unknown_rule(json!({"rules": {"safeToEvic": "warn"}}), "settings.rules.safeToEvic: unknown field `safeToEvic`")]
    #[case::unknown_action(json!({"rules": {"safeToEvict": "block"}}), "settings.rules.safeToEvict: unknown action `block`, expected one of `enforce`")]
    #[case::yaml_on(json!({"rules": {"safeToEvict": true}}), "settings.rules.safeToEvict: `true` is not an action")]
    #[case::number_action(json!({"rules": {"safeToEvict": 1}}), "settings.rules.safeToEvict: invalid type: integer `1`, expected an action, one of `enforce`")]
    #[case::malformed_quantity(json!({"proxyResources": {"cpuRequest": "lots"}}), "settings.proxyResources.cpuRequest")]
    #[case::wrong_type(json!({"systemNamespaces": "kube-system"}), "settings.systemNamespaces: invalid type")]
    #[case::unknown_annotation(json!({"safeToEvict": {"annotation": "evict"}}), "settings.safeToEvict.annotation")]
    #[case::unknown_failure_policy(json!({"injectorWebhook": {"failurePolicy": "fail"}}), "settings.injectorWebhook.failurePolicy")]
    #[case::negative_replicas(json!({"controlPlane": {"replicas": -1}}), "settings.controlPlane.replicas")]
    #[case::not_an_object(json!([1, 2]), "settings: expected a map of settings")]
    #[case::section_as_list(json!({"rules": []}), "settings.rules: invalid type: sequence, expected a map of settings")]
    #[case::nested_section_as_list(json!({"controlPlane": {"requests": ["100m"]}}), "settings.controlPlane.requests: invalid type: sequence")]
    fn undecodable_settings_name_the_field(
        #[case] value: serde_json::Value,
        #[case] expected: &str,
    ) {
        let error = decode(value).unwrap_err().to_string();
        assert!(
            error.contains(expected),
            "{error:?} should contain {expected:?}"
        );
    }

    #[rstest]
    #[case::mutate_on_validating_rule(json!({"rules": {"injectionAnnotation": "mutate"}}), "settings.rules.injectionAnnotation: `mutate` is not an action")]
    #[case::mutate_proxy_present(json!({"rules": {"proxyPresent": "mutate"}}), "settings.rules.proxyPresent")]
    #[case::enforce_node_changes(json!({"rules": {"nodeChanges": "enforce"}}), "settings.rules.nodeChanges: `enforce` is not an action this rule can take: it would refuse cordons")]
    #[case::mutate_node_changes(json!({"rules": {"nodeChanges": "mutate"}}), "settings.rules.nodeChanges: `mutate` is not an action this rule can take (it has nothing it could fix); use warn or off")]
    #[case::empty_system_namespace(json!({"systemNamespaces": ["kube-system", ""]}), "settings.systemNamespaces[1]: must not be empty")]
    #[case::duplicate_system_namespace(json!({"systemNamespaces": ["a", "a"]}), "settings.systemNamespaces[1]: \"a\" is listed twice")]
    #[case::zero_replicas(json!({"controlPlane": {"replicas": 0}}), "settings.controlPlane.replicas: must be at least 1")]
    #[case::one_replica_with_budgets(json!({"controlPlane": {"replicas": 1}}), "settings.controlPlane.replicas: 1 leaves no PodDisruptionBudget that both lets a node drain proceed and keeps a replica up")]
    #[case::no_components(json!({"controlPlane": {"components": []}}), "settings.controlPlane.components: must list at least one")]
    #[case::empty_control_plane_namespace(json!({"controlPlane": {"namespace": " "}}), "settings.controlPlane.namespace: must not be empty")]
    #[case::empty_webhook_name(json!({"injectorWebhook": {"name": ""}}), "settings.injectorWebhook.name: must not be empty")]
    #[case::zero_min_replicas(json!({"controlPlane": {"minReplicas": 0}}), "settings.controlPlane.minReplicas: must be at least 1")]
    #[case::min_replicas_above_replicas(json!({"controlPlane": {"minReplicas": 4}}), "settings.controlPlane.minReplicas: 4 is more than controlPlane.replicas (3)")]
    #[case::min_replicas_above_lowered_replicas(json!({"controlPlane": {"replicas": 2, "minReplicas": 3}}), "settings.controlPlane.minReplicas: 3 is more than controlPlane.replicas (2)")]
    fn invalid_values_name_the_field(#[case] value: serde_json::Value, #[case] expected: &str) {
        let error = decode(value).unwrap().check().unwrap_err();
        assert!(
            error.contains(expected),
            "{error:?} should contain {expected:?}"
        );
    }

    #[rstest]
    #[case::default(json!({}), 2)]
    #[case::set(json!({"controlPlane": {"minReplicas": 3}}), 3)]
    #[case::never_above_a_lowered_replicas(json!({"controlPlane": {"replicas": 1}, "rules": {"disruptionBudgets": "off"}}), 1)]
    #[case::set_with_replicas(json!({"controlPlane": {"replicas": 5, "minReplicas": 4}}), 4)]
    fn min_replicas(#[case] value: serde_json::Value, #[case] expected: u32) {
        let settings = decode(value).unwrap();
        assert!(settings.check().is_ok());
        assert_eq!(settings.control_plane.min_replicas(), expected);
    }

    #[test]
    fn min_replicas_of_a_wrong_type_names_the_field() {
        let error = decode(json!({"controlPlane": {"minReplicas": "two"}}))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("settings.controlPlane.minReplicas"),
            "{error}"
        );
    }

    #[test]
    fn unquoted_yaml_off_reads_as_off() {
        let settings =
            decode(json!({"rules": {"proxyPresent": false, "safeToEvict": "off"}})).unwrap();
        assert_eq!(settings.rules.proxy_present, Action::Off);
        assert_eq!(settings.rules.safe_to_evict, Action::Off);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let settings = decode(
            json!({"controlPlane": {"replicas": 0, "components": []}, "systemNamespaces": [""]}),
        )
        .unwrap();
        assert_eq!(settings.problems().len(), 3);
    }
}
