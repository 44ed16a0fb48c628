"""The task that runs one execution, and the worker's signal handlers."""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Any

from celery import signals

from integrations.celery.app import get_app
from integrations.celery.worker_logger import worker_logger, worker_name
from integrations.django import setup
from runners.cancel import CancelToken
from runners.spec import RunSpec, SpecError
from runners.status import Status

app = get_app()
log = logging.getLogger("runwright.celery")
#: Cancel tokens of the runs this process is executing, and when each started.
_running: dict[int, tuple[CancelToken, float]] = {}


@app.task(name="runwright.run")
def run_execution(execution_id: int, spec: dict[str, Any], siblings: dict[str, Any] | None = None) -> str:
    """Run execution ``execution_id``. Idempotent: the execution is claimed with a
    conditional pending -> running update, so a redelivered or duplicated message (a worker
    died, the broker restarted) never runs the command twice."""
    setup()
    logger = worker_logger()
    try:
        run_spec = RunSpec.from_dict(spec)
    except SpecError as exc:
        logger.transition(execution_id, Status.ERROR, {"error_message": f"invalid spec: {exc}"}, "worker")
        _advance_parent(execution_id, siblings)
        return str(Status.ERROR)
    cancel = CancelToken()
    _running[execution_id] = (cancel, time.monotonic())
    try:
        result = logger.run(run_spec, execution_id, cancel=cancel, worker=worker_name())
    finally:
        _running.pop(execution_id, None)
    _advance_parent(execution_id, siblings)
    return str(result.status)


def _advance_parent(execution_id: int, siblings: dict[str, Any] | None) -> None:
    if siblings is None:  # only a group's children carry their siblings
        return
    from integrations.celery.groups import advance_group
    from integrations.django.models import Execution

    parent = Execution.objects.filter(pk=execution_id).values_list("parent_id", flat=True).first()
    if parent:
        advance_group(parent, siblings)


def execution_of(task_id: str | None) -> int | None:
    if not (task_id and task_id.startswith("runwright-")):
        return None
    from integrations.django.models import Execution

    return Execution.objects.filter(task_id=task_id).values_list("id", flat=True).first()


@signals.task_prerun.connect
def _stop_gracefully_on_signals(**_: Any) -> None:
    """The pool process running a task gets SIGTERM on revoke(terminate=True) and when
    Celery's hard time limit is reached (then SIGKILL 0.1 s later), SIGUSR1 at the soft limit.
    Stop the run through its cancel token, so its whole process tree goes and the status says
    why; should SIGKILL win the race, the reaper marks the run lost. Installed per task, after
    billiard's own handlers."""

    def on_sigterm(signum: int, frame: Any) -> None:
        if not _running:
            raise SystemExit(0)
        limit = app.conf.task_time_limit
        for token, started in list(_running.values()):
            if limit and time.monotonic() - started >= limit - 0.5:
                token.cancel(f"Celery's hard time limit of {limit:g}s was reached", timed_out=True)
            else:
                token.cancel("revoked (terminate)")

    def on_soft_limit(signum: int, frame: Any) -> None:
        # Celery's soft time limit (SIGUSR1) would raise inside the run; stop it instead.
        limit = app.conf.task_soft_time_limit
        for token, _ in list(_running.values()):
            token.cancel(f"Celery's soft time limit of {limit:g}s was reached", timed_out=True)

    signal.signal(signal.SIGTERM, on_sigterm)
    signal.signal(signal.SIGUSR1, on_soft_limit)


@signals.task_revoked.connect
def _on_revoked(request: Any = None, terminated: bool = False, **_: Any) -> None:
    """A revoked task: the execution is cancelled (pending) or asked to stop (running)."""
    setup()
    ref = execution_of(getattr(request, "id", None))
    if ref is None:
        return
    from integrations.celery.control import cancel

    try:
        cancel(ref, "revoked")
    except Exception:
        log.exception("could not record the revoke of execution %s", ref)


@signals.worker_ready.connect
def _start_reaper(**_: Any) -> None:
    from integrations.celery.reaper import reaper_loop

    setup()
    threading.Thread(target=reaper_loop, name="runwright-reaper", daemon=True).start()
