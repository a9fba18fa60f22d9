//! JUnit XML: one test suite per file, one test case per object. A case
//! fails when its object fails the scan at the `--fail-on` level, so the CI
//! view and the exit status agree; a policy failure is an error.

use std::collections::HashSet;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::{fixed_lines, patch_operations, Context, NO_RULE_NAMED};
use crate::scan::{Judgement, MutationRule, ObjectResult, Scan};

pub fn render(scan: &Scan, context: &Context) -> String {
    let mut report = Report::new("linkerd-ha-scan");
    let mut files: Vec<&str> = Vec::new();
    for result in &scan.results {
        if !files.contains(&result.location.file.as_str()) {
            files.push(&result.location.file);
        }
    }
    for file in files {
        let mut suite = TestSuite::new(file);
        let mut names = HashSet::new();
        for result in scan.results.iter().filter(|r| r.location.file == file) {
            let mut name = result.title();
            // GitLab keeps one case per (classname, name): an object applied
            // twice in one file is told apart by its document.
            if !names.insert(name.clone()) {
                name = format!("{name} (document {})", result.location.document_number);
                names.insert(name.clone());
            }
            suite.add_test_case(test_case(result, name, context));
        }
        report.add_test_suite(suite);
    }
    // Writing XML to memory fails only on invalid XML strings, which
    // quick-junit escapes.
    let xml = report.to_string().unwrap_or_default();
    // The scanner skips no test. quick-junit still counts `skipped` on the
    // root element, which the Jenkins JUnit schema (what Jenkins and GitLab
    // read) does not define there.
    xml.replacen(" skipped=\"0\"", "", 1)
}

fn test_case(result: &ObjectResult, name: String, context: &Context) -> TestCase {
    let at = &result.location;
    let place = format!(
        "{}:{} (document {}, {})",
        at.file, at.line, at.document_number, result.operation
    );
    let mut details = vec![place];
    details.extend(
        result
            .violations
            .iter()
            .map(|v| format!("rejected: {}", v.line())),
    );
    details.extend(
        result
            .warnings
            .iter()
            .map(|w| format!("warning: {}", w.line())),
    );
    if let Judgement::Mutated { patch, rules, .. } = &result.judgement {
        details.extend(
            fixed_lines(rules)
                .into_iter()
                .map(|line| format!("fixed: {line}")),
        );
        details.extend(
            patch_operations(patch)
                .into_iter()
                .map(|op| format!("patch: {op}")),
        );
    }
    let details = details.join("\n");

    let status = match &result.judgement {
        Judgement::PolicyFailed(error) => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status
                .set_message(format!("the policy failed: {error}"))
                .set_type("policyFailure")
                .set_description(details.clone());
            status
        }
        judgement if context.fail_on.fails(result) => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            let (kind, message) = match judgement {
                Judgement::Rejected { message, .. } => ("rejected", first_line(message)),
                Judgement::Mutated { rules, .. } if result.warnings.is_empty() => {
                    ("mutated", changed_by(rules))
                }
                _ => (
                    "warned",
                    result
                        .warnings
                        .first()
                        .map(|w| w.line())
                        .unwrap_or_default(),
                ),
            };
            status
                .set_message(message)
                .set_type(kind)
                .set_description(details.clone());
            status
        }
        _ => TestCaseStatus::success(),
    };
    let mut case = TestCase::new(name, status);
    case.set_classname(at.file.clone())
        .set_time(result.elapsed)
        .set_system_out(format!("{}\n{details}", result.judgement.outcome()));
    case
}

/// The failure message of an object the policy would change: which rules
/// change it.
fn changed_by(rules: &[MutationRule]) -> String {
    if rules.is_empty() {
        return format!("the policy would change this object; {NO_RULE_NAMED}");
    }
    let names: Vec<&str> = rules.iter().map(|rule| rule.rule.as_str()).collect();
    format!("the policy would change this object: {}", names.join(", "))
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_owned()
}
