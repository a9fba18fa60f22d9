#!/usr/bin/env bash
# Builds the playground into web/pkg/ (gitignored):
#   policy_playground.js       wasm-bindgen's glue (--target no-modules: a
#                              classic script, so the page also works from
#                              file://, where Chromium loads no ES modules)
#   policy_playground.d.ts     the typed API
#   policy_playground_bg.wasm  the module, for tools
#   policy_playground_wasm.js  the module again, base64 in a classic script:
#                              file:// pages cannot fetch() it
#   examples.js                the example manifests
# Installs what it needs: the wasm32-unknown-unknown target and
# wasm-bindgen-cli at exactly the version Cargo.lock resolves wasm-bindgen to
# (the CLI refuses modules from any other version).
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(awk '
  $0 == "name = \"wasm-bindgen\"" { found = 1; next }
  found && /^version = / { gsub(/"/, "", $3); print $3; exit }
' Cargo.lock)
if [ -z "$version" ]; then
  echo "build.sh: no wasm-bindgen in Cargo.lock" >&2
  exit 1
fi

rustup target add wasm32-unknown-unknown
if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $version" ]; then
  echo "build.sh: installing wasm-bindgen-cli $version (a few minutes, once)" >&2
  # --locked builds the CLI with the dependencies it was released with; if
  # the registry no longer serves one of those versions (yanked), fall back
  # to a fresh resolution: the CLI's own version stays exact either way.
  cargo install wasm-bindgen-cli --version "=$version" --locked ||
    cargo install wasm-bindgen-cli --version "=$version"
fi

# The workspace's release profile strips symbols, which also drops the
# `target_features` section wasm-bindgen reads to use multi-value returns;
# strip only debug info here and let wasm-bindgen drop the name section.
CARGO_PROFILE_RELEASE_STRIP=debuginfo \
  cargo build --release --target wasm32-unknown-unknown -p policy-playground
rm -rf web/pkg
wasm-bindgen --target no-modules --remove-name-section --remove-producers-section \
  --out-dir web/pkg "${CARGO_TARGET_DIR:-target}/wasm32-unknown-unknown/release/policy_playground.wasm"
node web/tools/bundle.mjs
ls -l web/pkg
