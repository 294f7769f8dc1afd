#!/usr/bin/env bash
# Runs a command with DATABASE_URL and REDIS_URL pointing at live servers.
#
#   tests/scripts/with-services.sh COMMAND [ARGS...]
#   tests/scripts/with-services.sh --foreground        (used by `make services`)
#
# DATABASE_URL is a PostgreSQL *server* URL whose database is `postgres`; the
# test kit creates one database per test on that server.
#
# If DATABASE_URL and REDIS_URL are both already set, COMMAND is simply exec'd.
# Otherwise a throwaway PostgreSQL and/or Redis (whichever is missing) is
# started on a free port of 127.0.0.1 in a temporary directory, COMMAND runs as
# a child, the servers are stopped and the directory removed on exit, and the
# exit code of COMMAND is propagated.
#
# --foreground always starts both servers, prints `export ...` lines for them
# and waits until interrupted (Ctrl-C), then cleans up.
#
# The throwaway PostgreSQL skips disk flushes (fsync, synchronous_commit and
# full_page_writes off), which tests do not need; SESAME_PG_DURABLE=1 keeps
# PostgreSQL's defaults, as in production (`make bench` sets it).
set -euo pipefail

PROG="with-services"

usage() {
    echo "usage: $0 COMMAND [ARGS...] | $0 --foreground" >&2
    exit 2
}

FOREGROUND=0
if [[ $# -eq 0 ]]; then
    usage
fi
case "$1" in
    --foreground)
        [[ $# -eq 1 ]] || usage
        FOREGROUND=1
        ;;
    -h | --help) usage ;;
esac

if [[ $FOREGROUND -eq 0 && -n "${DATABASE_URL:-}" && -n "${REDIS_URL:-}" ]]; then
    exec "$@"
fi

NEED_PG=0
NEED_REDIS=0
if [[ $FOREGROUND -eq 1 || -z "${DATABASE_URL:-}" ]]; then NEED_PG=1; fi
if [[ $FOREGROUND -eq 1 || -z "${REDIS_URL:-}" ]]; then NEED_REDIS=1; fi

IS_ROOT=0
if [[ "$(id -u)" -eq 0 ]]; then IS_ROOT=1; fi

# ---------------------------------------------------------------------------
# Locating (and if possible installing) the server binaries
# ---------------------------------------------------------------------------

PG_BIN=""      # directory holding initdb, pg_ctl, postgres
REDIS_SERVER="" # path of redis-server
REDIS_CLI=""    # path of redis-cli (optional)

locate_pg() {
    PG_BIN=""
    local initdb pg_ctl postgres
    initdb="$(command -v initdb || true)"
    pg_ctl="$(command -v pg_ctl || true)"
    postgres="$(command -v postgres || true)"
    if [[ -n "$initdb" && -n "$pg_ctl" && -n "$postgres" ]]; then
        # Use the directory of pg_ctl, resolving symlinks, so that all three
        # come from the same installation.
        PG_BIN="$(dirname "$(readlink -f "$pg_ctl")")"
        if [[ -x "$PG_BIN/initdb" && -x "$PG_BIN/postgres" ]]; then
            return 0
        fi
        PG_BIN=""
    fi
    # Debian/Ubuntu: /usr/lib/postgresql/NN/bin, take the newest version.
    local dir
    while IFS= read -r dir; do
        if [[ -x "$dir/initdb" && -x "$dir/pg_ctl" && -x "$dir/postgres" ]]; then
            PG_BIN="$dir"
        fi
    done < <(compgen -G '/usr/lib/postgresql/*/bin' | sort -V)
    [[ -n "$PG_BIN" ]]
}

locate_redis() {
    REDIS_SERVER="$(command -v redis-server || true)"
    REDIS_CLI="$(command -v redis-cli || true)"
    [[ -n "$REDIS_SERVER" ]]
}

locate_all() {
    local ok=0
    if [[ $NEED_PG -eq 1 ]] && ! locate_pg; then ok=1; fi
    if [[ $NEED_REDIS -eq 1 ]] && ! locate_redis; then ok=1; fi
    return $ok
}

if ! locate_all; then
    to_install=()
    if [[ $NEED_PG -eq 1 && -z "$PG_BIN" ]]; then to_install+=(postgresql); fi
    if [[ $NEED_REDIS -eq 1 && -z "$REDIS_SERVER" ]]; then to_install+=(redis-server); fi
    if [[ $IS_ROOT -eq 1 ]] && command -v apt-get >/dev/null 2>&1; then
        echo "$PROG: installing ${to_install[*]}" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${to_install[@]}" >&2
    fi
    if ! locate_all; then
        not_found=()
        if [[ $NEED_PG -eq 1 && -z "$PG_BIN" ]]; then not_found+=("PostgreSQL (initdb, pg_ctl, postgres)"); fi
        if [[ $NEED_REDIS -eq 1 && -z "$REDIS_SERVER" ]]; then not_found+=(redis-server); fi
        echo "$PROG: ${not_found[*]} not found; install with: sudo apt-get install postgresql redis-server (or set DATABASE_URL and REDIS_URL)" >&2
        exit 1
    fi
fi

# ---------------------------------------------------------------------------
# Cleanup
# ---------------------------------------------------------------------------

WORKDIR=""     # temporary directory holding pg/ and redis/
PG_STARTED=0
REDIS_PID=""
SLEEP_PID=""

as_pg_user() {
    if [[ $IS_ROOT -eq 1 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# shellcheck disable=SC2317  # invoked from the traps below
cleanup() {
    # Must be idempotent: it can run from both a signal trap and EXIT.
    set +e
    if [[ -n "$SLEEP_PID" ]]; then
        kill "$SLEEP_PID" 2>/dev/null
        SLEEP_PID=""
    fi
    if [[ $PG_STARTED -eq 1 ]]; then
        (cd "$WORKDIR" && as_pg_user "$PG_BIN/pg_ctl" -D "$WORKDIR/pg" -s -w -m immediate stop) >/dev/null 2>&1
        PG_STARTED=0
    fi
    if [[ -n "$REDIS_PID" ]]; then
        kill "$REDIS_PID" 2>/dev/null
        local i
        for ((i = 0; i < 50; i++)); do
            kill -0 "$REDIS_PID" 2>/dev/null || break
            sleep 0.1
        done
        REDIS_PID=""
    fi
    if [[ -n "$WORKDIR" && -d "$WORKDIR" ]]; then
        rm -rf "$WORKDIR"
    fi
    WORKDIR=""
}

trap cleanup EXIT
trap 'cleanup; trap - EXIT; exit 130' INT
trap 'cleanup; trap - EXIT; exit 143' TERM

# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

USED_PORTS=" "

port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Sets FREE_PORT to a free TCP port on 127.0.0.1, different from the ones
# handed out before (not run in a subshell so that USED_PORTS sticks).
FREE_PORT=""
free_port() {
    local port="" i
    for ((i = 0; i < 100; i++)); do
        if command -v python3 >/dev/null 2>&1; then
            port="$(python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])' 2>/dev/null || true)"
        fi
        if [[ -z "$port" ]]; then
            port=$((20000 + RANDOM % 40000))
        fi
        if [[ "$USED_PORTS" != *" $port "* ]] && ! port_in_use "$port"; then
            USED_PORTS+="$port "
            FREE_PORT="$port"
            return 0
        fi
        port=""
    done
    echo "$PROG: could not find a free TCP port" >&2
    return 1
}

WORKDIR="$(mktemp -d /tmp/sesame-services.XXXXXX)"
chmod 755 "$WORKDIR"

# ---------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------

start_pg() {
    local port="$1" dir="$WORKDIR/pg"
    mkdir -m 700 "$dir"
    if [[ $IS_ROOT -eq 1 ]]; then
        # initdb and postgres refuse to run as root: run them as `postgres`.
        if ! id postgres >/dev/null 2>&1; then
            useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin postgres
        fi
        chown postgres: "$dir"
    fi
    # cd into the work dir so the postgres user is never left in a directory
    # it cannot read (initdb/pg_ctl complain about that).
    if ! (cd "$WORKDIR" && as_pg_user "$PG_BIN/initdb" -D "$dir" -U postgres -A trust \
        --no-sync -E UTF8 --locale=C) >"$WORKDIR/initdb.log" 2>&1; then
        echo "$PROG: initdb failed:" >&2
        cat "$WORKDIR/initdb.log" >&2
        return 1
    fi
    PG_STARTED=1
    local durability="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    if [[ "${SESAME_PG_DURABLE:-0}" == 1 ]]; then
        durability=""
    fi
    if ! (cd "$WORKDIR" && as_pg_user "$PG_BIN/pg_ctl" -D "$dir" -w -t 60 -l "$dir/log" start \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 $durability -c max_connections=300") >/dev/null 2>&1; then
        echo "$PROG: PostgreSQL failed to start; server log:" >&2
        cat "$dir/log" >&2 || true
        return 1
    fi
}

# ---------------------------------------------------------------------------
# Redis
# ---------------------------------------------------------------------------

start_redis() {
    local port="$1" dir="$WORKDIR/redis" i
    mkdir -m 700 "$dir"
    "$REDIS_SERVER" --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
        --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir"
    for ((i = 0; i < 100; i++)); do
        if [[ -z "$REDIS_PID" && -s "$dir/redis.pid" ]]; then
            REDIS_PID="$(cat "$dir/redis.pid")"
        fi
        if [[ -n "$REDIS_CLI" ]]; then
            if [[ "$("$REDIS_CLI" -h 127.0.0.1 -p "$port" ping 2>/dev/null)" == "PONG" ]]; then
                [[ -n "$REDIS_PID" ]] && return 0
            fi
        elif port_in_use "$port" && [[ -n "$REDIS_PID" ]]; then
            return 0
        fi
        sleep 0.1
    done
    echo "$PROG: Redis failed to start; server log:" >&2
    cat "$dir/redis.log" >&2 || true
    return 1
}

# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------

started=()
if [[ $NEED_PG -eq 1 ]]; then
    free_port
    pg_port="$FREE_PORT"
    start_pg "$pg_port"
    export DATABASE_URL="postgres://postgres@127.0.0.1:$pg_port/postgres"
    started+=("PostgreSQL at $DATABASE_URL")
fi
if [[ $NEED_REDIS -eq 1 ]]; then
    free_port
    redis_port="$FREE_PORT"
    start_redis "$redis_port"
    export REDIS_URL="redis://127.0.0.1:$redis_port"
    started+=("Redis at $REDIS_URL")
fi

summary="${started[0]}"
if [[ ${#started[@]} -gt 1 ]]; then summary+=" and ${started[1]}"; fi

if [[ $FOREGROUND -eq 1 ]]; then
    echo "$PROG: started throwaway $summary; press Ctrl-C to stop them" >&2
    echo "export DATABASE_URL=$DATABASE_URL"
    echo "export REDIS_URL=$REDIS_URL"
    while true; do
        sleep 3600 &
        SLEEP_PID=$!
        wait "$SLEEP_PID" || true
        SLEEP_PID=""
    done
fi

echo "$PROG: started throwaway $summary" >&2
rc=0
"$@" || rc=$?
exit "$rc"
