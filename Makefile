# Sésame: developer entry points (GNU make).
#
#   make            build everything and run the identity provider
#   make test       run the whole test suite against throwaway PostgreSQL/Redis,
#                   then the browser journeys (tests/browser, Chromium)
#   make lint       rustfmt check + clippy with warnings denied
#
# Nothing here needs a database of your own: `make test` starts temporary
# servers unless DATABASE_URL and REDIS_URL are already set.

SHELL := /bin/bash
.DEFAULT_GOAL := run

CARGO ?= cargo
# Configuration file for `make run`.
CONFIG ?= config/default.toml
# Extra arguments for the test binaries, e.g. `make test TEST_ARGS=ephemeral`
# (a test-name filter) or `make test TEST_ARGS='--nocapture'`.
TEST_ARGS ?=
# BROWSER=0 skips the browser journeys of `make test` (tests/browser/run.sh:
# Playwright driving Debian's Chromium). Refused under CI, which runs them.
BROWSER ?= 1
# Issuer of the IdP started by `make run`: must equal server.public_url of
# CONFIG (follows IDP__SERVER__PUBLIC_URL when that is set).
ISSUER ?= $(or $(IDP__SERVER__PUBLIC_URL),http://127.0.0.1:8080)
# Public URL and listen address of the demo relying party started by `make run`.
DEMO_RP_URL ?= http://127.0.0.1:8090
DEMO_RP_BIND ?= 127.0.0.1:8090
# Other workspace binaries started in the background next to idp-server by
# `make run`, by binary name (e.g. the agents' console, once it exists). Each
# is run from the build directory with no arguments and stopped when
# idp-server exits.
RUN_SIDECARS ?=
TARGET_DIR ?= $(or $(CARGO_TARGET_DIR),target)
BIN := $(TARGET_DIR)/debug

# CI comes from the environment and is passed through unchanged: with CI=true
# the test kit treats a missing PostgreSQL/Redis as a failure instead of
# skipping. Only exported when set, so the tests never see an empty CI.
ifdef CI
export CI
endif

.PHONY: deps run test test-cargo test-browser lint fmt services clean-data bench

# Install/check the system libraries the build links against (OpenSSL, libpq, SQLite).
deps:
	tests/scripts/deps.sh

# Build, seed the demo client and citizen, start the demo relying party and the
# agents' console (and any RUN_SIDECARS) in the background, then run the
# identity provider in the foreground. Everything started here stops when idp-server exits (Ctrl-C).
run: deps
	$(CARGO) build --workspace --bins
	$(CARGO) build -p idp-tests --example demo-rp
	@set -euo pipefail; pids=(); \
	trap 'if [[ $${#pids[@]} -gt 0 ]]; then kill "$${pids[@]}" 2>/dev/null || true; fi' EXIT; \
	DEMO_CLIENT_ID= DEMO_CLIENT_SECRET= DEMO_EMAIL= DEMO_PASSWORD= DEMO_ACTIVATION_CODE=; \
	if seed="$$("$(BIN)/idp-admin" --config $(CONFIG) dev seed --rp-url $(DEMO_RP_URL))"; then \
		while IFS='=' read -r key value; do \
			case "$$key" in \
			DEMO_CLIENT_ID|DEMO_CLIENT_SECRET|DEMO_EMAIL|DEMO_PASSWORD|DEMO_ACTIVATION_CODE) printf -v "$$key" '%s' "$$value" ;; \
			esac; \
		done <<< "$$seed"; \
		DEMO_ISSUER=$(ISSUER) DEMO_URL=$(DEMO_RP_URL) DEMO_BIND=$(DEMO_RP_BIND) \
			DEMO_CLIENT_ID="$$DEMO_CLIENT_ID" DEMO_CLIENT_SECRET="$$DEMO_CLIENT_SECRET" \
			"$(BIN)/examples/demo-rp" & pids+=("$$!"); \
	else \
		echo "make run: idp-admin dev seed failed (see above); no demo relying party" >&2; \
	fi; \
	"$(BIN)/idp-admin" --config $(CONFIG) serve > /dev/null & pids+=("$$!"); \
	for bin in $(RUN_SIDECARS); do \
		echo "starting $$bin"; "$(BIN)/$$bin" & pids+=("$$!"); \
	done; \
	echo; \
	echo "  Sésame issuer       $(ISSUER)"; \
	echo "  Create an identity  $(ISSUER)/inscription"; \
	echo "  Outbox (codes)      data/outbox/ and $(ISSUER)/dev/outbox"; \
	echo "  Agents' console     http://127.0.0.1:8081   first admin: target/debug/idp-admin agents add admin --name Admin --role admin"; \
	if [[ -n "$$DEMO_CLIENT_SECRET" ]]; then \
		echo "  Demo RP             $(DEMO_RP_URL)   (Mon compte formation)"; \
		echo "  Demo client         $$DEMO_CLIENT_ID / $$DEMO_CLIENT_SECRET"; \
		echo "  Demo citizen        $$DEMO_EMAIL / $$DEMO_PASSWORD   (mobile 06 12 34 56 78)"; \
		if [[ -n "$$DEMO_ACTIVATION_CODE" ]]; then \
			echo "  Activate the app    $(ISSUER)/app   activation code $$DEMO_ACTIVATION_CODE (choose a 4-digit PIN)"; \
		fi; \
	fi; \
	echo; \
	"$(BIN)/idp-server" --config $(CONFIG)

# Run every test: the Rust tests, then the browser journeys (skipped with
# BROWSER=0, except under CI). -k: the journeys run even if a Rust test
# failed; make still fails.
test:
	@if [[ "$(BROWSER)" == 0 && -n "$${CI:-}" && "$${CI:-}" != false ]]; then \
		echo "make test: BROWSER=0 is refused under CI: the browser journeys must run" >&2; exit 2; \
	fi
	@$(if $(filter 0,$(BROWSER)),echo "make test: browser journeys skipped (BROWSER=0)")
	@$(MAKE) --no-print-directory -k test-cargo $(if $(filter 0,$(BROWSER)),,test-browser)

# Rust tests of the workspace with DATABASE_URL/REDIS_URL set (throwaway servers if unset).
# The replicas test drives nginx (installed by test-tools.sh when missing) in
# front of the idp-server binary, hence the build of the binaries first.
test-cargo: deps
	tests/scripts/test-tools.sh
	$(CARGO) build --workspace --bins
	tests/scripts/with-services.sh $(CARGO) test --workspace --all-targets --no-fail-fast$(if $(strip $(TEST_ARGS)), -- $(TEST_ARGS))

# Browser journeys (tests/browser/run.sh) against idp-server and the demo RP
# built here; run.sh installs Chromium and the npm packages when missing.
test-browser: deps
	$(CARGO) build --workspace --bins
	$(CARGO) build -p idp-tests --example demo-rp
	BIN_DIR=$(BIN) tests/browser/run.sh

# Formatting check and clippy, warnings are errors.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Reformat the whole workspace.
fmt:
	$(CARGO) fmt --all

# Complete eidas2 logins per second (docs/performance.md): release build, seed,
# idp-server on throwaway PostgreSQL + Redis and on the embedded default, load
# driver at 1, 16 and 64 virtual users; writes bench/results/<date>.{json,md}.
# Knobs: BENCH_SECONDS, BENCH_ACCOUNTS, BENCH_LARGE_ACCOUNTS… (bench/run.sh).
bench: deps
	bench/run.sh

# Start throwaway PostgreSQL and Redis in the foreground, print their URLs, stop on Ctrl-C.
services:
	tests/scripts/with-services.sh --foreground

# Delete local runtime data (embedded SQLite database, outboxes). keys/ is kept
# on purpose: keys/master.key encrypts the signing keys and other secrets, and
# deleting it would make any database encrypted under it unreadable.
clean-data:
	rm -rf data
