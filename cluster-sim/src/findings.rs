//! What a rejection message and a warning say, rule by rule.
//!
//! The policy writes each violation as `[rule] text`, and a rejection that
//! lists several starts with a header line (`Deployment a/b violates 3
//! Linkerd HA rules:`) followed by one `- [rule] ...` line per violation.
//! The playground and the scanner both read its answers this way.

use serde::{Deserialize, Serialize};

/// One line of a rejection or one warning: `[rule] text` split in two.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The rule (`settings.rules.*` name), when the line names one.
    pub rule: Option<String>,
    pub text: String,
}

impl Finding {
    /// Splits `[rule] text`; other lines keep no rule. Lossless:
    /// [`Finding::line`] gives the line back.
    pub fn parse(line: &str) -> Self {
        let tagged = line
            .strip_prefix('[')
            .and_then(|rest| rest.split_once("] "))
            .filter(|(rule, _)| {
                !rule.is_empty() && rule.chars().all(|c| c.is_ascii_alphanumeric())
            });
        match tagged {
            Some((rule, text)) => Self {
                rule: Some(rule.to_owned()),
                text: text.to_owned(),
            },
            None => Self {
                rule: None,
                text: line.to_owned(),
            },
        }
    }

    pub fn line(&self) -> String {
        match &self.rule {
            Some(rule) => format!("[{rule}] {}", self.text),
            None => self.text.clone(),
        }
    }
}

/// One finding per violation of a rejection message.
pub fn split_message(message: &str) -> Vec<Finding> {
    let mut lines = message.split("\n- ");
    match (lines.next(), message.contains("\n- ")) {
        (Some(_header), true) => lines.map(Finding::parse).collect(),
        _ => vec![Finding::parse(message)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_split_and_join_losslessly() {
        for line in [
            "[safeToEvict] Deployment a/b: missing. Fix: add it",
            "Deployment a/b: cannot read spec.replicas",
            "[not a rule] x",
            "[] x",
        ] {
            assert_eq!(Finding::parse(line).line(), line);
        }
        assert_eq!(
            Finding::parse("[safeToEvict] x").rule.as_deref(),
            Some("safeToEvict")
        );
        assert_eq!(Finding::parse("[not a rule] x").rule, None);
    }

    #[test]
    fn a_message_listing_violations_is_split() {
        let message = "Deployment a/b violates 2 Linkerd HA rules:\n- [controlPlaneReplicas] one\n- [disruptionBudgets] two";
        let rules: Vec<_> = split_message(message)
            .into_iter()
            .map(|f| (f.rule.unwrap_or_default(), f.text))
            .collect();
        assert_eq!(
            rules,
            [
                ("controlPlaneReplicas".to_owned(), "one".to_owned()),
                ("disruptionBudgets".to_owned(), "two".to_owned())
            ]
        );
        assert_eq!(split_message("[safeToEvict] x").len(), 1);
    }
}
