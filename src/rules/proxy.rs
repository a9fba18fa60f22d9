//! The data-plane proxy itself: present when Linkerd should have injected it
//! (the fail-closed guarantee of HA mode), and given resource requests.

use super::rule::{path_with, Context, Operation, Rule, Subject};
use crate::finding::{Action, Finding, RuleId};
use crate::injection::MeshReason;
use crate::mutation::Edit;
use crate::settings::Settings;
use crate::workload::{WorkloadKind, PROXY_CONTAINER};

pub const PROXY_CPU_REQUEST: &str = "config.linkerd.io/proxy-cpu-request";
pub const PROXY_MEMORY_REQUEST: &str = "config.linkerd.io/proxy-memory-request";
pub const PROXY_CPU_LIMIT: &str = "config.linkerd.io/proxy-cpu-limit";
pub const PROXY_MEMORY_LIMIT: &str = "config.linkerd.io/proxy-memory-limit";

pub struct ProxyPresent;

impl Rule for ProxyPresent {
    fn id(&self) -> RuleId {
        RuleId::ProxyPresent
    }

    fn check(&self, subject: &Subject, context: &Context, _: &Settings) -> Vec<Finding> {
        let Subject::Workload(workload) = subject else {
            return Vec::new();
        };
        let Some(decision) = context.injection else {
            return Vec::new();
        };
        if workload.kind != WorkloadKind::Pod
            || context.operation != Operation::Create
            || !decision.injection_requested
            || workload.proxy_container().is_some()
        {
            return Vec::new();
        }
        let why = match decision.reason {
            MeshReason::NamespaceAnnotation => {
                format!("namespace {:?} enables injection", context.namespace)
            }
            _ => "its `linkerd.io/inject` annotation enables injection".to_string(),
        };
        vec![Finding::violation(
            self.id(),
            format!(
                "the pod should be meshed ({why}) but has no {PROXY_CONTAINER} container: Linkerd's proxy injector did not run on it"
            ),
            format!(
                "make sure the linkerd-proxy-injector is running and its webhook reaches namespace {:?} (no `config.linkerd.io/admission-webhooks: disabled` label), then recreate the pod; or set `linkerd.io/inject: disabled` on the pod",
                context.namespace
            ),
        )]
    }
}

pub struct ProxyResources;

impl Rule for ProxyResources {
    fn id(&self) -> RuleId {
        RuleId::ProxyResources
    }

    fn check(&self, subject: &Subject, context: &Context, settings: &Settings) -> Vec<Finding> {
        let Subject::Workload(workload) = subject else {
            return Vec::new();
        };
        if !context.injection.is_some_and(|decision| decision.meshed) {
            return Vec::new();
        }
        let meta = workload.pod_meta();
        // A limit with no request gives the proxy a request equal to it (the
        // API server defaults it so): such a request is never added, as it
        // would lower the defaulted one or exceed the limit.
        let annotated = [
            (PROXY_CPU_REQUEST, PROXY_CPU_LIMIT),
            (PROXY_MEMORY_REQUEST, PROXY_MEMORY_LIMIT),
        ]
        .map(|(request, limit)| meta.annotation(request).or(meta.annotation(limit)));
        let mut findings = Vec::new();
        for key in [
            PROXY_CPU_REQUEST,
            PROXY_MEMORY_REQUEST,
            PROXY_CPU_LIMIT,
            PROXY_MEMORY_LIMIT,
        ] {
            if let Some(value) = meta.annotation(key) {
                if let Err(error) = crate::quantity::Quantity::parse(value) {
                    findings.push(Finding::violation(
                        self.id(),
                        format!("`{key}` cannot be read: {error}"),
                        format!("set `{key}` to a quantity such as 100m or 20Mi"),
                    ));
                }
            }
        }

        if let Some(proxy) = workload.proxy_container() {
            // Injected: the container's own requests are what count.
            let resources = &proxy.container.resources;
            let missing: Vec<(&str, &String)> = [
                ("cpu", &settings.proxy_resources.spelled.0),
                ("memory", &settings.proxy_resources.spelled.1),
            ]
            .into_iter()
            .filter(|(resource, _)| {
                !resources.requests.contains_key(resource)
                    && !resources.limits.contains_key(resource)
            })
            .collect();
            if missing.is_empty() {
                return findings;
            }
            let container_path = path_with(
                &workload.pod_spec_path(),
                &[
                    proxy.list,
                    &proxy.index.to_string(),
                    "resources",
                    "requests",
                ],
            );
            let names: Vec<&str> = missing.iter().map(|(resource, _)| *resource).collect();
            findings.push(
                Finding::violation(
                    self.id(),
                    format!(
                        "the injected {PROXY_CONTAINER} container has no {} request, so the scheduler cannot reserve room for the proxy",
                        names.join(" or ")
                    ),
                    format!(
                        "set `{PROXY_CPU_REQUEST}` and `{PROXY_MEMORY_REQUEST}` in {} (or Linkerd's proxy.resources values, which the injector uses when they are absent); {}",
                        workload.annotations_to_edit(),
                        workload.how_pods_get_it()
                    ),
                )
                .fixed_by(
                    missing
                        .iter()
                        .map(|(resource, value)| Edit::insert(container_path.clone(), *resource, value.as_str()))
                        .collect(),
                ),
            );
            return findings;
        }

        // Not injected yet: the proxy's requests will come from the
        // annotations or from the control plane's defaults, which are not
        // visible here; so this is only judged when asked for explicitly.
        if settings.rules.action(self.id()) == Action::Warn {
            return findings;
        }
        let wanted = [
            (PROXY_CPU_REQUEST, &settings.proxy_resources.spelled.0),
            (PROXY_MEMORY_REQUEST, &settings.proxy_resources.spelled.1),
        ];
        let missing: Vec<&(&str, &String)> = wanted
            .iter()
            .zip(annotated)
            .filter(|(_, present)| present.is_none())
            .map(|(pair, _)| pair)
            .collect();
        if missing.is_empty() {
            return findings;
        }
        let place = workload.pod_annotations_place();
        let annotations_path = path_with(&workload.pod_meta_path(), &["annotations"]);
        let listing: Vec<String> = missing
            .iter()
            .map(|(key, value)| format!("`{key}: {value}`"))
            .collect();
        findings.push(
            Finding::violation(
                self.id(),
                format!(
                    "meshed pods need proxy resource requests, but {place} lacks {}",
                    missing
                        .iter()
                        .map(|(key, _)| format!("`{key}`"))
                        .collect::<Vec<_>>()
                        .join(" and ")
                ),
                format!(
                    "add {} to {}",
                    listing.join(" and "),
                    workload.annotations_to_edit()
                ),
            )
            .fixed_by(
                missing
                    .iter()
                    .map(|(key, value)| {
                        Edit::insert(annotations_path.clone(), *key, value.as_str())
                    })
                    .collect(),
            ),
        );
        findings
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::Severity;
    use crate::injection::NamespaceInjection;
    use crate::phrasebook::LookupFailure;
    use crate::rules::test_support::*;
    use crate::settings::RuleActions;
    use rstest::rstest;
    use serde_json::{json, Value};

    fn pod(annotations: Value, containers: Value, init: Value) -> Subject {
        subject(
            WorkloadKind::Pod,
            &json!({"metadata": {"name": "web-1", "annotations": annotations},
            "spec": {"containers": containers, "initContainers": init}}),
        )
    }

    fn app() -> Value {
        json!([{"name": "web"}])
    }

    fn with_proxy(requests: Value) -> Value {
        json!([{"name": "web"}, {"name": "linkerd-proxy", "resources": {"requests": requests}}])
    }

    fn settings_with(action: Action) -> Settings {
        Settings {
            rules: RuleActions {
                proxy_present: action,
                proxy_resources: action,
                ..RuleActions::default()
            },
            ..Settings::from_json(b"{}").unwrap()
        }
    }

    fn present(subject: &Subject, ns: NamespaceInjection, operation: Operation) -> Vec<Finding> {
        let mut context = workload_context(subject, "app", ns);
        context.operation = operation;
        ProxyPresent.check(subject, &context, &settings_with(Action::Enforce))
    }

    #[rstest]
    #[case::pod_annotation(json!({"linkerd.io/inject": "enabled"}), NamespaceInjection::NotNeeded)]
    #[case::namespace_annotation(json!({}), namespace_annotated(Some("enabled")))]
    #[case::ingress(json!({"linkerd.io/inject": "ingress"}), NamespaceInjection::NotNeeded)]
    fn uninjected_pod_that_should_be_meshed_is_rejected(
        #[case] annotations: Value,
        #[case] ns: NamespaceInjection,
    ) {
        let findings = present(&pod(annotations, app(), json!([])), ns, Operation::Create);
        assert_eq!(findings.len(), 1);
        assert!(findings[0].problem.contains("proxy injector did not run"));
    }

    #[rstest]
    #[case::injected(json!({"linkerd.io/inject": "enabled"}), with_proxy(json!({})), json!([]), NamespaceInjection::NotNeeded)]
    #[case::native_sidecar(json!({"linkerd.io/inject": "enabled"}), app(), json!([{"name": "linkerd-proxy", "restartPolicy": "Always"}]), NamespaceInjection::NotNeeded)]
    #[case::not_requested(json!({}), app(), json!([]), namespace_annotated(None))]
    #[case::disabled_in_enabled_namespace(json!({"linkerd.io/inject": "disabled"}), app(), json!([]), namespace_annotated(Some("enabled")))]
    #[case::namespace_unknown(json!({}), app(), json!([]), NamespaceInjection::Unknown { failure: LookupFailure::from_host_error("forbidden") })]
    #[case::invalid_pod_value_in_enabled_namespace(json!({"linkerd.io/inject": "true"}), app(), json!([]), namespace_annotated(Some("enabled")))]
    #[case::invalid_namespace_value(json!({"linkerd.io/inject": "enabled"}), app(), json!([]), namespace_annotated(Some("Enabled")))]
    #[case::istio_sidecar(json!({"linkerd.io/inject": "enabled"}), json!([{"name": "web"}, {"name": "istio-proxy"}]), json!([]), NamespaceInjection::NotNeeded)]
    fn pods_that_need_no_proxy_or_have_one_pass(
        #[case] annotations: Value,
        #[case] containers: Value,
        #[case] init: Value,
        #[case] ns: NamespaceInjection,
    ) {
        assert!(present(&pod(annotations, containers, init), ns, Operation::Create).is_empty());
    }

    #[rstest]
    #[case::skipped_by_name("cert-manager", namespace_annotated(Some("enabled")))]
    #[case::kube_system("kube-system", NamespaceInjection::NotNeeded)]
    #[case::labelled_opt_out("app", NamespaceInjection::Known(crate::injection::NamespaceFacts {
        inject: crate::injection::InjectValue::Absent,
        webhooks_disabled: true,
    }))]
    fn pods_outside_the_injectors_scope_pass(
        #[case] namespace: &str,
        #[case] ns: NamespaceInjection,
    ) {
        let subject = pod(json!({"linkerd.io/inject": "enabled"}), app(), json!([]));
        let context = workload_context(&subject, namespace, ns);
        assert!(ProxyPresent
            .check(&subject, &context, &settings_with(Action::Enforce))
            .is_empty());
    }

    #[test]
    fn only_pod_creation_is_checked() {
        let subject = pod(json!({"linkerd.io/inject": "enabled"}), app(), json!([]));
        assert!(present(&subject, NamespaceInjection::NotNeeded, Operation::Update).is_empty());
    }

    fn resources(subject: &Subject, action: Action) -> Vec<Finding> {
        let context = workload_context(subject, "app", NamespaceInjection::NotNeeded);
        ProxyResources.check(subject, &context, &settings_with(action))
    }

    #[test]
    fn injected_proxy_without_requests_is_reported_even_under_warn() {
        let subject = pod(json!({}), with_proxy(json!({"cpu": "50m"})), json!([]));
        let findings = resources(&subject, Action::Warn);
        assert_eq!(findings.len(), 1);
        let path: Vec<String> = ["spec", "containers", "1", "resources", "requests"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            findings[0].severity,
            Severity::Violation {
                edits: vec![Edit::insert(path, "memory", "20Mi")]
            }
        );
    }

    #[test]
    fn injected_proxy_with_requests_passes() {
        let subject = pod(
            json!({}),
            with_proxy(json!({"cpu": "100m", "memory": "20Mi"})),
            json!([]),
        );
        assert!(resources(&subject, Action::Enforce).is_empty());
    }

    #[test]
    fn uninjected_workload_is_not_judged_under_warn() {
        let subject = pod(json!({"linkerd.io/inject": "enabled"}), app(), json!([]));
        assert!(resources(&subject, Action::Warn).is_empty());
    }

    #[test]
    fn uninjected_workload_gets_annotations_under_mutate() {
        let subject = pod(
            json!({"linkerd.io/inject": "enabled", PROXY_CPU_REQUEST: "200m"}),
            app(),
            json!([]),
        );
        let findings = resources(&subject, Action::Mutate);
        let path: Vec<String> = ["metadata", "annotations"].map(String::from).to_vec();
        assert_eq!(
            findings[0].severity,
            Severity::Violation {
                edits: vec![Edit::insert(path, PROXY_MEMORY_REQUEST, "20Mi")]
            }
        );
    }

    #[test]
    fn annotated_workload_passes_under_enforce() {
        let subject = pod(
            json!({"linkerd.io/inject": "enabled", PROXY_CPU_REQUEST: "1", PROXY_MEMORY_REQUEST: "64Mi"}),
            app(),
            json!([]),
        );
        assert!(resources(&subject, Action::Enforce).is_empty());
    }

    #[test]
    fn malformed_annotation_is_reported() {
        let subject = pod(
            json!({"linkerd.io/inject": "enabled", PROXY_CPU_REQUEST: "fast", PROXY_MEMORY_REQUEST: "64Mi"}),
            app(),
            json!([]),
        );
        let findings = resources(&subject, Action::Warn);
        assert_eq!(findings.len(), 1);
        assert!(findings[0].problem.contains("cannot be read"));
    }

    #[rstest]
    #[case::limits_only(json!({"limits": {"cpu": "1", "memory": "1Gi"}}))]
    #[case::request_and_limit(json!({"requests": {"cpu": "100m"}, "limits": {"memory": "250Mi"}}))]
    fn injected_proxy_with_limits_has_defaulted_requests(#[case] proxy_resources: Value) {
        let subject = pod(
            json!({}),
            json!([{"name": "web"}, {"name": "linkerd-proxy", "resources": proxy_resources}]),
            json!([]),
        );
        assert!(resources(&subject, Action::Mutate).is_empty());
    }

    #[rstest]
    #[case::both_limits(json!({PROXY_CPU_LIMIT: "1", PROXY_MEMORY_LIMIT: "250Mi"}), vec![])]
    #[case::cpu_limit_only(json!({PROXY_CPU_LIMIT: "50m"}), vec![(PROXY_MEMORY_REQUEST, "20Mi")])]
    #[case::memory_limit_only(json!({PROXY_MEMORY_LIMIT: "10Mi"}), vec![(PROXY_CPU_REQUEST, "100m")])]
    fn limit_annotations_are_never_undercut_or_exceeded(
        #[case] annotations: Value,
        #[case] added: Vec<(&str, &str)>,
    ) {
        let mut annotations = annotations;
        annotations["linkerd.io/inject"] = json!("enabled");
        let subject = pod(annotations, app(), json!([]));
        let findings = resources(&subject, Action::Mutate);
        let path: Vec<String> = ["metadata", "annotations"].map(String::from).to_vec();
        let edits: Vec<Edit> = added
            .into_iter()
            .map(|(key, value)| Edit::insert(path.clone(), key, value))
            .collect();
        if edits.is_empty() {
            assert!(findings.is_empty(), "{findings:?}");
        } else {
            assert_eq!(findings[0].severity, Severity::Violation { edits });
        }
    }

    #[test]
    fn unreadable_limit_annotation_is_reported() {
        let subject = pod(
            json!({"linkerd.io/inject": "enabled", PROXY_CPU_LIMIT: "lots"}),
            app(),
            json!([]),
        );
        let findings = resources(&subject, Action::Warn);
        assert_eq!(findings.len(), 1);
        assert!(findings[0]
            .problem
            .starts_with("`config.linkerd.io/proxy-cpu-limit` cannot be read"));
    }

    #[test]
    fn unmeshed_workloads_are_ignored() {
        let subject = pod(json!({}), app(), json!([]));
        assert!(resources(&subject, Action::Enforce).is_empty());
    }
}
