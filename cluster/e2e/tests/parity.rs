//! Issue 22, "The scanner against the cluster": the same manifests are
//! scanned with `linkerd-ha-scan --cluster <dump of the cluster before>` (its
//! `-o json` verdicts and its `--fix` output) and applied with `kubectl apply
//! -f` on a real API server with the policy behind policy-server 1.35, then
//! compared object by object:
//!
//! - the verdict: accepted, mutated or refused (refused: kubectl printed an
//!   error for it and, for a CREATE, it is absent from the cluster; mutated:
//!   the stored object differs from the API server's own `--dry-run=server`
//!   copy without the policy, cluster_e2e::objects::policy_changes);
//! - the stored object against what `--fix` wrote, on the fields `--fix`
//!   wrote only (so the API server's defaults, server-set metadata, status
//!   and the last-applied annotation never count; a field `--fix` wrote that
//!   the server stored differently, or dropped, does);
//! - the number of warnings each side gave the object;
//! - whether the policy saw the object at all: the mutating instance's
//!   webhook rules of policy.yaml, minus webhook configurations (the API
//!   server never sends those to admission webhooks) and objects the API
//!   server refused before its webhooks (NamespaceLifecycle). The scanner
//!   judges every object.
//!
//! Every difference goes into one table, which must equal EXPECTED: each
//! entry there has the reason the difference stays (or the issue to fix).
//!
//! Scanner and cluster run the same module file: it is copied once at the
//! start, POLICY_WASM points the worlds' policy-server at the copy and the
//! scanner gets `--module` with it, so a rebuild of
//! target/wasm32-wasip1/release/ while this runs changes neither side.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use cluster_e2e::objects::{documents, kind, kubectl_name, name, policy_changes, stored};
use cluster_e2e::policy::cluster_admission_policies;
use cluster_e2e::world::{linkerd_fixture, World};
use cluster_e2e::{progress, project, Printed, WorldOptions};
use serde_json::{json, Value};

/// What happened to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Verdict {
    Accepted,
    Mutated,
    Refused,
}

impl Verdict {
    fn word(self) -> &'static str {
        match self {
            Verdict::Accepted => "accepted",
            Verdict::Mutated => "mutated",
            Verdict::Refused => "refused",
        }
    }
}

/// One row of the difference table.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Difference {
    scenario: &'static str,
    aspect: &'static str,
    kind: String,
    /// What differs, without message wording.
    detail: String,
    objects: Vec<String>,
}

/// A scanner run and its verdict on each object.
struct Scanned {
    /// Per object, in manifest order: (verdict, number of warnings).
    results: Vec<(Verdict, usize, String)>,
    /// The --fix output, one value per object.
    fixed: Vec<Value>,
}

struct Tools {
    scanner: PathBuf,
    module: PathBuf,
    settings: PathBuf,
    dir: tempfile::TempDir,
}

fn setup() -> Tools {
    let project = project();
    let dir = tempfile::Builder::new()
        .prefix("cluster-e2e-parity-")
        .tempdir()
        .expect("a temporary folder");
    // One module file for both sides.
    let built = project.module_path();
    let module = dir.path().join("linkerd_ha_policy.wasm");
    std::fs::copy(&built, &module).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (`make build` builds the policy module)",
            built.display()
        )
    });
    std::env::set_var(policy_release::project::POLICY_WASM_ENV, &module);
    let scanner = cluster_e2e::scanner_binary();
    // The mutating instance's settings, as policy-server runs them.
    let mutating = cluster_admission_policies()
        .into_iter()
        .find(|p| p["spec"]["mutating"] == json!(true))
        .expect("the mutating ClusterAdmissionPolicy");
    let settings = dir.path().join("settings.yaml");
    std::fs::write(&settings, mutating["spec"]["settings"].to_string()).expect("settings");
    progress(format!(
        "scanner {} and policy-server both run {} (a copy of {})",
        scanner.display(),
        module.display(),
        built.display()
    ));
    Tools {
        scanner,
        module,
        settings,
        dir,
    }
}

fn is_namespaced(kind: &str) -> bool {
    !matches!(
        kind,
        "Namespace"
            | "Node"
            | "ClusterRole"
            | "ClusterRoleBinding"
            | "MutatingWebhookConfiguration"
            | "ValidatingWebhookConfiguration"
            | "CustomResourceDefinition"
            | "APIService"
            | "PriorityClass"
            | "StorageClass"
    )
}

/// `kind.group` as kubectl get takes it.
fn resource_arg(object: &Value) -> String {
    let full = kubectl_name(object);
    full.split_once('/').map(|(r, _)| r.to_string()).unwrap()
}

/// `Kind ns/name` (namespace defaulted as kubectl does).
fn key(object: &Value) -> String {
    let k = kind(object);
    if is_namespaced(k) {
        let ns = object["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default");
        format!("{k} {ns}/{}", name(object))
    } else {
        format!("{k} {}", name(object))
    }
}

/// The mutating instance's webhook rules send this object to the policy
/// (the API server never sends webhook configurations to webhooks).
fn rules_match(object: &Value) -> bool {
    let k = kind(object);
    if k.ends_with("WebhookConfiguration") {
        return false;
    }
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
    let lower = k.to_lowercase();
    let plural = if lower.ends_with('s') {
        format!("{lower}es")
    } else {
        format!("{lower}s")
    };
    cluster_admission_policies()
        .iter()
        .filter(|p| p["spec"]["mutating"] == json!(true))
        .flat_map(|p| p["spec"]["rules"].as_array().cloned().unwrap_or_default())
        .any(|rule| {
            rule["apiGroups"]
                .as_array()
                .is_some_and(|g| g.iter().any(|g| g == group || g == "*"))
                && rule["resources"]
                    .as_array()
                    .is_some_and(|r| r.iter().any(|r| r == plural.as_str() || r == "*"))
        })
}

/// `kubectl get -A -o yaml` of the kinds the scanner uses: Namespaces,
/// Nodes and PodDisruptionBudgets (its lookups) and every kind of the
/// manifests (an object the cluster holds is an UPDATE).
fn dump(world: &World, objects: &[Value], path: &Path) {
    let mut kinds: BTreeSet<String> = ["namespace", "node", "poddisruptionbudget.policy"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    kinds.extend(objects.iter().map(resource_arg));
    let list = kinds.into_iter().collect::<Vec<_>>().join(",");
    let run = world
        .kubectl()
        .run(&["get", "-A", "-o", "yaml", &list])
        .ok();
    std::fs::write(path, run.stdout).expect("the dump");
}

fn scan(tools: &Tools, manifest: &Path, cluster: Option<&Path>, objects: usize) -> Scanned {
    let run = |extra: &[&str]| {
        let mut command = Command::new(&tools.scanner);
        command
            .arg("--module")
            .arg(&tools.module)
            .arg("--settings")
            .arg(&tools.settings);
        if let Some(dump) = cluster {
            command.arg("--cluster").arg(dump);
        }
        let output = command
            .args(extra)
            .arg(manifest)
            .output()
            .expect("the scanner");
        let code = output.status.code();
        assert!(
            matches!(code, Some(0) | Some(1)),
            "linkerd-ha-scan {extra:?} exited {code:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("UTF-8")
    };
    let report: Value = serde_json::from_str(&run(&["-o", "json"])).expect("the JSON report");
    let results: Vec<(Verdict, usize, String)> = report["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            let verdict = match r["outcome"].as_str() {
                Some("accepted") => Verdict::Accepted,
                Some("mutated") => Verdict::Mutated,
                Some("rejected") => Verdict::Refused,
                other => panic!("the scanner could not judge an object: {other:?}: {r}"),
            };
            let warnings = r["warnings"].as_array().map_or(0, Vec::len);
            (
                verdict,
                warnings,
                r["operation"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(results.len(), objects, "one result per object");
    let fixed = documents(&run(&["--fix"]));
    assert_eq!(fixed.len(), objects, "--fix writes every object");
    Scanned { results, fixed }
}

/// The paths (`a.b[0].c`) where `stored` does not hold what `fixed` wrote,
/// over the fields `fixed` has.
fn written_but_not_stored(fixed: &Value, stored: &Value, path: &str, out: &mut Vec<String>) {
    match (fixed, stored) {
        (Value::Object(f), Value::Object(s)) => {
            for (field, value) in f {
                let here = if path.is_empty() {
                    field.clone()
                } else {
                    format!("{path}.{field}")
                };
                match s.get(field) {
                    Some(inner) => written_but_not_stored(value, inner, &here, out),
                    None if value.is_null()
                        || value.as_object().is_some_and(|o| o.is_empty())
                        || value.as_array().is_some_and(|a| a.is_empty()) =>
                    {
                        // Empty values the API server drops.
                    }
                    None => out.push(format!("{here} (absent)")),
                }
            }
        }
        (Value::Array(f), Value::Array(s)) if f.len() == s.len() => {
            for (index, (a, b)) in f.iter().zip(s).enumerate() {
                written_but_not_stored(a, b, &format!("{path}[{index}]"), out);
            }
        }
        (Value::Array(f), Value::Array(s)) => out.push(format!(
            "{path} ({} items written, {} stored)",
            f.len(),
            s.len()
        )),
        (f, s) if f == s => {}
        // YAML and JSON spell numbers and strings alike differently only
        // when the API server converted them.
        (f, s) => out.push(format!("{path} ({f} written, {s} stored)")),
    }
}

/// The operations of `changes` that the policy made: for an UPDATE, those
/// that kubectl apply's merge kept from the live object are dropped.
fn cluster_changes(world: &World, object: &Value, before: Option<&Value>) -> Vec<Value> {
    let changes = policy_changes(world.kubectl(), object);
    let Some(before) = before else {
        return changes;
    };
    let stored = stored(world.kubectl(), object).expect("stored");
    changes
        .into_iter()
        .filter(|op| {
            let pointer = op["path"].as_str().unwrap_or_default();
            let now = stored.pointer(pointer);
            // Kept as it was by the three-way merge: not the policy's.
            !(now.is_some() && before.pointer(pointer) == now)
        })
        .collect()
}

/// The warning lines kubectl printed for `object` (`... Kind ns/name: ...`).
fn cluster_warnings(printed: &Printed, object: &Value) -> usize {
    let needle = format!("{}:", key(object));
    printed
        .warnings()
        .iter()
        .filter(|w| w.contains(&needle))
        .count()
}

struct Step {
    scenario: &'static str,
    file: &'static str,
    objects: Vec<Value>,
    /// Scan with a dump of the cluster before (else without --cluster).
    with_dump: bool,
}

/// Scans and applies one step; returns its differences.
fn run_step(world: &World, tools: &Tools, step: &Step) -> Vec<Difference> {
    let started = Instant::now();
    progress(format!(
        "parity: {} ({} objects, {})",
        step.scenario,
        step.objects.len(),
        if step.with_dump {
            "scanner with --cluster"
        } else {
            "scanner without --cluster"
        }
    ));
    let manifest = tools.dir.path().join(step.file);
    std::fs::write(&manifest, cluster_e2e::objects::to_yaml(&step.objects)).expect("manifest");
    let dump_path = tools
        .dir
        .path()
        .join(format!("{}.dump.yaml", step.scenario));
    dump(world, &step.objects, &dump_path);
    let before: BTreeMap<String, Value> = {
        let text = std::fs::read_to_string(&dump_path).unwrap();
        documents(&text)
            .into_iter()
            .flat_map(|list| list["items"].as_array().cloned().unwrap_or_default())
            .map(|o| (key(&o), o))
            .collect()
    };
    let scanned = scan(
        tools,
        &manifest,
        step.with_dump.then_some(dump_path.as_path()),
        step.objects.len(),
    );

    let kubectl = world.kubectl();
    let printed = kubectl.print(&["apply", "-f", manifest.to_str().unwrap()]);
    progress(format!("{printed}"));
    let results = printed.results();
    let errors = printed.errors();

    let mut differences: Vec<Difference> = Vec::new();
    let mut push = |aspect: &'static str, object: &Value, detail: String| {
        differences.push(Difference {
            scenario: step.scenario,
            aspect,
            kind: kind(object).to_string(),
            detail,
            objects: vec![key(object)],
        })
    };
    let mut tally: BTreeMap<String, usize> = BTreeMap::new();
    for (index, object) in step.objects.iter().enumerate() {
        let (scanner_verdict, scanner_warnings, operation) = &scanned.results[index];
        let wanted = kubectl_name(object);
        let line = results.iter().find(|(n, _)| *n == wanted);
        // kubectl names the object in a webhook's or a validation's
        // refusal; NamespaceLifecycle's names only the namespace.
        let missing_namespace = object["metadata"]["namespace"]
            .as_str()
            .map(|ns| format!("namespaces \"{ns}\" not found"));
        let error = errors.iter().find(|e| {
            e.contains(name(object)) || missing_namespace.as_ref().is_some_and(|m| e.contains(m))
        });
        let was = before.get(&key(object));
        let namespace_missing = line.is_none()
            && error.is_some_and(|e| missing_namespace.as_ref().is_some_and(|m| e.contains(m)));
        let cluster_verdict = if line.is_none() {
            assert!(
                error.is_some(),
                "{}: neither a result nor an error in {printed}",
                key(object)
            );
            if was.is_none() {
                assert!(
                    stored(kubectl, object).is_none(),
                    "{} refused yet stored",
                    key(object)
                );
            }
            Verdict::Refused
        } else if cluster_changes(world, object, was).is_empty() {
            Verdict::Accepted
        } else {
            Verdict::Mutated
        };
        *tally
            .entry(format!(
                "scanner {} / API server {}",
                scanner_verdict.word(),
                cluster_verdict.word()
            ))
            .or_default() += 1;
        if *scanner_verdict != cluster_verdict {
            push(
                "verdict",
                object,
                format!(
                    "scanner {} ({operation}), API server {}{}",
                    scanner_verdict.word(),
                    cluster_verdict.word(),
                    if namespace_missing {
                        " (namespace not found)"
                    } else {
                        ""
                    }
                ),
            );
        }
        let sent_to_policy = rules_match(object) && !namespace_missing;
        if !sent_to_policy {
            push(
                "seen",
                object,
                format!(
                    "scanner judged it ({}); the API server never sent it to the policy{}",
                    scanner_verdict.word(),
                    if namespace_missing {
                        " (refused before the webhooks)"
                    } else if kind(object).ends_with("WebhookConfiguration") {
                        " (a webhook configuration)"
                    } else {
                        " (not in its webhook rules)"
                    }
                ),
            );
        }
        let on_cluster = cluster_warnings(&printed, object);
        if *scanner_warnings != on_cluster {
            push(
                "warnings",
                object,
                format!("scanner {scanner_warnings} warning(s), kubectl {on_cluster}"),
            );
        }
        if cluster_verdict != Verdict::Refused && *scanner_verdict != Verdict::Refused {
            let live = stored(kubectl, object).expect("stored");
            let mut paths = Vec::new();
            let mut fixed = scanned.fixed[index].clone();
            // --fix does not write a namespace it assumed.
            if let Some(meta) = fixed["metadata"].as_object_mut() {
                meta.remove("namespace");
            }
            written_but_not_stored(&fixed, &live, "", &mut paths);
            for path in paths {
                push("stored vs --fix", object, path);
            }
        }
    }
    progress(format!("parity: {} verdicts: {tally:?}", step.scenario));
    progress(format!(
        "parity: {} done in {:.1} s, {} difference(s)",
        step.scenario,
        started.elapsed().as_secs_f64(),
        differences.len()
    ));
    differences
}

/// Rows with the same scenario, aspect, kind and detail merged.
fn table(differences: Vec<Difference>) -> Vec<Difference> {
    let mut merged: BTreeMap<(&'static str, &'static str, String, String), Vec<String>> =
        BTreeMap::new();
    for d in differences {
        merged
            .entry((d.scenario, d.aspect, d.kind, d.detail))
            .or_default()
            .extend(d.objects);
    }
    merged
        .into_iter()
        .map(|((scenario, aspect, kind, detail), objects)| Difference {
            scenario,
            aspect,
            kind,
            detail,
            objects,
        })
        .collect()
}

fn meshed_namespace(name: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": name, "annotations": {"linkerd.io/inject": "enabled"}},
    })
}

fn web_deployment(namespace: Option<&str>, name: &str) -> Value {
    let mut deployment = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{
                    "name": "web", "image": "nginx:1.27",
                    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                }]},
            },
        },
    });
    if let Some(ns) = namespace {
        deployment["metadata"]["namespace"] = json!(ns);
    }
    deployment
}

/// One expected row: (scenario, aspect, kind, detail, number of objects,
/// why the difference stays).
type Expected = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    usize,
    &'static str,
);

const NOT_IN_RULES: &str = "the policy's webhook rules (policy.yaml) do not match this kind: the API server never sends it, the scanner judges every object";
const WEBHOOK_CONFIGURATIONS: &str = "the API server never sends ValidatingWebhookConfigurations or MutatingWebhookConfigurations to admission webhooks, whatever the rules say";
const OMITEMPTY: &str = "the API server drops an empty value of an omitempty field (\"\" or 0) or stores null as {}; the same happens without the policy (it is in the manifest as Linkerd wrote it)";

/// What the webhook rules never send the policy, in each Linkerd install:
/// 34 of the 39 objects of the default install, 34 of the 42 of `--ha`.
fn unseen_in_a_linkerd_install(
    scenario: &'static str,
    injector_webhook: &'static str,
) -> Vec<Expected> {
    let unseen = |kind, count| {
        (scenario, "seen", kind, "scanner judged it (accepted); the API server never sent it to the policy (not in its webhook rules)", count, NOT_IN_RULES)
    };
    vec![
        unseen("ClusterRole", 5),
        unseen("ClusterRoleBinding", 5),
        unseen("ConfigMap", 2),
        (scenario, "seen", "MutatingWebhookConfiguration", injector_webhook, 1, WEBHOOK_CONFIGURATIONS),
        unseen("Role", 3),
        unseen("RoleBinding", 2),
        unseen("Secret", 2),
        unseen("Service", 8),
        unseen("ServiceAccount", 4),
        (scenario, "seen", "ValidatingWebhookConfiguration", "scanner judged it (accepted); the API server never sent it to the policy (a webhook configuration)", 2, WEBHOOK_CONFIGURATIONS),
    ]
}

const WEBHOOK_ACCEPTED: &str = "scanner judged it (accepted); the API server never sent it to the policy (a webhook configuration)";
const WEBHOOK_REFUSED: &str = "scanner judged it (refused); the API server never sent it to the policy (a webhook configuration)";

/// Linkerd's manifests as Linkerd wrote them, stored by the API server
/// without the empty values (with or without the policy).
fn omitempty_in_ha(scenario: &'static str) -> Vec<Expected> {
    vec![
        (
            scenario,
            "stored vs --fix",
            "Deployment",
            "spec.template.spec.containers[2].resources (null written, {} stored)",
            1,
            OMITEMPTY,
        ),
        (
            scenario,
            "stored vs --fix",
            "Deployment",
            "spec.template.spec.initContainers[1].startupProbe.initialDelaySeconds (absent)",
            2,
            OMITEMPTY,
        ),
        (
            scenario,
            "stored vs --fix",
            "MutatingWebhookConfiguration",
            "webhooks[0].objectSelector (null written, {} stored)",
            1,
            OMITEMPTY,
        ),
    ]
}

/// Every difference between the scanner and the API server, with its
/// reason. Scenarios 2 and 5 (a meshed application, its Namespace first)
/// agree on everything.
fn expected() -> Vec<Expected> {
    let mut rows: Vec<Expected> = Vec::new();
    let crb_api_group: fn(&'static str) -> Expected = |scenario| {
        (
            scenario,
            "stored vs --fix",
            "ClusterRoleBinding",
            "subjects[0].apiGroup (absent)",
            1,
            OMITEMPTY,
        )
    };
    // 1: install --ha onto an empty cluster.
    rows.extend(unseen_in_a_linkerd_install(
        "1 install --ha",
        WEBHOOK_ACCEPTED,
    ));
    rows.push(crb_api_group("1 install --ha"));
    rows.extend(omitempty_in_ha("1 install --ha"));
    // 3: a Deployment listed before its Namespace.
    rows.push(("3 Deployment before its Namespace", "seen", "Deployment", "scanner judged it (accepted); the API server never sent it to the policy (refused before the webhooks)", 1,
        "the API server refuses an object whose namespace does not exist (NamespaceLifecycle admission plugin) before any webhook runs"));
    rows.push(("3 Deployment before its Namespace", "verdict", "Deployment", "scanner accepted (CREATE), API server refused (namespace not found)", 1,
        "SCANNER TO FIX: it judges the object as if the namespace existed (lookup failed, so: not meshed) and accepts it; kubectl apply gets NotFound for it"));
    rows.push(("3 Deployment before its Namespace", "warnings", "Deployment", "scanner 1 warning(s), kubectl 0", 1,
        "the scanner's namespace-not-found warning; the API server refuses the object instead (see the verdict row)"));
    // 4: a Deployment in `default`, scanned without --cluster.
    rows.push(("4 default namespace, no --cluster", "warnings", "Deployment", "scanner 1 warning(s), kubectl 0", 1,
        "SCANNER TO FIX: without --cluster it knows no namespace, not even default (a real cluster always has default, kube-system, kube-public, kube-node-lease), and warns that \"default\" does not exist"));
    // 6: the default install.
    rows.extend(unseen_in_a_linkerd_install(
        "6 default install",
        WEBHOOK_REFUSED,
    ));
    rows.push(crb_api_group("6 default install"));
    rows.push(("6 default install", "verdict", "MutatingWebhookConfiguration", "scanner refused (CREATE), API server accepted", 1,
        "injectorWebhook (failurePolicy Ignore) can only act in background audit: the API server never sends webhook configurations to webhooks, so it stores the object the scanner refuses"));
    // 7: `upgrade --ha` over the default install (UPDATEs, three-way merge).
    rows.extend(unseen_in_a_linkerd_install(
        "7 upgrade --ha over it",
        WEBHOOK_ACCEPTED,
    ));
    rows.push(crb_api_group("7 upgrade --ha over it"));
    rows.extend(omitempty_in_ha("7 upgrade --ha over it"));
    rows
}

#[test]
fn scanner_parity_with_the_api_server() {
    let started = Instant::now();
    let tools = setup();
    let (_, ha) = linkerd_fixture("install_ha_output.golden");
    let (_, default) = linkerd_fixture("install_default.golden");
    let mut differences = Vec::new();

    // World 1: an empty cluster.
    {
        let world = World::start(WorldOptions::default());
        for step in [
            Step {
                scenario: "1 install --ha",
                file: "install-ha.yaml",
                objects: ha.clone(),
                with_dump: true,
            },
            Step {
                scenario: "2 meshed app",
                file: "shop.yaml",
                objects: vec![
                    meshed_namespace("shop"),
                    web_deployment(Some("shop"), "web"),
                ],
                with_dump: true,
            },
            Step {
                scenario: "3 Deployment before its Namespace",
                file: "late.yaml",
                objects: vec![
                    web_deployment(Some("late"), "web"),
                    meshed_namespace("late"),
                ],
                with_dump: true,
            },
            Step {
                scenario: "4 default namespace, no --cluster",
                file: "plain.yaml",
                objects: vec![web_deployment(None, "plain")],
                with_dump: false,
            },
            Step {
                scenario: "5 meshed app, no --cluster",
                file: "shop2.yaml",
                objects: vec![
                    meshed_namespace("shop2"),
                    web_deployment(Some("shop2"), "web"),
                ],
                with_dump: false,
            },
        ] {
            differences.extend(run_step(&world, &tools, &step));
        }
    }
    // World 2: the default install, then `upgrade --ha` over it.
    {
        let world = World::start(WorldOptions::default());
        for step in [
            Step {
                scenario: "6 default install",
                file: "install-default.yaml",
                objects: default.clone(),
                with_dump: true,
            },
            Step {
                scenario: "7 upgrade --ha over it",
                file: "upgrade-ha.yaml",
                objects: ha.clone(),
                with_dump: true,
            },
        ] {
            differences.extend(run_step(&world, &tools, &step));
        }
    }

    let rows = table(differences);
    let mut report = String::from(
        "| scenario | aspect | kind | difference | objects |\n| --- | --- | --- | --- | --- |\n",
    );
    let mut per_scenario: BTreeMap<&str, usize> = BTreeMap::new();
    for row in &rows {
        *per_scenario.entry(row.scenario).or_default() += row.objects.len();
        report.push_str(&format!(
            "| {} | {} | {} | {} | {} ({}) |\n",
            row.scenario,
            row.aspect,
            row.kind,
            row.detail,
            row.objects.len(),
            row.objects.join(", ")
        ));
    }
    progress(format!("differences:\n{report}"));
    progress(format!("per scenario (objects): {per_scenario:?}"));
    progress(format!(
        "parity test took {:.1} s",
        started.elapsed().as_secs_f64()
    ));

    let found: Vec<(&str, &str, &str, &str, usize)> = rows
        .iter()
        .map(|r| {
            (
                r.scenario,
                r.aspect,
                r.kind.as_str(),
                r.detail.as_str(),
                r.objects.len(),
            )
        })
        .collect();
    let mut wanted: Vec<(&str, &str, &str, &str, usize)> = expected()
        .iter()
        .map(|(s, a, k, d, n, _reason)| (*s, *a, *k, *d, *n))
        .collect();
    wanted.sort();
    let mut reasons = String::new();
    for (s, a, k, d, n, reason) in expected() {
        reasons.push_str(&format!("| {s} | {a} | {k} | {d} | {n} | {reason} |\n"));
    }
    progress(format!(
        "expected differences and their reasons:\n{reasons}"
    ));
    assert_eq!(found, wanted, "the differences changed:\n{report}");
}
