//! What the scanner's end-to-end tests share: the built binary run on the
//! built module from the workspace, and its output read back.
#![allow(dead_code)] // each test binary uses its own share of these

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Linkerd's own manifests, beside the repository in ../shared.
pub fn fixture(name: &str) -> String {
    workspace()
        .join("../shared/fixtures/linkerd")
        .join(name)
        .display()
        .to_string()
}

/// The module every test runs: `$POLICY_WASM`, or where `make build` puts it.
pub fn module() -> String {
    let path = std::env::var_os("POLICY_WASM").map_or_else(
        || workspace().join("target/wasm32-wasip1/release/linkerd_ha_policy.wasm"),
        PathBuf::from,
    );
    assert!(
        path.is_file(),
        "{} is missing: run `make build` (or set POLICY_WASM)",
        path.display()
    );
    path.display().to_string()
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", self.stdout, self.stderr))
    }

    /// The `error:` lines of standard error, without the program's name.
    pub fn errors(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter_map(|line| line.strip_prefix("linkerd-ha-scan: error: "))
            .collect()
    }
}

/// Runs the scanner from the workspace with `args`, `stdin` on its input,
/// on `module` (default: the policy).
pub fn scan_with(args: &[&str], stdin: Option<&str>, module: Option<&str>) -> Run {
    let module = module.map_or_else(self::module, str::to_owned);
    let mut child = Command::new(env!("CARGO_BIN_EXE_linkerd-ha-scan"))
        .arg("--module")
        .arg(&module)
        .args(args)
        .current_dir(workspace())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the scanner starts");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).expect("stdin written");
    }
    drop(input);
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().expect("the scanner ends");
    let run = Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    };
    assert!(
        !run.stderr.contains("panicked"),
        "the scanner panicked: {}",
        run.stderr
    );
    run
}

pub fn scan(args: &[&str]) -> Run {
    scan_with(args, None, None)
}

pub fn validate(format: &str, text: &str) -> std::process::Output {
    validate_with(format, text, &[])
}

/// `validate` with validate.py's `flags` (`--strict`: for SARIF, a warning
/// of the SARIF Multitool refuses the file too).
pub fn validate_with(format: &str, text: &str, flags: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join(format!("out.{format}"));
    std::fs::write(&file, text).expect("written");
    Command::new("python3")
        .arg(workspace().join("scan/tests/validators/validate.py"))
        .args(flags)
        .arg(format)
        .arg(&file)
        .output()
        .expect("python3 runs the validator (scan/tests/validators/setup.sh installs it)")
}

/// A WAT guest speaking waPC that answers like the policy until asked to
/// judge an object, and then traps.
pub fn trapping_module(dir: &Path) -> String {
    failing_module(dir, "unreachable")
}

/// The same guest, running `on_validate` when asked to judge an object.
pub fn failing_module(dir: &Path, on_validate: &str) -> String {
    guest_module(dir, on_validate, "")
}

/// That guest with `data` segments of its own (from address 2048 on).
pub fn guest_module(dir: &Path, on_validate: &str, data: &str) -> String {
    let wat = r#"(module
  (import "wapc" "__guest_request" (func $guest_request (param i32 i32)))
  (import "wapc" "__guest_response" (func $guest_response (param i32 i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 1024) "\"v1\"")
  (data (i32.const 1100) "{\"valid\":true}")
  (data (i32.const 1200) "{\"valid\":false,\"message\":\"unknown field\"}")
  DATA
  (func (export "__guest_call") (param $op_len i32) (param $msg_len i32) (result i32)
    (call $guest_request (i32.const 0) (i32.const 4096))
    ;; validate: 8 bytes of operation name
    (if (i32.eq (local.get $op_len) (i32.const 8)) (then ON_VALIDATE))
    ;; protocol_version: no payload
    (if (i32.eqz (local.get $msg_len))
      (then (call $guest_response (i32.const 1024) (i32.const 4)) (return (i32.const 1))))
    ;; validate_settings: `{}` is valid, anything longer (the probe) is not
    (if (i32.eq (local.get $msg_len) (i32.const 2))
      (then (call $guest_response (i32.const 1100) (i32.const 14)) (return (i32.const 1))))
    (call $guest_response (i32.const 1200) (i32.const 41))
    (i32.const 1)))"#
        .replace("ON_VALIDATE", on_validate)
        .replace("DATA", data);
    let path = dir.join("failing.wasm");
    std::fs::write(&path, wat::parse_str(wat).expect("valid WAT")).expect("written");
    path.display().to_string()
}

/// `(kind/name, operation, outcome)` of each result.
pub fn verdicts(run: &Run) -> Vec<(String, String, String)> {
    run.json()["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|result| {
            (
                format!(
                    "{}/{}",
                    result["kind"].as_str().unwrap_or_default(),
                    result["name"].as_str().unwrap_or_default()
                ),
                result["operation"].as_str().unwrap_or_default().to_owned(),
                result["outcome"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}
