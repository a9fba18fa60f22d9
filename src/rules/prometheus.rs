//! Prometheus scraping the data plane: bounded retention (time and/or size)
//! and, when the mesh's size is known, memory for ~5 MiB per meshed pod.

use super::{Context, Finding, Rule, RuleId, Subject};
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

/// What a Prometheus sets, however it is deployed.
struct Retention {
    time: bool,
    size: bool,
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
                    findings.extend(retention_finding(&retention, &place, settings, "flags"));
                    findings.extend(memory_finding(
                        &container.container.resources,
                        &place,
                        settings,
                    ));
                }
            }
            Subject::Prometheus(prometheus) => {
                let retention = Retention {
                    time: prometheus
                        .spec
                        .retention
                        .as_deref()
                        .is_some_and(|v| !v.is_empty()),
                    size: prometheus
                        .spec
                        .retention_size
                        .as_deref()
                        .is_some_and(|v| !v.is_empty()),
                };
                findings.extend(retention_finding(
                    &retention,
                    "Prometheus spec",
                    settings,
                    "fields",
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
    Retention {
        time: sets(RETENTION_TIME_FLAG) || sets(RETENTION_LEGACY_FLAG),
        size: sets(RETENTION_SIZE_FLAG),
    }
}

fn retention_finding(
    retention: &Retention,
    place: &str,
    settings: &Settings,
    form: &str,
) -> Option<Finding> {
    let (ok, wanted) = match settings.prometheus.require {
        RetentionRequirement::Time => (retention.time, "a retention time"),
        RetentionRequirement::Size => (retention.size, "a retention size"),
        RetentionRequirement::Both => (
            retention.time && retention.size,
            "both a retention time and a retention size",
        ),
        RetentionRequirement::Either => {
            (retention.time || retention.size, "a retention time or size")
        }
    };
    if ok {
        return None;
    }
    let how = if form == "flags" {
        format!(
            "{RETENTION_TIME_FLAG}=6h (Linkerd viz's default) and/or {RETENTION_SIZE_FLAG}=<bytes>"
        )
    } else {
        "spec.retention (e.g. 6h) and/or spec.retentionSize".to_string()
    };
    Some(Finding::violation(
        RuleId::PrometheusRetention,
        format!(
            "{place} sets no {wanted} (prometheus.require: {}): data-plane metrics grow until Prometheus is OOMKilled",
            match settings.prometheus.require {
                RetentionRequirement::Time => "time",
                RetentionRequirement::Size => "size",
                RetentionRequirement::Both => "both",
                RetentionRequirement::Either => "either",
            }
        ),
        format!("set {how}"),
    ))
}

fn memory_finding(resources: &Resources, place: &str, settings: &Settings) -> Option<Finding> {
    let pods = settings.prometheus.meshed_pods;
    if pods == 0 {
        return None;
    }
    let needed = Quantity::from_units(MEMORY_PER_MESHED_POD).times(pods);
    let memory = resources
        .requests
        .get("memory")
        .or_else(|| resources.limits.get("memory"))
        .and_then(|raw| raw.parse().ok());
    if memory.is_some_and(|memory| memory >= needed) {
        return None;
    }
    let have = memory.map_or("no memory request or limit".to_string(), |m| {
        format!("memory {m}")
    });
    Some(Finding::violation(
        RuleId::PrometheusRetention,
        format!("{place} has {have}, but {pods} meshed pods (prometheus.meshedPods) need about {needed} at ~5Mi each"),
        format!("request at least {needed} of memory, or shorten retention"),
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
    #[case::equals_form(json!(["--storage.tsdb.retention.time=6h"]), RetentionRequirement::Either, 0)]
    #[case::space_form(json!(["--storage.tsdb.retention.time", "6h"]), RetentionRequirement::Time, 0)]
    #[case::size_only(json!(["--storage.tsdb.retention.size=10GB"]), RetentionRequirement::Either, 0)]
    #[case::size_only_when_time_required(json!(["--storage.tsdb.retention.size=10GB"]), RetentionRequirement::Time, 1)]
    #[case::both(json!(["--storage.tsdb.retention.time=6h", "--storage.tsdb.retention.size=10GB"]), RetentionRequirement::Both, 0)]
    #[case::both_missing_size(json!(["--storage.tsdb.retention.time=6h"]), RetentionRequirement::Both, 1)]
    #[case::legacy_flag(json!(["--storage.tsdb.retention=15d"]), RetentionRequirement::Time, 0)]
    #[case::none(json!(["--config.file=/etc/prometheus/prometheus.yml"]), RetentionRequirement::Either, 1)]
    #[case::empty_value(json!(["--storage.tsdb.retention.time="]), RetentionRequirement::Either, 1)]
    #[case::flag_without_value(json!(["--storage.tsdb.retention.time"]), RetentionRequirement::Either, 1)]
    fn retention_flags(
        #[case] args: Value,
        #[case] require: RetentionRequirement,
        #[case] expected: usize,
    ) {
        let subject = deployment(
            json!({"name": "prometheus", "image": "prom/prometheus:v2.55.1", "args": args}),
        );
        assert_eq!(
            check(&subject, "linkerd-viz", &with_require(require)).len(),
            expected
        );
    }

    #[rstest]
    #[case::by_image(json!({"name": "server", "image": "quay.io/prometheus/prometheus:v3.0.0"}), 1)]
    #[case::by_name(json!({"name": "prometheus", "image": "example/tsdb"}), 1)]
    #[case::operator_is_not_prometheus(json!({"name": "operator", "image": "quay.io/prometheus-operator/prometheus-operator:v0.7"}), 0)]
    #[case::reloader_is_not_prometheus(json!({"name": "reloader", "image": "quay.io/prometheus-operator/prometheus-config-reloader"}), 0)]
    fn prometheus_containers_are_recognised(#[case] container: Value, #[case] expected: usize) {
        assert_eq!(
            check(&deployment(container), "linkerd-viz", &Settings::default()).len(),
            expected
        );
    }

    #[test]
    fn other_namespaces_are_ignored() {
        let subject = deployment(json!({"name": "prometheus"}));
        assert!(check(&subject, "monitoring", &Settings::default()).is_empty());
    }

    #[rstest]
    #[case::enough(json!({"requests": {"memory": "1Gi"}}), 0)]
    #[case::limit_counts(json!({"limits": {"memory": "600Mi"}}), 0)]
    #[case::short(json!({"requests": {"memory": "300Mi"}}), 1)]
    #[case::none(json!({}), 1)]
    fn memory_per_meshed_pod(#[case] resources: Value, #[case] expected: usize) {
        let mut settings = Settings::default();
        settings.prometheus.meshed_pods = 100;
        let subject = deployment(
            json!({"name": "prometheus", "args": ["--storage.tsdb.retention.time=6h"], "resources": resources}),
        );
        let findings = check(&subject, "linkerd-viz", &settings);
        assert_eq!(findings.len(), expected);
        if expected == 1 {
            assert!(
                findings[0].problem.contains("500Mi"),
                "{}",
                findings[0].problem
            );
        }
    }

    #[rstest]
    #[case::retention(json!({"retention": "6h"}), 0)]
    #[case::retention_size(json!({"retentionSize": "10GB"}), 0)]
    #[case::neither(json!({}), 1)]
    fn operator_prometheus(#[case] spec: Value, #[case] expected: usize) {
        let object: PrometheusObject =
            serde_json::from_value(json!({"metadata": {"name": "k8s"}, "spec": spec})).unwrap();
        let findings = PrometheusRetention.check(
            &Subject::Prometheus(object),
            &Context::new(Operation::Create, "linkerd-viz"),
            &Settings::default(),
        );
        assert_eq!(findings.len(), expected);
    }
}
