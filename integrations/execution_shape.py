"""The one JSON shape of an execution, for every surface that prints or serves one
(``runwright list -o json``, ``runwright show --json``, the web UI's ``/executions/ID/json``).

    {"id": 7, "status": "failed", "runner": "local", "command": "sh -c 'exit 3'",
     "labels": {}, "exit_code": 3, "signal": null, "error_message": null, "worker": null,
     "created_at": "2026-11-29T11:42:00.190211+00:00", "started_at": "...", "finished_at": "...",
     "duration_seconds": 0.0085, "queue_wait_seconds": 0.01,
     "stdout_bytes": 0, "stderr_bytes": 0, "stored_bytes": 0, "dropped_bytes": 0,
     "parent_id": null, "active": false}

Times are RFC 3339 (``T``, with the UTC offset), an absent value is ``null``, durations are
seconds. While a run is live its per-stream counts are ``null`` (they are counted when it
ends) and ``stored_bytes`` is what the log holds so far."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from runwright.logging_core.store import ExecutionView
from runwright.runners.exitcodes import signal_name
from runwright.runners.status import ACTIVE


def rfc3339(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def signal_of(exit_code: int | None, signal: str | None) -> str | None:
    """The signal that ended the work: the stored name, else from a negative exit code."""
    if signal:
        return signal
    if exit_code is not None and exit_code < 0:
        return signal_name(-exit_code)
    return None


def execution_dict(view: ExecutionView, log_end: int | None = None) -> dict[str, Any]:
    """``view`` in the shape above; ``log_end`` (the store's log size) is used for a live run."""
    live = view.status in ACTIVE
    queued = (view.started_at - view.created_at).total_seconds() if view.started_at and view.created_at else None
    return {
        "id": view.id, "status": str(view.status), "runner": view.runner or None, "command": view.command or None,
        "labels": dict(view.labels or {}), "exit_code": view.exit_code,
        "signal": signal_of(view.exit_code, view.signal), "error_message": view.error_message or None,
        "worker": view.worker or None,
        "created_at": rfc3339(view.created_at), "started_at": rfc3339(view.started_at),
        "finished_at": rfc3339(view.finished_at),
        "duration_seconds": view.duration, "queue_wait_seconds": queued,
        "stdout_bytes": None if live else view.stdout_bytes, "stderr_bytes": None if live else view.stderr_bytes,
        "stored_bytes": log_end if live and log_end is not None else view.stored_bytes,
        "dropped_bytes": view.dropped_bytes, "parent_id": view.parent_id, "active": live,
    }
