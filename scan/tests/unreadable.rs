//! Documents the scanner cannot read (YAML that does not parse, unrendered
//! Helm and Go templates, files that are not UTF-8) as `kubectl apply -R -f`
//! meets them: each is named, with its file and line and the parser's
//! words, every other object is judged in `kubectl apply`'s order, and the
//! scan exits with 2 once it is done, in every output format.

mod common;

use common::*;

use quick_junit::{NonSuccessKind, Report, TestCaseStatus};
use rstest::rstest;
use serde_json::Value;

/// `Kind/name outcome` of each result of a JSON report.
fn outcomes(run: &Run) -> Vec<String> {
    verdicts(run)
        .into_iter()
        .map(|(object, _, outcome)| format!("{object} {outcome}"))
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
#[case::openreports("openreports")]
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
            let names: Vec<String> = outcomes(&run)
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
            // The SARIF Multitool's warnings refuse it too: none is new.
            let checked = validate_with(validator, &run.stdout, &["--strict"]);
            assert!(
                checked.status.success(),
                "{validator} refused the report: {}{}",
                String::from_utf8_lossy(&checked.stdout),
                String::from_utf8_lossy(&checked.stderr)
            );
            let templates: Vec<Template> = TEMPLATES
                .iter()
                .map(|(file, line, place)| Template {
                    file: format!("{REPOSITORY}/{file}"),
                    document: Some(1),
                    line: *line,
                    problem: format!("is not valid YAML: {place}{TEMPLATE_HINT}"),
                })
                .collect();
            match validator {
                "sarif" => assert_sarif_names(&run.stdout, &templates),
                "junit" => {
                    let report = junit(&run.stdout);
                    assert_eq!(
                        (report.tests, report.failures, report.errors),
                        (OBJECTS.len() + TEMPLATES.len(), 0, TEMPLATES.len())
                    );
                    for template in &templates {
                        assert_eq!(junit_cases(&report, &template.file), [template.case()]);
                    }
                    // The objects' cases are as they were: one per object,
                    // in their files' suites, first.
                    let suites: Vec<&str> = report
                        .test_suites
                        .iter()
                        .map(|suite| suite.name.as_str())
                        .collect();
                    let files = [
                        "app/00-namespace.yaml",
                        "app/frontend.yaml",
                        "storage/claim.yaml",
                    ]
                    .map(|file| format!("{REPOSITORY}/{file}"));
                    assert_eq!(suites[..3], files, "{suites:?}");
                    assert_eq!(
                        junit_cases(&report, &files[1]),
                        [
                            Case::passed("Deployment guestbook/frontend"),
                            Case::passed("Service guestbook/frontend")
                        ]
                    );
                }
                _ => {}
            }
            assert!(
                run.stderr
                    .contains(&format!("\nlinkerd-ha-scan: {summary}")),
                "{}",
                run.stderr
            );
        }
    }
}

/// An unreadable document as SARIF and JUnit must name it.
struct Template {
    file: String,
    document: Option<usize>,
    line: usize,
    problem: String,
}

impl Template {
    /// `document 1 (line 3) is not valid YAML: ...`, or for a whole file
    /// `the file is not UTF-8 text ...`.
    fn message(&self) -> String {
        match self.document {
            Some(document) => format!("document {document} (line {}) {}", self.line, self.problem),
            None => format!("the file {}", self.problem),
        }
    }

    /// Its JUnit test case: an error (it could not be judged), named after
    /// its file and document.
    fn case(&self) -> Case {
        let document = match self.document {
            Some(document) => format!("document {document} (line {})", self.line),
            None => "the whole file".to_owned(),
        };
        Case {
            name: format!("{}: {document}", self.file),
            status: format!("error unreadable: {}", self.message()),
        }
    }
}

/// A JUnit test case as CI tools show it: its name, and `passed`, or its
/// kind, type and message.
#[derive(Debug, PartialEq)]
struct Case {
    name: String,
    status: String,
}

impl Case {
    fn passed(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            status: "passed".to_owned(),
        }
    }
}

fn junit(xml: &str) -> Report {
    Report::deserialize_from_str(xml).unwrap_or_else(|e| panic!("not JUnit XML ({e}): {xml}"))
}

/// The cases of `file`'s suite, in order, each with its classname checked.
fn junit_cases(report: &Report, file: &str) -> Vec<Case> {
    let suite = report
        .test_suites
        .iter()
        .find(|suite| suite.name.as_str() == file)
        .unwrap_or_else(|| panic!("no test suite for {file}: {report:?}"));
    suite
        .test_cases
        .iter()
        .map(|case| {
            assert_eq!(
                case.classname.as_ref().map(|c| c.as_str()),
                Some(file),
                "{case:?}"
            );
            let status = match &case.status {
                TestCaseStatus::Success { .. } => "passed".to_owned(),
                TestCaseStatus::NonSuccess {
                    kind,
                    ty,
                    message,
                    description,
                    ..
                } => {
                    let kind = match kind {
                        NonSuccessKind::Failure => "failure",
                        NonSuccessKind::Error => "error",
                    };
                    let ty = ty.as_ref().map(|t| t.as_str()).unwrap_or_default();
                    let message = message.as_ref().map(|m| m.as_str()).unwrap_or_default();
                    // An unreadable document's details: the line standard
                    // error names it by.
                    let description = description.as_ref().map(|d| d.as_str());
                    assert!(
                        ty != "unreadable"
                            || description.is_some_and(|d| d.starts_with(&format!("{file}: "))),
                        "{description:?}"
                    );
                    format!("{kind} {ty}: {message}")
                }
                TestCaseStatus::Skipped { .. } => "skipped".to_owned(),
            };
            Case {
                name: case.name.as_str().to_owned(),
                status,
            }
        })
        .collect()
}

/// The SARIF run names each unreadable document twice, in input order: an
/// error notification of a failed invocation, and an error result under
/// `unreadableDocument` (code scanning reads only results), after the
/// objects' results; both at its file and line, with the parser's words.
fn assert_sarif_names(sarif: &str, unreadable: &[Template]) {
    let sarif: Value = serde_json::from_str(sarif).expect("SARIF is JSON");
    let run = &sarif["runs"][0];
    let invocation = &run["invocations"][0];
    assert_eq!(invocation["executionSuccessful"], false, "{invocation:#}");
    let place = |entry: &Value| {
        let location = &entry["locations"][0]["physicalLocation"];
        let uri = location["artifactLocation"]["uri"]
            .as_str()
            .unwrap_or_default();
        (
            entry["level"].as_str().unwrap_or_default().to_owned(),
            // Outside the working folder, a file is an absolute URI.
            uri.trim_start_matches("file://").to_owned(),
            location["region"]["startLine"].as_u64().unwrap_or_default() as usize,
            entry["message"]["text"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )
    };
    let expected: Vec<(String, String, usize, String)> = unreadable
        .iter()
        .map(|u| ("error".to_owned(), u.file.clone(), u.line, u.message()))
        .collect();
    // Each message is the parser's words, then what it means for the scan.
    let trimmed = |entries: Vec<(String, String, usize, String)>| {
        entries
            .into_iter()
            .map(|(level, uri, line, text)| {
                let words = text.split("; its objects were not judged").next();
                (level, uri, line, words.unwrap_or_default().to_owned())
            })
            .collect::<Vec<_>>()
    };
    let notifications = invocation["toolExecutionNotifications"]
        .as_array()
        .expect("toolExecutionNotifications");
    assert_eq!(
        trimmed(notifications.iter().map(place).collect()),
        expected,
        "{notifications:#?}"
    );
    let rules = run["tool"]["driver"]["rules"].as_array().expect("rules");
    let results = run["results"].as_array().expect("results");
    let findings = results
        .iter()
        .take_while(|result| result["ruleId"] != "unreadableDocument")
        .count();
    let named = &results[findings..];
    assert_eq!(
        trimmed(named.iter().map(place).collect()),
        expected,
        "{named:#?}"
    );
    for entry in named.iter().chain(notifications) {
        let (id, index) = match entry.get("ruleId") {
            Some(id) => (id, &entry["ruleIndex"]),
            None => (
                &entry["associatedRule"]["id"],
                &entry["associatedRule"]["index"],
            ),
        };
        assert_eq!(id, "unreadableDocument", "{entry:#}");
        let rule = &rules[index.as_u64().expect("a rule index") as usize];
        assert_eq!(rule["id"], "unreadableDocument");
        assert_eq!(rule["name"], "ScannerReadsTheDocument");
        assert_eq!(rule["defaultConfiguration"]["level"], "error");
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
        outcomes(&run),
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

/// SARIF and JUnit name a broken document where it is: its JUnit case
/// comes between its file's objects, in document order, as an error;
/// SARIF places it at its line; both still pass their validators, the
/// SARIF Multitool without a warning.
#[test]
fn sarif_and_junit_name_a_broken_document_where_it_is() {
    let text = [NAMESPACE, BROKEN, DEPLOYMENT].join("---\n");
    let line = text[..text.find(BROKEN).expect("the broken document")]
        .matches('\n')
        .count()
        + 1;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir
        .path()
        .canonicalize()
        .expect("the temp dir")
        .join("app.yaml");
    std::fs::write(&path, &text).expect("written");
    let path = path.display().to_string();
    let broken = Template {
        file: path.clone(),
        document: Some(2),
        line,
        problem: broken_message(line),
    };
    let junit_run = scan(&["-o", "junit", &path]);
    let sarif_run = scan(&["-o", "sarif", &path]);
    for (format, run) in [("junit", &junit_run), ("sarif", &sarif_run)] {
        assert_eq!(run.code, 2, "{}", run.stderr);
        let checked = validate_with(format, &run.stdout, &["--strict"]);
        assert!(
            checked.status.success(),
            "{format} refused the report: {}{}",
            String::from_utf8_lossy(&checked.stdout),
            String::from_utf8_lossy(&checked.stderr)
        );
    }
    assert_eq!(
        junit_cases(&junit(&junit_run.stdout), &path),
        [
            Case::passed("Namespace shop"),
            broken.case(),
            Case::passed("Deployment shop/web")
        ]
    );
    assert_sarif_names(&sarif_run.stdout, &[broken]);
}

/// A scan that read every document says nothing of unreadable ones: the
/// SARIF invocation succeeded, without notifications or the
/// `unreadableDocument` rule; JUnit has no error.
#[test]
fn a_scan_that_read_everything_names_nothing_unreadable() {
    let sarif = scan_with(&["-o", "sarif", "-"], Some(NAMESPACE), None);
    assert_eq!(sarif.code, 0, "{}", sarif.stderr);
    let sarif = sarif.json();
    let run = &sarif["runs"][0];
    assert_eq!(run["invocations"][0]["executionSuccessful"], true);
    assert_eq!(
        run["invocations"][0]["toolExecutionNotifications"],
        Value::Null
    );
    let rules = run["tool"]["driver"]["rules"].as_array().expect("rules");
    assert!(
        rules.iter().all(|rule| rule["id"] != "unreadableDocument"),
        "{rules:#?}"
    );
    let junit_run = scan_with(&["-o", "junit", "-"], Some(NAMESPACE), None);
    assert_eq!(junit(&junit_run.stdout).errors, 0, "{}", junit_run.stdout);
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
    let judged = outcomes(&run);
    assert_eq!(judged.len(), 1, "{judged:?}");
    assert!(judged[0].ends_with(&format!(" {outcome}")), "{judged:?}");
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
    let folder = dir.path().canonicalize().expect("the temp dir");
    let folder = folder.display().to_string();
    let run = scan(&["-o", "json", &folder]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(outcomes(&run), ["Namespace/shop accepted"]);
    assert_eq!(
        run.errors(),
        [format!(
            "{folder}/a.yaml: is not UTF-8 text (at line 4 column 12): none of its documents was read"
        )]
    );
    assert_eq!(run.json()["unreadable"][0]["document"], Value::Null);
    // SARIF and JUnit name the file as a whole, at that line.
    let whole = Template {
        file: format!("{folder}/a.yaml"),
        document: None,
        line: 4,
        problem: "is not UTF-8 text (at line 4 column 12): none of its documents was read"
            .to_owned(),
    };
    let sarif = scan(&["-o", "sarif", &folder]);
    assert_sarif_names(&sarif.stdout, std::slice::from_ref(&whole));
    let junit_run = scan(&["-o", "junit", &folder]);
    assert_eq!(
        junit_cases(&junit(&junit_run.stdout), &whole.file),
        [whole.case()]
    );
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
