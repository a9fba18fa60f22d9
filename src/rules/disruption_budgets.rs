//! Disruption budgets for the critical components: present, and leaving room
//! for at least one voluntary disruption so node drains can proceed.

use super::control_plane::critical_component;
use super::{Context, Finding, Lookup, Rule, RuleId, Subject};
use crate::injection::CONTROL_PLANE_COMPONENT_LABEL;
use crate::objects::PodDisruptionBudget;
use crate::settings::Settings;

pub struct DisruptionBudgets;

impl Rule for DisruptionBudgets {
    fn id(&self) -> RuleId {
        RuleId::DisruptionBudgets
    }

    fn check(&self, subject: &Subject, context: &Context, settings: &Settings) -> Vec<Finding> {
        match subject {
            Subject::DisruptionBudget(budget)
                if context.namespace == settings.control_plane.namespace =>
            {
                check_budget(budget, settings).into_iter().collect()
            }
            Subject::Workload(workload) => {
                let Some(component) = critical_component(workload, &context.namespace, settings)
                else {
                    return Vec::new();
                };
                match &context.disruption_budgets {
                    Lookup::NotNeeded => Vec::new(),
                    Lookup::Failed(reason) => vec![Finding::notice(
                        self.id(),
                        format!("could not list PodDisruptionBudgets in {:?} to find {component}'s: {reason}", context.namespace),
                        "allow the policy server to list PodDisruptionBudgets (contextAwareResources: policy/v1 PodDisruptionBudget)".to_string(),
                    )],
                    Lookup::Found(budgets) => {
                        let labels = &workload.pod_meta().labels;
                        let covered = budgets.iter().any(|budget| {
                            budget.spec.selector.as_ref().is_some_and(|s| {
                                // An empty selector selects nothing in policy/v1.
                                !(s.match_labels.is_empty() && s.match_expressions.is_empty()) && s.matches(labels)
                            })
                        });
                        if covered {
                            Vec::new()
                        } else {
                            vec![Finding::violation(
                                self.id(),
                                format!("no PodDisruptionBudget in {:?} selects critical component {component}, so a node drain may evict every replica at once", context.namespace),
                                format!("create a PodDisruptionBudget with maxUnavailable: 1 selecting {CONTROL_PLANE_COMPONENT_LABEL}={component} (linkerd install --ha does)"),
                            )]
                        }
                    }
                }
            }
            _ => Vec::new(),
        }
    }
}

/// A budget for a critical component must allow one disruption.
fn check_budget(budget: &PodDisruptionBudget, settings: &Settings) -> Option<Finding> {
    let selector = budget.spec.selector.as_ref()?;
    let components: Vec<&str> = selector
        .pinned_values(CONTROL_PLANE_COMPONENT_LABEL)
        .into_iter()
        .filter(|value| settings.control_plane.components.iter().any(|c| c == value))
        .collect();
    if components.is_empty() {
        return None;
    }
    let replicas = settings.control_plane.replicas;
    let blocked = if let Some(max) = &budget.spec.max_unavailable {
        (max.resolve(replicas) == Some(0))
            .then(|| format!("maxUnavailable: {max} allows no disruption"))
    } else if let Some(min) = &budget.spec.min_available {
        min.resolve(replicas)
            .filter(|&needed| needed >= i64::from(replicas))
            .map(|needed| format!("minAvailable: {min} keeps all {needed} of {replicas} replicas (controlPlane.replicas) up"))
    } else {
        None
    };
    blocked.map(|why| {
        Finding::violation(
            RuleId::DisruptionBudgets,
            format!(
                "PodDisruptionBudget for {}: {why}, which blocks every node drain",
                components.join(", ")
            ),
            "use maxUnavailable: 1 as linkerd install --ha does".to_string(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::injection::NamespaceInjection;
    use crate::rules::test_support::*;
    use crate::rules::Operation;
    use crate::workload::WorkloadKind;
    use rstest::rstest;
    use serde_json::{json, Value};

    fn budget(component: &str, spec: Value) -> PodDisruptionBudget {
        let mut spec = spec;
        spec["selector"] = json!({"matchLabels": {CONTROL_PLANE_COMPONENT_LABEL: component}});
        serde_json::from_value(
            json!({"metadata": {"name": "pdb", "namespace": "linkerd"}, "spec": spec}),
        )
        .unwrap()
    }

    fn check_pdb(budget: PodDisruptionBudget, namespace: &str) -> Vec<Finding> {
        DisruptionBudgets.check(
            &Subject::DisruptionBudget(budget),
            &Context::new(Operation::Create, namespace),
            &Settings::default(),
        )
    }

    #[rstest]
    #[case::max_unavailable_one(json!({"maxUnavailable": 1}), 0)]
    #[case::max_unavailable_percent(json!({"maxUnavailable": "34%"}), 0)]
    #[case::min_available_two(json!({"minAvailable": 2}), 0)]
    #[case::max_unavailable_zero(json!({"maxUnavailable": 0}), 1)]
    #[case::max_unavailable_zero_percent(json!({"maxUnavailable": "0%"}), 1)]
    #[case::min_available_all(json!({"minAvailable": 3}), 1)]
    #[case::min_available_hundred_percent(json!({"minAvailable": "100%"}), 1)]
    fn budgets_must_allow_a_disruption(#[case] spec: Value, #[case] expected: usize) {
        let findings = check_pdb(budget("destination", spec), "linkerd");
        assert_eq!(findings.len(), expected, "{findings:?}");
    }

    #[rstest]
    #[case::other_component("heartbeat", "linkerd")]
    #[case::other_namespace("destination", "apps")]
    fn unrelated_budgets_are_ignored(#[case] component: &str, #[case] namespace: &str) {
        assert!(check_pdb(budget(component, json!({"maxUnavailable": 0})), namespace).is_empty());
    }

    fn deployment_with(budgets: Lookup<Vec<PodDisruptionBudget>>) -> Vec<Finding> {
        let subject = subject(
            WorkloadKind::Deployment,
            &json!({"metadata": {"name": "linkerd-identity"},
            "spec": {"template": {"metadata": {"labels": {CONTROL_PLANE_COMPONENT_LABEL: "identity"}}, "spec": {}}}}),
        );
        let mut context = workload_context(&subject, "linkerd", NamespaceInjection::NotNeeded);
        context.disruption_budgets = budgets;
        DisruptionBudgets.check(&subject, &context, &Settings::default())
    }

    #[test]
    fn critical_deployment_with_a_budget_passes() {
        let budgets = vec![
            budget("destination", json!({})),
            budget("identity", json!({"maxUnavailable": 1})),
        ];
        assert!(deployment_with(Lookup::Found(budgets)).is_empty());
    }

    #[test]
    fn critical_deployment_without_a_budget_is_a_violation() {
        let findings = deployment_with(Lookup::Found(vec![budget("destination", json!({}))]));
        assert_eq!(findings.len(), 1);
        assert!(findings[0].problem.contains("no PodDisruptionBudget"));
    }

    #[test]
    fn failed_lookup_is_only_a_warning() {
        let findings = deployment_with(Lookup::Failed("forbidden".into()));
        assert_eq!(findings[0].severity, crate::rules::Severity::Notice);
    }
}
