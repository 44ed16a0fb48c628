"""Recording overhead and log ingestion through the ExecutionLogger.

    python -m benchmarks.bench_logger [--runs 300] [--lines 1000000]

Each ingestion case runs in a fresh process (clean peak RSS). PostgreSQL is the local server
(RUNWRIGHT_BENCH_POSTGRES to use another); a database of its own is created and dropped.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import uuid

from benchmarks.common import table, timed_rounds

GENERATOR = (
    "import sys, time\n"
    "w = sys.stdout.write\n"
    "for i in range({lines}):\n"
    "    w(f'{{i}} {{time.time():.6f}}\\n') if i % 100 == 0 else w(f'{{i}} line of output\\n')\n"
)


def ingest_case(lines: int) -> None:
    """In a child: run the generator through the logger while a follower tails the log."""
    import resource
    import threading
    import time

    from runwright.integrations.django import setup

    setup()
    from runwright.logging_core import ExecutionLogger
    from runwright.runners import RunSpec

    logger = ExecutionLogger(structured_log=False, metrics=False)
    spec = RunSpec([sys.executable, "-c", GENERATOR.format(lines=lines)])
    ref = logger.create(spec)
    delays: list[float] = []
    seen = [0]

    def follow() -> None:
        from django.db import connections

        buf = b""
        for chunk in logger.follow(ref, poll=0.02):
            now = time.time()
            buf += chunk.data
            *done, buf = buf.split(b"\n")
            for line in done:
                seen[0] += 1
                parts = line.split(b" ")
                if len(parts) == 2 and parts[1] != b"line":
                    delays.append(now - float(parts[1]))
        connections.close_all()

    t = threading.Thread(target=follow)
    t.start()
    t0 = time.perf_counter()
    result = logger.run(spec, ref)
    elapsed = time.perf_counter() - t0
    t.join()
    assert result.ok and seen[0] == lines, (result, seen[0])
    delays.sort()
    print(json.dumps({
        "lines_per_s": lines / elapsed,
        "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "p50_ms": delays[len(delays) // 2] * 1000,
        "p95_ms": delays[int(len(delays) * 0.95)] * 1000,
    }))


def baseline_case(lines: int) -> None:
    import resource
    import time

    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", GENERATOR.format(lines=lines)], capture_output=True)
    elapsed = time.perf_counter() - t0
    assert out.stdout.count(b"\n") == lines
    print(json.dumps({"lines_per_s": lines / elapsed,
                      "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def child(case: str, lines: int, env: dict[str, str]) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-m", "benchmarks.bench_logger", "--case", case, "--lines", str(lines)],
                         env=env, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{case} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def recording_overhead(runs: int) -> dict[str, float]:
    from runwright.integrations.django import setup

    setup()
    from runwright.logging_core import ExecutionLogger
    from runwright.runners import RunSpec
    from runwright.runners.events import NullReporter
    from runwright.runners.local import LocalRunner

    logger = ExecutionLogger(structured_log=False, metrics=False)
    spec, runner, sink = RunSpec(["true"]), LocalRunner(), NullReporter()
    return timed_rounds({"LocalRunner alone": lambda: runner.run(spec, sink),
                         "ExecutionLogger.run into SQLite": lambda: logger.run(spec)}, runs)


def cli_overhead(env: dict[str, str]) -> dict[str, float]:
    bin_dir = os.path.dirname(sys.executable)
    plain = [sys.executable, "-c", "from runwright.runners import RunSpec, run; run(RunSpec(['true']))"]
    recorded = [os.path.join(bin_dir, "runwright"), "run", "--", "true"]
    cases = {"python: LocalRunner().run(true)": plain, "runwright run -- true (recorded in SQLite)": recorded}
    return timed_rounds({k: (lambda c=c: subprocess.run(c, env=env, check=True, capture_output=True))
                         for k, c in cases.items()}, 10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--case")
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--lines", type=int, default=1_000_000)
    args = parser.parse_args()
    if args.case == "ingest":
        return ingest_case(args.lines)
    if args.case == "baseline":
        return baseline_case(args.lines)

    home = tempfile.mkdtemp(prefix="rw-bench-")
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | {"RUNWRIGHT_HOME": home}
    os.environ.update(RUNWRIGHT_HOME=home)
    os.environ.pop("DATABASE_URL", None)
    per_run = recording_overhead(args.runs)
    base = per_run["LocalRunner alone"]
    print(f"## Recording overhead: `true`, {args.runs} runs each, interleaved\n")
    print(table(["case", "ms per run", "ratio"], [[k, f"{v * 1000:.2f}", f"{v / base:.2f}x"] for k, v in per_run.items()]))
    cli = cli_overhead(env)
    base = cli["python: LocalRunner().run(true)"]
    print("\nAs commands (a new process each time, Python and Django start-up included), 10 runs each:\n")
    print(table(["command", "ms per run", "ratio"], [[k, f"{v * 1000:.0f}", f"{v / base:.2f}x"] for k, v in cli.items()]))

    import psycopg

    pg_url = os.environ.get("RUNWRIGHT_BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres")
    db = f"rw_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')
    try:
        rows = []
        base = child("baseline", args.lines, env)
        rows.append(["subprocess.run(capture_output=True), nothing stored", f"{base['lines_per_s']:,.0f}", "1.00x",
                     f"{base['rss_mib']:.0f}", "-", "-"])
        for name, case_env in (("SQLite", env), ("PostgreSQL", env | {"DATABASE_URL": pg_url.rsplit("/", 1)[0] + "/" + db})):
            r = child("ingest", args.lines, case_env)
            rows.append([f"ExecutionLogger into {name}, with a live follower", f"{r['lines_per_s']:,.0f}",
                         f"{r['lines_per_s'] / base['lines_per_s']:.2f}x", f"{r['rss_mib']:.0f}",
                         f"{r['p50_ms']:.0f}", f"{r['p95_ms']:.0f}"])
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    print(f"\n## Log ingestion: {args.lines:,} lines\n")
    print(table(["case", "lines/s", "vs baseline", "peak RSS (MiB)", "follower delay p50 (ms)", "p95 (ms)"], rows))


if __name__ == "__main__":
    main()
