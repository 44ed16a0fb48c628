"""Executions for people: ``runwright list``'s columns and ``runwright show``'s text."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from runwright.integrations.cli.output import (
    columns,
    describe_end,
    error_text,
    human_bytes,
    human_duration,
    local_time,
)
from runwright.runners.status import ACTIVE


def _bytes(view: Any, log_end: Callable[[Any], int]) -> str:
    if view.status in ACTIVE:  # per-stream counts are made when the run ends
        return f"{human_bytes(log_end(view.id))} so far"
    return human_bytes(view.stdout_bytes + view.stderr_bytes)


def execution_table(views: Sequence[Any], *, wide: bool, log_end: Callable[[Any], int]) -> str:
    """ID STATUS RUNNER COMMAND EXIT STARTED DURATION, and with ``wide`` also
    CREATED FINISHED OUTPUT WORKER LABELS; commands cut to 60 characters unless wide."""
    header = ["id", "status", "runner", "command", "exit", "started", "duration"]
    if wide:
        header += ["created", "finished", "output", "worker", "labels"]
    rows = []
    for v in views:
        command = v.command if wide or len(v.command) <= 60 else v.command[:59] + "…"
        row = [str(v.id), str(v.status), v.runner, command, describe_end(v.exit_code, v.signal) or "-",
               local_time(v.started_at) or "-", human_duration(v.duration) or "-"]
        if wide:
            labels = ",".join(f"{k}={val}" for k, val in sorted((v.labels or {}).items()))
            row += [local_time(v.created_at) or "-", local_time(v.finished_at) or "-", _bytes(v, log_end),
                    v.worker or "-", labels or "-"]
        rows.append(row)
    return columns(header, rows)


def execution_text(view: Any, result: Any, log_end: int) -> str:
    """``runwright show ID`` for a person: one fact a line, no ``None``."""
    lines = [f"execution {view.id}  {view.runner}: {view.command}", f"status:    {view.status}"]
    end = describe_end(view.exit_code, view.signal or result.signal)
    if end:
        lines.append(f"ended by:  {end}")
    error = error_text(view.error_message or result.error, view.exit_code)
    if error:
        lines.append(f"error:     {error}")
    for label, when in (("created:", view.created_at), ("started:", view.started_at), ("finished:", view.finished_at)):
        if when is not None:
            lines.append(f"{label:<10} {local_time(when)}")
    if view.duration is not None:
        lines.append(f"duration:  {human_duration(view.duration)}")
    if view.status in ACTIVE:
        lines.append(f"output:    {human_bytes(log_end)} so far (stdout and stderr; counted per stream when it ends)")
    else:
        lines.append(f"output:    {human_bytes(view.stdout_bytes)} stdout, {human_bytes(view.stderr_bytes)} stderr"
                     + (f", {human_bytes(view.dropped_bytes)} not stored (limit)" if view.dropped_bytes else ""))
    if view.labels:
        lines.append("labels:    " + ", ".join(f"{k}={v}" for k, v in sorted(view.labels.items())))
    return "\n".join(lines)
