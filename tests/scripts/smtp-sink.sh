#!/usr/bin/env bash
# Runs the tests' SMTP server (aiosmtpd), which stores every message it receives:
#
#   tests/scripts/smtp-sink.sh --dir DIR [--starttls] [--auth LOGIN:PASSWORD]
#
# (arguments are passed to tests/rp-python/smtp_sink.py unchanged; see its
# header). It prints `READY <port>` on stdout once it listens on 127.0.0.1 and
# stops when its standard input closes.
#
# It runs in the same virtualenv as python-rp.sh, prepared by python-venv.sh
# (sourced; see there for RP_PYTHON_VENV and RP_PYTHON).
set -euo pipefail

PROG="smtp-sink"
# shellcheck source=tests/scripts/python-venv.sh
source "$(dirname "${BASH_SOURCE[0]}")/python-venv.sh"
ensure_python_venv

exec "$VENV/bin/python" "$RP_DIR/smtp_sink.py" "$@"
