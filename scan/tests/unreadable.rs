//! Documents the scanner cannot read (YAML that does not parse, unrendered
//! Helm and Go templates, files that are not UTF-8) as `kubectl apply -R -f`
//! meets them: each is named, with its file and line and the parser's
//! words, every other object is judged in `kubectl apply`'s order, and the
//! scan exits with 2 once it is done, in every output format.

mod common;

use common::*;

use rstest::rstest;
use serde_json::Value;

/// `Kind/name outcome` of each result of a JSON report.
fn verdicts(run: &Run) -> Vec<String> {
    run.json()["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|result| {
            format!(
                "{}/{} {}",
                result["kind"].as_str().unwrap_or_default(),
                result["name"].as_str().unwrap_or_default(),
                result["outcome"].as_str().unwrap_or_default()
            )
        })
        .collect()
}

/// test_data/unrendered-templates: a small repository as a new user scans
/// it whole, with five templates among its manifests.
const REPOSITORY: &str = "test_data/unrendered-templates";

/// What its five templates are named by, in `kubectl apply -R`'s (path)
/// order: each file, the line its document starts on, and where the
/// parser stopped.
const TEMPLATES: [(&str, usize, &str); 5] = [
    (
        "charts/web/templates/deployment.yaml",
        1,
        "invalid type: map, expected a string key at line 1 column 2",
    ),
    (
        "charts/web/templates/service.yaml",
        1,
        "metadata.name: invalid type: map, expected a string key at line 4 column 10",
    ),
    (
        "storage/persistent-volume.yaml",
        2,
        "spec.capacity.storage: invalid type: map, expected a string key at line 8 column 15",
    ),
    (
        "templates/configmap.yaml",
        1,
        "data.config: invalid type: map, expected a string key at line 7 column 12",
    ),
    (
        "templates/job.yaml",
        3,
        "spec.template.spec.containers[0].image: invalid type: map, expected a string key at \
         line 14 column 17",
    ),
];

/// The objects it holds besides, judged in path order.
const OBJECTS: [&str; 4] = [
    "Namespace/guestbook",
    "Deployment/frontend",
    "Service/frontend",
    "PersistentVolumeClaim/data",
];

const TEMPLATE_HINT: &str =
    " (it holds `{{`: a Helm or Go template must be rendered first, e.g. by `helm template`)";

/// The issue: five template files in a repository took five runs to find.
/// One run names them all, on standard error after the report, in every
/// format; judges every object; skips the chart's metadata with a note; and
/// exits with 2 whatever `--fail-on` says.
#[rstest]
#[case::text("text")]
#[case::json("json")]
#[case::sarif("sarif")]
#[case::junit("junit")]
#[case::policy_report("policy-report")]
fn a_repository_with_five_templates_is_read_in_one_run(#[case] format: &str) {
    let run = scan(&["-o", format, "--fail-on", "never", REPOSITORY]);
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    let expected: Vec<String> = TEMPLATES
        .iter()
        .map(|(file, line, place)| {
            format!("{REPOSITORY}/{file}: document 1 (line {line}) is not valid YAML: {place}{TEMPLATE_HINT}")
        })
        .collect();
    assert_eq!(run.errors(), expected, "{}", run.stderr);
    // The errors end the output: the last thing a CI log shows.
    assert!(
        run.stderr.ends_with(&format!("{}\n", expected[4])),
        "{}",
        run.stderr
    );
    // A chart's Chart.yaml and values.yaml are YAML: notes, as before.
    assert_eq!(
        run.stderr.matches("linkerd-ha-scan: note: ").count(),
        2,
        "{}",
        run.stderr
    );
    // The verdicts are the policy's business; all four objects are judged.
    let summary = "4 objects: ";
    match format {
        "text" => {
            let paragraphs: Vec<&str> = run
                .stdout
                .lines()
                .filter(|line| line.starts_with(REPOSITORY))
                .collect();
            let expected = [
                "app/00-namespace.yaml:1: Namespace guestbook",
                "app/frontend.yaml:2: Deployment guestbook/frontend",
                "app/frontend.yaml:19: Service guestbook/frontend",
                "storage/claim.yaml:1: PersistentVolumeClaim guestbook/data",
            ];
            assert_eq!(paragraphs.len(), expected.len(), "{}", run.stdout);
            for (paragraph, object) in paragraphs.iter().zip(expected) {
                assert!(
                    paragraph.starts_with(&format!("{REPOSITORY}/{object} (CREATE): ")),
                    "{paragraph}"
                );
            }
            let last = run.stdout.lines().last().unwrap_or_default();
            assert!(last.starts_with(summary), "{}", run.stdout);
        }
        "json" => {
            let names: Vec<String> = verdicts(&run)
                .iter()
                .map(|v| v.split(' ').next().unwrap_or_default().to_owned())
                .collect();
            assert_eq!(names, OBJECTS);
            let unreadable = run.json()["unreadable"].clone();
            let named: Vec<(String, u64, u64)> = unreadable
                .as_array()
                .expect("an `unreadable` list")
                .iter()
                .map(|u| {
                    (
                        u["file"].as_str().unwrap_or_default().to_owned(),
                        u["document"].as_u64().unwrap_or_default(),
                        u["line"].as_u64().unwrap_or_default(),
                    )
                })
                .collect();
            let expected: Vec<(String, u64, u64)> = TEMPLATES
                .iter()
                .map(|(file, line, _)| (format!("{REPOSITORY}/{file}"), 1, *line as u64))
                .collect();
            assert_eq!(named, expected);
            assert_eq!(
                unreadable[3]["problem"],
                format!("is not valid YAML: {}{TEMPLATE_HINT}", TEMPLATES[3].2)
            );
        }
        validator => {
            let checked = validate(validator, &run.stdout);
            assert!(
                checked.status.success(),
                "{validator} refused the report of the readable objects: {}{}",
                String::from_utf8_lossy(&checked.stdout),
                String::from_utf8_lossy(&checked.stderr)
            );
            assert!(
                run.stderr
                    .contains(&format!("\nlinkerd-ha-scan: {summary}")),
                "{}",
                run.stderr
            );
        }
    }
}

/// The broken document to put among good ones, and the parser's words on
/// it when it starts on `line`.
const BROKEN: &str = "key: [unclosed\n";

fn broken_message(line: usize) -> String {
    format!(
        "is not valid YAML: did not find expected ',' or ']' at line {} column 1, while parsing \
         a flow sequence at line {line} column 6",
        line + 1
    )
}

const NAMESPACE: &str = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  annotations:\n    linkerd.io/inject: enabled\n";
const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\nspec:\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: web:1\n";

/// A multi-document file (or standard input) with one broken document:
/// the stream is split at its `---` lines before any document is parsed,
/// so the broken one costs only itself. The documents around it are
/// judged, in order: the Deployment after it is judged in the namespace
/// the Namespace before it created, and mutated (the safe-to-evict
/// annotation), as `kubectl apply` would have it.
#[rstest]
fn one_broken_document_costs_only_itself(
    #[values(0, 1, 2)] position: usize,
    #[values(false, true)] on_stdin: bool,
) {
    let mut documents = vec![NAMESPACE, DEPLOYMENT];
    documents.insert(position, BROKEN);
    let text = documents.join("---\n");
    let line = text[..text.find(BROKEN).expect("the broken document")]
        .matches('\n')
        .count()
        + 1;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("app.yaml");
    std::fs::write(&path, &text).expect("written");
    let path = path.display().to_string();
    let (run, name) = if on_stdin {
        (
            scan_with(&["-o", "json", "-"], Some(&text), None),
            "<stdin>",
        )
    } else {
        (scan(&["-o", "json", &path]), path.as_str())
    };
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(
        verdicts(&run),
        ["Namespace/shop accepted", "Deployment/web mutated"]
    );
    let documents: Vec<u64> = run.json()["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|result| result["document"].as_u64())
        .collect();
    let expected: Vec<u64> = (1..=3).filter(|n| *n != position as u64 + 1).collect();
    assert_eq!(documents, expected, "each keeps its number in the file");
    assert_eq!(
        run.errors(),
        [format!(
            "{name}: document {} (line {line}) {}",
            position + 1,
            broken_message(line)
        )]
    );
}

/// `true` is not a value of `linkerd.io/inject`: rejected.
const REJECTED: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: checkout\nspec:\n  selector:\n    matchLabels: {app: c}\n  template:\n    metadata:\n      labels: {app: c}\n      annotations: {linkerd.io/inject: \"true\"}\n    spec:\n      containers:\n      - name: c\n        image: c:1\n";

/// Exit 2 says the scan did not see everything `kubectl apply` would be
/// given: it outranks every verdict, and a policy failure (3); the verdicts
/// are still reported.
#[rstest]
#[case::accepted_only(NAMESPACE, &["--fail-on", "never"], false, "accepted")]
#[case::rejected(REJECTED, &[], false, "rejected")]
#[case::warned_under_fail_on_warn(DEPLOYMENT, &["--fail-on", "warn"], false, "accepted")]
#[case::policy_failure(NAMESPACE, &[], true, "failed")]
fn exit_2_outranks_every_verdict(
    #[case] object: &str,
    #[case] flags: &[&str],
    #[case] trapping: bool,
    #[case] outcome: &str,
) {
    let dir = tempfile::tempdir().expect("temp dir");
    let module = trapping.then(|| trapping_module(dir.path()));
    let text = format!("{object}---\n{BROKEN}");
    let args = [&["-o", "json"], flags, &["-"]].concat();
    let run = scan_with(&args, Some(&text), module.as_deref());
    assert_eq!(run.code, 2, "{}", run.stderr);
    let verdicts = verdicts(&run);
    assert_eq!(verdicts.len(), 1, "{verdicts:?}");
    assert!(
        verdicts[0].ends_with(&format!(" {outcome}")),
        "{verdicts:?}"
    );
    assert_eq!(run.errors().len(), 1, "{}", run.stderr);
}

/// Only unreadable documents: nothing was judged, but "no Kubernetes
/// object to judge" would send the user looking for a wrong path; the
/// documents are named instead, with an empty report, exit 2.
#[rstest]
#[case::strict(&[])]
#[case::allow_empty(&["--allow-empty"])]
fn only_templates_are_named_not_called_empty(#[case] flags: &[&str]) {
    let folder = format!("{REPOSITORY}/templates");
    let args = [flags, &[folder.as_str()]].concat();
    let run = scan(&args);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(
        run.stdout, "0 objects: 0 accepted, 0 mutated, 0 rejected\n",
        "{}",
        run.stderr
    );
    let errors = run.errors();
    assert_eq!(errors.len(), 2, "{}", run.stderr);
    assert!(errors[0].starts_with(&format!("{folder}/configmap.yaml: document 1 (line 1) ")));
    assert!(errors[1].starts_with(&format!("{folder}/job.yaml: document 1 (line 3) ")));
}

/// A file that is not UTF-8 cannot be split into documents: it is named as
/// a whole, at its first such byte; the files beside it are judged.
#[test]
fn a_file_that_is_not_utf8_is_named_as_a_whole() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("a.yaml"),
        b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: caf\xe9\n",
    )
    .expect("written");
    std::fs::write(dir.path().join("b.yaml"), NAMESPACE).expect("written");
    let folder = dir.path().display().to_string();
    let run = scan(&["-o", "json", &folder]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(verdicts(&run), ["Namespace/shop accepted"]);
    assert_eq!(
        run.errors(),
        [format!(
            "{folder}/a.yaml: is not UTF-8 text (at line 4 column 12): none of its documents was read"
        )]
    );
    assert_eq!(run.json()["unreadable"][0]["document"], Value::Null);
}

/// `--fix` still writes the whole stream: the broken document as it came,
/// byte for byte, between the fixed ones; the report goes to standard
/// error, the unreadable document after it; exit 2.
#[test]
fn fix_writes_an_unreadable_document_as_it_came() {
    let text = format!(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: kube-system\n---\n# broken\n{BROKEN}"
    );
    let fixed = scan_with(&["--fix", "-"], Some(&text), None);
    assert_eq!(fixed.code, 2, "{}", fixed.stderr);
    assert!(
        fixed
            .stdout
            .contains("config.linkerd.io/admission-webhooks: disabled"),
        "{}",
        fixed.stdout
    );
    assert!(
        fixed
            .stdout
            .ends_with(&format!("\n---\n# broken\n{BROKEN}")),
        "{}",
        fixed.stdout
    );
    assert!(
        fixed.stderr.ends_with(&format!(
            "1 object: 0 accepted, 1 mutated, 0 rejected\nlinkerd-ha-scan: error: <stdin>: document 2 (line 7) {}\n",
            broken_message(7)
        )),
        "{}",
        fixed.stderr
    );
}
