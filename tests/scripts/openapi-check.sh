#!/usr/bin/env bash
# Checks recorded device-API responses against docs/device-api.yaml:
#   tests/scripts/openapi-check.sh SPEC.yaml EXCHANGES.json
# Runs tests/rp-python/openapi_check.py in the tests' virtualenv (see
# python-venv.sh). stdout carries only the checker's JSON line.
set -euo pipefail

PROG="openapi-check"
# shellcheck source=tests/scripts/python-venv.sh
source "$(dirname "${BASH_SOURCE[0]}")/python-venv.sh"
ensure_python_venv

exec "$VENV/bin/python" "$RP_DIR/openapi_check.py" "$@"
