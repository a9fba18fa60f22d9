//! One run of the playground: the objects of the manifest judged by the
//! policy's own `admission::validate` in `kubectl apply`'s order, as the
//! scanner (`linkerd-ha-scan`) judges them with the Kubewarden module.

use linkerd_ha_policy::admission::{self, Response};
use linkerd_ha_policy::settings::Settings;
use linkerd_ha_policy::verdict::{AuditAnnotations, MUTATED_BY};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use cluster_sim::findings::split_message;
pub use cluster_sim::findings::Finding;
use cluster_sim::{str_at, ApplyRequest, ManifestObject};

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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectReport {
    /// The YAML document (1-based) the object came from.
    pub document: usize,
    /// `CREATE`, or `UPDATE` when the cluster held the object already.
    pub operation: String,
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
    /// The rules that made the mutation, as the response's audit
    /// annotations name them (`mutated-by`, in the policy's order), each
    /// with what it fixed; empty unless the object is mutated. The
    /// scanner's JSON report has the same `mutatedBy`.
    #[serde(default)]
    pub mutated_by: Vec<MutationRule>,
}

/// One rule behind a mutation, and what it fixed: one finding per line of
/// its audit annotation (`[rule] Kind ns/name: problem. Fix: fix`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MutationRule {
    /// The rule's `settings.rules` name.
    pub rule: String,
    pub fixed: Vec<Finding>,
}

/// The rules the response's audit annotations name as the makers of its
/// mutation, in their order, each with the lines of its own annotation.
fn mutated_by(annotations: Option<&AuditAnnotations>) -> Vec<MutationRule> {
    let Some(AuditAnnotations(annotations)) = annotations else {
        return Vec::new();
    };
    let get = |key: &str| {
        annotations
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
    };
    let rules = get(MUTATED_BY).unwrap_or_default();
    let mut named: Vec<MutationRule> = Vec::new();
    for rule in rules.split(',').map(str::trim).filter(|r| !r.is_empty()) {
        if named.iter().any(|seen| seen.rule == rule) {
            continue;
        }
        named.push(MutationRule {
            rule: rule.to_owned(),
            fixed: get(rule)
                .map(|text| text.lines().map(Finding::parse).collect())
                .unwrap_or_default(),
        });
    }
    named
}

/// [`evaluate`], with a failure reported in [`Report::error`] for the page.
pub fn report(manifest: &str, settings: &str, cluster_objects: &str) -> Report {
    evaluate(manifest, settings, cluster_objects).unwrap_or_else(|error| Report {
        error: Some(error.to_string()),
        ..Report::default()
    })
}

/// Judges the objects of `manifest` (multi-document YAML) under `settings`
/// (YAML; empty means the defaults) the way `kubectl apply` has the API
/// server send them, as the scanner (`linkerd-ha-scan`) does: one by one,
/// in order, each against the cluster as it is then: `cluster_objects`
/// plus the objects admitted before it (as the policy left them). An object
/// the cluster already holds is an UPDATE with the stored one as
/// `oldObject`; a rejected one never reaches the cluster.
pub fn evaluate(
    manifest: &str,
    settings: &str,
    cluster_objects: &str,
) -> Result<Report, PlaygroundError> {
    let settings = load_settings(settings)?;
    let objects = manifest::load_objects(manifest, Source::Manifest, DEFAULT_NAMESPACE)?;
    let existing = manifest::load_objects(cluster_objects, Source::Cluster, DEFAULT_NAMESPACE)?;
    let mut cluster = PlaygroundCluster::default();
    for object in &existing {
        cluster.insert(&object.object);
    }

    let mut reports = Vec::with_capacity(objects.len());
    for object in &objects {
        let (report, admitted) = judge(object, &settings, &cluster)?;
        if let Some(admitted) = admitted {
            cluster.insert(&admitted);
        }
        reports.push(report);
    }
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

/// One object's report, and what the cluster holds afterwards (the object
/// as admitted; `None` when it was rejected).
fn judge(
    object: &ManifestObject,
    settings: &Value,
    cluster: &PlaygroundCluster,
) -> Result<(ObjectReport, Option<Value>), PlaygroundError> {
    let original = &object.object;
    let ApplyRequest {
        operation, request, ..
    } = cluster.apply_request(original);
    let payload = json!({"request": request, "settings": settings});
    let payload =
        serde_json::to_vec(&payload).map_err(|e| PlaygroundError::Encode(e.to_string()))?;
    let Response {
        accepted,
        message,
        code,
        mutated_object,
        warnings,
        audit_annotations,
    } = admission::validate(&payload, cluster);

    let outcome = match (accepted, &mutated_object) {
        (false, _) => Outcome::Rejected,
        (true, Some(_)) => Outcome::Mutated,
        (true, None) => Outcome::Accepted,
    };
    let mutated: Option<Value> = mutated_object
        .map(|mutated| serde_json::from_str(mutated.get()))
        .transpose()
        .map_err(|e| PlaygroundError::Encode(e.to_string()))?;
    let (patch, mutated_yaml, yaml_diff) = match &mutated {
        Some(mutated) => {
            let patch = serde_json::to_value(json_patch::diff(original, mutated))
                .map_err(|e| PlaygroundError::Encode(e.to_string()))?;
            let before = crate::diff::to_yaml(original);
            let after = crate::diff::to_yaml(mutated);
            let diff = crate::diff::unified(&before, &after);
            (Some(patch), Some(after), Some(diff))
        }
        None => (None, None, None),
    };
    let admitted = accepted.then(|| mutated.clone().unwrap_or_else(|| original.clone()));
    let report = ObjectReport {
        document: object.document,
        operation: operation.to_owned(),
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
        mutated_by: mutated_by(audit_annotations.as_ref()),
    };
    Ok((report, admitted))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MESHED_APP: &str = include_str!("../../examples/meshed-app.yaml");

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
        // The rule behind the change, read from the response.
        let rules: Vec<&str> = web.mutated_by.iter().map(|r| r.rule.as_str()).collect();
        assert_eq!(rules, ["safeToEvict"]);
        let fixed = &web.mutated_by[0].fixed;
        assert_eq!(fixed.len(), 1);
        assert_eq!(fixed[0].rule.as_deref(), Some("safeToEvict"));
        assert!(
            fixed[0].text.starts_with("Deployment shop/web: "),
            "{fixed:?}"
        );
        assert!(report
            .objects
            .iter()
            .filter(|object| object.outcome != Outcome::Mutated)
            .all(|object| object.mutated_by.is_empty()));
    }

    /// A mutation by several rules names each, in the policy's order.
    #[test]
    fn each_fixing_rule_is_named_with_what_it_fixed() {
        let destination = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: linkerd-destination, namespace: linkerd}\nspec:\n  replicas: 3\n  selector: {matchLabels: {linkerd.io/control-plane-component: destination}}\n  template:\n    metadata:\n      labels: {linkerd.io/control-plane-component: destination}\n      annotations: {linkerd.io/inject: enabled}\n    spec:\n      containers:\n      - {name: destination, image: d}\n";
        let settings = "rules: {controlPlaneAntiAffinity: mutate, controlPlaneResources: mutate, disruptionBudgets: 'off', nodeCapacity: 'off'}";
        let report = evaluate(destination, settings, "").expect("evaluates");
        let object = &report.objects[0];
        assert_eq!(object.outcome, Outcome::Mutated, "{object:?}");
        let rules: Vec<&str> = object.mutated_by.iter().map(|r| r.rule.as_str()).collect();
        assert_eq!(rules, ["controlPlaneAntiAffinity", "controlPlaneResources"]);
        for rule in &object.mutated_by {
            assert!(!rule.fixed.is_empty(), "{rule:?}");
            assert!(
                rule.fixed
                    .iter()
                    .all(|f| f.rule.as_deref() == Some(rule.rule.as_str())),
                "{rule:?}"
            );
        }
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
            .contains("namespace \"shop\" does not exist"));

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
