//! Prometheus scraping the data plane: retention bounded the way
//! `prometheus.require` asks (time and/or size), defaults counted as what they
//! are, and, when the mesh's size is known, memory for ~5 MiB per meshed pod.
//!
//! Retention bounds the disk the TSDB takes and, through the number of
//! series kept, the head block's memory.

use super::rule::{Context, Rule, Subject};
use crate::finding::{Finding, RuleId};
use crate::objects::{Container, Resources};
use crate::quantity::Quantity;
use crate::settings::{RetentionRequirement, Settings};
use crate::workload::WorkloadKind;

const RETENTION_TIME_FLAG: &str = "--storage.tsdb.retention.time";
/// Deprecated spelling of the time limit, still honoured by Prometheus.
const RETENTION_LEGACY_FLAG: &str = "--storage.tsdb.retention";
const RETENTION_SIZE_FLAG: &str = "--storage.tsdb.retention.size";
/// Linkerd's sizing guidance: about 5 MB of Prometheus memory per meshed pod.
const MEMORY_PER_MESHED_POD: i128 = 5 << 20;

pub struct PrometheusRetention;

/// Prometheus keeps 15 days when given neither retention flag.
const PROMETHEUS_DEFAULT_RETENTION: &str = "Prometheus's default of 15 days";
/// The Operator sets `retention: 24h` when `retentionSize` is unset too.
const OPERATOR_DEFAULT_RETENTION: &str = "the Prometheus Operator's default of 24h";

/// How long samples are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TimeBound {
    /// Set explicitly.
    Set,
    /// Unset, and the default applies (it does only without a size limit).
    Default(&'static str),
    /// Unset, with a size limit: samples are kept however old they are.
    Unbounded,
}

/// What a Prometheus bounds its retention by, however it is deployed.
struct Retention {
    time: TimeBound,
    size: bool,
}

impl Retention {
    fn new(time_set: bool, size_set: bool, default: &'static str) -> Self {
        let time = match (time_set, size_set) {
            (true, _) => TimeBound::Set,
            (false, false) => TimeBound::Default(default),
            (false, true) => TimeBound::Unbounded,
        };
        Self {
            time,
            size: size_set,
        }
    }

    fn time_bounded(&self) -> bool {
        self.time != TimeBound::Unbounded
    }
}

/// How a Prometheus is configured, for the fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Flags,
    OperatorFields,
}

impl Rule for PrometheusRetention {
    fn id(&self) -> RuleId {
        RuleId::PrometheusRetention
    }

    fn check(&self, subject: &Subject, context: &Context, settings: &Settings) -> Vec<Finding> {
        if !settings
            .prometheus
            .namespaces
            .iter()
            .any(|ns| ns == &context.namespace)
        {
            return Vec::new();
        }
        let mut findings = Vec::new();
        match subject {
            Subject::Workload(workload)
                if matches!(
                    workload.kind,
                    WorkloadKind::Deployment | WorkloadKind::StatefulSet
                ) =>
            {
                for container in workload.containers().filter(|c| is_prometheus(c.container)) {
                    let place = format!("container {:?}", container.container.name);
                    let retention = flags_retention(container.container);
                    findings.extend(retention_finding(&retention, &place, settings, Form::Flags));
                    findings.extend(memory_finding(
                        &container.container.resources,
                        &place,
                        settings,
                    ));
                }
            }
            Subject::Prometheus(prometheus) => {
                let set = |value: &Option<String>| value.as_deref().is_some_and(|v| !v.is_empty());
                let retention = Retention::new(
                    set(&prometheus.spec.retention),
                    set(&prometheus.spec.retention_size),
                    OPERATOR_DEFAULT_RETENTION,
                );
                findings.extend(retention_finding(
                    &retention,
                    "Prometheus spec",
                    settings,
                    Form::OperatorFields,
                ));
                findings.extend(memory_finding(
                    &prometheus.spec.resources,
                    "Prometheus spec",
                    settings,
                ));
            }
            _ => {}
        }
        findings
    }
}

/// A container named `prometheus`, or running an image whose repository is
/// `prometheus` (`prom/prometheus`, `quay.io/prometheus/prometheus`), not the
/// operator's or the config reloader's.
fn is_prometheus(container: &Container) -> bool {
    let repository = container.image.split(['@']).next().unwrap_or_default();
    let last = repository.rsplit('/').next().unwrap_or_default();
    let name = last.split(':').next().unwrap_or_default();
    container.name == "prometheus" || name == "prometheus"
}

fn flags_retention(container: &Container) -> Retention {
    let words: Vec<&str> = container
        .command
        .iter()
        .chain(&container.args)
        .map(String::as_str)
        .collect();
    let sets = |flag: &str| {
        words
            .iter()
            .enumerate()
            .any(|(i, word)| match word.strip_prefix(flag) {
                Some(rest) if rest.starts_with('=') => rest.len() > 1,
                Some("") => words.get(i + 1).is_some_and(|next| !next.starts_with('-')),
                _ => false,
            })
    };
    Retention::new(
        sets(RETENTION_TIME_FLAG) || sets(RETENTION_LEGACY_FLAG),
        sets(RETENTION_SIZE_FLAG),
        PROMETHEUS_DEFAULT_RETENTION,
    )
}

fn retention_finding(
    retention: &Retention,
    place: &str,
    settings: &Settings,
    form: Form,
) -> Option<Finding> {
    let require = settings.prometheus.require;
    let (needs_time, needs_size) = match require {
        RetentionRequirement::Time => (!retention.time_bounded(), false),
        RetentionRequirement::Size => (false, !retention.size),
        RetentionRequirement::Both => (!retention.time_bounded(), !retention.size),
        RetentionRequirement::Either => {
            let unbounded = !retention.time_bounded() && !retention.size;
            (unbounded, unbounded)
        }
    };
    if !needs_time && !needs_size {
        return None;
    }
    let state = match (retention.time, retention.size) {
        (TimeBound::Set, true) => "bounds retention by time and size".to_string(),
        (TimeBound::Set, false) => "bounds retention by time only".to_string(),
        (TimeBound::Default(default), _) => {
            format!("sets no retention limit, so {default} applies: bounded in time, not in size")
        }
        (TimeBound::Unbounded, true) => {
            "bounds retention by size only, with no time limit".to_string()
        }
        (TimeBound::Unbounded, false) => "sets no retention limit".to_string(),
    };
    let wanted = match require {
        RetentionRequirement::Time => "a retention time",
        RetentionRequirement::Size => "a retention size",
        RetentionRequirement::Both => "both a retention time and a retention size",
        RetentionRequirement::Either => "a retention time or a retention size",
    };
    let mut risks = Vec::new();
    if needs_size {
        risks.push("without a size limit, the disk the TSDB takes and the head block's memory grow with the number of series the meshed pods produce, for the whole retention window");
    }
    if needs_time {
        risks.push("without a time limit, samples are kept however old they are until the size limit is reached");
    }
    let mut settings_to_add = Vec::new();
    if needs_time {
        settings_to_add.push(match form {
            Form::Flags => format!("{RETENTION_TIME_FLAG}=6h (Linkerd viz's value)"),
            Form::OperatorFields => "spec.retention (e.g. 6h)".to_string(),
        });
    }
    if needs_size {
        settings_to_add.push(match form {
            Form::Flags => format!("{RETENTION_SIZE_FLAG} (e.g. 10GB)"),
            Form::OperatorFields => "spec.retentionSize (e.g. 10GB)".to_string(),
        });
    }
    Some(Finding::violation(
        RuleId::PrometheusRetention,
        format!(
            "{place} {state}; prometheus.require: {} asks for {wanted}: {}",
            require_name(require),
            risks.join("; ")
        ),
        format!(
            "set {}, or choose another prometheus.require",
            settings_to_add.join(" and ")
        ),
    ))
}

fn require_name(require: RetentionRequirement) -> &'static str {
    match require {
        RetentionRequirement::Time => "time",
        RetentionRequirement::Size => "size",
        RetentionRequirement::Both => "both",
        RetentionRequirement::Either => "either",
    }
}

fn memory_finding(resources: &Resources, place: &str, settings: &Settings) -> Option<Finding> {
    let pods = settings.prometheus.meshed_pods;
    if pods == 0 {
        return None;
    }
    let needed = Quantity::from_units(MEMORY_PER_MESHED_POD).times(pods);
    // A limit alone is also the request: the API server defaults it so.
    let written = resources
        .requests
        .get("memory")
        .or_else(|| resources.limits.get("memory"));
    if written
        .and_then(|raw| raw.parse().ok())
        .is_some_and(|memory| memory >= needed)
    {
        return None;
    }
    let have = match written {
        None => "no memory request or limit".to_string(),
        Some(raw) if raw.parse().is_err() => format!(
            "a memory value that cannot be read ({})",
            crate::phrasebook::quoted(raw.as_written())
        ),
        Some(raw) => format!("memory {raw}"),
    };
    Some(Finding::violation(
        RuleId::PrometheusRetention,
        format!("{place} has {have}, but {pods} meshed pods (prometheus.meshedPods) need about {needed} at ~5Mi each"),
        format!("set resources.requests.memory of {place} to at least {needed}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::injection::NamespaceInjection;
    use crate::objects::PrometheusObject;
    use crate::rules::test_support::*;
    use crate::rules::Operation;
    use rstest::rstest;
    use serde_json::{json, Value};

    fn deployment(container: Value) -> Subject {
        subject(
            WorkloadKind::Deployment,
            &json!({"metadata": {"name": "prometheus"},
            "spec": {"template": {"spec": {"containers": [container]}}}}),
        )
    }

    fn check(subject: &Subject, namespace: &str, settings: &Settings) -> Vec<Finding> {
        let context = workload_context(subject, namespace, NamespaceInjection::NotNeeded);
        PrometheusRetention.check(subject, &context, settings)
    }

    fn with_require(require: RetentionRequirement) -> Settings {
        let mut settings = Settings::default();
        settings.prometheus.require = require;
        settings
    }

    #[rstest]
    #[case::equals_form(json!(["--storage.tsdb.retention.time=6h"]), RetentionRequirement::Either, None)]
    #[case::space_form(json!(["--storage.tsdb.retention.time", "6h"]), RetentionRequirement::Time, None)]
    #[case::size_only(json!(["--storage.tsdb.retention.size=10GB"]), RetentionRequirement::Either, None)]
    #[case::size_only_when_time_required(json!(["--storage.tsdb.retention.size=10GB"]), RetentionRequirement::Time, Some("bounds retention by size only, with no time limit; prometheus.require: time asks for a retention time: without a time limit, samples are kept however old"))]
    #[case::both(json!(["--storage.tsdb.retention.time=6h", "--storage.tsdb.retention.size=10GB"]), RetentionRequirement::Both, None)]
    #[case::both_missing_size(json!(["--storage.tsdb.retention.time=6h"]), RetentionRequirement::Both, Some("bounds retention by time only; prometheus.require: both asks for both a retention time and a retention size: without a size limit, the disk the TSDB takes and the head block's memory grow"))]
    #[case::legacy_flag(json!(["--storage.tsdb.retention=15d"]), RetentionRequirement::Time, None)]
    #[case::default_is_bounded_in_time(json!(["--config.file=/etc/prometheus/prometheus.yml"]), RetentionRequirement::Either, None)]
    #[case::default_meets_time(json!([]), RetentionRequirement::Time, None)]
    #[case::default_lacks_size(json!([]), RetentionRequirement::Size, Some("sets no retention limit, so Prometheus's default of 15 days applies: bounded in time, not in size; prometheus.require: size asks for a retention size"))]
    #[case::default_lacks_size_for_both(json!([]), RetentionRequirement::Both, Some("Prometheus's default of 15 days applies"))]
    #[case::empty_value_is_unset(json!(["--storage.tsdb.retention.time="]), RetentionRequirement::Size, Some("Prometheus's default of 15 days applies"))]
    #[case::flag_without_value_is_unset(json!(["--storage.tsdb.retention.time"]), RetentionRequirement::Size, Some("Prometheus's default of 15 days applies"))]
    fn retention_flags(
        #[case] args: Value,
        #[case] require: RetentionRequirement,
        #[case] problem: Option<&str>,
    ) {
        let subject = deployment(
            json!({"name": "prometheus", "image": "prom/prometheus:v2.55.1", "args": args}),
        );
        let findings = check(&subject, "linkerd-viz", &with_require(require));
        match problem {
            None => assert!(findings.is_empty(), "{findings:?}"),
            Some(problem) => {
                assert_eq!(findings.len(), 1, "{findings:?}");
                let text = &findings[0].problem;
                assert!(text.starts_with("container \"prometheus\" "), "{text}");
                assert!(text.contains(problem), "{text:?} lacks {problem:?}");
                assert!(
                    !text.contains("OOMKilled") && !text.contains("sets no a"),
                    "{text}"
                );
            }
        }
    }

    #[rstest]
    #[case::time(RetentionRequirement::Time, "set --storage.tsdb.retention.time=6h (Linkerd viz's value), or choose another prometheus.require")]
    #[case::size(
        RetentionRequirement::Size,
        "set --storage.tsdb.retention.size (e.g. 10GB), or choose another prometheus.require"
    )]
    fn the_fix_names_the_missing_flag(#[case] require: RetentionRequirement, #[case] fix: &str) {
        let args = match require {
            RetentionRequirement::Time => json!(["--storage.tsdb.retention.size=10GB"]),
            _ => json!([]),
        };
        let subject = deployment(json!({"name": "prometheus", "args": args}));
        let findings = check(&subject, "linkerd-viz", &with_require(require));
        assert_eq!(findings[0].fix, fix);
    }

    #[rstest]
    #[case::by_image(json!({"name": "server", "image": "quay.io/prometheus/prometheus:v3.0.0"}), 1)]
    #[case::by_name(json!({"name": "prometheus", "image": "example/tsdb"}), 1)]
    #[case::operator_is_not_prometheus(json!({"name": "operator", "image": "quay.io/prometheus-operator/prometheus-operator:v0.7"}), 0)]
    #[case::reloader_is_not_prometheus(json!({"name": "reloader", "image": "quay.io/prometheus-operator/prometheus-config-reloader"}), 0)]
    fn prometheus_containers_are_recognised(#[case] container: Value, #[case] expected: usize) {
        assert_eq!(
            check(
                &deployment(container),
                "linkerd-viz",
                &with_require(RetentionRequirement::Size)
            )
            .len(),
            expected
        );
    }

    #[test]
    fn other_namespaces_are_ignored() {
        let subject = deployment(json!({"name": "prometheus"}));
        assert!(check(
            &subject,
            "monitoring",
            &with_require(RetentionRequirement::Size)
        )
        .is_empty());
    }

    #[rstest]
    #[case::enough(json!({"requests": {"memory": "1Gi"}}), None)]
    #[case::limit_counts(json!({"limits": {"memory": "600Mi"}}), None)]
    #[case::short(json!({"requests": {"memory": "300Mi"}}), Some("has memory 300Mi, but 100 meshed pods"))]
    #[case::short_as_written(json!({"requests": {"memory": "500M"}}), Some("has memory 500M, but"))]
    #[case::unreadable(json!({"requests": {"memory": "lots"}}), Some("has a memory value that cannot be read (\"lots\")"))]
    #[case::none(json!({}), Some("has no memory request or limit"))]
    fn memory_per_meshed_pod(#[case] resources: Value, #[case] problem: Option<&str>) {
        let mut settings = Settings::default();
        settings.prometheus.meshed_pods = 100;
        let subject = deployment(
            json!({"name": "prometheus", "args": ["--storage.tsdb.retention.time=6h"], "resources": resources}),
        );
        let findings = check(&subject, "linkerd-viz", &settings);
        match problem {
            None => assert!(findings.is_empty(), "{findings:?}"),
            Some(problem) => {
                assert_only_finding(&findings, problem);
                assert!(
                    findings[0].problem.contains("need about 500Mi"),
                    "{}",
                    findings[0].problem
                );
            }
        }
    }

    #[rstest]
    #[case::retention(json!({"retention": "6h"}), RetentionRequirement::Either, None)]
    #[case::retention_size(json!({"retentionSize": "10GB"}), RetentionRequirement::Either, None)]
    #[case::defaults_are_24h(json!({}), RetentionRequirement::Either, None)]
    #[case::defaults_meet_time(json!({}), RetentionRequirement::Time, None)]
    #[case::defaults_lack_size(json!({}), RetentionRequirement::Size, Some("Prometheus spec sets no retention limit, so the Prometheus Operator's default of 24h applies: bounded in time, not in size; prometheus.require: size asks for a retention size"))]
    #[case::size_only_has_no_default_time(json!({"retentionSize": "10GB"}), RetentionRequirement::Both, Some("bounds retention by size only, with no time limit"))]
    #[case::both(json!({"retention": "6h", "retentionSize": "10GB"}), RetentionRequirement::Both, None)]
    fn operator_prometheus(
        #[case] spec: Value,
        #[case] require: RetentionRequirement,
        #[case] problem: Option<&str>,
    ) {
        let object: PrometheusObject =
            serde_json::from_value(json!({"metadata": {"name": "k8s"}, "spec": spec})).unwrap();
        let findings = PrometheusRetention.check(
            &Subject::Prometheus(object),
            &Context::new(Operation::Create, "linkerd-viz"),
            &with_require(require),
        );
        match problem {
            None => assert!(findings.is_empty(), "{findings:?}"),
            Some(problem) => {
                assert_only_finding(&findings, problem);
                assert!(
                    findings[0].fix.contains("spec.retention"),
                    "{}",
                    findings[0].fix
                );
            }
        }
    }
}
