#!/usr/bin/env bash
# Decrypts Web Push message bodies with Python's http_ece (an implementation
# independent of the server's), for tests/all/push.rs:
#   tests/scripts/push-decrypt.sh < REQUEST.json
# Runs tests/rp-python/push_decrypt.py in the tests' virtualenv (see
# python-venv.sh). stdout carries only the script's JSON line.
set -euo pipefail

PROG="push-decrypt"
# shellcheck source=tests/scripts/python-venv.sh
source "$(dirname "${BASH_SOURCE[0]}")/python-venv.sh"
ensure_python_venv

exec "$VENV/bin/python" "$RP_DIR/push_decrypt.py" "$@"
