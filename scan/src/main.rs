//! `linkerd-ha-scan`: see `--help`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use linkerd_ha_scan::fix::{fixed_manifests, FixError};
use linkerd_ha_scan::gate::{exit_status, FailOn, EXIT_USAGE};
use linkerd_ha_scan::input::{read_cluster_dump, read_manifests, InputError};
use linkerd_ha_scan::output::{render, render_text, Context, Format};
use linkerd_ha_scan::scan::{in_user_words, scan, Summary};
use linkerd_ha_scan::settings::{self, rule_actions, SettingsError};
use policy_harness::{Cluster, HarnessError, LoadOptions, PolicyModule};
use serde_json::{json, Value};

/// How every compiled WebAssembly module starts.
const WASM_MAGIC: &[u8] = b"\0asm";

/// The module `make build` writes, relative to a checkout.
const BUILT_MODULE: &str = "target/wasm32-wasip1/release/linkerd_ha_policy.wasm";

#[derive(Debug, Parser)]
#[command(
    name = "linkerd-ha-scan",
    version,
    about = "Run the linkerd-ha-policy module over Kubernetes manifests, as `kubectl apply` would send them",
    long_about = "Run the linkerd-ha-policy Kubewarden module over Kubernetes manifests, as \
`kubectl apply -f` would have the API server send them: object by object, in file order, each \
judged against the cluster as it is then (what --cluster holds, plus the objects applied before \
it). An object the cluster holds already is an UPDATE, with the stored one as its old object, so \
`linkerd upgrade --ha | linkerd-ha-scan --cluster current.yaml -` shows what the upgrade would do.\n\n\
The module runs on wasmtime, as Kubewarden's policy-server runs it; its lookups (namespaces, \
disruption budgets, nodes) are answered from that cluster.",
    after_help = "Exit status:\n  \
0  nothing was rejected (or what --fail-on names did not happen)\n  \
1  something was rejected (or warned about, or changed: --fail-on)\n  \
2  usage or input error: a missing file, paths that hold no Kubernetes object (unless --allow-empty), settings the policy refuses, a module that is not the policy; or documents that cannot be read (YAML that does not parse, unrendered templates): each is named and the rest is still judged and reported, but the status is 2\n  \
3  the policy failed on an object (trapped, timed out, answered garbage)"
)]
struct Cli {
    /// Manifests to apply, in order: files, folders (recursively: *.yaml,
    /// *.yml, *.json, in path order), or - for standard input. Helm and
    /// kustomize output and `kind: List` documents are read as they come.
    /// A document that cannot be read is named on standard error and the
    /// others are judged as if it were not there; the exit status is then 2.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,

    /// What the cluster holds before the manifests are applied: the output
    /// of `kubectl get -A -o yaml` (any manifest of existing objects works).
    /// Repeat for several files.
    #[arg(long, value_name = "FILE")]
    cluster: Vec<PathBuf>,

    /// Schedulable nodes the cluster has, where no --cluster dump lists
    /// Nodes (the nodeCapacity and rollout checks count them).
    #[arg(long, value_name = "N")]
    nodes: Option<usize>,

    /// The policy's settings: a YAML file, as under a
    /// ClusterAdmissionPolicy's spec.settings [default: the policy's defaults].
    #[arg(long, short = 's', value_name = "FILE")]
    settings: Option<PathBuf>,

    /// The namespace of namespaced objects that name none, as kubectl's -n.
    #[arg(long, short = 'n', value_name = "NAMESPACE", default_value = "default")]
    namespace: String,

    /// How to write the results to standard output.
    #[arg(long, short = 'o', value_enum, default_value_t = Format::Text)]
    output: Format,

    /// What makes the scan exit with 1: each level includes those before it.
    #[arg(long, value_enum, default_value_t = FailOn::Reject)]
    fail_on: FailOn,

    /// Accept paths that hold no Kubernetes object at all (an empty
    /// folder, empty standard input, only comments or values files): exit
    /// 0 with a 0-objects summary. Without it that is an input error (exit
    /// 2), so that a wrong path in CI does not pass as a clean scan.
    #[arg(long)]
    allow_empty: bool,

    /// Write the manifests to standard output with the policy's changes
    /// applied, in the same order; the text report (each object's verdict,
    /// then the summary line) goes to standard error. Documents the policy
    /// leaves alone come out byte for byte; a changed document is written
    /// anew from its parsed value: its `---` line and the comments before
    /// it stay, but comments inside it are dropped, its keys are sorted
    /// alphabetically, and its indentation, flow style and quoting become
    /// YAML's defaults.
    #[arg(long, conflicts_with = "output")]
    fix: bool,

    /// The policy module [default: target/wasm32-wasip1/release/linkerd_ha_policy.wasm
    /// under the current folder, or under the checkout this scanner was built from].
    #[arg(long, env = "LINKERD_HA_POLICY_MODULE", value_name = "FILE")]
    module: Option<PathBuf>,

    /// Seconds the policy may take for one object, at least 1 (policy-server's
    /// --policy-timeout); past it, the object is a policy failure (exit 3).
    #[arg(long, value_name = "SECONDS", default_value_t = 10, value_parser = timeout_seconds)]
    timeout: u64,
}

/// `--timeout`: whole seconds, at least 1. There is no "no limit": a
/// policy stuck in a loop must fail the job, not hang it.
fn timeout_seconds(value: &str) -> Result<u64, String> {
    match value.parse::<u64>() {
        Ok(0) => Err(
            "the policy needs at least 1 second per object (there is no unlimited timeout)"
                .to_owned(),
        ),
        Ok(seconds) => Ok(seconds),
        Err(error) => Err(format!("not a whole number of seconds: {error}")),
    }
}

/// Why the scan could not run: exit 2.
#[derive(Debug, thiserror::Error)]
enum ScanError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Fix(#[from] FixError),
    #[error("no policy module: build it with `make build`, or name it with --module (looked for {})", .0.join(", "))]
    NoModule(Vec<String>),
    #[error("{path}: not the linkerd-ha-policy module: {reason}")]
    NotThePolicy { path: String, reason: String },
    #[error("the policy refuses the settings{}: {message}", .path.as_deref().map(|p| format!(" in {p}")).unwrap_or_default())]
    SettingsRefused {
        path: Option<String>,
        message: String,
    },
    #[error("--nodes {0}: the --cluster dump lists its own Nodes")]
    NodesTwice(usize),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("linkerd-ha-scan: error: {error}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn run(cli: &Cli) -> Result<u8, ScanError> {
    let settings = settings::load(cli.settings.as_deref())?;
    let manifests = read_manifests(&cli.paths, cli.allow_empty)?;
    let cluster = cluster(&cli.cluster, cli.nodes)?;

    let module_path = module_path(cli.module.as_deref())?;
    let options = LoadOptions {
        timeout: Some(Duration::from_secs(cli.timeout)),
    };
    let mut policy = load_policy(&module_path, cluster, options)?;
    let validation = policy
        .validate_settings(&settings)
        .map_err(|error| not_the_policy(&module_path, &error))?;
    if !validation.valid {
        return Err(ScanError::SettingsRefused {
            path: cli.settings.as_ref().map(|p| p.display().to_string()),
            message: validation.message.unwrap_or_default(),
        });
    }

    let scan = scan(&mut policy, &manifests, &settings, &cli.namespace);
    for note in &scan.notes {
        eprintln!("linkerd-ha-scan: note: {note}");
    }
    let rules = rule_actions(&settings);
    let context = Context {
        rules: &rules,
        fail_on: cli.fail_on,
        version: env!("CARGO_PKG_VERSION"),
    };
    if cli.fix {
        print!("{}", fixed_manifests(&manifests, &scan.results)?);
        eprint!("{}", render_text(&scan));
    } else {
        print!("{}", render(cli.output, &scan, &context));
        if cli.output != Format::Text {
            eprintln!("linkerd-ha-scan: {}", Summary::of(&scan.results));
        }
    }
    // Named last, after the report, so that they end the job's log; each
    // on its line, as every input error.
    for unreadable in &scan.unreadable {
        eprintln!("linkerd-ha-scan: error: {unreadable}");
    }
    if scan.unreadable.is_empty() {
        Ok(exit_status(&scan.results, cli.fail_on))
    } else {
        // An input error outranks every verdict: the scan did not see all
        // of what `kubectl apply` would be given.
        Ok(EXIT_USAGE)
    }
}

/// The cluster before the manifests: the dumps' objects, and `nodes`
/// schedulable Nodes when asked for.
fn cluster(dumps: &[PathBuf], nodes: Option<usize>) -> Result<Cluster, ScanError> {
    let mut cluster = Cluster::default();
    for dump in dumps {
        for object in read_cluster_dump(dump)? {
            cluster.insert(object);
        }
    }
    if let Some(count) = nodes {
        if cluster.list("Node", None).next().is_some() {
            return Err(ScanError::NodesTwice(count));
        }
        for index in 1..=count {
            cluster.insert(node(index));
        }
    }
    Ok(cluster)
}

fn node(index: usize) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": format!("node-{index}"), "labels": {"kubernetes.io/hostname": format!("node-{index}")}},
        "spec": {}
    })
}

/// `--module`, or the module `make build` left in the current folder or in
/// the checkout the scanner was built from.
fn module_path(given: Option<&Path>) -> Result<PathBuf, ScanError> {
    if let Some(path) = given {
        return Ok(path.to_owned());
    }
    let candidates = [
        PathBuf::from(BUILT_MODULE),
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(BUILT_MODULE),
    ];
    candidates
        .iter()
        .find(|path| path.is_file())
        .cloned()
        .ok_or_else(|| {
            ScanError::NoModule(candidates.iter().map(|p| p.display().to_string()).collect())
        })
}

/// Loads the module and checks that it speaks Kubewarden's protocol.
fn load_policy(
    path: &Path,
    cluster: Cluster,
    options: LoadOptions,
) -> Result<PolicyModule, ScanError> {
    let bytes = std::fs::read(path).map_err(|cause| {
        ScanError::Input(InputError::Io {
            path: path.display().to_string(),
            cause,
        })
    })?;
    if !bytes.starts_with(WASM_MAGIC) {
        return Err(ScanError::NotThePolicy {
            path: path.display().to_string(),
            reason: "not a compiled WebAssembly module (a .wasm file, as `make build` writes; \
                     WebAssembly text must be compiled first, e.g. with `wasm-tools parse`)"
                .to_owned(),
        });
    }
    let policy = PolicyModule::from_bytes_with(&bytes, cluster, options)
        .map_err(|error| not_the_policy(path, &error))?;
    match policy.protocol_version() {
        Ok(version) if version == "v1" => {
            // Any Kubewarden policy speaks v1; this one refuses settings it
            // does not know.
            match policy.validate_settings(&json!({"linkerdHaScanProbe": true})) {
                Ok(answer) if !answer.valid => Ok(policy),
                Ok(_) => Err(ScanError::NotThePolicy {
                    path: path.display().to_string(),
                    reason: "it accepts settings linkerd-ha-policy refuses".to_owned(),
                }),
                Err(error) => Err(not_the_policy(path, &error)),
            }
        }
        Ok(version) => Err(ScanError::NotThePolicy {
            path: path.display().to_string(),
            reason: format!("it speaks Kubewarden protocol {version:?}, not \"v1\""),
        }),
        Err(error) => Err(not_the_policy(path, &error)),
    }
}

/// The module failed to load or to answer as the policy: its error on one
/// line (wasmtime's backtraces span several, with the cause on the last).
fn not_the_policy(path: &Path, error: &HarnessError) -> ScanError {
    let reason = in_user_words(error);
    ScanError::NotThePolicy {
        path: path.display().to_string(),
        reason: reason.lines().map(str::trim).collect::<Vec<_>>().join(" "),
    }
}
