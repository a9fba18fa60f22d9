//! kubectl, run as a user runs it, with what it printed kept line by line.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// kubectl against one cluster, as one user (a kubeconfig).
#[derive(Debug, Clone)]
pub struct Kubectl {
    pub binary: PathBuf,
    pub kubeconfig: PathBuf,
}

/// One kubectl run.
#[derive(Debug, Clone)]
pub struct Run {
    pub args: Vec<String>,
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    /// Panics with everything kubectl said unless it succeeded.
    pub fn ok(self) -> Run {
        assert!(
            self.success,
            "kubectl {} failed:\n{}{}",
            self.args.join(" "),
            self.stdout,
            self.stderr
        );
        self
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "kubectl {} did not print JSON ({e}):\n{}{}",
                self.args.join(" "),
                self.stdout,
                self.stderr
            )
        })
    }
}

/// What kubectl printed on its terminal (stdout and stderr through one
/// file, so their order is kept), read the way a user reads it.
#[derive(Debug, Clone)]
pub struct Printed {
    pub args: Vec<String>,
    pub success: bool,
    pub text: String,
    pub elapsed: Duration,
}

impl Printed {
    pub fn lines(&self) -> impl Iterator<Item = &str> {
        self.text.lines()
    }

    /// `kind.group/name verb` lines: (`kind.group/name`, verb), e.g.
    /// ("deployment.apps/web", "created").
    pub fn results(&self) -> Vec<(String, String)> {
        self.lines()
            .filter_map(|line| self.result_line(line))
            .collect()
    }

    fn result_line(&self, line: &str) -> Option<(String, String)> {
        const VERBS: [&str; 8] = [
            "created",
            "configured",
            "unchanged",
            "replaced",
            "labeled",
            "annotated",
            "scaled",
            "restarted",
        ];
        let (object, verb) = line.trim().rsplit_once(' ')?;
        (VERBS.contains(&verb) && object.contains('/') && !object.contains(' '))
            .then(|| (object.to_string(), verb.to_string()))
    }

    /// The `Warning: ` lines, without the prefix.
    pub fn warnings(&self) -> Vec<String> {
        self.lines()
            .filter_map(|line| line.strip_prefix("Warning: "))
            .map(str::to_string)
            .collect()
    }

    /// The `Error from server ...` messages (and any `error: ...`), each
    /// with its continuation lines (a rejection lists one violation a line).
    pub fn errors(&self) -> Vec<String> {
        let mut errors: Vec<String> = Vec::new();
        let mut open = false;
        for line in self.lines() {
            if line.starts_with("Error from server") || line.starts_with("error:") {
                errors.push(line.to_string());
                open = true;
            } else if open && !line.starts_with("Warning: ") && self.result_line(line).is_none() {
                let last = errors.last_mut().expect("an open error");
                last.push('\n');
                last.push_str(line);
            } else {
                open = false;
            }
        }
        errors
    }

    /// The lines that mention `needle`.
    pub fn lines_with(&self, needle: &str) -> Vec<String> {
        self.lines()
            .filter(|line| line.contains(needle))
            .map(str::to_string)
            .collect()
    }
}

impl std::fmt::Display for Printed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "$ kubectl {}\n{}", self.args.join(" "), self.text)
    }
}

/// How long any one kubectl call may take (a webhook that never answers
/// costs the API server its timeoutSeconds per object, 10 s here).
const LIMIT: Duration = Duration::from_secs(300);

impl Kubectl {
    pub fn new(binary: &Path, kubeconfig: &Path) -> Kubectl {
        Kubectl {
            binary: binary.to_path_buf(),
            kubeconfig: kubeconfig.to_path_buf(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.binary);
        command
            .arg(format!("--kubeconfig={}", self.kubeconfig.display()))
            .args(args)
            // No user's settings: no colour, no kuberc, no other cluster.
            .env_remove("KUBECONFIG")
            .env("KUBERC", "off")
            .env("NO_COLOR", "1");
        command
    }

    fn spawn(
        &self,
        args: &[&str],
        stdin: Option<&str>,
        combined: bool,
    ) -> (bool, String, String, Duration) {
        let dir = tempfile::tempdir().expect("temp dir for kubectl's output");
        let out_path = dir.path().join("stdout");
        let err_path = dir.path().join("stderr");
        let out = std::fs::File::create(&out_path).expect("stdout file");
        let err = if combined {
            out.try_clone().expect("stdout file")
        } else {
            std::fs::File::create(&err_path).expect("stderr file")
        };
        let input = match stdin {
            Some(text) => {
                let path = dir.path().join("stdin");
                std::fs::write(&path, text).expect("stdin file");
                Stdio::from(std::fs::File::open(&path).expect("stdin file"))
            }
            None => Stdio::null(),
        };
        let started = Instant::now();
        let mut child = self
            .command(args)
            .stdin(input)
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.binary.display()));
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for kubectl") {
                break status;
            }
            if started.elapsed() > LIMIT {
                let _ = child.kill();
                let _ = child.wait();
                panic!("kubectl {} did not finish within {LIMIT:?}", args.join(" "));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        (
            status.success(),
            read(&out_path),
            if combined {
                String::new()
            } else {
                read(&err_path)
            },
            started.elapsed(),
        )
    }

    /// Runs kubectl; stdout and stderr apart.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with_stdin(args, None)
    }

    pub fn run_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> Run {
        let (success, stdout, stderr, elapsed) = self.spawn(args, stdin, false);
        Run {
            args: args.iter().map(|a| a.to_string()).collect(),
            success,
            stdout,
            stderr,
            elapsed,
        }
    }

    /// Runs kubectl as on a terminal: what it printed, in order.
    pub fn print(&self, args: &[&str]) -> Printed {
        self.print_with_stdin(args, None)
    }

    pub fn print_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> Printed {
        let (success, text, _, elapsed) = self.spawn(args, stdin, true);
        Printed {
            args: args.iter().map(|a| a.to_string()).collect(),
            success,
            text,
            elapsed,
        }
    }

    /// `kubectl get ARGS -o json`, parsed; None when it is not found.
    pub fn get(&self, args: &[&str]) -> Option<Value> {
        let mut all: Vec<&str> = vec!["get"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["-o", "json"]);
        let run = self.run(&all);
        if !run.success {
            assert!(
                run.stderr.contains("NotFound") || run.stderr.contains("not found"),
                "kubectl {} failed:\n{}",
                run.args.join(" "),
                run.stderr
            );
            return None;
        }
        Some(run.json())
    }

    /// `kubectl get ARGS -o json`, its `items`.
    pub fn list(&self, args: &[&str]) -> Vec<Value> {
        let mut all: Vec<&str> = vec!["get"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["-o", "json"]);
        let value = self.run(&all).ok().json();
        value["items"].as_array().cloned().unwrap_or_default()
    }
}
