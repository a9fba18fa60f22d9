//! One run of the playground: every object of the manifest judged as a
//! CREATE by the policy's own `admission::validate`, as the harness CLI
//! (`policy-harness evaluate`) judges them with the Kubewarden module.

use linkerd_ha_policy::admission::{self, Response};
use linkerd_ha_policy::settings::Settings;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use cluster_sim::{admission_request, str_at, ManifestObject};

use crate::cluster::PlaygroundCluster;
use crate::manifest::{self, ManifestError, Source};

/// The namespace of namespaced objects that name none, as with
/// `kubectl apply` in the default context (and the harness CLI's default).
pub const DEFAULT_NAMESPACE: &str = "default";

/// Why nothing could be evaluated. Verdicts about single objects are never
/// errors: an object the policy cannot read is rejected with a message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlaygroundError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("settings: not valid YAML: {0}")]
    SettingsYaml(String),
    #[error("settings: expected one YAML document, found {0}")]
    SettingsDocuments(usize),
    /// What `validate_settings` answers: policy-server would refuse to
    /// start the policy with these settings.
    #[error("the policy rejects the settings: {0}")]
    SettingsRejected(String),
    #[error("cannot encode the validation request: {0}")]
    Encode(String),
}

/// What the page shows, and the typed API's return value (see the
/// TypeScript declarations in `lib.rs`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub objects: Vec<ObjectReport>,
    pub summary: Summary,
    /// The namespaces the lookups could find (manifest and cluster box).
    pub known_namespaces: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Accepted,
    Mutated,
    Rejected,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub total: usize,
    pub accepted: usize,
    pub mutated: usize,
    pub rejected: usize,
}

/// One line of a rejection or one warning: `[rule] text` split in two.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The rule (`settings.rules.*` name), when the line names one.
    pub rule: Option<String>,
    pub text: String,
}

impl Finding {
    /// Splits `[rule] text`; other lines keep no rule. Lossless:
    /// [`Finding::line`] gives the line back.
    pub fn parse(line: &str) -> Self {
        let tagged = line
            .strip_prefix('[')
            .and_then(|rest| rest.split_once("] "))
            .filter(|(rule, _)| {
                !rule.is_empty() && rule.chars().all(|c| c.is_ascii_alphanumeric())
            });
        match tagged {
            Some((rule, text)) => Self {
                rule: Some(rule.to_owned()),
                text: text.to_owned(),
            },
            None => Self {
                rule: None,
                text: line.to_owned(),
            },
        }
    }

    pub fn line(&self) -> String {
        match &self.rule {
            Some(rule) => format!("[{rule}] {}", self.text),
            None => self.text.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectReport {
    /// The YAML document (1-based) the object came from.
    pub document: usize,
    pub kind: String,
    pub api_version: String,
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub outcome: Outcome,
    /// Whether the API server would let the request through.
    pub allowed: bool,
    pub code: Option<u16>,
    /// The admission message exactly as the policy answered it.
    pub message: Option<String>,
    /// The message, one violation per entry.
    pub messages: Vec<Finding>,
    pub warnings: Vec<Finding>,
    /// RFC 6902 patch from the object sent to the mutated object, as
    /// policy-server computes it for the API server.
    pub patch: Option<Value>,
    pub mutated_yaml: Option<String>,
    /// Unified diff of the object's YAML before and after the mutation.
    pub yaml_diff: Option<String>,
}

/// [`evaluate`], with a failure reported in [`Report::error`] for the page.
pub fn report(manifest: &str, settings: &str, cluster_objects: &str) -> Report {
    evaluate(manifest, settings, cluster_objects).unwrap_or_else(|error| Report {
        error: Some(error.to_string()),
        ..Report::default()
    })
}

/// Judges every object of `manifest` (multi-document YAML) as a CREATE
/// under `settings` (YAML; empty means the defaults). Namespace, budget and
/// node lookups are answered from the objects of `manifest` and of
/// `cluster_objects` (the manifest's win), as the harness CLI answers them
/// from the files it is given.
pub fn evaluate(
    manifest: &str,
    settings: &str,
    cluster_objects: &str,
) -> Result<Report, PlaygroundError> {
    let settings = load_settings(settings)?;
    let objects = manifest::load_objects(manifest, Source::Manifest, DEFAULT_NAMESPACE)?;
    let existing = manifest::load_objects(cluster_objects, Source::Cluster, DEFAULT_NAMESPACE)?;
    let mut cluster = PlaygroundCluster::default();
    for object in existing.iter().chain(&objects) {
        cluster.insert(&object.object);
    }

    let reports = objects
        .iter()
        .map(|object| judge(object, &settings, &cluster))
        .collect::<Result<Vec<_>, _>>()?;
    let summary = reports
        .iter()
        .fold(Summary::default(), |mut summary, report| {
            summary.total += 1;
            match report.outcome {
                Outcome::Accepted => summary.accepted += 1,
                Outcome::Mutated => summary.mutated += 1,
                Outcome::Rejected => summary.rejected += 1,
            }
            summary
        });
    Ok(Report {
        objects: reports,
        summary,
        known_namespaces: cluster.namespace_names(),
        error: None,
    })
}

/// The settings as JSON, checked as `validate_settings` checks them.
fn load_settings(text: &str) -> Result<Value, PlaygroundError> {
    let mut documents = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_str(text) {
        let value = Value::deserialize(document)
            .map_err(|error| PlaygroundError::SettingsYaml(error.to_string()))?;
        documents.push(value);
    }
    let settings = match documents.len() {
        0 => Value::Null,
        1 => documents.swap_remove(0),
        count => return Err(PlaygroundError::SettingsDocuments(count)),
    };
    // An empty box means the defaults, as policy-server sends `{}` for a
    // policy deployed without settings.
    let settings = if settings.is_null() {
        json!({})
    } else {
        settings
    };
    let encoded =
        serde_json::to_vec(&settings).map_err(|e| PlaygroundError::Encode(e.to_string()))?;
    Settings::from_json(&encoded)
        .map_err(|error| error.to_string())
        .and_then(|decoded| decoded.check())
        .map_err(PlaygroundError::SettingsRejected)?;
    Ok(settings)
}

fn judge(
    object: &ManifestObject,
    settings: &Value,
    cluster: &PlaygroundCluster,
) -> Result<ObjectReport, PlaygroundError> {
    let original = &object.object;
    let payload = json!({"request": admission_request(original, "CREATE"), "settings": settings});
    let payload =
        serde_json::to_vec(&payload).map_err(|e| PlaygroundError::Encode(e.to_string()))?;
    let Response {
        accepted,
        message,
        code,
        mutated_object,
        warnings,
    } = admission::validate(&payload, cluster);

    let outcome = match (accepted, &mutated_object) {
        (false, _) => Outcome::Rejected,
        (true, Some(_)) => Outcome::Mutated,
        (true, None) => Outcome::Accepted,
    };
    let (patch, mutated_yaml, yaml_diff) = match &mutated_object {
        Some(mutated) => {
            let mutated: Value = serde_json::from_str(mutated.get())
                .map_err(|e| PlaygroundError::Encode(e.to_string()))?;
            let mutated = &mutated;
            let patch = serde_json::to_value(json_patch::diff(original, mutated))
                .map_err(|e| PlaygroundError::Encode(e.to_string()))?;
            let before = crate::diff::to_yaml(original);
            let after = crate::diff::to_yaml(mutated);
            let diff = crate::diff::unified(&before, &after);
            (Some(patch), Some(after), Some(diff))
        }
        None => (None, None, None),
    };
    Ok(ObjectReport {
        document: object.document,
        kind: object.kind().to_owned(),
        api_version: str_at(original, &["apiVersion"])
            .unwrap_or_default()
            .to_owned(),
        name: str_at(original, &["metadata", "name"]).map(str::to_owned),
        namespace: str_at(original, &["metadata", "namespace"]).map(str::to_owned),
        outcome,
        allowed: accepted,
        code,
        messages: message.as_deref().map(split_message).unwrap_or_default(),
        message,
        warnings: warnings
            .unwrap_or_default()
            .iter()
            .map(|line| Finding::parse(line))
            .collect(),
        patch,
        mutated_yaml,
        yaml_diff,
    })
}

/// One finding per violation: a rejection listing several starts with a
/// header line (`Deployment a/b violates 3 Linkerd HA rules:`) and lists
/// them as `- [rule] ...`.
fn split_message(message: &str) -> Vec<Finding> {
    let mut lines = message.split("\n- ");
    match (lines.next(), message.contains("\n- ")) {
        (Some(_header), true) => lines.map(Finding::parse).collect(),
        _ => vec![Finding::parse(message)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MESHED_APP: &str = include_str!("../../examples/meshed-app.yaml");

    #[test]
    fn findings_split_and_join_losslessly() {
        for line in [
            "[safeToEvict] Deployment a/b: missing. Fix: add it",
            "Deployment a/b: cannot read spec.replicas",
            "[not a rule] x",
            "[] x",
        ] {
            assert_eq!(Finding::parse(line).line(), line);
        }
        assert_eq!(
            Finding::parse("[safeToEvict] x").rule.as_deref(),
            Some("safeToEvict")
        );
        assert_eq!(Finding::parse("[not a rule] x").rule, None);
    }

    #[test]
    fn a_message_listing_violations_is_split() {
        let message = "Deployment a/b violates 2 Linkerd HA rules:\n- [controlPlaneReplicas] one\n- [disruptionBudgets] two";
        let rules: Vec<_> = split_message(message)
            .into_iter()
            .map(|f| (f.rule.unwrap_or_default(), f.text))
            .collect();
        assert_eq!(
            rules,
            [
                ("controlPlaneReplicas".to_owned(), "one".to_owned()),
                ("disruptionBudgets".to_owned(), "two".to_owned())
            ]
        );
        assert_eq!(split_message("[safeToEvict] x").len(), 1);
    }

    #[test]
    fn meshed_app_web_is_mutated_with_the_safe_to_evict_annotation() {
        let report = evaluate(MESHED_APP, "", "").expect("evaluates");
        assert_eq!(
            report.summary,
            Summary {
                total: 3,
                accepted: 2,
                mutated: 1,
                rejected: 0
            }
        );
        let web = &report.objects[1];
        assert_eq!(
            (web.kind.as_str(), web.name.as_deref()),
            ("Deployment", Some("web"))
        );
        assert_eq!(web.outcome, Outcome::Mutated);
        assert_eq!(
            web.patch,
            Some(
                json!([{"op": "add", "path": "/spec/template/metadata/annotations",
                         "value": {"cluster-autoscaler.kubernetes.io/safe-to-evict": "true"}}])
            )
        );
        let diff = web.yaml_diff.as_deref().unwrap_or_default();
        assert!(
            diff.contains("+        cluster-autoscaler.kubernetes.io/safe-to-evict: 'true'"),
            "{diff}"
        );
        assert_eq!(report.known_namespaces, ["shop"]);
    }

    #[test]
    fn the_cluster_box_answers_namespace_lookups() {
        let deployment = MESHED_APP
            .split("\n---\n")
            .nth(1)
            .expect("the Deployment document");
        let alone = evaluate(deployment, "", "").expect("evaluates");
        assert_eq!(alone.objects[0].outcome, Outcome::Accepted);
        assert!(alone.objects[0].warnings[0]
            .text
            .contains("could not read namespace \"shop\""));

        let cluster = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  annotations: {linkerd.io/inject: enabled}\n";
        let with_cluster = evaluate(deployment, "", cluster).expect("evaluates");
        assert_eq!(with_cluster.objects[0].outcome, Outcome::Mutated);
        assert!(with_cluster.objects[0].warnings.is_empty());
    }

    #[test]
    fn settings_are_checked_like_validate_settings() {
        let report = report(MESHED_APP, "controlPlane: {replicas: 0}", "");
        let error = report.error.unwrap_or_default();
        assert!(
            error.starts_with(
                "the policy rejects the settings: settings.controlPlane.replicas: must be at least 1"
            ),
            "{error}"
        );
        assert!(report.objects.is_empty());

        let error = evaluate(MESHED_APP, "rules: {nope: warn}", "").expect_err("unknown field");
        assert!(error.to_string().contains("settings.rules"), "{error}");
        assert_eq!(
            evaluate(MESHED_APP, "a: 1\n---\nb: 2\n", ""),
            Err(PlaygroundError::SettingsDocuments(2))
        );
        let off = evaluate(MESHED_APP, "rules: {safeToEvict: off}", "").expect("off");
        assert_eq!(off.summary.mutated, 0);
        let comments_only = evaluate(MESHED_APP, "# defaults\n", "").expect("defaults");
        assert_eq!(comments_only.summary.mutated, 1);
    }
}
