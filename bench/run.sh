#!/usr/bin/env bash
# `make bench`: complete eidas2 logins per second (docs/performance.md).
#
# Builds the release binaries, then (under tests/scripts/with-services.sh,
# which starts a throwaway PostgreSQL, with production's durability settings,
# and Redis unless DATABASE_URL and REDIS_URL are set) for each configuration:
#   seed N accounts → start idp-server → idle RSS → discovery, JWKS and token
#   alone → complete logins at each concurrency → (PostgreSQL + Redis only)
#   many browsers waiting at once → optionally the same at a large account
#   count → stop the server.
# Writes bench/results/<date>.json and bench/results/<date>.md and prints
# the table.
#
# Knobs (environment):
#   BENCH_SECONDS=10            measured seconds per login run (plus 2 s warm-up)
#   BENCH_RUNS=3                each login run (each backend, concurrency, and the
#                               peer) repeated N times, interleaved: round 1 of every
#                               concurrency on a server, then round 2 …; the report
#                               gives min–median–max over the runs
#   BENCH_ENDPOINT_SECONDS=5    seconds per endpoint-alone run
#   BENCH_CONCURRENCY="1 16 64" virtual users per run
#   BENCH_ACCOUNTS=10000        seeded accounts
#   BENCH_LARGE_ACCOUNTS=0      if > BENCH_ACCOUNTS (e.g. 1000000): seed up to it
#                               on PostgreSQL and run again at the last concurrency
#   BENCH_BACKENDS="postgres-redis embedded"
#   BENCH_WAIT_BROWSERS=10000   browsers waiting on approvals at once (0: skip)
#   BENCH_WORKERS=0             server.workers (0: one per core)
#   BENCH_POOL=16               database.pool_size
#   BENCH_SERVER_CPUS= BENCH_DRIVER_CPUS=   taskset CPU lists (empty: no pinning)
#   BENCH_SERVICES_CPUS=        taskset CPU list for the throwaway PostgreSQL (every
#                               process of it) and Redis; a Redis given by URL is
#                               pinned too and stays so
#   BENCH_DRIVER_THREADS=2      driver worker threads
#   BENCH_ACCESS_TOKEN_TTL=     seconds: the bench client's access-token life (default
#                               the client's 600), so a long run shows what is left
#                               once tokens expire
#   BENCH_PEER=1                0: skip the peer (bench/peer: node-oidc-provider, in-memory
#                               adapter, one process), run last with the same driver
#   BENCH_PERF=0                1: `perf record --call-graph dwarf` the server during the
#                               first configuration's last login run
#                               (BENCH_PERF_KEEP=1 keeps the perf.data file)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

TARGET_DIR="${CARGO_TARGET_DIR:-target}"
REL="$TARGET_DIR/release"

if [[ "${1:-}" != "--inner" ]]; then
    echo "bench: building release binaries (idp-server, idp-bench)" >&2
    # The whole workspace, as one build: building the packages one at a time
    # unifies dependency features differently and recompiles the tree.
    cargo build --release --workspace --bins
    # A throwaway PostgreSQL flushes to disk as in production (the tests'
    # one does not).
    SESAME_PG_DURABLE=1 exec tests/scripts/with-services.sh "$0" --inner
fi

SECONDS_RUN="${BENCH_SECONDS:-10}"
RUNS="${BENCH_RUNS:-3}"
ROUND=1
ENDPOINT_SECONDS="${BENCH_ENDPOINT_SECONDS:-5}"
CONCURRENCY="${BENCH_CONCURRENCY:-1 16 64}"
ACCOUNTS="${BENCH_ACCOUNTS:-10000}"
LARGE="${BENCH_LARGE_ACCOUNTS:-0}"
BACKENDS="${BENCH_BACKENDS:-postgres-redis embedded}"
WAIT_BROWSERS="${BENCH_WAIT_BROWSERS:-10000}"
WORKERS="${BENCH_WORKERS:-0}"
POOL="${BENCH_POOL:-16}"
SERVER_CPUS="${BENCH_SERVER_CPUS:-}"
DRIVER_CPUS="${BENCH_DRIVER_CPUS:-}"
SERVICES_CPUS="${BENCH_SERVICES_CPUS:-}"
DRIVER_THREADS="${BENCH_DRIVER_THREADS:-2}"
PERF="${BENCH_PERF:-0}"
PEER="${BENCH_PEER:-1}"

STAMP="$(date -u +%Y-%m-%dT%H-%M-%SZ)"
RESULTS="$ROOT/bench/results"
mkdir -p "$RESULTS"
WORK="$(mktemp -d /tmp/sesame-bench.XXXXXX)"
LINES="$WORK/results.jsonl"
SERVER_PID=""

cleanup() {
    set +e
    if [[ -n "$SERVER_PID" ]]; then
        kill "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

BENCH="$REL/idp-bench"
SERVER="$REL/idp-server"

pin() { # pin CPUS COMMAND...: taskset when CPUS is set
    local cpus="$1"
    shift
    if [[ -n "$cpus" ]]; then taskset -c "$cpus" "$@"; else "$@"; fi
}

note() {
    printf '{"kind":"note","text":%s}\n' "$(printf '%s' "$1" | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))')" >>"$LINES"
    echo "bench: $1" >&2
}

free_port() {
    python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

rss_mb() { awk '/^VmRSS:/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }

# PIDs of the throwaway (or given) PostgreSQL postmaster and redis-server.
url_port() { sed -E 's#^[a-z]+://([^@/]*@)?[^:/]+:([0-9]+).*#\2#' <<<"$1"; }
PG_PORT="$(url_port "$DATABASE_URL")"
REDIS_PORT="$(url_port "$REDIS_URL")"
PG_PID="$(pgrep -o -f -- "postgres.*-p $PG_PORT" || true)"
REDIS_PID="$(pgrep -o -f -- "redis-server .*:$REDIS_PORT" || true)"
if [[ -n "$SERVICES_CPUS" ]]; then
    # The postmaster, the processes it has started (backends started later
    # inherit its affinity) and Redis.
    for pid in ${PG_PID:+$PG_PID $(pgrep -P "$PG_PID")} $REDIS_PID; do
        taskset -a -p -c "$SERVICES_CPUS" "$pid" >/dev/null
    done
fi

note "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(free -m | awk '/^Mem:/ {print $2}') MB RAM; server.workers=$WORKERS (0 = one per core), database.pool_size=$POOL, driver threads=$DRIVER_THREADS, server CPUs=${SERVER_CPUS:-all}, driver CPUs=${DRIVER_CPUS:-all}, PostgreSQL and Redis CPUs=${SERVICES_CPUS:-all}, ${SECONDS_RUN} s per login run after 2 s warm-up, $RUNS runs of each"

start_server() { # start_server CONFIG
    local config="$1" port="$2" i
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    # Not through pin(): $! must be the server itself (taskset execs it).
    if [[ -n "$SERVER_CPUS" ]]; then
        taskset -c "$SERVER_CPUS" "$SERVER" --config "$config" 2>>"$WORK/server.log" &
    else
        "$SERVER" --config "$config" 2>>"$WORK/server.log" &
    fi
    SERVER_PID=$!
    for ((i = 0; i < 300; i++)); do
        if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then return 0; fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "bench: idp-server exited; log:" >&2
            tail -50 "$WORK/server.log" >&2
            exit 1
        fi
        sleep 0.1
    done
    echo "bench: idp-server did not become healthy" >&2
    exit 1
}

stop_server() {
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}

driver() { # driver SUBCOMMAND ARGS...
    local sub="$1"
    shift
    local watch=(--watch "server=$SERVER_PID")
    if [[ "$LABEL" == postgres-redis* ]]; then
        [[ -n "$PG_PID" ]] && watch+=(--watch "postgres=$PG_PID")
        [[ -n "$REDIS_PID" ]] && watch+=(--watch "redis=$REDIS_PID")
    fi
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    pin "$DRIVER_CPUS" "$BENCH" "$sub" --server "$URL" --state "$STATE" --label "$LABEL" \
        --threads "$DRIVER_THREADS" --round "$ROUND" --out "$LINES" "${watch[@]}" "$@" >/dev/null
}

summary_line() {
    tail -1 "$LINES" | python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); print("bench:   %.0f flows/s, p99 %s ms, %d errors (%d retried), server %.3f ms CPU/flow, driver %.3f" % (r["flows_per_s"], (r["latency"] or {}).get("p99_ms"), r["errors"], r["retries"], r["server_cpu_ms_per_flow"], r["resources"]["driver"]["cpu_ms_per_unit"]))' >&2
}

logins() { # logins ACCOUNT_COUNT CONCURRENCY...: $RUNS interleaved rounds
    local count="$1" c perf_pid
    shift
    for ((ROUND = 1; ROUND <= RUNS; ROUND++)); do
        for c in "$@"; do
            echo "bench: $LABEL: complete logins, $c virtual users, ${SECONDS_RUN} s (run $ROUND/$RUNS)" >&2
            # BENCH_PERF: the first configuration's last login run.
            perf_pid=""
            if [[ "$PERF" == 1 && $n -eq 1 && "$count" != 0 && $ROUND -eq $RUNS && "$c" == "${*: -1}" ]]; then
                perf record -e cpu-clock -F 499 --call-graph dwarf,16384 -p "$SERVER_PID" -o "$RESULTS/$STAMP-perf.data" -- sleep $((SECONDS_RUN + 1)) >/dev/null 2>&1 &
                perf_pid=$!
            fi
            driver run --concurrency "$c" --seconds "$SECONDS_RUN" --count "$count"
            [[ -n "$perf_pid" ]] && { wait "$perf_pid" || true; }
            summary_line
        done
    done
    ROUND=1
}

perf_report() {
    [[ -f "$RESULTS/$STAMP-perf.data" ]] || return 0
    {
        echo "## self time (flat)"
        perf report --no-inline -i "$RESULTS/$STAMP-perf.data" --no-children --sort dso,symbol -g none \
            --percent-limit 0.4 --stdio 2>/dev/null | grep -v '^$' | grep -v '^#' |
            sed -E 's/ +$//' | cut -c1-200 | head -80
        echo "## inclusive time (callers included), Sésame's functions"
        perf report --no-inline -i "$RESULTS/$STAMP-perf.data" --children --sort symbol -g none \
            --percent-limit 1 --stdio 2>/dev/null | grep -v '^$' | grep -v '^#' |
            sed -E 's/ +$//' | cut -c1-200 | grep 'idp_server::' | grep -v '(inlined)' | head -80
    } >"$RESULTS/$STAMP-perf.txt" || true
    [[ "${BENCH_PERF_KEEP:-0}" == 1 ]] || rm -f "$RESULTS/$STAMP-perf.data"
}

n=0
for backend in $BACKENDS; do
    n=$((n + 1))
    dir="$WORK/$backend"
    mkdir -p "$dir"
    PORT="$(free_port)"
    URL="http://127.0.0.1:$PORT"
    STATE="$dir/state.json"
    LABEL="$backend"
    case "$backend" in
        postgres-redis)
            db="sesame_bench_$$_$n"
            psql -q "$DATABASE_URL" -c "CREATE DATABASE $db" >/dev/null
            db_url="${DATABASE_URL%/*}/$db"
            eph_url="$REDIS_URL"
            ;;
        embedded)
            db_url="sqlite://$dir/sesame.db"
            eph_url="memory://"
            ;;
        *)
            echo "bench: unknown backend $backend" >&2
            exit 2
            ;;
    esac
    cat >"$dir/config.toml" <<EOF
[server]
bind = "127.0.0.1:$PORT"
public_url = "$URL"
workers = $WORKERS
[database]
url = "$db_url"
pool_size = $POOL
[ephemeral]
url = "$eph_url"
namespace = "bench$$"
[keys]
master_key_file = "$WORK/master.key"
[oidc]
authorize_ip_limit = 1000000000
[login]
approvals_per_phone = 1000000000
phone_ip_limit = 1000000000
[log]
filter = "warn"
[dev]
enabled = false
[notify]
outbox_dir = "$dir/outbox"
EOF
    echo "bench: $LABEL: seeding $ACCOUNTS accounts" >&2
    t0=$(date +%s.%N)
    "$BENCH" seed --config "$dir/config.toml" --accounts "$ACCOUNTS" --state "$STATE"
    note "$LABEL: seeded $ACCOUNTS accounts in $(python3 -c "print(round($(date +%s.%N) - $t0, 1))") s"
    if [[ -n "${BENCH_ACCESS_TOKEN_TTL:-}" ]]; then
        "$REL/idp-admin" --config "$dir/config.toml" clients update bench-rp \
            --access-token-ttl "$BENCH_ACCESS_TOKEN_TTL" >/dev/null
        note "$LABEL: access tokens of bench-rp live $BENCH_ACCESS_TOKEN_TTL s"
    fi

    start_server "$dir/config.toml" "$PORT"
    sleep 1
    note "$LABEL: idle RSS after start $(rss_mb "$SERVER_PID") MB"

    for e in discovery jwks token; do
        echo "bench: $LABEL: $e alone" >&2
        driver endpoint --name "$e" --concurrency 16 --seconds "$ENDPOINT_SECONDS"
    done
    # shellcheck disable=SC2086
    set -- $CONCURRENCY
    logins "$ACCOUNTS" "$@"
    perf_report
    note "$LABEL: RSS after the login runs $(rss_mb "$SERVER_PID") MB"

    if [[ "$backend" == postgres-redis && "$WAIT_BROWSERS" -gt 0 ]]; then
        # A fresh server, so the peak RSS is the waiting browsers' alone.
        stop_server
        start_server "$dir/config.toml" "$PORT"
        sleep 1
        if [[ "$WAIT_BROWSERS" -gt "$ACCOUNTS" ]]; then WAIT_BROWSERS="$ACCOUNTS"; fi
        echo "bench: $LABEL: $WAIT_BROWSERS browsers waiting at once" >&2
        driver wait --browsers "$WAIT_BROWSERS" --count "$WAIT_BROWSERS" || note "$LABEL: waiting-browsers run failed"
    fi
    stop_server

    if [[ "$backend" == postgres-redis && "$LARGE" -gt "$ACCOUNTS" ]]; then
        echo "bench: $LABEL: seeding up to $LARGE accounts" >&2
        t0=$(date +%s.%N)
        "$BENCH" seed --config "$dir/config.toml" --accounts "$LARGE" --state "$STATE"
        note "$LABEL: seeded up to $LARGE accounts in $(python3 -c "print(round($(date +%s.%N) - $t0, 1))") s"
        psql -q "${DATABASE_URL%/*}/$db" -c "VACUUM ANALYZE" >/dev/null || true
        start_server "$dir/config.toml" "$PORT"
        LABEL="$backend-$LARGE"
        logins 0 "${@: -1}"
        LABEL="$backend"
        stop_server
    fi
done

if [[ "$PEER" == 1 ]]; then
    # The peer: node-oidc-provider with its in-memory adapter, its own login
    # + consent interaction (bench/peer/server.js), the same driver, client
    # and concurrencies.
    if [[ ! -d bench/peer/node_modules ]]; then
        (cd bench/peer && npm ci --no-audit --no-fund --loglevel=error) >&2
    fi
    PORT="$(free_port)"
    URL="http://127.0.0.1:$PORT"
    LABEL="node-oidc-provider"
    STATE="$WORK/peer-state.json"
    secret="$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
    printf '{"client_id":"bench-rp","client_secret":"%s","redirect_uri":"http://127.0.0.1:9/bench/callback","accounts":%s,"pin":"","keys":[]}\n' \
        "$secret" "$ACCOUNTS" >"$STATE"
    if [[ -n "$SERVER_CPUS" ]]; then
        PORT=$PORT CLIENT_SECRET=$secret taskset -c "$SERVER_CPUS" node bench/peer/server.js 2>>"$WORK/peer.log" >&2 &
    else
        PORT=$PORT CLIENT_SECRET=$secret node bench/peer/server.js 2>>"$WORK/peer.log" >&2 &
    fi
    SERVER_PID=$!
    for ((i = 0; i < 100; i++)); do
        curl -fsS "$URL/.well-known/openid-configuration" >/dev/null 2>&1 && break
        sleep 0.1
    done
    note "$LABEL $(node -p 'require("./bench/peer/node_modules/oidc-provider/package.json").version') on Node.js $(node --version): idle RSS after start $(rss_mb "$SERVER_PID") MB"
    # shellcheck disable=SC2086
    for ((ROUND = 1; ROUND <= RUNS; ROUND++)); do
        for c in $CONCURRENCY; do
            echo "bench: $LABEL: complete logins, $c virtual users, ${SECONDS_RUN} s (run $ROUND/$RUNS)" >&2
            driver run --peer --concurrency "$c" --seconds "$SECONDS_RUN"
            summary_line
        done
    done
    ROUND=1
    stop_server
fi

"$BENCH" report --input "$LINES" --json-out "$RESULTS/$STAMP.json" --md-out "$RESULTS/$STAMP.md"
echo
echo "bench: results in bench/results/$STAMP.json and bench/results/$STAMP.md" >&2
