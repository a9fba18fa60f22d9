//! The measure that counts: Kubewarden's own engine. `kwctl bench` runs the
//! policy and the floor on each case's request, alternately, three rounds;
//! each module keeps the best of its three medians.
//!
//! kwctl replays no cluster here: a Kubernetes lookup is refused by the
//! engine at once (the policy is not granted context-aware access), and the
//! policy answers with its "could not look up" warning. The floor never looks
//! anything up.
//!
//! A mutation is also measured against the mutating floor (the floor with
//! `{"mutate": true}`: one annotation added to the SDK's decoded object),
//! which shows what the engine spends on any mutation: reading the object
//! back and diffing it into a JSON patch.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::cases::Case;
use crate::BenchError;

const ROUNDS: usize = 3;

/// The floor's settings that make it the mutating floor.
const MUTATING_FLOOR: &str = r#"{"mutate": true}"#;

/// Seconds of kwctl warm-up whose mean the scaling table reports.
const WARM_UP_SECONDS: u32 = 3;

/// `$KWCTL`, else `kwctl` on the PATH.
fn kwctl() -> PathBuf {
    std::env::var_os("KWCTL").map_or_else(|| PathBuf::from("kwctl"), PathBuf::from)
}

/// The median µs of one `kwctl bench` run of `validate`, over `samples`
/// samples (tiny-bench takes them all, however long that is).
fn median_micros(
    module: &Path,
    request: &Path,
    samples: usize,
    settings: &str,
) -> Result<f64, BenchError> {
    let output = Command::new(kwctl())
        .args(["bench", "--warm-up-time", "1", "--measurement-time", "1"])
        .args(["--num-samples", &samples.to_string()])
        .arg("--request-path")
        .arg(request)
        .args(["--settings-json", settings])
        .arg(format!("file://{}", module.display()))
        .env("NO_COLOR", "1")
        .output()
        .map_err(|e| BenchError::Kwctl(format!("cannot run {}: {e}", kwctl().display())))?;
    let text = strip_ansi(&String::from_utf8_lossy(&output.stdout));
    if !output.status.success() {
        return Err(BenchError::Kwctl(format!(
            "kwctl bench {} failed: {}{}",
            module.display(),
            text,
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    validate_median(&text)
        .ok_or_else(|| BenchError::Kwctl(format!("no `validate` median in kwctl's output: {text}")))
}

fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // An SGR sequence: ESC [ ... m
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The mean of `validate` over kwctl's warm-up (`seconds` long), read from
/// the line kwctl prints before it starts sampling; kwctl is stopped there.
/// For requests of a megabyte, where tiny-bench's fixed 5,000 sampled
/// iterations would run for many minutes per module.
fn warm_up_mean_micros(
    module: &Path,
    request: &Path,
    seconds: u32,
    settings: &str,
) -> Result<f64, BenchError> {
    let mut child = Command::new(kwctl())
        .args(["bench", "--warm-up-time", &seconds.to_string()])
        .args(["--measurement-time", "1"])
        .arg("--request-path")
        .arg(request)
        .args(["--settings-json", settings])
        .arg(format!("file://{}", module.display()))
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| BenchError::Kwctl(format!("cannot run {}: {e}", kwctl().display())))?;
    let mut mean = None;
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let line = strip_ansi(&line);
            if let Some(rest) = line.strip_prefix("validate mean warm up execution time ") {
                mean = rest.split_whitespace().next().and_then(micros);
                break;
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    mean.ok_or_else(|| {
        BenchError::Kwctl(format!(
            "kwctl bench {} printed no `validate` warm-up mean",
            module.display()
        ))
    })
}

/// tiny-bench's `med = 15.12µs` on the line after `validate [...]:`.
fn validate_median(text: &str) -> Option<f64> {
    let mut lines = text.lines().skip_while(|l| !l.starts_with("validate ["));
    lines.next()?;
    let line = lines.next()?;
    let median = line.split("med = ").nth(1)?.split(',').next()?.trim();
    micros(median)
}

/// A duration as tiny-bench prints it (`15.12µs`, `7.41ms`), in µs.
fn micros(duration: &str) -> Option<f64> {
    let split = duration.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = duration.split_at(split);
    let number: f64 = number.parse().ok()?;
    let scale = match unit {
        "ns" => 0.001,
        "µs" | "us" => 1.0,
        "ms" => 1000.0,
        "s" => 1_000_000.0,
        _ => return None,
    };
    Some(number * scale)
}

/// A scratch folder of AdmissionRequest files, as `kwctl bench
/// --request-path` reads them; removed when dropped.
struct RequestFiles {
    dir: PathBuf,
}

impl RequestFiles {
    fn new(label: &str) -> Result<Self, BenchError> {
        let dir = std::env::temp_dir().join(format!("policy-bench-{label}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|cause| BenchError::Io {
            path: dir.clone(),
            cause,
        })?;
        Ok(Self { dir })
    }

    /// Writes the `request` of a validation payload to `name.json`; its
    /// path and size.
    fn write(&self, name: &str, payload: &[u8]) -> Result<(PathBuf, usize), BenchError> {
        let payload: Value = serde_json::from_slice(payload)
            .map_err(|e| BenchError::Fixture(format!("{name}: {e}")))?;
        let text = payload["request"].to_string();
        let path = self.dir.join(format!("{name}.json"));
        std::fs::write(&path, &text).map_err(|cause| BenchError::Io {
            path: path.clone(),
            cause,
        })?;
        Ok((path, text.len()))
    }
}

impl Drop for RequestFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs every case and prints the table. `verdicts` says which cases the
/// policy mutates (target 1.2x) or accepts (1.0x).
pub fn table(
    cases: &[Case],
    verdicts: &[String],
    policy: &Path,
    floor: &Path,
) -> Result<(), BenchError> {
    let requests = RequestFiles::new("kwctl")?;
    println!("## Under Kubewarden's engine (`kwctl bench`)\n");
    println!("Policy and floor alternate on each request, {ROUNDS} rounds; each keeps the best of its {ROUNDS} medians (µs per `validate`). Targets: accepting ≤1.0x the floor, mutating ≤1.2x. A mutated case is also run on the mutating floor (one annotation added, the engine diffs the object into a patch).\n");
    println!("| case | verdict | policy µs | floor µs | ratio | target | mutating floor µs | ratio to it |");
    println!("| --- | --- | ---: | ---: | ---: | --- | ---: | ---: |");
    for (index, (case, verdict)) in cases.iter().zip(verdicts).enumerate() {
        let (request, _) = requests.write(&format!("request-{index}"), &case.payload)?;
        let mutated = verdict == "mutated";
        let (mut best_policy, mut best_floor, mut best_mutating) =
            (f64::INFINITY, f64::INFINITY, f64::INFINITY);
        for _ in 0..ROUNDS {
            best_policy = best_policy.min(median_micros(policy, &request, 100, "{}")?);
            best_floor = best_floor.min(median_micros(floor, &request, 100, "{}")?);
            if mutated {
                best_mutating =
                    best_mutating.min(median_micros(floor, &request, 100, MUTATING_FLOOR)?);
            }
        }
        let ratio = best_policy / best_floor;
        let target = match verdict.as_str() {
            "mutated" => Some(1.2),
            "accepted" => Some(1.0),
            _ => None,
        };
        let judged = match target {
            Some(limit) if ratio <= limit => format!("≤{limit}x: met"),
            Some(limit) => format!("≤{limit}x: missed by {:.0}%", (ratio / limit - 1.0) * 100.0),
            None => "none (rejected)".to_string(),
        };
        let against_mutating = if mutated {
            format!("{best_mutating:.1} | {:.2}x", best_policy / best_mutating)
        } else {
            "| ".to_string()
        };
        println!(
            "| {} | {verdict} | {best_policy:.1} | {best_floor:.1} | {ratio:.2}x | {judged} | {against_mutating} |",
            case.name
        );
    }
    println!();
    Ok(())
}

/// Cost against object size under kwctl: Deployments that get the
/// safe-to-evict mutation, growing in containers (to 5,000, 1.2 MB) and in
/// annotations (to 10,000).
pub fn scaling(policy: &Path, floor: &Path) -> Result<(), BenchError> {
    let requests = RequestFiles::new("scaling")?;
    println!("### Scaling under kwctl (µs per `validate`: the mean of a {WARM_UP_SECONDS} s kwctl warm-up)\n");
    println!("| Deployment | request | policy µs | floor µs | ratio | mutating floor µs | ratio to it | policy µs per added item |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let sizes: [(&str, usize, usize); 6] = [
        ("containers", 50, 2),
        ("containers", 500, 2),
        ("containers", 5000, 2),
        ("annotations", 2, 100),
        ("annotations", 2, 1000),
        ("annotations", 2, 10000),
    ];
    let mut previous: Option<(&str, usize, f64)> = None;
    for (index, (grows, containers, annotations)) in sizes.into_iter().enumerate() {
        let (request, request_bytes) = requests.write(
            &format!("scaling-{index}"),
            &crate::cases::payload(&crate::cases::deployment_with(containers, annotations))?,
        )?;
        let policy_micros = warm_up_mean_micros(policy, &request, WARM_UP_SECONDS, "{}")?;
        let floor_micros = warm_up_mean_micros(floor, &request, WARM_UP_SECONDS, "{}")?;
        let mutating_micros =
            warm_up_mean_micros(floor, &request, WARM_UP_SECONDS, MUTATING_FLOOR)?;
        let count = if grows == "containers" {
            containers
        } else {
            annotations
        };
        let per_item = match previous {
            Some((kind, before, micros)) if kind == grows => {
                format!("{:.2}", (policy_micros - micros) / (count - before) as f64)
            }
            _ => String::new(),
        };
        previous = Some((grows, count, policy_micros));
        println!(
            "| {containers} containers, {annotations} annotations | {:.0} KB | {policy_micros:.1} | {floor_micros:.1} | {:.2}x | {mutating_micros:.1} | {:.2}x | {per_item} |",
            request_bytes as f64 / 1000.0,
            policy_micros / floor_micros,
            policy_micros / mutating_micros,
        );
    }
    println!();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_validate_median() {
        let output = "\u{1b}[1;32mvalidate_settings\u{1b}[0m [1 iterations]:\n\telapsed\t[...] (sample data: med = 5.24µs, var = 1)\n\u{1b}[1;32mvalidate\u{1b}[0m [60.6 thousand iterations in 1.08s with 100.0 samples]:\n\telapsed\t[[0;37mmin] (sample data: med = 15.12µs, var = 30.12ms², stddev = 5.49µs)\n";
        assert_eq!(validate_median(&strip_ansi(output)), Some(15.12));
        assert_eq!(
            validate_median("validate [x]:\n (sample data: med = 2.5ms, var = 1)"),
            Some(2500.0)
        );
    }

    #[test]
    fn request_files_hold_the_payloads_request_and_go_away() {
        let requests = RequestFiles::new("unit-test").unwrap();
        let (path, bytes) = requests
            .write("one", br#"{"request": {"uid": "1"}, "settings": {}}"#)
            .unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), r#"{"uid":"1"}"#);
        assert_eq!(bytes, 11);
        assert!(requests.write("two", b"not json").is_err());
        let dir = requests.dir.clone();
        drop(requests);
        assert!(!dir.exists());
    }

    #[test]
    fn reads_durations_in_any_unit() {
        assert_eq!(micros("7.41ms"), Some(7410.0));
        assert_eq!(micros("133.97µs"), Some(133.97));
        assert_eq!(micros("1.5s"), Some(1_500_000.0));
        assert_eq!(micros("fast"), None);
    }
}
