"""Celery's ways of stopping a task, turned into a stop of the run, for one run only.

In a prefork pool process Celery stops a task with signals: SIGTERM on
``revoke(terminate=True)`` and at the hard time limit (SIGKILL follows shortly), SIGUSR1 at
the soft time limit (billiard's handler raises SoftTimeLimitExceeded wherever the task is).
While a runwright run executes, :func:`celery_stops` routes both to the run's cancel token,
so its whole process tree is stopped and the status says why (``cancelled`` / ``timeout``).
The previous handlers are put back when the run ends: every other task, and the rest of the
calling task, see Celery's own behaviour.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from runwright.runners.cancel import CancelToken


@dataclass
class Stops:
    """What Celery asked while the run executed."""

    terminated: bool = False
    soft_limit: bool = False


def task_limits(request: Any, app: Any) -> tuple[float | None, float | None]:
    """(hard, soft) seconds for this task: the request's own, else the app's."""
    limits = getattr(request, "timelimit", None) or (None, None)
    hard, soft = limits[0], limits[1]
    conf = getattr(app, "conf", None)
    if conf is not None:
        hard = hard or conf.task_time_limit
        soft = soft or conf.task_soft_time_limit
    return (float(hard) if hard else None), (float(soft) if soft else None)


_TRACE_PY = os.path.join("celery", "app", "trace.py")


def task_started() -> float | None:
    """When Celery started the task running in this thread (``time.monotonic()``), or None
    outside a task.

    The hard time limit counts from there (billiard's timer starts when the pool process
    takes the job; Celery's tracer notes ``time_start`` right after and measures the task's
    runtime from it). Celery keeps that time only in its tracer's frame, so it is read there,
    without changing anything: no signal receiver, nothing for other tasks."""
    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        if code.co_name == "trace_task" and code.co_filename.endswith(_TRACE_PY):
            value = frame.f_locals.get("time_start")
            if isinstance(value, float):
                return value
        frame = frame.f_back  # type: ignore[assignment]
    return None


@contextlib.contextmanager
def celery_stops(cancel: CancelToken, limits: tuple[float | None, float | None] = (None, None),
                 started: float | None = None) -> Iterator[Stops]:
    """Route SIGTERM / SIGUSR1 to ``cancel`` while the block runs; restore the previous
    handlers after. ``limits`` are the task's (hard, soft) seconds, ``started`` the task's
    start (monotonic) to tell a hard limit from a revoke. Off the main thread (a threads
    pool) signals cannot be handled there: the block runs as it is."""
    stops = Stops()
    if threading.current_thread() is not threading.main_thread():
        yield stops
        return
    hard, soft = limits
    begun = time.monotonic() if started is None else started

    def on_sigterm(signum: int, frame: Any) -> None:
        stops.terminated = True
        if hard and time.monotonic() - begun >= hard - 0.5:
            cancel.cancel(f"Celery's hard time limit of {hard:g}s was reached", timed_out=True)
        else:
            cancel.cancel("revoked (terminate)")

    def on_soft_limit(signum: int, frame: Any) -> None:
        stops.soft_limit = True
        cancel.cancel(f"Celery's soft time limit{f' of {soft:g}s' if soft else ''} was reached", timed_out=True)

    previous_term = signal.signal(signal.SIGTERM, on_sigterm)
    previous_usr1 = signal.signal(signal.SIGUSR1, on_soft_limit)
    try:
        yield stops
    finally:
        signal.signal(signal.SIGTERM, previous_term)
        signal.signal(signal.SIGUSR1, previous_usr1)
