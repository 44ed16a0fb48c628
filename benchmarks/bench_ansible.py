"""The ansible runner against ansible-runner called directly, and a 1,000-task playbook
through the ExecutionLogger.

    python -m benchmarks.bench_ansible [--runs 10] [--tasks 1000]

1. The same 20-task playbook on localhost (local connection): ``AnsibleRunner().run`` vs
   ``ansible_runner.run`` (its defaults: event files and stdout written to the artifacts
   directory), interleaved in rounds.
2. A playbook of ``--tasks`` tasks, each case in a fresh process (clean peak RSS):
   ``ansible_runner.run`` with an event handler that only counts (baseline), then
   ``ExecutionLogger.run`` into SQLite and into PostgreSQL (a database of its own, created
   and dropped), plus a tenth of the tasks into SQLite to show that memory stays flat.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from typing import Any

from benchmarks.common import table, timed_rounds

INVENTORY = 'localhost ansible_connection=local ansible_python_interpreter="{{ ansible_playbook_python }}"\n'


def playbook(tasks: int) -> str:
    body = "".join(f"    - name: task {i}\n      debug:\n        msg: \"step {i} of {tasks}\"\n" for i in range(tasks))
    return f"- hosts: all\n  gather_facts: false\n  tasks:\n{body}"


def _with_ansible_on_path() -> None:
    """ansible_runner.run finds ansible-playbook on PATH (AnsibleRunner also looks beside
    the interpreter): give the baseline the same."""
    bin_dir = os.path.dirname(sys.executable)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


def direct_run(text: str, handler: Any = None) -> Any:
    import ansible_runner

    private = tempfile.mkdtemp(prefix="rw-bench-ar-")
    try:
        os.makedirs(f"{private}/project")
        with open(f"{private}/project/site.yml", "w") as fh:
            fh.write(text)
        with open(f"{private}/hosts", "w") as fh:
            fh.write(INVENTORY)
        r = ansible_runner.run(private_data_dir=private, playbook="site.yml", inventory=f"{private}/hosts", quiet=True,
                               event_handler=handler)
        assert r.rc == 0, r.status
        return r
    finally:
        shutil.rmtree(private, ignore_errors=True)


def per_run(runs: int) -> dict[str, float]:
    from runwright.runners import RunSpec, get_runner
    from runwright.runners.events import NullReporter

    _with_ansible_on_path()
    text = playbook(20)
    runner, sink = get_runner("ansible"), NullReporter()
    spec = RunSpec(runner="ansible", options={"playbook": text, "inventory": INVENTORY})

    def ours() -> None:
        result = runner.run(spec, sink)
        assert result.ok, result.error

    return timed_rounds({"ansible_runner.run": lambda: direct_run(text), "AnsibleRunner().run": ours}, runs)


class _Count:
    """A reporter that counts the events the logger received too (tee)."""

    def __init__(self) -> None:
        self.events = 0

    def handle(self, handle: Any) -> None: ...
    def metadata(self, values: Any) -> None: ...
    def started(self, spec: Any, metadata: Any) -> None: ...
    def output(self, stream: Any, data: bytes) -> None: ...
    def finished(self, result: Any) -> None: ...

    def event(self, kind: str, data: Any) -> None:
        self.events += 1


def case_logger(tasks: int) -> None:
    """In a child: the playbook through the ExecutionLogger (the database from DATABASE_URL)."""
    import resource
    import time

    from runwright.integrations.django import setup

    setup()
    from runwright.logging_core import ExecutionLogger
    from runwright.runners import RunSpec

    logger = ExecutionLogger(structured_log=False, metrics=False)
    spec = RunSpec(runner="ansible", options={"playbook": playbook(tasks), "inventory": INVENTORY})
    count = _Count()
    t0 = time.perf_counter()
    result = logger.run(spec, tee=count)  # type: ignore[arg-type]
    elapsed = time.perf_counter() - t0
    assert result.ok, result.error
    assert result.metadata["stats"]["localhost"]["ok"] == tasks
    handled = result.metadata["events"]  # ansible-runner's events, as the baseline counts them
    print(json.dumps({"events": handled, "stored": count.events, "seconds": elapsed, "events_per_s": handled / elapsed,
                      "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "children_rss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))


def case_direct(tasks: int) -> None:
    """In a child: ansible_runner.run with an event handler that counts (the baseline)."""
    import resource
    import time

    _with_ansible_on_path()
    events = [0]

    def handler(event: dict[str, Any]) -> bool:
        events[0] += 1
        return True  # ansible-runner's default: the event file is written

    t0 = time.perf_counter()
    direct_run(playbook(tasks), handler)
    elapsed = time.perf_counter() - t0
    print(json.dumps({"events": events[0], "stored": 0, "seconds": elapsed, "events_per_s": events[0] / elapsed,
                      "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "children_rss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))


def child(case: str, tasks: int, env: dict[str, str]) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-m", "benchmarks.bench_ansible", "--case", case, "--tasks", str(tasks)],
                         env=env, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{case} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--case")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--tasks", type=int, default=1000)
    args = parser.parse_args()
    if args.case == "logger":
        return case_logger(args.tasks)
    if args.case == "direct":
        return case_direct(args.tasks)

    home = tempfile.mkdtemp(prefix="rw-bench-")
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | {"RUNWRIGHT_HOME": home}
    times = per_run(args.runs)
    base = times["ansible_runner.run"]
    print(f"## The same 20-task playbook on localhost, {args.runs} runs each, interleaved\n")
    print(table(["case", "s per run", "ratio"], [[k, f"{v:.2f}", f"{v / base:.2f}x"] for k, v in times.items()]))

    import psycopg

    pg_url = os.environ.get("RUNWRIGHT_BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres")
    db = f"rw_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')
    rows = []
    try:
        base_case = child("direct", args.tasks, env)
        cases = [
            (f"ansible_runner.run, counting handler ({args.tasks} tasks)", base_case),
            (f"ExecutionLogger into SQLite ({args.tasks // 10} tasks)", child("logger", args.tasks // 10, env)),
            (f"ExecutionLogger into SQLite ({args.tasks} tasks)", child("logger", args.tasks, env)),
            (f"ExecutionLogger into PostgreSQL ({args.tasks} tasks)",
             child("logger", args.tasks, env | {"DATABASE_URL": pg_url.rsplit("/", 1)[0] + "/" + db})),
        ]
        for name, r in cases:
            rows.append([name, f"{r['events']:,}", f"{r['stored']:,}" if r["stored"] else "-", f"{r['seconds']:.1f}",
                         f"{r['events_per_s']:,.0f}",
                         f"{r['rss_mib']:.0f}", f"{r['children_rss_mib']:.0f}"])
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    print(f"\n## A {args.tasks:,}-task playbook, each case in a fresh process\n")
    headers = ["case", "ansible-runner events", "runwright events recorded", "seconds", "events/s",
               "peak RSS, worker (MiB)", "peak RSS, largest child (MiB)"]
    print(table(headers, rows))


if __name__ == "__main__":
    main()
