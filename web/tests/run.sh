#!/usr/bin/env bash
# The playground's browser test, from a fresh machine: Debian's chromium,
# playwright-core (npm ci), the page (web/build.sh), then node's test runner.
# The parity tests need the Kubewarden module ($POLICY_WASM or the release
# build: make build) and run the harness CLI through cargo.
set -euo pipefail
cd "$(dirname "$0")"

if [ ! -x /usr/bin/chromium ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y chromium
fi
npm ci --no-audit --no-fund
../build.sh
node --test --test-reporter=spec playground.test.mjs
