//! PolicyReports (`wgpolicyk8s.io/v1alpha2`) as Kubewarden's audit scanner
//! writes them: one report per object, a `PolicyReport` in the object's
//! namespace or a `ClusterPolicyReport` for a cluster-scoped one, with
//! `scope` naming the object. Unlike the audit scanner, which gives one
//! result per policy, the scanner gives one per rule (`rule`), so a report
//! says which of the policy's rules failed.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::{enabled_rules, fixed_at_admission, patch_operations, Context, NO_RULE_NAMED};
use crate::rules::{FAILURE_RULE, GENERAL_RULE, MUTATION_RULE};
use crate::scan::{Judgement, ObjectResult, Scan};

const API_VERSION: &str = "wgpolicyk8s.io/v1alpha2";
/// What the reports name as their source, as the audit scanner does.
const SOURCE: &str = "kubewarden";
/// The policy the results belong to: the mutating instance of
/// `policy.yaml`, under the audit scanner's name for a cluster-wide policy.
const POLICY: &str = "clusterwide-linkerd-ha-mutating";

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

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ReportResult {
    source: &'static str,
    policy: &'static str,
    rule: String,
    category: &'static str,
    result: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    scored: bool,
    timestamp: Timestamp,
    properties: BTreeMap<&'static str, String>,
}

#[derive(Debug, Clone, Copy, Serialize)]
struct Timestamp {
    seconds: u64,
    nanos: u32,
}

pub fn render(scan: &Scan, context: &Context) -> String {
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
        .map(|result| report(result, context, now))
        .map(|report| {
            // Plain data with string keys: serializing cannot fail.
            format!(
                "---\n{}",
                serde_yaml_ng::to_string(&report).unwrap_or_default()
            )
        })
        .collect()
}

fn report(object: &ObjectResult, context: &Context, timestamp: Timestamp) -> Report {
    let result = |rule: &str, outcome: &'static str, message: Option<String>| ReportResult {
        source: SOURCE,
        policy: POLICY,
        rule: rule.to_owned(),
        category: "Linkerd high availability",
        result: outcome,
        message,
        scored: true,
        timestamp,
        properties: BTreeMap::from([
            ("operation", object.operation.to_owned()),
            (
                "location",
                format!("{}:{}", object.location.file, object.location.line),
            ),
        ]),
    };
    let lines = |rule: Option<&str>, findings: &[cluster_sim::findings::Finding]| {
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
        api_version: API_VERSION,
        kind: if object.namespace.is_some() {
            "PolicyReport"
        } else {
            "ClusterPolicyReport"
        },
        metadata: Metadata {
            name: report_name(&object.kind, &name),
            namespace: object.namespace.clone(),
            labels: BTreeMap::from([("app.kubernetes.io/managed-by", "linkerd-ha-scan")]),
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

    #[test]
    fn report_names_are_dns_subdomains() {
        assert_eq!(
            report_name("Deployment", "linkerd-destination"),
            "linkerd-ha-deployment-linkerd-destination"
        );
        assert_eq!(
            report_name("Role", "system:auth_"),
            "linkerd-ha-role-system-auth"
        );
    }
}
