//! questions-ui.yml (the settings form of Rancher's Kubewarden UI) stays in
//! step with the settings type: one question per setting, each default the
//! policy's own, every offered option accepted.
//!
//! The settings' names come from the type itself: serde's
//! `deny_unknown_fields` error for an unknown key lists every field of a
//! section, so probing each section with an unknown key walks the whole
//! tree. Adding a setting to src/settings.rs without a question (or the
//! reverse) fails here with its name.

use std::collections::{BTreeMap, BTreeSet};

use linkerd_ha_policy::settings::Settings;
use serde_json::{json, Map, Value};

const PROBE: &str = "__probe__";

/// The decode error for `document`, if any.
fn decode_error(document: &Value) -> Option<String> {
    Settings::from_json(document.to_string().as_bytes())
        .err()
        .map(|error| error.to_string())
}

/// A document with `value` at the dotted `path`.
fn document_at(path: &str, value: Value) -> Value {
    path.rsplit('.')
        .fold(value, |inner, key| json!({ key: inner }))
}

/// The field names serde lists after "expected" in an unknown-field error.
fn listed_fields(message: &str) -> Vec<String> {
    let Some((_, expected)) = message.split_once("expected") else {
        return Vec::new();
    };
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(String::from)
        .collect()
}

/// Every leaf setting under `prefix` (a section), as dotted paths.
fn leaf_settings(prefix: Option<&str>, leaves: &mut BTreeSet<String>) {
    let probe = match prefix {
        Some(path) => document_at(path, json!({ PROBE: 1 })),
        None => json!({ PROBE: 1 }),
    };
    let message = decode_error(&probe).expect("an unknown key is refused");
    assert!(
        message.contains(&format!("unknown field `{PROBE}`")),
        "{prefix:?} is not a section: {message}"
    );
    for field in listed_fields(&message) {
        let path = match prefix {
            Some(prefix) => format!("{prefix}.{field}"),
            None => field,
        };
        let as_section = decode_error(&document_at(&path, json!({ PROBE: 1 })));
        if as_section.is_some_and(|m| m.contains(&format!("unknown field `{PROBE}`"))) {
            leaf_settings(Some(&path), leaves);
        } else {
            leaves.insert(path);
        }
    }
}

fn settings_tree() -> BTreeSet<String> {
    let mut leaves = BTreeSet::new();
    leaf_settings(None, &mut leaves);
    leaves
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Questions {
    questions: Vec<Question>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Question {
    variable: String,
    label: String,
    group: String,
    #[serde(rename = "type")]
    kind: String,
    default: Value,
    description: String,
    #[serde(default)]
    options: Vec<String>,
    #[serde(default)]
    min: Option<i64>,
}

fn questions() -> Vec<Question> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/questions-ui.yml"))
        .expect("questions-ui.yml");
    let parsed: Questions = serde_yaml_ng::from_str(&text).expect("questions-ui.yml parses");
    parsed.questions
}

/// Merges `value` at the dotted `path` into `document`.
fn insert(document: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            document.insert(path.to_string(), value);
        }
        Some((head, rest)) => {
            let section = document
                .entry(head.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(section) = section {
                insert(section, rest, value);
            }
        }
    }
}

#[test]
fn the_settings_tree_is_found_by_probing() {
    let tree = settings_tree();
    for known in [
        "rules.safeToEvict",
        "systemNamespaces",
        "controlPlane.requests.cpu",
        "prometheus.meshedPods",
    ] {
        assert!(tree.contains(known), "{known} missing from {tree:?}");
    }
    assert!(
        !tree.contains("controlPlane.requests"),
        "a section, not a leaf"
    );
}

#[test]
fn every_setting_has_one_question_and_every_question_a_setting() {
    let tree = settings_tree();
    let questions = questions();
    let mut seen = BTreeMap::new();
    for question in &questions {
        *seen.entry(question.variable.as_str()).or_insert(0) += 1;
    }
    let duplicated: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(duplicated.is_empty(), "asked twice: {duplicated:?}");

    let asked: BTreeSet<String> = seen.keys().map(|v| v.to_string()).collect();
    let unasked: Vec<_> = tree.difference(&asked).collect();
    assert!(
        unasked.is_empty(),
        "settings without a question in questions-ui.yml: {unasked:?}"
    );
    let unknown: Vec<_> = asked.difference(&tree).collect();
    assert!(
        unknown.is_empty(),
        "questions for settings the policy does not have: {unknown:?}"
    );
}

#[test]
fn the_questions_defaults_are_the_policys_defaults() {
    let tree = settings_tree();
    let mut document = Map::new();
    for question in questions() {
        if tree.contains(&question.variable) {
            insert(&mut document, &question.variable, question.default.clone());
        }
    }
    let document = Value::Object(document);
    let mut from_questions =
        Settings::from_json(document.to_string().as_bytes()).expect("the defaults decode");
    let defaults = Settings::from_json(b"{}").expect("no settings decode");
    // controlPlane.minReplicas is optional (unset: 2, or controlPlane.replicas
    // when lower); the form shows what unset means.
    assert_eq!(
        from_questions.control_plane.min_replicas(),
        defaults.control_plane.min_replicas()
    );
    from_questions.control_plane.min_replicas_setting = None;
    assert_eq!(
        from_questions, defaults,
        "questions-ui.yml defaults differ from src/settings.rs: {document}"
    );
}

#[test]
fn every_question_is_described_and_every_option_is_accepted() {
    let tree = settings_tree();
    for question in questions() {
        let name = &question.variable;
        assert!(!question.label.trim().is_empty(), "{name}: label");
        assert!(!question.group.trim().is_empty(), "{name}: group");
        assert!(
            question.description.trim().len() > 10,
            "{name}: description"
        );
        let expected_type = match &question.default {
            Value::Bool(_) => "boolean",
            Value::Number(_) => "int",
            Value::Array(_) => "array[",
            Value::String(_) if !question.options.is_empty() => "enum",
            Value::String(_) => "string",
            other => panic!("{name}: unexpected default {other}"),
        };
        assert_eq!(question.kind, expected_type, "{name}: type");
        if let (Some(min), Some(default)) = (question.min, question.default.as_i64()) {
            assert!(default >= min, "{name}: default below min");
        }
        if !tree.contains(name) {
            continue;
        }
        if question.kind == "enum" {
            assert!(
                question
                    .options
                    .iter()
                    .any(|o| question.default == o.as_str()),
                "{name}: the default is not an option"
            );
        }
        for option in &question.options {
            let document = document_at(name, Value::from(option.as_str()));
            let checked = Settings::from_json(document.to_string().as_bytes())
                .map_err(|e| e.to_string())
                .and_then(|settings| settings.check());
            assert!(
                checked.is_ok(),
                "{name}: option {option} refused: {checked:?}"
            );
        }
    }
}

/// A rule offers exactly the actions validate_settings accepts for it
/// (`mutate` only where the rule can fix something).
#[test]
fn rule_questions_offer_exactly_the_accepted_actions() {
    for question in questions() {
        let Some(rule) = question.variable.strip_prefix("rules.") else {
            continue;
        };
        let accepted: Vec<&str> = ["enforce", "mutate", "warn", "off"]
            .into_iter()
            .filter(|action| {
                let document = json!({ "rules": { rule: action } });
                Settings::from_json(document.to_string().as_bytes())
                    .map_err(|e| e.to_string())
                    .and_then(|settings| settings.check())
                    .is_ok()
            })
            .collect();
        assert_eq!(question.options, accepted, "rules.{rule}");
    }
}
