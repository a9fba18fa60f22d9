// The playground in a real browser: Debian's chromium, driven by
// playwright-core, loads the page from a local static server (and from
// file://), picks each example, and checks the verdicts and patches shown.
// It also compares the page's verdicts with the Kubewarden module's
// (`linkerd-ha-scan -o json`, both in kubectl apply's order) on the shared fixtures, and keeps
// screenshots in web/tests/artifacts/.
//
// Run with web/tests/run.sh (installs chromium and playwright-core, builds
// web/pkg/). UPDATE_SCREENSHOT=1 also refreshes docs/playground.png, with a
// fingerprint of what it shows (fingerprint.mjs); without it, the test fails
// when that fingerprint no longer matches the page.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { chromium } from "playwright-core";

import { startServer, WEB_ROOT } from "../tools/serve.mjs";
import {
  collectRenderedText,
  differences,
  EXAMPLE,
  fingerprint,
  readFingerprint,
  REGENERATE,
  SCREENSHOT,
  VIEWPORT,
  withFingerprint,
} from "./fingerprint.mjs";

const REPOSITORY = resolve(WEB_ROOT, "..");
const FIXTURES = resolve(REPOSITORY, "../shared/fixtures/linkerd");
const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), "artifacts");
const MODULE =
  process.env.POLICY_WASM ?? join(REPOSITORY, "target/wasm32-wasip1/release/linkerd_ha_policy.wasm");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

/** { server, url } of the static server. */
let server;
let context;
let page;
let userDataDir;
const pageErrors = [];

/** Loads `url` in the shared page and waits for the policy to be ready. */
async function open(url) {
  await page.goto(url);
  await page.waitForFunction(() => document.body.dataset.ready !== undefined);
  assert.equal(await page.evaluate(() => document.body.dataset.ready), "true", await page.textContent("#error"));
}

/** Picks an example from the drop-down and waits for its verdicts. */
async function chooseExample(id) {
  const before = await page.evaluate(() => Number(document.body.dataset.evaluations || 0));
  await page.selectOption("#example", id);
  await page.waitForFunction((count) => Number(document.body.dataset.evaluations || 0) > count, before);
}

/** The verdict card of `kind namespace/name` as shown: outcome, texts, patch. */
async function card(kind, namespace, name) {
  const selector = `li.object[data-kind="${kind}"][data-namespace="${namespace}"][data-name="${name}"]`;
  const locator = page.locator(selector);
  assert.equal(await locator.count(), 1, `one card for ${kind} ${namespace}/${name}`);
  return locator.evaluate((node) => ({
    outcome: node.dataset.outcome,
    badge: node.querySelector(".badge").textContent,
    messages: [...node.querySelectorAll(".messages li")].map((li) => li.textContent),
    rules: [...node.querySelectorAll(".messages .rule")].map((span) => span.textContent),
    warnings: [...node.querySelectorAll(".warnings li")].map((li) => li.textContent),
    patch: node.querySelector(".patch")?.textContent ?? null,
    diff: node.querySelector(".yaml-diff pre")?.textContent ?? null,
  }));
}

async function summary() {
  return page.evaluate(() =>
    Object.fromEntries(
      [...document.querySelectorAll("#summary .count[data-outcome]")].map((node) => [
        node.dataset.outcome,
        Number.parseInt(node.textContent, 10),
      ]),
    ),
  );
}

async function screenshot(name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: false });
  return path;
}

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium (web/tests/run.sh does)`);
  assert.ok(existsSync(join(WEB_ROOT, "pkg/policy_playground_wasm.js")), "web/pkg/ is missing: run web/build.sh");
  server = await startServer();
  userDataDir = mkdtempSync(join(tmpdir(), "playground-chromium-"));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    viewport: VIEWPORT,
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on("pageerror", (error) => pageErrors.push(String(error)));
  page.on("console", (message) => {
    if (message.type() === "error") pageErrors.push(message.text());
  });
  page.on("response", (response) => {
    if (response.status() >= 400) pageErrors.push(`${response.status()} ${response.url()}`);
  });
});

after(async () => {
  await context?.close();
  server?.server.close();
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
});

describe("the playground page, served over HTTP", () => {
  before(async () => open(server.url));

  test("pre-fills the default settings and lists the examples", async () => {
    const settings = await page.inputValue("#settings");
    assert.match(settings, /^rules: +# action per rule/);
    assert.match(settings, /safeToEvict: mutate/);
    const options = await page.locator("#example option").evaluateAll((nodes) => nodes.map((n) => n.value));
    assert.deepEqual(options, ["", "meshed-app", "kube-system", "non-compliant", "linkerd-install-ha", "existing-namespace", "node-cordon"]);
  });

  test("meshed app: the Deployment is mutated with the safe-to-evict annotation", async () => {
    await chooseExample("meshed-app");
    assert.deepEqual(await summary(), { accepted: 2, mutated: 1, rejected: 0 });
    const web = await card("Deployment", "shop", "web");
    assert.equal(web.outcome, "mutated");
    assert.equal(web.badge, "MUTATED");
    assert.deepEqual(JSON.parse(web.patch), {
      op: "add",
      path: "/spec/template/metadata/annotations",
      value: { "cluster-autoscaler.kubernetes.io/safe-to-evict": "true" },
    });
    assert.match(web.diff, /^\+ +cluster-autoscaler\.kubernetes\.io\/safe-to-evict: 'true'$/m);
    assert.equal((await card("CronJob", "shop", "report")).outcome, "accepted");
    assert.equal((await card("Namespace", "", "shop")).outcome, "accepted");
    await screenshot("meshed-app");
  });

  test("kube-system: the Namespace is mutated, the injected DaemonSet rejected", async () => {
    await chooseExample("kube-system");
    const namespace = await card("Namespace", "", "kube-system");
    assert.equal(namespace.outcome, "mutated");
    assert.deepEqual(JSON.parse(namespace.patch), {
      op: "add",
      path: "/metadata/labels",
      value: { "config.linkerd.io/admission-webhooks": "disabled" },
    });
    const daemonSet = await card("DaemonSet", "kube-system", "node-agent");
    assert.equal(daemonSet.outcome, "rejected");
    assert.deepEqual(daemonSet.rules, ["systemNamespaces"]);
    assert.equal(daemonSet.patch, null);
    await screenshot("kube-system");
  });

  test('the typo linkerd.io/inject: "true" is rejected with the valid values', async () => {
    await chooseExample("non-compliant");
    const checkout = await card("Deployment", "payments", "checkout");
    assert.equal(checkout.outcome, "rejected");
    assert.deepEqual(checkout.rules, ["injectionAnnotation"]);
    assert.match(checkout.messages[0], /enabled, ingress or disabled/);
    const ledger = await card("StatefulSet", "payments", "ledger");
    assert.equal(ledger.outcome, "accepted");
    assert.match(ledger.warnings[0], /^safeToEvict.*safe-to-evict: "false"/);
    const destination = await card("Deployment", "linkerd", "linkerd-destination");
    assert.equal(destination.outcome, "rejected");
    assert.ok(destination.rules.includes("controlPlaneReplicas"), destination.rules.join());
    await screenshot("non-compliant");
  });

  test("linkerd install --ha: every object is accepted", async () => {
    await chooseExample("linkerd-install-ha");
    assert.deepEqual(await summary(), { accepted: 42, mutated: 0, rejected: 0 });
    assert.equal((await card("Deployment", "linkerd", "linkerd-destination")).outcome, "accepted");
    await screenshot("linkerd-install-ha");
  });

  test("the cluster box answers the namespace lookup", async () => {
    await chooseExample("existing-namespace");
    assert.equal((await card("Deployment", "emojivoto", "voting")).outcome, "mutated");
    // Without the namespace the policy decides from the object alone, and says so.
    await page.fill("#cluster", "");
    await page.click("#evaluate");
    const voting = await card("Deployment", "emojivoto", "voting");
    assert.equal(voting.outcome, "accepted");
    assert.match(voting.warnings[0], /namespace "emojivoto" does not exist/);
  });

  test("a cordon that leaves the control plane short is warned about, never refused", async () => {
    await chooseExample("node-cordon");
    const node = await card("Node", "", "node-2");
    assert.equal(node.outcome, "accepted");
    assert.match(node.warnings[0], /^nodeChanges.*cordoning the node leaves fewer schedulable nodes than replicas/);
    assert.match(node.warnings[0], /3 schedulable nodes before, 2 after/);
    // A fourth node in the cluster: room enough, nothing to say.
    await page.fill("#cluster", (await page.inputValue("#cluster")) + "\n---\napiVersion: v1\nkind: Node\nmetadata:\n  name: node-3\n");
    await page.click("#evaluate");
    assert.deepEqual((await card("Node", "", "node-2")).warnings, []);
    await screenshot("node-cordon");
  });

  test("settings are the policy's: an action changes the verdict, a bad value is refused", async () => {
    await chooseExample("meshed-app");
    await page.fill("#settings", "rules:\n  safeToEvict: warn\n");
    await page.click("#evaluate");
    const web = await card("Deployment", "shop", "web");
    assert.equal(web.outcome, "accepted");
    assert.match(web.warnings[0], /^safeToEvict/);

    await page.fill("#settings", "controlPlane:\n  replicas: 0\n");
    await page.click("#evaluate");
    assert.match(await page.textContent("#error"), /^the policy rejects the settings: settings\.controlPlane\.replicas/);
    assert.equal(await page.locator("li.object").count(), 0);

    await page.click("#reset-settings");
    assert.equal((await card("Deployment", "shop", "web")).outcome, "mutated");
  });

  test("bad YAML names the document", async () => {
    await page.fill("#manifest", "kind: Namespace\nmetadata: {name: a}\n---\nkind: [unclosed\n");
    await page.click("#evaluate");
    assert.match(await page.textContent("#error"), /^manifest: document 2 is not valid YAML/);
  });

  test("the page logged no errors", () => {
    assert.deepEqual(pageErrors, []);
  });
});

describe("the playground page, opened from file://", () => {
  test("loads the policy offline and judges an example", async () => {
    await open(pathToFileURL(join(WEB_ROOT, "index.html")).href + "?example=kube-system");
    assert.equal((await card("DaemonSet", "kube-system", "node-agent")).outcome, "rejected");
    assert.equal((await card("Namespace", "", "kube-system")).outcome, "mutated");
    assert.deepEqual(pageErrors, []);
  });
});

describe("verdict parity with the Kubewarden module", () => {
  const files = [
    "examples/meshed-app.yaml",
    "examples/kube-system.yaml",
    "examples/non-compliant.yaml",
    "playground/tests/fixtures/edge-cases.yaml",
  ]
    .map((file) => join(REPOSITORY, file))
    .concat(
      ["install_ha_output.golden", "install_default.golden", "inject_emojivoto_deployment.golden.yml"].map((file) =>
        join(FIXTURES, file),
      ),
    );

  /** `linkerd-ha-scan -o json` of each file (kubectl apply's order, as the page), run side by side. */
  let verdicts;

  before(async () => {
    assert.ok(existsSync(MODULE), `${MODULE} is missing: build it with make build`);
    const scanner = await scannerExecutable();
    verdicts = await Promise.all(
      files.map(async (file) => {
        const { stdout } = await run(scanner, ["--module", MODULE, "-o", "json", "--fail-on", "never", file]);
        return JSON.parse(stdout);
      }),
    );
    await open(server.url);
  });

  files.forEach((file, index) => {
    test(`${relative(REPOSITORY, file)}: same verdicts, messages, warnings and patches`, async () => {
      const module = verdicts[index].results.map((result) => ({
        title: `${result.kind} ${result.namespace ?? ""}/${result.name ?? ""}`,
        operation: result.operation,
        outcome: result.outcome,
        code: result.code,
        message: result.message,
        warnings: result.warnings.map(normalize),
        patch: result.patch,
      }));
      const text = readFileSync(file, "utf8");
      const report = await page.evaluate((manifest) => self.playground.evaluate(manifest, "", ""), text);
      assert.equal(report.error, undefined);
      const playground = report.objects.map((object) => ({
        title: `${object.kind} ${object.namespace ?? ""}/${object.name ?? ""}`,
        operation: object.operation,
        outcome: object.outcome,
        code: object.code,
        message: object.message,
        warnings: object.warnings.map((w) => normalize(w.rule ? `[${w.rule}] ${w.text}` : w.text)),
        patch: object.patch,
      }));
      assert.ok(module.length > 0);
      assert.deepEqual(playground, module);
    });
  });
});

const run = (command, args) => promisify(execFile)(command, args, { cwd: REPOSITORY, maxBuffer: 64 << 20 });

/**
 * The scanner: $LINKERD_HA_SCAN (make test passes the one `cargo test
 * --workspace` just built), or built here (a no-op when fresh) at the path
 * cargo reports.
 */
async function scannerExecutable() {
  if (process.env.LINKERD_HA_SCAN) return process.env.LINKERD_HA_SCAN;
  const { stdout } = await run("cargo", ["build", "--quiet", "--message-format=json", "-p", "linkerd-ha-scan", "--bin", "linkerd-ha-scan"]);
  const artifact = stdout
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line))
    .find((message) => message.reason === "compiler-artifact" && message.executable);
  assert.ok(artifact, "cargo reported no linkerd-ha-scan executable");
  return artifact.executable;
}

/** The reason a namespace lookup failed is worded by each host; the rest must match. */
function normalize(warning) {
  return warning.replace(/(namespace "[^"]*"[^(]*\().*?(\), so its labels and annotation)/, "$1<lookup error>$2");
}

describe("screenshot for the README", () => {
  test(`${SCREENSHOT} shows the page as it is now (UPDATE_SCREENSHOT=1 refreshes it)`, async () => {
    await open(`${server.url}?example=${EXAMPLE.id}`);
    const path = await screenshot("playground");
    const current = fingerprint(REPOSITORY, await page.evaluate(collectRenderedText));
    const taken = withFingerprint(readFileSync(path), current);
    assert.ok(taken.length > 10_000);
    writeFileSync(path, taken);
    const committed = join(REPOSITORY, SCREENSHOT);
    if (process.env.UPDATE_SCREENSHOT === "1") {
      mkdirSync(dirname(committed), { recursive: true });
      writeFileSync(committed, taken);
      return;
    }
    assert.ok(existsSync(committed), `${SCREENSHOT} is missing: ${REGENERATE}`);
    const stale = differences(readFingerprint(readFileSync(committed)), current);
    assert.deepEqual(
      stale,
      [],
      `${SCREENSHOT} is older than the page:\n  ${stale.join("\n  ")}\n` +
        `The new picture is in ${relative(REPOSITORY, path)}; ${REGENERATE}.`,
    );
  });
});
