//! `linkerd-ha-scan` as CI runs it: the built binary on the built policy
//! module, over Linkerd's own manifests and the examples; exit codes,
//! `kubectl apply`'s order, upgrades, `--fix`, bad input, and every output
//! format checked by an independent validator (tests/validators/).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

use rstest::rstest;
use serde_json::Value;

fn example(name: &str) -> String {
    workspace()
        .join("examples")
        .join(name)
        .display()
        .to_string()
}

fn outcome_of<'a>(verdicts: &'a [(String, String, String)], object: &str) -> (&'a str, &'a str) {
    verdicts
        .iter()
        .find(|(name, _, _)| name == object)
        .map(|(_, operation, outcome)| (operation.as_str(), outcome.as_str()))
        .unwrap_or_else(|| panic!("{object} not in {verdicts:?}"))
}

#[test]
fn linkerd_install_ha_is_admitted_in_stream_order() {
    let run = scan(&["-o", "json", &fixture("install_ha_output.golden")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let verdicts = verdicts(&run);
    assert_eq!(verdicts.len(), 42);
    assert!(verdicts
        .iter()
        .all(|(_, operation, outcome)| operation == "CREATE" && outcome != "rejected"));
    assert_eq!(
        outcome_of(&verdicts, "Deployment/linkerd-destination"),
        ("CREATE", "accepted")
    );
}

#[test]
fn linkerd_default_install_is_rejected_for_its_single_replicas() {
    let run = scan(&["-o", "json", &fixture("install_default.golden")]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let results = run.json()["results"].clone();
    let destination = results
        .as_array()
        .and_then(|r| {
            r.iter()
                .find(|r| r["name"] == "linkerd-destination" && r["kind"] == "Deployment")
        })
        .cloned()
        .expect("linkerd-destination");
    assert_eq!(destination["outcome"], "rejected");
    let rules: Vec<&str> = destination["violations"]
        .as_array()
        .expect("violations")
        .iter()
        .filter_map(|v| v["rule"].as_str())
        .collect();
    assert!(rules.contains(&"controlPlaneReplicas"), "{rules:?}");
}

/// `linkerd upgrade --ha | linkerd-ha-scan --cluster current.yaml -`: what
/// the default install created is an UPDATE; the three disruption budgets,
/// which only `--ha` installs, are CREATEs (docs/scanner.md says so).
#[test]
fn linkerd_upgrade_ha_over_the_default_install_is_admitted_as_updates() {
    let ha = std::fs::read_to_string(fixture("install_ha_output.golden")).expect("fixture");
    let run = scan_with(
        &[
            "-o",
            "json",
            "--cluster",
            &fixture("install_default.golden"),
            "-",
        ],
        Some(&ha),
        None,
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let verdicts = verdicts(&run);
    assert!(
        verdicts.iter().all(|(_, _, outcome)| outcome == "accepted"),
        "{verdicts:?}"
    );
    let count = |operation: &str| verdicts.iter().filter(|(_, op, _)| op == operation).count();
    assert_eq!((count("UPDATE"), count("CREATE")), (39, 3));
    let mut created: Vec<&str> = verdicts
        .iter()
        .filter(|(_, operation, _)| operation == "CREATE")
        .map(|(object, _, _)| object.as_str())
        .collect();
    created.sort_unstable();
    assert_eq!(
        created,
        [
            "PodDisruptionBudget/linkerd-dst",
            "PodDisruptionBudget/linkerd-identity",
            "PodDisruptionBudget/linkerd-proxy-injector"
        ]
    );
    for deployment in [
        "linkerd-destination",
        "linkerd-identity",
        "linkerd-proxy-injector",
    ] {
        assert_eq!(
            outcome_of(&verdicts, &format!("Deployment/{deployment}")).0,
            "UPDATE"
        );
    }
    assert_eq!(run.json()["results"][0]["file"], "<stdin>");
}

/// The Deployment asks for injection through its namespace: judged before
/// the namespace exists, the policy cannot read it and only warns; after,
/// it adds the safe-to-evict annotation.
#[test]
fn each_object_is_judged_against_what_came_before_it() {
    let namespace = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  annotations:\n    linkerd.io/inject: enabled\n";
    let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\nspec:\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: web:1\n";
    let in_order = scan_with(
        &["-o", "json", "-"],
        Some(&format!("{namespace}---\n{deployment}")),
        None,
    );
    assert_eq!(
        outcome_of(&verdicts(&in_order), "Deployment/web"),
        ("CREATE", "mutated")
    );
    let backwards = scan_with(
        &["-o", "json", "-"],
        Some(&format!("{deployment}---\n{namespace}")),
        None,
    );
    assert_eq!(
        outcome_of(&verdicts(&backwards), "Deployment/web"),
        ("CREATE", "accepted")
    );
    let warning = backwards.json()["results"][0]["warnings"][0]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        warning.contains("namespace \"shop\" does not exist"),
        "{warning}"
    );
    // Applied twice, the second is an UPDATE of what the first stored.
    let twice = scan_with(
        &["-o", "json", "-"],
        Some(&format!("{namespace}---\n{deployment}---\n{deployment}")),
        None,
    );
    let operations: Vec<String> = verdicts(&twice).into_iter().map(|(_, op, _)| op).collect();
    assert_eq!(operations, ["CREATE", "CREATE", "UPDATE"]);
}

/// Without a dump, `--nodes` is the cluster's schedulable nodes: fewer than
/// the HA replicas with required anti-affinity is a nodeCapacity warning.
#[rstest]
#[case::too_few(1, 3)]
#[case::enough(3, 0)]
fn nodes_answer_the_node_lookups(#[case] nodes: usize, #[case] warnings: usize) {
    let nodes = nodes.to_string();
    let run = scan(&["--nodes", &nodes, &fixture("install_ha_output.golden")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout.matches("warning: [nodeCapacity]").count(),
        warnings,
        "{}",
        run.stdout
    );
}

#[rstest]
#[case::compliant_by_default("meshed-app.yaml", [0, 0, 0, 1])]
#[case::rejected("non-compliant.yaml", [0, 1, 1, 1])]
fn fail_on_moves_the_line(#[case] file: &str, #[case] codes: [i32; 4]) {
    let got = ["never", "reject", "warn", "mutate"]
        .map(|level| scan(&["--fail-on", level, &example(file)]).code);
    assert_eq!(got, codes);
}

#[test]
fn text_is_the_default_and_says_where_each_object_is() {
    let file = example("non-compliant.yaml");
    let run = scan(&[&file]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.contains(&format!(
            "{file}:9: Deployment payments/checkout (CREATE): REJECTED (code 400)"
        )),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("  rejected: [injectionAnnotation] "),
        "{}",
        run.stdout
    );
    let last = run.stdout.lines().last().unwrap_or_default();
    assert!(last.starts_with("4 objects: "), "{last}");
}

/// The summary line's outcomes add up to the objects; the objects with
/// warnings are counted apart, whatever their outcome: in
/// non-compliant.yaml one is accepted and one rejected.
#[test]
fn the_summary_line_counts_warned_objects_of_every_outcome_apart() {
    let examples = ["kube-system.yaml", "meshed-app.yaml", "non-compliant.yaml"].map(example);
    let mut args = vec!["--fail-on", "never"];
    args.extend(examples.iter().map(String::as_str));
    let run = scan(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout.lines().last(),
        Some("9 objects: 4 accepted, 2 mutated, 3 rejected; warnings on 2 objects")
    );
    let json = scan(&["-o", "json", &examples[2]]);
    let report = json.json();
    let warned: Vec<&str> = report["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|result| result["warnings"].as_array().is_some_and(|w| !w.is_empty()))
        .map(|result| result["outcome"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(warned, ["accepted", "rejected"]);
    assert_eq!(
        json.stderr,
        "linkerd-ha-scan: 4 objects: 2 accepted, 0 mutated, 2 rejected; warnings on 2 objects\n"
    );
}

/// Each format on manifests that give every kind of result, accepted by an
/// independent validator, and refused once a byte is wrong.
#[rstest]
#[case::sarif("sarif", "sarif", "\"version\": \"2.1.0\"", "\"version\": \"2.1.1\"")]
#[case::junit("junit", "junit", "</testsuites>", "</testsuite>")]
#[case::policy_report("policy-report", "policy-report", "result: fail", "result: failed")]
#[case::openreports("openreports", "openreports", "result: fail", "result: failed")]
fn formats_pass_their_validators(
    #[case] output: &str,
    #[case] validator: &str,
    #[case] original: &str,
    #[case] broken: &str,
) {
    let run = scan(&[
        "-o",
        output,
        &example("non-compliant.yaml"),
        &example("meshed-app.yaml"),
        &example("kube-system.yaml"),
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let accepted = validate(validator, &run.stdout);
    assert!(
        accepted.status.success(),
        "{validator} refused our output: {}{}",
        String::from_utf8_lossy(&accepted.stdout),
        String::from_utf8_lossy(&accepted.stderr)
    );
    assert!(run.stdout.contains(original), "{}", run.stdout);
    let refused = validate(validator, &run.stdout.replacen(original, broken, 1));
    assert!(
        !refused.status.success(),
        "{validator} accepted a broken file"
    );
}

#[test]
fn sarif_has_a_result_per_violation_with_its_rule_and_place() {
    let file = example("non-compliant.yaml");
    let run = scan(&["-o", "sarif", &file]);
    let sarif: Value = serde_json::from_str(&run.stdout).expect("JSON");
    let results = sarif["runs"][0]["results"].as_array().expect("results");
    let checkout = results
        .iter()
        .find(|r| r["ruleId"] == "injectionAnnotation" && r["level"] == "error")
        .expect("the checkout Deployment's violation");
    assert_eq!(
        checkout["locations"][0]["physicalLocation"]["region"]["startLine"],
        9
    );
    // Relative to the working folder (the repository, in CI).
    assert_eq!(
        checkout["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "examples/non-compliant.yaml"
    );
    let rules = sarif["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .expect("rules");
    let index = checkout["ruleIndex"].as_u64().expect("index") as usize;
    assert_eq!(rules[index]["id"], "injectionAnnotation");
}

#[test]
fn junit_has_a_case_per_object_failing_as_the_exit_status_does() {
    let run = scan(&[
        "-o",
        "junit",
        "--fail-on",
        "mutate",
        &example("meshed-app.yaml"),
    ]);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stdout.matches("<testcase ").count(),
        3,
        "{}",
        run.stdout
    );
    assert_eq!(run.stdout.matches("<failure ").count(), 1, "{}", run.stdout);
    let relaxed = scan(&["-o", "junit", &example("meshed-app.yaml")]);
    assert_eq!(relaxed.stdout.matches("<failure ").count(), 0);
}

#[test]
fn fix_writes_the_mutations_and_leaves_the_rest_byte_for_byte() {
    let file = example("meshed-app.yaml");
    let original = std::fs::read_to_string(&file).expect("example");
    let fixed = scan(&["--fix", &file]);
    assert_eq!(fixed.code, 0, "{}", fixed.stderr);
    assert_ne!(fixed.stdout, original);
    assert!(fixed
        .stdout
        .contains("cluster-autoscaler.kubernetes.io/safe-to-evict: 'true'"));
    // The Namespace and the Service are as written, byte for byte.
    let documents: Vec<&str> = original.split("\n---\n").collect();
    for untouched in [documents[0], documents[2]] {
        assert!(fixed.stdout.contains(untouched), "{untouched}");
    }
    // Fixed, nothing is left to change: a second --fix is the identity,
    // and the strictest scan passes.
    let again = scan_with(&["--fix", "-"], Some(&fixed.stdout), None);
    assert_eq!(again.stdout, fixed.stdout);
    let strict = scan_with(&["--fail-on", "mutate", "-"], Some(&fixed.stdout), None);
    assert_eq!(strict.code, 0, "{}", strict.stdout);
}

#[test]
fn fix_keeps_comments_lists_and_untouched_files() {
    let helm = "# Source: app/templates/all.yaml\n---\n# Source: app/templates/ns.yaml\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: kube-system\n---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: c, namespace: default}\n";
    let fixed = scan_with(&["--fix", "-"], Some(helm), None);
    assert_eq!(fixed.code, 0, "{}", fixed.stderr);
    assert!(
        fixed.stdout.starts_with("# Source: app/templates/all.yaml\n---\n# Source: app/templates/ns.yaml\napiVersion: v1\n"),
        "{}",
        fixed.stdout
    );
    assert!(fixed
        .stdout
        .contains("config.linkerd.io/admission-webhooks: disabled"));
    assert!(fixed.stdout.ends_with("---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: c, namespace: default}\n"));
    let again = scan_with(&["--fix", "-"], Some(&fixed.stdout), None);
    assert_eq!(again.stdout, fixed.stdout);
}

#[test]
fn folders_are_read_recursively_in_path_order_and_non_objects_skipped() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    std::fs::create_dir_all(root.join("b/nested")).expect("dirs");
    std::fs::write(
        root.join("a.yaml"),
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: first}\n",
    )
    .expect("a");
    std::fs::write(
        root.join("b/nested/c.json"),
        r#"{"apiVersion": "v1", "kind": "List", "items": [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "second"}}]}"#,
    )
    .expect("c");
    std::fs::write(root.join("b/values.yml"), "replicas: 3\n").expect("values");
    std::fs::write(root.join("b/notes.txt"), "not a manifest").expect("notes");
    let run = scan(&["-o", "json", &root.display().to_string()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let names: Vec<String> = verdicts(&run)
        .into_iter()
        .map(|(name, _, _)| name)
        .collect();
    assert_eq!(names, ["Namespace/first", "Namespace/second"]);
    assert!(
        run.stderr.contains("values.yml: document 1 (line 1) skipped: it is not a Kubernetes object: no `apiVersion` or `kind`"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_policy_that_fails_exits_3() {
    let dir = tempfile::tempdir().expect("temp dir");
    let module = trapping_module(dir.path());
    let run = scan_with(
        &["-o", "json", &example("kube-system.yaml")],
        None,
        Some(&module),
    );
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(run.json()["results"][0]["outcome"], "failed");
}

#[rstest]
#[case::missing_file(&["/nonexistent/manifest.yaml"], "/nonexistent/manifest.yaml: No such file")]
// A manifest's unreadable document is judged around (tests/unreadable.rs);
// a cluster dump's is not: the cluster would be unknown.
#[case::dump_not_yaml(&["--cluster", "BAD_YAML", "EXAMPLE"], "document 2 (line 4) is not valid YAML")]
#[case::not_a_dump(&["--cluster", "VALUES", "EXAMPLE"], "not a cluster dump: document 1 (line 1) is not a Kubernetes object")]
#[case::empty_dump(&["--cluster", "EMPTY", "EXAMPLE"], "not a cluster dump: no objects")]
#[case::refused_settings(&["--settings", "BAD_SETTINGS", "EXAMPLE"], "the policy refuses the settings in")]
#[case::settings_not_yaml(&["--settings", "BAD_YAML", "EXAMPLE"], "not a YAML document")]
#[case::not_a_module(&["--module", "VALUES", "EXAMPLE"], "not the linkerd-ha-policy module")]
#[case::unknown_flag(&["--bogus", "EXAMPLE"], "unexpected argument '--bogus'")]
#[case::nodes_twice(&["--cluster", "NODES", "--nodes", "2", "EXAMPLE"], "--nodes 2: the --cluster dump lists its own Nodes")]
fn bad_input_is_one_clear_line_and_exit_2(#[case] args: &[&str], #[case] expected: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("written");
        path.display().to_string()
    };
    let bad_yaml = write(
        "bad.yaml",
        "apiVersion: v1\nkind: Namespace\n---\nkey: [unclosed\n",
    );
    let values = write("values.yaml", "replicas: 3\n");
    let empty = write("empty.yaml", "# nothing\n");
    let nodes = write(
        "nodes.yaml",
        "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Node, metadata: {name: n1}}\n",
    );
    let bad_settings = write("settings.yaml", "controlPlane: {replicas: 0}\n");
    let example = example("kube-system.yaml");
    let args: Vec<&str> = args
        .iter()
        .map(|arg| match *arg {
            "BAD_YAML" => bad_yaml.as_str(),
            "VALUES" => values.as_str(),
            "EMPTY" => empty.as_str(),
            "NODES" => nodes.as_str(),
            "BAD_SETTINGS" => bad_settings.as_str(),
            "EXAMPLE" => example.as_str(),
            other => other,
        })
        .collect();
    let run = match args.as_slice() {
        ["--module", module, rest @ ..] => scan_with(rest, None, Some(module)),
        _ => scan(&args),
    };
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains(expected), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    if !args.contains(&"--bogus") {
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    }
}

/// Root reads any folder: the unreadable folder is made unreadable to an
/// unprivileged user, who runs the scanner.
#[test]
fn an_unreadable_folder_is_exit_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let locked = dir.path().join("locked");
    std::fs::create_dir(&locked).expect("dir");
    std::fs::write(
        locked.join("a.yaml"),
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n",
    )
    .expect("file");
    let set_mode = |path: &Path, mode: u32| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    };
    set_mode(dir.path(), 0o755);
    set_mode(&locked, 0o000);
    let as_root = unsafe_is_root();
    let mut command = if as_root {
        let mut command = Command::new("setpriv");
        command.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]);
        command.arg(env!("CARGO_BIN_EXE_linkerd-ha-scan"));
        command
    } else {
        Command::new(env!("CARGO_BIN_EXE_linkerd-ha-scan"))
    };
    let module_copy = dir.path().join("policy.wasm");
    std::fs::copy(module(), &module_copy).expect("module copied");
    set_mode(&module_copy, 0o644);
    let output = command
        .arg("--module")
        .arg(&module_copy)
        .arg(&locked)
        .output()
        .expect("runs");
    set_mode(&locked, 0o755);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot read the folder"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

fn unsafe_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim() == "0")
        .unwrap_or(false)
}

#[test]
fn help_explains_the_flags_and_exit_codes() {
    let output = Command::new(env!("CARGO_BIN_EXE_linkerd-ha-scan"))
        .arg("--help")
        .output()
        .expect("runs");
    // Wrapped to the terminal's width: compared with its words on one line.
    let help = String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for expected in [
        "--cluster",
        "--fail-on",
        "--fix",
        "policy-report",
        "Exit status:",
        "3 the policy failed",
        "--allow-empty",
        "paths that hold no Kubernetes object (unless --allow-empty)",
        "documents that cannot be read (YAML that does not parse, unrendered templates): each is named and the rest is still judged and reported, but the status is 2",
        "at least 1",
        "the text report",
        "comments inside it are dropped",
    ] {
        assert!(help.contains(expected), "{expected} missing from:\n{help}");
    }
}

/// A policy that calls WASI beyond the sandbox fails on the object, and
/// the error speaks of the scanner's WebAssembly runtime: a scanner user
/// knows no test harness.
#[test]
fn a_policy_failure_is_told_in_the_users_words() {
    let dir = tempfile::tempdir().expect("temp dir");
    let module = failing_module(
        dir.path(),
        "(drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))",
    );
    let file = example("kube-system.yaml");
    let run = scan_with(&[&file], None, Some(&module));
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stdout.starts_with(&format!(
            "{file}:3: Namespace kube-system (CREATE): POLICY FAILED\n  error: guest call `validate` failed: guest call trapped: "
        )),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(": the guest called WASI `fd_read`, which the scanner's WebAssembly runtime does not provide (its sandbox has no filesystem, sockets, clocks or environment)\n"),
        "{}",
        run.stdout
    );
    assert_eq!(
        run.stdout.lines().last(),
        Some("2 objects: 0 accepted, 0 mutated, 0 rejected, 2 failed")
    );
    let json = scan_with(&["-o", "json", &file], None, Some(&module));
    let message = json.json()["results"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.contains("the scanner's WebAssembly runtime does not provide"),
        "{message}"
    );
    for output in [&run.stdout, &run.stderr, &json.stdout, &json.stderr] {
        assert!(!output.contains("harness"), "{output}");
    }
}

/// WebAssembly text, or any file that is not a compiled module, given as
/// the module: one line in the user's words.
#[test]
fn a_module_that_is_not_compiled_webassembly_is_named_so() {
    let dir = tempfile::tempdir().expect("temp dir");
    let wat = dir.path().join("policy.wat");
    std::fs::write(&wat, "(module)\n").expect("written");
    let wat = wat.display().to_string();
    let run = scan_with(&[&example("kube-system.yaml")], None, Some(&wat));
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(
        run.stderr,
        format!(
            "linkerd-ha-scan: error: {wat}: not the linkerd-ha-policy module: not a compiled \
             WebAssembly module (a .wasm file, as `make build` writes; WebAssembly text must be \
             compiled first, e.g. with `wasm-tools parse`)\n"
        )
    );
}

/// Every line a YAML error names is a line of the file, whatever document
/// it is in: the broken document's first line, and the parser's places.
/// The document before it is judged all the same, and the error ends the
/// output, with exit 2 (tests/unreadable.rs has the rest of that story).
#[rstest]
#[case::file(false)]
#[case::stdin(true)]
fn a_yaml_error_names_the_files_lines_and_columns(#[case] on_stdin: bool) {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = "# Source: app/ns.yaml\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n---\n# Source: app/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: shop\ndata:\n  mode: fast: yes\n";
    let path = dir.path().join("app.yaml");
    std::fs::write(&path, text).expect("written");
    let path = path.display().to_string();
    let (run, name) = if on_stdin {
        (scan_with(&["-"], Some(text), None), "<stdin>".to_owned())
    } else {
        (scan(&[&path]), path.clone())
    };
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        format!(
            "{name}:2: Namespace shop (CREATE): ACCEPTED\n1 object: 1 accepted, 0 mutated, 0 rejected\n"
        )
    );
    assert_eq!(
        run.stderr,
        format!(
            "linkerd-ha-scan: error: {name}: document 2 (line 8) is not valid YAML: mapping values \
             are not allowed in this context at line 14 column 13\n"
        )
    );
    // Two places in one message: both the file's lines.
    let flow =
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n# broken\nkey: [unclosed\n";
    let run = scan_with(&["-"], Some(flow), None);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(
        run.stderr,
        "linkerd-ha-scan: error: <stdin>: document 2 (line 6) is not valid YAML: did not find \
         expected ',' or ']' at line 7 column 1, while parsing a flow sequence at line 6 column 6\n"
    );
}

/// Paths that hold no Kubernetes object fail the job (a wrong path in CI),
/// naming what each held; --allow-empty accepts them.
#[rstest]
#[case::empty_folder(&["EMPTY_DIR"], None, "EMPTY_DIR has no *.yaml, *.yml or *.json file")]
#[case::folder_without_manifests(&["TEXT_DIR"], None, "TEXT_DIR has no *.yaml, *.yml or *.json file")]
#[case::folder_of_non_objects(&["VALUES_DIR"], None, "the 2 manifest files in VALUES_DIR hold none")]
#[case::empty_stdin(&["-"], Some(""), "standard input is empty")]
#[case::comments_on_stdin(&["-"], Some("# nothing yet\n---\n"), "standard input is empty")]
#[case::values_on_stdin(&["-"], Some("replicas: 3\n"), "standard input holds none")]
#[case::empty_list(&["LIST"], None, "LIST holds none")]
#[case::several(&["EMPTY_DIR", "-"], Some(""), "EMPTY_DIR has no *.yaml, *.yml or *.json file and standard input is empty")]
fn nothing_to_judge_is_exit_2_unless_allowed(
    #[case] args: &[&str],
    #[case] stdin: Option<&str>,
    #[case] reason: &str,
) {
    let dir = tempfile::tempdir().expect("temp dir");
    let folder = |name: &str| {
        let path = dir.path().join(name);
        std::fs::create_dir(&path).expect("dir");
        path
    };
    let empty_dir = folder("empty");
    let text_dir = folder("text");
    std::fs::write(text_dir.join("README.txt"), "apiVersion: v1\n").expect("written");
    let values_dir = folder("values");
    std::fs::write(values_dir.join("a.yaml"), "# comments only\n").expect("written");
    std::fs::write(values_dir.join("values.yml"), "replicas: 3\n").expect("written");
    let list = dir.path().join("list.yaml");
    std::fs::write(&list, "apiVersion: v1\nkind: List\nitems: []\n").expect("written");
    let names = [
        ("EMPTY_DIR", empty_dir.display().to_string()),
        ("TEXT_DIR", text_dir.display().to_string()),
        ("VALUES_DIR", values_dir.display().to_string()),
        ("LIST", list.display().to_string()),
    ];
    let named = |text: &str| {
        names
            .iter()
            .fold(text.to_owned(), |text, (key, path)| text.replace(key, path))
    };
    let args: Vec<String> = args.iter().map(|arg| named(arg)).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();

    let run = scan_with(&args, stdin, None);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert_eq!(
        run.stderr,
        format!(
            "linkerd-ha-scan: error: no Kubernetes object to judge: {} (pass --allow-empty if \
             that is expected)\n",
            named(reason)
        )
    );

    let allowed = [&["--allow-empty"], args.as_slice()].concat();
    let run = scan_with(&allowed, stdin, None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "0 objects: 0 accepted, 0 mutated, 0 rejected\n");
    let json = scan_with(&[&["-o", "json"], allowed.as_slice()].concat(), stdin, None);
    assert_eq!(json.code, 0, "{}", json.stderr);
    assert_eq!(json.json()["summary"]["total"], 0);
}

/// One Kubernetes object anywhere is something to judge: a values file
/// next to manifests is skipped with a note, as before.
#[test]
fn a_values_file_next_to_manifests_is_only_a_note() {
    let dir = tempfile::tempdir().expect("temp dir");
    let values = dir.path().join("values.yaml");
    std::fs::write(&values, "replicas: 3\n").expect("written");
    let values = values.display().to_string();
    let run = scan(&[&values, &example("meshed-app.yaml")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stderr,
        format!("linkerd-ha-scan: note: {values}: document 1 (line 1) skipped: it is not a Kubernetes object: no `apiVersion` or `kind`\n")
    );
}

#[rstest]
#[case::zero(
    "0",
    "the policy needs at least 1 second per object (there is no unlimited timeout)"
)]
#[case::not_a_number("1.5", "not a whole number of seconds: invalid digit found in string")]
fn timeout_takes_whole_seconds_from_1(#[case] value: &str, #[case] why: &str) {
    let run = scan(&["--timeout", value, &example("kube-system.yaml")]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(
        run.stderr.starts_with(&format!(
            "error: invalid value '{value}' for '--timeout <SECONDS>': {why}\n"
        )),
        "{}",
        run.stderr
    );
    let one = scan(&["--timeout", "1", &example("meshed-app.yaml")]);
    assert_eq!(one.code, 0, "{}", one.stderr);
}

/// Under --fix, standard error gets the whole text report, exactly what
/// the scan without --fix writes to standard output.
#[test]
fn fix_writes_the_text_report_to_standard_error() {
    let file = example("kube-system.yaml");
    let report = scan(&[&file]);
    let fixed = scan(&["--fix", &file]);
    assert_eq!(fixed.code, report.code);
    assert_eq!(fixed.stderr, report.stdout);
    assert!(
        fixed.stderr.starts_with(&format!(
            "{file}:3: Namespace kube-system (CREATE): MUTATED\n  fixed: [systemNamespaces] Namespace kube-system: "
        )),
        "{}",
        fixed.stderr
    );
    assert!(
        fixed
            .stderr
            .contains("--overwrite\n  patch: {\"op\":\"add\",\"path\":\"/metadata/labels\""),
        "{}",
        fixed.stderr
    );
    assert_eq!(
        fixed.stderr.lines().last(),
        Some("2 objects: 0 accepted, 1 mutated, 1 rejected")
    );
}

/// What --help and docs/scanner.md say of a mutated document: written
/// anew, its inner comments dropped, its keys sorted; the document the
/// policy leaves alone stays byte for byte.
#[test]
fn fix_rewrites_a_mutated_document_without_its_inner_comments() {
    let manifest = "# Source: ns.yaml\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: kube-system # the system namespace\n  labels: {team: platform}\n---\n# Source: cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c # untouched\n  namespace: default\n";
    let fixed = scan_with(&["--fix", "-"], Some(manifest), None);
    assert_eq!(fixed.code, 0, "{}", fixed.stderr);
    assert_eq!(
        fixed.stdout,
        "# Source: ns.yaml\napiVersion: v1\nkind: Namespace\nmetadata:\n  labels:\n    config.linkerd.io/admission-webhooks: disabled\n    team: platform\n  name: kube-system\n---\n# Source: cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c # untouched\n  namespace: default\n"
    );
}

/// Every manifest file the tests judge: the examples, test_data's
/// manifests and Linkerd's own output beside the repository.
fn manifest_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for folder in [
        "examples",
        "test_data",
        "test_data/kubewarden/objects",
        "test_data/linkerd-extensions",
        "../shared/fixtures/linkerd",
    ] {
        let entries = std::fs::read_dir(workspace().join(folder))
            .unwrap_or_else(|e| panic!("{folder}: {e}"))
            .map(|entry| entry.expect("a folder entry").path())
            .filter(|path| {
                path.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| matches!(e, "yaml" | "yml" | "golden"))
            });
        files.extend(entries);
    }
    files.sort();
    files
}

/// Settings with every rule that can fix on `mutate`.
fn all_mutate_settings(dir: &Path) -> PathBuf {
    let rules: Vec<String> = linkerd_ha_policy::finding::RuleId::ALL
        .into_iter()
        .filter(|rule| rule.can_mutate())
        .map(|rule| format!("{}: mutate", rule.name()))
        .collect();
    let path = dir.join("mutate.yaml");
    std::fs::write(&path, format!("rules: {{{}}}\n", rules.join(", "))).expect("settings");
    path
}

/// The rule behind every change: each file judged on its own, as the
/// parity tests do, and every MUTATED result names at least one rule, each
/// a rule of the module that can fix, with at least one line of what it
/// fixed, each line its own. With every fixing rule on `mutate`, each of
/// them names itself somewhere.
#[rstest]
#[case::defaults(false)]
#[case::all_mutate(true)]
fn every_mutation_names_its_rules(#[case] all_mutate: bool) {
    use linkerd_ha_policy::finding::RuleId;
    let dir = tempfile::tempdir().expect("temp dir");
    let settings = all_mutate_settings(dir.path()).display().to_string();
    let mut named: Vec<String> = Vec::new();
    let mut mutated = 0;
    for file in manifest_files() {
        let file = file.display().to_string();
        let mut args = vec!["-o", "json", "--fail-on", "never", &file];
        if all_mutate {
            args.extend(["--settings", &settings]);
        }
        let run = scan(&args);
        assert_eq!(run.code, 0, "{file}: {}", run.stderr);
        let report = run.json();
        for result in report["results"].as_array().expect("results") {
            let title = format!("{file}: {} {}", result["kind"], result["name"]);
            if result["outcome"] != "mutated" {
                assert_eq!(result["mutatedBy"], Value::Null, "{title}");
                continue;
            }
            mutated += 1;
            let rules = result["mutatedBy"].as_array().expect("mutatedBy");
            assert!(!rules.is_empty(), "{title}: a mutation that names no rule");
            for rule in rules {
                let name = rule["rule"].as_str().unwrap_or_default();
                assert!(
                    RuleId::ALL
                        .into_iter()
                        .any(|known| known.name() == name && known.can_mutate()),
                    "{title}: {name} is not a rule that can fix"
                );
                let fixed = rule["fixed"].as_array().expect("fixed");
                assert!(!fixed.is_empty(), "{title}: {name} says nothing");
                for line in fixed {
                    assert_eq!(line["rule"], name, "{title}: {line}");
                    assert!(
                        line["text"].as_str().is_some_and(|t| t.contains(". Fix: ")),
                        "{title}: {line}"
                    );
                }
                if !named.iter().any(|seen| seen == name) {
                    named.push(name.to_owned());
                }
            }
        }
    }
    assert!(mutated > 0, "no mutation in the fixtures");
    if all_mutate {
        named.sort();
        let mut fixing: Vec<&str> = RuleId::ALL
            .into_iter()
            .filter(|rule| rule.can_mutate())
            .map(RuleId::name)
            .collect();
        fixing.sort_unstable();
        assert_eq!(named, fixing);
    }
}

/// Each format says which rule made a change, in the rule's own words
/// from the policy's answer.
#[rstest]
#[case::text("text", "  fixed: [safeToEvict] Deployment shop/web: meshed pods need")]
#[case::json("json", "\"rule\": \"safeToEvict\"")]
#[case::sarif("sarif", "\"ruleId\": \"safeToEvict\"")]
#[case::junit(
    "junit",
    "message=\"the policy would change this object: safeToEvict\""
)]
#[case::policy_report("policy-report", "rule: safeToEvict")]
#[case::openreports("openreports", "rule: safeToEvict")]
fn every_format_names_the_rule_behind_a_change(#[case] output: &str, #[case] expected: &str) {
    let run = scan(&[
        "-o",
        output,
        "--fail-on",
        "mutate",
        &example("meshed-app.yaml"),
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stdout.contains(expected), "{}", run.stdout);
    // The problem and fix the rule's annotation describes, whatever the format.
    assert!(
        run.stdout.contains(
            "Deployment shop/web: meshed pods need `cluster-autoscaler.kubernetes.io/safe-to-evict: "
        ),
        "{}",
        run.stdout
    );
}

/// SARIF: one note per rule that changed the object, with that rule's
/// text; the reports: that rule passes, saying what it fixes.
#[test]
fn sarif_and_the_reports_give_each_changing_rule_its_own_text() {
    let file = example("meshed-app.yaml");
    let run = scan(&["-o", "sarif", &file]);
    let sarif: Value = serde_json::from_str(&run.stdout).expect("JSON");
    let notes: Vec<(&str, &str)> = sarif["runs"][0]["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|result| result["level"] == "note")
        .map(|result| {
            (
                result["ruleId"].as_str().unwrap_or_default(),
                result["message"]["text"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(notes.len(), 1, "{notes:?}");
    let (rule, text) = notes[0];
    assert_eq!(rule, "safeToEvict");
    assert!(
        text.starts_with("Deployment shop/web: meshed pods need "),
        "{text}"
    );
    assert!(
        text.ends_with(
            " — the policy makes this fix at admission (linkerd-ha-scan --fix writes it)"
        ),
        "{text}"
    );
    for output in ["policy-report", "openreports"] {
        let run = scan(&["-o", output, &file]);
        let reports: Vec<Value> = serde_yaml_ng::Deserializer::from_str(&run.stdout)
            .map(|document| serde::Deserialize::deserialize(document).expect("YAML"))
            .collect();
        let web = reports
            .iter()
            .find(|report| report["scope"]["name"] == "web")
            .expect("the web Deployment's report");
        let results = web["results"].as_array().expect("results");
        let with_message: Vec<(&str, &str, &str)> = results
            .iter()
            .filter(|result| result.get("message").is_some())
            .map(|result| {
                (
                    result["rule"].as_str().unwrap_or_default(),
                    result["result"].as_str().unwrap_or_default(),
                    result["message"].as_str().unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(with_message.len(), 1, "{output}: {with_message:?}");
        assert_eq!(with_message[0].0, "safeToEvict", "{output}");
        assert_eq!(with_message[0].1, "pass", "{output}");
        assert_eq!(with_message[0].2, text, "{output}");
    }
}

/// A guest that answers every object with a mutation whose answer names
/// no rule, as a module older than the `mutated-by` audit annotation does.
fn nameless_mutation_module(dir: &Path) -> String {
    let answer = r#"{"accepted":true,"mutated_object":{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"kube-system","labels":{"team":"platform"}}}}"#;
    guest_module(
        dir,
        &format!(
            "(call $guest_response (i32.const 2048) (i32.const {})) (return (i32.const 1))",
            answer.len()
        ),
        &format!(
            "(data (i32.const 2048) \"{}\")",
            answer.replace('"', "\\\"")
        ),
    )
}

/// Such a change is told as the policy's, under the `mutation` rule, in
/// every format, and still counts as a mutation.
#[rstest]
#[case::text(
    "text",
    "  fixed: [mutation] the policy's answer names no rule for this change"
)]
#[case::json("json", "\"mutatedBy\": []")]
#[case::sarif("sarif", "\"ruleId\": \"mutation\"")]
#[case::junit(
    "junit",
    "the policy would change this object; the policy&apos;s answer names no rule"
)]
#[case::policy_report("policy-report", "rule: mutation")]
#[case::openreports("openreports", "rule: mutation")]
fn a_change_that_names_no_rule_is_the_policys(#[case] output: &str, #[case] expected: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let module = nameless_mutation_module(dir.path());
    let run = scan_with(
        &["-o", output, "--fail-on", "mutate", "-"],
        Some("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: kube-system\n"),
        Some(&module),
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stdout.contains(expected), "{}", run.stdout);
    if output == "sarif" {
        let sarif: Value = serde_json::from_str(&run.stdout).expect("JSON");
        let notes: Vec<&Value> = sarif["runs"][0]["results"]
            .as_array()
            .expect("results")
            .iter()
            .filter(|result| result["level"] == "note")
            .collect();
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(
            notes[0]["message"]["text"]
                .as_str()
                .is_some_and(|text| text.contains("{\"op\":\"add\",\"path\":\"/metadata/labels\"")),
            "{}",
            notes[0]
        );
    }
}

/// `-o openreports`: the audit scanner's openreports.io/v1alpha1 shape, one
/// report per object (a Report in its namespace, a ClusterReport for a
/// cluster-scoped one), the same reports as `-o policy-report` but for
/// their apiVersion and kind.
#[test]
fn openreports_are_the_policy_reports_in_the_openreports_api() {
    let files = ["non-compliant.yaml", "meshed-app.yaml", "kube-system.yaml"].map(example);
    let documents = |output: &str| -> Vec<Value> {
        let mut args = vec!["-o", output];
        args.extend(files.iter().map(String::as_str));
        let run = scan(&args);
        assert_eq!(run.code, 1, "{}", run.stderr);
        serde_yaml_ng::Deserializer::from_str(&run.stdout)
            .map(|document| serde::Deserialize::deserialize(document).expect("YAML"))
            .map(|mut report: Value| {
                // Written a moment apart.
                for result in report["results"].as_array_mut().expect("results") {
                    result["timestamp"]["seconds"] = Value::from(0);
                }
                report
            })
            .collect()
    };
    let open = documents("openreports");
    let wgpolicy = documents("policy-report");
    assert_eq!(open.len(), 9);
    assert_eq!(open.len(), wgpolicy.len());
    for (open, wgpolicy) in open.iter().zip(&wgpolicy) {
        let namespaced = open["metadata"].get("namespace").is_some();
        let (kind, wgpolicy_kind) = if namespaced {
            ("Report", "PolicyReport")
        } else {
            ("ClusterReport", "ClusterPolicyReport")
        };
        assert_eq!(open["apiVersion"], "openreports.io/v1alpha1");
        assert_eq!(open["kind"], kind);
        assert_eq!(wgpolicy["apiVersion"], "wgpolicyk8s.io/v1alpha2");
        assert_eq!(wgpolicy["kind"], wgpolicy_kind);
        let mut same = wgpolicy.clone();
        same["apiVersion"] = open["apiVersion"].clone();
        same["kind"] = open["kind"].clone();
        assert_eq!(*open, same);
        assert_eq!(open["scope"]["namespace"], open["metadata"]["namespace"]);
        assert_eq!(
            open["metadata"]["labels"]["app.kubernetes.io/managed-by"],
            "linkerd-ha-scan"
        );
        for result in open["results"].as_array().expect("results") {
            assert_eq!(result["source"], "kubewarden");
            assert_eq!(result["policy"], "clusterwide-linkerd-ha-mutating");
            assert_eq!(result["category"], "Service mesh");
            assert_eq!(result["severity"], "medium");
            assert_eq!(result["resourceSelector"], serde_json::json!({}));
            assert_eq!(result["properties"]["policy-name"], "linkerd-ha-mutating");
            assert_eq!(result["properties"]["mutating"], "true");
            assert_eq!(result["timestamp"]["nanos"], 0);
        }
    }
    let checkout = open
        .iter()
        .find(|report| report["scope"]["name"] == "checkout")
        .expect("the checkout Deployment's report");
    assert_eq!(
        checkout["metadata"]["name"],
        "linkerd-ha-deployment-checkout"
    );
    assert_eq!(checkout["metadata"]["namespace"], "payments");
    let failed: Vec<&Value> = checkout["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|result| result["result"] == "fail")
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["rule"], "injectionAnnotation");
    assert_eq!(checkout["summary"]["fail"], 1);
}
