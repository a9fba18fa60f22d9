//! The mutation as people read it: the object's YAML before and after, and
//! a unified diff of the two.

use serde_json::Value;
use similar::TextDiff;

/// `value` as YAML. Both sides of a diff go through here, so fields keep
/// one order (serde_json's, alphabetical) and only real changes show.
pub fn to_yaml(value: &Value) -> String {
    // Serializing a JSON value cannot fail: its keys are strings and it has
    // no non-finite numbers. Should it ever, the text says so rather than
    // the page breaking.
    serde_yaml_ng::to_string(value).unwrap_or_else(|error| format!("# cannot render: {error}\n"))
}

/// A unified diff (three lines of context) from `before` to `after`.
pub fn unified(before: &str, after: &str) -> String {
    TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(3)
        .header("original", "mutated")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shows_only_the_added_lines_with_context() {
        let before = json!({"metadata": {"name": "kube-system"}, "kind": "Namespace"});
        let after = json!({"metadata": {"name": "kube-system",
            "labels": {"config.linkerd.io/admission-webhooks": "disabled"}}, "kind": "Namespace"});
        let diff = unified(&to_yaml(&before), &to_yaml(&after));
        assert_eq!(
            diff,
            "--- original\n+++ mutated\n@@ -1,3 +1,5 @@\n kind: Namespace\n metadata:\n+  labels:\n+    config.linkerd.io/admission-webhooks: disabled\n   name: kube-system\n"
        );
        assert_eq!(unified("a\n", "a\n"), "");
    }
}
