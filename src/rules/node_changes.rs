//! Node changes against HA mode's node count: a cordon, a new `NoSchedule`
//! or `NoExecute` taint, or a deletion that leaves a critical control-plane
//! component fewer nodes it may run on than replicas, when each replica
//! needs a node of its own. Only ever a warning: operators cordon and
//! delete nodes in emergencies.

use std::fmt::Write as _;

use super::control_plane::critical_component;
use super::rule::{Context, Lookup, NodeChange, Rule, Subject};
use crate::finding::{Finding, RuleId};
use crate::objects::Node;
use crate::phrasebook::count;
use crate::settings::Settings;
use crate::workload::{Workload, HOSTNAME_TOPOLOGY};

pub struct NodeChanges;

/// The critical components among `workloads` (listed in
/// `controlPlane.namespace`) whose replicas need a node each: the only ones
/// a node change can leave short, so the edge lists Nodes only for them.
pub fn needing_a_node_each<'w>(
    workloads: &'w [Workload],
    settings: &Settings,
) -> Vec<&'w Workload> {
    let namespace = &settings.control_plane.namespace;
    workloads
        .iter()
        .filter(|workload| {
            critical_component(workload, namespace, settings).is_some()
                && workload.needs_a_node_per_replica()
        })
        .collect()
}

/// A critical component the change leaves short of nodes.
struct Shortfall<'w> {
    workload: &'w Workload,
    wanted: usize,
    before: usize,
    after: usize,
}

impl Rule for NodeChanges {
    fn id(&self) -> RuleId {
        RuleId::NodeChanges
    }

    fn check(&self, subject: &Subject, context: &Context, settings: &Settings) -> Vec<Finding> {
        let Subject::NodeChange(change) = subject else {
            return Vec::new();
        };
        if !change.narrows_placement() {
            return Vec::new();
        }
        let namespace = &settings.control_plane.namespace;
        let workloads = match &context.control_plane_workloads {
            Lookup::Found(workloads) => workloads,
            Lookup::NotNeeded => return Vec::new(),
            Lookup::Failed(failure) => {
                return vec![self.unknown(
                    change,
                    failure.what_happened(&format!(
                        "the Deployments and StatefulSets of namespace {namespace:?}"
                    )),
                    failure.remedy(
                        "list",
                        "apps/v1",
                        "Deployment",
                        &format!("list the Deployments and StatefulSets of {namespace}"),
                    ),
                )]
            }
        };
        let spread = needing_a_node_each(workloads, settings);
        if spread.is_empty() {
            return Vec::new();
        }
        let nodes = match &context.nodes {
            Lookup::Found(nodes) => nodes,
            Lookup::NotNeeded => return Vec::new(),
            Lookup::Failed(failure) => {
                return vec![self.unknown(
                    change,
                    failure.what_happened("the Nodes"),
                    failure.remedy("list", "v1", "Node", "list the cluster's Nodes"),
                )]
            }
        };
        let shortfalls: Vec<Shortfall> = spread
            .into_iter()
            .filter_map(|workload| {
                let (before, after) = room_before_and_after(workload, nodes, change);
                let shortfall = Shortfall {
                    workload,
                    wanted: usize::try_from(workload.replicas_wanted()).unwrap_or_default(),
                    before,
                    after,
                };
                (shortfall.after < shortfall.before && shortfall.after < shortfall.wanted)
                    .then_some(shortfall)
            })
            .collect();
        if shortfalls.is_empty() {
            return Vec::new();
        }
        vec![self.shortfall(change, &shortfalls)]
    }
}

impl NodeChanges {
    fn shortfall(&self, change: &NodeChange, shortfalls: &[Shortfall]) -> Finding {
        let name = &change.before.metadata.name;
        let mut problem = what_changes(change);
        let _ = write!(
            problem,
            " leaves fewer schedulable nodes than replicas (one node each: required anti-affinity on {HOSTNAME_TOPOLOGY}) for {}: ",
            count(shortfalls.len(), "critical control-plane component", "critical control-plane components"),
        );
        let mut most = 0;
        for (i, s) in shortfalls.iter().enumerate() {
            most = most.max(s.wanted);
            let _ = write!(
                problem,
                "{}{} {}/{} ({} replicas): {} schedulable nodes before, {} after",
                if i == 0 { "" } else { "; " },
                s.workload.kind.name(),
                s.workload.meta.namespace,
                s.workload.meta.name,
                s.wanted,
                s.before,
                s.after,
            );
        }
        problem.push_str(". Running pods stay, but the next rollout, or rescheduling after an eviction or the node's removal, cannot place every replica: the rest stay Pending");
        let first = match &change.after {
            None => String::new(),
            Some(after) if after.spec.unschedulable && !change.before.spec.unschedulable => format!(
                "when the work on the node is done, run `kubectl uncordon {name}`; to keep it out longer, first "
            ),
            Some(_) => format!(
                "remove the taint when it is no longer needed (`kubectl taint nodes {name} KEY[=VALUE]:EFFECT-`), tolerate it in the components' pod templates, or "
            ),
        };
        let fix =
            format!(
            "{first}add a node the components' pods may run on (HA mode assumes at least {most}){}",
            if change.after.is_none() { " before the next rollout" } else { "" }
        );
        Finding::violation(self.id(), problem, fix)
    }

    /// A notice that the effect of the change could not be judged.
    fn unknown(&self, change: &NodeChange, what_happened: String, remedy: String) -> Finding {
        Finding::notice(
            self.id(),
            format!(
                "{}, so the room {} leaves the control plane is unknown",
                what_happened,
                what_changes(change)
            ),
            remedy,
        )
    }
}

/// The change, in words: what the request does to the node.
fn what_changes(change: &NodeChange) -> String {
    let Some(after) = &change.after else {
        return "deleting the node".to_string();
    };
    let mut words = String::new();
    if after.spec.unschedulable && !change.before.spec.unschedulable {
        words.push_str("cordoning the node");
    }
    let added = after
        .blocking_taints()
        .filter(|taint| !change.before.blocking_taints().any(|old| old == *taint));
    let count = added.clone().count();
    if count > 0 {
        if !words.is_empty() {
            words.push_str(" and ");
        }
        words.push_str(if count == 1 {
            "adding the taint"
        } else {
            "adding the taints"
        });
        for (i, taint) in added.enumerate() {
            // As `kubectl taint` spells it: key[=value]:Effect.
            let _ = write!(words, "{}{}", if i == 0 { " " } else { ", " }, taint.key);
            if !taint.value.is_empty() {
                let _ = write!(words, "={}", taint.value);
            }
            let _ = write!(words, ":{}", taint.effect);
        }
    }
    words
}

/// How many nodes the workload's pods may run on, before the request and
/// after it. The list holds what the API server holds, i.e. the node before
/// the request; the changed node is counted from the request either way, so
/// a stale list still counts the change.
fn room_before_and_after(
    workload: &Workload,
    nodes: &[Node],
    change: &NodeChange,
) -> (usize, usize) {
    let name = &change.before.metadata.name;
    let tolerations = &workload.pod_spec().tolerations;
    let others = nodes
        .iter()
        .filter(|node| &node.metadata.name != name && node.admits(tolerations))
        .count();
    let before = others + usize::from(change.before.admits(tolerations));
    let after = others
        + change
            .after
            .as_ref()
            .map_or(0, |node| usize::from(node.admits(tolerations)));
    (before, after)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::decode_object;
    use crate::phrasebook::LookupFailure;
    use crate::rules::{Operation, RULES};
    use crate::workload::WorkloadKind;
    use rstest::rstest;
    use serde_json::{json, Value};

    fn node(name: &str, spec: Value) -> Node {
        decode_object(&json!({"metadata": {"name": name}, "spec": spec}).to_string())
            .expect("a node")
    }

    /// Linkerd's HA destination Deployment: three replicas, a node each.
    fn destination(tolerations: Value) -> Workload {
        let object = json!({
            "metadata": {"name": "linkerd-destination", "namespace": "linkerd"},
            "spec": {"replicas": 3, "template": {
                "metadata": {"labels": {"linkerd.io/control-plane-component": "destination"}},
                "spec": {
                    "tolerations": tolerations,
                    "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                        {"labelSelector": {"matchLabels": {"linkerd.io/control-plane-component": "destination"}},
                         "topologyKey": "kubernetes.io/hostname"}]}},
                    "containers": [{"name": "destination"}]}}}
        });
        Workload::decode(WorkloadKind::Deployment, &object.to_string()).expect("a workload")
    }

    fn three_nodes() -> Vec<Node> {
        ["node-a", "node-b", "node-c"]
            .into_iter()
            .map(|name| node(name, json!({})))
            .collect()
    }

    fn judge(change: NodeChange, workloads: Vec<Workload>, nodes: Vec<Node>) -> Vec<Finding> {
        let operation = match change.after {
            Some(_) => Operation::Update,
            None => Operation::Delete,
        };
        let mut context = Context::new(operation, "");
        context.control_plane_workloads = Lookup::Found(workloads.into());
        context.nodes = Lookup::Found(nodes);
        NodeChanges.check(&Subject::NodeChange(change), &context, &Settings::default())
    }

    fn update(before: Value, after: Value) -> NodeChange {
        NodeChange {
            before: node("node-c", before),
            after: Some(node("node-c", after)),
        }
    }

    const TAINT: &str = r#"{"key": "dedicated", "value": "db", "effect": "NoSchedule"}"#;

    #[rstest]
    #[case::cordon(
        update(json!({}), json!({"unschedulable": true})),
        "cordoning the node leaves fewer schedulable nodes than replicas (one node each: required anti-affinity on kubernetes.io/hostname) for 1 critical control-plane component: Deployment linkerd/linkerd-destination (3 replicas): 3 schedulable nodes before, 2 after. Running pods stay, but the next rollout, or rescheduling after an eviction or the node's removal, cannot place every replica: the rest stay Pending",
        "when the work on the node is done, run `kubectl uncordon node-c`"
    )]
    #[case::no_schedule_taint(
        update(json!({}), json!({"taints": [serde_json::from_str::<Value>(TAINT).unwrap()]})),
        "adding the taint dedicated=db:NoSchedule leaves fewer schedulable nodes",
        "remove the taint when it is no longer needed (`kubectl taint nodes node-c KEY[=VALUE]:EFFECT-`)"
    )]
    #[case::no_execute_taint(
        update(json!({}), json!({"taints": [{"key": "maintenance", "effect": "NoExecute"}]})),
        "adding the taint maintenance:NoExecute leaves fewer",
        "tolerate it in the components' pod templates, or add a node"
    )]
    #[case::delete(
        NodeChange { before: node("node-c", json!({})), after: None },
        "deleting the node leaves fewer schedulable nodes than replicas (one node each: required anti-affinity on kubernetes.io/hostname) for 1 critical control-plane component",
        "add a node the components' pods may run on (HA mode assumes at least 3) before the next rollout"
    )]
    fn a_change_that_leaves_too_few_nodes_warns(
        #[case] change: NodeChange,
        #[case] problem: &str,
        #[case] fix: &str,
    ) {
        let findings = judge(change, vec![destination(Value::Null)], three_nodes());
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert!(
            findings[0].problem.contains(problem),
            "{}",
            findings[0].problem
        );
        assert!(findings[0].fix.contains(fix), "{}", findings[0].fix);
        assert!(!findings[0].has_edits());
    }

    #[rstest]
    #[case::heartbeat(update(json!({}), json!({})))]
    #[case::uncordon(update(json!({"unschedulable": true}), json!({})))]
    #[case::prefer_no_schedule(update(json!({}), json!({"taints": [{"key": "spot", "effect": "PreferNoSchedule"}]})))]
    #[case::taint_already_there(update(
        json!({"taints": [{"key": "a", "effect": "NoSchedule"}]}),
        json!({"taints": [{"key": "a", "effect": "NoSchedule"}]})
    ))]
    fn a_change_that_takes_no_room_needs_nothing(#[case] change: NodeChange) {
        assert!(!change.narrows_placement());
        // Not even the lookups: the edge answers before asking.
        let mut context = Context::new(Operation::Update, "");
        context.control_plane_workloads = Lookup::Failed(LookupFailure::Failed("not asked".into()));
        context.nodes = Lookup::Failed(LookupFailure::Failed("not asked".into()));
        let findings =
            NodeChanges.check(&Subject::NodeChange(change), &context, &Settings::default());
        assert!(findings.is_empty(), "{findings:?}");
    }

    #[test]
    fn a_tolerated_taint_takes_no_node_from_the_component() {
        let change = update(
            json!({}),
            json!({"taints": [serde_json::from_str::<Value>(TAINT).unwrap()]}),
        );
        let tolerates = json!([{"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"}]);
        assert!(judge(change, vec![destination(tolerates)], three_nodes()).is_empty());
    }

    #[test]
    fn a_node_the_component_could_not_use_anyway_changes_nothing() {
        // node-c already carries a taint destination does not tolerate.
        let tainted = json!({"taints": [{"key": "gpu", "effect": "NoSchedule"}]});
        let mut nodes = three_nodes();
        nodes[2] = node("node-c", tainted.clone());
        let change = update(
            tainted,
            json!({"taints": [{"key": "gpu", "effect": "NoSchedule"}], "unschedulable": true}),
        );
        assert!(judge(change, vec![destination(Value::Null)], nodes).is_empty());
    }

    #[test]
    fn a_spare_node_absorbs_the_change() {
        let mut nodes = three_nodes();
        nodes.push(node("node-d", json!({})));
        let change = update(json!({}), json!({"unschedulable": true}));
        assert!(judge(change, vec![destination(Value::Null)], nodes).is_empty());
    }

    #[test]
    fn components_that_may_share_a_node_are_not_counted() {
        let mut shared = destination(Value::Null);
        shared
            .template
            .spec
            .affinity
            .pod_anti_affinity
            .required
            .clear();
        let change = update(json!({}), json!({"unschedulable": true}));
        assert!(judge(change, vec![shared], three_nodes()).is_empty());
    }

    #[test]
    fn a_failed_lookup_is_a_notice_never_a_refusal() {
        let mut context = Context::new(Operation::Delete, "");
        context.control_plane_workloads = Lookup::Found(vec![destination(Value::Null)].into());
        context.nodes = Lookup::Failed(LookupFailure::Refused("nodes is forbidden".into()));
        let change = NodeChange {
            before: node("node-c", json!({})),
            after: None,
        };
        let findings =
            NodeChanges.check(&Subject::NodeChange(change), &context, &Settings::default());
        assert_eq!(findings.len(), 1);
        assert!(!findings[0].could_refuse(), "{findings:?}");
        assert!(
            findings[0]
                .problem
                .contains("so the room deleting the node leaves the control plane is unknown"),
            "{}",
            findings[0].problem
        );
    }

    #[test]
    fn a_cordon_with_two_new_taints_names_all_three_changes() {
        let change = update(
            json!({}),
            json!({"unschedulable": true, "taints": [
                {"key": "a", "effect": "NoSchedule"},
                {"key": "b", "value": "x", "effect": "NoExecute"},
                {"key": "c", "effect": "PreferNoSchedule"}]}),
        );
        assert_eq!(
            what_changes(&change),
            "cordoning the node and adding the taints a:NoSchedule, b=x:NoExecute"
        );
    }

    #[test]
    fn the_rule_is_registered() {
        assert!(RULES.iter().any(|rule| rule.id() == RuleId::NodeChanges));
    }
}
