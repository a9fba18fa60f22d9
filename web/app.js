// The playground page: loads the policy (wasm-bindgen, --target no-modules),
// feeds it the three boxes and renders its report. No framework; every
// piece of text from the policy or the manifest goes in with textContent,
// never as HTML.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const inputs = { manifest: $("manifest"), settings: $("settings"), cluster: $("cluster") };
  const status = $("status");
  const evaluateButton = $("evaluate");
  const examples = self.PLAYGROUND_EXAMPLES || [];
  let policy = null;

  /** An element with attributes and children (strings become text nodes). */
  function el(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (value === undefined || value === null || value === false) continue;
      if (name === "className") node.className = value;
      else node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function base64ToBytes(base64) {
    const binary = atob(base64);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  }

  async function loadPolicy() {
    if (typeof wasm_bindgen !== "function" || typeof self.POLICY_PLAYGROUND_WASM !== "string") {
      throw new Error("web/pkg/ is missing: build it with web/build.sh");
    }
    // The bytes come from a script, not fetch(): file:// pages cannot fetch.
    await wasm_bindgen({ module_or_path: base64ToBytes(self.POLICY_PLAYGROUND_WASM) });
    return wasm_bindgen;
  }

  const OUTCOME_LABELS = { accepted: "ACCEPTED", mutated: "MUTATED", rejected: "REJECTED" };

  function title(object) {
    const name = object.name ?? "(unnamed)";
    return object.namespace ? `${object.kind} ${object.namespace}/${name}` : `${object.kind} ${name}`;
  }

  function findingList(findings, className) {
    return el(
      "ul",
      { className },
      findings.map((finding) =>
        el("li", {}, finding.rule ? el("span", { className: "rule" }, finding.rule) : null, finding.text),
      ),
    );
  }

  function diffView(diff) {
    return el(
      "pre",
      { className: "diff" },
      diff.split("\n").map((line) => {
        const kind = line.startsWith("@@")
          ? "hunk"
          : line.startsWith("+++") || line.startsWith("---")
            ? "file"
            : line.startsWith("+")
              ? "add"
              : line.startsWith("-")
                ? "del"
                : "ctx";
        return el("span", { className: `line ${kind}` }, line + "\n");
      }),
    );
  }

  function objectCard(object, index) {
    const card = el("li", {
      className: `object ${object.outcome}`,
      "data-kind": object.kind,
      "data-name": object.name ?? "",
      "data-namespace": object.namespace ?? "",
      "data-outcome": object.outcome,
      id: `object-${index + 1}`,
    });
    card.append(
      el(
        "div",
        { className: "object-head" },
        el("span", { className: `badge ${object.outcome}` }, OUTCOME_LABELS[object.outcome]),
        el("span", { className: "object-title" }, title(object)),
        el("span", { className: "document" }, `document ${object.document} · ${object.operation}`),
      ),
    );
    if (object.messages.length > 0) {
      const heading = object.code ? `Rejected (HTTP ${object.code})` : "Message";
      card.append(el("h3", {}, heading), findingList(object.messages, "messages"));
    }
    if (object.warnings.length > 0) {
      card.append(el("h3", {}, "Warnings"), findingList(object.warnings, "warnings"));
    }
    if (object.patch) {
      card.append(
        el("h3", {}, "JSON patch ", el("small", {}, "RFC 6902, as sent to the API server")),
        el("pre", { className: "patch" }, object.patch.map((op) => JSON.stringify(op)).join("\n")),
      );
    }
    if (object.yamlDiff) {
      card.append(el("details", { className: "yaml-diff", open: true }, el("summary", {}, "YAML diff"), diffView(object.yamlDiff)));
    }
    if (object.mutatedYaml) {
      card.append(
        el("details", { className: "mutated-yaml" }, el("summary", {}, "Mutated object"), el("pre", {}, object.mutatedYaml)),
      );
    }
    return card;
  }

  function render(report) {
    const summary = $("summary");
    const error = $("error");
    const list = $("objects");
    summary.replaceChildren();
    list.replaceChildren();
    error.hidden = !report.error;
    error.textContent = report.error ?? "";
    if (report.error) return;

    const counts = report.summary;
    summary.append(
      el("span", { className: "count total" }, `${counts.total} object${counts.total === 1 ? "" : "s"}`),
      ...["accepted", "mutated", "rejected"].map((outcome) =>
        el("span", { className: `count ${outcome}`, "data-outcome": outcome }, `${counts[outcome]} ${outcome}`),
      ),
    );
    if (report.knownNamespaces.length > 0) {
      summary.append(el("span", { className: "namespaces" }, `namespaces known: ${report.knownNamespaces.join(", ")}`));
    }
    if (counts.total === 0) {
      list.append(el("li", { className: "empty" }, "No objects: paste a manifest or choose an example."));
    }
    // Problems first: on a 40-object install the rejections are what matter.
    const order = { rejected: 0, mutated: 1, accepted: 2 };
    report.objects
      .map((object, index) => ({ object, index }))
      .sort((a, b) => order[a.object.outcome] - order[b.object.outcome] || a.index - b.index)
      .forEach(({ object, index }) => list.append(objectCard(object, index)));
  }

  function run() {
    if (!policy) return;
    const started = performance.now();
    let report;
    try {
      report = policy.evaluate(inputs.manifest.value, inputs.settings.value, inputs.cluster.value);
    } catch (error) {
      // Bad input is reported in report.error; this is the policy failing.
      report = { objects: [], summary: {}, knownNamespaces: [], error: `The policy failed: ${error}` };
    }
    render(report);
    const took = Math.max(1, Math.round(performance.now() - started));
    status.textContent = report.error ? "Cannot evaluate" : `Evaluated in ${took} ms`;
    document.body.dataset.evaluations = String(Number(document.body.dataset.evaluations || 0) + 1);
  }

  let pending = null;
  function runSoon() {
    clearTimeout(pending);
    pending = setTimeout(run, 250);
  }

  function chooseExample(id) {
    const example = examples.find((candidate) => candidate.id === id);
    if (!example) return;
    inputs.manifest.value = example.manifest;
    inputs.cluster.value = example.cluster;
    $("cluster-box").open = example.cluster !== "";
    run();
  }

  for (const example of examples) {
    $("example").append(el("option", { value: example.id }, example.title));
  }
  $("example").addEventListener("change", (event) => chooseExample(event.target.value));
  evaluateButton.addEventListener("click", run);
  for (const input of Object.values(inputs)) input.addEventListener("input", runSoon);
  $("reset-settings").addEventListener("click", () => {
    inputs.settings.value = policy ? policy.defaultSettings() : "";
    run();
  });

  loadPolicy().then(
    (loaded) => {
      policy = loaded;
      inputs.settings.value = policy.defaultSettings();
      evaluateButton.disabled = false;
      status.textContent = "Ready";
      // For scripts and tests: the same API the page uses.
      self.playground = { evaluate: policy.evaluate, defaultSettings: policy.defaultSettings };
      document.body.dataset.ready = "true";
      const initial = new URLSearchParams(location.search).get("example") || examples[0]?.id;
      $("example").value = initial ?? "";
      chooseExample(initial);
    },
    (error) => {
      status.textContent = "The policy did not load";
      $("error").hidden = false;
      $("error").textContent = String(error && error.message ? error.message : error);
      document.body.dataset.ready = "failed";
    },
  );
})();
