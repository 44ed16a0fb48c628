"""Helpers for side-by-side benchmarks: interleaved timing, percentiles, a child process
for clean peak-RSS figures, and a markdown table printer."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from collections.abc import Callable


def timed_rounds(cases: dict[str, Callable[[], None]], runs: int, rounds: int = 5,
                 clock: Callable[[], float] | None = None) -> dict[str, float]:
    """Median seconds per call of each case, interleaving the cases in rounds so that a noisy
    moment of the machine hits every case alike. ``clock``: ``time.perf_counter`` (wall time)
    by default; ``time.process_time`` gives the CPU the calling process spent."""
    import time

    now = clock or time.perf_counter
    per_round: dict[str, list[float]] = {name: [] for name in cases}
    per = max(1, runs // rounds)
    for _ in range(rounds):
        for name, fn in cases.items():
            t0 = now()
            for _ in range(per):
                fn()
            per_round[name].append((now() - t0) / per)
    return {name: statistics.median(values) for name, values in per_round.items()}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def in_child(code: str) -> dict[str, float]:
    """Run ``code`` in a fresh interpreter; it must print one JSON object as its last line."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
