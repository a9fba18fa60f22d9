//! Linkerd's injector webhook in HA mode: failing closed, and never called
//! for namespaces that opted out with `config.linkerd.io/admission-webhooks`.

use super::system_namespaces::{ADMISSION_WEBHOOKS_DISABLED, ADMISSION_WEBHOOKS_LABEL};
use super::{Context, Finding, Rule, RuleId, Subject};
use crate::objects::MutatingWebhook;
use crate::settings::Settings;

pub struct InjectorWebhook;

impl Rule for InjectorWebhook {
    fn id(&self) -> RuleId {
        RuleId::InjectorWebhook
    }

    fn check(&self, subject: &Subject, _: &Context, settings: &Settings) -> Vec<Finding> {
        let Subject::InjectorWebhook(configuration) = subject else {
            return Vec::new();
        };
        if configuration.metadata.name != settings.injector_webhook.name {
            return Vec::new();
        }
        let wanted = settings.injector_webhook.failure_policy.name();
        let mut findings = Vec::new();
        for webhook in &configuration.webhooks {
            // admissionregistration.k8s.io/v1 defaults an absent policy to Fail.
            let policy = webhook.failure_policy.as_deref().unwrap_or("Fail");
            if policy != wanted {
                findings.push(Finding::violation(
                    self.id(),
                    format!("webhook {:?} has failurePolicy {policy}; the policy requires {wanted} (injectorWebhook.failurePolicy)", webhook.name),
                    format!(
                        "set failurePolicy: {wanted} (linkerd install --ha does), or set injectorWebhook.failurePolicy: {policy} if a loosened injector is intended"
                    ),
                ));
            }
            if !excludes_opted_out_namespaces(webhook) {
                findings.push(Finding::violation(
                    self.id(),
                    format!(
                        "webhook {:?} has no namespaceSelector excluding namespaces labelled {ADMISSION_WEBHOOKS_LABEL}={ADMISSION_WEBHOOKS_DISABLED}, so with failurePolicy Fail a down injector blocks kube-system too",
                        webhook.name
                    ),
                    format!(
                        "add namespaceSelector.matchExpressions: [{{key: {ADMISSION_WEBHOOKS_LABEL}, operator: NotIn, values: [{ADMISSION_WEBHOOKS_DISABLED}]}}]"
                    ),
                ));
            }
        }
        findings
    }
}

fn excludes_opted_out_namespaces(webhook: &MutatingWebhook) -> bool {
    webhook.namespace_selector.as_ref().is_some_and(|selector| {
        selector.match_expressions.iter().any(|requirement| {
            requirement.key == ADMISSION_WEBHOOKS_LABEL
                && requirement.operator == "NotIn"
                && requirement
                    .values
                    .iter()
                    .any(|v| v == ADMISSION_WEBHOOKS_DISABLED)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::MutatingWebhookConfiguration;
    use crate::rules::Operation;
    use crate::settings::FailurePolicy;
    use rstest::rstest;
    use serde_json::{json, Value};

    fn configuration(name: &str, policy: Value, selector: Value) -> Subject {
        Subject::InjectorWebhook(
            serde_json::from_value::<MutatingWebhookConfiguration>(json!({
                "metadata": {"name": name},
                "webhooks": [{"name": "linkerd-proxy-injector.linkerd.io", "failurePolicy": policy, "namespaceSelector": selector}]
            }))
            .unwrap(),
        )
    }

    fn opted_out() -> Value {
        json!({"matchExpressions": [{"key": ADMISSION_WEBHOOKS_LABEL, "operator": "NotIn", "values": ["disabled"]}]})
    }

    fn check(subject: &Subject, policy: FailurePolicy) -> Vec<Finding> {
        let mut settings = Settings::default();
        settings.injector_webhook.failure_policy = policy;
        InjectorWebhook.check(subject, &Context::new(Operation::Create, ""), &settings)
    }

    const NAME: &str = "linkerd-proxy-injector-webhook-config";

    #[rstest]
    #[case::fail(json!("Fail"), FailurePolicy::Fail, 0)]
    #[case::absent_means_fail(Value::Null, FailurePolicy::Fail, 0)]
    #[case::ignore_rejected(json!("Ignore"), FailurePolicy::Fail, 1)]
    #[case::ignore_allowed_when_configured(json!("Ignore"), FailurePolicy::Ignore, 0)]
    #[case::fail_when_ignore_configured(json!("Fail"), FailurePolicy::Ignore, 1)]
    fn failure_policy(
        #[case] policy: Value,
        #[case] wanted: FailurePolicy,
        #[case] expected: usize,
    ) {
        assert_eq!(
            check(&configuration(NAME, policy, opted_out()), wanted).len(),
            expected
        );
    }

    #[rstest]
    #[case::no_selector(Value::Null)]
    #[case::other_key(json!({"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system"]}]}))]
    fn selector_must_exclude_opted_out_namespaces(#[case] selector: Value) {
        let findings = check(
            &configuration(NAME, json!("Fail"), selector),
            FailurePolicy::Fail,
        );
        assert_eq!(findings.len(), 1);
        assert!(findings[0].problem.contains("namespaceSelector"));
    }

    #[test]
    fn other_webhook_configurations_are_ignored() {
        assert!(check(
            &configuration("cert-manager-webhook", json!("Ignore"), Value::Null),
            FailurePolicy::Fail
        )
        .is_empty());
    }
}
