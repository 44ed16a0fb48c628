"""Running a spec from your own Celery task.

    from celery import shared_task
    from runwright.integrations.celery import run_in_task

    @shared_task(soft_time_limit=600)
    def deploy(version):
        result = run_in_task(RunSpec(["make", "deploy", f"VERSION={version}"], timeout=900))
        return str(result.status)

The run is recorded with the task's id and the worker process's name, heartbeats while it
runs, and is marked ``lost`` by the reaper if the worker dies. ``revoke(task_id,
terminate=True)`` stops it and records ``cancelled``; the task's soft time limit stops it and
records ``timeout``, then SoftTimeLimitExceeded is raised in your task as Celery would; the
task's hard time limit (counted from the task's start, as Celery counts it) records ``timeout``.
"""

from __future__ import annotations

import signal
import time
from typing import Any

from runwright.integrations.celery.stops import celery_stops, task_limits, task_started
from runwright.integrations.celery.worker_logger import worker_logger, worker_name
from runwright.integrations.django import setup
from runwright.runners.cancel import CancelToken
from runwright.runners.result import RunResult
from runwright.runners.spec import RunSpec


def run_in_task(spec: RunSpec, *, parent: Any = None, cancel: CancelToken | None = None) -> RunResult:
    """Run ``spec`` here, inside the calling Celery task, and record it; returns its RunResult.

    The execution's ``task_id`` is the calling task's id and its ``worker`` is
    ``host:pid`` of this process (the reaper checks it). ``parent`` makes it a child of
    another execution. Raises ``celery.exceptions.SoftTimeLimitExceeded`` after recording
    ``timeout`` when the task's soft time limit stopped the run; after
    ``revoke(terminate=True)`` it records ``cancelled`` and then lets the termination take its
    course (Celery's own handling of the signal). Outside a task it runs and records the same
    way, without a task id."""
    from celery import current_task
    from celery.exceptions import SoftTimeLimitExceeded

    # The task's hard time limit counts from the task's start, not from this call's.
    started = task_started() or time.monotonic()
    request = getattr(current_task, "request", None) if current_task else None
    task_id = str(getattr(request, "id", "") or "")
    setup()
    logger = worker_logger()
    cancel = cancel or CancelToken()
    ref = logger.create(spec, parent=parent, task_id=task_id)
    with celery_stops(cancel, task_limits(request, getattr(current_task, "app", None)), started) as stops:
        result = logger.run(spec, ref, cancel=cancel, worker=worker_name())
    if stops.soft_limit:
        raise SoftTimeLimitExceeded(f"execution {ref}: {result.error or 'soft time limit'}")
    if stops.terminated:
        # Recorded; now what Celery meant: the previous handler (billiard's, or the default
        # that ends the process) gets the signal.
        signal.raise_signal(signal.SIGTERM)
    return result
