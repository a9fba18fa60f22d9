//! policy.yaml stays true to the published artifact and to metadata.yml, and
//! runs on a highly available PolicyServer. (Each instance's settings are
//! validated through the module by the policy crate's own tests.)

mod common;

use std::collections::BTreeSet;

use common::project;
use policy_release::metadata::{ContextAwareResource, Metadata, Operation, Rule};
use serde_json::Value;

fn documents() -> Vec<Value> {
    let path = project().policy_yaml_path();
    let text = std::fs::read_to_string(&path).expect("policy.yaml");
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|document| serde::Deserialize::deserialize(document).expect("a YAML document"))
        .filter(|document: &Value| !document.is_null())
        .collect()
}

fn of_kind(kind: &str) -> Vec<Value> {
    documents()
        .into_iter()
        .filter(|d| d["kind"] == kind)
        .collect()
}

fn metadata() -> Metadata {
    Metadata::load(&project().metadata_path()).expect("metadata.yml")
}

fn name(object: &Value) -> &str {
    object["metadata"]["name"].as_str().expect("metadata.name")
}

/// Every (group, version, resource, operation) a list of rules admits.
fn tuples(rules: &[Rule]) -> BTreeSet<(String, String, String, Operation)> {
    let mut all = BTreeSet::new();
    for rule in rules {
        for group in &rule.api_groups {
            for version in &rule.api_versions {
                for resource in &rule.resources {
                    for operation in &rule.operations {
                        all.insert((group.clone(), version.clone(), resource.clone(), *operation));
                    }
                }
            }
        }
    }
    all
}

fn rules_of(policy: &Value) -> Vec<Rule> {
    serde_json::from_value(policy["spec"]["rules"].clone()).expect("spec.rules")
}

fn resources_of(policy: &Value) -> BTreeSet<ContextAwareResource> {
    serde_json::from_value(policy["spec"]["contextAwareResources"].clone()).unwrap_or_default()
}

#[test]
fn policies_use_the_published_module_and_the_declared_rules() {
    let policies = of_kind("ClusterAdmissionPolicy");
    assert_eq!(
        policies.len(),
        3,
        "a mutating, a validating and a Node instance"
    );
    let metadata = metadata();
    let declared = tuples(&metadata.rules);
    for policy in &policies {
        let spec = &policy["spec"];
        assert_eq!(
            spec["module"].as_str(),
            Some(project().published_reference().as_str()),
            "{}: module",
            name(policy)
        );
        let admitted = tuples(&rules_of(policy));
        assert!(!admitted.is_empty(), "{}: no rules", name(policy));
        let undeclared: Vec<_> = admitted.difference(&declared).collect();
        assert!(
            undeclared.is_empty(),
            "{}: rules beyond metadata.yml: {undeclared:?}",
            name(policy)
        );
        let resources = resources_of(policy);
        assert!(
            resources.is_subset(&metadata.context_aware_resources),
            "{}: context-aware resources beyond metadata.yml: {resources:?}",
            name(policy)
        );
    }
}

fn instance(policy_name: &str) -> Value {
    of_kind("ClusterAdmissionPolicy")
        .into_iter()
        .find(|p| name(p) == policy_name)
        .unwrap_or_else(|| panic!("policy.yaml has no ClusterAdmissionPolicy {policy_name}"))
}

/// The mutating instance takes every kind metadata.yml declares but Nodes,
/// which the Node instance takes: together, all of it.
#[test]
fn mutating_and_node_instances_cover_everything_metadata_declares() {
    let metadata = metadata();
    let mutating = instance("linkerd-ha-mutating");
    assert_eq!(mutating["spec"]["mutating"], true);
    let nodes = instance("linkerd-ha-nodes");
    let mut covered = rules_of(&mutating);
    covered.extend(rules_of(&nodes));
    assert_eq!(covered, metadata.rules);
    let mut resources = resources_of(&mutating);
    resources.extend(resources_of(&nodes));
    assert_eq!(resources, metadata.context_aware_resources);
}

/// A cordon or a Node deletion is never refused: not by the rule (warn or
/// off only), and not by the webhook when policy-server is down.
#[test]
fn node_instance_only_warns_and_fails_open() {
    let nodes = instance("linkerd-ha-nodes");
    let spec = &nodes["spec"];
    assert_eq!(spec["failurePolicy"], "Ignore");
    assert_eq!(spec["mutating"], false);
    let tuples = tuples(&rules_of(&nodes));
    assert!(
        tuples.iter().all(|(_, _, resource, _)| resource == "nodes"),
        "only nodes (never nodes/status): {tuples:?}"
    );
    let actions = spec["settings"]["rules"]
        .as_object()
        .expect("settings.rules");
    for (rule, action) in actions {
        let expected = if rule == "nodeChanges" { "warn" } else { "off" };
        assert_eq!(action, expected, "rules.{rule}");
    }
    for other in ["linkerd-ha-mutating", "linkerd-ha-validating"] {
        assert_eq!(
            instance(other)["spec"]["settings"]["rules"]["nodeChanges"],
            "off",
            "{other} never sees a Node"
        );
    }
}

#[test]
fn validating_instance_never_mutates_and_enforces_the_proxy() {
    let validating = [instance("linkerd-ha-validating")];
    assert_eq!(validating[0]["spec"]["mutating"], false);
    let settings = &validating[0]["spec"]["settings"];
    assert_eq!(settings["rules"]["proxyPresent"], "enforce");
    let actions = settings["rules"].as_object().expect("settings.rules");
    for (rule, action) in actions {
        assert_ne!(
            action, "mutate",
            "rule {rule} mutates in the validating instance"
        );
    }
}

#[test]
fn policy_server_is_highly_available() {
    let servers = of_kind("PolicyServer");
    assert_eq!(servers.len(), 1);
    let server = &servers[0];
    let spec = &server["spec"];
    assert!(
        spec["replicas"].as_u64().unwrap_or(0) >= 3,
        "replicas: {}",
        spec["replicas"]
    );
    assert!(
        spec.get("minAvailable").is_some() || spec.get("maxUnavailable").is_some(),
        "a disruption budget (minAvailable or maxUnavailable)"
    );
    for resource in ["cpu", "memory"] {
        assert!(
            spec["requests"][resource].is_string(),
            "requests.{resource}"
        );
    }

    // The controller labels the server's pods `app: kubewarden-policy-server-<name>`:
    // anti-affinity that selects anything else spreads nothing.
    let app = format!("kubewarden-policy-server-{}", name(server));
    let selects_own_pods = |term: &Value| {
        let selector = &term["labelSelector"];
        selector["matchLabels"]["app"] == app.as_str()
            || selector["matchExpressions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|e| {
                    e["key"] == "app"
                        && e["operator"] == "In"
                        && e["values"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .any(|v| v == app.as_str())
                })
    };
    let anti = &spec["affinity"]["podAntiAffinity"];
    let required = anti["requiredDuringSchedulingIgnoredDuringExecution"]
        .as_array()
        .expect("required pod anti-affinity");
    assert!(
        required
            .iter()
            .any(|t| t["topologyKey"] == "kubernetes.io/hostname" && selects_own_pods(t)),
        "required anti-affinity on kubernetes.io/hostname selecting {app}"
    );
    let preferred = anti["preferredDuringSchedulingIgnoredDuringExecution"]
        .as_array()
        .expect("preferred pod anti-affinity");
    assert!(
        preferred.iter().any(|t| {
            let term = &t["podAffinityTerm"];
            term["topologyKey"] == "topology.kubernetes.io/zone" && selects_own_pods(term)
        }),
        "preferred anti-affinity on topology.kubernetes.io/zone selecting {app}"
    );

    for policy in of_kind("ClusterAdmissionPolicy") {
        assert_eq!(
            policy["spec"]["policyServer"].as_str(),
            Some(name(server)),
            "{} runs on the HA policy server",
            name(&policy)
        );
    }
}

/// The PolicyServer runs the policy-server release the e2e tests run, and
/// each policy gives up evaluating before its webhook times out.
#[test]
fn policy_server_version_and_timeouts_are_the_tested_ones() {
    let servers = of_kind("PolicyServer");
    let image = servers[0]["spec"]["image"].as_str().expect("spec.image");
    assert_eq!(
        image,
        format!(
            "ghcr.io/kubewarden/policy-server:v{}",
            policy_release::engine::KUBEWARDEN_VERSION
        )
    );
    assert_eq!(
        metadata().minimum_kubewarden_version.as_deref(),
        Some(policy_release::engine::KUBEWARDEN_VERSION)
    );
    for policy in of_kind("ClusterAdmissionPolicy") {
        let spec = &policy["spec"];
        let eval = spec["timeoutEvalSeconds"]
            .as_u64()
            .expect("timeoutEvalSeconds");
        let webhook = spec["timeoutSeconds"].as_u64().expect("timeoutSeconds");
        assert!(
            eval >= 1 && eval < webhook,
            "{}: timeoutEvalSeconds {eval} must be below timeoutSeconds {webhook}",
            name(&policy)
        );
    }
}
