# linkerd-ha-policy: `make run` builds the policy and scans the examples with it;
# `make test` runs the whole suite (what CI runs).
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
# The module that ships (and that every test runs): cargo's output, optimised
# in place by `make build`. cargo's own output is kept next to it.
WASM := $(abspath $(TARGET_DIR)/wasm32-wasip1/release/linkerd_ha_policy.wasm)
WASM_UNOPTIMISED := $(WASM:.wasm=.unoptimised.wasm)
FLOOR_WASM := $(abspath $(TARGET_DIR)/wasm32-wasip1/release/floor_policy.wasm)
# What rustc's wasm32-wasip1 target emits (its target_features section), so
# that binaryen reads the module and writes nothing newer.
WASM_FEATURES := --enable-bulk-memory --enable-extended-const --enable-multivalue \
	--enable-mutable-globals --enable-nontrapping-float-to-int \
	--enable-reference-types --enable-sign-ext
# The exports waPC needs; any other (libc's getenv, see src/lib.rs) goes.
WASM_EXPORTS := [{"name":"memory","root":true,"export":"memory"},\
	{"name":"wapc_init","root":true,"export":"wapc_init"},\
	{"name":"__guest_call","root":true,"export":"__guest_call"}]
# rustc puts the stack first, growing down towards address 0, so the low
# 1 KiB is only reached by a stack that is about to overflow (and trap):
# binaryen may fold constant offsets into loads and stores (-2.9 KB).
WASM_OPT := -Oz --low-memory-unused
EXAMPLES := $(wildcard examples/*.yaml)
# The scanner: the module on wasmtime over manifests, in kubectl apply's order.
# Not --quiet: its first build takes minutes, and cargo's progress shows it.
SCAN := cargo run -p linkerd-ha-scan --

REGISTRY ?= ghcr.io/linkerd-ha-policy
RELEASE := cargo run --quiet -p policy-release --

# Kubewarden's own engine, kwctl and policy-server 1.35.0, built from source
# once per machine (15-25 min on 2 cores; instant afterwards). It prints the
# folder holding both; the e2e tests and the load run read $$KWCTL and
# $$POLICY_SERVER.
KUBEWARDEN_INSTALL := ../shared/kubewarden/install.sh
WITH_KUBEWARDEN = KW_BIN="$$($(KUBEWARDEN_INSTALL))" && export KWCTL="$$KW_BIN/kwctl" POLICY_SERVER="$$KW_BIN/policy-server" &&

# The loopback Kubernetes cluster (cluster/README.md): etcd, kube-apiserver,
# kube-controller-manager and kubectl v1.37.2 built from source once per
# machine (about 10 min on 2 cores, under nice; instant afterwards). It prints
# the folder holding them; the cluster tests read $$CLUSTER_BIN and $$KUBECTL.
CLUSTER_BUILD := cluster/build.sh
WITH_CLUSTER = CLUSTER_BIN="$$($(CLUSTER_BUILD))" && export CLUSTER_BIN KUBECTL="$$CLUSTER_BIN/kubectl" &&

.PHONY: setup kubewarden build run test test-cluster bench-cluster fmt lint clean annotate size artifacthub publish playground browser-test bench bench-kwctl load fuzz

# Everything a fresh machine needs; idempotent. The OCI tests run Debian's
# distribution registry on loopback; the signing tests check the SBOM's
# signature with openssl and validate it with pyspdxtools (PyPI's spdx-tools,
# which release/tests/sbom.rs puts in a virtualenv).
setup:
	rustup target add wasm32-wasip1
	rustup component add rustfmt clippy
	command -v docker-registry >/dev/null || (apt-get update && apt-get install -y --no-install-recommends docker-registry)
	command -v wasm-opt >/dev/null || (apt-get update && apt-get install -y --no-install-recommends binaryen)
	command -v openssl >/dev/null || (apt-get update && apt-get install -y --no-install-recommends openssl)
	command -v curl >/dev/null || (apt-get update && apt-get install -y --no-install-recommends curl)
	python3 -m venv --help >/dev/null 2>&1 || (apt-get update && apt-get install -y --no-install-recommends python3-venv python3-pip)

# $(call optimise,MODULE): cargo puts its own output back at MODULE on every
# build; when that is the module optimised last time, the optimised one is
# put back, otherwise it is optimised (binaryen: exports other than waPC's
# dropped, then -Oz). cargo's output stays beside it as *.unoptimised.wasm.
define optimise
	@if cmp -s $(1) $(1:.wasm=.unoptimised.wasm) && [ -f $(1).optimised ]; then \
		cp --remove-destination $(1).optimised $(1); \
	elif ! cmp -s $(1) $(1).optimised; then \
		set -e; \
		cp $(1) $(1:.wasm=.unoptimised.wasm); \
		printf '%s' '$(WASM_EXPORTS)' > $(1).exports.json; \
		wasm-metadce $(WASM_FEATURES) --graph-file $(1).exports.json \
			$(1:.wasm=.unoptimised.wasm) -o $(1).tmp >/dev/null; \
		wasm-opt $(WASM_FEATURES) $(WASM_OPT) $(1).tmp -o $(1).tmp; \
		cp $(1).tmp $(1).optimised; \
		mv $(1).tmp $(1); \
	fi
	@ls -l $(1:.wasm=.unoptimised.wasm) $(1)
endef

kubewarden:
	$(KUBEWARDEN_INSTALL)

build: setup
	cargo build --release --target wasm32-wasip1 -p linkerd-ha-policy
	$(call optimise,$(WASM))

# The examples include rejected objects on purpose: show them, do not fail.
# The scanner (host, dev profile: target/debug) builds beside the module
# (wasm32-wasip1 and target/release): the two cargo runs lock different
# folders, and each spends minutes on one crate (Cranelift's code
# generator; the module's LTO), so side by side they use both cores. The
# scanner shows cargo's progress bar; the module build prints its lines.
run: setup
	@echo "make run: building the policy module (release, wasm32-wasip1) and the scanner, linkerd-ha-scan (wasmtime), side by side; the first build takes a few minutes. Then the scanner judges examples/ with the module."
	@cargo build -p linkerd-ha-scan & scanner=$$!; \
	CARGO_TERM_PROGRESS_WHEN=never $(MAKE) --no-print-directory build || { kill $$scanner 2>/dev/null; exit 1; }; \
	wait $$scanner
	$(SCAN) --module $(WASM) --fail-on never $(EXAMPLES)

fmt: setup
	cargo fmt --all -- --check

lint: setup
	cargo clippy --workspace --all-targets -- -D warnings

# Unit tests of the rules, end-to-end tests on the built module (waPC in
# wasmtime, a real OCI registry, kwctl and policy-server 1.35), the policy
# behind a real API server (test-cluster), then the playground in headless
# Chromium and the fuzzers.
test: build fmt lint
	scan/tests/validators/setup.sh
	$(WITH_KUBEWARDEN) POLICY_WASM=$(WASM) cargo test --workspace --exclude cluster-e2e
	$(MAKE) test-cluster
	POLICY_WASM=$(WASM) LINKERD_HA_SCAN=$(abspath $(TARGET_DIR)/debug/linkerd-ha-scan) web/tests/run.sh
	fuzz/run.sh 60

# The policy behind a real API server (cluster/e2e/, docs/cluster.md): each
# scenario starts its own loopback cluster and policy-server 1.35 as its
# webhook, and drives it with kubectl. --nocapture shows which scenario runs.
test-cluster: annotate
	$(WITH_KUBEWARDEN) $(WITH_CLUSTER) POLICY_WASM=$(WASM) \
		cargo test -p cluster-e2e -- --test-threads=1 --nocapture

# What the API server measures (docs/performance.md, "Behind a real API
# server"): one loopback cluster, policy-server 1.35 serving our module, then
# the floor policy, as the webhooks of policy.yaml's two policies; ROUNDS
# applies of Linkerd's HA install and a meshed application under each, and
# kube-apiserver's apiserver_admission_webhook_admission_duration_seconds
# read from /metrics before and after. Not a gate: figures only.
ROUNDS ?= 20
bench-cluster: annotate
	cargo build --release --target wasm32-wasip1 -p floor-policy
	$(call optimise,$(FLOOR_WASM))
	$(WITH_KUBEWARDEN) $(WITH_CLUSTER) POLICY_WASM=$(WASM) FLOOR_WASM=$(FLOOR_WASM) ROUNDS=$(ROUNDS) \
		cargo run -p cluster-e2e --bin admission_latency

# Each cargo-fuzz target for SECONDS from the committed corpus.
SECONDS_PER_TARGET ?= 60
fuzz:
	fuzz/run.sh $(SECONDS_PER_TARGET)

# µs/request next to the do-nothing SDK policy: under kwctl bench (the real
# engine), then the harness's breakdown (instantiation, native rules, peak
# memory, scaling). Not a gate: figures only.
# The floor goes through the same optimiser as the policy. kwctl is
# $$KWCTL, or the one ../shared/kubewarden/install.sh built.
bench: build
	cargo build --release --target wasm32-wasip1 -p floor-policy
	$(call optimise,$(FLOOR_WASM))
	KWCTL="$${KWCTL:-$$(../shared/kubewarden/install.sh)/kwctl}" \
		cargo run --profile bench-host -p policy-bench

# Only the module sizes and the kwctl table (no wasmtime-heavy build
# profile needed: kwctl does the timing).
bench-kwctl: build
	cargo build --release --target wasm32-wasip1 -p floor-policy
	$(call optimise,$(FLOOR_WASM))
	KWCTL="$${KWCTL:-$$(../shared/kubewarden/install.sh)/kwctl}" \
		cargo run -p policy-bench -- --kwctl-only

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
load: build
	cargo build --release --target wasm32-wasip1 -p floor-policy
	$(call optimise,$(FLOOR_WASM))
	$(WITH_KUBEWARDEN) POLICY_WASM=$(WASM) cargo run -p policy-bench --bin load-run -- $(LOAD_ARGS)

browser-test: build
	POLICY_WASM=$(WASM) web/tests/run.sh

# The module with its metadata embedded, as `kwctl annotate` writes it.
annotate: build
	$(RELEASE) annotate

# BASELINE=other.wasm (an earlier commit's build) adds by how much it changed.
size: annotate
	$(RELEASE) size $(if $(BASELINE),--baseline $(BASELINE))

# Regenerates artifacthub-pkg.yml from metadata.yml and Cargo.toml.
artifacthub:
	$(RELEASE) artifacthub

# Pushes the annotated module and writes its SBOM under target/sbom/;
# credentials: --username and $$REGISTRY_PASSWORD. With COSIGN_KEY=cosign.key
# (password in $$COSIGN_PASSWORD) it then signs the pushed digest and
# attaches the signed SBOM (docs/release.md).
COSIGN_KEY ?=
publish: annotate
	$(RELEASE) push --registry $(REGISTRY) $(if $(COSIGN_KEY),--sign-key $(COSIGN_KEY))

clean:
	cargo clean
