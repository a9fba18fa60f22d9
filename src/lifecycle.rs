//! Where a request sits in the life of the cluster, and what that changes
//! about its verdict. A rule judges one object; the cluster is more:
//! - a controller stamps children out of its template, so the fix (and the
//!   rejection) belongs at the owner, and editing a child's template makes
//!   the owner stop recognising it (a Deployment then creates ReplicaSets
//!   without end);
//! - objects are UPDATEd for reasons unrelated to their pods (scale, labels,
//!   finalizers): an edit of the pod template then starts a rollout nobody
//!   asked for, and a Job's template or a Pod's spec cannot change at all;
//! - an UPDATE of a legacy object must not be refused for what the object
//!   already was, or it can no longer scale or be garbage-collected.

use crate::finding::{Action, Finding, RuleId, Severity};
use crate::mutation::Edit;
use crate::rules::Operation;
use crate::settings::Settings;
use crate::workload::WorkloadKind;

/// Which of the rules' edits this request may carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditScope {
    All,
    /// A Pod UPDATE: metadata may change, the spec may not.
    MetadataOnly,
    /// None, for this reason (said in the warning).
    Withheld(String),
}

impl EditScope {
    /// `template_changed` is `None` when the UPDATE's oldObject could not be
    /// read; it is ignored on CREATE.
    pub fn for_request(
        operation: Operation,
        kind: Option<WorkloadKind>,
        owner: Option<&str>,
        template_changed: Option<bool>,
    ) -> Self {
        let Some(kind) = kind else {
            // Namespaces and the control plane's own objects have no pods
            // to roll: their edits are labels and never start anything.
            return Self::All;
        };
        let unchanged = |what: &str| {
            Self::Withheld(format!(
                "this UPDATE does not change {what}, and an edit would {}; it is fixed the next time {what} changes",
                if kind == WorkloadKind::Pod { "touch a running pod for nothing" } else { "start a rollout" }
            ))
        };
        let unreadable = || {
            Self::Withheld(
                "the UPDATE's oldObject cannot be read, so an edit might start a rollout"
                    .to_string(),
            )
        };
        match (operation, kind, owner) {
            // Only Nodes are judged on DELETE, and they are never edited.
            (Operation::Delete, _, _) => {
                Self::Withheld("a DELETE carries no object to edit".to_string())
            }
            // Pods are never compared with their owner's template, but a
            // Pod's spec is immutable.
            (Operation::Create, WorkloadKind::Pod, _) => Self::All,
            (Operation::Update, WorkloadKind::Pod, _) => match template_changed {
                Some(true) => Self::MetadataOnly,
                Some(false) => unchanged("the pod's labels, annotations or spec"),
                None => unreadable(),
            },
            (_, _, Some(owner)) => Self::Withheld(format!(
                "its pod template belongs to its controller {owner}; the fix belongs there"
            )),
            (Operation::Create, _, None) => Self::All,
            (Operation::Update, WorkloadKind::Job, None) => {
                Self::Withheld("a Job's pod template cannot change after creation".to_string())
            }
            (Operation::Update, _, None) => match template_changed {
                Some(true) => Self::All,
                Some(false) => unchanged("the pod template"),
                None => unreadable(),
            },
        }
    }

    fn allows(&self, edits: &[Edit]) -> Result<(), String> {
        match self {
            Self::All => Ok(()),
            Self::MetadataOnly
                if edits.iter().all(|edit| {
                    edit_path(edit).first().map(String::as_str) == Some("metadata")
                }) =>
            {
                Ok(())
            }
            Self::MetadataOnly => Err("a Pod's spec cannot change after creation".to_string()),
            Self::Withheld(why) => Err(why.clone()),
        }
    }
}

fn edit_path(edit: &Edit) -> &[String] {
    match edit {
        Edit::Insert { path, .. } | Edit::Append { path, .. } => path,
    }
}

/// What the request's place in the cluster changes about its findings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lifecycle {
    pub edits: EditScope,
    /// `Kind/name` of the object's controller, when it has one.
    pub owner: Option<String>,
    /// The rules the UPDATE's oldObject already broke (empty on CREATE, or
    /// when `allowExistingViolations` is off).
    pub preexisting: Vec<RuleId>,
}

impl Lifecycle {
    /// A CREATE of an object nobody owns: the rules' findings as they are.
    pub fn unowned_create() -> Self {
        Self {
            edits: EditScope::All,
            owner: None,
            preexisting: Vec::new(),
        }
    }

    /// Turns what may not happen on this request into warnings that say
    /// why: edits it may not carry, rejections that belong to the owner, and
    /// violations the object already had before the UPDATE.
    pub fn weigh(&self, findings: Vec<Finding>, settings: &Settings) -> Vec<Finding> {
        findings
            .into_iter()
            .map(|finding| self.weigh_one(finding, settings))
            .collect()
    }

    fn weigh_one(&self, finding: Finding, settings: &Settings) -> Finding {
        let action = settings.rules.action(finding.rule);
        if let Severity::Violation { edits } = &finding.severity {
            if action == Action::Mutate && !edits.is_empty() {
                match self.edits.allows(edits) {
                    Ok(()) => return finding,
                    Err(why) => return downgraded(finding, &format!("not fixed now: {why}")),
                }
            }
        }
        if !finding.could_refuse() || action == Action::Off {
            return finding;
        }
        // Fail-closed is the point of proxyPresent: a pod that should have
        // a proxy and has none is stopped, owner or not.
        if let Some(owner) = self
            .owner
            .as_deref()
            .filter(|_| finding.rule != RuleId::ProxyPresent)
        {
            return downgraded(
                finding,
                &format!("not rejected here: its controller {owner} makes it, so the rejection belongs there"),
            );
        }
        if self.preexisting.contains(&finding.rule) {
            return downgraded(
                finding,
                "not rejected: the object already broke this rule before this UPDATE (allowExistingViolations)",
            );
        }
        finding
    }
}

fn downgraded(mut finding: Finding, why: &str) -> Finding {
    finding.severity = Severity::Notice;
    finding.problem = format!("{} ({why})", finding.problem.trim_end_matches('.'));
    finding
}

/// The rules whose findings on the old object would have been refused:
/// violations and forbidden states, not notices.
pub fn broken_rules(findings: &[Finding], settings: &Settings) -> Vec<RuleId> {
    let mut rules = Vec::new();
    if settings.allow_existing_violations {
        for finding in findings.iter().filter(|finding| finding.could_refuse()) {
            if !rules.contains(&finding.rule) {
                rules.push(finding.rule);
            }
        }
    }
    rules
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn fixable(rule: RuleId, path: &[&str]) -> Finding {
        Finding::violation(rule, "missing", "add it").fixed_by(vec![Edit::insert(
            path.iter().map(|s| s.to_string()).collect(),
            "k",
            "v",
        )])
    }

    fn mutate_all() -> Settings {
        let mut settings = Settings::default();
        settings.rules.safe_to_evict = Action::Mutate;
        settings.rules.proxy_resources = Action::Mutate;
        settings
    }

    #[rstest]
    #[case::create_unowned(Operation::Create, Some(WorkloadKind::Deployment), None, None, true)]
    #[case::create_owned_pod(
        Operation::Create,
        Some(WorkloadKind::Pod),
        Some("ReplicaSet/web-1"),
        None,
        true
    )]
    #[case::create_owned_replicaset(
        Operation::Create,
        Some(WorkloadKind::ReplicaSet),
        Some("Deployment/web"),
        None,
        false
    )]
    #[case::create_owned_job(
        Operation::Create,
        Some(WorkloadKind::Job),
        Some("CronJob/nightly"),
        None,
        false
    )]
    #[case::update_template_changed(
        Operation::Update,
        Some(WorkloadKind::Deployment),
        None,
        Some(true),
        true
    )]
    #[case::update_scale_only(
        Operation::Update,
        Some(WorkloadKind::Deployment),
        None,
        Some(false),
        false
    )]
    #[case::update_no_old_object(
        Operation::Update,
        Some(WorkloadKind::StatefulSet),
        None,
        None,
        false
    )]
    #[case::update_job(Operation::Update, Some(WorkloadKind::Job), None, Some(true), false)]
    #[case::update_owned_replicaset(
        Operation::Update,
        Some(WorkloadKind::ReplicaSet),
        Some("Deployment/web"),
        Some(true),
        false
    )]
    #[case::update_namespace(Operation::Update, None, None, None, true)]
    fn template_edits(
        #[case] operation: Operation,
        #[case] kind: Option<WorkloadKind>,
        #[case] owner: Option<&str>,
        #[case] changed: Option<bool>,
        #[case] allowed: bool,
    ) {
        let scope = EditScope::for_request(operation, kind, owner, changed);
        let edits = [Edit::insert(
            vec!["spec".into(), "template".into()],
            "k",
            "v",
        )];
        assert_eq!(scope.allows(&edits).is_ok(), allowed, "{scope:?}");
    }

    #[test]
    fn a_pod_update_may_add_metadata_but_never_touch_the_spec() {
        let unchanged = EditScope::for_request(
            Operation::Update,
            Some(WorkloadKind::Pod),
            None,
            Some(false),
        );
        assert!(matches!(unchanged, EditScope::Withheld(_)));
        let scope =
            EditScope::for_request(Operation::Update, Some(WorkloadKind::Pod), None, Some(true));
        assert_eq!(scope, EditScope::MetadataOnly);
        assert!(scope
            .allows(&[Edit::insert(
                vec!["metadata".into(), "annotations".into()],
                "k",
                "v"
            )])
            .is_ok());
        assert!(scope
            .allows(&[Edit::insert(
                vec!["spec".into(), "containers".into()],
                "k",
                "v"
            )])
            .is_err());
    }

    #[test]
    fn withheld_edits_become_warnings_that_say_why() {
        let lifecycle = Lifecycle {
            edits: EditScope::Withheld("no rollouts".into()),
            ..Lifecycle::unowned_create()
        };
        let weighed = lifecycle.weigh(vec![fixable(RuleId::SafeToEvict, &["spec"])], &mutate_all());
        assert_eq!(weighed[0].severity, Severity::Notice);
        assert_eq!(weighed[0].problem, "missing (not fixed now: no rollouts)");
    }

    #[test]
    fn allowed_edits_stay() {
        let finding = fixable(RuleId::SafeToEvict, &["metadata", "annotations"]);
        let weighed = Lifecycle::unowned_create().weigh(vec![finding.clone()], &mutate_all());
        assert_eq!(weighed, vec![finding]);
    }

    #[rstest]
    #[case::violation(Finding::violation(RuleId::InjectionAnnotation, "typo", "fix"))]
    #[case::forbidden(Finding::forbidden(RuleId::SystemNamespaces, "asks for injection", "don't"))]
    fn an_owned_object_is_warned_not_rejected(#[case] finding: Finding) {
        let lifecycle = Lifecycle {
            owner: Some("ReplicaSet/web-5d8f".into()),
            ..Lifecycle::unowned_create()
        };
        let weighed = lifecycle.weigh(vec![finding], &Settings::default());
        assert_eq!(weighed[0].severity, Severity::Notice);
        assert!(weighed[0]
            .problem
            .contains("its controller ReplicaSet/web-5d8f makes it"));
    }

    #[test]
    fn proxy_present_still_rejects_owned_pods() {
        let lifecycle = Lifecycle {
            owner: Some("ReplicaSet/web-5d8f".into()),
            ..Lifecycle::unowned_create()
        };
        let finding = Finding::violation(RuleId::ProxyPresent, "no proxy", "recreate");
        let weighed = lifecycle.weigh(vec![finding.clone()], &Settings::default());
        assert_eq!(weighed, vec![finding]);
    }

    #[rstest]
    #[case::preexisting(RuleId::ControlPlaneReplicas, true)]
    #[case::introduced(RuleId::InjectionAnnotation, false)]
    fn updates_ratchet(#[case] rule: RuleId, #[case] warned: bool) {
        let lifecycle = Lifecycle {
            preexisting: vec![RuleId::ControlPlaneReplicas],
            ..Lifecycle::unowned_create()
        };
        let weighed = lifecycle.weigh(
            vec![Finding::violation(rule, "bad", "fix")],
            &Settings::default(),
        );
        assert_eq!(weighed[0].severity == Severity::Notice, warned);
    }

    #[test]
    fn ratcheting_is_a_setting() {
        let findings = [Finding::violation(
            RuleId::ControlPlaneReplicas,
            "bad",
            "fix",
        )];
        let mut settings = Settings::default();
        assert_eq!(
            broken_rules(&findings, &settings),
            vec![RuleId::ControlPlaneReplicas]
        );
        settings.allow_existing_violations = false;
        assert!(broken_rules(&findings, &settings).is_empty());
        let notice = [Finding::notice(RuleId::SafeToEvict, "kept false", "ok")];
        assert!(broken_rules(&notice, &Settings::default()).is_empty());
    }
}
