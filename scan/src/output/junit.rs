//! JUnit XML: one test suite per file, one test case per object. A case
//! fails when its object fails the scan at the `--fail-on` level, so the CI
//! view and the exit status agree; a policy failure is an error. A document
//! that could not be read is a case of its own in its file's suite, in
//! document order, with an error (it could not be judged), as the exit
//! status 2 says.

use std::collections::HashSet;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::{
    fixed_lines, patch_operations, unreadable_name, unreadable_problem, Context, NOT_JUDGED,
    NO_RULE_NAMED,
};
use crate::input::Unreadable;
use crate::scan::{Judgement, MutationRule, ObjectResult, Scan};

pub fn render(scan: &Scan, context: &Context) -> String {
    let mut report = Report::new("linkerd-ha-scan");
    // The files of the objects, in input order, then those none of whose
    // documents could be read.
    let mut files: Vec<&str> = Vec::new();
    let all_files = scan
        .results
        .iter()
        .map(|r| r.location.file.as_str())
        .chain(scan.unreadable.iter().map(|u| u.file.as_str()));
    for file in all_files {
        if !files.contains(&file) {
            files.push(file);
        }
    }
    for file in files {
        let mut suite = TestSuite::new(file);
        let mut names = HashSet::new();
        // The file's cases by their document's number: its objects (the
        // items of a `kind: List` in their order) and its unreadable
        // documents (a whole file is one, and holds no object).
        let mut cases: Vec<(usize, TestCase)> = Vec::new();
        for result in scan.results.iter().filter(|r| r.location.file == file) {
            let mut name = result.title();
            // GitLab keeps one case per (classname, name): an object applied
            // twice in one file is told apart by its document.
            if !names.insert(name.clone()) {
                name = format!("{name} (document {})", result.location.document_number);
                names.insert(name.clone());
            }
            cases.push((
                result.location.document_number,
                test_case(result, name, context),
            ));
        }
        for unreadable in scan.unreadable.iter().filter(|u| u.file == file) {
            let mut name = format!("{file}: {}", unreadable_name(unreadable));
            // The same file named twice on the command line.
            let mut again = 1;
            while !names.insert(name.clone()) {
                again += 1;
                name = format!("{file}: {} ({again})", unreadable_name(unreadable));
            }
            cases.push((
                unreadable.document.unwrap_or_default(),
                unreadable_case(unreadable, name),
            ));
        }
        // A stable sort: the objects of one document keep their order.
        cases.sort_by_key(|(document, _)| *document);
        suite.add_test_cases(cases.into_iter().map(|(_, case)| case));
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

/// A document that could not be read: an error, not a failure (nothing
/// was judged), its message the parser's words with the document's line,
/// and the whole line the scanner writes on standard error as its text.
fn unreadable_case(unreadable: &Unreadable, name: String) -> TestCase {
    let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
    status
        .set_message(unreadable_problem(unreadable))
        .set_type("unreadable")
        .set_description(format!("{unreadable}\n{NOT_JUDGED}"));
    let mut case = TestCase::new(name, status);
    case.set_classname(unreadable.file.clone())
        .set_system_out(format!(
            "unreadable\n{}:{} ({})",
            unreadable.file,
            unreadable.line,
            match unreadable.document {
                Some(document) => format!("document {document}"),
                None => "the whole file".to_owned(),
            }
        ));
    case
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
