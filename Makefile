# linkerd-ha-policy: `make run` builds the policy and runs it on the examples;
# `make test` runs the whole suite (what CI runs).
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
WASM := $(abspath $(TARGET_DIR)/wasm32-wasip1/release/linkerd_ha_policy.wasm)
EXAMPLES := $(wildcard examples/*.yaml)
HARNESS := cargo run --quiet -p policy-harness --

REGISTRY ?= ghcr.io/linkerd-ha-policy
RELEASE := cargo run --quiet -p policy-release --

# Kubewarden's own engine, kwctl and policy-server 1.35.0, built from source
# once per machine (15-25 min on 2 cores; instant afterwards). It prints the
# folder holding both; the e2e tests and the load run read $$KWCTL and
# $$POLICY_SERVER.
KUBEWARDEN_INSTALL := ../shared/kubewarden/install.sh
WITH_KUBEWARDEN = KW_BIN="$$($(KUBEWARDEN_INSTALL))" && export KWCTL="$$KW_BIN/kwctl" POLICY_SERVER="$$KW_BIN/policy-server" &&

.PHONY: setup kubewarden build run test fmt lint clean annotate size artifacthub publish playground browser-test bench load fuzz

# Everything a fresh machine needs; idempotent. The OCI tests run Debian's
# distribution registry on loopback.
setup:
	rustup target add wasm32-wasip1
	rustup component add rustfmt clippy
	command -v docker-registry >/dev/null || (apt-get update && apt-get install -y --no-install-recommends docker-registry)

kubewarden:
	$(KUBEWARDEN_INSTALL)

build: setup
	cargo build --release --target wasm32-wasip1 -p linkerd-ha-policy
	@ls -l $(WASM)

run: build
	$(HARNESS) evaluate --module $(WASM) $(EXAMPLES)

fmt: setup
	cargo fmt --all -- --check

lint: setup
	cargo clippy --workspace --all-targets -- -D warnings

# Unit tests of the rules, end-to-end tests on the built module (waPC in
# wasmtime, a real OCI registry, kwctl and policy-server 1.35), then the
# playground in headless Chromium.
test: build fmt lint
	$(WITH_KUBEWARDEN) POLICY_WASM=$(WASM) cargo test --workspace
	POLICY_WASM=$(WASM) web/tests/run.sh
	fuzz/run.sh 60

# Each cargo-fuzz target for SECONDS from the committed corpus.
SECONDS_PER_TARGET ?= 60
fuzz:
	fuzz/run.sh $(SECONDS_PER_TARGET)

# µs/request next to the do-nothing SDK policy and the native rules; module
# size, instantiation, peak memory, scaling. Not a gate: figures only.
bench: setup
	cargo build --release --target wasm32-wasip1 -p linkerd-ha-policy -p floor-policy
	cargo run --profile bench-host -p policy-bench

# The browser playground: build it and serve it at http://127.0.0.1:8000/
# (web/index.html also opens straight from disk).
playground:
	web/build.sh
	node web/tools/serve.mjs 8000

# policy-server 1.35 under 1, 8 and 32 concurrent clients next to the floor
# policy, then a restart mid-run and a 3 MB request. Not a gate: figures only.
# The driver builds in the dev profile (dependencies optimised), which the
# tests have already built; the server is the release policy-server.
LOAD_ARGS ?= --seconds 10 --clients 1,8,32
load: setup
	cargo build --release --target wasm32-wasip1 -p linkerd-ha-policy -p floor-policy
	$(WITH_KUBEWARDEN) POLICY_WASM=$(WASM) cargo run -p policy-bench --bin load-run -- $(LOAD_ARGS)

browser-test: build
	POLICY_WASM=$(WASM) web/tests/run.sh

# The module with its metadata embedded, as `kwctl annotate` writes it.
annotate: build
	$(RELEASE) annotate

size: annotate
	$(RELEASE) size

# Regenerates artifacthub-pkg.yml from metadata.yml and Cargo.toml.
artifacthub:
	$(RELEASE) artifacthub

# Pushes the annotated module; credentials: --username and $$REGISTRY_PASSWORD.
publish: annotate
	$(RELEASE) push --registry $(REGISTRY)

clean:
	cargo clean
