//! `linkerd-ha-scan -o openreports` against the API server itself: the
//! OpenReports CRDs Kubewarden 1.35 installs (openreports/reports-api
//! v0.2.1, committed in scan/tests/validators/crds/openreports/) are
//! created on a loopback cluster, and the scanner's Reports and
//! ClusterReports are applied with `kubectl apply --server-side
//! --validate=strict`: the API server checks each against the CRD's
//! openAPIV3Schema, refusing unknown fields, and stores them as written.
//! A report the schema refuses is refused, so the check is real.
//!
//! No webhook is registered: the reports' group is not one the policy's
//! rules match, and what is checked is the API server's own validation.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use cluster_e2e::objects::documents;
use cluster_e2e::{progress, project, wait_until, Cluster, Kubectl, Tools};
use serde_json::Value;

const CRDS: [&str; 2] = ["reports.openreports.io", "clusterreports.openreports.io"];

/// The CRD files, as committed.
fn crd_files() -> Vec<PathBuf> {
    let folder = project()
        .root
        .join("scan/tests/validators/crds/openreports");
    CRDS.iter()
        .map(|crd| {
            let plural = crd.split('.').next().unwrap_or_default();
            let path = folder.join(format!("openreports.io_{plural}.yaml"));
            assert!(path.is_file(), "{} is missing", path.display());
            path
        })
        .collect()
}

/// `linkerd-ha-scan -o openreports` over `files`, as `cargo build -p
/// linkerd-ha-scan` left it, on the built module.
fn scan_reports(files: &[PathBuf]) -> String {
    let project = project();
    let scanner = cluster_e2e::scanner_binary();
    let module = project.module_path();
    assert!(
        module.is_file(),
        "{} is missing: `make build` builds the policy module",
        module.display()
    );
    let output = Command::new(&scanner)
        .arg("--module")
        .arg(&module)
        .args(["-o", "openreports", "--fail-on", "never"])
        .args(files)
        .output()
        .expect("the scanner runs");
    assert_eq!(
        output.status.code(),
        Some(0),
        "linkerd-ha-scan -o openreports: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8")
}

/// `Kind namespace/name` of a report, the key the API server stores it under.
fn key(report: &Value) -> String {
    format!(
        "{} {}/{}",
        report["kind"].as_str().unwrap_or_default(),
        report["metadata"]["namespace"].as_str().unwrap_or_default(),
        report["metadata"]["name"].as_str().unwrap_or_default()
    )
}

fn install_crds(kubectl: &Kubectl) {
    let mut args = vec!["apply", "--server-side", "--field-manager=cluster-e2e"];
    let files: Vec<String> = crd_files()
        .iter()
        .map(|path| path.display().to_string())
        .collect();
    for file in &files {
        args.extend(["-f", file.as_str()]);
    }
    kubectl.run(&args).ok();
    let mut wait = vec!["wait", "--for=condition=Established", "--timeout=60s"];
    let names: Vec<String> = CRDS.iter().map(|crd| format!("crd/{crd}")).collect();
    wait.extend(names.iter().map(String::as_str));
    kubectl.run(&wait).ok();
    // kubectl finds the new kinds once discovery lists them.
    wait_until(
        "discovery to list the openreports.io kinds",
        Duration::from_secs(60),
        || {
            let run = kubectl.run(&["api-resources", "--api-group=openreports.io", "-o", "name"]);
            let listed = run.stdout.lines().filter(|line| !line.is_empty()).count();
            if run.success && listed == CRDS.len() {
                Ok(())
            } else {
                Err(format!("{}{}", run.stdout, run.stderr))
            }
        },
    );
}

#[test]
fn the_api_server_stores_the_scanners_openreports() {
    let tools = Tools::from_env();
    let root = project().root;
    // Reports of every kind: Reports and ClusterReports, pass, fail, warn,
    // the fixes at admission, and Linkerd's HA install (42 objects, among
    // them cluster-scoped RBAC, CRDs and webhook configurations).
    let files: Vec<PathBuf> = ["non-compliant.yaml", "meshed-app.yaml", "kube-system.yaml"]
        .iter()
        .map(|file| root.join("examples").join(file))
        .chain([root.join("../shared/fixtures/linkerd/install_ha_output.golden")])
        .collect();
    let text = scan_reports(&files);
    let generated = documents(&text);
    // What the cluster ends with: the last report written for each key.
    let expected: BTreeMap<String, &Value> = generated
        .iter()
        .map(|report| (key(report), report))
        .collect();
    let count = |kind: &str| expected.values().filter(|r| r["kind"] == kind).count();
    progress(format!(
        "openreports: {} documents from the scanner, {} Reports and {} ClusterReports",
        generated.len(),
        count("Report"),
        count("ClusterReport")
    ));
    assert!(count("Report") > 0 && count("ClusterReport") > 0);

    let cluster = Cluster::up(&tools);
    let kubectl = Kubectl::new(&tools.kubectl, &cluster.kubeconfig);
    install_crds(&kubectl);
    progress("openreports: CRDs established (openreports/reports-api v0.2.1)");

    // The reports' namespaces, as the objects they describe would have made.
    let existing: Vec<String> = kubectl
        .list(&["namespaces"])
        .iter()
        .filter_map(|namespace| namespace["metadata"]["name"].as_str().map(str::to_owned))
        .collect();
    let mut namespaces: Vec<&str> = expected
        .values()
        .filter_map(|report| report["metadata"]["namespace"].as_str())
        .filter(|namespace| !existing.iter().any(|e| e == namespace))
        .collect();
    namespaces.sort_unstable();
    namespaces.dedup();
    for namespace in &namespaces {
        kubectl.run(&["create", "namespace", namespace]).ok();
    }

    // Server-side apply with strict field validation: the API server
    // checks every report against the CRD's schema and refuses any field
    // it does not declare.
    let applied = kubectl.print_with_stdin(
        &[
            "apply",
            "--server-side",
            "--field-manager=linkerd-ha-scan",
            "--validate=strict",
            "-f",
            "-",
        ],
        Some(&text),
    );
    assert!(applied.success, "{applied}");
    assert!(applied.errors().is_empty(), "{applied}");
    assert!(applied.warnings().is_empty(), "{applied}");
    let lines = applied
        .lines()
        .filter(|line| line.ends_with(" serverside-applied"))
        .count();
    assert_eq!(lines, generated.len(), "{applied}");

    // Stored as written: what the scanner wrote, field for field.
    let stored: BTreeMap<String, Value> = kubectl
        .list(&["reports.openreports.io", "-A"])
        .into_iter()
        .chain(kubectl.list(&["clusterreports.openreports.io"]))
        .map(|report| (key(&report), report))
        .collect();
    assert_eq!(
        stored.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    for (name, report) in &expected {
        let kept = &stored[name];
        for field in ["apiVersion", "kind", "scope", "summary", "results"] {
            assert_eq!(kept[field], report[field], "{name}: {field}");
        }
        assert_eq!(
            kept["metadata"]["labels"], report["metadata"]["labels"],
            "{name}"
        );
    }
    progress(format!(
        "openreports: {} reports stored as the scanner wrote them",
        stored.len()
    ));

    // The schema is in force: a result outside its enum, and a field the
    // CRD does not declare, are refused.
    let mut report = generated
        .iter()
        .find(|report| report["kind"] == "Report")
        .cloned()
        .expect("a Report");
    // A new report, so that nothing but the schema stands in its way.
    report["metadata"]["name"] = Value::from("linkerd-ha-refused");
    report["results"][0]["result"] = Value::from("failed");
    let refused = kubectl.print_with_stdin(
        &["apply", "--server-side", "--validate=strict", "-f", "-"],
        Some(&report.to_string()),
    );
    assert!(!refused.success, "{refused}");
    assert!(
        refused.text.contains("Unsupported value: \"failed\""),
        "{refused}"
    );
    progress(format!(
        "openreports: a result outside the schema's enum is refused: {}",
        refused.text.trim()
    ));
    report["results"][0]["result"] = Value::from("pass");
    report["results"][0]["rules"] = Value::from("safeToEvict");
    let refused = kubectl.print_with_stdin(
        &["apply", "--server-side", "--validate=strict", "-f", "-"],
        Some(&report.to_string()),
    );
    assert!(!refused.success, "{refused}");
    assert!(
        refused
            .text
            .contains(".results[0].rules: field not declared in schema"),
        "{refused}"
    );
    progress(format!(
        "openreports: a field the CRD does not declare is refused: {}",
        refused.text.trim()
    ));
}
