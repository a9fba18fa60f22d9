//! SARIF 2.1.0, as GitHub code scanning ingests it: one result per
//! violation (level `error`), per warning (`warning`) and per rule that
//! changes an object at admission (`note`, with what the policy's answer
//! says that rule fixed), each at the document it is about; one rule
//! descriptor per rule the results name.
//!
//! A document that could not be read is told twice: as SARIF says a tool
//! tells it, by the invocation (`executionSuccessful: false`, one `error`
//! notification per document, at it); and as an `error` result under
//! [`UNREADABLE_RULE`], at it, since code scanning reads only results (and
//! would otherwise close the alerts of a file that became unreadable as
//! fixed).

use linkerd_ha_policy::finding::{Action, RuleId};
use serde_sarif::sarif::{
    ArtifactLocation, Invocation, Location, Message, MultiformatMessageString, Notification,
    PhysicalLocation, Region, ReportingConfiguration, ReportingDescriptor,
    ReportingDescriptorReference, Result as SarifResult, ResultLevel, Run, RunAutomationDetails,
    Sarif, Tool, ToolComponent,
};

use super::{patch_operations, unreadable_problem, Context, NOT_JUDGED, NO_RULE_NAMED};
use crate::input::Unreadable;
use crate::rules::{
    readable_name, summary_of, FAILURE_RULE, GENERAL_RULE, MUTATION_RULE, RULES_URI,
    UNREADABLE_RULE,
};
use crate::scan::{Judgement, ObjectResult, Scan};

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// One finding before it becomes a SARIF result.
struct Entry<'a> {
    rule: String,
    level: ResultLevel,
    text: String,
    at: Place<'a>,
}

/// Where a result is: the document's first line, whole (to one past its
/// last column, when known).
#[derive(Clone, Copy)]
struct Place<'a> {
    file: &'a str,
    line: usize,
    columns: Option<usize>,
}

impl<'a> Place<'a> {
    fn of_object(object: &'a ObjectResult) -> Self {
        Self {
            file: &object.location.file,
            line: object.location.line,
            columns: Some(object.location.columns),
        }
    }

    fn of_unreadable(unreadable: &'a Unreadable) -> Self {
        Self {
            file: &unreadable.file,
            line: unreadable.line,
            columns: None,
        }
    }
}

pub fn render(scan: &Scan, context: &Context) -> String {
    // The objects' findings, then the documents that could not be read.
    let entries: Vec<Entry> = scan
        .results
        .iter()
        .flat_map(entries)
        .chain(scan.unreadable.iter().map(|unreadable| Entry {
            rule: UNREADABLE_RULE.to_owned(),
            level: ResultLevel::Error,
            text: unreadable_text(unreadable),
            at: Place::of_unreadable(unreadable),
        }))
        .collect();

    // Every rule that is on, then any other id the results use.
    let mut rule_ids: Vec<String> = super::enabled_rules(context.rules)
        .map(|(rule, _)| rule.name().to_owned())
        .collect();
    for entry in &entries {
        if !rule_ids.contains(&entry.rule) {
            rule_ids.push(entry.rule.clone());
        }
    }
    let rules: Vec<ReportingDescriptor> =
        rule_ids.iter().map(|id| descriptor(id, context)).collect();
    let results: Vec<SarifResult> = entries
        .iter()
        .map(|entry| result(entry, index_of(&rule_ids, &entry.rule)))
        .collect();

    let driver = ToolComponent::builder()
        .name("linkerd-ha-scan".to_owned())
        .version(context.version.to_owned())
        .semantic_version(context.version.to_owned())
        .information_uri(RULES_URI.to_owned())
        .rules(rules)
        .build();
    // Relative URIs are relative to the working folder; saying which lets
    // code scanning place absolute ones (files outside it) too. A scan
    // that could not read every document did not succeed (exit 2): each
    // such document is an error notification.
    let mut invocation = Invocation::builder()
        .execution_successful(scan.unreadable.is_empty())
        .build();
    if !scan.unreadable.is_empty() {
        let rule = ReportingDescriptorReference::builder()
            .id(UNREADABLE_RULE.to_owned())
            .index(index_of(&rule_ids, UNREADABLE_RULE))
            .build();
        invocation.tool_execution_notifications = Some(
            scan.unreadable
                .iter()
                .map(|unreadable| {
                    Notification::builder()
                        .level(serde_json::json!("error"))
                        .message(Message::builder().text(unreadable_text(unreadable)).build())
                        .locations(vec![location(Place::of_unreadable(unreadable))])
                        .associated_rule(rule.clone())
                        .build()
                })
                .collect(),
        );
    }
    if let Ok(cwd) = std::env::current_dir() {
        let folder = format!("file://{}/", escape(&cwd.to_string_lossy()));
        invocation.working_directory = Some(ArtifactLocation::builder().uri(folder).build());
    }
    let run = Run::builder()
        .tool(Tool::builder().driver(driver).build())
        .invocations(vec![invocation])
        .automation_details(
            RunAutomationDetails::builder()
                .id("linkerd-ha-scan/".to_owned())
                .build(),
        )
        .results(results)
        .build();
    let sarif = Sarif::builder()
        .schema(SCHEMA.to_owned())
        .version(serde_json::json!("2.1.0"))
        .runs(vec![run])
        .build();
    // The SARIF types are plain data: serializing them cannot fail.
    serde_json::to_string_pretty(&sarif).unwrap_or_default() + "\n"
}

/// The index of the rule `id` among the descriptors.
fn index_of(rule_ids: &[String], id: &str) -> i64 {
    let index = rule_ids.iter().position(|rule| rule == id).unwrap_or(0);
    i64::try_from(index).unwrap_or(0)
}

/// What a result and a notification say of an unreadable document.
fn unreadable_text(unreadable: &Unreadable) -> String {
    format!("{}; {NOT_JUDGED}", unreadable_problem(unreadable))
}

/// The findings of one object.
fn entries(object: &ObjectResult) -> Vec<Entry<'_>> {
    let entry = |rule: Option<&str>, level: ResultLevel, text: String| Entry {
        rule: rule.unwrap_or(GENERAL_RULE).to_owned(),
        level,
        text,
        at: Place::of_object(object),
    };
    let mut entries: Vec<Entry> = object
        .violations
        .iter()
        .map(|v| entry(v.rule.as_deref(), ResultLevel::Error, v.text.clone()))
        .chain(
            object
                .warnings
                .iter()
                .map(|w| entry(w.rule.as_deref(), ResultLevel::Warning, w.text.clone())),
        )
        .collect();
    match &object.judgement {
        // One note per rule that made the change, in its own words; a
        // change no rule is named for is one note under MUTATION_RULE.
        Judgement::Mutated { patch, rules, .. } if rules.is_empty() => entries.push(entry(
            Some(MUTATION_RULE),
            ResultLevel::Note,
            format!(
                "{}: the policy changes it at admission: {} ({NO_RULE_NAMED}; linkerd-ha-scan --fix writes the change)",
                object.title(),
                patch_operations(patch).join(", ")
            ),
        )),
        Judgement::Mutated { rules, .. } => {
            for rule in rules {
                entries.push(entry(
                    Some(&rule.rule),
                    ResultLevel::Note,
                    super::fixed_at_admission(rule, object),
                ));
            }
        }
        Judgement::PolicyFailed(error) => entries.push(entry(
            Some(FAILURE_RULE),
            ResultLevel::Error,
            format!("{}: the policy failed: {error}", object.title()),
        )),
        Judgement::Rejected { message, .. } if object.violations.is_empty() => {
            entries.push(entry(None, ResultLevel::Error, message.clone()));
        }
        Judgement::Accepted | Judgement::Rejected { .. } => {}
    }
    entries
}

fn descriptor(id: &str, context: &Context) -> ReportingDescriptor {
    let rule = RuleId::ALL.into_iter().find(|rule| rule.name() == id);
    // A rule's level is its action's: what `enforce` (or an unfixable
    // `mutate`) rejects is an error, `warn` a warning.
    let level = match rule.map(|rule| context.rules.action(rule)) {
        Some(Action::Warn) => "warning",
        Some(Action::Mutate) if id != MUTATION_RULE => "error",
        None if id == MUTATION_RULE => "note",
        _ => "error",
    };
    let summary = summary_of(id);
    let help = match rule {
        Some(rule) => format!(
            "{summary}. Set by settings.rules.{} ({}); each result's message says what is wrong and how to fix it.",
            rule.name(),
            context.rules.action(rule).name()
        ),
        None if id == UNREADABLE_RULE => format!(
            "{summary}. Each result names a document the scanner could not read, in the YAML parser's words (or a file that is not UTF-8 text, at its first byte that is not): its objects were not judged, and the scan exits with 2 until it is rendered (e.g. by `helm template`), fixed or moved out of the scanned paths."
        ),
        None => format!("{summary}. Each result's message says what happened."),
    };
    ReportingDescriptor::builder()
        .id(id.to_owned())
        .name(readable_name(id).to_owned())
        .short_description(text(summary))
        .full_description(text(&help))
        .help(text(&help))
        .help_uri(RULES_URI.to_owned())
        .default_configuration(
            ReportingConfiguration::builder()
                .level(serde_json::json!(level))
                .build(),
        )
        .build()
}

fn text(text: &str) -> MultiformatMessageString {
    MultiformatMessageString::builder()
        .text(text.to_owned())
        .build()
}

fn result(entry: &Entry, rule_index: i64) -> SarifResult {
    SarifResult::builder()
        .rule_id(entry.rule.clone())
        .rule_index(rule_index)
        .level(entry.level)
        .message(Message::builder().text(entry.text.clone()).build())
        .locations(vec![location(entry.at)])
        .build()
}

/// The document's first line in its file.
fn location(at: Place) -> Location {
    let line = i64::try_from(at.line).unwrap_or(i64::MAX);
    let region = match at.columns {
        Some(columns) => Region::builder()
            .start_line(line)
            .start_column(1)
            .end_line(line)
            .end_column(i64::try_from(columns).unwrap_or(i64::MAX))
            .build(),
        None => Region::builder().start_line(line).build(),
    };
    Location::builder()
        .physical_location(
            PhysicalLocation::builder()
                .artifact_location(ArtifactLocation::builder().uri(uri(at.file)).build())
                .region(region)
                .build(),
        )
        .build()
}

/// The file as a URI relative to the working folder, which is what code
/// scanning resolves against the repository (`./a.yaml` and
/// `/repo/a/../a.yaml`, run from `/repo`, are `a.yaml`).
fn uri(file: &str) -> String {
    if file == "<stdin>" {
        return "stdin".to_owned();
    }
    let resolved = std::fs::canonicalize(file).ok();
    let relative = match (&resolved, std::env::current_dir()) {
        (Some(resolved), Ok(cwd)) => resolved.strip_prefix(&cwd).ok(),
        _ => None,
    };
    match (relative, &resolved) {
        (Some(relative), _) => escape(&relative.to_string_lossy()),
        // Outside the working folder: an absolute file URI.
        (None, Some(resolved)) => format!("file://{}", escape(&resolved.to_string_lossy())),
        (None, None) => escape(file.trim_start_matches("./")),
    }
}

/// RFC 3986 paths: escapes what a path segment may not hold.
fn escape(path: &str) -> String {
    path.chars()
        .map(|c| match c {
            ' ' => "%20".to_owned(),
            '#' => "%23".to_owned(),
            '?' => "%3F".to_owned(),
            '%' => "%25".to_owned(),
            c => c.to_string(),
        })
        .collect()
}
