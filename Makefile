# Sésame: developer entry points (GNU make).
#
#   make            build everything and run the identity provider
#   make test       run the whole test suite against throwaway PostgreSQL/Redis
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
# Workspace binaries started in the background next to idp-server by
# `make run`, by binary name (e.g. the agents' console and the demo relying
# party, once they exist). Each is run from the build directory with no
# arguments and stopped when idp-server exits.
RUN_SIDECARS ?=
TARGET_DIR ?= $(or $(CARGO_TARGET_DIR),target)

# CI comes from the environment and is passed through unchanged: with CI=true
# the test kit treats a missing PostgreSQL/Redis as a failure instead of
# skipping. Only exported when set, so the tests never see an empty CI.
ifdef CI
export CI
endif

.PHONY: deps run test lint fmt services clean-data

# Install/check the system libraries the build links against (OpenSSL, libpq, SQLite).
deps:
	tests/scripts/deps.sh

# Build all binaries, then run the identity provider (plus any RUN_SIDECARS).
run: deps
	$(CARGO) build --workspace --bins
	@set -euo pipefail; pids=(); \
	trap 'if [[ $${#pids[@]} -gt 0 ]]; then kill "$${pids[@]}" 2>/dev/null || true; fi' EXIT; \
	for bin in $(RUN_SIDECARS); do \
		echo "starting $$bin"; "$(TARGET_DIR)/debug/$$bin" & pids+=("$$!"); \
	done; \
	echo "$(CARGO) run -p idp-server --bin idp-server -- --config $(CONFIG)"; \
	$(CARGO) run -p idp-server --bin idp-server -- --config $(CONFIG)

# Run every test of the workspace with DATABASE_URL/REDIS_URL set (throwaway servers if unset).
test: deps
	tests/scripts/with-services.sh $(CARGO) test --workspace --all-targets --no-fail-fast$(if $(strip $(TEST_ARGS)), -- $(TEST_ARGS))

# Formatting check and clippy, warnings are errors.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Reformat the whole workspace.
fmt:
	$(CARGO) fmt --all

# Start throwaway PostgreSQL and Redis in the foreground, print their URLs, stop on Ctrl-C.
services:
	tests/scripts/with-services.sh --foreground

# Delete local runtime data (embedded SQLite database, outboxes). keys/ is kept
# on purpose: keys/master.key encrypts the signing keys and other secrets, and
# deleting it would make any database encrypted under it unreadable.
clean-data:
	rm -rf data
