//! Turns the rules' findings into one answer: each finding weighed by its
//! rule's action, every rejection listed so one fix-and-retry cycle is enough.

use serde::ser::SerializeMap;

use crate::finding::{Action, Finding, RuleId, Severity};
use crate::mutation::Edit;
use crate::phrasebook::{message_line, ObjectRef};
use crate::settings::RuleActions;

/// The audit annotation that lists the rules behind a mutation.
pub const MUTATED_BY: &str = "mutated-by";

/// A response's `audit_annotations`: keys in the order written, serialized
/// as a JSON map. A list, not a tree map, which would add ~10 KB of B-tree
/// code to the module for a handful of keys.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditAnnotations(pub Vec<(String, String)>);

impl AuditAnnotations {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl serde::Serialize for AuditAnnotations {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl<'de> serde::Deserialize<'de> for AuditAnnotations {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Pairs;
        impl<'de> serde::de::Visitor<'de> for Pairs {
            type Value = AuditAnnotations;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map of strings")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut pairs = Vec::new();
                while let Some(pair) = map.next_entry()? {
                    pairs.push(pair);
                }
                Ok(AuditAnnotations(pairs))
            }
        }
        deserializer.deserialize_map(Pairs)
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Verdict {
    /// One line per violation that rejects the request.
    pub rejections: Vec<String>,
    pub warnings: Vec<String>,
    /// Fixes to apply when nothing rejects.
    pub edits: Vec<Edit>,
    /// One line per violation `mutate` fixes, with its rule: named in the
    /// response when the fixes are made, listed with the rejections when
    /// there are any (so one round trip shows everything).
    pub fixable: Vec<(RuleId, String)>,
}

fn line(finding: &Finding, object: &ObjectRef) -> String {
    message_line(
        Some(finding.rule.name()),
        object,
        &finding.problem,
        &finding.fix,
    )
}

impl Verdict {
    pub fn from_findings(
        findings: Vec<Finding>,
        actions: &RuleActions,
        object: &ObjectRef,
    ) -> Self {
        let mut verdict = Self::default();
        for finding in findings {
            let line = line(&finding, object);
            match (finding.severity, actions.action(finding.rule)) {
                (_, Action::Off) => {}
                (Severity::Notice, _) => verdict.warnings.push(line),
                (Severity::Forbidden, _) => verdict.rejections.push(line),
                (Severity::Violation { .. }, Action::Warn) => verdict.warnings.push(line),
                (Severity::Violation { .. }, Action::Enforce) => verdict.rejections.push(line),
                (Severity::Violation { edits }, Action::Mutate) if !edits.is_empty() => {
                    verdict.fixable.push((finding.rule, line));
                    verdict.edits.extend(edits)
                }
                (Severity::Violation { .. }, Action::Mutate) => verdict.rejections.push(line),
            }
        }
        verdict
    }

    /// What the fixes made were, for the response's audit annotations
    /// (the API server records them in its audit log, each key prefixed
    /// with the webhook's name): `mutated-by` lists the rules, in the
    /// policy's order, and each rule's key says what it fixed.
    pub fn mutation_annotations(&self) -> AuditAnnotations {
        let mut annotations: Vec<(String, String)> = Vec::new();
        for (rule, line) in &self.fixable {
            match annotations.iter_mut().find(|(key, _)| key == rule.name()) {
                Some((_, said)) => {
                    said.push('\n');
                    said.push_str(line);
                }
                None => annotations.push((rule.name().to_string(), line.clone())),
            }
        }
        if !annotations.is_empty() {
            let rules: Vec<&str> = annotations.iter().map(|(rule, _)| rule.as_str()).collect();
            annotations.insert(0, (MUTATED_BY.to_string(), rules.join(",")));
        }
        AuditAnnotations(annotations)
    }

    /// The message shown by `kubectl` on rejection: every violation, the
    /// ones the policy would fix itself marked as such.
    pub fn rejection_message(&self, object: &ObjectRef) -> Option<String> {
        if self.rejections.is_empty() {
            return None;
        }
        let lines: Vec<String> = self
            .rejections
            .iter()
            .cloned()
            .chain(self.fixable.iter().map(|(_, line)| {
                format!("{line} — the policy makes this fix itself once nothing else rejects the object")
            }))
            .collect();
        Some(match lines.len() {
            1 => lines[0].clone(),
            count => {
                let fixable =
                    match self.fixable.len() {
                        0 => String::new(),
                        fixed => {
                            format!(
                        "; the policy would fix {fixed} of them itself once the other{} fixed",
                        if self.rejections.len() == 1 { " is" } else { "s are" }
                    )
                        }
                    };
                format!(
                    "{object} violates {count} Linkerd HA rules{fixable}:\n- {}",
                    lines.join("\n- ")
                )
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn object() -> ObjectRef {
        ObjectRef {
            kind: "Deployment".into(),
            namespace: "app".into(),
            name: "web".into(),
        }
    }

    fn fixable() -> Finding {
        Finding::violation(RuleId::SafeToEvict, "missing", "add it").fixed_by(vec![Edit::insert(
            vec!["metadata".into()],
            "k",
            "v",
        )])
    }

    fn actions(action: Action) -> RuleActions {
        RuleActions {
            safe_to_evict: action,
            ..RuleActions::default()
        }
    }

    #[rstest]
    #[case::enforce(Action::Enforce, (1, 0, 0))]
    #[case::mutate(Action::Mutate, (0, 0, 1))]
    #[case::warn(Action::Warn, (0, 1, 0))]
    #[case::off(Action::Off, (0, 0, 0))]
    fn actions_weigh_a_fixable_violation(
        #[case] action: Action,
        #[case] expected: (usize, usize, usize),
    ) {
        let verdict = Verdict::from_findings(vec![fixable()], &actions(action), &object());
        assert_eq!(
            (
                verdict.rejections.len(),
                verdict.warnings.len(),
                verdict.edits.len()
            ),
            expected
        );
    }

    #[test]
    fn unfixable_violation_under_mutate_rejects() {
        let finding = Finding::violation(RuleId::SafeToEvict, "odd value", "set true");
        let verdict = Verdict::from_findings(vec![finding], &actions(Action::Mutate), &object());
        assert_eq!(verdict.rejections.len(), 1);
    }

    #[rstest]
    #[case::warn(Action::Warn)]
    #[case::mutate(Action::Mutate)]
    fn forbidden_rejects_under_every_action_but_off(#[case] action: Action) {
        let finding = Finding::forbidden(RuleId::SafeToEvict, "no", "don't");
        assert_eq!(
            Verdict::from_findings(vec![finding], &actions(action), &object())
                .rejections
                .len(),
            1
        );
    }

    #[test]
    fn under_mutate_a_rejection_also_lists_what_the_policy_would_fix() {
        let findings = vec![
            Finding::violation(RuleId::SafeToEvict, "odd value", "set true"),
            fixable(),
        ];
        let verdict = Verdict::from_findings(findings, &actions(Action::Mutate), &object());
        assert_eq!(
            verdict.rejection_message(&object()).unwrap(),
            "Deployment app/web violates 2 Linkerd HA rules; the policy would fix 1 of them itself once the other is fixed:\n\
             - [safeToEvict] Deployment app/web: odd value. Fix: set true\n\
             - [safeToEvict] Deployment app/web: missing. Fix: add it — the policy makes this fix itself once nothing else rejects the object"
        );
    }

    #[test]
    fn the_fixes_name_their_rules_for_the_audit_log() {
        let proxy = Finding::violation(RuleId::ProxyResources, "no cpu", "add it")
            .fixed_by(vec![Edit::insert(vec!["metadata".into()], "cpu", "100m")]);
        let findings = vec![fixable(), proxy, fixable()];
        let all_mutate = RuleActions {
            proxy_resources: Action::Mutate,
            ..actions(Action::Mutate)
        };
        let annotations =
            Verdict::from_findings(findings, &all_mutate, &object()).mutation_annotations();
        assert_eq!(
            serde_json::to_value(&annotations).unwrap(),
            serde_json::json!({
                "mutated-by": "safeToEvict,proxyResources",
                "safeToEvict": "[safeToEvict] Deployment app/web: missing. Fix: add it\n[safeToEvict] Deployment app/web: missing. Fix: add it",
                "proxyResources": "[proxyResources] Deployment app/web: no cpu. Fix: add it"
            })
        );
        let text = serde_json::to_string(&annotations).unwrap();
        assert!(text.starts_with(r#"{"mutated-by":"#), "{text}");
        assert_eq!(
            serde_json::from_str::<AuditAnnotations>(&text).unwrap(),
            annotations
        );
        let warned = Verdict::from_findings(vec![fixable()], &actions(Action::Warn), &object());
        assert!(warned.mutation_annotations().is_empty());
    }

    #[test]
    fn fixable_violations_alone_reject_nothing() {
        let verdict = Verdict::from_findings(vec![fixable()], &actions(Action::Mutate), &object());
        assert_eq!(verdict.rejection_message(&object()), None);
        assert_eq!(verdict.edits.len(), 1);
    }

    #[rstest]
    #[case::plain("the host failed", "the host failed. Fix: retry")]
    #[case::own_full_stop("the host failed.", "the host failed. Fix: retry")]
    #[case::full_stop_and_space("it has been reported. ", "it has been reported. Fix: retry")]
    fn one_full_stop_before_the_fix(#[case] problem: &str, #[case] expected: &str) {
        let finding = Finding::violation(RuleId::SafeToEvict, problem, "retry");
        let verdict = Verdict::from_findings(vec![finding], &actions(Action::Enforce), &object());
        assert_eq!(
            verdict.rejections[0],
            format!("[safeToEvict] Deployment app/web: {expected}")
        );
    }

    #[test]
    fn message_names_rule_object_problem_and_fix_and_lists_all() {
        let findings = vec![
            Finding::violation(RuleId::SafeToEvict, "first", "fix one"),
            Finding::violation(RuleId::SafeToEvict, "second", "fix two"),
        ];
        let verdict = Verdict::from_findings(findings, &actions(Action::Enforce), &object());
        let message = verdict.rejection_message(&object()).unwrap();
        assert_eq!(
            message,
            "Deployment app/web violates 2 Linkerd HA rules:\n- [safeToEvict] Deployment app/web: first. Fix: fix one\n- [safeToEvict] Deployment app/web: second. Fix: fix two"
        );
    }
}
