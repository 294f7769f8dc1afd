#!/usr/bin/env bash
# Runs the Python relying party of the interoperability test (authlib):
#
#   tests/scripts/python-rp.sh ISSUER CLIENT_ID CLIENT_SECRET EMAIL PASSWORD REDIRECT_URI
#
# (arguments are passed to tests/rp-python/rp.py unchanged; see its header).
#
# The RP runs in a virtualenv, target/rp-python-venv by default (override with
# RP_PYTHON_VENV), created with `python3 -m venv` (override the interpreter with
# RP_PYTHON; 3.11 or newer) and filled from tests/rp-python/requirements.txt
# (exact pins, from PyPI). The venv is (re)built only when the requirements or
# the interpreter changed: a sha256 of both is stored in the venv. Concurrent
# runs (the two backends of the test run in parallel) wait for each other
# while the venv is being prepared.
#
# stdout carries only the RP's JSON line; everything else goes to stderr.
set -euo pipefail

PROG="python-rp"
die() {
    echo "$PROG: $*" >&2
    exit 1
}

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RP_DIR="$ROOT/tests/rp-python"
REQUIREMENTS="$RP_DIR/requirements.txt"
VENV="${RP_PYTHON_VENV:-$ROOT/target/rp-python-venv}"
PYTHON="${RP_PYTHON:-python3}"

command -v "$PYTHON" >/dev/null 2>&1 ||
    die "'$PYTHON' not found: the Python relying party needs Python 3.11 or newer (or set RP_PYTHON)"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null ||
    die "'$PYTHON' is $("$PYTHON" -V 2>&1 || true); the pinned packages need Python 3.11 or newer (set RP_PYTHON)"

# What the venv was built from: the requirements and the base interpreter.
FINGERPRINT="$("$PYTHON" - "$REQUIREMENTS" <<'EOF'
import hashlib, sys
h = hashlib.sha256(open(sys.argv[1], "rb").read())
h.update(b"\0" + sys.version.encode() + b"\0" + sys.base_prefix.encode())
print(h.hexdigest())
EOF
)"
STAMP="$VENV/.requirements.sha256"

mkdir -p "$(dirname "$VENV")"
LOCK="$VENV.lock"
MKDIR_LOCK=""
lock() {
    if command -v flock >/dev/null 2>&1; then
        exec 9>"$LOCK"
        flock -w 900 9 || die "timed out waiting for $LOCK"
    else
        local waited=0
        until mkdir "$LOCK.d" 2>/dev/null; do
            sleep 1
            waited=$((waited + 1))
            [[ $waited -lt 900 ]] || die "timed out waiting for $LOCK.d (remove it if no setup is running)"
        done
        MKDIR_LOCK="$LOCK.d"
        trap 'rmdir "$MKDIR_LOCK" 2>/dev/null || true' EXIT
    fi
}
unlock() {
    if [[ -n "$MKDIR_LOCK" ]]; then
        rmdir "$MKDIR_LOCK" 2>/dev/null || true
        MKDIR_LOCK=""
        trap - EXIT
    else
        exec 9>&-
    fi
}

lock
if [[ ! -x "$VENV/bin/python" || "$(cat "$STAMP" 2>/dev/null || true)" != "$FINGERPRINT" ]]; then
    if [[ -e "$VENV" ]]; then
        [[ -f "$VENV/pyvenv.cfg" ]] || die "$VENV exists and is not a virtualenv; remove it"
        echo "$PROG: requirements or interpreter changed, rebuilding $VENV" >&2
        rm -rf "$VENV"
    else
        echo "$PROG: creating $VENV" >&2
    fi
    if ! venv_log="$("$PYTHON" -m venv "$VENV" 2>&1)"; then
        rm -rf "$VENV"
        die "'$PYTHON -m venv' failed (on Debian/Ubuntu install python3-venv): $(tail -n 1 <<<"$venv_log")"
    fi
    if ! "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input --quiet \
        -r "$REQUIREMENTS" >&2; then
        die "pip install -r tests/rp-python/requirements.txt failed (is PyPI reachable?); see above"
    fi
    echo "$FINGERPRINT" >"$STAMP"
fi
unlock

exec "$VENV/bin/python" "$RP_DIR/rp.py" "$@"
