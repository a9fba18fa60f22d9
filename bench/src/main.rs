//! `policy-bench`: how fast and how small the built policy module is, next to
//! the floor (a do-nothing policy built with the same SDK) and to its own
//! rules compiled natively. Prints Markdown tables.
//!
//! It builds nothing: build both modules first, then run it with the
//! `bench-host` profile (see the workspace Cargo.toml):
//!
//! ```text
//! cargo build --release --target wasm32-wasip1 -p linkerd-ha-policy -p floor-policy
//! cargo run --profile bench-host -p policy-bench
//! ```
//!
//! Options: `--policy PATH`, `--floor PATH` (the modules), `--quick` (a
//! tenth of the measuring time, for a smoke run; figures get noisier).
//! `--peak-memory` is internal: the peak-memory search runs in a child
//! process, whose stderr is dropped (see [`peak_memories`]).

mod cases;
mod kwctl;
mod native;
mod timing;
mod wasm;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use linkerd_ha_policy::admission;
use serde_json::Value;

use crate::cases::Case;
use crate::native::NativeCluster;
use crate::timing::{micros_per_call, paired_micros_per_call, Budget};
use crate::wasm::WasmModule;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("cannot read {}: {cause}", path.display())]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("cannot load the module: {0}")]
    Load(String),
    #[error("the guest failed: {0}")]
    Guest(String),
    #[error("fixture: {0}")]
    Fixture(String),
    #[error("usage: policy-bench [--policy PATH] [--floor PATH] [--quick] ({0})")]
    Usage(String),
    #[error("the peak-memory search failed: {0}")]
    PeakMemory(String),
    #[error("kwctl: {0}")]
    Kwctl(String),
}

/// The module size the issue sets as the limit.
const SIZE_TARGET: usize = 300 * 1000;

struct Options {
    policy: PathBuf,
    floor: PathBuf,
    budget: Budget,
    /// Only search the peak memory of each case (the child process).
    peak_memory: bool,
    /// Only the module sizes and the `kwctl bench` table.
    kwctl_only: bool,
}

impl Options {
    fn parse() -> Result<Self, BenchError> {
        // Where `make build` puts the modules: $CARGO_TARGET_DIR, or the
        // workspace's target/; $POLICY_WASM names the policy, as for the tests.
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
        let modules = target.join("wasm32-wasip1/release");
        let policy = std::env::var_os("POLICY_WASM")
            .map(PathBuf::from)
            .unwrap_or_else(|| modules.join("linkerd_ha_policy.wasm"));
        let mut options = Self {
            policy,
            floor: modules.join("floor_policy.wasm"),
            budget: Budget {
                per_figure: Duration::from_millis(400),
                batches: 9,
            },
            peak_memory: false,
            kwctl_only: false,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--policy" => options.policy = path_arg(&mut args, "--policy")?,
                "--floor" => options.floor = path_arg(&mut args, "--floor")?,
                "--quick" => options.budget.per_figure = Duration::from_millis(40),
                "--peak-memory" => options.peak_memory = true,
                "--kwctl-only" => options.kwctl_only = true,
                other => return Err(BenchError::Usage(format!("unknown argument {other:?}"))),
            }
        }
        Ok(options)
    }
}

fn path_arg(args: &mut impl Iterator<Item = String>, flag: &str) -> Result<PathBuf, BenchError> {
    args.next()
        .map(PathBuf::from)
        .ok_or_else(|| BenchError::Usage(format!("{flag} needs a path")))
}

fn main() {
    if let Err(error) = run() {
        eprintln!("policy-bench: {error}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), BenchError> {
    let options = Options::parse()?;
    let cluster = Arc::new(cases::cluster()?);
    for path in [&options.policy, &options.floor] {
        if !path.exists() {
            return Err(BenchError::Load(format!(
                "{} is missing: cargo build --release --target wasm32-wasip1 -p linkerd-ha-policy -p floor-policy",
                path.display()
            )));
        }
    }
    let policy = WasmModule::load(&options.policy, Arc::clone(&cluster))?;
    let floor = WasmModule::load(&options.floor, Arc::clone(&cluster))?;
    let cases = cases::representative()?;
    let largest_scaled = [
        (
            "5,000 containers",
            cases::payload(&cases::deployment_with(5000, 2))?,
        ),
        (
            "10,000 annotations",
            cases::payload(&cases::deployment_with(2, 10_000))?,
        ),
    ];
    if options.peak_memory {
        let scaled = largest_scaled.iter().map(|(_, payload)| payload);
        for payload in cases.iter().map(|case| &case.payload).chain(scaled) {
            let policy_peak = policy.peak_memory("validate", payload)?;
            let floor_peak = floor.peak_memory("validate", payload)?;
            println!("{policy_peak} {floor_peak}");
        }
        return Ok(());
    }
    if options.kwctl_only {
        println!("# linkerd-ha-policy under kwctl\n");
        print_sizes(&policy, &floor, &options.policy);
        let verdicts = verdicts(&policy, &cases)?;
        kwctl::table(&cases, &verdicts, &options.policy, &options.floor)?;
        return kwctl::scaling(&options.policy, &options.floor);
    }
    let peaks = peak_memories(&options)?;
    if peaks.len() != cases.len() + largest_scaled.len() {
        return Err(BenchError::PeakMemory(format!(
            "{} figures for {} requests",
            peaks.len(),
            cases.len() + largest_scaled.len()
        )));
    }
    let native = NativeCluster(Arc::clone(&cluster));
    let budget = options.budget;
    // A pair of figures gets the time of two.
    let pair_budget = Budget {
        per_figure: budget.per_figure * 2,
        ..budget
    };

    println!("# linkerd-ha-policy benchmark\n");
    println!(
        "wasmtime (policy-server's engine set-up: epoch interruption, one fresh instance per request), {} logical CPUs, default settings.\n",
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    print_sizes(&policy, &floor, &options.policy);
    let verdicts = verdicts(&policy, &cases)?;
    kwctl::table(&cases, &verdicts, &options.policy, &options.floor)?;
    kwctl::scaling(&options.policy, &options.floor)?;

    println!("## Instantiation (fresh instance and waPC init, no call)\n");
    let policy_init = micros_per_call(budget, || policy.instantiate().map(drop))?;
    let floor_init = micros_per_call(budget, || floor.instantiate().map(drop))?;
    println!("| module | µs |\n| --- | ---: |");
    println!("| policy | {policy_init:.1} |\n| floor | {floor_init:.1} |\n");

    println!("## Per request\n");
    println!("*request*: a fresh instance and one `validate` call, as policy-server evaluates; *call*: `validate` on an instance reused across calls (the guest's own work); *native*: `admission::validate` compiled for the host, same lookups. Policy and floor are timed in alternating batches; each ratio is the median of the batches' ratios; the targets are 1.0x when the policy does not mutate, 1.5x when it does.\n");
    println!("| case | request | verdict | policy request µs | floor request µs | ratio | policy call µs | floor call µs | ratio | native µs | target | peak memory (policy / floor) |");
    println!("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |");
    let mut largest: Option<(&Case, &(usize, usize))> = None;
    for (case, peak) in cases.iter().zip(&peaks) {
        if largest.is_none_or(|(l, _)| l.payload.len() < case.payload.len()) {
            largest = Some((case, peak));
        }
        let answer = policy.call_fresh("validate", &case.payload)?;
        let verdict = verdict_of(&answer);
        let request = paired_micros_per_call(
            pair_budget,
            || policy.call_fresh("validate", &case.payload).map(drop),
            || floor.call_fresh("validate", &case.payload).map(drop),
        )?;
        let (mut policy_instance, mut floor_instance) =
            (policy.instantiate()?, floor.instantiate()?);
        let call = paired_micros_per_call(
            pair_budget,
            || wasm::call(&mut policy_instance, "validate", &case.payload).map(drop),
            || wasm::call(&mut floor_instance, "validate", &case.payload).map(drop),
        )?;
        let native_micros = micros_per_call(budget, || {
            native_validate(&case.payload, &native);
            Ok(())
        })?;
        cluster.clear_host_calls();
        let limit = if verdict == "mutated" { 1.5 } else { 1.0 };
        let judge = |ratio: f64| {
            if ratio <= limit {
                "met".to_string()
            } else {
                format!("+{:.0}%", (ratio / limit - 1.0) * 100.0)
            }
        };
        let target = format!(
            "≤{limit}x: request {}, call {}",
            judge(request.ratio),
            judge(call.ratio)
        );
        println!(
            "| {} | {} | {verdict} | {:.1} | {:.1} | {:.2}x | {:.1} | {:.1} | {:.2}x | {native_micros:.1} | {target} | {} / {} |",
            case.name,
            bytes(case.payload.len()),
            request.first,
            request.second,
            request.ratio,
            call.first,
            call.second,
            call.ratio,
            bytes(peak.0),
            bytes(peak.1),
        );
    }
    if let Some((case, (policy_peak, floor_peak))) = largest {
        println!(
            "\nPeak linear memory for the largest request ({}, {}): policy {}, floor {} (the smallest memory limit under which the call still succeeds).\n",
            case.name,
            bytes(case.payload.len()),
            bytes(*policy_peak),
            bytes(*floor_peak),
        );
    }
    for ((name, payload), (policy_peak, floor_peak)) in
        largest_scaled.iter().zip(&peaks[cases.len()..])
    {
        println!(
            "Peak linear memory for the Deployment with {name} ({}): policy {}, floor {}.\n",
            bytes(payload.len()),
            bytes(*policy_peak),
            bytes(*floor_peak),
        );
    }

    println!("## Scaling\n");
    println!("A meshed Deployment (mutated: safe-to-evict added) growing in containers, then in pod-template annotations; *call* figures as above. *growth* is how much the policy's time grew over how much the request grew since the row above: about 1 means linear.\n");
    let containers = [10, 100, 1000, 5000].map(|n| (n, cases::deployment_with(n, 2)));
    let annotations = [10, 100, 1000, 10_000].map(|n| (n, cases::deployment_with(2, n)));
    for (what, rows) in [
        ("containers", &containers[..]),
        ("annotations", &annotations[..]),
    ] {
        println!("| {what} | request | policy call µs | µs per {} | floor call µs | ratio | native µs | growth |", &what[..what.len() - 1]);
        println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        let mut previous: Option<(f64, usize)> = None;
        for (count, object) in rows {
            let payload = cases::payload(object)?;
            let (mut policy_instance, mut floor_instance) =
                (policy.instantiate()?, floor.instantiate()?);
            let call = paired_micros_per_call(
                pair_budget,
                || wasm::call(&mut policy_instance, "validate", &payload).map(drop),
                || wasm::call(&mut floor_instance, "validate", &payload).map(drop),
            )?;
            let policy_call = call.first;
            let native_micros = micros_per_call(budget, || {
                native_validate(&payload, &native);
                Ok(())
            })?;
            cluster.clear_host_calls();
            let growth = previous.map_or_else(
                || "".to_string(),
                |(micros, size)| {
                    format!(
                        "{:.2}",
                        (policy_call / micros) / (payload.len() as f64 / size as f64)
                    )
                },
            );
            previous = Some((policy_call, payload.len()));
            println!(
                "| {count} | {} | {policy_call:.1} | {:.3} | {:.1} | {:.2}x | {native_micros:.1} | {growth} |",
                bytes(payload.len()),
                policy_call / *count as f64,
                call.second,
                call.ratio,
            );
        }
        println!();
    }
    Ok(())
}

/// The peak linear memory of each representative case, for the policy and
/// the floor, found by [`WasmModule::peak_memory`] in a child process: the
/// search makes the guest run out of memory on purpose, and the guest then
/// writes its allocation error to stderr, which the harness's WASI sandbox
/// connects to the host's. The child's stderr is dropped.
fn peak_memories(options: &Options) -> Result<Vec<(usize, usize)>, BenchError> {
    let program = std::env::current_exe().map_err(|e| BenchError::PeakMemory(e.to_string()))?;
    let output = std::process::Command::new(program)
        .arg("--policy")
        .arg(&options.policy)
        .arg("--floor")
        .arg(&options.floor)
        .arg("--peak-memory")
        .stderr(std::process::Stdio::null())
        .output()
        .map_err(|e| BenchError::PeakMemory(e.to_string()))?;
    if !output.status.success() {
        return Err(BenchError::PeakMemory(format!(
            "the child exited with {}",
            output.status
        )));
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            let mut figures = line.split(' ').map(str::parse::<usize>);
            match (figures.next(), figures.next()) {
                (Some(Ok(policy)), Some(Ok(floor))) => Ok((policy, floor)),
                _ => Err(BenchError::PeakMemory(format!("unreadable line {line:?}"))),
            }
        })
        .collect()
}

/// What the wasm entry point does natively: validate, then encode the answer.
fn native_validate(payload: &[u8], cluster: &NativeCluster) {
    let response = admission::validate(payload, cluster);
    // Encoding the answer is part of the guest's work too.
    std::hint::black_box(serde_json::to_vec(&response).ok());
}

/// `accepted`, `mutated` or `rejected`, from the policy's answer.
/// The module sizes: what ships (after `make build`'s wasm-opt pass) and
/// cargo's own output beside it.
fn print_sizes(policy: &WasmModule, floor: &WasmModule, policy_path: &Path) {
    let unoptimised = policy_path.with_extension("unoptimised.wasm");
    println!("## Modules\n");
    println!("| module | size | target |\n| --- | ---: | --- |");
    let judged = if policy.size <= SIZE_TARGET {
        "under 300 KB: met".to_string()
    } else {
        format!(
            "under 300 KB: missed by {}",
            bytes(policy.size - SIZE_TARGET)
        )
    };
    println!("| {} | {} | {judged} |", policy.name, bytes(policy.size));
    if let Ok(metadata) = std::fs::metadata(&unoptimised) {
        println!(
            "| {} before wasm-opt (cargo's output) | {} | |",
            policy.name,
            bytes(usize::try_from(metadata.len()).unwrap_or(usize::MAX))
        );
    }
    println!("| {} (floor) | {} | |\n", floor.name, bytes(floor.size));
}

/// What the policy answers each case with the bench cluster's lookups.
fn verdicts(policy: &WasmModule, cases: &[Case]) -> Result<Vec<String>, BenchError> {
    cases
        .iter()
        .map(|case| Ok(verdict_of(&policy.call_fresh("validate", &case.payload)?).to_string()))
        .collect()
}

fn verdict_of(answer: &[u8]) -> &'static str {
    let answer: Value = serde_json::from_slice(answer).unwrap_or_default();
    match (
        answer["accepted"].as_bool(),
        answer["mutated_object"].is_null(),
    ) {
        (Some(true), true) => "accepted",
        (Some(true), false) => "mutated",
        (Some(false), _) => "rejected",
        (None, _) => "no verdict",
    }
}

fn bytes(count: usize) -> String {
    match count {
        0..1_000 => format!("{count} B"),
        1_000..1_000_000 => format!("{:.1} KB", count as f64 / 1e3),
        _ => format!("{:.2} MB", count as f64 / 1e6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_are_read_from_the_answer() {
        assert_eq!(verdict_of(br#"{"accepted":true}"#), "accepted");
        assert_eq!(
            verdict_of(br#"{"accepted":true,"mutated_object":{}}"#),
            "mutated"
        );
        assert_eq!(
            verdict_of(br#"{"accepted":false,"message":"no"}"#),
            "rejected"
        );
        assert_eq!(verdict_of(b"not JSON"), "no verdict");
    }

    #[test]
    fn sizes_are_shown_in_decimal_units() {
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(513_000), "513.0 KB");
        assert_eq!(bytes(2_820_000), "2.82 MB");
    }
}
