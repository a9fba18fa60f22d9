//! Judging a stream of manifests the way `kubectl apply -f` has the API
//! server send it: object by object, in order, each against the cluster as
//! it is then (the `--cluster` dump, plus what was admitted before it); an
//! object the cluster already holds is an UPDATE with the stored one as
//! `oldObject`. What is admitted is stored as the policy left it (mutated,
//! if it was); what is rejected never reaches the cluster.

use std::time::{Duration, Instant};

use cluster_sim::findings::{split_message, Finding};
use cluster_sim::{apply_request, str_at, ApplyRequest};
use linkerd_ha_policy::phrasebook::count;
use policy_harness::{HarnessError, PolicyModule};
use serde_json::Value;

use crate::input::{as_applied, Content, Manifest, Skip, Unreadable};

/// What the policy made of one object.
#[derive(Debug, Clone, PartialEq)]
pub enum Judgement {
    Accepted,
    /// Accepted with changes: the object as the policy returned it, the
    /// RFC 6902 patch to it, as policy-server computes it, and the rules
    /// that made the changes, as the answer names them. No rule only from
    /// a module older than its `mutated-by` audit annotation: the formats
    /// then put the change under [`crate::rules::MUTATION_RULE`].
    Mutated {
        object: Value,
        patch: json_patch::Patch,
        rules: Vec<MutationRule>,
    },
    Rejected {
        code: Option<u16>,
        message: String,
    },
    /// The policy could not judge the object (it trapped, timed out or
    /// answered something that is not a verdict).
    PolicyFailed(String),
}

/// One rule behind a mutation, as the policy's answer names it: the
/// rules in its `mutated-by` audit annotation, in the policy's order, each
/// with the lines of its own annotation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MutationRule {
    /// The rule's `settings.rules` name.
    pub rule: String,
    /// What it fixed, one finding per fix (`[rule] Kind ns/name: problem.
    /// Fix: fix`, split as the rejections' lines are).
    pub fixed: Vec<Finding>,
}

impl Judgement {
    /// The lowercase word reports use.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Mutated { .. } => "mutated",
            Self::Rejected { .. } => "rejected",
            Self::PolicyFailed(_) => "failed",
        }
    }
}

/// Where an object came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The source as reports name it (`<stdin>` for standard input).
    pub file: String,
    /// Index of the manifest in the scan's list, of the document in it,
    /// and of the item in a `kind: List` document.
    pub manifest: usize,
    pub document: usize,
    pub item: Option<usize>,
    /// 1-based document number in the file, and the line it starts on.
    pub document_number: usize,
    pub line: usize,
    /// One past the last column of that line.
    pub columns: usize,
}

/// One object and its verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectResult {
    pub location: Location,
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: Option<String>,
    /// `CREATE` or `UPDATE`.
    pub operation: &'static str,
    pub judgement: Judgement,
    /// The rejection, one finding per violation.
    pub violations: Vec<Finding>,
    pub warnings: Vec<Finding>,
    /// How long the policy took (JUnit's `time`).
    pub elapsed: Duration,
}

impl ObjectResult {
    /// `Kind namespace/name`, or `Kind name` for cluster-scoped objects.
    pub fn title(&self) -> String {
        let name = self.name.as_deref().unwrap_or("(unnamed)");
        match &self.namespace {
            Some(namespace) => format!("{} {namespace}/{name}", self.kind),
            None => format!("{} {name}", self.kind),
        }
    }
}

/// A document that was skipped (YAML, but not a Kubernetes object), and
/// why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub file: String,
    pub document: usize,
    pub line: usize,
    pub reason: String,
}

impl std::fmt::Display for Note {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: document {} (line {}) skipped: it {}",
            self.file, self.document, self.line, self.reason
        )
    }
}

/// Everything a scan found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scan {
    pub results: Vec<ObjectResult>,
    pub notes: Vec<Note>,
    /// The documents that could not be read, in input order: not judged,
    /// and an input error (exit 2) once the rest is.
    pub unreadable: Vec<Unreadable>,
}

/// Judges every object of `manifests`, in order, under `settings`, against
/// the cluster `policy` holds, which grows as objects are admitted.
/// Namespaced objects that name no namespace are in `default_namespace`.
/// A document that could not be read is passed over (as `kubectl apply`
/// goes on past a file it cannot read) and listed in [`Scan::unreadable`].
pub fn scan(
    policy: &mut PolicyModule,
    manifests: &[Manifest],
    settings: &Value,
    default_namespace: &str,
) -> Scan {
    let mut scan = Scan::default();
    for (manifest_index, manifest) in manifests.iter().enumerate() {
        let file = manifest.source.display_name().to_owned();
        for (document_index, document) in manifest.documents.iter().enumerate() {
            let objects: Vec<(Option<usize>, &Value)> = match &document.content {
                Content::Empty => Vec::new(),
                Content::Object(object) => vec![(None, object)],
                Content::List { items, .. } => items
                    .iter()
                    .enumerate()
                    .map(|(i, o)| (Some(i), o))
                    .collect(),
                Content::Skipped(Skip::NotAnObject(reason)) => {
                    scan.notes.push(Note {
                        file: file.clone(),
                        document: document.index,
                        line: document.line,
                        reason: reason.clone(),
                    });
                    Vec::new()
                }
                Content::Skipped(Skip::Unreadable(unreadable)) => {
                    scan.unreadable.push(unreadable.clone());
                    Vec::new()
                }
            };
            for (item, object) in objects {
                let location = Location {
                    file: file.clone(),
                    manifest: manifest_index,
                    document: document_index,
                    item,
                    document_number: document.index,
                    line: document.line,
                    columns: document.columns,
                };
                let applied = as_applied(object, default_namespace);
                scan.results
                    .push(judge(policy, location, &applied, settings));
            }
        }
    }
    scan
}

/// Sends one object as `kubectl apply` would, and stores it if admitted.
fn judge(
    policy: &mut PolicyModule,
    location: Location,
    object: &Value,
    settings: &Value,
) -> ObjectResult {
    let ApplyRequest {
        operation, request, ..
    } = apply_request(policy.cluster(), object);
    let started = Instant::now();
    let answer = policy.validate(&request, settings);
    let elapsed = started.elapsed();
    let (judgement, warnings) = match answer {
        Ok(verdict) => {
            let warnings = verdict
                .warnings()
                .iter()
                .map(|w| Finding::parse(w))
                .collect();
            let rules = verdict
                .mutated_by()
                .into_iter()
                .map(|(rule, lines)| MutationRule {
                    rule,
                    fixed: lines.iter().map(|line| Finding::parse(line)).collect(),
                })
                .collect();
            let judgement = match (verdict.accepted, verdict.mutated_object) {
                (false, _) => Judgement::Rejected {
                    code: verdict.code,
                    message: verdict.message.unwrap_or_default(),
                },
                (true, Some(mutated)) => Judgement::Mutated {
                    patch: json_patch::diff(object, &mutated),
                    object: mutated,
                    rules,
                },
                (true, None) => Judgement::Accepted,
            };
            (judgement, warnings)
        }
        Err(error) => (Judgement::PolicyFailed(in_user_words(&error)), Vec::new()),
    };
    match &judgement {
        Judgement::Accepted => {
            policy.cluster_mut().insert(object.clone());
        }
        Judgement::Mutated {
            object: mutated, ..
        } => {
            policy.cluster_mut().insert(mutated.clone());
        }
        // Refused by the API server: never stored. A policy that fails
        // under `failurePolicy: Fail` refuses the write too.
        Judgement::Rejected { .. } | Judgement::PolicyFailed(_) => {}
    }
    let violations = match &judgement {
        Judgement::Rejected { message, .. } => split_message(message),
        _ => Vec::new(),
    };
    ObjectResult {
        location,
        api_version: str_at(object, &["apiVersion"])
            .unwrap_or_default()
            .to_owned(),
        kind: str_at(object, &["kind"]).unwrap_or_default().to_owned(),
        namespace: str_at(object, &["metadata", "namespace"]).map(str::to_owned),
        name: str_at(object, &["metadata", "name"]).map(str::to_owned),
        operation,
        judgement,
        violations,
        warnings,
        elapsed,
    }
}

/// A policy-harness error as the scanner's user reads it. The harness
/// speaks to the policy's developers, of itself ("the harness does not
/// provide ..."); a scanner user knows no harness, only the policy module
/// and the WebAssembly runtime the scanner runs it on.
pub fn in_user_words(error: &HarnessError) -> String {
    error
        .to_string()
        .replace("the harness", "the scanner's WebAssembly runtime")
}

/// How many objects ended which way: the summary line of every format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// Objects judged (each item of a `kind: List` is one).
    pub total: usize,
    pub accepted: usize,
    pub mutated: usize,
    pub rejected: usize,
    /// Objects the policy could not judge.
    pub failed: usize,
    /// Objects with at least one warning, whatever their outcome (a
    /// rejected object can carry warnings too): not a fifth outcome, and
    /// not part of the sum.
    pub warned: usize,
}

impl Summary {
    pub fn of(results: &[ObjectResult]) -> Self {
        results.iter().fold(Self::default(), |mut summary, result| {
            summary.total += 1;
            match result.judgement {
                Judgement::Accepted => summary.accepted += 1,
                Judgement::Mutated { .. } => summary.mutated += 1,
                Judgement::Rejected { .. } => summary.rejected += 1,
                Judgement::PolicyFailed(_) => summary.failed += 1,
            }
            if !result.warnings.is_empty() {
                summary.warned += 1;
            }
            summary
        })
    }
}

impl std::fmt::Display for Summary {
    /// `9 objects: 4 accepted, 2 mutated, 3 rejected; warnings on 2 objects`:
    /// the outcomes add up to the total (with `, N failed` when the policy
    /// failed on any); the part after `;` counts the objects of any outcome
    /// that drew a warning, and is left out when none did.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} accepted, {} mutated, {} rejected",
            count(self.total, "object", "objects"),
            self.accepted,
            self.mutated,
            self.rejected
        )?;
        if self.failed > 0 {
            write!(f, ", {} failed", self.failed)?;
        }
        if self.warned > 0 {
            write!(
                f,
                "; warnings on {}",
                count(self.warned, "object", "objects")
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn summary(counts: [usize; 5]) -> Summary {
        let [accepted, mutated, rejected, failed, warned] = counts;
        Summary {
            total: accepted + mutated + rejected + failed,
            accepted,
            mutated,
            rejected,
            failed,
            warned,
        }
    }

    /// The outcomes add up to the total; the objects with warnings are
    /// counted apart, of every outcome.
    #[rstest]
    #[case::issue_25([4, 2, 3, 0, 2], "9 objects: 4 accepted, 2 mutated, 3 rejected; warnings on 2 objects")]
    #[case::no_warnings([4, 2, 3, 0, 0], "9 objects: 4 accepted, 2 mutated, 3 rejected")]
    #[case::one([0, 0, 1, 0, 1], "1 object: 0 accepted, 0 mutated, 1 rejected; warnings on 1 object")]
    #[case::failed([1, 0, 0, 2, 1], "3 objects: 1 accepted, 0 mutated, 0 rejected, 2 failed; warnings on 1 object")]
    #[case::none([0, 0, 0, 0, 0], "0 objects: 0 accepted, 0 mutated, 0 rejected")]
    fn the_summary_line_counts_warnings_apart_from_outcomes(
        #[case] counts: [usize; 5],
        #[case] line: &str,
    ) {
        assert_eq!(summary(counts).to_string(), line);
    }
}
