"""The per-process writer on PostgreSQL: many concurrent runs from one process, and a run's
output through a database outage.

    python -m benchmarks.bench_writer [--runs 200] [--rounds 3] [--outage 10]

Each case runs in a fresh process on a database of its own on the local server
(RUNWRIGHT_BENCH_POSTGRES to use another), created and dropped here.

1. ``--runs`` threads each run ``sh -c 'echo hi'``: recorded through ExecutionLogger.run, and
   the same with ``subprocess.run(capture_output=True)`` and with LocalRunner recording
   nothing, interleaved over ``--rounds``; the
   connections the recording process held (the most seen at once in pg_stat_activity).
2. A run streaming 3 MB while its database is unreachable for ``--outage`` seconds (a TCP
   proxy drops every connection and refuses new ones): bytes stored / bytes produced.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

from benchmarks.common import table

PIECES, SIZE = 30, 100_000
STREAM = (
    "import random, sys, time\n"
    "out = sys.stdout.buffer\n"
    f"for i in range({PIECES}):\n"
    f"    out.write(random.Random(i).randbytes({SIZE}))\n"
    "    out.flush()\n"
    "    time.sleep({pause})\n"
)


def concurrent_case(runs: int) -> None:
    """In a child: ``runs`` threads calling ExecutionLogger.run at once; seconds for all."""
    from runwright.integrations.django import setup

    setup()
    from django.db import connections

    from runwright.logging_core import ExecutionLogger
    from runwright.runners import RunSpec, Status

    logger = ExecutionLogger(structured_log=False, metrics=False)
    spec = RunSpec(["sh", "-c", "echo hi"])
    connections.close_all()
    results: list[Any] = [None] * runs

    def one(i: int) -> None:
        results[i] = logger.run(spec).status

    threads = [threading.Thread(target=one, args=(i,)) for i in range(runs)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    assert results == [Status.SUCCESS] * runs, results
    print(json.dumps({"seconds": elapsed}))


def baseline_case(runs: int, runner: bool = False) -> None:
    """``runs`` threads at once: subprocess.run, or (``runner``) LocalRunner with nothing recorded."""
    from runwright.runners import RunSpec
    from runwright.runners.events import NullReporter
    from runwright.runners.local import LocalRunner

    results: list[Any] = [None] * runs
    spec = RunSpec(["sh", "-c", "echo hi"])

    def one(i: int) -> None:
        if runner:
            results[i] = LocalRunner().run(spec, NullReporter()).stdout_tail.encode()
        else:
            results[i] = subprocess.run(["sh", "-c", "echo hi"], capture_output=True).stdout

    threads = [threading.Thread(target=one, args=(i,)) for i in range(runs)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    assert results == [b"hi\n"] * runs
    print(json.dumps({"seconds": elapsed}))


def outage_case() -> None:
    """In a child whose DATABASE_URL goes through the parent's proxy: one recorded run."""
    import resource

    from runwright.integrations.django import setup

    setup()
    from runwright.logging_core import ExecutionLogger
    from runwright.runners import RunSpec

    logger = ExecutionLogger(structured_log=False, metrics=False)
    spec = RunSpec([sys.executable, "-c", STREAM.format(pause=0.5)], labels={"bench": "outage"})
    result = logger.run(spec)
    print(json.dumps({"status": str(result.status), "error": result.error,
                      "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def child(case: str, env: dict[str, str], runs: int = 0) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "benchmarks.bench_writer", "--case", case, "--runs", str(runs)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = proc.communicate()
    if proc.returncode:
        raise SystemExit(f"a case failed:\n{err[-3000:]}")
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--case")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--outage", type=float, default=10.0)
    args = parser.parse_args()
    if args.case == "concurrent":
        return concurrent_case(args.runs)
    if args.case == "baseline":
        return baseline_case(args.runs)
    if args.case == "runner":
        return baseline_case(args.runs, runner=True)
    if args.case == "outage":
        return outage_case()

    import psycopg

    pg_url = os.environ.get("RUNWRIGHT_BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres")
    db = f"rw_bench_{uuid.uuid4().hex[:8]}"
    base = pg_url.rsplit("/", 1)[0]
    home = f"/tmp/rw-bench-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "DATABASE_URL": f"{base}/{db}", "RUNWRIGHT_HOME": home}
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')
    try:
        subprocess.run([sys.executable, "-c", "from runwright.integrations.django import setup; setup()"], env=env,
                       check=True)  # migrated before anything is timed
        concurrent(args, pg_url, db, env)
        outage(args, pg_url, db, env)
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def concurrent(args: argparse.Namespace, pg_url: str, db: str, env: dict[str, str]) -> None:
    import psycopg

    recorded: list[float] = []
    plain: list[float] = []
    runner: list[float] = []
    most = [0]
    for _ in range(args.rounds):
        plain.append(finish(child("baseline", env, args.runs))["seconds"])
        runner.append(finish(child("runner", env, args.runs))["seconds"])
        proc = child("concurrent", env, args.runs)
        with psycopg.connect(pg_url, autocommit=True) as admin:
            while proc.poll() is None:
                (count,) = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [db]).fetchone()
                most[0] = max(most[0], count)
                time.sleep(0.02)  # the sampling pace
        recorded.append(finish(proc)["seconds"])
    base, rec, alone = statistics.median(plain), statistics.median(recorded), statistics.median(runner)
    print(f"## {args.runs} concurrent runs from one process (`sh -c 'echo hi'`, one thread each), "
          f"median of {args.rounds} interleaved rounds\n")
    print(table(["case", "s for all", "ms per run", "ratio", "most connections at once"], [
        ["subprocess.run(capture_output=True)", f"{base:.2f}", f"{base / args.runs * 1000:.1f}", "1.00x", "-"],
        ["LocalRunner.run, nothing recorded", f"{alone:.2f}", f"{alone / args.runs * 1000:.1f}", f"{alone / base:.2f}x",
         "-"],
        ["ExecutionLogger.run into PostgreSQL", f"{rec:.2f}", f"{rec / args.runs * 1000:.1f}", f"{rec / base:.2f}x",
         str(most[0])],
    ]))


def outage(args: argparse.Namespace, pg_url: str, db: str, env: dict[str, str]) -> None:
    import psycopg

    sys.path.insert(0, os.getcwd())
    from tests.infra.pg_proxy import TcpProxy

    host, port = "127.0.0.1", 5432
    tail = pg_url.split("@", 1)[-1].split("/", 1)[0]
    if ":" in tail:
        host, port = tail.split(":")[0], int(tail.split(":")[1])
    user = pg_url.split("//", 1)[1].split("@", 1)[0]
    with TcpProxy(host, int(port)) as proxy, psycopg.connect(pg_url.rsplit("/", 1)[0] + "/" + db, autocommit=True) as conn:
        proc = child("outage", {**env, "DATABASE_URL": f"postgres://{user}@127.0.0.1:{proxy.port}/{db}"})

        def stored() -> bytes:
            rows = conn.execute("SELECT c.data FROM runwright_logchunk c JOIN runwright_execution e ON e.id = "
                                "c.execution_id WHERE e.labels->>'bench' = 'outage' AND c.stream = 'o' "
                                "ORDER BY c.\"offset\"").fetchall()
            return b"".join(bytes(r[0]) for r in rows)

        while not stored():
            time.sleep(0.05)  # until the first output is stored
        proxy.cut()
        time.sleep(args.outage)  # the outage's length
        proxy.restore()
        result = finish(proc)
        got = stored()
    produced = b"".join(random.Random(i).randbytes(SIZE) for i in range(PIECES))
    print(f"\n## Output through a {args.outage:g} s outage: {len(produced):,} bytes over about 15 s\n")
    print(table(["status", "bytes produced", "bytes stored", "stored / produced", "byte-exact", "peak RSS (MiB)"], [[
        result["status"], f"{len(produced):,}", f"{len(got):,}", f"{len(got) / len(produced):.3f}",
        "yes" if got == produced else "no", f"{result['rss_mib']:.0f}"]]))


if __name__ == "__main__":
    main()
