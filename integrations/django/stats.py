"""Statistics over recorded executions: per runner the count, success rate, p50/p95
duration and queue wait, and the most frequent failure reasons.

Used by ``runwright stats`` and the web UI's statistics page. Durations are seconds.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from typing import Any

from runwright.runners.status import TERMINAL, Status

_SINCE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
#: Failure reasons shown per runner.
TOP_REASONS = 5


class BadSince(ValueError):
    pass


def parse_since(text: str, now: datetime) -> datetime:
    """``30m``, ``12h``, ``7d``, ``2w`` before ``now``, or an ISO 8601 time (UTC when no
    zone is given). Raises BadSince naming the accepted forms."""
    match = _SINCE.match(text)
    if match:
        return now - timedelta(seconds=float(match.group(1)) * _UNIT[match.group(2)])
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadSince(f"--since {text!r}: expected a duration like 30m, 12h, 7d, 2w or an ISO 8601 time") from None
    if value.tzinfo is None:
        from datetime import UTC

        value = value.replace(tzinfo=UTC)
    return value


def percentile(values: list[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) by linear interpolation; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def failure_reason(status: str, exit_code: int | None, signal: str, error: str) -> str:
    """A short, groupable reason: the error's first line with numbers kept (exit codes
    matter), or the exit code / signal / status."""
    first = (error or "").strip().splitlines()[0][:120] if (error or "").strip() else ""
    if first:
        return f"{status}: {first}"
    if signal:
        return f"{status}: signal {signal}"
    if exit_code is not None:
        return f"{status}: exit code {exit_code}"
    return status


def compute(since: datetime | None = None, runner: str | None = None) -> dict[str, Any]:
    """``{"since": ISO or None, "runners": [{"runner", "count", "finished", "success",
    "success_rate", "duration_p50", "duration_p95", "queue_wait_p50", "queue_wait_p95",
    "failures": [{"reason", "count"}]}, ...]}``, runners sorted by name. ``success_rate`` is
    success / finished runs (0..1, None when none finished); active runs count in ``count``."""
    from runwright.integrations.django.models import Execution

    qs = Execution.objects.exclude(runner="group")
    if since is not None:
        qs = qs.filter(created_at__gte=since)
    if runner:
        qs = qs.filter(runner=runner)
    rows = qs.values_list("runner", "status", "exit_code", "signal", "error_message", "created_at", "started_at",
                          "finished_at")
    per: dict[str, dict[str, Any]] = defaultdict(lambda: {"count": 0, "finished": 0, "success": 0, "durations": [],
                                                          "waits": [], "failures": Counter()})
    terminal = {str(s) for s in TERMINAL}
    for name, status, code, sig, error, created, started, finished in rows.iterator(chunk_size=2000):
        r = per[name]
        r["count"] += 1
        if status in terminal:
            r["finished"] += 1
            if status == Status.SUCCESS:
                r["success"] += 1
            else:
                r["failures"][failure_reason(status, code, sig, error)] += 1
        if started and finished:
            r["durations"].append((finished - started).total_seconds())
        if started and created:
            r["waits"].append(max(0.0, (started - created).total_seconds()))
    out = []
    for name in sorted(per):
        r = per[name]
        out.append({
            "runner": name, "count": r["count"], "finished": r["finished"], "success": r["success"],
            "success_rate": r["success"] / r["finished"] if r["finished"] else None,
            "duration_p50": percentile(r["durations"], 0.5), "duration_p95": percentile(r["durations"], 0.95),
            "queue_wait_p50": percentile(r["waits"], 0.5), "queue_wait_p95": percentile(r["waits"], 0.95),
            "failures": [{"reason": reason, "count": n} for reason, n in r["failures"].most_common(TOP_REASONS)],
        })
    return {"since": since.isoformat() if since else None, "runner": runner, "runners": out}
