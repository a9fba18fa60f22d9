//! Reports of evaluations, for people (text) and programs (JSON).

use std::fmt::{self, Write as _};

use serde_json::{json, Value};

use crate::verdict::{Outcome, Verdict};
use crate::HarnessError;
use cluster_sim::str_at;

/// One object and what the policy made of it.
#[derive(Debug)]
pub struct Evaluation {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: Option<String>,
    /// The verdict, or why there is none (a guest failure, say).
    pub result: Result<Verdict, String>,
    /// For mutations, the patch from the object to the mutated object.
    pub patch: Option<json_patch::Patch>,
}

impl Evaluation {
    pub fn new(object: &Value, result: Result<Verdict, HarnessError>) -> Self {
        let patch = result
            .as_ref()
            .ok()
            .and_then(|verdict| verdict.patch(object));
        Self {
            kind: str_at(object, &["kind"]).unwrap_or_default().to_owned(),
            namespace: str_at(object, &["metadata", "namespace"]).map(str::to_owned),
            name: str_at(object, &["metadata", "name"]).map(str::to_owned),
            result: result.map_err(|error| error.to_string()),
            patch,
        }
    }

    /// `Kind namespace/name`, or `Kind name` for cluster-scoped objects.
    pub fn title(&self) -> String {
        let name = self.name.as_deref().unwrap_or("(unnamed)");
        match &self.namespace {
            Some(namespace) => format!("{} {namespace}/{name}", self.kind),
            None => format!("{} {name}", self.kind),
        }
    }

    pub fn outcome(&self) -> Option<Outcome> {
        self.result.as_ref().ok().map(Verdict::outcome)
    }
}

/// How many objects ended which way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub accepted: usize,
    pub mutated: usize,
    pub rejected: usize,
    /// Objects the policy could not evaluate.
    pub failed: usize,
}

impl Summary {
    pub fn of(evaluations: &[Evaluation]) -> Self {
        evaluations
            .iter()
            .fold(Self::default(), |mut summary, evaluation| {
                match evaluation.outcome() {
                    Some(Outcome::Accepted) => summary.accepted += 1,
                    Some(Outcome::Mutated) => summary.mutated += 1,
                    Some(Outcome::Rejected) => summary.rejected += 1,
                    None => summary.failed += 1,
                }
                summary
            })
    }

    pub fn total(&self) -> usize {
        self.accepted + self.mutated + self.rejected + self.failed
    }
}

impl fmt::Display for Summary {
    /// `12 objects: 9 accepted, 2 mutated, 1 rejected` (`, N failed` when any did).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = self.total();
        let noun = if total == 1 { "object" } else { "objects" };
        write!(
            f,
            "{total} {noun}: {} accepted, {} mutated, {} rejected",
            self.accepted, self.mutated, self.rejected
        )?;
        if self.failed > 0 {
            write!(f, ", {} failed", self.failed)?;
        }
        Ok(())
    }
}

/// The readable report: a paragraph per object, then the summary line.
pub fn render_text(evaluations: &[Evaluation]) -> String {
    let mut out = String::new();
    for evaluation in evaluations {
        // Writing to a String cannot fail.
        let _ = write_evaluation(&mut out, evaluation);
    }
    let _ = writeln!(out, "{}", Summary::of(evaluations));
    out
}

fn write_evaluation(out: &mut String, evaluation: &Evaluation) -> fmt::Result {
    let title = evaluation.title();
    let verdict = match &evaluation.result {
        Ok(verdict) => verdict,
        Err(error) => {
            writeln!(out, "{title}: ERROR")?;
            return writeln!(out, "  error: {error}");
        }
    };
    match verdict.code {
        Some(code) if !verdict.accepted => {
            writeln!(out, "{title}: {} (code {code})", verdict.outcome())?
        }
        _ => writeln!(out, "{title}: {}", verdict.outcome())?,
    }
    if let Some(message) = &verdict.message {
        writeln!(out, "  message: {message}")?;
    }
    for warning in verdict.warnings() {
        writeln!(out, "  warning: {warning}")?;
    }
    for (key, value) in verdict.audit_annotations.iter().flatten() {
        writeln!(out, "  audit annotation: {key}={value}")?;
    }
    if let Some(patch) = &evaluation.patch {
        if patch.0.is_empty() {
            writeln!(
                out,
                "  patch: (empty: the mutated object equals the original)"
            )?;
        } else {
            writeln!(out, "  patch:")?;
            for operation in &patch.0 {
                let line = serde_json::to_string(operation).map_err(|_| fmt::Error)?;
                writeln!(out, "    {line}")?;
            }
        }
    }
    Ok(())
}

/// The machine-readable report: `{"results": [...], "summary": {...}}`.
pub fn render_json(evaluations: &[Evaluation]) -> Value {
    let results: Vec<Value> = evaluations.iter().map(evaluation_json).collect();
    let summary = Summary::of(evaluations);
    json!({
        "results": results,
        "summary": {
            "total": summary.total(),
            "accepted": summary.accepted,
            "mutated": summary.mutated,
            "rejected": summary.rejected,
            "failed": summary.failed,
        },
    })
}

fn evaluation_json(evaluation: &Evaluation) -> Value {
    let mut result = json!({
        "kind": evaluation.kind,
        "namespace": evaluation.namespace,
        "name": evaluation.name,
    });
    match &evaluation.result {
        Ok(verdict) => {
            result["outcome"] = json!(verdict.outcome());
            result["message"] = json!(verdict.message);
            result["code"] = json!(verdict.code);
            result["warnings"] = json!(verdict.warnings());
            result["audit_annotations"] = json!(verdict.audit_annotations);
            result["patch"] = json!(evaluation.patch);
        }
        Err(error) => {
            result["outcome"] = json!("failed");
            result["error"] = json!(error);
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GuestFailure;

    fn verdict(accepted: bool) -> Verdict {
        Verdict {
            accepted,
            message: None,
            code: None,
            mutated_object: None,
            warnings: None,
            audit_annotations: None,
        }
    }

    fn evaluations() -> Vec<Evaluation> {
        let deployment = json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "emojivoto"},
            "spec": {"replicas": 1},
        });
        let namespace =
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "linkerd"}});
        let mut mutated = deployment.clone();
        mutated["spec"]["replicas"] = json!(3);
        vec![
            Evaluation::new(
                &namespace,
                Ok(Verdict {
                    warnings: Some(vec!["first".into(), "second".into()]),
                    ..verdict(true)
                }),
            ),
            Evaluation::new(
                &deployment,
                Ok(Verdict {
                    message: Some("too few replicas".into()),
                    code: Some(400),
                    ..verdict(false)
                }),
            ),
            Evaluation::new(
                &deployment,
                Ok(Verdict {
                    mutated_object: Some(mutated),
                    ..verdict(true)
                }),
            ),
            Evaluation::new(
                &deployment,
                Err(HarnessError::Guest(GuestFailure {
                    operation: "validate".into(),
                    message: "unreachable".into(),
                })),
            ),
        ]
    }

    #[test]
    fn text_report() {
        assert_eq!(
            render_text(&evaluations()),
            "\
Namespace linkerd: ACCEPTED
  warning: first
  warning: second
Deployment emojivoto/web: REJECTED (code 400)
  message: too few replicas
Deployment emojivoto/web: MUTATED
  patch:
    {\"op\":\"replace\",\"path\":\"/spec/replicas\",\"value\":3}
Deployment emojivoto/web: ERROR
  error: guest call `validate` failed: unreachable
4 objects: 1 accepted, 1 mutated, 1 rejected, 1 failed
"
        );
    }

    #[test]
    fn json_report() {
        let report = render_json(&evaluations());
        assert_eq!(
            report["summary"],
            json!({"total": 4, "accepted": 1, "mutated": 1, "rejected": 1, "failed": 1})
        );
        assert_eq!(report["results"][0]["namespace"], Value::Null);
        assert_eq!(report["results"][0]["warnings"], json!(["first", "second"]));
        assert_eq!(report["results"][1]["outcome"], "rejected");
        assert_eq!(
            report["results"][2]["patch"],
            json!([{"op": "replace", "path": "/spec/replicas", "value": 3}])
        );
        assert_eq!(report["results"][3]["outcome"], "failed");
    }

    #[test]
    fn summary_line() {
        let summary = Summary {
            accepted: 9,
            mutated: 2,
            rejected: 1,
            failed: 0,
        };
        assert_eq!(
            summary.to_string(),
            "12 objects: 9 accepted, 2 mutated, 1 rejected"
        );
        assert_eq!(
            Summary {
                accepted: 1,
                ..Summary::default()
            }
            .to_string(),
            "1 object: 1 accepted, 0 mutated, 0 rejected"
        );
    }
}
