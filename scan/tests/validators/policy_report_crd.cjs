// Checks PolicyReport / ClusterPolicyReport documents against the
// wgpolicyk8s.io/v1alpha2 CRD schema, using the validators that the npm
// package @kubernetes-models/kyverno (MIT) compiled from the CRDs in
// Kyverno's release manifest (crd-generate over kyverno v1.11.4 install.yaml).
//
// Usage: node policy_report_crd.cjs NODE_PREFIX < docs.json
//   docs.json: a JSON array of objects.
// Prints one JSON line: {"ok": bool, "errors": ["doc N: /path: message", ...]}
"use strict";
const path = require("path");
const fs = require("fs");

const prefix = process.argv[2];
if (!prefix) {
  console.error("usage: node policy_report_crd.cjs NODE_PREFIX < docs.json");
  process.exit(2);
}
const schemas = path.join(prefix, "node_modules", "@kubernetes-models", "kyverno", "_schemas");
// The package's "exports" map hides _schemas/, so load the files by path;
// the models' own validate() would first fill in apiVersion/kind defaults.
const validators = {
  "wgpolicyk8s.io/v1alpha2 PolicyReport": require(path.join(schemas, "Wgpolicyk8sIoV1alpha2PolicyReport.js")).validate,
  "wgpolicyk8s.io/v1alpha2 ClusterPolicyReport": require(path.join(schemas, "Wgpolicyk8sIoV1alpha2ClusterPolicyReport.js")).validate,
};

const docs = JSON.parse(fs.readFileSync(0, "utf8"));
const errors = [];
docs.forEach((doc, i) => {
  const key = doc && typeof doc === "object" ? `${doc.apiVersion} ${doc.kind}` : "";
  const validate = validators[key];
  if (!validate) {
    errors.push(`doc ${i}: apiVersion/kind '${key}' is not wgpolicyk8s.io/v1alpha2 PolicyReport or ClusterPolicyReport`);
    return;
  }
  if (!validate(doc)) {
    for (const e of validate.errors) {
      errors.push(`doc ${i}: ${e.instancePath || "/"}: ${e.keyword} ${JSON.stringify(e.params)}`);
    }
  }
});
process.stdout.write(JSON.stringify({ ok: errors.length === 0, errors }) + "\n");
