#!/usr/bin/env bash
# Browser journeys: playwright-core driving Debian's Chromium against a real
# idp-server and the demo relying party (tests/examples/demo-rp.rs).
#
#   tests/browser/run.sh [JOURNEY_FILE...]     (default: every journeys/*.test.js)
#
# 1. Chromium: CHROMIUM_PATH (default /usr/bin/chromium). When missing and
#    running as root, Debian's `chromium` package is installed with apt-get;
#    otherwise the script stops and says what to install. Playwright never
#    downloads a browser of its own.
# 2. node_modules: `npm ci` when it is missing or package-lock.json changed
#    (a sha256 of the lockfile is kept in node_modules/.package-lock.sha256).
# 3. The system under test, built beforehand (`make test` does it):
#    BIN_DIR/idp-server, BIN_DIR/idp-admin and BIN_DIR/examples/demo-rp, where
#    BIN_DIR defaults to ${CARGO_TARGET_DIR:-<repo>/target}/debug. It runs on the
#    embedded backend (SQLite file, in-process ephemeral store, fresh master
#    key) in a temporary directory, on free ports of 127.0.0.1, seeded with
#    `idp-admin dev seed --json` (demo client and citizen; the citizen's
#    activation code reaches the journeys as DEMO_ACTIVATION_CODE). The
#    agents' console (`idp-admin serve`) shares the database, the master key
#    and the outbox, with one clerk agent created beforehand
#    (`idp-admin agents add --json`).
# 4. The journeys run with Node's test runner. Screenshots are written to
#    tests/browser/screenshots/<journey>/<nn>-<step>.png (emptied first, kept
#    afterwards).
# On exit the servers and the browser are stopped, the temporary directory is
# removed, and the exit code of the journeys is returned. Server logs are
# printed when something failed.
set -euo pipefail

PROG="browser-tests"
die() {
    echo "$PROG: $*" >&2
    exit 1
}

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
# Relative paths are taken from the current directory, as cargo does.
BIN_DIR="${BIN_DIR:-${CARGO_TARGET_DIR:-$ROOT/target}/debug}"
[[ "$BIN_DIR" = /* ]] || BIN_DIR="$PWD/$BIN_DIR"
CHROMIUM_PATH="${CHROMIUM_PATH:-/usr/bin/chromium}"

# ---------------------------------------------------------------- prerequisites

command -v node >/dev/null 2>&1 || die "node not found: install Node.js 20 or newer (Debian: apt-get install nodejs npm)"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) < 20 ? 1 : 0)' ||
    die "node $(node --version) is too old: the journeys need Node.js 20 or newer"
command -v curl >/dev/null 2>&1 || die "curl not found: apt-get install curl"

for bin in idp-server idp-admin examples/demo-rp; do
    [[ -x "$BIN_DIR/$bin" ]] ||
        die "$BIN_DIR/$bin is missing: run 'cargo build --workspace --bins && cargo build -p idp-tests --example demo-rp' first (make test does it)"
done

if [[ ! -x "$CHROMIUM_PATH" ]]; then
    if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1 && [[ "$CHROMIUM_PATH" == /usr/bin/chromium ]]; then
        echo "$PROG: installing Debian's chromium (apt-get install chromium)" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get -o DPkg::Lock::Timeout=600 update -qq
        apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends chromium >/dev/null
        [[ -x "$CHROMIUM_PATH" ]] || die "apt-get installed chromium but $CHROMIUM_PATH is still missing"
    else
        die "$CHROMIUM_PATH not found: install Debian's chromium as root ('apt-get install chromium') or set CHROMIUM_PATH"
    fi
fi

command -v npm >/dev/null 2>&1 || die "npm not found: install npm (Debian: apt-get install npm)"
STAMP="$HERE/node_modules/.package-lock.sha256"
LOCK_SUM="$(sha256sum "$HERE/package-lock.json" | cut -d' ' -f1)"
if [[ ! -d "$HERE/node_modules" || ! -f "$STAMP" || "$(cat "$STAMP")" != "$LOCK_SUM" ]]; then
    echo "$PROG: npm ci (tests/browser)" >&2
    (cd "$HERE" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
    echo "$LOCK_SUM" >"$STAMP"
fi

# Journey files: the arguments, or every journeys/*.test.js.
JOURNEYS=()
if [[ $# -gt 0 ]]; then
    for f in "$@"; do
        [[ -f "$f" ]] || die "no such journey file: $f"
        JOURNEYS+=("$(cd "$(dirname "$f")" && pwd)/$(basename "$f")")
    done
else
    shopt -s nullglob
    JOURNEYS=("$HERE"/journeys/*.test.js)
    shopt -u nullglob
    [[ ${#JOURNEYS[@]} -gt 0 ]] || die "no journeys in $HERE/journeys"
fi

# ---------------------------------------------------------------- clean-up

WORKDIR="$(mktemp -d "${TMPDIR:-/tmp}/sesame-browser.XXXXXX")"
PIDS=()
FAILED=1
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    local pid
    for pid in "${PIDS[@]}"; do
        # Journeys run in their own process group (see below): stop the
        # browser with them.
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    # Chromium runs in a process group of its own; Playwright stops it when
    # the runner exits, unless the runner was killed outright. Its profile
    # lives in this run's directory, which names it unambiguously.
    if command -v pkill >/dev/null 2>&1; then
        pkill -KILL -f -- "--user-data-dir=$WORKDIR/" 2>/dev/null || true
    fi
    if [[ $rc -ne 0 || $FAILED -ne 0 ]]; then
        local log
        for log in "$WORKDIR"/*.log; do
            [[ -s "$log" ]] || continue
            echo "----- $(basename "$log") (last 60 lines)" >&2
            tail -n 60 "$log" >&2
        done
    fi
    rm -rf "$WORKDIR"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- system under test

# A free TCP port of 127.0.0.1, asked from the kernel (may race, rarely).
free_port() {
    node -e 'const s = require("net").createServer();
s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}
IDP_PORT="$(free_port)"
RP_PORT="$(free_port)"
while [[ "$RP_PORT" == "$IDP_PORT" ]]; do RP_PORT="$(free_port)"; done
CONSOLE_PORT="$(free_port)"
while [[ "$CONSOLE_PORT" == "$IDP_PORT" || "$CONSOLE_PORT" == "$RP_PORT" ]]; do CONSOLE_PORT="$(free_port)"; done

ISSUER="http://127.0.0.1:$IDP_PORT"
RP_URL="http://127.0.0.1:$RP_PORT"
CONSOLE_URL="http://127.0.0.1:$CONSOLE_PORT"
export IDP__SERVER__BIND="127.0.0.1:$IDP_PORT"
export IDP__SERVER__PUBLIC_URL="$ISSUER"
export IDP__SERVER__WORKERS=2
# The journeys' browser contexts each present their own client address
# (tests/browser/lib/browser.js: frenchContext) through this "proxy".
export IDP__SERVER__TRUSTED_PROXIES='["127.0.0.1"]'
export IDP__DATABASE__URL="sqlite://$WORKDIR/sesame.db"
export IDP__EPHEMERAL__URL="memory://"
export IDP__KEYS__MASTER_KEY_FILE="$WORKDIR/master.key"
export IDP__KEYS__GENERATE_IF_MISSING=true
export IDP__DEV__ENABLED=true
# The example list of verification places (config/places.toml), shown on the reference page.
export IDP__VERIFICATION__PLACES_FILE="$ROOT/config/places.toml"
# eidas2-app logs the demo citizen in by phone 7 times within minutes (DESIGN
# §7's 5 per 15 min would refuse the last ones; no journey tests that limit).
export IDP__LOGIN__APPROVALS_PER_PHONE=20
# Web Push: only a loopback origin where nothing listens (the app journey's
# stand-in subscription); nothing is ever sent off this machine.
export IDP__PUSH__ALLOWED_ORIGINS='["http://127.0.0.1:9"]'
export IDP__CONSOLE__BIND="127.0.0.1:$CONSOLE_PORT"
export IDP__LOG__FILTER="${IDP__LOG__FILTER:-info}"
unset IDP_CONFIG IDP_MASTER_KEY

# Run from the temporary directory so nothing lands in the working tree.
cd "$WORKDIR"

# `dev seed --json`: the demo client and citizen, and the citizen's activation
# code (printed only while the citizen has no active device).
SEED="$(NO_COLOR=1 "$BIN_DIR/idp-admin" dev seed --rp-url "$RP_URL" --json 2>"$WORKDIR/seed.log")" ||
    die "idp-admin dev seed failed: $(tail -n 5 "$WORKDIR/seed.log")"
SEED_VARS="$(node -e 'const s = JSON.parse(require("fs").readFileSync(0, "utf8"));
const names = { client_id: "DEMO_CLIENT_ID", client_secret: "DEMO_CLIENT_SECRET", email: "DEMO_EMAIL",
  password: "DEMO_PASSWORD", activation_code: "DEMO_ACTIVATION_CODE" };
for (const [key, name] of Object.entries(names)) {
  const value = s[key];
  if (typeof value === "string" && value && !/[\r\n]/.test(value)) console.log(`${name}=${value}`);
}' <<<"$SEED")" || die "idp-admin dev seed --json printed no JSON: $SEED"
DEMO_CLIENT_ID="" DEMO_CLIENT_SECRET="" DEMO_EMAIL="" DEMO_PASSWORD="" DEMO_ACTIVATION_CODE=""
while IFS='=' read -r key value; do
    case "$key" in
        DEMO_CLIENT_ID | DEMO_CLIENT_SECRET | DEMO_EMAIL | DEMO_PASSWORD | DEMO_ACTIVATION_CODE) printf -v "$key" '%s' "$value" ;;
    esac
done <<<"$SEED_VARS"
for key in DEMO_CLIENT_ID DEMO_CLIENT_SECRET DEMO_EMAIL DEMO_PASSWORD; do
    [[ -n "${!key}" ]] || die "idp-admin dev seed printed no $key"
done
# Optional here: the journeys that activate the app (eidas2-app) say so if missing.
[[ -n "$DEMO_ACTIVATION_CODE" ]] || echo "$PROG: idp-admin dev seed printed no activation_code" >&2

# One clerk of the LYON01 post office; TOTP is enrolled by the journey.
CLERK_USERNAME="c.martin"
CLERK_JSON="$(NO_COLOR=1 "$BIN_DIR/idp-admin" agents add "$CLERK_USERNAME" --name "Claire Martin" \
    --role clerk --office LYON01 --json 2>"$WORKDIR/agents.log")" ||
    die "idp-admin agents add failed: $(tail -n 5 "$WORKDIR/agents.log")"
CLERK_PASSWORD="$(node -e 'const a = JSON.parse(require("fs").readFileSync(0, "utf8"));
if (typeof a.initial_password !== "string" || !a.initial_password) process.exit(1);
console.log(a.initial_password);' <<<"$CLERK_JSON")" ||
    die "idp-admin agents add --json printed no initial_password: $CLERK_JSON"

# A second clerk of the same office, for the journey that refuses a request
# (correct-identity), so it never depends on the first one's TOTP enrolment.
REFUSER_USERNAME="r.leroy"
REFUSER_JSON="$(NO_COLOR=1 "$BIN_DIR/idp-admin" agents add "$REFUSER_USERNAME" --name "Rémi Leroy" \
    --role clerk --office LYON01 --json 2>>"$WORKDIR/agents.log")" ||
    die "idp-admin agents add failed: $(tail -n 5 "$WORKDIR/agents.log")"
REFUSER_PASSWORD="$(node -e 'const a = JSON.parse(require("fs").readFileSync(0, "utf8"));
if (typeof a.initial_password !== "string" || !a.initial_password) process.exit(1);
console.log(a.initial_password);' <<<"$REFUSER_JSON")" ||
    die "idp-admin agents add --json printed no initial_password: $REFUSER_JSON"

# A reviewer of the online queue, for console-review.
REVIEWER_USERNAME="r.petit"
REVIEWER_JSON="$(NO_COLOR=1 "$BIN_DIR/idp-admin" agents add "$REVIEWER_USERNAME" --name "Rose Petit" \
    --role reviewer --json 2>>"$WORKDIR/agents.log")" ||
    die "idp-admin agents add failed: $(tail -n 5 "$WORKDIR/agents.log")"
REVIEWER_PASSWORD="$(node -e 'const a = JSON.parse(require("fs").readFileSync(0, "utf8"));
if (typeof a.initial_password !== "string" || !a.initial_password) process.exit(1);
console.log(a.initial_password);' <<<"$REVIEWER_JSON")" ||
    die "idp-admin agents add --json printed no initial_password: $REVIEWER_JSON"

NO_COLOR=1 "$BIN_DIR/idp-server" >"$WORKDIR/idp-server.log" 2>&1 &
PIDS+=("$!")
IDP_PID=$!
DEMO_ISSUER="$ISSUER" DEMO_CLIENT_ID="$DEMO_CLIENT_ID" DEMO_CLIENT_SECRET="$DEMO_CLIENT_SECRET" \
    DEMO_BIND="127.0.0.1:$RP_PORT" DEMO_URL="$RP_URL" NO_COLOR=1 \
    "$BIN_DIR/examples/demo-rp" >"$WORKDIR/demo-rp.log" 2>&1 &
PIDS+=("$!")
RP_PID=$!
NO_COLOR=1 "$BIN_DIR/idp-admin" serve >"$WORKDIR/idp-console.log" 2>&1 &
PIDS+=("$!")
CONSOLE_PID=$!

# Wait (up to 30 s) until each answers.
wait_for() {
    local name="$1" pid="$2" url="$3" i
    for ((i = 0; i < 150; i++)); do
        kill -0 "$pid" 2>/dev/null || die "$name exited during start-up (log below)"
        if curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; then
            return 0
        fi
        sleep 0.2
    done
    die "$name did not answer $url within 30 s (log below)"
}
wait_for idp-server "$IDP_PID" "$ISSUER/readyz"
wait_for demo-rp "$RP_PID" "$RP_URL/"
wait_for idp-console "$CONSOLE_PID" "$CONSOLE_URL/connexion"
echo "$PROG: idp-server $ISSUER, demo-rp $RP_URL, console $CONSOLE_URL" >&2

# ---------------------------------------------------------------- journeys

SHOTS="$HERE/screenshots"
rm -rf "$SHOTS"
mkdir -p "$SHOTS" "$WORKDIR/tmp"

# setsid: the runner, its test processes and Chromium share one process group
# that the clean-up stops as a whole. TMPDIR: Chromium's throwaway profile
# (--user-data-dir) is created under the temporary directory.
set +e
SESAME_ISSUER="$ISSUER" DEMO_RP_URL="$RP_URL" DEMO_EMAIL="$DEMO_EMAIL" DEMO_PASSWORD="$DEMO_PASSWORD" \
    DEMO_ACTIVATION_CODE="$DEMO_ACTIVATION_CODE" IDP_ADMIN="$BIN_DIR/idp-admin" \
    SESAME_CONSOLE_URL="$CONSOLE_URL" CLERK_USERNAME="$CLERK_USERNAME" CLERK_PASSWORD="$CLERK_PASSWORD" \
    REFUSER_USERNAME="$REFUSER_USERNAME" REFUSER_PASSWORD="$REFUSER_PASSWORD" \
    REVIEWER_USERNAME="$REVIEWER_USERNAME" REVIEWER_PASSWORD="$REVIEWER_PASSWORD" \
    CHROMIUM_PATH="$CHROMIUM_PATH" SCREENSHOT_DIR="$SHOTS" TMPDIR="$WORKDIR/tmp" \
    setsid node --test --test-reporter=spec --test-concurrency=1 --test-timeout=180000 "${JOURNEYS[@]}" &
NODE_PID=$!
PIDS=("$NODE_PID" "${PIDS[@]}")
wait "$NODE_PID"
RC=$?
set -e
if [[ $RC -eq 0 ]]; then
    FAILED=0
    echo "$PROG: all journeys passed; screenshots in ${SHOTS#"$ROOT"/}" >&2
else
    echo "$PROG: journeys failed (exit $RC); screenshots in ${SHOTS#"$ROOT"/}" >&2
fi
exit "$RC"
