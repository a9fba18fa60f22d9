//! The scan's results in the formats CI tools read.

pub mod junit;
pub mod policy_report;
pub mod sarif;

use std::fmt::Write as _;

use cluster_sim::findings::Finding;
use linkerd_ha_policy::finding::{Action, RuleId};
use linkerd_ha_policy::settings::RuleActions;
use serde_json::{json, Value};

use self::policy_report::ReportApi;
use crate::gate::FailOn;
use crate::input::Unreadable;
use crate::rules::MUTATION_RULE;
use crate::scan::{Judgement, MutationRule, ObjectResult, Scan, Summary};

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
    /// OpenReports (openreports.io/v1alpha1 Report and ClusterReport), as
    /// Kubewarden 1.35's audit scanner writes them with `--report-kind
    /// openreports`: a result per rule per object.
    #[value(name = "openreports")]
    OpenReports,
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
        Format::PolicyReport => policy_report::render(scan, context, ReportApi::PolicyReport),
        Format::OpenReports => policy_report::render(scan, context, ReportApi::OpenReports),
    }
}

/// The rules that are on, with their actions, in the policy's order.
pub fn enabled_rules(rules: &RuleActions) -> impl Iterator<Item = (RuleId, Action)> + '_ {
    RuleId::ALL
        .into_iter()
        .map(|rule| (rule, rules.action(rule)))
        .filter(|(_, action)| *action != Action::Off)
}

/// The lines that say what a mutation fixed, rule by rule, as the policy's
/// answer names them (`[rule] Kind ns/name: problem. Fix: fix`); for an
/// answer that names no rule (a module older than its `mutated-by` audit
/// annotation), one line under [`MUTATION_RULE`] saying so.
pub fn fixed_lines(rules: &[MutationRule]) -> Vec<String> {
    if rules.is_empty() {
        return vec![format!("[{MUTATION_RULE}] {NO_RULE_NAMED}")];
    }
    rules
        .iter()
        .flat_map(|rule| match rule.fixed.as_slice() {
            [] => vec![format!(
                "[{}] (the policy's answer says no more)",
                rule.rule
            )],
            fixed => fixed.iter().map(Finding::line).collect(),
        })
        .collect()
}

/// What `rule` fixed in `object`, for the formats that give each rule its
/// own entry (SARIF's notes, the reports' `pass` results): its lines
/// without their `[rule]`, one a line, each saying the policy makes it.
pub fn fixed_at_admission(rule: &MutationRule, object: &ObjectResult) -> String {
    const MADE: &str = "the policy makes this fix at admission (linkerd-ha-scan --fix writes it)";
    if rule.fixed.is_empty() {
        return format!("{}: {MADE}", object.title());
    }
    rule.fixed
        .iter()
        .map(|finding| format!("{} — {MADE}", finding.text))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Why a mutation is put under [`MUTATION_RULE`].
pub const NO_RULE_NAMED: &str = "the policy's answer names no rule for this change: it has no mutated-by audit annotation (a policy module older than the annotation)";

/// An unreadable document as the formats that give it an entry of its own
/// (JUnit's test case, SARIF's result and notification) name it, its file
/// being named apart: `document 2 (line 8)`, or `the whole file` for a file
/// that is not UTF-8 text.
pub fn unreadable_name(unreadable: &Unreadable) -> String {
    match unreadable.document {
        Some(document) => format!("document {document} (line {})", unreadable.line),
        None => "the whole file".to_owned(),
    }
}

/// What is wrong with an unreadable document, its file being named apart:
/// its number and line, then the parser's words (`document 2 (line 8) is
/// not valid YAML: mapping values are not allowed in this context at line
/// 14 column 13`); for a whole file, `the file is not UTF-8 text (at line
/// 4 column 12): none of its documents was read`.
pub fn unreadable_problem(unreadable: &Unreadable) -> String {
    match unreadable.document {
        Some(_) => format!("{} {}", unreadable_name(unreadable), unreadable.problem),
        None => format!("the file {}", unreadable.problem),
    }
}

/// What an unreadable document means for the scan, for the formats that
/// give it an entry of their own.
pub const NOT_JUDGED: &str = "its objects were not judged (the scan exits with 2 until it is rendered, fixed or moved out of the scanned paths)";

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
        if let Judgement::Mutated { patch, rules, .. } = &result.judgement {
            for line in fixed_lines(rules) {
                let _ = writeln!(out, "  fixed: {line}");
            }
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
            let (code, message, patch, rules) = match &result.judgement {
                Judgement::Rejected { code, message } => (*code, Some(message.clone()), None, None),
                Judgement::Mutated { patch, rules, .. } => (None, None, Some(patch), Some(rules)),
                Judgement::PolicyFailed(error) => (None, Some(error.clone()), None, None),
                Judgement::Accepted => (None, None, None, None),
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
                "mutatedBy": rules,
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
    use rstest::rstest;

    fn rule(name: &str, lines: &[&str]) -> MutationRule {
        MutationRule {
            rule: name.to_owned(),
            fixed: lines.iter().map(|line| Finding::parse(line)).collect(),
        }
    }

    /// What a mutation fixed, rule by rule, as the answer says it; a
    /// mutation that names no rule is put under MUTATION_RULE.
    #[rstest]
    #[case::one_rule(
        vec![rule("safeToEvict", &["[safeToEvict] Deployment a/b: p. Fix: f"])],
        &["[safeToEvict] Deployment a/b: p. Fix: f"]
    )]
    #[case::rules_in_order(
        vec![
            rule("controlPlaneAntiAffinity", &["[controlPlaneAntiAffinity] x. Fix: 1", "[controlPlaneAntiAffinity] y. Fix: 2"]),
            rule("controlPlaneResources", &["[controlPlaneResources] z. Fix: 3"]),
        ],
        &["[controlPlaneAntiAffinity] x. Fix: 1", "[controlPlaneAntiAffinity] y. Fix: 2", "[controlPlaneResources] z. Fix: 3"]
    )]
    #[case::a_rule_without_its_lines(vec![rule("safeToEvict", &[])], &["[safeToEvict] (the policy's answer says no more)"])]
    #[case::no_rule(vec![], &["[mutation] the policy's answer names no rule for this change: it has no mutated-by audit annotation (a policy module older than the annotation)"])]
    fn fixed_lines_say_which_rule_fixed_what(
        #[case] rules: Vec<MutationRule>,
        #[case] expected: &[&str],
    ) {
        assert_eq!(fixed_lines(&rules), expected);
    }
}
