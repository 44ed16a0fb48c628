"""The task that runs one execution, and the worker's signal handlers."""

from __future__ import annotations

import logging
import signal
import threading
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
#: Cancel tokens of the runs this process is executing, for a revoke(terminate=True).
_running: dict[int, CancelToken] = {}


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
        logger._move(logger.store, execution_id, Status.ERROR, {"error_message": f"invalid spec: {exc}"}, "worker")
        _advance_parent(execution_id, siblings)
        return str(Status.ERROR)
    cancel = CancelToken()
    _running[execution_id] = cancel
    try:
        result = logger.run(run_spec, execution_id, cancel=cancel, worker=worker_name())
    finally:
        _running.pop(execution_id, None)
    _advance_parent(execution_id, siblings)
    return str(result.status)


def _advance_parent(execution_id: int, siblings: dict[str, Any] | None) -> None:
    from integrations.celery.groups import advance_group
    from integrations.django.models import Execution

    parent = Execution.objects.filter(pk=execution_id).values_list("parent_id", flat=True).first()
    if parent:
        advance_group(parent, siblings)


def execution_of(task_id: str | None) -> int | None:
    if task_id and task_id.startswith("runwright-") and task_id[10:].isdigit():
        return int(task_id[10:])
    return None


@signals.worker_process_init.connect
def _child_init(**_: Any) -> None:
    from django.db import connections

    setup()
    connections.close_all()  # never share the parent's database connection after fork

    def on_sigterm(signum: int, frame: Any) -> None:
        # revoke(terminate=True) signals the pool process running the task: stop the run
        # through its cancel token (whole process tree, status cancelled) instead of dying
        # and leaving the tree behind.
        if _running:
            for token in list(_running.values()):
                token.cancel("revoked (terminate)")
        else:
            raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_sigterm)


@signals.task_revoked.connect
def _on_revoked(request: Any = None, terminated: bool = False, **_: Any) -> None:
    """A revoked task: the execution is cancelled (pending) or asked to stop (running)."""
    ref = execution_of(getattr(request, "id", None))
    if ref is None:
        return
    setup()
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
