"""LocalRunner vs plain subprocess: per-run overhead and output throughput with peak RSS.

    python -m benchmarks.bench_local [--runs 500] [--gib 1]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time

from benchmarks.common import in_child, table, timed_rounds
from runwright.runners import RunSpec
from runwright.runners.events import NullReporter
from runwright.runners.local import LocalRunner

THROUGHPUT = r"""
import json, os, resource, subprocess, time
size = {size}
cmd = ["head", "-c", str(size), "/dev/zero"]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
case = {case!r}
if case == "runwright":
    from runwright.runners import RunSpec
    from runwright.runners.events import NullReporter
    from runwright.runners.local import LocalRunner
    r = LocalRunner().run(RunSpec(cmd), NullReporter()); n = r.stdout_bytes
elif case == "loop":
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, bufsize=0); n = 0
    while True:
        chunk = os.read(p.stdout.fileno(), 65536)
        if not chunk: break
        n += len(chunk)
    p.wait()
else:
    n = len(subprocess.run(cmd, capture_output=True).stdout)
elapsed = time.perf_counter() - t0
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
assert n == size, n
print(json.dumps({{"seconds": elapsed, "rss_growth_mib": (after - before) / 1024}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--gib", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    runner, spec, sink = LocalRunner(), RunSpec(["true"]), NullReporter()
    per_run = timed_rounds(
        {
            "subprocess.run(capture_output=True)": lambda: subprocess.run(["true"], capture_output=True),
            "LocalRunner.run": lambda: runner.run(spec, sink),
        },
        args.runs,
    )
    cpu = timed_rounds(
        {
            "subprocess.run(capture_output=True)": lambda: subprocess.run(["true"], capture_output=True),
            "LocalRunner.run": lambda: runner.run(spec, sink),
        },
        args.runs, clock=time.process_time,
    )
    base, cpu_base = per_run["subprocess.run(capture_output=True)"], cpu["subprocess.run(capture_output=True)"]
    print(f"## Per-run overhead: `true`, {args.runs} runs each, interleaved\n")
    print(table(["case", "ms per run", "ratio", "CPU of the caller, µs per run", "ratio"],
                [[k, f"{v * 1000:.2f}", f"{v / base:.2f}x", f"{cpu[k] * 1e6:.0f}", f"{cpu[k] / cpu_base:.2f}x"]
                 for k, v in per_run.items()]))

    size = int(args.gib * (1 << 30))
    cases = {"loop": "plain loop, 64 KiB os.read", "runwright": "LocalRunner -> discarding sink",
             "capture": "subprocess.run(capture_output=True)"}
    samples: dict[str, list[dict[str, float]]] = {c: [] for c in cases}
    for _ in range(args.rounds):  # interleaved, so a noisy moment hits every case alike
        for c in cases:
            samples[c].append(in_child(THROUGHPUT.format(size=size, case=c)))
    results = {
        c: {k: statistics.median(s[k] for s in samples[c]) for k in ("seconds", "rss_growth_mib")} for c in cases
    }
    loop = results["loop"]["seconds"]
    print(f"\n## Output throughput: {args.gib:g} GiB of stdout, median of {args.rounds} interleaved rounds\n")
    rows = []
    for c, label in cases.items():
        secs = results[c]["seconds"]
        rows.append([label, f"{size / secs / (1 << 20):.0f}", f"{loop / secs:.2f}x",
                     f"{results[c]['rss_growth_mib']:.1f}"])
    print(table(["case", "MiB/s", "throughput vs loop", "peak RSS growth (MiB)"], rows))


if __name__ == "__main__":
    main()
