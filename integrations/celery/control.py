"""submit and cancel: what a platform calls to queue a run and to stop it."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from runwright.integrations.django import setup
from runwright.runners.spec import RunSpec
from runwright.runners.status import Status

log = logging.getLogger("runwright.celery")


def _logger() -> Any:
    from runwright.integrations.celery.worker_logger import worker_logger

    return worker_logger()


def submit(spec: RunSpec, *, queue: str | None = None, parent: Any = None) -> Any:
    """Record a pending execution for ``spec`` and queue it on the app that carries
    runwright's runs (the project's, see :mod:`runwright.integrations.celery.app`); returns its
    id. If the message cannot be sent the execution is recorded ``error`` and the broker's
    exception is raised."""
    setup()
    from runwright.integrations.celery.app import celery_app

    # An app or broker setting that cannot work (RUNWRIGHT_CELERY_APP, the broker URL, the
    # time limits) raises here, before a row exists that no message would ever run.
    celery_app()
    task_id = f"runwright-{uuid.uuid4().hex}"
    logger = _logger()
    ref = logger.create(spec, parent=parent, task_id=task_id)  # one INSERT, queued from the start
    try:
        _send(ref, spec.to_dict(redact=False), task_id, queue, None)
    except Exception as exc:
        # Never leave a row pending that no message will ever run: record why, then raise.
        logger.transition(ref, Status.ERROR, {"error_message": queue_error(exc)}, "submit")
        raise
    return wire_id(ref)


def wire_id(ref: Any) -> Any:
    """An execution's id as a message carries it: an integer as is, any other key (a
    platform model's UUID) as its text, which the model's field reads back."""
    return ref if isinstance(ref, int) else str(ref)


def queue_error(exc: BaseException) -> str:
    """Why a message could not be sent, with the broker's password masked."""
    from urllib.parse import urlsplit

    from runwright.integrations.celery.app import sending_broker_url
    from runwright.runners.secrets import Redactor

    try:
        password = urlsplit(sending_broker_url()).password
    except Exception:  # the app itself cannot be made (the reason is exc): nothing to mask
        password = None
    return Redactor([password] if password else []).text(f"could not be queued: {type(exc).__name__}: {exc}")


def enqueue(ref: Any, spec: RunSpec | None, queue: str | None = None, siblings: dict[str, Any] | None = None) -> bool:
    """Send the message for a pending execution not queued yet, once: the task id is
    claimed with a conditional update, so dispatchers racing (a group's finishers) send it
    once. ``spec=None``: the worker opens the spec sealed on the row."""
    task_id = f"runwright-{uuid.uuid4().hex}"
    # For a pending row heartbeat_at is when its message was sent (the reaper's check for
    # messages nobody took); the claim overwrites it.
    if not _logger().store.claim_task(ref, task_id):
        return False
    _send(ref, None if spec is None else spec.to_dict(redact=False), task_id, queue, siblings)
    return True


def resend(ref: Any, siblings: dict[str, Any] | None) -> bool:
    """Send again the message of a queued execution whose spec is stored sealed; the claim
    makes a duplicate harmless. Returns whether it was sent."""
    from django.utils import timezone

    from runwright.logging_core.store import NotFound

    store = _logger().store
    try:
        row = store.read_fields(ref, "status", "task_id", "parent_id", "sealed_spec")
    except NotFound:
        return False
    if row["status"] != Status.PENDING or not row["sealed_spec"]:
        return False
    queue = None
    if row["parent_id"]:
        group = store.read_fields(row["parent_id"], "spec")["spec"] or {}
        queue = group.get("group", {}).get("queue")
    store.update(ref, {"heartbeat_at": timezone.now()})
    _send(ref, None, row["task_id"] or f"runwright-{uuid.uuid4().hex}", queue, siblings)
    return True


def _send(ref: Any, spec: dict[str, Any] | None, task_id: str, queue: str | None, siblings: dict[str, Any] | None) -> None:
    from runwright.integrations.celery.app import celery_app, queue_for

    app = celery_app()
    # argsrepr: what Celery logs of the task (``worker --loglevel debug``) and shows in events:
    # the masked spec, never the one the worker runs.
    shown = [wire_id(ref), None if spec is None else RunSpec.from_dict(spec).to_dict(), siblings]
    app.send_task("runwright.run", args=[wire_id(ref), spec, siblings], task_id=task_id, queue=queue or queue_for(app),
                  argsrepr=repr(shown), kwargsrepr="{}")


def cancel(execution_id: Any, reason: str = "cancelled by request") -> Status:
    """Stop an execution wherever it is: a pending one never starts, a running one is
    stopped by its worker within about a second (it polls the request). Returns the status
    right after the request (a running one is still ``running`` until its worker reacts).
    Raises NotFound for an unknown id."""
    setup()
    from runwright.integrations.celery.groups import advance_group, parent_of

    logger = _logger()
    logger.store.request_cancel([execution_id])
    # Raises NotFound for an unknown id.
    row = logger.store.read_fields(execution_id, "status", "task_id", "runner")
    if row["runner"] == "group":
        advance_group(execution_id)
    elif row["status"] == Status.PENDING and logger.cancel_execution(execution_id, reason):
        if row["task_id"]:
            _revoke(row["task_id"])
        parent = parent_of(execution_id)
        if parent:
            # Its slot is free: the group queues the next child (the specs are stored).
            advance_group(parent)
    return logger.store.status(execution_id)


def _revoke(task_id: str) -> None:
    """Also drop the queued message where the broker supports remote control (Redis,
    RabbitMQ); the claim would refuse it anyway."""
    from runwright.integrations.celery.app import celery_app, sending_broker_url

    if not sending_broker_url().startswith(("sqla+", "sqlalchemy+")):
        try:
            celery_app().control.revoke(task_id)
        except Exception as exc:  # the database already says cancelled; the claim will refuse the run
            log.warning("could not revoke %s (harmless, the claim refuses it): %s", task_id, exc)
