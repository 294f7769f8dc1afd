#!/usr/bin/env bash
# Runs the Python relying party of the interoperability test (authlib):
#
#   tests/scripts/python-rp.sh ISSUER CLIENT_ID CLIENT_SECRET EMAIL PASSWORD REDIRECT_URI
#
# (arguments are passed to tests/rp-python/rp.py unchanged; see its header).
#
# The RP runs in the tests' virtualenv, prepared by python-venv.sh (sourced):
# target/rp-python-venv by default (RP_PYTHON_VENV), built with python3
# (RP_PYTHON; 3.11 or newer) from tests/rp-python/requirements.txt (exact pins,
# from PyPI), rebuilt only when the requirements or the interpreter changed.
# Concurrent runs wait for each other while the venv is being prepared.
#
# stdout carries only the RP's JSON line; everything else goes to stderr.
set -euo pipefail

PROG="python-rp"
# shellcheck source=tests/scripts/python-venv.sh
source "$(dirname "${BASH_SOURCE[0]}")/python-venv.sh"
ensure_python_venv

exec "$VENV/bin/python" "$RP_DIR/rp.py" "$@"
