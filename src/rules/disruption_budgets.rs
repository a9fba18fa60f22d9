//! Disruption budgets for the critical components: each budget leaves room
//! for exactly what HA mode wants (one voluntary disruption at a time, so
//! drains proceed and never take every replica), and a critical workload
//! without one is reported.

use super::control_plane::critical_component;
use super::rule::{Context, Lookup, Rule, Subject};
use crate::finding::{Finding, RuleId};
use crate::injection::CONTROL_PLANE_COMPONENT_LABEL;
use crate::objects::{LabelSelector, PodDisruptionBudget};
use crate::selector::{labels, selects, WhenAbsent};
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
                    Lookup::Failed(failure) => vec![Finding::notice(
                        self.id(),
                        format!(
                            "{}, so whether one selects {component} is unknown",
                            failure.what_happened(&format!(
                                "the PodDisruptionBudgets in {:?}",
                                context.namespace
                            ))
                        ),
                        failure.remedy(
                            "list",
                            "policy/v1",
                            "PodDisruptionBudget",
                            "list the namespace's PodDisruptionBudgets",
                        ),
                    )],
                    Lookup::Found(budgets) => {
                        let pod_labels = &workload.pod_meta().labels;
                        let covered = budgets.iter().any(|budget| {
                            selects(
                                budget.spec.selector.as_ref(),
                                WhenAbsent::SelectsNothing,
                                pod_labels,
                            )
                        });
                        if covered {
                            return Vec::new();
                        }
                        // Whether the budget exists yet is cluster state, not a
                        // fault of this object (`kubectl apply` may create it
                        // next): reported, never rejected.
                        vec![Finding::notice(
                            self.id(),
                            format!("no PodDisruptionBudget in {:?} selects critical component {component} yet, so a node drain may evict every replica at once", context.namespace),
                            format!("create a PodDisruptionBudget with maxUnavailable: 1 selecting {CONTROL_PLANE_COMPONENT_LABEL}={component} (linkerd install --ha does)"),
                        )]
                    }
                }
            }
            _ => Vec::new(),
        }
    }
}

/// Whether a budget's selector takes in the pods of `component`: it selects
/// a pod labelled only with the component (so `{}` and `Exists` do), or it
/// pins the component label to it beside other labels the pods may carry.
fn covers(selector: Option<&LabelSelector>, component: &str) -> bool {
    let pod = labels([(CONTROL_PLANE_COMPONENT_LABEL, component)]);
    selects(selector, WhenAbsent::SelectsNothing, &pod)
        || selector.is_some_and(|s| {
            s.pinned_values(CONTROL_PLANE_COMPONENT_LABEL)
                .contains(&component)
        })
}

/// A budget for a critical component must allow a disruption, and must not
/// allow all of them: both the blocked drain and the unprotected one break
/// HA mode. Counts resolve against `controlPlane.replicas`, rounding up as
/// the disruption controller does.
fn check_budget(budget: &PodDisruptionBudget, settings: &Settings) -> Option<Finding> {
    let selector = budget.spec.selector.as_ref();
    let components: Vec<&str> = settings
        .control_plane
        .components
        .iter()
        .map(String::as_str)
        .filter(|component| covers(selector, component))
        .collect();
    if components.is_empty() {
        return None;
    }
    let replicas = settings.control_plane.replicas;
    let all = i64::from(replicas);
    let of = format!("{replicas} replicas (controlPlane.replicas)");
    const BLOCKS: &str = "which blocks every node drain";
    const PROTECTS_NOTHING: &str = "so it protects nothing: a drain may take every replica at once";
    let (why, what) = if let Some(max) = &budget.spec.max_unavailable {
        match max.resolve(replicas) {
            Some(0) => (
                format!("maxUnavailable: {max} allows no disruption"),
                BLOCKS,
            ),
            Some(n) if n >= all || max.is_whole() => (
                format!("maxUnavailable: {max} lets all {of} be evicted at once"),
                PROTECTS_NOTHING,
            ),
            _ => return None,
        }
    } else if let Some(min) = &budget.spec.min_available {
        match min.resolve(replicas) {
            Some(n) if n >= all => (format!("minAvailable: {min} keeps all {of} up"), BLOCKS),
            Some(n) if n <= 0 => (
                format!("minAvailable: {min} keeps none of the {of} up"),
                PROTECTS_NOTHING,
            ),
            _ => return None,
        }
    } else {
        return None;
    };
    Some(Finding::violation(
        RuleId::DisruptionBudgets,
        format!(
            "PodDisruptionBudget {} for {}: {why}, {what}",
            budget.metadata.display_name(),
            components.join(", ")
        ),
        "use maxUnavailable: 1 as linkerd install --ha does".to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::Severity;
    use crate::injection::NamespaceInjection;
    use crate::phrasebook::LookupFailure;
    use crate::rules::test_support::*;
    use crate::rules::Operation;
    use crate::workload::WorkloadKind;
    use rstest::rstest;
    use serde_json::{json, Value};

    fn budget_with(selector: Value, spec: Value) -> PodDisruptionBudget {
        let mut spec = spec;
        if !selector.is_null() {
            spec["selector"] = selector;
        }
        serde_json::from_value(
            json!({"metadata": {"name": "pdb", "namespace": "linkerd"}, "spec": spec}),
        )
        .unwrap()
    }

    fn budget(component: &str, spec: Value) -> PodDisruptionBudget {
        budget_with(
            json!({"matchLabels": {CONTROL_PLANE_COMPONENT_LABEL: component}}),
            spec,
        )
    }

    fn check_pdb(budget: PodDisruptionBudget, namespace: &str) -> Vec<Finding> {
        DisruptionBudgets.check(
            &Subject::DisruptionBudget(budget),
            &Context::new(Operation::Create, namespace),
            &Settings::default(),
        )
    }

    #[rstest]
    #[case::max_unavailable_one(json!({"maxUnavailable": 1}), None)]
    #[case::max_unavailable_percent(json!({"maxUnavailable": "34%"}), None)]
    #[case::max_unavailable_two(json!({"maxUnavailable": 2}), None)]
    #[case::min_available_two(json!({"minAvailable": 2}), None)]
    #[case::min_available_one(json!({"minAvailable": 1}), None)]
    #[case::max_unavailable_zero(json!({"maxUnavailable": 0}), Some("maxUnavailable: 0 allows no disruption, which blocks every node drain"))]
    #[case::max_unavailable_zero_percent(json!({"maxUnavailable": "0%"}), Some("allows no disruption"))]
    #[case::min_available_all(json!({"minAvailable": 3}), Some("minAvailable: 3 keeps all 3 replicas (controlPlane.replicas) up, which blocks every node drain"))]
    #[case::min_available_hundred_percent(json!({"minAvailable": "100%"}), Some("blocks every node drain"))]
    #[case::max_unavailable_all(json!({"maxUnavailable": 3}), Some("maxUnavailable: 3 lets all 3 replicas (controlPlane.replicas) be evicted at once, so it protects nothing"))]
    #[case::max_unavailable_more_than_all(json!({"maxUnavailable": 5}), Some("protects nothing"))]
    #[case::max_unavailable_hundred_percent(json!({"maxUnavailable": "100%"}), Some("maxUnavailable: \"100%\" lets all"))]
    #[case::max_unavailable_rounding_up_to_all(json!({"maxUnavailable": "67%"}), Some("protects nothing"))]
    #[case::min_available_zero(json!({"minAvailable": 0}), Some("minAvailable: 0 keeps none of the 3 replicas (controlPlane.replicas) up, so it protects nothing"))]
    #[case::min_available_zero_percent(json!({"minAvailable": "0%"}), Some("protects nothing"))]
    fn budgets_allow_one_disruption_not_none_nor_all(
        #[case] spec: Value,
        #[case] problem: Option<&str>,
    ) {
        let findings = check_pdb(budget("destination", spec), "linkerd");
        match problem {
            None => assert!(findings.is_empty(), "{findings:?}"),
            Some(problem) => {
                assert_eq!(findings.len(), 1, "{findings:?}");
                assert!(
                    findings[0].problem.contains(problem),
                    "{:?} lacks {problem:?}",
                    findings[0].problem
                );
                assert!(findings[0]
                    .problem
                    .starts_with("PodDisruptionBudget pdb for destination: "));
                assert_eq!(
                    findings[0].fix,
                    "use maxUnavailable: 1 as linkerd install --ha does"
                );
            }
        }
    }

    #[rstest]
    #[case::empty_selector_covers_every_component(json!({}), Some("for destination, identity, proxy-injector"))]
    #[case::exists_covers_every_component(json!({"matchExpressions": [{"key": CONTROL_PLANE_COMPONENT_LABEL, "operator": "Exists"}]}), Some("for destination, identity, proxy-injector"))]
    #[case::in_list(json!({"matchExpressions": [{"key": CONTROL_PLANE_COMPONENT_LABEL, "operator": "In", "values": ["identity", "heartbeat"]}]}), Some("for identity:"))]
    #[case::pinned_beside_other_labels(json!({"matchLabels": {CONTROL_PLANE_COMPONENT_LABEL: "identity", "linkerd.io/control-plane-ns": "linkerd"}}), Some("for identity:"))]
    #[case::absent_selector_selects_nothing(Value::Null, None)]
    #[case::other_component(json!({"matchLabels": {CONTROL_PLANE_COMPONENT_LABEL: "heartbeat"}}), None)]
    #[case::other_app(json!({"matchLabels": {"app": "web"}}), None)]
    fn budgets_are_judged_by_what_their_selector_selects(
        #[case] selector: Value,
        #[case] problem: Option<&str>,
    ) {
        let findings = check_pdb(
            budget_with(selector, json!({"maxUnavailable": 0})),
            "linkerd",
        );
        match problem {
            None => assert!(findings.is_empty(), "{findings:?}"),
            Some(problem) => {
                assert_only_finding(&findings, problem);
            }
        }
    }

    #[test]
    fn budgets_outside_the_control_plane_namespace_are_ignored() {
        assert!(check_pdb(budget("destination", json!({"maxUnavailable": 0})), "apps").is_empty());
    }

    fn deployment_with(budgets: Lookup<Vec<PodDisruptionBudget>>) -> Vec<Finding> {
        let subject = subject(
            WorkloadKind::Deployment,
            &json!({"metadata": {"name": "linkerd-identity"},
            "spec": {"template": {"metadata": {"labels": {CONTROL_PLANE_COMPONENT_LABEL: "identity", "linkerd.io/control-plane-ns": "linkerd"}}, "spec": {}}}}),
        );
        let mut context = workload_context(&subject, "linkerd", NamespaceInjection::NotNeeded);
        context.disruption_budgets = budgets;
        DisruptionBudgets.check(&subject, &context, &Settings::default())
    }

    #[rstest]
    #[case::own_budget(vec![budget("destination", json!({})), budget("identity", json!({"maxUnavailable": 1}))])]
    #[case::empty_selector_covers_it(vec![budget_with(json!({}), json!({"maxUnavailable": 1}))])]
    #[case::expression_selector(vec![budget_with(json!({"matchExpressions": [{"key": CONTROL_PLANE_COMPONENT_LABEL, "operator": "In", "values": ["identity"]}]}), json!({"maxUnavailable": 1}))])]
    fn critical_deployment_with_a_budget_passes(#[case] budgets: Vec<PodDisruptionBudget>) {
        assert!(deployment_with(Lookup::Found(budgets)).is_empty());
    }

    #[rstest]
    #[case::none(vec![])]
    #[case::only_another_components(vec![budget("destination", json!({}))])]
    #[case::absent_selector_selects_nothing(vec![budget_with(Value::Null, json!({"maxUnavailable": 1}))])]
    fn critical_deployment_without_a_budget_is_a_warning_not_a_rejection(
        #[case] budgets: Vec<PodDisruptionBudget>,
    ) {
        let findings = deployment_with(Lookup::Found(budgets));
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].severity, Severity::Notice);
        assert!(findings[0].problem.contains(
            "no PodDisruptionBudget in \"linkerd\" selects critical component identity yet"
        ));
    }

    #[test]
    fn failed_lookup_is_only_a_warning() {
        let findings = deployment_with(Lookup::Failed(LookupFailure::from_host_error("forbidden")));
        assert_eq!(findings[0].severity, Severity::Notice);
    }
}
