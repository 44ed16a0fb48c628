"""End-to-end latency and throughput of `true` through runwright's Celery task against what
platforms write by hand, on the same Redis broker, the same worker, the same PostgreSQL:

- bare: a Celery task that calls subprocess.run and records nothing;
- by hand: the submitter inserts a pending row and saves the task id, the task saves
  running, then the result (4 commits), as platforms record runs today;
- minimal: the task inserts its row running and saves the result (2 commits);
- runwright: ``submit(spec)`` (a recorded execution, output stored, heartbeats).

    python -m benchmarks.bench_celery [--runs 500] [--latency-runs 200]

Latency: one run at a time, from the call that submits it to its finish time as the worker
records it. Throughput: all runs submitted at once, until the last finishes. Needs PostgreSQL
and Redis on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
from collections.abc import Callable

from benchmarks.common import percentile, table

CASES = ("bare", "by_hand", "minimal", "runwright")
LABELS = {"bare": "bare Celery task: subprocess.run, nothing recorded",
          "by_hand": "recorded by hand: pending, task id, running, result (4 commits)",
          "minimal": "minimal hand-written recording (2 commits)",
          "runwright": "runwright: submit(spec)"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--latency-runs", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()

    import psycopg
    import redis

    pg = os.environ.get("RUNWRIGHT_BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres")
    db = f"rw_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')
    os.environ.update(DATABASE_URL=pg.rsplit("/", 1)[0] + "/" + db, RUNWRIGHT_BROKER_URL="redis://127.0.0.1:6379/6",
                      RUNWRIGHT_QUEUE=f"rw-bench-{uuid.uuid4().hex[:6]}", RUNWRIGHT_CELERY_IMPORTS="benchmarks.celery_bare")
    r = redis.Redis(host="127.0.0.1", port=6379, db=6)
    r.delete("rw-bench-bare")
    from runwright.integrations.django import setup

    setup()
    from django.db import connection

    from benchmarks.celery_bare import CREATE, TABLE
    from runwright.integrations.celery import submit
    from runwright.integrations.celery.app import get_app
    from runwright.integrations.django.models import Execution
    from runwright.runners import RunSpec
    from tests.infra.workers import Worker

    with connection.cursor() as cur:
        cur.execute(CREATE)
    worker = Worker(dict(os.environ), args.concurrency)
    app, spec = get_app(), RunSpec(["true"])

    def hand_finished(ids: list[int]) -> list[float] | None:
        with connection.cursor() as cur:
            cur.execute(f"SELECT finished_at FROM {TABLE} WHERE id = ANY(%s) AND finished_at IS NOT NULL", [ids])
            done = [row[0] for row in cur.fetchall()]
        return done if len(done) == len(ids) else None

    # Each case: submit n runs, return (submit time, finish times as the worker recorded them).
    def send_bare(n: int) -> Callable[[], list[float] | None]:
        keys = [uuid.uuid4().hex for _ in range(n)]
        for key in keys:
            app.send_task("bench.bare", args=[key])

        def done() -> list[float] | None:
            values = r.hmget("rw-bench-bare", keys)
            return None if any(v is None for v in values) else [float(v) for v in values]  # type: ignore[arg-type]
        return done

    def send_by_hand(n: int) -> Callable[[], list[float] | None]:
        ids = []
        with connection.cursor() as cur:
            for _ in range(n):
                cur.execute(f"INSERT INTO {TABLE} (status, command, created_at) VALUES ('pending', 'true', %s) "
                            "RETURNING id", [time.time()])
                run_id = cur.fetchone()[0]
                result = app.send_task("bench.by_hand", args=[run_id])
                cur.execute(f"UPDATE {TABLE} SET task_id = %s WHERE id = %s", [result.id, run_id])
                ids.append(run_id)
        return lambda: hand_finished(ids)

    def send_minimal(n: int) -> Callable[[], list[float] | None]:
        keys = [uuid.uuid4().hex for _ in range(n)]
        for key in keys:
            app.send_task("bench.minimal", args=[key])

        def done() -> list[float] | None:
            with connection.cursor() as cur:
                cur.execute(f"SELECT finished_at FROM {TABLE} WHERE task_id = ANY(%s) AND finished_at IS NOT NULL", [keys])
                values = [row[0] for row in cur.fetchall()]
            return values if len(values) == len(keys) else None
        return done

    def send_runwright(n: int) -> Callable[[], list[float] | None]:
        ids = [submit(spec) for _ in range(n)]

        def done() -> list[float] | None:
            rows = list(Execution.objects.filter(pk__in=ids, status="success").values_list("finished_at", flat=True))
            return [f.timestamp() for f in rows] if len(rows) == len(ids) else None
        return done

    senders = {"bare": send_bare, "by_hand": send_by_hand, "minimal": send_minimal, "runwright": send_runwright}

    def timed(case: str, n: int, poll: float) -> tuple[float, list[float]]:
        t0 = time.time()
        done = senders[case](n)
        while (finished := done()) is None:
            time.sleep(poll)
        return t0, finished

    try:
        for case in CASES:  # warm every path
            for _ in range(10):
                timed(case, 1, 0.005)
        lat: dict[str, list[float]] = {case: [] for case in CASES}
        for _ in range(args.latency_runs):  # interleaved
            for case in CASES:
                t0, finished = timed(case, 1, 0.002)
                lat[case].append(finished[0] - t0)
        tp = {}
        for case in CASES:
            t0, finished = timed(case, args.runs, 0.05)
            tp[case] = args.runs / (max(finished) - t0)
    finally:
        worker.stop()
        from django.db import connections

        connections.close_all()
        with psycopg.connect(pg, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        r.delete("rw-bench-bare")

    p50 = {case: percentile(lat[case], 50) * 1000 for case in CASES}
    rows = [[LABELS[case], f"{p50[case]:.1f}", f"{percentile(lat[case], 95) * 1000:.1f}",
             f"{p50[case] / p50['by_hand']:.2f}x", f"{p50[case] / p50['minimal']:.2f}x",
             f"{tp[case]:.0f}", f"{tp[case] / tp['minimal']:.2f}x"] for case in CASES]
    print(f"## Celery, Redis broker, one worker (concurrency {args.concurrency}), PostgreSQL\n")
    print(f"Latency: {args.latency_runs} runs of each case one at a time, interleaved; "
          f"throughput: {args.runs} runs submitted at once.\n")
    print(table(["case", "latency p50 (ms)", "p95 (ms)", "p50 vs by hand", "p50 vs minimal", "runs/s",
                 "throughput vs minimal"], rows))


if __name__ == "__main__":
    main()
