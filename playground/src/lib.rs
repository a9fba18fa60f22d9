//! policy-playground: the linkerd-ha-policy rule engine for the browser.
//!
//! The same `admission::validate` the Kubewarden module runs, built for
//! `wasm32-unknown-unknown` with wasm-bindgen (`web/build.sh`) and fed from
//! YAML text: the objects of a manifest are judged as `kubectl apply` sends
//! them, one by one in order, each against an optional box of objects
//! already in the cluster plus the objects admitted before it (an object
//! already there is an UPDATE). The Rust API ([`evaluate()`], [`report`]) is what
//! the JS API wraps, and what the native parity test calls.
#![deny(unsafe_code)]

mod cluster;
mod diff;
mod evaluate;
mod manifest;

use wasm_bindgen::prelude::*;

pub use cluster::PlaygroundCluster;
pub use evaluate::{
    evaluate, report, Finding, ObjectReport, Outcome, PlaygroundError, Report, Summary,
    DEFAULT_NAMESPACE,
};
pub use manifest::{ManifestError, Source};

/// The policy's default settings, spelled out and commented: the README's
/// settings block (a test keeps the two equal), pre-filled in the page.
pub const DEFAULT_SETTINGS_YAML: &str = include_str!("default-settings.yaml");

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** `[rule] text` split in two; `rule` is a `settings.rules.*` name. */
export interface Finding { rule: string | null; text: string; }
export type Outcome = "accepted" | "mutated" | "rejected";
export interface ObjectReport {
  document: number;
  /** "CREATE", or "UPDATE" when the cluster held the object already. */
  operation: "CREATE" | "UPDATE";
  kind: string;
  apiVersion: string;
  name: string | null;
  namespace: string | null;
  outcome: Outcome;
  allowed: boolean;
  code: number | null;
  message: string | null;
  messages: Finding[];
  warnings: Finding[];
  /** RFC 6902 operations from the object sent to the mutated object. */
  patch: Array<{ op: string; path: string; value?: unknown; from?: string }> | null;
  /** The rules the policy's answer names for its changes (its `mutated-by`
   *  audit annotation), each with what it fixed; empty when not mutated. */
  mutatedBy: Array<{ rule: string; fixed: Finding[] }>;
  mutatedYaml: string | null;
  yamlDiff: string | null;
}
export interface Summary { total: number; accepted: number; mutated: number; rejected: number; }
export interface Report {
  objects: ObjectReport[];
  summary: Summary;
  knownNamespaces: string[];
  /** Set when nothing could be evaluated (bad YAML, rejected settings). */
  error?: string;
}
"#;

/// Judges the objects of `manifest_yaml` in `kubectl apply`'s order under
/// `settings_yaml` (empty: the defaults), looking namespaces,
/// PodDisruptionBudgets and Nodes up in `cluster_yaml` and the objects
/// admitted before. Never throws for bad input: the
/// report's `error` says what could not be read.
#[wasm_bindgen(js_name = evaluate, unchecked_return_type = "Report")]
pub fn evaluate_js(
    manifest_yaml: &str,
    settings_yaml: &str,
    cluster_yaml: &str,
) -> Result<JsValue, JsError> {
    let report = evaluate::report(manifest_yaml, settings_yaml, cluster_yaml);
    // Plain objects and arrays, not JS Maps, so the page and tests can read
    // patches and values like JSON.
    let serializer = serde_wasm_bindgen::Serializer::json_compatible();
    serde::Serialize::serialize(&report, &serializer)
        .map_err(|error| JsError::new(&error.to_string()))
}

/// The commented default settings, for the settings editor.
#[wasm_bindgen(js_name = defaultSettings)]
pub fn default_settings() -> String {
    DEFAULT_SETTINGS_YAML.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use linkerd_ha_policy::settings::Settings;

    #[test]
    fn default_settings_block_decodes_to_the_defaults() {
        let value: serde_json::Value =
            serde_yaml_ng::from_str(DEFAULT_SETTINGS_YAML).expect("YAML");
        let spelled_out =
            Settings::from_json(value.to_string().as_bytes()).expect("valid settings");
        let defaults = Settings::from_json(b"{}").expect("defaults");
        assert_eq!(spelled_out, defaults);
    }

    #[test]
    fn default_settings_block_is_the_documented_one() {
        let readme = include_str!("../../docs/settings.md");
        assert!(
            readme.contains(&format!("```yaml\n{DEFAULT_SETTINGS_YAML}```")),
            "playground/src/default-settings.yaml differs from docs/settings.md's settings block: copy it over"
        );
    }
}
