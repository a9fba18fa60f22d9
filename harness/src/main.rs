//! `policy-harness evaluate`: runs a policy module over manifests, the way
//! policy-server would judge `kubectl apply` of them, and reports the verdicts.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use policy_harness::manifests::load_file_objects;
use policy_harness::report::{render_json, render_text, Evaluation};
use policy_harness::{admission_request, Cluster, PolicyModule};
use serde_json::{json, Value};

const USAGE: &str = "\
usage: policy-harness evaluate --module PATH.wasm [--settings SETTINGS.yaml]
                               [--namespace-default NS] [--json] FILE...

Evaluates every object of the YAML files as a CREATE request, under the
settings (none: {}), answering the policy's lookups of Namespaces,
PodDisruptionBudgets and Nodes from the objects of the same files.
Namespaced objects without a namespace get --namespace-default (default: \"default\").

Exit status: 0 when every object was evaluated (whatever the verdicts),
1 when the policy failed on some object, 2 on usage, input or settings errors.";

/// Exit status when the policy failed (trapped, timed out, answered garbage).
const EXIT_POLICY_FAILED: u8 = 1;
const EXIT_ERROR: u8 = 2;

#[derive(Debug, Default)]
struct Options {
    module: PathBuf,
    settings: Option<PathBuf>,
    namespace_default: String,
    json: bool,
    files: Vec<PathBuf>,
}

enum Command {
    Help,
    Evaluate(Options),
}

fn main() -> ExitCode {
    let command = match parse_args(std::env::args().skip(1)) {
        Ok(command) => command,
        Err(error) => {
            eprintln!("policy-harness: {error}\n\n{USAGE}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    match command {
        Command::Help => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Command::Evaluate(options) => match evaluate(&options) {
            Ok(code) => code,
            Err(error) => {
                eprintln!("policy-harness: {error:#}");
                ExitCode::from(EXIT_ERROR)
            }
        },
    }
}

fn parse_args(args: impl IntoIterator<Item = String>) -> anyhow::Result<Command> {
    let mut args = args.into_iter();
    match args.next().as_deref() {
        Some("evaluate") => {}
        Some("-h" | "--help" | "help") => return Ok(Command::Help),
        Some(other) => bail!("unknown command {other:?}"),
        None => bail!("missing command"),
    }
    let mut options = Options {
        namespace_default: "default".to_owned(),
        ..Options::default()
    };
    let mut module = None;
    let mut only_files = false;
    while let Some(arg) = args.next() {
        if only_files || !arg.starts_with("--") {
            options.files.push(arg.into());
            continue;
        }
        // Both `--flag value` and `--flag=value`.
        let (flag, inline_value) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
            None => (arg, None),
        };
        let mut value = || {
            inline_value
                .clone()
                .or_else(|| args.next())
                .with_context(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--module" => module = Some(PathBuf::from(value()?)),
            "--settings" => options.settings = Some(value()?.into()),
            "--namespace-default" => options.namespace_default = value()?,
            "--json" => options.json = true,
            "--help" => return Ok(Command::Help),
            "--" => only_files = true,
            _ => bail!("unknown option {flag}"),
        }
    }
    options.module = module.context("--module is required")?;
    if options.files.is_empty() {
        bail!("no manifest files given");
    }
    Ok(Command::Evaluate(options))
}

fn evaluate(options: &Options) -> anyhow::Result<ExitCode> {
    let settings = load_settings(options.settings.as_deref())?;
    let mut objects = Vec::new();
    for file in &options.files {
        let loaded = load_file_objects(file, &options.namespace_default)?;
        objects.extend(loaded.into_iter().map(|loaded| loaded.object));
    }

    let cluster = Cluster::from_objects(objects.iter().cloned());
    let policy = PolicyModule::load(&options.module, cluster)?;
    let validation = policy
        .validate_settings(&settings)
        .context("validating the settings")?;
    if !validation.valid {
        let message = validation.message.as_deref().unwrap_or("(no message)");
        bail!("the policy rejects the settings: {message}");
    }

    let evaluations: Vec<Evaluation> = objects
        .iter()
        .map(|object| {
            let request = admission_request(object, "CREATE");
            Evaluation::new(object, policy.validate(&request, &settings))
        })
        .collect();
    if options.json {
        println!("{:#}", render_json(&evaluations));
    } else {
        print!("{}", render_text(&evaluations));
    }
    let any_failed = evaluations.iter().any(|e| e.result.is_err());
    Ok(if any_failed {
        ExitCode::from(EXIT_POLICY_FAILED)
    } else {
        ExitCode::SUCCESS
    })
}

/// The settings document; a missing file option or an empty file means `{}`,
/// as policy-server sends for a policy without settings.
fn load_settings(path: Option<&std::path::Path>) -> anyhow::Result<Value> {
    let Some(path) = path else {
        return Ok(json!({}));
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let settings: Value = serde_yaml_ng::from_str(&text)
        .with_context(|| format!("{} is not a YAML document", path.display()))?;
    Ok(if settings.is_null() {
        json!({})
    } else {
        settings
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> anyhow::Result<Command> {
        parse_args(args.iter().map(|arg| (*arg).to_owned()))
    }

    #[test]
    fn parses_evaluate() {
        let Ok(Command::Evaluate(options)) = parse(&[
            "evaluate",
            "--module",
            "p.wasm",
            "a.yaml",
            "--settings=s.yaml",
            "--json",
            "--namespace-default",
            "ns",
            "b.yaml",
        ]) else {
            panic!("expected evaluate");
        };
        assert_eq!(options.module, PathBuf::from("p.wasm"));
        assert_eq!(options.settings, Some(PathBuf::from("s.yaml")));
        assert_eq!(options.namespace_default, "ns");
        assert!(options.json);
        assert_eq!(
            options.files,
            [PathBuf::from("a.yaml"), PathBuf::from("b.yaml")]
        );
    }

    #[test]
    fn rejects_bad_usage() {
        for args in [
            &[][..],
            &["run"],
            &["evaluate", "a.yaml"],
            &["evaluate", "--module", "p.wasm"],
            &["evaluate", "--module"],
            &["evaluate", "--module", "p.wasm", "--bogus", "a.yaml"],
        ] {
            assert!(parse(args).is_err(), "{args:?}");
        }
        assert!(matches!(parse(&["--help"]), Ok(Command::Help)));
    }
}
