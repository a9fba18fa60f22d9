//! Meshed pods carry the proxy's identity in an emptyDir, which a default
//! Cluster Autoscaler treats as local storage: without an annotation saying
//! the pod may be evicted, its node is never scaled down.
//!
//! A bare Pod (no controller owner) is different: `safe-to-evict: "true"`
//! also lifts the autoscaler's protection of unreplicated pods, so the pod
//! would be evicted on scale-down and lost. Bare pods get the narrower
//! `safe-to-evict-local-volumes: linkerd-identity-end-entity` instead,
//! whatever `safeToEvict.annotation` says.

use super::rule::{path_with, Context, Rule, Subject};
use crate::finding::{Finding, RuleId};
use crate::mutation::Edit;
use crate::phrasebook::quoted;
use crate::settings::{SafeToEvictAnnotation, Settings};
use crate::workload::WorkloadKind;

pub const SAFE_TO_EVICT: &str = "cluster-autoscaler.kubernetes.io/safe-to-evict";
pub const SAFE_TO_EVICT_LOCAL_VOLUMES: &str =
    "cluster-autoscaler.kubernetes.io/safe-to-evict-local-volumes";
/// The proxy's identity volume, named by the injector.
pub const IDENTITY_VOLUME: &str = "linkerd-identity-end-entity";

pub struct SafeToEvict;

impl Rule for SafeToEvict {
    fn id(&self) -> RuleId {
        RuleId::SafeToEvict
    }

    fn check(&self, subject: &Subject, context: &Context, settings: &Settings) -> Vec<Finding> {
        let Subject::Workload(workload) = subject else {
            return Vec::new();
        };
        let meshed = context.injection.is_some_and(|decision| decision.meshed);
        if settings.safe_to_evict.autoscaler_skips_local_storage || !meshed {
            return Vec::new();
        }
        let place = workload.pod_annotations_place();
        let edit_place = workload.annotations_to_edit();
        let annotations_path = path_with(&workload.pod_meta_path(), &["annotations"]);
        let meta = workload.pod_meta();
        match meta.annotation(SAFE_TO_EVICT) {
            Some("true") => return Vec::new(),
            Some("false") => {
                return vec![Finding::notice(
                    self.id(),
                    format!(
                        "{place} sets `{SAFE_TO_EVICT}: \"false\"`, so the Cluster Autoscaler will not scale down nodes running these meshed pods; kept as the operator's decision"
                    ),
                    "remove it or set it to \"true\" when scale-down matters".to_string(),
                )]
            }
            Some(other) => {
                return vec![Finding::violation(
                    self.id(),
                    format!(
                        "{place} sets `{SAFE_TO_EVICT}: {}`, which the Cluster Autoscaler does not understand (it reads only \"true\" and \"false\")",
                        quoted(other)
                    ),
                    format!("set `{SAFE_TO_EVICT}: \"true\"` in {edit_place}"),
                )]
            }
            None => {}
        }
        let bare_pod =
            workload.kind == WorkloadKind::Pod && workload.meta.controller_owner().is_none();
        let annotation = if bare_pod {
            SafeToEvictAnnotation::LocalVolumes
        } else {
            settings.safe_to_evict.annotation
        };
        match annotation {
            SafeToEvictAnnotation::SafeToEvict => vec![Finding::violation(
                self.id(),
                format!(
                    "meshed pods need `{SAFE_TO_EVICT}: \"true\"` in {place}, or the proxy's {IDENTITY_VOLUME} volume blocks Cluster Autoscaler scale-down"
                ),
                format!(
                    "add `{SAFE_TO_EVICT}: \"true\"` to {edit_place} (or set safeToEvict.autoscalerSkipsLocalStorage if the autoscaler runs with --skip-nodes-with-local-storage=false)"
                ),
            )
            .fixed_by(vec![Edit::insert(annotations_path, SAFE_TO_EVICT, "true")])],
            SafeToEvictAnnotation::LocalVolumes => {
                let listed = meta.annotation(SAFE_TO_EVICT_LOCAL_VOLUMES);
                let volumes: Vec<&str> = listed
                    .unwrap_or_default()
                    .split(',')
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .collect();
                if volumes.contains(&IDENTITY_VOLUME) {
                    return Vec::new();
                }
                let merged = volumes
                    .iter()
                    .copied()
                    .chain(std::iter::once(IDENTITY_VOLUME))
                    .collect::<Vec<_>>()
                    .join(",");
                let why = if bare_pod {
                    " (a bare Pod: `safe-to-evict: \"true\"` would let the autoscaler evict it, and nothing would recreate it)"
                } else {
                    ""
                };
                vec![Finding::violation(
                    self.id(),
                    format!(
                        "meshed pods need {IDENTITY_VOLUME} listed in `{SAFE_TO_EVICT_LOCAL_VOLUMES}` in {place}{}, or the proxy's volume blocks Cluster Autoscaler scale-down{why}",
                        listed.map_or(String::new(), |l| format!(" (it lists {})", quoted(l)))
                    ),
                    format!("set `{SAFE_TO_EVICT_LOCAL_VOLUMES}: {merged:?}` in {edit_place}"),
                )
                .fixed_by(vec![Edit::insert(
                    annotations_path,
                    SAFE_TO_EVICT_LOCAL_VOLUMES,
                    merged,
                )])]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::Severity;
    use crate::injection::NamespaceInjection;
    use crate::rules::test_support::*;
    use crate::settings::SafeToEvictSettings;
    use crate::workload::WorkloadKind;
    use rstest::rstest;
    use serde_json::{json, Value};

    fn cronjob(annotations: Value) -> Subject {
        subject(
            WorkloadKind::CronJob,
            &json!({"metadata": {"name": "hello"},
            "spec": {"jobTemplate": {"spec": {"template": {"metadata": {"annotations": annotations},
                "spec": {"containers": [{"name": "hello"}]}}}}}}),
        )
    }

    fn settings(annotation: SafeToEvictAnnotation, skips: bool) -> Settings {
        Settings {
            safe_to_evict: SafeToEvictSettings {
                annotation,
                autoscaler_skips_local_storage: skips,
            },
            ..Settings::default()
        }
    }

    fn check(subject: &Subject, settings: &Settings) -> Vec<Finding> {
        let context = workload_context(subject, "app", NamespaceInjection::NotNeeded);
        SafeToEvict.check(subject, &context, settings)
    }

    fn cronjob_annotations_path() -> Vec<String> {
        [
            "spec",
            "jobTemplate",
            "spec",
            "template",
            "metadata",
            "annotations",
        ]
        .map(String::from)
        .to_vec()
    }

    #[test]
    fn meshed_cronjob_gets_the_annotation_on_its_pod_template() {
        let findings = check(
            &cronjob(json!({"linkerd.io/inject": "enabled"})),
            &Settings::default(),
        );
        assert_eq!(findings.len(), 1);
        assert_eq!(
            findings[0].severity,
            Severity::Violation {
                edits: vec![Edit::insert(
                    cronjob_annotations_path(),
                    SAFE_TO_EVICT,
                    "true"
                )]
            }
        );
        assert!(findings[0]
            .fix
            .contains("spec.jobTemplate.spec.template.metadata.annotations"));
    }

    #[rstest]
    #[case::already_true(json!({"linkerd.io/inject": "enabled", SAFE_TO_EVICT: "true"}))]
    #[case::not_meshed(json!({}))]
    #[case::disabled(json!({"linkerd.io/inject": "disabled"}))]
    #[case::typo_does_not_mesh(json!({"linkerd.io/inject": "true"}))]
    fn compliant_or_unmeshed_pass(#[case] annotations: Value) {
        assert!(check(&cronjob(annotations), &Settings::default()).is_empty());
    }

    #[test]
    fn moot_when_the_autoscaler_ignores_local_storage() {
        let subject = cronjob(json!({"linkerd.io/inject": "enabled"}));
        assert!(check(
            &subject,
            &settings(SafeToEvictAnnotation::SafeToEvict, true)
        )
        .is_empty());
    }

    #[test]
    fn explicit_false_is_kept_with_a_warning() {
        let findings = check(
            &cronjob(json!({"linkerd.io/inject": "enabled", SAFE_TO_EVICT: "false"})),
            &Settings::default(),
        );
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].severity, Severity::Notice);
    }

    #[test]
    fn unknown_value_cannot_be_fixed() {
        let findings = check(
            &cronjob(json!({"linkerd.io/inject": "enabled", SAFE_TO_EVICT: "yes"})),
            &Settings::default(),
        );
        assert_eq!(findings[0].severity, Severity::Violation { edits: vec![] });
    }

    #[rstest]
    #[case::absent(json!({"linkerd.io/inject": "enabled"}), Some(IDENTITY_VOLUME))]
    #[case::merged_into_list(json!({"linkerd.io/inject": "enabled", SAFE_TO_EVICT_LOCAL_VOLUMES: "cache,tmp"}), Some("cache,tmp,linkerd-identity-end-entity"))]
    #[case::already_listed(json!({"linkerd.io/inject": "enabled", SAFE_TO_EVICT_LOCAL_VOLUMES: "cache, linkerd-identity-end-entity"}), None)]
    #[case::broader_annotation_suffices(json!({"linkerd.io/inject": "enabled", SAFE_TO_EVICT: "true"}), None)]
    fn local_volumes_annotation(#[case] annotations: Value, #[case] expected: Option<&str>) {
        let findings = check(
            &cronjob(annotations),
            &settings(SafeToEvictAnnotation::LocalVolumes, false),
        );
        match expected {
            None => assert!(findings.is_empty(), "{findings:?}"),
            Some(value) => assert_eq!(
                findings[0].severity,
                Severity::Violation {
                    edits: vec![Edit::insert(
                        cronjob_annotations_path(),
                        SAFE_TO_EVICT_LOCAL_VOLUMES,
                        value
                    )]
                }
            ),
        }
    }

    fn injected_pod(owner: Value, annotations: Value) -> Subject {
        subject(
            WorkloadKind::Pod,
            &json!({"metadata": {"name": "web-1", "ownerReferences": owner, "annotations": annotations},
            "spec": {"containers": [{"name": "web"}, {"name": "linkerd-proxy"}]}}),
        )
    }

    fn pod_annotations_edit(key: &str, value: &str) -> Severity {
        Severity::Violation {
            edits: vec![Edit::insert(
                vec!["metadata".into(), "annotations".into()],
                key,
                value,
            )],
        }
    }

    #[test]
    fn a_pod_its_replicaset_made_gets_safe_to_evict() {
        let owner = json!([{"kind": "ReplicaSet", "name": "web-5d8f", "controller": true}]);
        let findings = check(&injected_pod(owner, json!({})), &Settings::default());
        assert_eq!(
            findings[0].severity,
            pod_annotations_edit(SAFE_TO_EVICT, "true")
        );
    }

    #[rstest]
    #[case::no_owner(json!(null), json!({}), IDENTITY_VOLUME)]
    #[case::owner_that_is_not_a_controller(json!([{"kind": "ConfigMap", "name": "x"}]), json!({}), IDENTITY_VOLUME)]
    #[case::merged_into_an_existing_list(json!(null), json!({SAFE_TO_EVICT_LOCAL_VOLUMES: "scratch"}), "scratch,linkerd-identity-end-entity")]
    fn a_bare_pod_gets_only_its_identity_volume_released(
        #[case] owner: Value,
        #[case] annotations: Value,
        #[case] expected: &str,
    ) {
        for setting in [
            SafeToEvictAnnotation::SafeToEvict,
            SafeToEvictAnnotation::LocalVolumes,
        ] {
            let findings = check(
                &injected_pod(owner.clone(), annotations.clone()),
                &settings(setting, false),
            );
            assert_eq!(
                findings[0].severity,
                pod_annotations_edit(SAFE_TO_EVICT_LOCAL_VOLUMES, expected)
            );
            assert!(findings[0].problem.contains("a bare Pod"));
        }
    }

    #[rstest]
    #[case::listed(json!({SAFE_TO_EVICT_LOCAL_VOLUMES: "linkerd-identity-end-entity"}))]
    #[case::operator_allowed_eviction(json!({SAFE_TO_EVICT: "true"}))]
    fn a_compliant_bare_pod_passes(#[case] annotations: Value) {
        assert!(check(
            &injected_pod(json!(null), annotations),
            &Settings::default()
        )
        .is_empty());
    }
}
