#!/usr/bin/env python3
"""Samples what the benchmark's PostgreSQL backends are doing.

    bench/pg_waits.py DATABASE_URL SECONDS

Every 20 ms, for SECONDS, reads pg_stat_activity (through one psql session)
for the databases named sesame_bench_*, and prints the average number of
backends per sample that are running, waiting on a lock (the audit chain's
head row shows up as Lock:transactionid and Lock:tuple), flushing WAL, or
waiting for the server's next statement, then the wait events by frequency.
Used in docs/performance.md, on a PostgreSQL given to bench/run.sh by URL.
"""
import collections
import subprocess
import sys
import time

QUERY = (
    "select count(*) filter (where state = 'active' and wait_event is null), "
    "count(*) filter (where wait_event_type = 'Lock'), "
    "count(*) filter (where wait_event in ('WALSync', 'WALWrite')), "
    "count(*) filter (where wait_event_type = 'Client'), "
    "count(*) filter (where state = 'active'), "
    "string_agg(coalesce(wait_event_type || ':' || wait_event, 'cpu'), ',') "
    "filter (where state = 'active') "
    "from pg_stat_activity where datname like 'sesame_bench%';\n"
)


def main() -> None:
    url, seconds = sys.argv[1], float(sys.argv[2])
    psql = subprocess.Popen(
        ["psql", "-At", "-q", url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        bufsize=1,
    )
    totals = [0] * 5
    events: collections.Counter = collections.Counter()
    samples = 0
    end = time.time() + seconds
    while time.time() < end:
        psql.stdin.write(QUERY)
        psql.stdin.flush()
        fields = psql.stdout.readline().strip().split("|")
        for i in range(5):
            totals[i] += int(fields[i] or 0)
        events.update(e for e in fields[5].split(",") if e)
        samples += 1
        time.sleep(0.02)
    psql.stdin.close()
    running, lock, wal, client, active = (t / samples for t in totals)
    print(
        f"samples {samples}; backends per sample: active {active:.2f} "
        f"(running {running:.2f}, lock wait {lock:.2f}, WAL {wal:.2f}), "
        f"waiting for the server {client:.2f}"
    )
    for event, count in events.most_common(8):
        print(f"  {event}: {count / samples:.2f}")


if __name__ == "__main__":
    main()
