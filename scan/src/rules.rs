//! What each of the policy's rules checks, in a sentence, for the formats
//! that describe rules (SARIF's rule descriptors, JUnit's failure text).

use linkerd_ha_policy::finding::RuleId;

/// Where the rules are explained at length.
pub const RULES_URI: &str = "https://linkerd.io/2/features/ha/";

/// The id of findings a rejection or warning gives without naming a rule
/// (a failed lookup, an object the policy cannot read).
pub const GENERAL_RULE: &str = "policy";
/// The id of an object the policy failed to judge.
pub const FAILURE_RULE: &str = "policyFailure";
/// The id of a change whose answer names no rule: the policy names the
/// rules behind each mutation in its `mutated-by` audit annotation, which a
/// module older than that annotation lacks.
pub const MUTATION_RULE: &str = "mutation";
/// The id of a document the scanner could not read (YAML that does not
/// parse, an unrendered template, a file that is not UTF-8): not judged,
/// and an input error (exit 2).
pub const UNREADABLE_RULE: &str = "unreadableDocument";

/// One sentence on what `rule` wants.
pub fn summary(rule: RuleId) -> &'static str {
    match rule {
        RuleId::InjectionAnnotation => "linkerd.io/inject is enabled, ingress or disabled, where Linkerd reads it",
        RuleId::SystemNamespaces => "system namespaces carry config.linkerd.io/admission-webhooks: disabled and never ask for injection",
        RuleId::SafeToEvict => "meshed workloads carry the cluster autoscaler's safe-to-evict annotation",
        RuleId::ProxyPresent => "a pod Linkerd's injector would mesh has its linkerd-proxy",
        RuleId::ProxyResources => "the Linkerd proxy gets CPU and memory requests",
        RuleId::ControlPlaneReplicas => "critical control-plane components run HA replicas",
        RuleId::ControlPlaneAntiAffinity => "critical control-plane components spread across nodes and zones, and can roll out",
        RuleId::ControlPlaneResources => "critical control-plane containers request CPU and memory",
        RuleId::DisruptionBudgets => "control-plane disruption budgets allow one disruption, not none and not all",
        RuleId::InjectorWebhook => "the proxy injector's webhook fails as configured and skips disabled namespaces and the control plane",
        RuleId::PrometheusRetention => "Prometheus retention is bounded",
        RuleId::NodeCapacity => "no more control-plane replicas with required anti-affinity than schedulable nodes",
        RuleId::NodeChanges => "a cordon, taint or Node deletion that leaves a critical control-plane component fewer schedulable nodes than replicas is warned about, never refused",
    }
}

/// A readable name for the rule named `id`, for SARIF's `name`, which its
/// spec wants understandable to a person and distinct from the id.
pub fn readable_name(id: &str) -> &'static str {
    match RuleId::ALL.into_iter().find(|rule| rule.name() == id) {
        Some(rule) => match rule {
            RuleId::InjectionAnnotation => "InjectAnnotationLinkerdReads",
            RuleId::SystemNamespaces => "SystemNamespacesOptedOut",
            RuleId::SafeToEvict => "MeshedPodsEvictable",
            RuleId::ProxyPresent => "MeshedPodHasItsProxy",
            RuleId::ProxyResources => "ProxyRequestsResources",
            RuleId::ControlPlaneReplicas => "ControlPlaneRunsHaReplicas",
            RuleId::ControlPlaneAntiAffinity => "ControlPlaneSpreadsAndRollsOut",
            RuleId::ControlPlaneResources => "ControlPlaneRequestsResources",
            RuleId::DisruptionBudgets => "ControlPlaneBudgetsAllowOneDisruption",
            RuleId::InjectorWebhook => "InjectorWebhookFailsSafely",
            RuleId::PrometheusRetention => "PrometheusRetentionBounded",
            RuleId::NodeCapacity => "EnoughNodesForReplicas",
            RuleId::NodeChanges => "NodeChangesKeepRoomForReplicas",
        },
        None => match id {
            FAILURE_RULE => "PolicyJudgedTheObject",
            MUTATION_RULE => "PolicyLeavesObjectAsWritten",
            UNREADABLE_RULE => "ScannerReadsTheDocument",
            _ => "PolicyReadsTheObject",
        },
    }
}

/// The summary of the rule named `id` (a rule or one of the ids above).
pub fn summary_of(id: &str) -> &'static str {
    match RuleId::ALL.into_iter().find(|rule| rule.name() == id) {
        Some(rule) => summary(rule),
        None => match id {
            FAILURE_RULE => {
                "the policy judged the object (it did not trap, time out or answer garbage)"
            }
            MUTATION_RULE => "the policy leaves the object as written",
            UNREADABLE_RULE => {
                "the scanner can read the document (UTF-8 text, valid YAML, templates rendered), so that its objects are judged"
            }
            _ => "the policy can read the object and the cluster state it needs",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SARIF Multitool's SARIF1001: a name that only repeats the id tells a
    /// reader nothing.
    #[test]
    fn every_rule_has_a_readable_name_of_its_own() {
        let ids = RuleId::ALL.iter().map(|rule| rule.name()).chain([
            GENERAL_RULE,
            FAILURE_RULE,
            MUTATION_RULE,
            UNREADABLE_RULE,
        ]);
        let mut names = Vec::new();
        for id in ids {
            let name = readable_name(id);
            assert_ne!(name.to_lowercase(), id.to_lowercase(), "{id}");
            assert!(name.chars().all(|c| c.is_ascii_alphanumeric()), "{name}");
            assert!(!names.contains(&name), "{name} twice");
            names.push(name);
        }
    }
}
