"""runwright's Celery task (``runwright.run``), registered on whichever app the worker runs.

It is a ``shared_task``: a project's worker gets it by autodiscovery
(``runwright.integrations.django`` in INSTALLED_APPS) or by
``runwright.integrations.celery.install(app)``; ``runwright worker`` gets it on runwright's
own app. Nothing here changes how other tasks run: the only Celery signal receivers are a
revoke hook that acts on runwright's own task ids and the reaper started with the worker.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from celery import shared_task, signals

from runwright.integrations.celery.recovery import run_or_take_over
from runwright.integrations.celery.stops import celery_stops, task_limits, task_started
from runwright.integrations.celery.worker_logger import worker_logger, worker_name
from runwright.integrations.django import setup
from runwright.runners.cancel import CancelToken
from runwright.runners.environment import use_worker_policy
from runwright.runners.spec import RunSpec, SpecError
from runwright.runners.status import Status

log = logging.getLogger("runwright.celery")

TASK_NAME = "runwright.run"
#: The message is acknowledged when the run is over and handed back if the worker dies; the
#: executions table is the result store.
TASK_OPTIONS: dict[str, Any] = dict(name=TASK_NAME, bind=True, acks_late=True, reject_on_worker_lost=True,
                                    ignore_result=True, track_started=False)


@shared_task(**TASK_OPTIONS)
def run_execution(self: Any, execution_id: Any, spec: dict[str, Any] | None = None,
                  siblings: dict[str, Any] | None = None) -> str:
    """Run execution ``execution_id``. Idempotent: the execution is claimed with a
    conditional pending -> running update, so a redelivered or duplicated message (a worker
    died, the broker restarted) never runs the command twice.

    ``spec`` is the unmasked spec; ``None`` for a group's child, whose spec is stored sealed
    on its row. ``siblings`` is a marker (any dict) that the run belongs to a group."""
    started = task_started() or time.monotonic()
    setup()
    use_worker_policy()  # commands start from the environment allow-list (runners/environment.py)
    logger = worker_logger()
    group_child = spec is None or siblings is not None
    try:
        try:
            run_spec = _load_spec(execution_id, spec)
        except SpecError as exc:
            logger.transition(execution_id, Status.ERROR, {"error_message": f"invalid spec: {exc}"}, "worker")
            return str(Status.ERROR)
        cancel = CancelToken()
        with celery_stops(cancel, task_limits(self.request, self.app), started):
            result = run_or_take_over(logger, execution_id, run_spec, cancel, worker_name())  # see recovery.py
        return str(result.status)
    except Exception as exc:
        # Whatever went wrong, the row says so (a terminal state is never overwritten).
        log.exception("execution %s: the run raised", execution_id)
        logger.transition(execution_id, Status.ERROR,
                          {"error_message": f"internal error: {type(exc).__name__}: {exc}"}, "worker")
        return str(Status.ERROR)
    finally:
        if group_child:
            _advance_parent(execution_id)


def _load_spec(execution_id: Any, spec: dict[str, Any] | None) -> RunSpec:
    if spec is not None:
        return RunSpec.from_dict(spec)
    from runwright.integrations.celery.sealed import open_spec

    return open_spec(execution_id)


def _advance_parent(execution_id: Any) -> None:
    from runwright.integrations.celery.groups import advance_group, parent_of

    try:
        parent = parent_of(execution_id)
        if parent:
            # The run is over: its sealed spec (secrets, encrypted) is never needed again.
            worker_logger().store.update(execution_id, {"sealed_spec": ""})
            advance_group(parent)
    except Exception:  # the reaper's group pass advances it later; never lose the run's result
        log.exception("could not advance the group of execution %s", execution_id)


def execution_of(task_id: str | None) -> int | None:
    if not (task_id and task_id.startswith("runwright-")):
        return None
    found = worker_logger().store.find(task_id=task_id, limit=1)
    return found[0] if found else None


@signals.task_revoked.connect
def _on_revoked(request: Any = None, terminated: bool = False, **_: Any) -> None:
    """A revoked runwright task: the execution is cancelled (pending) or asked to stop
    (running). Other tasks' revokes are not looked at."""
    task_id = getattr(request, "id", None)
    if not (task_id and str(task_id).startswith("runwright-")):
        return
    setup()
    ref = execution_of(task_id)
    if ref is None:
        return
    from runwright.integrations.celery.control import cancel

    try:
        cancel(ref, "revoked")
    except Exception:
        log.exception("could not record the revoke of execution %s", ref)


@signals.worker_ready.connect
def _start_reaper(sender: Any = None, **_: Any) -> None:
    """The reaper runs in every worker that can run runwright's task."""
    app = getattr(sender, "app", None)
    if app is not None and TASK_NAME not in app.tasks:
        return
    from runwright.integrations.celery.reaper import reaper_loop

    setup()
    threading.Thread(target=reaper_loop, name="runwright-reaper", daemon=True).start()
