"""``runwright stats``: per runner the count, success rate, p50/p95 duration and queue wait,
and the most frequent failure reasons."""

from __future__ import annotations

import json
from typing import Annotated

import typer


def stats(
    since: Annotated[str, typer.Option(metavar="AGE|TIME", help="Runs created since: 30m, 12h, 7d, 2w, or an ISO time.")] = "7d",
    runner: Annotated[str | None, typer.Option(metavar="NAME", help="Only this runner.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """Statistics of recorded runs, per runner (durations in seconds in --json)."""
    from datetime import UTC, datetime

    from runwright.integrations.cli.app import _setup, fail
    from runwright.integrations.django.stats import BadSince, compute, parse_since
    from runwright.integrations.web.reading import human_duration

    try:
        start = parse_since(since, datetime.now(UTC))
    except BadSince as exc:
        fail(str(exc))
    _setup()
    data = compute(start, runner)
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    rows = data["runners"]
    if not rows:
        typer.echo(f"no runs since {start:%Y-%m-%d %H:%M:%S %Z}" + (f" for runner {runner}" if runner else ""))
        return
    header = ("RUNNER", "RUNS", "SUCCESS", "P50", "P95", "QUEUE P50", "QUEUE P95")
    table = [header]
    for r in rows:
        rate = "n/a" if r["success_rate"] is None else f"{100 * r['success_rate']:.1f}%"
        table.append((r["runner"], str(r["count"]), rate, *(human_duration(r[k]) or "-" for k in (
            "duration_p50", "duration_p95", "queue_wait_p50", "queue_wait_p95"))))
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    typer.echo(f"runs created since {start:%Y-%m-%d %H:%M:%S %Z}")
    for row in table:
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    for r in rows:
        if r["failures"]:
            typer.echo(f"\nmost frequent failures of {r['runner']}:")
            for f in r["failures"]:
                typer.echo(f"  {f['count']:>5}  {f['reason']}")
