//! Linkerd's critical control-plane components in HA mode: enough replicas,
//! spread across nodes and zones, with resource requests, on enough nodes.

use serde::Serialize;

use super::rule::{path_with, Context, Lookup, Rule, Subject};
use crate::finding::{Finding, RuleId, Severity};
use crate::injection::CONTROL_PLANE_COMPONENT_LABEL;
use crate::mutation::{Edit, JsonText};
use crate::objects::PodAffinityTerm;
use crate::phrasebook::count;
use crate::quantity::{check_request, Quantity, RequestCheck};
use crate::selector::{selects, WhenAbsent};
use crate::settings::{ResourceContainers, Settings};
use crate::workload::{ContainerRef, Workload, WorkloadKind, HOSTNAME_TOPOLOGY, PROXY_CONTAINER};
pub const ZONE_TOPOLOGY: &str = "topology.kubernetes.io/zone";

/// The critical component a workload runs, if it is one: a Deployment or
/// StatefulSet in the control-plane namespace whose pods carry a listed
/// `linkerd.io/control-plane-component`.
pub fn critical_component<'w>(
    workload: &'w Workload,
    namespace: &str,
    settings: &Settings,
) -> Option<&'w str> {
    if !WorkloadKind::CRITICAL.contains(&workload.kind)
        || namespace != settings.control_plane.namespace
    {
        return None;
    }
    let component = workload.pod_meta().label(CONTROL_PLANE_COMPONENT_LABEL)?;
    settings
        .control_plane
        .components
        .iter()
        .any(|c| c == component)
        .then_some(component)
}

fn critical<'s>(
    subject: &'s Subject,
    context: &Context,
    settings: &Settings,
) -> Option<(&'s Workload, &'s str)> {
    match subject {
        Subject::Workload(workload) => {
            critical_component(workload, &context.namespace, settings).map(|c| (workload, c))
        }
        _ => None,
    }
}

/// Why a deadlock cannot be ruled out when the Node list was empty: no
/// cluster runs on none, so the lookup saw a cluster without its nodes (a
/// scan without them, or a replay).
const NO_NODES_LISTED: &str = "no Node was listed (a cluster always has nodes; a scan needs --nodes or a --cluster dump that lists them), so a free node cannot be assumed";

/// Nodes the scheduler could place the workload's pods on, when the cluster
/// was asked and answered: not cordoned, every `NoSchedule`/`NoExecute`
/// taint tolerated by the pod template. An empty answer means a restricted
/// view (no cluster runs on zero nodes), so it counts as unknown.
fn schedulable_nodes(workload: &Workload, context: &Context) -> Option<(usize, usize)> {
    match &context.nodes {
        Lookup::Found(nodes) if !nodes.is_empty() => {
            Some((workload.schedulable_nodes(nodes), nodes.len()))
        }
        _ => None,
    }
}

pub struct ControlPlaneReplicas;

impl Rule for ControlPlaneReplicas {
    fn id(&self) -> RuleId {
        RuleId::ControlPlaneReplicas
    }

    fn check(&self, subject: &Subject, context: &Context, settings: &Settings) -> Vec<Finding> {
        let Some((workload, component)) = critical(subject, context, settings) else {
            return Vec::new();
        };
        let ha = settings.control_plane.replicas;
        let minimum = settings.control_plane.min_replicas();
        let actual = workload.replicas_wanted();
        let unset = if workload.replicas.is_none() {
            " (spec.replicas unset)"
        } else {
            ""
        };
        if actual >= i64::from(ha) {
            return Vec::new();
        }
        if actual >= i64::from(minimum) {
            // One replica leaves no budget to keep (see the settings check):
            // the advice turns the budget rule off with it.
            let budgets_too = if actual <= 1 && settings.rules.is_on(RuleId::DisruptionBudgets) {
                " and rules.disruptionBudgets: off (one replica leaves no budget to keep)"
            } else {
                ""
            };
            return vec![Finding::notice(
                self.id(),
                format!(
                    "critical component {component} runs {}, which {}; HA mode runs {ha} (controlPlane.replicas), which survive the loss of {}",
                    count(actual, "replica", "replicas"),
                    survives(actual),
                    i64::from(ha) - 1,
                ),
                format!(
                    "set spec.replicas: {ha} (linkerd install --ha), or set controlPlane.replicas: {actual}{budgets_too} in the policy settings if {actual} is intended"
                ),
            )];
        }
        // minReplicas is at least 1 (the settings check): a component scaled
        // to zero is only ever told to scale up.
        let or_lower_the_minimum = if actual >= 1 {
            format!(", or set controlPlane.minReplicas: {actual} in the policy settings if fewer replicas are intended")
        } else {
            String::new()
        };
        vec![Finding::violation(
            self.id(),
            format!(
                "critical component {component} runs {}{unset}; the policy accepts no fewer than {minimum} (controlPlane.minReplicas) and HA mode runs {ha} (controlPlane.replicas)",
                count(actual, "replica", "replicas")
            ),
            format!(
                "set spec.replicas: {ha} (linkerd install --ha, or --controller-replicas={ha}){or_lower_the_minimum}"
            ),
        )]
    }
}

/// What `replicas` ride out: the loss of all but one.
fn survives(replicas: i64) -> String {
    match replicas - 1 {
        n if n <= 0 => "survives the loss of none".to_string(),
        n => format!("survive the loss of {n}"),
    }
}

pub struct ControlPlaneAntiAffinity;

/// The pod anti-affinity term the rule adds, as `linkerd install --ha`
/// writes it; members in sorted order, as JSON tools print them.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AntiAffinityTerm<'a> {
    label_selector: ComponentSelector<'a>,
    topology_key: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ComponentSelector<'a> {
    match_expressions: [ComponentRequirement<'a>; 1],
}

#[derive(Serialize)]
struct ComponentRequirement<'a> {
    key: &'a str,
    operator: &'a str,
    values: [&'a str; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WeightedAntiAffinityTerm<'a> {
    pod_affinity_term: AntiAffinityTerm<'a>,
    weight: u8,
}

impl Rule for ControlPlaneAntiAffinity {
    fn id(&self) -> RuleId {
        RuleId::ControlPlaneAntiAffinity
    }

    fn check(&self, subject: &Subject, context: &Context, settings: &Settings) -> Vec<Finding> {
        let Some((workload, component)) = critical(subject, context, settings) else {
            return Vec::new();
        };
        let labels = &workload.pod_meta().labels;
        // A term with no labelSelector matches no pods, so it spreads nothing.
        let protects = |term: &PodAffinityTerm, topology: &str| {
            term.topology_key == topology
                && selects(
                    term.label_selector.as_ref(),
                    WhenAbsent::SelectsNothing,
                    labels,
                )
        };
        let anti_affinity = &workload.pod_spec().affinity.pod_anti_affinity;
        let has_required = anti_affinity
            .required
            .iter()
            .any(|term| protects(term, HOSTNAME_TOPOLOGY));
        let has_preferred = anti_affinity
            .preferred
            .iter()
            .any(|weighted| protects(&weighted.pod_affinity_term, ZONE_TOPOLOGY));
        let affinity_path = path_with(&workload.pod_spec_path(), &["affinity", "podAntiAffinity"]);
        let term = |topology_key| AntiAffinityTerm {
            label_selector: ComponentSelector {
                match_expressions: [ComponentRequirement {
                    key: CONTROL_PLANE_COMPONENT_LABEL,
                    operator: "In",
                    values: [component],
                }],
            },
            topology_key,
        };
        let rollout = Rollout::of(workload);
        let mut findings = Vec::new();
        if !has_required {
            let mut edits = vec![Edit::append(
                path_with(
                    &affinity_path,
                    &["requiredDuringSchedulingIgnoredDuringExecution"],
                ),
                JsonText::of(&term(HOSTNAME_TOPOLOGY)),
            )];
            let mut fix = format!(
                "add to spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution: {{labelSelector: {{matchExpressions: [{{key: {CONTROL_PLANE_COMPONENT_LABEL}, operator: In, values: [{component}]}}]}}, topologyKey: {HOSTNAME_TOPOLOGY}}}"
            );
            // With one pod per node, a rollout that may take none down
            // waits for a free node forever: values-ha.yaml pairs the term
            // with maxUnavailable: 1.
            if rollout.as_ref().is_some_and(|r| r.max_unavailable == 0) {
                fix.push_str(", and set spec.strategy.rollingUpdate.maxUnavailable: 1");
                edits.push(Edit::insert(
                    ["spec", "strategy", "rollingUpdate"]
                        .map(String::from)
                        .to_vec(),
                    "maxUnavailable",
                    1,
                ));
            }
            fix.push_str(" (linkerd install --ha sets it)");
            findings.push(
                Finding::violation(
                    self.id(),
                    format!(
                        "critical component {component} lacks a requiredDuringSchedulingIgnoredDuringExecution pod anti-affinity term on {HOSTNAME_TOPOLOGY} whose selector matches its own pods, so replicas may share a node"
                    ),
                    fix,
                )
                .fixed_by(edits),
            );
        }
        if !has_preferred {
            findings.push(
                Finding::violation(
                    self.id(),
                    format!(
                        "critical component {component} lacks a preferredDuringSchedulingIgnoredDuringExecution pod anti-affinity term on {ZONE_TOPOLOGY} whose selector matches its own pods, so replicas may share a zone"
                    ),
                    format!(
                        "add to spec.template.spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution: {{weight: 100, podAffinityTerm: {{labelSelector: {{matchExpressions: [{{key: {CONTROL_PLANE_COMPONENT_LABEL}, operator: In, values: [{component}]}}]}}, topologyKey: {ZONE_TOPOLOGY}}}}} (linkerd install --ha sets it)"
                    ),
                )
                .fixed_by(vec![Edit::append(
                    path_with(&affinity_path, &["preferredDuringSchedulingIgnoredDuringExecution"]),
                    JsonText::of(&WeightedAntiAffinityTerm {
                        pod_affinity_term: term(ZONE_TOPOLOGY),
                        weight: 100,
                    }),
                )]),
            );
        }
        if let Some(rollout) = rollout.filter(|r| has_required && r.max_unavailable == 0) {
            findings.extend(rollout.deadlock(component, workload, context));
        }
        findings
    }
}

/// A Deployment's rolling update, as far as the deadlock check goes.
struct Rollout {
    replicas: i64,
    max_unavailable: i64,
    /// `maxUnavailable` as written, or `None` when the default applies.
    written: Option<String>,
}

impl Rollout {
    /// `None` for kinds without a rolling update limit (StatefulSets replace
    /// one pod at a time) and for `Recreate`.
    fn of(workload: &Workload) -> Option<Self> {
        if workload.kind != WorkloadKind::Deployment {
            return None;
        }
        let replicas = workload.replicas_wanted();
        if replicas < 1 {
            return None;
        }
        let max_unavailable = workload
            .strategy
            .max_unavailable(u32::try_from(replicas.max(0)).unwrap_or(u32::MAX))?;
        Some(Self {
            replicas,
            max_unavailable,
            written: workload
                .strategy
                .rolling_update
                .max_unavailable
                .as_ref()
                .map(ToString::to_string),
        })
    }

    /// With required anti-affinity on hostnames and no pod allowed down, a
    /// rollout needs a free node for its surge pod: none when replicas fill
    /// every schedulable node. Without a node count (nodeCapacity off) none
    /// is assumed, as HA mode assumes as many nodes as replicas; when the
    /// lookup failed or listed no Node, only a warning: rules never reject
    /// on what they could not see.
    fn deadlock(&self, component: &str, workload: &Workload, context: &Context) -> Option<Finding> {
        let (room, seen) = match (&context.nodes, schedulable_nodes(workload, context)) {
            (_, Some((schedulable, _))) if (schedulable as i64) > self.replicas => return None,
            (_, Some((schedulable, _))) => (
                format!(
                    "its {} replicas fill all {schedulable} schedulable node(s)",
                    self.replicas
                ),
                true,
            ),
            (Lookup::Failed(failure), _) => (
                format!(
                    "{}, so a free node cannot be assumed",
                    failure.what_happened("the Nodes")
                ),
                false,
            ),
            (Lookup::Found(_), _) => (NO_NODES_LISTED.to_string(), false),
            (Lookup::NotNeeded, _) => (
                "the nodes are not counted (nodeCapacity is off), so no free node is assumed"
                    .to_string(),
                true,
            ),
        };
        let value = match &self.written {
            Some(written) => format!("maxUnavailable: {written}"),
            None => format!(
                "maxUnavailable (unset, so {})",
                crate::objects::DeploymentStrategy::DEFAULT_MAX_UNAVAILABLE
            ),
        };
        let finding = Finding::violation(
            RuleId::ControlPlaneAntiAffinity,
            format!(
                "critical component {component} can never finish a rolling update: {value} rounds down to 0 of {} replicas, so each new pod needs a node with none of the component's pods (required anti-affinity on {HOSTNAME_TOPOLOGY}), and {room}",
                self.replicas
            ),
            "set spec.strategy.rollingUpdate.maxUnavailable: 1 (linkerd install --ha does)".to_string(),
        );
        if !seen {
            return Some(Finding {
                severity: Severity::Notice,
                ..finding
            });
        }
        // Adding the field is the policy's to do; a value the user wrote is not.
        Some(if self.written.is_none() {
            finding.fixed_by(vec![Edit::insert(
                ["spec", "strategy", "rollingUpdate"]
                    .map(String::from)
                    .to_vec(),
                "maxUnavailable",
                1,
            )])
        } else {
            finding
        })
    }
}

pub struct ControlPlaneResources;

impl Rule for ControlPlaneResources {
    fn id(&self) -> RuleId {
        RuleId::ControlPlaneResources
    }

    fn check(&self, subject: &Subject, context: &Context, settings: &Settings) -> Vec<Finding> {
        let Some((workload, component)) = critical(subject, context, settings) else {
            return Vec::new();
        };
        let minimum = &settings.control_plane.requests;
        let checked: Vec<ContainerRef<'_>> = match settings.control_plane.resource_containers {
            ResourceContainers::All => workload.long_running_containers().collect(),
            ResourceContainers::Main => workload
                .containers()
                .filter(|c| c.container.name == component)
                .chain(workload.proxy_container())
                .collect(),
        };
        let mut findings = Vec::new();
        if settings.control_plane.resource_containers == ResourceContainers::Main
            && !checked.iter().any(|c| c.container.name == component)
        {
            findings.push(Finding::notice(
                self.id(),
                format!("critical component {component} has no container named {component:?}; only {PROXY_CONTAINER} was checked for requests"),
                "set controlPlane.resourceContainers: all to check every container".to_string(),
            ));
        }
        for container in checked {
            let resources = &container.container.resources;
            let requests_path = path_with(
                &workload.pod_spec_path(),
                &[
                    container.list,
                    &container.index.to_string(),
                    "resources",
                    "requests",
                ],
            );
            let place = format!(
                "container {:?} ({}[{}])",
                container.container.name, container.list, container.index
            );
            let mut missing: Vec<(&str, Quantity)> = Vec::new();
            for (resource, floor) in [("cpu", minimum.cpu), ("memory", minimum.memory)] {
                let check = check_request(
                    resources.requests.get(resource),
                    resources.limits.get(resource),
                    floor,
                );
                let (problem, fix) = match check {
                    RequestCheck::Meets => continue,
                    RequestCheck::Missing => {
                        missing.push((resource, floor));
                        continue;
                    }
                    RequestCheck::Below { request, limit } => (
                        format!(
                            "{place} requests {resource} {request}, less than controlPlane.requests.{resource} {floor}{}",
                            limit.map_or(String::new(), |l| format!(", and its {resource} limit {l} is below that too"))
                        ),
                        format!(
                            "raise resources.requests.{resource}{} on {place} to at least {floor}, or lower controlPlane.requests.{resource}",
                            if limit.is_some() { format!(" and resources.limits.{resource}") } else { String::new() }
                        ),
                    ),
                    RequestCheck::LimitBelow { limit } => (
                        format!(
                            "{place} sets no {resource} request, so the API server makes it equal to the {resource} limit {limit}, less than controlPlane.requests.{resource} {floor}; no request may exceed its limit, so the policy cannot fill one in"
                        ),
                        format!(
                            "raise resources.limits.{resource} on {place} to at least {floor}, or lower controlPlane.requests.{resource}"
                        ),
                    ),
                    RequestCheck::Unreadable { field, value } => (
                        format!(
                            "the {resource} {} of {place}, {}, cannot be read as a Kubernetes quantity",
                            field.name(),
                            crate::phrasebook::quoted(value.as_written())
                        ),
                        format!(
                            "write resources.{}s.{resource} on {place} as a quantity such as {}",
                            field.name(),
                            if resource == "cpu" { "100m or 0.5" } else { "64Mi or 1Gi" }
                        ),
                    ),
                };
                findings.push(Finding::violation(
                    self.id(),
                    format!("critical component {component}: {problem}"),
                    fix,
                ));
            }
            if !missing.is_empty() {
                let names: Vec<String> = missing
                    .iter()
                    .map(|(r, q)| format!("{r} (at least {q})"))
                    .collect();
                findings.push(
                    Finding::violation(
                        self.id(),
                        format!("critical component {component}: {place} requests no {} and has no limit to default it from", names.join(" or ")),
                        format!(
                            "set resources.requests on {place}: {} (linkerd install --ha sets production requests)",
                            missing.iter().map(|(r, q)| format!("{r}: {q}")).collect::<Vec<_>>().join(", ")
                        ),
                    )
                    .fixed_by(
                        missing
                            .iter()
                            .map(|(resource, floor)| Edit::insert(requests_path.clone(), *resource, floor.to_string()))
                            .collect(),
                    ),
                );
            }
        }
        findings
    }
}

/// Required anti-affinity on hostnames needs a node per replica.
pub struct NodeCapacity;

impl Rule for NodeCapacity {
    fn id(&self) -> RuleId {
        RuleId::NodeCapacity
    }

    fn check(&self, subject: &Subject, context: &Context, settings: &Settings) -> Vec<Finding> {
        let Some((workload, component)) = critical(subject, context, settings) else {
            return Vec::new();
        };
        if !workload.needs_a_node_per_replica() {
            return Vec::new();
        }
        if let Lookup::Failed(failure) = &context.nodes {
            return vec![Finding::notice(
                self.id(),
                format!(
                    "{}, so the room for {component}'s replicas is unknown",
                    failure.what_happened("the Nodes")
                ),
                failure.remedy("list", "v1", "Node", "list the cluster's Nodes"),
            )];
        }
        let Some((schedulable, total)) = schedulable_nodes(workload, context) else {
            return Vec::new();
        };
        let wanted = workload.replicas_wanted();
        if wanted <= schedulable as i64 {
            return Vec::new();
        }
        vec![Finding::violation(
            self.id(),
            format!(
                "critical component {component} wants {wanted} replicas on separate nodes (required anti-affinity on {HOSTNAME_TOPOLOGY}) but only {schedulable} of {total} node(s) are schedulable for its pods (cordoned nodes and nodes with a NoSchedule or NoExecute taint its pods do not tolerate do not count): pods would stay Pending and upgrades would deadlock"
            ),
            format!("add nodes its pods may run on (HA mode assumes at least {wanted}), add tolerations for the taints, or lower spec.replicas and controlPlane.replicas"),
        )]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::injection::NamespaceInjection;
    use crate::mutation::apply_all;
    use crate::objects::Node;
    use crate::phrasebook::LookupFailure;
    use crate::rules::test_support::*;
    use rstest::rstest;
    use serde_json::{json, Value};

    fn anti_affinity(component: &str) -> Value {
        let selector = json!({"matchExpressions": [{"key": CONTROL_PLANE_COMPONENT_LABEL, "operator": "In", "values": [component]}]});
        json!({"podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [{"labelSelector": selector, "topologyKey": HOSTNAME_TOPOLOGY}],
            "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100, "podAffinityTerm": {"labelSelector": selector, "topologyKey": ZONE_TOPOLOGY}}]
        }})
    }

    fn requests(cpu: &str, memory: &str) -> Value {
        json!({"requests": {"cpu": cpu, "memory": memory}})
    }

    /// A Deployment shaped like `linkerd install --ha` output.
    fn ha_deployment(component: &str) -> Value {
        json!({"metadata": {"name": format!("linkerd-{component}"), "namespace": "linkerd"},
        "spec": {"replicas": 3, "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
        "template": {
            "metadata": {"labels": {CONTROL_PLANE_COMPONENT_LABEL: component}},
            "spec": {"affinity": anti_affinity(component), "containers": [
                {"name": component, "resources": requests("100m", "50Mi")},
                {"name": "sp-validator"},
                {"name": "linkerd-proxy", "resources": requests("100m", "20Mi")}
            ]}}}})
    }

    fn check_in(
        rule: &dyn Rule,
        kind: WorkloadKind,
        object: &Value,
        nodes: Lookup<Vec<Node>>,
        settings: &Settings,
    ) -> Vec<Finding> {
        let subject = subject(kind, object);
        let mut context = workload_context(&subject, "linkerd", NamespaceInjection::NotNeeded);
        context.nodes = nodes;
        rule.check(&subject, &context, settings)
    }

    fn check(
        rule: &dyn Rule,
        object: &Value,
        namespace: &str,
        settings: &Settings,
    ) -> Vec<Finding> {
        let subject = subject(WorkloadKind::Deployment, object);
        let context = workload_context(&subject, namespace, NamespaceInjection::NotNeeded);
        rule.check(&subject, &context, settings)
    }

    fn edits_of(findings: &[Finding]) -> Vec<Edit> {
        findings
            .iter()
            .flat_map(|finding| match &finding.severity {
                Severity::Violation { edits } => edits.clone(),
                _ => Vec::new(),
            })
            .collect()
    }

    /// Applies the rule's fixes, then checks the result again: nothing left
    /// to fix, and a second pass would change nothing.
    fn mutated_once(rule: &dyn Rule, object: &Value, nodes: Lookup<Vec<Node>>) -> Value {
        let settings = Settings::default();
        let findings = check_in(
            rule,
            WorkloadKind::Deployment,
            object,
            nodes.clone(),
            &settings,
        );
        let mut mutated = object.clone();
        apply_all(&mut mutated, &edits_of(&findings)).unwrap();
        let again = check_in(rule, WorkloadKind::Deployment, &mutated, nodes, &settings);
        assert!(edits_of(&again).is_empty(), "second pass edits: {again:?}");
        mutated
    }

    fn path(segments: &[&str]) -> Vec<String> {
        segments.iter().map(|s| s.to_string()).collect()
    }

    #[rstest]
    #[case::destination("destination")]
    #[case::identity("identity")]
    #[case::proxy_injector("proxy-injector")]
    fn ha_components_pass_every_rule(#[case] component: &str) {
        let object = ha_deployment(component);
        for rule in [
            &ControlPlaneReplicas as &dyn Rule,
            &ControlPlaneAntiAffinity,
            &ControlPlaneResources,
            &NodeCapacity,
        ] {
            assert!(
                check(rule, &object, "linkerd", &Settings::default()).is_empty(),
                "{:?}",
                rule.id()
            );
        }
    }

    #[rstest]
    #[case::one(json!(1), None, Some((false, "runs 1 replica; the policy accepts no fewer than 2 (controlPlane.minReplicas) and HA mode runs 3")))]
    #[case::unset(Value::Null, None, Some((false, "runs 1 replica (spec.replicas unset)")))]
    #[case::controller_replicas_two(json!(2), None, Some((true, "runs 2 replicas, which survive the loss of 1; HA mode runs 3 (controlPlane.replicas)")))]
    #[case::ha(json!(3), None, None)]
    #[case::more(json!(5), None, None)]
    #[case::one_allowed_by_min_replicas(json!(1), Some(1), Some((true, "runs 1 replica, which survives the loss of none; HA mode runs 3")))]
    #[case::two_below_raised_min_replicas(json!(2), Some(3), Some((false, "no fewer than 3 (controlPlane.minReplicas)")))]
    fn replicas_below_ha_warn_and_below_the_minimum_reject(
        #[case] replicas: Value,
        #[case] min_replicas: Option<u32>,
        #[case] expected: Option<(bool, &str)>,
    ) {
        let mut object = ha_deployment("identity");
        object["spec"]["replicas"] = replicas;
        let mut settings = Settings::default();
        settings.control_plane.min_replicas_setting = min_replicas;
        let findings = check(&ControlPlaneReplicas, &object, "linkerd", &settings);
        match expected {
            None => assert!(findings.is_empty(), "{findings:?}"),
            Some((warning, problem)) => {
                assert_eq!(findings.len(), 1);
                assert_eq!(findings[0].severity == Severity::Notice, warning);
                assert!(
                    findings[0].problem.contains(problem),
                    "{}",
                    findings[0].problem
                );
                assert!(
                    findings[0].fix.starts_with("set spec.replicas: 3"),
                    "{}",
                    findings[0].fix
                );
            }
        }
    }

    #[test]
    fn fewer_replicas_pass_when_configured() {
        let mut object = ha_deployment("identity");
        object["spec"]["replicas"] = json!(2);
        let mut settings = Settings::default();
        settings.control_plane.replicas = 2;
        assert!(check(&ControlPlaneReplicas, &object, "linkerd", &settings).is_empty());
    }

    #[rstest]
    #[case::other_namespace("identity", "apps")]
    #[case::unlisted_component("heartbeat", "linkerd")]
    fn non_critical_workloads_are_ignored(#[case] component: &str, #[case] namespace: &str) {
        let mut object = ha_deployment(component);
        object["spec"]["replicas"] = json!(1);
        object["spec"]["template"]["spec"]["affinity"] = json!({});
        for rule in [
            &ControlPlaneReplicas as &dyn Rule,
            &ControlPlaneAntiAffinity,
        ] {
            assert!(check(rule, &object, namespace, &Settings::default()).is_empty());
        }
    }

    fn required_term(component: &str) -> Value {
        anti_affinity(component)["podAntiAffinity"]
            ["requiredDuringSchedulingIgnoredDuringExecution"][0]
            .clone()
    }

    fn preferred_term(component: &str) -> Value {
        anti_affinity(component)["podAntiAffinity"]
            ["preferredDuringSchedulingIgnoredDuringExecution"][0]
            .clone()
    }

    const AFFINITY: &[&str] = &["spec", "template", "spec", "affinity", "podAntiAffinity"];

    fn append_required(component: &str) -> Edit {
        let mut at = path(AFFINITY);
        at.push("requiredDuringSchedulingIgnoredDuringExecution".into());
        Edit::append(at, required_term(component))
    }

    fn append_preferred(component: &str) -> Edit {
        let mut at = path(AFFINITY);
        at.push("preferredDuringSchedulingIgnoredDuringExecution".into());
        Edit::append(at, preferred_term(component))
    }

    fn max_unavailable_one() -> Edit {
        Edit::insert(
            path(&["spec", "strategy", "rollingUpdate"]),
            "maxUnavailable",
            1,
        )
    }

    #[rstest]
    #[case::strategy_kept(json!({"rollingUpdate": {"maxUnavailable": 1}}), false)]
    #[case::recreate_has_no_rollout_limit(json!({"type": "Recreate"}), false)]
    #[case::default_quarter_rounds_to_zero(Value::Null, true)]
    #[case::written_quarter_rounds_to_zero(json!({"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}), true)]
    #[case::zero(json!({"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}), true)]
    fn adding_required_anti_affinity_also_lets_one_pod_go(
        #[case] strategy: Value,
        #[case] sets_max_unavailable: bool,
    ) {
        let mut object = ha_deployment("destination");
        object["spec"]["template"]["spec"]["affinity"] = Value::Null;
        object["spec"]["strategy"] = strategy.clone();
        let findings = check_in(
            &ControlPlaneAntiAffinity,
            WorkloadKind::Deployment,
            &object,
            Lookup::NotNeeded,
            &Settings::default(),
        );
        let mut expected = vec![append_required("destination")];
        if sets_max_unavailable {
            expected.push(max_unavailable_one());
        }
        expected.push(append_preferred("destination"));
        assert_eq!(edits_of(&findings), expected);
        assert_eq!(
            findings[0].fix.contains("maxUnavailable: 1"),
            sets_max_unavailable,
            "{}",
            findings[0].fix
        );
        let mutated = mutated_once(&ControlPlaneAntiAffinity, &object, Lookup::NotNeeded);
        assert_eq!(
            mutated["spec"]["template"]["spec"]["affinity"],
            json!({"podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [required_term("destination")],
                "preferredDuringSchedulingIgnoredDuringExecution": [preferred_term("destination")]
            }})
        );
        let mut expected_strategy = strategy;
        if sets_max_unavailable {
            if expected_strategy.is_null() {
                expected_strategy = json!({});
            }
            expected_strategy["rollingUpdate"]["maxUnavailable"] = json!(1);
        }
        assert_eq!(mutated["spec"]["strategy"], expected_strategy);
    }

    #[test]
    fn statefulsets_have_no_rollout_limit_to_set() {
        let mut object = ha_deployment("destination");
        object["spec"]["template"]["spec"]["affinity"] = Value::Null;
        object["spec"].as_object_mut().unwrap().remove("strategy");
        let findings = check_in(
            &ControlPlaneAntiAffinity,
            WorkloadKind::StatefulSet,
            &object,
            Lookup::NotNeeded,
            &Settings::default(),
        );
        assert_eq!(
            edits_of(&findings),
            vec![
                append_required("destination"),
                append_preferred("destination")
            ]
        );
    }

    fn cluster_nodes(specs: &[Value]) -> Lookup<Vec<Node>> {
        Lookup::Found(
            specs
                .iter()
                .enumerate()
                .map(|(i, spec)| {
                    serde_json::from_value(
                        json!({"metadata": {"name": format!("node-{i}")}, "spec": spec}),
                    )
                    .unwrap()
                })
                .collect(),
        )
    }

    fn plain_nodes(count: usize) -> Lookup<Vec<Node>> {
        cluster_nodes(&vec![json!({}); count])
    }

    /// One node carrying a kubeadm control-plane taint.
    fn one_tainted(count: usize) -> Lookup<Vec<Node>> {
        let mut specs = vec![json!({}); count - 1];
        specs.push(json!({"taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]}));
        cluster_nodes(&specs)
    }

    #[rstest]
    #[case::spare_node(Value::Null, plain_nodes(4), None)]
    #[case::max_unavailable_one(json!({"rollingUpdate": {"maxUnavailable": 1}}), plain_nodes(3), None)]
    #[case::recreate(json!({"type": "Recreate"}), plain_nodes(3), None)]
    #[case::default_fills_every_node(Value::Null, plain_nodes(3), Some((true, "maxUnavailable (unset, so 25%) rounds down to 0 of 3 replicas", "its 3 replicas fill all 3 schedulable node(s)")))]
    #[case::tainted_spare_node_does_not_count(Value::Null, one_tainted(4), Some((true, "rounds down to 0 of 3 replicas", "fill all 3 schedulable node(s)")))]
    #[case::written_quarter(json!({"rollingUpdate": {"maxUnavailable": "25%"}}), plain_nodes(3), Some((false, "maxUnavailable: \"25%\" rounds down to 0 of 3 replicas", "fill all 3")))]
    #[case::nodes_not_counted(json!({"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}), Lookup::NotNeeded, Some((false, "maxUnavailable: 0 rounds down", "the nodes are not counted (nodeCapacity is off), so no free node is assumed")))]
    fn rollouts_that_can_never_progress_are_rejected(
        #[case] strategy: Value,
        #[case] nodes: Lookup<Vec<Node>>,
        #[case] expected: Option<(bool, &str, &str)>,
    ) {
        let mut object = ha_deployment("identity");
        object["spec"]["strategy"] = strategy;
        let findings = check_in(
            &ControlPlaneAntiAffinity,
            WorkloadKind::Deployment,
            &object,
            nodes.clone(),
            &Settings::default(),
        );
        let Some((fixable, value, room)) = expected else {
            assert!(findings.is_empty(), "{findings:?}");
            return;
        };
        assert_eq!(findings.len(), 1, "{findings:?}");
        let problem = &findings[0].problem;
        assert!(
            problem.starts_with("critical component identity can never finish a rolling update: "),
            "{problem}"
        );
        assert!(
            problem.contains(value) && problem.contains(room),
            "{problem}"
        );
        assert_eq!(
            findings[0].fix,
            "set spec.strategy.rollingUpdate.maxUnavailable: 1 (linkerd install --ha does)"
        );
        // Only an absent value is the policy's to add; a written one is the user's.
        let expected_edits = if fixable {
            vec![max_unavailable_one()]
        } else {
            vec![]
        };
        assert_eq!(
            findings[0].severity,
            Severity::Violation {
                edits: expected_edits
            }
        );
        if fixable {
            let mutated = mutated_once(&ControlPlaneAntiAffinity, &object, nodes);
            assert_eq!(
                mutated["spec"]["strategy"],
                json!({"rollingUpdate": {"maxUnavailable": 1}})
            );
        }
    }

    #[rstest]
    #[case::lookup_failed(Lookup::Failed(LookupFailure::Failed("timed out".into())), "the Nodes could not be read (timed out)")]
    #[case::empty_answer(plain_nodes(0), "no Node was listed")]
    fn unseen_nodes_make_the_rollout_check_a_warning(
        #[case] nodes: Lookup<Vec<Node>>,
        #[case] room: &str,
    ) {
        let mut object = ha_deployment("identity");
        object["spec"]["strategy"] = Value::Null;
        let findings = check_in(
            &ControlPlaneAntiAffinity,
            WorkloadKind::Deployment,
            &object,
            nodes,
            &Settings::default(),
        );
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(findings[0].severity, Severity::Notice);
        assert!(
            findings[0].problem.contains(room),
            "{}",
            findings[0].problem
        );
    }

    #[test]
    fn a_selector_that_matches_nothing_protects_nothing() {
        let mut object = ha_deployment("destination");
        object["spec"]["template"]["spec"]["affinity"] = anti_affinity("identity");
        assert_eq!(
            check(
                &ControlPlaneAntiAffinity,
                &object,
                "linkerd",
                &Settings::default()
            )
            .len(),
            2
        );
    }

    #[rstest]
    #[case::absent_selector(Value::Null, 1)]
    #[case::empty_selector_selects_every_pod(json!({}), 0)]
    #[case::match_labels(json!({"matchLabels": {CONTROL_PLANE_COMPONENT_LABEL: "destination"}}), 0)]
    #[case::exists(json!({"matchExpressions": [{"key": CONTROL_PLANE_COMPONENT_LABEL, "operator": "Exists"}]}), 0)]
    fn anti_affinity_selectors_are_evaluated(#[case] selector: Value, #[case] expected: usize) {
        let mut object = ha_deployment("destination");
        let term = &mut object["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
            ["requiredDuringSchedulingIgnoredDuringExecution"][0];
        if selector.is_null() {
            term.as_object_mut().unwrap().remove("labelSelector");
        } else {
            term["labelSelector"] = selector;
        }
        let findings = check(
            &ControlPlaneAntiAffinity,
            &object,
            "linkerd",
            &Settings::default(),
        );
        assert_eq!(findings.len(), expected, "{findings:?}");
    }

    #[test]
    fn wrong_topology_key_does_not_count() {
        let mut object = ha_deployment("identity");
        object["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
            ["requiredDuringSchedulingIgnoredDuringExecution"][0]["topologyKey"] =
            json!(ZONE_TOPOLOGY);
        let findings = check(
            &ControlPlaneAntiAffinity,
            &object,
            "linkerd",
            &Settings::default(),
        );
        assert_eq!(findings.len(), 1);
        assert!(findings[0].problem.contains("requiredDuringScheduling"));
    }

    const REQUESTS: &[&str] = &[
        "spec",
        "template",
        "spec",
        "containers",
        "0",
        "resources",
        "requests",
    ];

    #[rstest]
    #[case::requests(json!({"requests": {"cpu": "100m", "memory": "10Mi"}}), vec![])]
    #[case::as_decimal_and_binary(json!({"requests": {"cpu": "0.1", "memory": "1Gi"}}), vec![])]
    #[case::limits_only_default_the_requests(json!({"limits": {"cpu": "1", "memory": "1Gi"}}), vec![])]
    #[case::limit_beside_a_request(json!({"requests": {"cpu": "200m"}, "limits": {"memory": "250Mi"}}), vec![])]
    #[case::cpu_below(json!({"requests": {"cpu": "0.05", "memory": "10Mi"}}), vec!["container \"identity\" (containers[0]) requests cpu 0.05, less than controlPlane.requests.cpu 100m"])]
    #[case::memory_as_written(json!({"requests": {"cpu": "1", "memory": "5M"}}), vec!["requests memory 5M, less than controlPlane.requests.memory 10Mi"])]
    #[case::request_and_limit_below(json!({"requests": {"cpu": "50m", "memory": "10Mi"}, "limits": {"cpu": "80m"}}), vec!["requests cpu 50m, less than controlPlane.requests.cpu 100m, and its cpu limit 80m is below that too"])]
    #[case::limit_below_the_floor(json!({"requests": {"memory": "10Mi"}, "limits": {"cpu": "50m"}}), vec!["sets no cpu request, so the API server makes it equal to the cpu limit 50m, less than controlPlane.requests.cpu 100m; no request may exceed its limit, so the policy cannot fill one in"])]
    #[case::unreadable_request(json!({"requests": {"cpu": "fast", "memory": "10Mi"}}), vec!["the cpu request of container \"identity\" (containers[0]), \"fast\", cannot be read as a Kubernetes quantity"])]
    #[case::unreadable_limit(json!({"requests": {"cpu": "1"}, "limits": {"memory": "lots"}}), vec!["the memory limit of container \"identity\" (containers[0]), \"lots\", cannot be read"])]
    #[case::cpu_and_memory_short(json!({"requests": {"cpu": "10m", "memory": "1Mi"}}), vec!["requests cpu 10m", "requests memory 1Mi"])]
    fn requests_are_compared_as_the_api_server_defaults_them(
        #[case] resources: Value,
        #[case] problems: Vec<&str>,
    ) {
        let mut object = ha_deployment("identity");
        object["spec"]["template"]["spec"]["containers"][0]["resources"] = resources;
        let findings = check(
            &ControlPlaneResources,
            &object,
            "linkerd",
            &Settings::default(),
        );
        assert_eq!(findings.len(), problems.len(), "{findings:?}");
        for (finding, problem) in findings.iter().zip(problems) {
            assert!(
                finding.problem.contains(problem),
                "{:?} lacks {problem:?}",
                finding.problem
            );
            assert!(
                !finding.problem.contains("less than")
                    || !finding.problem.contains("cannot be read")
            );
            // Nothing here is the policy's to change: no request may be
            // lowered, nor exceed its limit.
            assert_eq!(finding.severity, Severity::Violation { edits: vec![] });
        }
    }

    #[rstest]
    #[case::nothing(json!({}), vec![("cpu", "100m"), ("memory", "10Mi")])]
    #[case::memory_only_missing(json!({"requests": {"cpu": "1"}}), vec![("memory", "10Mi")])]
    #[case::request_beside_an_unrelated_limit(json!({"limits": {"memory": "1Gi"}}), vec![("cpu", "100m")])]
    fn missing_requests_without_limits_are_filled(
        #[case] resources: Value,
        #[case] filled: Vec<(&str, &str)>,
    ) {
        let mut object = ha_deployment("identity");
        object["spec"]["template"]["spec"]["containers"][0]["resources"] = resources.clone();
        let findings = check(
            &ControlPlaneResources,
            &object,
            "linkerd",
            &Settings::default(),
        );
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert!(
            findings[0]
                .problem
                .contains("has no limit to default it from"),
            "{}",
            findings[0].problem
        );
        let expected: Vec<Edit> = filled
            .iter()
            .map(|(resource, value)| Edit::insert(path(REQUESTS), *resource, *value))
            .collect();
        assert_eq!(edits_of(&findings), expected);
        let mutated = mutated_once(&ControlPlaneResources, &object, Lookup::NotNeeded);
        let mut wanted = resources;
        for (resource, value) in filled {
            wanted["requests"][resource] = json!(value);
        }
        assert_eq!(
            mutated["spec"]["template"]["spec"]["containers"][0]["resources"],
            wanted
        );
    }

    #[test]
    fn floors_show_as_people_write_them() {
        let mut settings = Settings::default();
        settings.control_plane.requests.memory = crate::quantity::Quantity::parse("500M").unwrap();
        let mut object = ha_deployment("identity");
        object["spec"]["template"]["spec"]["containers"][0]["resources"] =
            json!({"requests": {"cpu": "1", "memory": "400M"}});
        let findings = check(&ControlPlaneResources, &object, "linkerd", &settings);
        assert!(
            findings[0]
                .problem
                .contains("requests memory 400M, less than controlPlane.requests.memory 500M"),
            "{}",
            findings[0].problem
        );
    }

    #[test]
    fn all_containers_mode_checks_sidecars_too() {
        let mut settings = Settings::default();
        settings.control_plane.resource_containers = ResourceContainers::All;
        let findings = check(
            &ControlPlaneResources,
            &ha_deployment("destination"),
            "linkerd",
            &settings,
        );
        assert_eq!(findings.len(), 1);
        assert!(findings[0].problem.contains("sp-validator"));
    }

    #[rstest]
    #[case::enough(plain_nodes(3), None)]
    #[case::cordoned_do_not_count(cluster_nodes(&[json!({}), json!({}), json!({"unschedulable": true})]), Some("only 2 of 3 node(s) are schedulable"))]
    #[case::untolerated_taint_does_not_count(
        one_tainted(3),
        Some("only 2 of 3 node(s) are schedulable")
    )]
    #[case::no_execute_taint_does_not_count(cluster_nodes(&[json!({}), json!({}), json!({"taints": [{"key": "dedicated", "value": "db", "effect": "NoExecute"}]})]), Some("only 2 of 3"))]
    #[case::prefer_no_schedule_counts(cluster_nodes(&[json!({}), json!({}), json!({"taints": [{"key": "spot", "effect": "PreferNoSchedule"}]})]), None)]
    #[case::lookup_failed(
        Lookup::Failed(LookupFailure::from_host_error("forbidden")),
        Some("the Nodes could not be read (forbidden)")
    )]
    #[case::empty_answer_is_no_verdict(plain_nodes(0), None)]
    fn node_capacity(#[case] lookup: Lookup<Vec<Node>>, #[case] problem: Option<&str>) {
        let findings = check_in(
            &NodeCapacity,
            WorkloadKind::Deployment,
            &ha_deployment("identity"),
            lookup,
            &Settings::default(),
        );
        match problem {
            None => assert!(findings.is_empty(), "{findings:?}"),
            Some(problem) => {
                assert_only_finding(&findings, problem);
            }
        }
    }

    #[test]
    fn tolerated_taints_count() {
        let mut object = ha_deployment("identity");
        object["spec"]["template"]["spec"]["tolerations"] = json!([
            {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}
        ]);
        let findings = check_in(
            &NodeCapacity,
            WorkloadKind::Deployment,
            &object,
            one_tainted(3),
            &Settings::default(),
        );
        assert!(findings.is_empty(), "{findings:?}");
    }
}
