# linkerd-ha-policy: `make run` builds the policy and runs it on the examples;
# `make test` runs the whole suite (what CI runs).
WASM := target/wasm32-wasip1/release/linkerd_ha_policy.wasm
EXAMPLES := $(wildcard examples/*.yaml)
HARNESS := cargo run --quiet -p policy-harness --

.PHONY: setup build run test fmt lint unit e2e clean

# Everything a fresh machine needs; idempotent.
setup:
	rustup target add wasm32-wasip1
	rustup component add rustfmt clippy

build: setup
	cargo build --release --target wasm32-wasip1 -p linkerd-ha-policy
	@ls -l $(WASM)

run: build
	$(HARNESS) evaluate --module $(WASM) $(EXAMPLES)

fmt: setup
	cargo fmt --all -- --check

lint: setup
	cargo clippy --workspace --all-targets -- -D warnings

# Unit tests of the rules, then end-to-end tests on the built module.
test: build fmt lint
	POLICY_WASM=$(CURDIR)/$(WASM) cargo test --workspace

clean:
	cargo clean
