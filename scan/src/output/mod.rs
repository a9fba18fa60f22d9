//! The scan's results in the formats CI tools read.

pub mod junit;
pub mod policy_report;
pub mod sarif;

use std::fmt::Write as _;

use linkerd_ha_policy::finding::{Action, RuleId};
use linkerd_ha_policy::settings::RuleActions;
use serde_json::{json, Value};

use crate::gate::FailOn;
use crate::scan::{Judgement, Scan, Summary};

/// `--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// For people: one paragraph per object, then a summary line.
    Text,
    /// Every result with its findings and patch.
    Json,
    /// SARIF 2.1.0, for GitHub code scanning and other SARIF viewers.
    Sarif,
    /// JUnit XML: one test suite per file, one test case per object.
    Junit,
    /// PolicyReports (wgpolicyk8s.io/v1alpha2), as Kubewarden's audit
    /// scanner writes them: a result per rule per object.
    PolicyReport,
}

/// What every format needs besides the results.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    pub rules: &'a RuleActions,
    pub fail_on: FailOn,
    /// The scanner's version, for tool descriptors.
    pub version: &'a str,
}

/// Renders `scan` as `format`.
pub fn render(format: Format, scan: &Scan, context: &Context) -> String {
    match format {
        Format::Text => render_text(scan),
        Format::Json => format!("{:#}\n", render_json(scan)),
        Format::Sarif => sarif::render(scan, context),
        Format::Junit => junit::render(scan, context),
        Format::PolicyReport => policy_report::render(scan, context),
    }
}

/// The rules that are on, with their actions, in the policy's order.
pub fn enabled_rules(rules: &RuleActions) -> impl Iterator<Item = (RuleId, Action)> + '_ {
    RuleId::ALL
        .into_iter()
        .map(|rule| (rule, rules.action(rule)))
        .filter(|(_, action)| *action != Action::Off)
}

/// The rules a mutation comes from, read from what its patch changes (the
/// policy says which rule fixed what only in a rejection).
pub fn mutated_rules(patch: &json_patch::Patch) -> Vec<&'static str> {
    // Each rule's fixes write keys no other rule writes.
    const MARKERS: &[(&str, &[&str])] = &[
        ("systemNamespaces", &["admission-webhooks"]),
        ("safeToEvict", &["safe-to-evict"]),
        (
            "proxyResources",
            &["proxy-cpu-request", "proxy-memory-request"],
        ),
        (
            "controlPlaneAntiAffinity",
            &["podAntiAffinity", "rollingUpdate", "maxUnavailable"],
        ),
        ("controlPlaneResources", &["/resources", "\"requests\""]),
    ];
    let operations = patch_operations(patch);
    MARKERS
        .iter()
        .filter(|(_, markers)| {
            operations
                .iter()
                .any(|operation| markers.iter().any(|marker| operation.contains(marker)))
        })
        .map(|(rule, _)| *rule)
        .collect()
}

/// Each operation of `patch` as one line of JSON.
pub fn patch_operations(patch: &json_patch::Patch) -> Vec<String> {
    patch
        .0
        .iter()
        // A patch operation is plain data: serializing it cannot fail.
        .map(|operation| serde_json::to_string(operation).unwrap_or_default())
        .collect()
}

/// The readable report: a paragraph per object, then the summary line.
pub fn render_text(scan: &Scan) -> String {
    let mut out = String::new();
    for result in &scan.results {
        let at = &result.location;
        let _ = write!(
            out,
            "{}:{}: {} ({}): ",
            at.file,
            at.line,
            result.title(),
            result.operation
        );
        let _ = match &result.judgement {
            Judgement::Accepted => writeln!(out, "ACCEPTED"),
            Judgement::Mutated { .. } => writeln!(out, "MUTATED"),
            Judgement::Rejected { code, .. } => match code {
                Some(code) => writeln!(out, "REJECTED (code {code})"),
                None => writeln!(out, "REJECTED"),
            },
            Judgement::PolicyFailed(error) => writeln!(out, "POLICY FAILED\n  error: {error}"),
        };
        for violation in &result.violations {
            let _ = writeln!(out, "  rejected: {}", violation.line());
        }
        for warning in &result.warnings {
            let _ = writeln!(out, "  warning: {}", warning.line());
        }
        if let Judgement::Mutated { patch, .. } = &result.judgement {
            for operation in patch_operations(patch) {
                let _ = writeln!(out, "  patch: {operation}");
            }
        }
    }
    let _ = writeln!(out, "{}", Summary::of(&scan.results));
    out
}

/// The JSON report: `{"results": [...], "summary": {...}, "notes": [...],
/// "unreadable": [...]}`; each unreadable document is its `file`,
/// `document` (`null` for a whole file), `line` and `problem`.
pub fn render_json(scan: &Scan) -> Value {
    let results: Vec<Value> = scan
        .results
        .iter()
        .map(|result| {
            let (code, message, patch) = match &result.judgement {
                Judgement::Rejected { code, message } => (*code, Some(message.clone()), None),
                Judgement::Mutated { patch, .. } => (None, None, Some(patch)),
                Judgement::PolicyFailed(error) => (None, Some(error.clone()), None),
                Judgement::Accepted => (None, None, None),
            };
            json!({
                "file": result.location.file,
                "document": result.location.document_number,
                "line": result.location.line,
                "apiVersion": result.api_version,
                "kind": result.kind,
                "namespace": result.namespace,
                "name": result.name,
                "operation": result.operation,
                "outcome": result.judgement.outcome(),
                "code": code,
                "message": message,
                "violations": result.violations,
                "warnings": result.warnings.iter().map(|w| w.line()).collect::<Vec<_>>(),
                "patch": patch,
            })
        })
        .collect();
    json!({
        "results": results,
        "summary": Summary::of(&scan.results),
        "notes": scan.notes.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "unreadable": scan.unreadable,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patch(operations: Value) -> json_patch::Patch {
        serde_json::from_value(operations).expect("a patch")
    }

    #[test]
    fn mutations_are_traced_to_the_rule_that_owns_what_they_change() {
        let safe_to_evict = patch(
            json!([{"op": "add", "path": "/spec/template/metadata/annotations",
            "value": {"cluster-autoscaler.kubernetes.io/safe-to-evict": "true"}}]),
        );
        assert_eq!(mutated_rules(&safe_to_evict), ["safeToEvict"]);
        let label = patch(json!([{"op": "add",
            "path": "/metadata/labels/config.linkerd.io~1admission-webhooks", "value": "disabled"}]));
        assert_eq!(mutated_rules(&label), ["systemNamespaces"]);
        let control_plane = patch(json!([
            {"op": "add", "path": "/spec/template/spec/affinity", "value": {"podAntiAffinity": {}}},
            {"op": "add", "path": "/spec/template/spec/containers/0/resources", "value": {"requests": {"cpu": "100m"}}}
        ]));
        assert_eq!(
            mutated_rules(&control_plane),
            ["controlPlaneAntiAffinity", "controlPlaneResources"]
        );
    }
}
