//! `load-run`: policy-server 1.35 under load, as a cluster runs it. The
//! annotated policy module and the do-nothing floor policy (`floor-policy/`)
//! are pushed to a registry on loopback and each served by its own
//! policy-server; concurrent clients (1, 8 and 32 by default) send
//! AdmissionReviews for a fixed time. Then two faults: a restart of
//! policy-server mid-run, and a 3 MB request. Prints Markdown tables.
//!
//! Not a test: figures depend on the machine. Build first, then run it:
//!
//! ```text
//! cargo build --release --target wasm32-wasip1 -p linkerd-ha-policy -p floor-policy
//! cargo run -p policy-bench --bin load-run -- [--seconds 10] [--clients 1,8,32]
//! ```
//!
//! Without a cluster every lookup fails at once (policy-server runs with
//! `--ignore-kubernetes-connection-failure`): the policy's lookups cost a
//! failed host call here, not an API-server round trip.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use policy_harness::admission_request;
use policy_release::annotate::{annotate_bytes, release_metadata};
use policy_release::engine::{
    policy_yaml_policies, Binaries, PolicyServer, PolicyServerConfig, Registry,
};
use policy_release::metadata::ANNOTATION_TITLE;
use policy_release::oci::{self, Target};
use policy_release::Project;
use serde_json::{json, Value};

type Failure = Box<dyn std::error::Error + Send + Sync>;

/// The requests the clients cycle through: what a cluster's writes look like
/// to this policy (mutated workloads and namespaces, plain accepted pods, a
/// critical component whose lookups run).
const OBJECTS: &[&str] = &[
    "deployment-meshed",
    "pod-inject-disabled",
    "namespace-kube-system",
    "destination-ha",
    "deployment-meshed-evictable",
    "pod-inject-true",
];

struct Options {
    seconds: u64,
    clients: Vec<usize>,
    policy: PathBuf,
    floor: PathBuf,
}

fn target_dir(project: &Project) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| project.root.join("target"))
}

fn options(project: &Project) -> Result<Options, Failure> {
    let wasm_dir = target_dir(project).join("wasm32-wasip1/release");
    let mut options = Options {
        seconds: 10,
        clients: vec![1, 8, 32],
        policy: project.module_path(),
        floor: wasm_dir.join("floor_policy.wasm"),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--seconds" => options.seconds = value()?.parse()?,
            "--clients" => {
                options.clients = value()?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?
            }
            "--policy" => options.policy = value()?.into(),
            "--floor" => options.floor = value()?.into(),
            other => return Err(format!("unknown option {other}").into()),
        }
    }
    Ok(options)
}

fn read(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| {
        format!(
            "{}: {e} (build it: cargo build --release --target wasm32-wasip1 -p linkerd-ha-policy -p floor-policy)",
            path.display()
        )
        .into()
    })
}

fn object(project: &Project, name: &str) -> Result<Value, Failure> {
    let path = project
        .root
        .join("test_data/kubewarden/objects")
        .join(format!("{name}.yaml"));
    Ok(serde_yaml_ng::from_str(&std::fs::read_to_string(&path)?)?)
}

fn review(object: &Value) -> Value {
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": admission_request(object, "CREATE"),
    })
}

/// One served policy: its policy id and the server.
struct Served {
    label: &'static str,
    id: String,
    server: PolicyServer,
}

#[derive(Default)]
struct Measured {
    latencies: Vec<Duration>,
    errors: u64,
    elapsed: Duration,
    peak_rss_kib: u64,
}

impl Measured {
    fn percentile(&self, fraction: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let index = ((self.latencies.len() as f64 - 1.0) * fraction).round() as usize;
        self.latencies[index.min(self.latencies.len() - 1)]
    }

    fn rps(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }
}

fn millis(duration: Duration) -> String {
    format!("{:.2}", duration.as_secs_f64() * 1000.0)
}

/// Sends one review; Ok(latency) for a 200 with a well-formed response.
async fn send(client: &reqwest::Client, url: &str, body: &str) -> Result<Duration, String> {
    let started = Instant::now();
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let bytes = response.bytes().await.map_err(|e| e.to_string())?;
    let elapsed = started.elapsed();
    if !status.is_success() {
        return Err(format!("HTTP {status}"));
    }
    let answer: Value = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    if !answer["response"]["allowed"].is_boolean() {
        return Err(format!("no verdict in {answer}"));
    }
    Ok(elapsed)
}

/// `clients` loops sending `bodies` in turn for `duration`; samples the
/// server's RSS meanwhile. `fault` runs once, halfway.
fn load(
    runtime: &tokio::runtime::Runtime,
    served: &mut Served,
    bodies: &Arc<Vec<String>>,
    clients: usize,
    duration: Duration,
    fault: Option<&mut dyn FnMut(&mut PolicyServer)>,
) -> Measured {
    let url = format!("{}/validate/{}", served.server.base_url(), served.id);
    let stop = Arc::new(AtomicBool::new(false));
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_else(|e| panic!("HTTP client: {e}"));
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (client, url, bodies, stop, next) = (
                client.clone(),
                url.clone(),
                Arc::clone(bodies),
                Arc::clone(&stop),
                Arc::clone(&next),
            );
            runtime.spawn(async move {
                let mut latencies = Vec::new();
                let mut errors = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let index = next.fetch_add(1, Ordering::Relaxed) as usize % bodies.len();
                    match send(&client, &url, &bodies[index]).await {
                        Ok(latency) => latencies.push(latency),
                        Err(_) => {
                            errors += 1;
                            // A down server refuses at once: do not spin.
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut peak_rss_kib = 0;
    let mut fault = fault;
    while started.elapsed() < duration {
        std::thread::sleep(Duration::from_millis(100));
        peak_rss_kib = peak_rss_kib.max(served.server.rss_kib().unwrap_or(0));
        if started.elapsed() >= duration / 2 {
            if let Some(fault) = fault.take() {
                fault(&mut served.server);
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut measured = Measured {
        peak_rss_kib,
        ..Measured::default()
    };
    for task in tasks {
        let (latencies, errors) = runtime
            .block_on(task)
            .unwrap_or_else(|e| panic!("client task: {e}"));
        measured.latencies.extend(latencies);
        measured.errors += errors;
    }
    measured.elapsed = started.elapsed();
    measured.latencies.sort();
    measured
}

fn serve(
    binaries: &Binaries,
    registry: &Registry,
    label: &'static str,
    id: &str,
    entry: Value,
) -> Result<Served, Failure> {
    let server = PolicyServer::start(PolicyServerConfig {
        binary: binaries.policy_server.clone(),
        policies: json!({ id: entry }),
        insecure_sources: vec![registry.address.clone()],
        env: Vec::new(),
        workers: None,
    })?;
    Ok(Served {
        label,
        id: id.to_string(),
        server,
    })
}

/// A Deployment whose JSON is about `bytes` long: one large annotation, as
/// a `kubectl.kubernetes.io/last-applied-configuration` can be.
fn large_review(project: &Project, bytes: usize) -> Result<String, Failure> {
    let mut deployment = object(project, "deployment-meshed")?;
    deployment["metadata"]["annotations"] = json!({ "example.com/large": "x".repeat(bytes) });
    Ok(review(&deployment).to_string())
}

fn main() -> Result<(), Failure> {
    oci::install_crypto_provider();
    let project = Project::load(Project::default_root())?;
    let options = options(&project)?;
    let binaries = Binaries::locate()?;
    let registry = Registry::start()?;
    let target = |repository: &str| Target {
        registry: registry.address.clone(),
        repository: repository.to_string(),
        insecure: true,
        credentials: None,
    };

    // The policy as released, and the floor annotated the same way (a
    // policy-server only loads annotated modules).
    let metadata = release_metadata(&project)?;
    let policy = annotate_bytes(&read(&options.policy)?, &metadata, "policy module")?;
    let mut floor_metadata = metadata.clone();
    floor_metadata.mutating = false;
    floor_metadata.context_aware_resources.clear();
    floor_metadata.host_capabilities = None;
    if let Some(annotations) = floor_metadata.annotations.as_mut() {
        annotations.insert(ANNOTATION_TITLE.into(), "floor-policy".into());
    }
    let floor = annotate_bytes(&read(&options.floor)?, &floor_metadata, "floor module")?;
    let tag = project.tag();
    oci::push(
        &target(&project.repository()),
        &tag,
        &policy,
        "policy module",
    )?;
    oci::push(
        &target("policies/floor-policy"),
        &tag,
        &floor,
        "floor module",
    )?;

    let mutating = policy_yaml_policies(&project)?
        .into_iter()
        .find(|p| p["metadata"]["name"] == "linkerd-ha-mutating")
        .ok_or("policy.yaml has no linkerd-ha-mutating")?;
    let policy_entry = json!({
        "module": format!("registry://{}/{}:{tag}", registry.address, project.repository()),
        "policyMode": "protect",
        "allowedToMutate": true,
        "settings": mutating["spec"]["settings"],
        "contextAwareResources": mutating["spec"]["contextAwareResources"],
        "hostCapabilities": metadata.host_capabilities(),
    });
    let floor_entry = json!({
        "module": format!("registry://{}/policies/floor-policy:{tag}", registry.address),
        "policyMode": "protect",
        "allowedToMutate": false,
        "settings": {},
    });

    let bodies: Arc<Vec<String>> = Arc::new(
        OBJECTS
            .iter()
            .map(|name| object(&project, name).map(|o| review(&o).to_string()))
            .collect::<Result<_, _>>()?,
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let duration = Duration::from_secs(options.seconds);

    println!(
        "policy-server {} on 127.0.0.1, {} s per run, {} cores, requests cycling through {} objects\n",
        policy_release::engine::KUBEWARDEN_VERSION,
        options.seconds,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        OBJECTS.len()
    );
    println!(
        "| policy | clients | requests/s | p50 ms | p99 ms | max ms | errors | peak RSS MiB |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let mut p99s: Vec<(usize, Duration, Duration)> = Vec::new();
    let mut results = Vec::new();
    for (label, id, entry) in [
        (
            "linkerd-ha-policy",
            "clusterwide-linkerd-ha-mutating",
            &policy_entry,
        ),
        ("floor", "clusterwide-floor", &floor_entry),
    ] {
        let mut served = serve(&binaries, &registry, label, id, entry.clone())?;
        // Warm up: the first requests pay instantiation of the worker pool.
        load(
            &runtime,
            &mut served,
            &bodies,
            2,
            Duration::from_secs(1),
            None,
        );
        for &clients in &options.clients {
            let measured = load(&runtime, &mut served, &bodies, clients, duration, None);
            println!(
                "| {} | {clients} | {:.0} | {} | {} | {} | {} | {:.1} |",
                served.label,
                measured.rps(),
                millis(measured.percentile(0.50)),
                millis(measured.percentile(0.99)),
                millis(measured.latencies.last().copied().unwrap_or_default()),
                measured.errors,
                measured.peak_rss_kib as f64 / 1024.0
            );
            results.push((label, clients, measured.percentile(0.99)));
        }
        drop(served);
    }
    for &clients in &options.clients {
        let p99 = |who: &str| {
            results
                .iter()
                .find(|(label, c, _)| *label == who && *c == clients)
                .map(|(_, _, p99)| *p99)
                .unwrap_or_default()
        };
        p99s.push((clients, p99("linkerd-ha-policy"), p99("floor")));
    }
    println!("\n| clients | p99 policy / floor | goal ≤ 1.2x |");
    println!("| ---: | ---: | --- |");
    for (clients, ours, floor) in p99s {
        let ratio = ours.as_secs_f64() / floor.as_secs_f64().max(f64::EPSILON);
        println!(
            "| {clients} | {ratio:.2}x | {} |",
            if ratio <= 1.2 { "met" } else { "missed" }
        );
    }

    println!("\nFaults (linkerd-ha-policy):\n");
    let mut served = serve(
        &binaries,
        &registry,
        "linkerd-ha-policy",
        "clusterwide-linkerd-ha-mutating",
        policy_entry,
    )?;
    let mut downtime = Duration::ZERO;
    let mut restart = |server: &mut PolicyServer| match server.restart() {
        Ok(took) => downtime = took,
        Err(error) => eprintln!("restart failed: {error}"),
    };
    let measured = load(
        &runtime,
        &mut served,
        &bodies,
        8,
        duration,
        Some(&mut restart),
    );
    println!(
        "- restart (SIGKILL, then start on the same port) halfway through {} s with 8 clients: \
         down {} ms until ready again; {} requests answered, {} failed (refused or reset while down), \
         p99 {} ms, max {} ms",
        options.seconds,
        downtime.as_millis(),
        measured.latencies.len(),
        measured.errors,
        millis(measured.percentile(0.99)),
        millis(measured.latencies.last().copied().unwrap_or_default()),
    );
    let client = reqwest::Client::builder().no_proxy().build()?;
    let url = format!("{}/validate/{}", served.server.base_url(), served.id);
    for size in [1_000_000usize, 3_000_000] {
        let body = large_review(&project, size)?;
        let started = Instant::now();
        let answer = runtime.block_on(async {
            let response = client
                .post(&url)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await?;
            let status = response.status();
            let text = response.text().await?;
            Ok::<_, reqwest::Error>((status, text))
        });
        let took = started.elapsed();
        match answer {
            Ok((status, text)) => {
                let verdict: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                let summary = if verdict.is_null() {
                    text.chars().take(120).collect::<String>()
                } else {
                    format!(
                        "allowed={} patch={}",
                        verdict["response"]["allowed"],
                        verdict["response"]["patch"].is_string()
                    )
                };
                println!(
                    "- a {:.1} MB request: HTTP {status} in {} ms: {summary}",
                    body.len() as f64 / 1e6,
                    took.as_millis()
                );
            }
            Err(error) => println!(
                "- a {:.1} MB request: failed after {} ms: {error}",
                body.len() as f64 / 1e6,
                took.as_millis()
            ),
        }
    }
    let alive = runtime.block_on(send(&client, &url, &bodies[0]));
    println!(
        "- after both: the server {}; peak RSS {:.1} MiB",
        if alive.is_ok() {
            "still answers"
        } else {
            "does not answer"
        },
        served.server.rss_kib().unwrap_or(0) as f64 / 1024.0
    );
    Ok(())
}
