//! The exit status a CI job acts on.

use crate::scan::{Judgement, ObjectResult};

/// Nothing was rejected (or what `--fail-on` asks for did not happen).
pub const EXIT_PASSED: u8 = 0;
/// Something was rejected (or warned about, or mutated: `--fail-on`).
pub const EXIT_FAILED: u8 = 1;
/// Usage or input error: nothing was judged.
pub const EXIT_USAGE: u8 = 2;
/// The policy failed on an object: trapped, timed out, answered garbage.
pub const EXIT_POLICY_FAILED: u8 = 3;

/// What makes the scan fail with [`EXIT_FAILED`]; each level includes the
/// ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum FailOn {
    /// Never: exit 0 unless the input or the policy failed.
    Never,
    /// An object the API server would refuse.
    Reject,
    /// A rejection, or an admitted object with a warning.
    Warn,
    /// A rejection, a warning, or an object the policy would change.
    Mutate,
}

impl FailOn {
    /// Whether `result` fails the scan at this level.
    pub fn fails(self, result: &ObjectResult) -> bool {
        let judged = match result.judgement {
            Judgement::Rejected { .. } => Some(FailOn::Reject),
            Judgement::Mutated { .. } => Some(FailOn::Mutate),
            Judgement::Accepted | Judgement::PolicyFailed(_) => None,
        };
        let warned = (!result.warnings.is_empty()).then_some(FailOn::Warn);
        // The most serious of the two decides.
        match judged.into_iter().chain(warned).min() {
            Some(level) => self != FailOn::Never && level <= self,
            None => false,
        }
    }
}

/// The exit status for `results`: a policy failure wins, then `fail_on`.
pub fn exit_status(results: &[ObjectResult], fail_on: FailOn) -> u8 {
    if results
        .iter()
        .any(|result| matches!(result.judgement, Judgement::PolicyFailed(_)))
    {
        EXIT_POLICY_FAILED
    } else if results.iter().any(|result| fail_on.fails(result)) {
        EXIT_FAILED
    } else {
        EXIT_PASSED
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::Location;
    use cluster_sim::findings::Finding;
    use rstest::rstest;

    fn result(judgement: Judgement, warned: bool) -> ObjectResult {
        ObjectResult {
            location: Location {
                file: "m.yaml".into(),
                manifest: 0,
                document: 0,
                item: None,
                document_number: 1,
                line: 1,
                columns: 2,
            },
            api_version: "v1".into(),
            kind: "Namespace".into(),
            namespace: None,
            name: Some("n".into()),
            operation: "CREATE",
            judgement,
            violations: Vec::new(),
            warnings: if warned {
                vec![Finding::parse("[nodeCapacity] w")]
            } else {
                Vec::new()
            },
            elapsed: std::time::Duration::ZERO,
        }
    }

    fn mutated() -> Judgement {
        Judgement::Mutated {
            object: serde_json::json!({}),
            patch: json_patch::Patch(Vec::new()),
            rules: Vec::new(),
        }
    }

    fn rejected() -> Judgement {
        Judgement::Rejected {
            code: Some(400),
            message: "no".into(),
        }
    }

    #[rstest]
    #[case::accepted(Judgement::Accepted, false, [false, false, false, false])]
    #[case::warned(Judgement::Accepted, true, [false, false, true, true])]
    #[case::mutated(mutated(), false, [false, false, false, true])]
    #[case::mutated_and_warned(mutated(), true, [false, false, true, true])]
    #[case::rejected(rejected(), false, [false, true, true, true])]
    fn each_level_includes_the_ones_before(
        #[case] judgement: Judgement,
        #[case] warned: bool,
        #[case] fails: [bool; 4],
    ) {
        let result = result(judgement, warned);
        let levels = [FailOn::Never, FailOn::Reject, FailOn::Warn, FailOn::Mutate];
        assert_eq!(levels.map(|level| level.fails(&result)), fails);
    }

    #[test]
    fn a_policy_failure_wins() {
        let results = [
            result(rejected(), false),
            result(Judgement::PolicyFailed("trap".into()), false),
        ];
        assert_eq!(exit_status(&results, FailOn::Reject), EXIT_POLICY_FAILED);
        assert_eq!(exit_status(&results[..1], FailOn::Reject), EXIT_FAILED);
        assert_eq!(exit_status(&results[..1], FailOn::Never), EXIT_PASSED);
    }
}
