"""End-to-end latency and throughput of `true` through runwright's Celery task vs a bare
Celery task that calls subprocess.run: same Redis broker, same worker, same run.

    python -m benchmarks.bench_celery [--runs 1000] [--latency-runs 200]

Latency: one run at a time, from the call that submits it to its finish time as the worker
records it (runwright: the execution's finished_at; bare: a timestamp the task writes).
Throughput: all runs submitted at once, until the last finishes. Needs PostgreSQL and Redis.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid

from benchmarks.common import percentile, table


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1000)
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
    from integrations.django import setup

    setup()
    from integrations.celery import submit
    from integrations.celery.app import get_app
    from integrations.django.models import Execution
    from runners import RunSpec
    from tests.infra.workers import Worker

    worker = Worker(dict(os.environ), args.concurrency)
    app, spec = get_app(), RunSpec(["true"])
    try:
        def rw_one() -> float:
            t0 = time.time()
            ref = submit(spec)
            while not Execution.objects.filter(pk=ref, status="success").exists():
                time.sleep(0.005)
            return Execution.objects.get(pk=ref).finished_at.timestamp() - t0

        def bare_one() -> float:
            key = uuid.uuid4().hex
            t0 = time.time()
            app.send_task("bench.bare", args=[key])
            while (done := r.hget("rw-bench-bare", key)) is None:
                time.sleep(0.005)
            return float(done) - t0

        for fn in (rw_one, bare_one):  # warm both paths
            for _ in range(10):
                fn()
        lat: dict[str, list[float]] = {"bare": [], "runwright": []}
        for _ in range(args.latency_runs):  # interleaved
            lat["bare"].append(bare_one())
            lat["runwright"].append(rw_one())

        t0 = time.time()
        keys = [uuid.uuid4().hex for _ in range(args.runs)]
        for key in keys:
            app.send_task("bench.bare", args=[key])
        while r.hlen("rw-bench-bare") < args.runs + 10 + args.latency_runs:
            time.sleep(0.01)
        bare_tp = args.runs / (max(float(v) for v in r.hvals("rw-bench-bare")) - t0)
        t0 = time.time()
        ids = [submit(spec) for _ in range(args.runs)]
        while Execution.objects.filter(pk__in=ids, status="success").count() < args.runs:
            time.sleep(0.05)
        last = max(e.timestamp() for e in Execution.objects.filter(pk__in=ids).values_list("finished_at", flat=True))
        rw_tp = args.runs / (last - t0)
    finally:
        worker.stop()
        from django.db import connections

        connections.close_all()
        with psycopg.connect(pg, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        r.delete("rw-bench-bare")

    rows = []
    for name, label, tp in (("bare", "bare Celery task: subprocess.run", bare_tp),
                            ("runwright", "runwright task: recorded execution", rw_tp)):
        p50, p95 = percentile(lat[name], 50) * 1000, percentile(lat[name], 95) * 1000
        rows.append([label, f"{p50:.1f}", f"{p95:.1f}", f"{p50 / (percentile(lat['bare'], 50) * 1000):.2f}x",
                     f"{tp:.0f}", f"{tp / bare_tp:.2f}x"])
    print(f"## Celery, Redis broker, one worker (concurrency {args.concurrency}), PostgreSQL\n")
    print(f"Latency: {args.latency_runs} runs one at a time; throughput: {args.runs} runs submitted at once.\n")
    print(table(["case", "latency p50 (ms)", "p95 (ms)", "p50 ratio", "runs/s", "throughput ratio"], rows))
    assert statistics.mean(lat["runwright"]) > 0


if __name__ == "__main__":
    main()
