//! The words every message shares, in one place, so that every rule says
//! the same thing the same way: a value as written ([`quoted`]), the object
//! ([`ObjectRef`]), a finding's line (`[rule] object: problem. Fix: fix`),
//! and how a cluster lookup failed ([`LookupFailure`]) with what to do.

use std::fmt;

/// What separates a problem from its remedy in every message.
pub const FIX: &str = "Fix:";

/// A user-supplied value quoted for a message, cut short when long: an
/// admission message echoes it back to the client and into audit logs.
pub fn quoted(value: &str) -> String {
    const SHOWN: usize = 64;
    if value.len() <= SHOWN {
        return format!("{value:?}");
    }
    let cut = (0..=SHOWN)
        .rev()
        .find(|&i| value.is_char_boundary(i))
        .unwrap_or(0);
    format!("{:?}… ({} bytes)", &value[..cut], value.len())
}

/// Which object a message is about: `Deployment emojivoto/web`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{} {}", self.kind, self.name)
        } else {
            write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// `[rule] object: problem. Fix: fix`, with one full stop however the
/// problem text ends. Without a rule (what the edge itself reports), the
/// line starts at the object.
pub fn message_line(rule: Option<&str>, object: &ObjectRef, problem: &str, fix: &str) -> String {
    let problem = problem.trim_end().trim_end_matches('.');
    let fix = fix.trim_end();
    match rule {
        Some(rule) => format!("[{rule}] {object}: {problem}. {FIX} {fix}"),
        None => format!("{object}: {problem}. {FIX} {fix}"),
    }
}

/// How a cluster lookup failed, told apart from the host's error text,
/// because each wants a different remedy: a grant, an object, or patience.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupFailure {
    /// The policy may not see it: Kubewarden's `contextAwareResources` do
    /// not grant it, or the policy server's RBAC forbids it.
    Refused(String),
    /// The object asked for does not exist.
    NotFound(String),
    /// Anything else: the API server unreachable, an answer unreadable.
    Failed(String),
}

impl LookupFailure {
    /// Reads a host error: policy-server 1.35 says "Policy has not been
    /// granted access to Kubernetes …" for a resource outside
    /// `contextAwareResources` and "Cannot find v1/Namespace named …" for a
    /// missing object; the API server says "… is forbidden: User …" and
    /// `namespaces "x" not found`.
    pub fn from_host_error(text: &str) -> Self {
        let detail = text.trim().to_string();
        if text.contains("has not been granted access") || text.contains(" is forbidden") {
            Self::Refused(detail)
        } else if text.contains("Cannot find ") || text.contains("\" not found") {
            Self::NotFound(detail)
        } else {
            Self::Failed(detail)
        }
    }

    pub fn detail(&self) -> &str {
        match self {
            Self::Refused(detail) | Self::NotFound(detail) | Self::Failed(detail) => detail,
        }
    }

    /// What happened to the lookup of `what` (`namespace "app"`, `the Nodes`).
    pub fn what_happened(&self, what: &str) -> String {
        let detail = self.detail().trim_end_matches('.');
        match self {
            Self::Refused(_) => format!("the policy may not read {what} ({detail})"),
            Self::NotFound(_) => format!("{what} does not exist ({detail})"),
            Self::Failed(_) => format!("{what} could not be read ({detail})"),
        }
    }

    /// The remedy: for a refusal, the grant (`get`, `v1`, `Namespace`); for
    /// a missing object, `when_missing`; otherwise, where to look.
    pub fn remedy(&self, verb: &str, api_version: &str, kind: &str, when_missing: &str) -> String {
        match self {
            Self::Refused(_) => format!(
                "grant the policy {verb} on {api_version} {kind}: list it under the policy's contextAwareResources, and let the policy server's service account {verb} it (RBAC)"
            ),
            Self::NotFound(_) => when_missing.to_string(),
            Self::Failed(_) => "check that the policy server reaches the API server (its log names the error); the lookup is made again on the next request".to_string(),
        }
    }
}

/// A count with its noun: `1 replica`, `3 replicas`.
pub fn count<N: fmt::Display + PartialEq + From<u8>>(n: N, one: &str, many: &str) -> String {
    let noun = if n == N::from(1) { one } else { many };
    format!("{n} {noun}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::short("true", "\"true\"")]
    #[case::long(&"x".repeat(100), &format!("{:?}… (100 bytes)", "x".repeat(64)))]
    #[case::multibyte_boundary(&"é".repeat(40), &format!("{:?}… (80 bytes)", "é".repeat(32)))]
    fn values_are_quoted_and_bounded(#[case] value: &str, #[case] shown: &str) {
        assert_eq!(quoted(value), shown);
    }

    #[rstest]
    #[case::not_granted(
        "get_resource failed: Policy has not been granted access to Kubernetes v1/Namespace resources. The violation has been reported.",
        LookupFailure::Refused(String::new())
    )]
    #[case::rbac(
        "namespaces \"app\" is forbidden: User \"system:serviceaccount:kubewarden:policy-server\" cannot get resource \"namespaces\"",
        LookupFailure::Refused(String::new())
    )]
    #[case::policy_server_missing(
        "get_resource failed: Cannot find v1/Namespace named 'app' inside of namespace 'None'",
        LookupFailure::NotFound(String::new())
    )]
    #[case::api_server_missing(
        "namespaces \"app\" not found",
        LookupFailure::NotFound(String::new())
    )]
    #[case::unreachable(
        "list_resources_all failed: error trying to connect: tcp connect error",
        LookupFailure::Failed(String::new())
    )]
    fn host_errors_are_told_apart(#[case] text: &str, #[case] kind: LookupFailure) {
        let failure = LookupFailure::from_host_error(text);
        assert_eq!(
            std::mem::discriminant(&failure),
            std::mem::discriminant(&kind)
        );
        assert_eq!(failure.detail(), text);
    }

    #[test]
    fn a_line_has_one_full_stop_and_one_fix() {
        let object = ObjectRef {
            kind: "Deployment".into(),
            namespace: "app".into(),
            name: "web".into(),
        };
        assert_eq!(
            message_line(Some("safeToEvict"), &object, "it is wrong.", "fix it "),
            "[safeToEvict] Deployment app/web: it is wrong. Fix: fix it"
        );
        assert_eq!(
            message_line(None, &object, "it is wrong", "fix it"),
            "Deployment app/web: it is wrong. Fix: fix it"
        );
        assert_eq!(count(1, "replica", "replicas"), "1 replica");
        assert_eq!(count(3, "replica", "replicas"), "3 replicas");
    }
}
