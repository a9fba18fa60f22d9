//! Linkerd's critical control-plane components in HA mode: enough replicas,
//! spread across nodes and zones, with resource requests, on enough nodes.

use serde_json::json;

use super::{path_with, Context, Finding, Lookup, Rule, RuleId, Subject};
use crate::injection::CONTROL_PLANE_COMPONENT_LABEL;
use crate::mutation::Edit;
use crate::objects::PodAffinityTerm;
use crate::settings::{ResourceContainers, Settings};
use crate::workload::{ContainerRef, Workload, WorkloadKind, PROXY_CONTAINER};

pub const HOSTNAME_TOPOLOGY: &str = "kubernetes.io/hostname";
pub const ZONE_TOPOLOGY: &str = "topology.kubernetes.io/zone";

/// The critical component a workload runs, if it is one: a Deployment or
/// StatefulSet in the control-plane namespace whose pods carry a listed
/// `linkerd.io/control-plane-component`.
pub fn critical_component<'w>(
    workload: &'w Workload,
    namespace: &str,
    settings: &Settings,
) -> Option<&'w str> {
    if !matches!(
        workload.kind,
        WorkloadKind::Deployment | WorkloadKind::StatefulSet
    ) || namespace != settings.control_plane.namespace
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

/// Replicas as Kubernetes counts them: absent means one.
fn replicas(workload: &Workload) -> i64 {
    workload.replicas.unwrap_or(1)
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
        let wanted = settings.control_plane.replicas;
        let actual = replicas(workload);
        if actual >= i64::from(wanted) {
            return Vec::new();
        }
        vec![Finding::violation(
            self.id(),
            format!(
                "critical component {component} runs {actual} replica(s){}; HA mode needs at least {wanted} (controlPlane.replicas)",
                if workload.replicas.is_none() { " (spec.replicas unset)" } else { "" }
            ),
            format!(
                "set spec.replicas: {wanted} (linkerd install --ha, or --controller-replicas={wanted}), or set controlPlane.replicas: {actual} in the policy settings if fewer replicas are intended"
            ),
        )]
    }
}

pub struct ControlPlaneAntiAffinity;

impl Rule for ControlPlaneAntiAffinity {
    fn id(&self) -> RuleId {
        RuleId::ControlPlaneAntiAffinity
    }

    fn check(&self, subject: &Subject, context: &Context, settings: &Settings) -> Vec<Finding> {
        let Some((workload, component)) = critical(subject, context, settings) else {
            return Vec::new();
        };
        let labels = &workload.pod_meta().labels;
        let protects = |term: &PodAffinityTerm, topology: &str| {
            term.topology_key == topology
                && term
                    .label_selector
                    .as_ref()
                    .is_some_and(|selector| selector.matches(labels))
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
        let selector = json!({"matchExpressions": [{
            "key": CONTROL_PLANE_COMPONENT_LABEL, "operator": "In", "values": [component]
        }]});
        let mut findings = Vec::new();
        if !has_required {
            findings.push(
                Finding::violation(
                    self.id(),
                    format!(
                        "critical component {component} lacks a requiredDuringSchedulingIgnoredDuringExecution pod anti-affinity term on {HOSTNAME_TOPOLOGY} whose selector matches its own pods, so replicas may share a node"
                    ),
                    format!(
                        "add to spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution: {{labelSelector: {{matchExpressions: [{{key: {CONTROL_PLANE_COMPONENT_LABEL}, operator: In, values: [{component}]}}]}}, topologyKey: {HOSTNAME_TOPOLOGY}}} (linkerd install --ha sets it)"
                    ),
                )
                .fixed_by(vec![Edit::append(
                    path_with(&affinity_path, &["requiredDuringSchedulingIgnoredDuringExecution"]),
                    json!({"labelSelector": selector, "topologyKey": HOSTNAME_TOPOLOGY}),
                )]),
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
                    json!({"weight": 100, "podAffinityTerm": {"labelSelector": selector, "topologyKey": ZONE_TOPOLOGY}}),
                )]),
            );
        }
        findings
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
            let requests = &container.container.resources.requests;
            let requests_path = path_with(
                &workload.pod_spec_path(),
                &[
                    container.list,
                    &container.index.to_string(),
                    "resources",
                    "requests",
                ],
            );
            let mut missing = Vec::new();
            let mut short = Vec::new();
            for (resource, floor) in [("cpu", minimum.cpu), ("memory", minimum.memory)] {
                match requests.get(resource).map(|raw| (raw, raw.parse())) {
                    None => missing.push((resource, floor)),
                    Some((_, Ok(quantity))) if quantity >= floor => {}
                    Some((raw, Ok(_))) => short.push(format!("{resource} {} < {floor}", raw.0)),
                    Some((_, Err(error))) => short.push(format!("{resource}: {error}")),
                }
            }
            let place = format!(
                "container {:?} ({}[{}])",
                container.container.name, container.list, container.index
            );
            if !missing.is_empty() {
                let names: Vec<String> = missing
                    .iter()
                    .map(|(r, q)| format!("{r} (at least {q})"))
                    .collect();
                findings.push(
                    Finding::violation(
                        self.id(),
                        format!("critical component {component}: {place} requests no {}", names.join(" or ")),
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
            if !short.is_empty() {
                findings.push(Finding::violation(
                    self.id(),
                    format!(
                        "critical component {component}: {place} requests less than controlPlane.requests: {}",
                        short.join(", ")
                    ),
                    format!(
                        "raise the requests on {place} to at least cpu {} and memory {}, or lower controlPlane.requests",
                        minimum.cpu, minimum.memory
                    ),
                ));
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
        let spreads = workload
            .pod_spec()
            .affinity
            .pod_anti_affinity
            .required
            .iter()
            .any(|term| term.topology_key == HOSTNAME_TOPOLOGY);
        if !spreads {
            return Vec::new();
        }
        let nodes = match &context.nodes {
            Lookup::Found(nodes) => nodes,
            Lookup::Failed(reason) => {
                return vec![Finding::notice(
                    self.id(),
                    format!(
                        "could not list Nodes to check room for {component}'s replicas: {reason}"
                    ),
                    "allow the policy server to list nodes (contextAwareResources: Node)"
                        .to_string(),
                )]
            }
            Lookup::NotNeeded => return Vec::new(),
        };
        if nodes.is_empty() {
            // No cluster runs on zero nodes: an empty answer means a
            // restricted view, not a verdict.
            return Vec::new();
        }
        let schedulable = nodes.iter().filter(|node| !node.spec.unschedulable).count() as i64;
        let wanted = replicas(workload);
        if wanted <= schedulable {
            return Vec::new();
        }
        vec![Finding::violation(
            self.id(),
            format!(
                "critical component {component} wants {wanted} replicas on separate nodes (required anti-affinity on {HOSTNAME_TOPOLOGY}) but only {schedulable} node(s) are schedulable: pods would stay Pending and upgrades would deadlock"
            ),
            format!("add nodes (HA mode assumes at least {wanted}), or lower spec.replicas and controlPlane.replicas"),
        )]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::injection::NamespaceInjection;
    use crate::objects::Node;
    use crate::rules::test_support::*;
    use crate::rules::Severity;
    use rstest::rstest;
    use serde_json::Value;

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
        "spec": {"replicas": 3, "template": {
            "metadata": {"labels": {CONTROL_PLANE_COMPONENT_LABEL: component}},
            "spec": {"affinity": anti_affinity(component), "containers": [
                {"name": component, "resources": requests("100m", "50Mi")},
                {"name": "sp-validator"},
                {"name": "linkerd-proxy", "resources": requests("100m", "20Mi")}
            ]}}}})
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
        ] {
            assert!(
                check(rule, &object, "linkerd", &Settings::default()).is_empty(),
                "{:?}",
                rule.id()
            );
        }
    }

    #[rstest]
    #[case::one_replica(json!(1), "runs 1 replica(s)")]
    #[case::unset(Value::Null, "spec.replicas unset")]
    fn too_few_replicas(#[case] replicas: Value, #[case] expected: &str) {
        let mut object = ha_deployment("identity");
        object["spec"]["replicas"] = replicas;
        let findings = check(
            &ControlPlaneReplicas,
            &object,
            "linkerd",
            &Settings::default(),
        );
        assert_eq!(findings.len(), 1);
        assert!(
            findings[0].problem.contains(expected),
            "{}",
            findings[0].problem
        );
        assert!(findings[0].fix.contains("controlPlane.replicas"));
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
        assert!(check(
            &ControlPlaneReplicas,
            &object,
            namespace,
            &Settings::default()
        )
        .is_empty());
        assert!(check(
            &ControlPlaneAntiAffinity,
            &object,
            namespace,
            &Settings::default()
        )
        .is_empty());
    }

    #[test]
    fn missing_anti_affinity_is_fixed_with_both_terms() {
        let mut object = ha_deployment("destination");
        object["spec"]["template"]["spec"]["affinity"] = Value::Null;
        let findings = check(
            &ControlPlaneAntiAffinity,
            &object,
            "linkerd",
            &Settings::default(),
        );
        assert_eq!(findings.len(), 2);
        let Severity::Violation { edits } = &findings[1].severity else {
            panic!("{findings:?}")
        };
        assert_eq!(
            edits[0],
            Edit::append(
                [
                    "spec",
                    "template",
                    "spec",
                    "affinity",
                    "podAntiAffinity",
                    "preferredDuringSchedulingIgnoredDuringExecution"
                ]
                .map(String::from)
                .to_vec(),
                anti_affinity("destination")["podAntiAffinity"]
                    ["preferredDuringSchedulingIgnoredDuringExecution"][0]
                    .clone()
            )
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

    #[test]
    fn missing_requests_are_filled_and_low_ones_reported() {
        let mut object = ha_deployment("identity");
        object["spec"]["template"]["spec"]["containers"][0]["resources"] =
            json!({"requests": {"cpu": "0.05"}});
        let findings = check(
            &ControlPlaneResources,
            &object,
            "linkerd",
            &Settings::default(),
        );
        assert_eq!(findings.len(), 2, "{findings:?}");
        let path: Vec<String> = [
            "spec",
            "template",
            "spec",
            "containers",
            "0",
            "resources",
            "requests",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            findings[0].severity,
            Severity::Violation {
                edits: vec![Edit::insert(path, "memory", "10Mi")]
            }
        );
        assert!(
            findings[1].problem.contains("cpu 0.05 < 100m"),
            "{}",
            findings[1].problem
        );
        assert_eq!(findings[1].severity, Severity::Violation { edits: vec![] });
    }

    #[test]
    fn quantities_compare_as_quantities() {
        let mut object = ha_deployment("identity");
        object["spec"]["template"]["spec"]["containers"][0]["resources"] = requests("0.1", "1Gi");
        assert!(check(
            &ControlPlaneResources,
            &object,
            "linkerd",
            &Settings::default()
        )
        .is_empty());
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

    fn nodes(schedulable: usize, cordoned: usize) -> Lookup<Vec<Node>> {
        let node = |unschedulable: bool| {
            serde_json::from_value::<Node>(json!({"spec": {"unschedulable": unschedulable}}))
                .unwrap()
        };
        Lookup::Found(
            (0..schedulable)
                .map(|_| node(false))
                .chain((0..cordoned).map(|_| node(true)))
                .collect(),
        )
    }

    #[rstest]
    #[case::enough(nodes(3, 0), 0)]
    #[case::cordoned_do_not_count(nodes(2, 1), 1)]
    #[case::lookup_failed(Lookup::Failed("forbidden".into()), 1)]
    #[case::empty_answer_is_no_verdict(nodes(0, 0), 0)]
    fn node_capacity(#[case] lookup: Lookup<Vec<Node>>, #[case] expected: usize) {
        let subject = subject(WorkloadKind::Deployment, &ha_deployment("identity"));
        let mut context = workload_context(&subject, "linkerd", NamespaceInjection::NotNeeded);
        context.nodes = lookup;
        let findings = NodeCapacity.check(&subject, &context, &Settings::default());
        assert_eq!(findings.len(), expected, "{findings:?}");
    }
}
