"""The reaper: no execution stays ``running`` after its worker died, and nothing it started
outlives it. It never imports a concrete runner: everything goes through the registry.

Run periodically in every worker (and once at worker start):
- a running execution whose worker is gone (a worker process provably of this machine and
  pid namespace that no longer runs, or no heartbeat within the lease: see
  :func:`~runwright.integrations.celery.recovery.gone_reason`) is handled per its runner's ``on_worker_lost``:
  STOP, or work that is not alive, or a runner that cannot be loaded here -> stopped through
  ``stop_handle`` and marked ``lost``, saying whether the stop was confirmed; REATTACH with
  work that ``probe`` says is alive -> left for its redelivered message to take over until
  ``reattach_window()`` seconds after the lease expired, then stopped and marked lost;
- every registered runner's ``sweep(is_active)`` removes what crashed workers left
  (processes, containers, Jobs...) whose execution is no longer active. A runner whose class
  cannot be loaded is logged and skipped.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError

from runwright.integrations.celery.recovery import (
    can_reattach,
    gone_reason,
    local_workers_gone,
    reattach_window,
    runner_class,
    stop_and_mark_lost,
)
from runwright.integrations.celery.worker_logger import worker_logger, worker_name
from runwright.logging_core.store import NotFound, split_execution_tag
from runwright.runners import RunnerError, Status
from runwright.runners.process_identity import local_marker
from runwright.runners.registry import available_runners
from runwright.runners.status import ACTIVE

log = logging.getLogger("runwright.reaper")

#: The grace period of a run whose stored spec does not say (RunSpec's default).
DEFAULT_GRACE = 10.0


def reap_once(lease: float | None = None) -> dict[str, Any]:
    """One pass; returns what it did (for logs and tests): ``lost`` (execution ids marked lost),
    ``waiting`` (ids left for a re-attach) and ``swept`` (runner name -> what its sweep removed)."""
    from django.utils import timezone

    from runwright.integrations.celery.app import lease_seconds

    logger = worker_logger()
    store = logger.store
    lease = lease_seconds() if lease is None else lease
    now = timezone.now()
    running = {"status": Status.RUNNING, "not_runner": "group"}
    stale = set(store.find(**running, heartbeat_before=now - timedelta(seconds=lease)))
    marker = local_marker()
    if marker is not None:  # workers of this boot and pid namespace: their processes decide at once
        local = store.find(**running, worker_contains=marker)
        stale.update(local_workers_gone([(ref, store.read_fields(ref, "worker")["worker"]) for ref in local]))
    lost, waiting = [], []
    me, window = worker_name(), reattach_window()
    for ref in sorted(stale):
        view = logger.get(ref)
        why = gone_reason(view, lease, now) if view.status == Status.RUNNING else None
        if why is None:
            continue
        cls = runner_class(view.runner)
        if can_reattach(cls, view):
            since = view.heartbeat_at or view.started_at or now
            if now < since + timedelta(seconds=lease + window):
                waiting.append(ref)
                continue
            why += f"; its work is alive but no worker re-attached within {window:g}s"
        grace = float(_stored_spec(store, ref).get("grace_period") or DEFAULT_GRACE)
        if stop_and_mark_lost(logger, view, why, cls, me, grace, source="reaper"):
            lost.append(ref)
    from runwright.integrations.celery.groups import check_groups

    return {"lost": lost, "waiting": waiting, "swept": sweep_all(), **check_groups(),
            "queued_too_long": queued_too_long()}


def queued_too_long() -> list[int]:
    """Submitted runs (not group children, whose messages :func:`check_groups` sends again)
    still pending :func:`queued_lease` seconds after their message was sent: no worker took
    them, so their message may be lost (a broker restarted without persistence, a queue
    purged) or no worker serves their queue. Their spec travelled only in that message, so
    they cannot be sent again: each is reported, as a warning and in the pass's result."""
    from django.utils import timezone

    from runwright.integrations.celery.groups import queued_lease

    lease = queued_lease()
    ids = worker_logger().store.find(status=Status.PENDING, parent=None, queued=True,
                                     created_before=timezone.now() - timedelta(seconds=lease))
    for ref in ids:
        log.warning("execution %s: queued more than %gs ago and not taken by any worker: its message may be "
                    "lost, or no worker serves its queue (cancel it, or submit it again)", ref, lease)
    return ids


def sweep_all() -> dict[str, list[str]]:
    """Every registered runner's ``sweep``, judging owners by this worker's store: a tag of
    another store (another deployment on this host) is always active, never touched."""
    store = worker_logger().store
    own_key = store.key

    def is_active(tag: str) -> bool:
        key, ref = split_execution_tag(tag)
        if key != own_key:
            return True  # not ours: leave it
        try:
            status = store.read_fields(ref, "status")["status"]
        except NotFound:
            return False
        except (ValueError, ValidationError):  # not an id of this model: not ours to judge
            return True
        # A run that asked to keep what it started in the background (the local runner's
        # keep_background) owns those processes after its end: they were left on purpose.
        kept = bool((_stored_spec(store, ref).get("options") or {}).get("keep_background"))
        return status in ACTIVE or kept

    swept: dict[str, list[str]] = {}
    for name in available_runners():
        cls = runner_class(name)
        if cls is None:
            continue
        try:
            removed = list(cls.sweep(is_active))
        except RunnerError as exc:  # its backend is not reachable from here (no engine, no cluster)
            log.debug("sweep of runner %r skipped: %s", name, exc)
            continue
        except Exception:
            log.exception("sweep of runner %r failed", name)
            continue
        if removed:
            log.warning("sweep of runner %r removed what crashed runs left: %s", name, removed)
            swept[name] = removed
    return swept


def _stored_spec(store: Any, ref: Any) -> dict[str, Any]:
    """The spec stored on ``ref`` (masked), ``{}`` when the model keeps none."""
    if store.missing_fields("spec"):
        return {}
    try:
        return dict(store.read_fields(ref, "spec")["spec"] or {})
    except NotFound:
        return {}


def reaper_loop() -> None:
    """In the worker's main process: a pass at start, then every third of the lease."""
    from django.db import connections

    from runwright.integrations.celery.app import lease_seconds

    interval = max(0.5, min(30.0, lease_seconds() / 3))
    while True:
        try:
            done = reap_once()
            if done["lost"] or done["swept"]:
                log.warning("reaper: %s", done)
        except Exception:
            log.exception("reaper pass failed")
            connections.close_all()
        time.sleep(interval)


__all__ = ["reap_once", "reaper_loop", "sweep_all"]
