"""submit and cancel: what a platform calls to queue a run and to stop it."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from integrations.django import setup
from runners.spec import RunSpec
from runners.status import Status

log = logging.getLogger("runwright.celery")


def _logger() -> Any:
    from integrations.celery.worker_logger import worker_logger

    return worker_logger()


def submit(spec: RunSpec, *, queue: str | None = None, parent: Any = None) -> int:
    """Record a pending execution for ``spec`` and queue it; returns its id."""
    setup()
    task_id = f"runwright-{uuid.uuid4().hex}"
    logger = _logger()
    ref = logger.create(spec, parent=parent, task_id=task_id)  # one INSERT, queued from the start
    try:
        _send(ref, spec, task_id, queue, None)
    except Exception as exc:
        # Never leave a row pending that no message will ever run: record why, then raise.
        from urllib.parse import urlsplit

        from integrations.celery.app import broker_url
        from runners.secrets import Redactor

        password = urlsplit(broker_url()).password
        message = Redactor([password] if password else []).text(f"could not be queued: {type(exc).__name__}: {exc}")
        logger.transition(ref, Status.ERROR, {"error_message": message}, "submit")
        raise
    return int(ref)


def enqueue(ref: Any, spec: RunSpec, queue: str | None = None, siblings: dict[str, Any] | None = None) -> bool:
    """Send the message for a pending execution not queued yet, once: the task id is
    claimed with a conditional update, so dispatchers racing (a group's finishers) send it
    once."""
    from integrations.django.models import Execution

    task_id = f"runwright-{uuid.uuid4().hex}"
    if not Execution.objects.filter(pk=ref, task_id="").update(task_id=task_id):
        return False
    _send(ref, spec, task_id, queue, siblings)
    return True


def _send(ref: Any, spec: RunSpec, task_id: str, queue: str | None, siblings: dict[str, Any] | None) -> None:
    from integrations.celery.app import get_app

    get_app().send_task("runwright.run", args=[int(ref), spec.to_dict(redact=False), siblings], task_id=task_id,
                        queue=queue or None)


def cancel(execution_id: Any, reason: str = "cancelled by request") -> Status:
    """Stop an execution wherever it is: a pending one never starts, a running one is
    stopped by its worker within about a second (it polls the request). Returns the status
    right after the request (a running one is still ``running`` until its worker reacts)."""
    setup()
    from integrations.celery.groups import advance_group
    from integrations.django.models import Execution

    logger = _logger()
    Execution.objects.filter(pk=execution_id).update(cancel_requested=True)
    row = Execution.objects.filter(pk=execution_id).values("status", "task_id", "parent_id", "runner").first()
    if row is None:
        from logging_core.store import NotFound

        raise NotFound(execution_id)
    if row["runner"] == "group":
        advance_group(execution_id)
    elif row["status"] == Status.PENDING and logger.cancel_execution(int(execution_id), reason):
        if row["parent_id"]:
            # A group child's message is left to be consumed: its worker finds it cancelled
            # and advances the group with the siblings' specs the message carries.
            advance_group(row["parent_id"])
        elif row["task_id"]:
            _revoke(row["task_id"])
    return Status(Execution.objects.get(pk=execution_id).status)


def _revoke(task_id: str) -> None:
    """Also drop the queued message where the broker supports remote control (Redis,
    RabbitMQ); the claim would refuse it anyway."""
    from integrations.celery.app import broker_url, get_app

    if not broker_url().startswith(("sqla+", "sqlalchemy+")):
        try:
            get_app().control.revoke(task_id)
        except Exception as exc:  # the database already says cancelled; the claim will refuse the run
            log.warning("could not revoke %s (harmless, the claim refuses it): %s", task_id, exc)
