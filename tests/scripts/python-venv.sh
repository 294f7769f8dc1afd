# shellcheck shell=bash
# Sourced helper (not run directly) shared by python-rp.sh and smtp-sink.sh:
# prepares the tests' Python virtualenv and sets VENV to it.
#
#   PROG=name; source "$(dirname "${BASH_SOURCE[0]}")/python-venv.sh"
#   ensure_python_venv            # then run "$VENV/bin/python" ...
#
# The venv is target/rp-python-venv by default (override with RP_PYTHON_VENV),
# created with `python3 -m venv` (override the interpreter with RP_PYTHON;
# 3.11 or newer) and filled from tests/rp-python/requirements.txt (exact pins,
# from PyPI). It is (re)built only when the requirements or the interpreter
# changed: a sha256 of both is stored in the venv. Concurrent runs (tests run
# in parallel) wait for each other while the venv is being prepared.
#
# Messages go to stderr, prefixed with $PROG; failures exit the calling script.

PROG="${PROG:-python-venv}"
die() {
    echo "$PROG: $*" >&2
    exit 1
}

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RP_DIR="$ROOT/tests/rp-python"
REQUIREMENTS="$RP_DIR/requirements.txt"
VENV="${RP_PYTHON_VENV:-$ROOT/target/rp-python-venv}"
PYTHON="${RP_PYTHON:-python3}"

ensure_python_venv() {
    command -v "$PYTHON" >/dev/null 2>&1 ||
        die "'$PYTHON' not found: the tests' Python helpers need Python 3.11 or newer (or set RP_PYTHON)"
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null ||
        die "'$PYTHON' is $("$PYTHON" -V 2>&1 || true); the pinned packages need Python 3.11 or newer (set RP_PYTHON)"

    # What the venv was built from: the requirements and the base interpreter.
    local fingerprint
    fingerprint="$("$PYTHON" - "$REQUIREMENTS" <<'PY'
import hashlib, sys
h = hashlib.sha256(open(sys.argv[1], "rb").read())
h.update(b"\0" + sys.version.encode() + b"\0" + sys.base_prefix.encode())
print(h.hexdigest())
PY
)"
    local stamp="$VENV/.requirements.sha256"

    mkdir -p "$(dirname "$VENV")"
    _venv_lock
    if [[ ! -x "$VENV/bin/python" || "$(cat "$stamp" 2>/dev/null || true)" != "$fingerprint" ]]; then
        if [[ -e "$VENV" ]]; then
            [[ -f "$VENV/pyvenv.cfg" ]] || die "$VENV exists and is not a virtualenv; remove it"
            echo "$PROG: requirements or interpreter changed, rebuilding $VENV" >&2
            rm -rf "$VENV"
        else
            echo "$PROG: creating $VENV" >&2
        fi
        local venv_log
        if ! venv_log="$("$PYTHON" -m venv "$VENV" 2>&1)"; then
            rm -rf "$VENV"
            die "'$PYTHON -m venv' failed (on Debian/Ubuntu install python3-venv): $(tail -n 1 <<<"$venv_log")"
        fi
        if ! "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input --quiet \
            -r "$REQUIREMENTS" >&2; then
            die "pip install -r tests/rp-python/requirements.txt failed (is PyPI reachable?); see above"
        fi
        echo "$fingerprint" >"$stamp"
    fi
    _venv_unlock
}

_VENV_LOCK="$VENV.lock"
_VENV_MKDIR_LOCK=""
_venv_lock() {
    if command -v flock >/dev/null 2>&1; then
        exec 9>"$_VENV_LOCK"
        flock -w 900 9 || die "timed out waiting for $_VENV_LOCK"
    else
        local waited=0
        until mkdir "$_VENV_LOCK.d" 2>/dev/null; do
            sleep 1
            waited=$((waited + 1))
            [[ $waited -lt 900 ]] || die "timed out waiting for $_VENV_LOCK.d (remove it if no setup is running)"
        done
        _VENV_MKDIR_LOCK="$_VENV_LOCK.d"
        trap 'rmdir "$_VENV_MKDIR_LOCK" 2>/dev/null || true' EXIT
    fi
}
_venv_unlock() {
    if [[ -n "$_VENV_MKDIR_LOCK" ]]; then
        rmdir "$_VENV_MKDIR_LOCK" 2>/dev/null || true
        _VENV_MKDIR_LOCK=""
        trap - EXIT
    else
        exec 9>&-
    fi
}
