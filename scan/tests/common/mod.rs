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
