//! What the rules say, below everything that reads it: which rule
//! ([`RuleId`]), what it found ([`Finding`], [`Severity`]), and what the
//! settings tell the policy to do about it ([`Action`]). The settings, the
//! verdict and the decoder all name these, so they sit under all three.

use serde::Deserialize;

use crate::mutation::Edit;

/// Every rule, by the name its action has in the settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RuleId {
    InjectionAnnotation,
    SystemNamespaces,
    SafeToEvict,
    ProxyPresent,
    ProxyResources,
    ControlPlaneReplicas,
    ControlPlaneAntiAffinity,
    ControlPlaneResources,
    DisruptionBudgets,
    InjectorWebhook,
    PrometheusRetention,
    NodeCapacity,
    NodeChanges,
}

impl RuleId {
    pub const ALL: [RuleId; 13] = [
        Self::InjectionAnnotation,
        Self::SystemNamespaces,
        Self::SafeToEvict,
        Self::ProxyPresent,
        Self::ProxyResources,
        Self::ControlPlaneReplicas,
        Self::ControlPlaneAntiAffinity,
        Self::ControlPlaneResources,
        Self::DisruptionBudgets,
        Self::InjectorWebhook,
        Self::PrometheusRetention,
        Self::NodeCapacity,
        Self::NodeChanges,
    ];

    /// The rule's key under `settings.rules`.
    pub fn name(self) -> &'static str {
        match self {
            Self::InjectionAnnotation => "injectionAnnotation",
            Self::SystemNamespaces => "systemNamespaces",
            Self::SafeToEvict => "safeToEvict",
            Self::ProxyPresent => "proxyPresent",
            Self::ProxyResources => "proxyResources",
            Self::ControlPlaneReplicas => "controlPlaneReplicas",
            Self::ControlPlaneAntiAffinity => "controlPlaneAntiAffinity",
            Self::ControlPlaneResources => "controlPlaneResources",
            Self::DisruptionBudgets => "disruptionBudgets",
            Self::InjectorWebhook => "injectorWebhook",
            Self::PrometheusRetention => "prometheusRetention",
            Self::NodeCapacity => "nodeCapacity",
            Self::NodeChanges => "nodeChanges",
        }
    }

    /// Whether the rule may refuse a request: not one that judges a Node
    /// change, as operators cordon and delete nodes in emergencies.
    pub fn can_refuse(self) -> bool {
        self != Self::NodeChanges
    }

    /// Whether the rule has anything it could fix by mutation.
    pub fn can_mutate(self) -> bool {
        matches!(
            self,
            Self::SystemNamespaces
                | Self::SafeToEvict
                | Self::ProxyResources
                | Self::ControlPlaneAntiAffinity
                | Self::ControlPlaneResources
        )
    }
}

impl std::fmt::Display for RuleId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How a finding weighs, before the rule's action is applied.
#[derive(Debug, Clone, PartialEq)]
pub enum Severity {
    /// Breaks the rule: the action decides. Non-empty edits fix it under
    /// `mutate`; with none, `mutate` rejects.
    Violation { edits: Vec<Edit> },
    /// Rejected under every action but `off`: not the policy's call to fix.
    Forbidden,
    /// Always a warning: the operator's explicit choice, or missing context.
    Notice,
}

/// One thing a rule found on the object.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub rule: RuleId,
    pub severity: Severity,
    /// What is wrong.
    pub problem: String,
    /// How to fix it.
    pub fix: String,
}

impl Finding {
    pub fn violation(rule: RuleId, problem: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            rule,
            severity: Severity::Violation { edits: Vec::new() },
            problem: problem.into(),
            fix: fix.into(),
        }
    }

    pub fn forbidden(rule: RuleId, problem: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            severity: Severity::Forbidden,
            ..Self::violation(rule, problem, fix)
        }
    }

    pub fn notice(rule: RuleId, problem: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            severity: Severity::Notice,
            ..Self::violation(rule, problem, fix)
        }
    }

    /// Whether the finding could refuse the object (a violation or a
    /// forbidden state), as opposed to a notice, which only ever warns.
    pub fn could_refuse(&self) -> bool {
        !matches!(self.severity, Severity::Notice)
    }

    /// Whether `mutate` would fix it with edits.
    pub fn has_edits(&self) -> bool {
        matches!(&self.severity, Severity::Violation { edits } if !edits.is_empty())
    }

    /// A violation that `mutate` fixes with these edits.
    pub fn fixed_by(mut self, edits: Vec<Edit>) -> Self {
        self.severity = Severity::Violation { edits };
        self
    }
}

/// What the policy does with a rule's violations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Reject the request.
    Enforce,
    /// Fix the object where the rule can; otherwise reject.
    Mutate,
    /// Accept with an admission warning.
    Warn,
    /// Skip the rule.
    Off,
}

impl<'de> Deserialize<'de> for Action {
    /// Reads the action names, and also YAML 1.1's reading of an unquoted
    /// `off` (boolean false, as Kubernetes' YAML parser delivers it).
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        const EXPECTED: &str = "one of `enforce`, `mutate`, `warn`, `off`";
        struct Spelling;
        impl serde::de::Visitor<'_> for Spelling {
            type Value = Action;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "an action, {EXPECTED}")
            }
            fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<Action, E> {
                match name {
                    "enforce" => Ok(Action::Enforce),
                    "mutate" => Ok(Action::Mutate),
                    "warn" => Ok(Action::Warn),
                    "off" => Ok(Action::Off),
                    other => Err(E::custom(format!(
                        "unknown action `{other}`, expected {EXPECTED}"
                    ))),
                }
            }
            fn visit_bool<E: serde::de::Error>(self, flag: bool) -> Result<Action, E> {
                if flag {
                    Err(E::custom(format!(
                        "`true` is not an action (an unquoted `on` or `yes` in YAML?), expected {EXPECTED}"
                    )))
                } else {
                    Ok(Action::Off)
                }
            }
        }
        deserializer.deserialize_any(Spelling)
    }
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Self::Enforce => "enforce",
            Self::Mutate => "mutate",
            Self::Warn => "warn",
            Self::Off => "off",
        }
    }
}
