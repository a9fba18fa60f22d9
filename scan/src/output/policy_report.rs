//! Per-object reports as Kubewarden 1.35's audit scanner writes them
//! (kubewarden-controller v1.35.0, `internal/audit-scanner/report/`), in
//! either of its two report APIs (its `--report-kind`):
//!
//! - [`ReportApi::PolicyReport`] (`-o policy-report`): `wgpolicyk8s.io/v1alpha2`
//!   `PolicyReport` / `ClusterPolicyReport`;
//! - [`ReportApi::OpenReports`] (`-o openreports`): `openreports.io/v1alpha1`
//!   `Report` / `ClusterReport`.
//!
//! Both are written the same way, as the audit scanner fills both from the
//! same code (`getReportObjectMeta`, `getReportScope`, `newReportResult`):
//! one report per object, namespaced in the object's namespace or
//! cluster-scoped for a cluster-scoped object, with `scope` naming the
//! object, and results carrying `source: kubewarden`, the policy's unique
//! name, its category and severity annotations, `scored`, an empty
//! `resourceSelector` and the policy's properties. Unlike the audit
//! scanner, which gives one result per policy, the scanner gives one per
//! rule (`rule`), so a report says which of the policy's rules failed; and
//! a manifest has no UID, so the report is named after the object's kind
//! and name, and has no owner reference (docs/scanner.md).

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use cluster_sim::findings::Finding;
use serde::Serialize;

use super::{enabled_rules, fixed_at_admission, patch_operations, Context, NO_RULE_NAMED};
use crate::rules::{FAILURE_RULE, GENERAL_RULE, MUTATION_RULE};
use crate::scan::{Judgement, ObjectResult, Scan};

/// The report API to write, as the audit scanner's `--report-kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportApi {
    /// `wgpolicyk8s.io/v1alpha2` (`--report-kind policyreport`, the audit
    /// scanner's default in 1.35).
    PolicyReport,
    /// `openreports.io/v1alpha1` (`--report-kind openreports`).
    OpenReports,
}

impl ReportApi {
    pub fn api_version(self) -> &'static str {
        match self {
            Self::PolicyReport => "wgpolicyk8s.io/v1alpha2",
            Self::OpenReports => "openreports.io/v1alpha1",
        }
    }

    /// The kind of the report of a namespaced or a cluster-scoped object.
    pub fn kind(self, namespaced: bool) -> &'static str {
        match (self, namespaced) {
            (Self::PolicyReport, true) => "PolicyReport",
            (Self::PolicyReport, false) => "ClusterPolicyReport",
            (Self::OpenReports, true) => "Report",
            (Self::OpenReports, false) => "ClusterReport",
        }
    }
}

/// What the reports name as their source, as the audit scanner does.
const SOURCE: &str = "kubewarden";
/// The policy the results belong to: the mutating instance of
/// `policy.yaml`, under the audit scanner's name for a cluster-wide policy
/// (`ClusterAdmissionPolicy.GetUniqueName`: `clusterwide-<name>`).
const POLICY: &str = "clusterwide-linkerd-ha-mutating";
/// That policy's `metadata.name` (the `policy-name` property).
const POLICY_NAME: &str = "linkerd-ha-mutating";
/// Its `io.kubewarden.policy.category` annotation, which the audit scanner
/// copies into every result.
const CATEGORY: &str = "Service mesh";
/// Its `io.kubewarden.policy.severity` annotation, likewise (a policy in
/// `monitor` mode would give `info`; policy.yaml's is in `protect`).
const SEVERITY: &str = "medium";
/// The label the reports are found by. Not the audit scanner's
/// `kubewarden`: it deletes every report labelled so that its own run did
/// not write.
const MANAGED_BY: &str = "linkerd-ha-scan";

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    api_version: &'static str,
    kind: &'static str,
    metadata: Metadata,
    scope: Scope,
    summary: Counts,
    results: Vec<ReportResult>,
}

#[derive(Debug, Serialize)]
struct Metadata {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<String>,
    labels: BTreeMap<&'static str, &'static str>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Scope {
    api_version: String,
    kind: String,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<String>,
}

#[derive(Debug, Default, Serialize)]
struct Counts {
    pass: usize,
    fail: usize,
    warn: usize,
    error: usize,
    skip: usize,
}

/// One result, its fields in the order the audit scanner's Go types
/// marshal them.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ReportResult {
    source: &'static str,
    policy: &'static str,
    rule: String,
    category: &'static str,
    severity: &'static str,
    timestamp: Timestamp,
    result: &'static str,
    scored: bool,
    /// Always empty, as the audit scanner writes it: the result is about
    /// the report's `scope`.
    resource_selector: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    properties: BTreeMap<&'static str, String>,
}

#[derive(Debug, Clone, Copy, Serialize)]
struct Timestamp {
    seconds: u64,
    nanos: u32,
}

/// The reports of `scan` in `api`: one YAML document per named object.
pub fn render(scan: &Scan, context: &Context, api: ReportApi) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| Timestamp {
            seconds: elapsed.as_secs(),
            nanos: 0,
        })
        .unwrap_or(Timestamp {
            seconds: 0,
            nanos: 0,
        });
    scan.results
        .iter()
        .filter(|result| result.name.is_some())
        .map(|result| report(result, context, api, now))
        .map(|report| {
            // Plain data with string keys: serializing cannot fail.
            format!(
                "---\n{}",
                serde_yaml_ng::to_string(&report).unwrap_or_default()
            )
        })
        .collect()
}

fn report(
    object: &ObjectResult,
    context: &Context,
    api: ReportApi,
    timestamp: Timestamp,
) -> Report {
    let result = |rule: &str, outcome: &'static str, message: Option<String>| ReportResult {
        source: SOURCE,
        policy: POLICY,
        rule: rule.to_owned(),
        category: CATEGORY,
        severity: SEVERITY,
        timestamp,
        result: outcome,
        // A warning is a requirement not met that does not count: the
        // reports' definition of `warn`.
        scored: outcome != "warn",
        resource_selector: BTreeMap::new(),
        message,
        properties: BTreeMap::from([
            // What the audit scanner records of the policy (it also has the
            // policy object's UID and resourceVersion, which a scan has not).
            ("mutating", "true".to_owned()),
            ("context-aware", "true".to_owned()),
            ("policy-name", POLICY_NAME.to_owned()),
            // Where the scanner found the object, and how it sent it.
            ("operation", object.operation.to_owned()),
            (
                "location",
                format!("{}:{}", object.location.file, object.location.line),
            ),
        ]),
    };
    let lines = |rule: Option<&str>, findings: &[Finding]| {
        findings
            .iter()
            .filter(|finding| finding.rule.as_deref() == rule)
            .map(|finding| finding.text.clone())
            .collect::<Vec<_>>()
    };

    // Every rule that is on; then any rule the answer names for its
    // mutation that is not (or MUTATION_RULE, when it names none); then
    // what was said outside the rules.
    let mut rule_names: Vec<String> = enabled_rules(context.rules)
        .map(|(rule, _)| rule.name().to_owned())
        .collect();
    if let Judgement::Mutated { rules, .. } = &object.judgement {
        for rule in rules {
            if !rule_names.contains(&rule.rule) {
                rule_names.push(rule.rule.clone());
            }
        }
        if rules.is_empty() {
            rule_names.push(MUTATION_RULE.to_owned());
        }
    }
    let rule_names = rule_names
        .iter()
        .map(|name| Some(name.as_str()))
        .chain(std::iter::once(None));

    let mut results = Vec::new();
    if let Judgement::PolicyFailed(error) = &object.judgement {
        results.push(result(
            FAILURE_RULE,
            "error",
            Some(format!("the policy failed: {error}")),
        ));
    }
    for rule in rule_names {
        let failed = lines(rule, &object.violations);
        let warned = lines(rule, &object.warnings);
        let name = rule.unwrap_or(GENERAL_RULE);
        let entry = if let Judgement::PolicyFailed(_) = object.judgement {
            // Not judged: no rule passed.
            if rule.is_none() {
                continue;
            }
            result(name, "error", None)
        } else if !failed.is_empty() {
            result(name, "fail", Some(failed.join("\n")))
        } else if !warned.is_empty() {
            result(name, "warn", Some(warned.join("\n")))
        } else if rule.is_none() {
            // The general entry only when something was said outside the rules.
            continue;
        } else if let Judgement::Mutated { patch, rules, .. } = &object.judgement {
            // Passes, as in the audit scanner (which does not look at the
            // patch), saying what the rule fixes at admission.
            match rules.iter().find(|fixed| fixed.rule == name) {
                Some(fixed) => result(name, "pass", Some(fixed_at_admission(fixed, object))),
                None if name == MUTATION_RULE => result(
                    name,
                    "pass",
                    Some(format!(
                        "{}: the policy changes it at admission: {} ({NO_RULE_NAMED}; linkerd-ha-scan --fix writes the change)",
                        object.title(),
                        patch_operations(patch).join(", ")
                    )),
                ),
                None => result(name, "pass", None),
            }
        } else {
            result(name, "pass", None)
        };
        results.push(entry);
    }
    let mut summary = Counts::default();
    for entry in &results {
        match entry.result {
            "pass" => summary.pass += 1,
            "fail" => summary.fail += 1,
            "warn" => summary.warn += 1,
            "error" => summary.error += 1,
            _ => summary.skip += 1,
        }
    }
    let name = object.name.clone().unwrap_or_default();
    Report {
        api_version: api.api_version(),
        kind: api.kind(object.namespace.is_some()),
        metadata: Metadata {
            name: report_name(&object.kind, &name),
            namespace: object.namespace.clone(),
            labels: BTreeMap::from([("app.kubernetes.io/managed-by", MANAGED_BY)]),
        },
        scope: Scope {
            api_version: object.api_version.clone(),
            kind: object.kind.clone(),
            name,
            namespace: object.namespace.clone(),
        },
        summary,
        results,
    }
}

/// A DNS-1123 subdomain naming the report of a `kind` object `name` (the
/// audit scanner uses the object's UID, which a manifest does not have).
fn report_name(kind: &str, name: &str) -> String {
    let raw = format!(
        "linkerd-ha-{}-{}",
        kind.to_ascii_lowercase(),
        name.to_ascii_lowercase()
    );
    let cleaned: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .take(253)
        .collect();
    cleaned.trim_end_matches(['-', '.']).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use serde::Deserialize;
    use serde_json::Value;

    #[rstest]
    #[case::deployment(
        "Deployment",
        "linkerd-destination",
        "linkerd-ha-deployment-linkerd-destination"
    )]
    #[case::role("Role", "system:auth_", "linkerd-ha-role-system-auth")]
    fn report_names_are_dns_subdomains(
        #[case] kind: &str,
        #[case] name: &str,
        #[case] expected: &str,
    ) {
        assert_eq!(report_name(kind, name), expected);
    }

    #[rstest]
    #[case::policy_report(
        ReportApi::PolicyReport,
        "wgpolicyk8s.io/v1alpha2",
        "PolicyReport",
        "ClusterPolicyReport"
    )]
    #[case::openreports(
        ReportApi::OpenReports,
        "openreports.io/v1alpha1",
        "Report",
        "ClusterReport"
    )]
    fn each_api_names_its_kinds(
        #[case] api: ReportApi,
        #[case] api_version: &str,
        #[case] namespaced: &str,
        #[case] cluster: &str,
    ) {
        assert_eq!(
            (api.api_version(), api.kind(true), api.kind(false)),
            (api_version, namespaced, cluster)
        );
    }

    /// The policy the results name, and what the audit scanner would copy
    /// from it, are policy.yaml's mutating instance.
    #[test]
    fn the_results_belong_to_policy_yamls_mutating_instance() {
        let text = include_str!("../../../policy.yaml");
        let policy = serde_yaml_ng::Deserializer::from_str(text)
            .filter_map(|document| Value::deserialize(document).ok())
            .find(|document| {
                document["kind"] == "ClusterAdmissionPolicy"
                    && document["spec"]["mutating"] == Value::Bool(true)
            })
            .expect("policy.yaml's mutating ClusterAdmissionPolicy");
        let name = policy["metadata"]["name"].as_str().unwrap_or_default();
        assert_eq!(
            (POLICY_NAME, POLICY),
            (name, format!("clusterwide-{name}").as_str())
        );
        let annotations = &policy["metadata"]["annotations"];
        assert_eq!(annotations["io.kubewarden.policy.category"], CATEGORY);
        assert_eq!(annotations["io.kubewarden.policy.severity"], SEVERITY);
        assert_eq!(policy["spec"]["mode"], "protect");
        assert!(policy["spec"]["contextAwareResources"]
            .as_array()
            .is_some_and(|resources| !resources.is_empty()));
    }
}
