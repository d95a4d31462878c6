# fleetkeeper: set-up, build, test, demo, bench, package, deploy.
# `make demo` and `make test` are all a fresh machine needs (Rust and Python 3 with pip).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV      := .venv
STAMP     := $(VENV)/.installed
PYTHON    ?= python3
# The virtualenv's tools (moto_server, cfn-lint, cargo-lambda, zig) come first on PATH.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export CARGO_TERM_COLOR ?= never

# Functions with a Lambda entry point (a package still in progress may be a library only).
FUNCTIONS := $(patsubst functions/%/src/main.rs,%,$(wildcard functions/*/src/main.rs))

.PHONY: help setup browser build check test lint fmt demo e2e org-e2e bench package deploy clean

help:
	@echo "make setup    install the Python tools (moto, cfn-lint, cargo-lambda, zig) into $(VENV)"
	@echo "make build    build every crate"
	@echo "make check    the edit loop: fmt, clippy, the lints and every unit test (no moto, no demo)"
	@echo "make test     everything CI checks: fmt, clippy, tests (moto included), cfn-lint, the demo"
	@echo "make demo     run every function as a Lambda against a local AWS emulator"
	@echo "make e2e      instance-launcher's form in headless Chromium (installs chromium, playwright-core)"
	@echo "make org-e2e  organisation mode: the state machine on moto's interpreter against the real binaries"
	@echo "make bench    benchmarks (release builds)"
	@echo "make package  arm64 zips for Lambda under target/lambda/"
	@echo "make deploy   sam deploy --guided (needs AWS credentials; never run in CI)"
	@echo "make clean    remove build output and $(VENV)"

# Idempotent and quick once done: reinstalls only when requirements.txt changes. nasm gives
# image-resizer's JPEG code (libjpeg-turbo, built by mozjpeg-sys) its x86_64 SIMD; without it
# the build silently falls back to plain C, so it is installed before anything is built.
setup: $(STAMP)
	@command -v nasm >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq --no-install-recommends nasm; }
$(STAMP): requirements.txt
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

# The browser test's parts: Debian's Chromium (installed with apt-get when missing; needs
# root or sudo) and playwright-core from e2e/package-lock.json.
BROWSER_STAMP := e2e/node_modules/.installed
browser: $(BROWSER_STAMP)
$(BROWSER_STAMP): e2e/package.json e2e/package-lock.json
	@command -v chromium >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq --no-install-recommends chromium; }
	cd e2e && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

build: setup
	cargo build --workspace --all-targets

fmt:
	cargo fmt --all

lint: setup
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	$(VENV)/bin/python scripts/template_check.py
	$(VENV)/bin/python scripts/iam_check.py
	$(VENV)/bin/python scripts/module_check.py
	$(VENV)/bin/python scripts/date_check.py

# The edit loop: what needs no emulator. `cargo test --lib` runs every crate's unit tests
# (plans, parsers, reports); the moto, Lambda-binary and browser tests stay in `make test`.
check: lint
	cargo test --workspace --lib

# The binaries are built first: tests/tests/lambda_binaries.rs runs each one under a Runtime
# API stand-in. The demo and the browser test run last: they prove every function works as a
# real Lambda through cargo-lambda, the launch form in a real browser, and the organisation
# state machine on moto's interpreter.
test: setup browser lint
	cargo build --workspace --bins
	cargo test --workspace
	$(VENV)/bin/python local/demo.py
	$(VENV)/bin/python local/demo_days.py
	$(VENV)/bin/python local/browser.py
	$(VENV)/bin/python local/org_e2e.py

demo: setup
	$(VENV)/bin/python local/demo.py

e2e: setup browser
	$(VENV)/bin/python local/browser.py

# Organisation mode: the state machine file, run by moto against the real binaries.
org-e2e: setup
	cargo build --bins
	$(VENV)/bin/python local/org_e2e.py

# BENCH_ARGS="--opt-levels 3 2 s z" reruns the study behind the release profile's opt-level.
bench: setup
	$(VENV)/bin/python scripts/bench.py $(BENCH_ARGS)
	cargo test -q -p snapshot-janitor --test delete_rate -- --ignored --nocapture
	@command -v vipsthumbnail >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq --no-install-recommends libvips-tools; }
	cargo build --release -q -p fleetkeeper-imaging --bin resize-file -p image-resizer --bin image-resizer
	$(VENV)/bin/python scripts/bench_images.py

# Lambda runs these on Graviton (arm64); cargo-lambda cross-links with the pinned zig.
package: setup
	rustup target add aarch64-unknown-linux-gnu
	cargo lambda build --release --arm64 --output-format zip $(addprefix --bin ,$(FUNCTIONS))
	@ls -l target/lambda/*/bootstrap.zip

deploy: package
	sam deploy --guided --template-file infra/template.yaml

clean:
	cargo clean
	rm -rf $(VENV) .demo e2e/node_modules
