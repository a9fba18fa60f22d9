//! What the API server measures: `make bench-cluster` (docs/performance.md,
//! "Behind a real API server"). Not a test and not a gate: figures only.
//!
//! One loopback cluster (cluster/up.sh) and one policy-server 1.35 at a
//! time as its webhook, registered with the webhook configurations
//! Kubewarden's controller writes for policy.yaml's three
//! ClusterAdmissionPolicies (src/policy.rs; the rounds below change no
//! Node, so `clusterwide-linkerd-ha-nodes` is never called and only the
//! other two are measured):
//!
//! 1. our annotated module behind `clusterwide-linkerd-ha-mutating` and
//!    `clusterwide-linkerd-ha-validating`;
//! 2. then, in the same cluster, that policy-server stopped and its
//!    webhook configurations deleted, the do-nothing floor policy
//!    (`floor-policy/`, annotated like load_run.rs annotates it) behind
//!    `clusterwide-floor-mutating` and `clusterwide-floor-validating`:
//!    the same rules, selectors, failurePolicy, timeouts and policies.yml
//!    entries (minus the lookups, which the floor does not make).
//!
//! Under each, ROUNDS times (after one round that is not counted):
//! `kubectl apply -f install_ha_output.golden`, then a namespace annotated
//! `linkerd.io/inject: enabled` with a Deployment, then both deleted (and
//! waited for) before the next round. The API server's
//! `apiserver_admission_webhook_admission_duration_seconds` histogram is
//! read from its /metrics before and after the rounds of each phase; the
//! difference gives, per webhook and type (admit, validating), the calls,
//! the mean (`_sum / _count`) and p50 and p99, interpolated within the
//! buckets as Prometheus' `histogram_quantile` does.
//!
//! Environment as for `make test-cluster`: CLUSTER_BIN, KUBECTL,
//! POLICY_SERVER, POLICY_WASM; FLOOR_WASM (the optimised floor module);
//! ROUNDS (20).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use cluster_e2e::objects::to_yaml;
use cluster_e2e::policy::{cluster_admission_policies, policies_file, webhook_configuration};
use cluster_e2e::world::{linkerd_fixture, serve_policies, MUTATING, VALIDATING};
use cluster_e2e::{progress, project, wait_until, Kubectl, World, WorldOptions};
use policy_release::annotate::{annotate_bytes, release_metadata};
use policy_release::engine::cluster_policy_id;
use policy_release::metadata::ANNOTATION_TITLE;
use policy_release::project::read_module;

const METRIC: &str = "apiserver_admission_webhook_admission_duration_seconds";
const FLOOR_MUTATING: &str = "clusterwide-floor-mutating";
const FLOOR_VALIDATING: &str = "clusterwide-floor-validating";

/// One webhook's histogram: cumulative bucket counts by upper bound, the
/// sum of seconds and the count, summed over the other labels (operation,
/// rejected).
#[derive(Debug, Clone, Default)]
struct Histogram {
    buckets: BTreeMap<u64, f64>, // le in nanoseconds (+Inf as u64::MAX)
    sum: f64,
    count: f64,
}

/// (webhook name, type) -> histogram.
type Snapshot = BTreeMap<(String, String), Histogram>;

/// A row's mean, p50 and p99 in seconds.
type Figures = (f64, Option<f64>, Option<f64>);

fn labels(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = text;
    while let Some((key, after)) = rest.split_once("=\"") {
        let Some(end) = after.find('"') else { break };
        out.insert(
            key.trim_start_matches(',').trim().to_string(),
            after[..end].to_string(),
        );
        rest = &after[end + 1..];
    }
    out
}

fn scrape(kubectl: &Kubectl) -> Snapshot {
    let text = kubectl.run(&["get", "--raw", "/metrics"]).ok().stdout;
    let mut snapshot = Snapshot::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(METRIC) else {
            continue;
        };
        let (series, rest) = match rest.split_once('{') {
            Some((series, rest)) => (series, rest),
            None => continue,
        };
        let Some((label_text, value)) = rest.rsplit_once('}') else {
            continue;
        };
        let value: f64 = value.trim().parse().unwrap_or(0.0);
        let labels = labels(label_text);
        let key = (
            labels.get("name").cloned().unwrap_or_default(),
            labels.get("type").cloned().unwrap_or_default(),
        );
        let entry = snapshot.entry(key).or_default();
        match series {
            "_bucket" => {
                let le = labels.get("le").map(String::as_str).unwrap_or("+Inf");
                let bound = if le == "+Inf" {
                    u64::MAX
                } else {
                    (le.parse::<f64>().unwrap_or(f64::MAX) * 1e9).round() as u64
                };
                *entry.buckets.entry(bound).or_default() += value;
            }
            "_sum" => entry.sum += value,
            "_count" => entry.count += value,
            _ => {}
        }
    }
    snapshot
}

fn difference(after: &Histogram, before: Option<&Histogram>) -> Histogram {
    let empty = Histogram::default();
    let before = before.unwrap_or(&empty);
    Histogram {
        buckets: after
            .buckets
            .iter()
            .map(|(le, n)| (*le, n - before.buckets.get(le).copied().unwrap_or(0.0)))
            .collect(),
        sum: after.sum - before.sum,
        count: after.count - before.count,
    }
}

/// Prometheus' `histogram_quantile` (promql/quantile.go, `bucketQuantile`):
/// rank = q * total; the first bucket whose cumulative count reaches the
/// rank; linear interpolation between the previous bucket's upper bound
/// (0 for the first bucket) and this one's; in the +Inf bucket, the
/// highest finite upper bound. In seconds.
fn histogram_quantile(q: f64, histogram: &Histogram) -> Option<f64> {
    let buckets: Vec<(f64, f64)> = histogram
        .buckets
        .iter()
        .map(|(le, n)| {
            let bound = if *le == u64::MAX {
                f64::INFINITY
            } else {
                *le as f64 / 1e9
            };
            (bound, *n)
        })
        .collect();
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let index = buckets.iter().position(|(_, n)| *n >= rank)?;
    if buckets[index].0.is_infinite() {
        return Some(buckets[buckets.len().saturating_sub(2)].0);
    }
    let (start, below) = if index == 0 {
        (0.0, 0.0)
    } else {
        buckets[index - 1]
    };
    let (end, count) = buckets[index];
    let in_bucket = count - below;
    if in_bucket <= 0.0 {
        return Some(end);
    }
    Some(start + (end - start) * (rank - below) / in_bucket)
}

fn env_path(name: &str) -> PathBuf {
    PathBuf::from(
        std::env::var_os(name).unwrap_or_else(|| {
            panic!("{name} is not set: run `make bench-cluster`, which sets it")
        }),
    )
}

fn meshed_application(namespace: &str) -> Vec<Value> {
    vec![
        json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": namespace, "annotations": {"linkerd.io/inject": "enabled"}},
        }),
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": namespace},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{
                        "name": "web", "image": "nginx:1.27",
                        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                    }]},
                },
            },
        }),
    ]
}

/// One round: the HA install, the meshed application, then both deleted
/// in one kubectl call and waited for (the namespace controller empties
/// the two namespaces side by side). Returns (seconds applying, seconds
/// deleting).
fn round(
    kubectl: &Kubectl,
    install: &str,
    dir: &std::path::Path,
    label: &str,
    n: usize,
) -> (f64, f64) {
    let started = Instant::now();
    let namespace = format!("shop-{label}-{n}");
    let app = dir.join(format!("{namespace}.yaml"));
    std::fs::write(&app, to_yaml(&meshed_application(&namespace))).expect("the application");
    let app = app.to_str().expect("UTF-8 path");
    kubectl.run(&["apply", "-f", install]).ok();
    kubectl.run(&["apply", "-f", app]).ok();
    let applied = started.elapsed().as_secs_f64();
    kubectl
        .run(&[
            "delete",
            "--wait=true",
            "--timeout=120s",
            "--ignore-not-found",
            "-f",
            app,
            "-f",
            install,
        ])
        .ok();
    (applied, started.elapsed().as_secs_f64() - applied)
}

struct Phase {
    label: &'static str,
    histograms: Snapshot,
    seconds: Vec<f64>,
}

fn run_phase(
    kubectl: &Kubectl,
    install: &str,
    dir: &std::path::Path,
    label: &'static str,
    webhooks: &[&str],
    rounds: usize,
) -> Phase {
    progress(format!("{label}: warm-up round (not counted)"));
    round(kubectl, install, dir, label, 0);
    let before = scrape(kubectl);
    let mut seconds = Vec::new();
    for n in 1..=rounds {
        let (apply, delete) = round(kubectl, install, dir, label, n);
        progress(format!(
            "{label}: round {n}/{rounds}: applied in {apply:.1} s, deleted in {delete:.1} s"
        ));
        seconds.push(apply + delete);
    }
    let after = scrape(kubectl);
    let histograms = after
        .iter()
        .filter(|((name, _), _)| {
            webhooks
                .iter()
                .any(|w| name == &format!("{w}.kubewarden.admission"))
        })
        .map(|(key, h)| (key.clone(), difference(h, before.get(key))))
        .collect();
    Phase {
        label,
        histograms,
        seconds,
    }
}

fn ms(seconds: Option<f64>) -> String {
    seconds.map_or("-".into(), |s| format!("{:.1}", s * 1e3))
}

fn main() {
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(20);
    let floor_wasm = env_path("FLOOR_WASM");
    let started = Instant::now();

    // Phase 1: our module, as every cluster test serves it.
    let mut world = World::start(WorldOptions::default());
    let kubectl = world.kubectl().clone();
    let (install_path, _) = linkerd_fixture("install_ha_output.golden");
    let install = install_path.to_str().expect("UTF-8 path").to_string();
    let dir = world.dir().to_path_buf();
    let policy = run_phase(
        &kubectl,
        &install,
        &dir,
        "policy",
        &[MUTATING, VALIDATING],
        rounds,
    );

    // Phase 2: the floor in the same cluster, through a new policy-server.
    progress(
        "floor: deleting the policy's webhook configurations, starting the floor's policy-server",
    );
    for configuration in &world.webhooks {
        let kind = configuration["kind"].as_str().unwrap_or_default();
        let name = configuration["metadata"]["name"]
            .as_str()
            .unwrap_or_default();
        kubectl.run(&["delete", &kind.to_lowercase(), name]).ok();
    }
    let project = project();
    let mut floor_metadata = release_metadata(&project).unwrap_or_else(|e| panic!("{e}"));
    floor_metadata.mutating = false;
    floor_metadata.context_aware_resources.clear();
    floor_metadata.host_capabilities = None;
    if let Some(annotations) = floor_metadata.annotations.as_mut() {
        annotations.insert(ANNOTATION_TITLE.into(), "floor-policy".into());
    }
    let floor_built = read_module(&floor_wasm).unwrap_or_else(|e| {
        panic!("{e} (`make bench-cluster` builds and optimises the floor policy)")
    });
    let floor = annotate_bytes(&floor_built, &floor_metadata, "floor module")
        .unwrap_or_else(|e| panic!("{e}"));
    let floor_path = dir.join("floor-policy.wasm");
    std::fs::write(&floor_path, floor).expect("write the annotated floor");

    // policy.yaml's three policies, renamed linkerd-ha -> floor; the same
    // entries and webhook configurations otherwise, without the lookups.
    let renamed: Vec<Value> = cluster_admission_policies()
        .into_iter()
        .map(|mut p| {
            let name = p["metadata"]["name"].as_str().unwrap_or_default();
            p["metadata"]["name"] = json!(name.replace("linkerd-ha", "floor"));
            p
        })
        .collect();
    let ours = policies_file(&format!("file://{}", floor_path.display()), &[]);
    let mut floor_policies = serde_json::Map::new();
    for (id, mut entry) in ours.as_object().cloned().unwrap_or_default() {
        let id = id.replace("linkerd-ha", "floor");
        entry["namespacedName"]["Name"] = json!(id.trim_start_matches("clusterwide-"));
        entry
            .as_object_mut()
            .map(|e| e.remove("contextAwareResources"));
        floor_policies.insert(id, entry);
    }
    let server = serve_policies(
        &world.tools,
        &world.pki,
        dir.join("policy-server.kubeconfig"),
        Value::Object(floor_policies),
    );
    // Our policy-server is stopped as it is dropped here.
    world.server = server;
    let base_url = world.server.base_url();
    let bundle = world.pki.ca_bundle();
    for policy in &renamed {
        assert!(cluster_policy_id(policy).starts_with("clusterwide-floor-"));
        let configuration = webhook_configuration(policy, &base_url, &bundle);
        kubectl
            .run_with_stdin(
                &["create", "-f", "-"],
                Some(&serde_json::to_string(&configuration).expect("JSON")),
            )
            .ok();
    }
    // The API server picks them up from an informer: wait until a server
    // dry run of a pod has called both floor webhooks.
    let probe = serde_json::to_string(&json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "webhook-probe", "namespace": "default"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }))
    .expect("JSON");
    wait_until(
        "the API server to call the floor's webhooks",
        Duration::from_secs(60),
        || {
            kubectl
                .run_with_stdin(&["create", "--dry-run=server", "-f", "-"], Some(&probe))
                .ok();
            let seen = scrape(&kubectl);
            let called = |w: &str, t: &str| {
                seen.get(&(format!("{w}.kubewarden.admission"), t.to_string()))
                    .is_some_and(|h| h.count > 0.0)
            };
            if called(FLOOR_MUTATING, "admit") && called(FLOOR_VALIDATING, "validating") {
                Ok(())
            } else {
                Err("not yet called".to_string())
            }
        },
    );
    progress(format!(
        "floor-policy served by policy-server 1.35 at {base_url}, webhooks answering"
    ));
    let floor = run_phase(
        &kubectl,
        &install,
        &dir,
        "floor",
        &[FLOOR_MUTATING, FLOOR_VALIDATING],
        rounds,
    );

    // The table.
    println!(
        "\n{rounds} rounds each (after one uncounted warm-up round): `kubectl apply -f install_ha_output.golden`, \
         a meshed namespace with a 2-replica Deployment, both deleted.\n\
         From kube-apiserver's {METRIC} (after - before); p50/p99 interpolated \
         within the buckets as Prometheus' histogram_quantile does.\n"
    );
    println!("| webhook | type | calls | mean ms | p50 ms | p99 ms |");
    println!("|---|---|---:|---:|---:|---:|");
    let mut by_type: BTreeMap<String, Vec<Figures>> = BTreeMap::new();
    for phase in [&policy, &floor] {
        for ((name, kind), h) in &phase.histograms {
            let mean = if h.count > 0.0 { h.sum / h.count } else { 0.0 };
            let p50 = histogram_quantile(0.5, h);
            let p99 = histogram_quantile(0.99, h);
            println!(
                "| {} ({}) | {kind} | {:.0} | {:.2} | {} | {} |",
                name.trim_end_matches(".kubewarden.admission"),
                phase.label,
                h.count,
                mean * 1e3,
                ms(p50),
                ms(p99)
            );
            by_type
                .entry(kind.clone())
                .or_default()
                .push((mean, p50, p99));
        }
    }
    println!("\n| type | mean policy / floor | p50 policy / floor | p99 policy / floor |");
    println!("|---|---:|---:|---:|");
    for (kind, rows) in &by_type {
        if rows.len() != 2 {
            continue;
        }
        let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
            _ => "-".into(),
        };
        println!(
            "| {kind} | {} | {} | {} |",
            ratio(Some(rows[0].0), Some(rows[1].0)),
            ratio(rows[0].1, rows[1].1),
            ratio(rows[0].2, rows[1].2)
        );
    }
    println!("\nbucket counts (cumulative, after - before; le in ms):");
    for phase in [&policy, &floor] {
        for ((name, kind), h) in &phase.histograms {
            let buckets: Vec<String> = h
                .buckets
                .iter()
                .map(|(le, n)| {
                    if *le == u64::MAX {
                        format!("+Inf:{n:.0}")
                    } else {
                        format!("{}:{n:.0}", *le as f64 / 1e6)
                    }
                })
                .collect();
            println!(
                "  {} {kind}: {}",
                name.trim_end_matches(".kubewarden.admission"),
                buckets.join(" ")
            );
        }
        let mut s = phase.seconds.clone();
        s.sort_by(f64::total_cmp);
        if !s.is_empty() {
            println!(
                "  {} rounds: median {:.1} s, max {:.1} s",
                phase.label,
                s[s.len() / 2],
                s[s.len() - 1]
            );
        }
    }
    println!(
        "\ntotal {:.0} s (cluster start, both phases)",
        started.elapsed().as_secs_f64()
    );
}
