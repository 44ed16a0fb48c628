"""Command-line start-up: `runwright run -- true` (recorded) and `runwright list`, each a
process of its own, side by side with `python3 -c pass` and with a Python process that runs
`true` through subprocess (what a hand-written script costs). Standalone, SQLite in a fresh
RUNWRIGHT_HOME that holds the runs `run` recorded (warm-up included) when `list` reads it.

    python -m benchmarks.bench_startup [--rounds 10]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile

from benchmarks.common import table, timed_rounds


def children_cpu() -> float:
    """CPU seconds (user + system) of the children this process has waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10, help="Runs of each case, interleaved.")
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="rw-bench-startup-")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")}
    env["RUNWRIGHT_HOME"] = home
    cli = os.path.join(os.path.dirname(sys.executable), "runwright")
    cases = {
        "python3 -c pass": ["python3", "-c", "pass"],
        "python3: subprocess.run(['true'])": ["python3", "-c", "import subprocess; subprocess.run(['true'])"],
        "runwright run -- true (recorded)": [cli, "run", "--", "true"],
        "runwright list": [cli, "list"],
    }
    calls = {name: (lambda c=argv: subprocess.run(c, env=env, check=True, capture_output=True))
             for name, argv in cases.items()}
    for call in calls.values():  # warm-up: the database made and migrated, files in the page cache
        call()
    wall = timed_rounds(calls, args.rounds, rounds=args.rounds)
    cpu = timed_rounds(calls, args.rounds, rounds=args.rounds, clock=children_cpu)
    bare, script = wall["python3 -c pass"], wall["python3: subprocess.run(['true'])"]
    bare_cpu = cpu["python3 -c pass"]
    rows = [[name, f"{wall[name] * 1000:.0f}", f"{cpu[name] * 1000:.0f}", f"{wall[name] / bare:.2f}x",
             f"{cpu[name] / bare_cpu:.2f}x", f"{wall[name] / script:.2f}x"] for name in cases]
    print(f"## Command-line start-up, whole process, median of {args.rounds} interleaved runs\n")
    print(table(["command", "wall ms", "CPU ms", "wall vs `python3 -c pass`", "CPU vs `python3 -c pass`",
                 "wall vs subprocess.run(['true'])"], rows))


if __name__ == "__main__":
    main()
