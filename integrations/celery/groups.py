"""Parallel groups, as CI/CD platforms run stages.

A group is a parent execution (runner ``group``) with children. At most ``max_parallel``
children are queued or running at once; each child that ends advances the group, so no
worker slot is spent waiting on the others. The parent's status follows from its children:

- ``wait_all``: every child runs; the group succeeds when all succeed, else it failed.
- ``fail_fast``: as wait_all, but the first child that does not succeed cancels the running
  ones for real and the ones not started are marked cancelled; the group failed.
- ``wait_any``: the first child that succeeds ends the group as a success and cancels the
  rest; when none succeeds the group failed.
- A group cancelled by request ends ``cancelled`` once its children have stopped.
- A group with a ``timeout`` (seconds from its start) that runs past it: its running
  children are stopped, the rest cancelled, and the group ends ``timeout``.

Each child's unmasked spec is stored sealed (encrypted) on its own row; a child's message
carries only its id, so a group of any size puts a few hundred bytes per child on the
broker and no secret in clear anywhere at rest. Whoever ends a child (its worker, a cancel,
the reaper) advances the group; a child whose message could not be sent is recorded
``error`` and the group moves on; the reaper's pass (:func:`check_groups`) applies timeouts
and sends again messages of queued children that no worker took within
``RUNWRIGHT_QUEUED_LEASE`` seconds (the claim makes a duplicate harmless).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from runwright.integrations.celery.worker_logger import require_groups
from runwright.integrations.django import setup
from runwright.logging_core.store import QUEUED, NotFound
from runwright.runners.spec import RunSpec, SpecError
from runwright.runners.status import TERMINAL, Status

POLICIES = ("wait_all", "fail_fast", "wait_any")
#: A group's size bound: every child is recorded at once.
MAX_RUNS = 10_000
#: The longest group name (it is the parent's command line, shown in lists).
MAX_NAME = 200
log = logging.getLogger("runwright.celery")


def check_group(specs: Sequence[RunSpec], max_parallel: int | None, policy: str, name: str,
                timeout: float | None) -> None:
    """A group's declared bounds, checked before anything is recorded: 1 to MAX_RUNS runs,
    ``max_parallel`` None (no limit) or 1 to the number of runs, a known policy, a name of
    at most MAX_NAME characters of UTF-8 text without NUL, a timeout of up to 30 days.
    Raises SpecError naming the field."""
    from runwright.runners.spec import MAX_DURATION, printable

    if not specs:
        raise SpecError("runs", "is empty: a group needs at least one run")
    if len(specs) > MAX_RUNS:
        raise SpecError("runs", f"holds {len(specs)} runs; a group holds at most {MAX_RUNS}")
    if policy not in POLICIES:
        raise SpecError("policy", f"must be one of {', '.join(POLICIES)}, got {printable(str(policy))[:40]!r}")
    if max_parallel is not None and (isinstance(max_parallel, bool) or not isinstance(max_parallel, int)
                                     or not 1 <= max_parallel <= len(specs)):
        raise SpecError("max_parallel", f"must be between 1 and the number of runs ({len(specs)}), "
                                        f"got {max_parallel!r}; leave it out for no limit"[:200])
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                or not 0 < timeout <= MAX_DURATION):
        raise SpecError("timeout", f"must be a positive number of seconds up to {MAX_DURATION:.0f} (30 days), "
                                   f"got {timeout!r}"[:200])
    if not isinstance(name, str):
        raise SpecError("name", f"must be a string, got {type(name).__name__}")
    if "\x00" in name:
        raise SpecError("name", "contains a NUL byte")
    if printable(name) != name:
        raise SpecError("name", "is not valid UTF-8 text")
    if len(name) > MAX_NAME:
        raise SpecError("name", f"is {len(name)} characters long; at most {MAX_NAME}")


def submit_group(
    specs: Sequence[RunSpec], max_parallel: int | None = None, policy: str = "wait_all", *, queue: str | None = None,
    name: str = "", timeout: float | None = None,
) -> Any:
    """Record a group and its children, queue the first ``max_parallel``; returns the
    parent's id. ``max_parallel`` None: no limit. ``timeout``: seconds the whole group may
    take. Raises SpecError naming the field for anything outside :func:`check_group`'s bounds,
    before anything is recorded."""
    check_group(specs, max_parallel, policy, name, timeout)
    max_parallel = max_parallel or len(specs)
    setup()
    from runwright.integrations.celery.app import celery_app

    celery_app()  # an app or broker setting that cannot work fails before the group is recorded
    from contextlib import nullcontext

    from django.utils import timezone

    from runwright.integrations.celery.control import _logger, wire_id
    from runwright.integrations.celery.sealed import seal

    logger = _logger()
    store = logger.store
    require_groups(store)  # before anything is recorded: a model without parent or sealed spec keeps no group
    with getattr(store, "atomic", nullcontext)():
        parent = store.create({
            "runner": "group", "command": name or f"group of {len(specs)} ({policy})",
            "spec": {"group": {"policy": policy, "max_parallel": max_parallel, "size": len(specs), "queue": queue,
                               "timeout": timeout}},
            "started_at": timezone.now(),
        }, Status.RUNNING)
        for spec in specs:
            logger.create(spec, parent, sealed_spec=seal(spec))  # one INSERT a child
    advance_group(parent)
    return wire_id(parent)


def parent_of(ref: Any) -> Any:
    """The group ``ref`` belongs to, None for a run of no group (or a model without groups)."""
    from runwright.integrations.celery.control import _logger

    store = _logger().store
    if store.missing_fields("parent_id"):
        return None
    try:
        return store.read_fields(ref, "parent_id")["parent_id"]
    except NotFound:
        return None


def advance_group(parent_id: Any, specs: Any = None) -> Status:
    """Apply the policy and the timeout, queue what may start, and end the group when all
    children ended. Safe to call from any number of processes at once: every write is
    conditional. Each call costs a few queries whatever the group's size: the children are
    counted per status in the database, and only those to queue or stop are read. (``specs``
    is accepted for callers of the old signature and ignored: the specs are stored.)"""
    from django.utils import timezone

    from runwright.integrations.celery.control import _logger, enqueue

    logger = _logger()
    store = logger.store
    parent = store.read_fields(parent_id, "status", "spec", "started_at", "cancel_requested")
    if parent["status"] in TERMINAL:
        return parent["status"]  # type: ignore[no-any-return]
    group = (parent["spec"] or {}).get("group", {})
    policy, max_parallel = group.get("policy", "wait_all"), int(group.get("max_parallel", 1))
    timeout = group.get("timeout")
    started = parent["started_at"]
    timed_out = bool(timeout and started and timezone.now() >= started + timedelta(seconds=timeout))

    while True:  # a child that could not be queued is recorded, and the next one tried
        # Children that ended without running (cancelled while pending) keep no sealed spec.
        store.drop_sealed_specs(parent_id)
        counts = store.child_counts(parent_id)
        ended = _ended(counts)
        succeeded = ended.get(Status.SUCCESS.value, 0) > 0
        unsuccessful = any(n for s, n in ended.items() if s != Status.SUCCESS.value)

        stop_reason = None
        if parent["cancel_requested"]:
            stop_reason = "the group was cancelled"
        elif timed_out:
            stop_reason = f"the group ran past its timeout of {timeout:g}s"
        elif policy == "fail_fast" and unsuccessful:
            stop_reason = "a run in the group did not succeed (fail_fast)"
        elif policy == "wait_any" and succeeded:
            stop_reason = "another run in the group succeeded (wait_any)"

        if stop_reason:
            store.request_cancel(store.find(parent=parent_id, status=Status.RUNNING))
            for ref in store.find(parent=parent_id, status=Status.PENDING):
                if logger.cancel_execution(ref, f"not started: {stop_reason}"):
                    store.update(ref, {"sealed_spec": ""})
            break
        free = max(0, max_parallel - counts.get(Status.RUNNING.value, 0) - counts.get(QUEUED, 0))
        failed_to_queue = False
        for ref in store.find(parent=parent_id, status=Status.PENDING, queued=False, limit=free) if free else []:
            try:
                enqueue(ref, None, queue=group.get("queue"), siblings={"group": int(parent_id)})
            except Exception as exc:
                from runwright.integrations.celery.control import queue_error

                logger.transition(ref, Status.ERROR, {"error_message": queue_error(exc)}, "group")
                failed_to_queue = True
        if not failed_to_queue:
            break

    counts = store.child_counts(parent_id)
    ended = _ended(counts)
    if counts and sum(ended.values()) == sum(counts.values()):
        if parent["cancel_requested"]:
            final = Status.CANCELLED
        elif timed_out:
            final = Status.TIMEOUT
        elif policy == "wait_any":
            final = Status.SUCCESS if Status.SUCCESS.value in ended else Status.FAILED
        else:
            final = Status.SUCCESS if set(ended) == {Status.SUCCESS.value} else Status.FAILED
        summary = ", ".join(f"{n} {s}" for s, n in sorted(ended.items()))
        if timed_out:
            summary = f"timed out after {timeout:g}s: {summary}"
        logger.transition(parent_id, final, {"completed_at": timezone.now(),
                                             "error_message": "" if final == Status.SUCCESS else summary}, "group")
        return final
    return Status.RUNNING


def _ended(counts: dict[str, int]) -> dict[str, int]:
    """Of ``Store.child_counts``, the children that ended, by status value."""
    final = {s.value for s in TERMINAL}
    return {s: n for s, n in counts.items() if s in final}


def queued_lease() -> float:
    """Seconds a queued child may wait for a worker before its message is sent again."""
    from runwright.integrations.settings import env_seconds

    return env_seconds("RUNWRIGHT_QUEUED_LEASE", 600.0)


def check_groups() -> dict[str, list[int]]:
    """The reaper's pass over running groups: apply timeouts, end groups whose children all
    ended, and send again the message of a queued child no worker took within
    :func:`queued_lease` (lost with a broker restart, say). Returns what it found."""
    from django.utils import timezone

    from runwright.integrations.celery.control import _logger, resend

    store = _logger().store
    ended, resent = [], []
    for parent_id in store.find(runner="group", status=Status.RUNNING):
        try:
            if advance_group(parent_id) != Status.RUNNING:
                ended.append(parent_id)
                continue
            stale = store.find(parent=parent_id, status=Status.PENDING, queued=True,
                               heartbeat_before=timezone.now() - timedelta(seconds=queued_lease()))
            for ref in stale:
                log.warning("execution %s of group %s: queued %gs ago and not taken by any worker; sending it again",
                            ref, parent_id, queued_lease())
                if resend(ref, {"group": int(parent_id)}):
                    resent.append(ref)
        except Exception:
            log.exception("group %s: check failed", parent_id)
    return {"groups_ended": ended, "requeued": resent}

