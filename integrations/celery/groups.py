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
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from integrations.django import setup
from runners.spec import RunSpec, SpecError
from runners.status import TERMINAL, Status

POLICIES = ("wait_all", "fail_fast", "wait_any")


def submit_group(
    specs: Sequence[RunSpec], max_parallel: int | None = None, policy: str = "wait_all", *, queue: str | None = None,
    name: str = "",
) -> int:
    """Record a group and its children, queue the first ``max_parallel``; returns the
    parent's id."""
    if policy not in POLICIES:
        raise SpecError("policy", f"expected one of {', '.join(POLICIES)}, got {policy!r}")
    if not specs:
        raise SpecError("specs", "a group needs at least one run")
    max_parallel = max_parallel or len(specs)
    if max_parallel < 1:
        raise SpecError("max_parallel", "must be at least 1")
    setup()
    from django.utils import timezone

    from integrations.celery.control import _logger
    from integrations.django.models import Execution

    logger = _logger()
    parent = Execution.objects.create(
        runner="group", status=Status.RUNNING.value, command=name or f"group of {len(specs)} ({policy})",
        spec={"group": {"policy": policy, "max_parallel": max_parallel, "size": len(specs), "queue": queue}},
        started_at=timezone.now(),
    )
    ids = [logger.create(spec, parent.pk) for spec in specs]
    advance_group(parent.pk, {str(i): spec.to_dict(redact=False) for i, spec in zip(ids, specs, strict=True)})
    return int(parent.pk)


def advance_group(parent_id: Any, specs: dict[str, dict[str, Any]] | None = None) -> Status:
    """Apply the policy, queue what may start, and end the group when all children ended.
    Safe to call from any number of processes at once: every write is conditional.

    ``specs`` are the children's unmasked specs by id. The stored specs are masked, so the
    specs travel in the children's messages: whoever handles a child's message (runs it, or
    finds it cancelled) advances the group with them. Without them nothing new is queued."""
    from integrations.celery.control import _logger, enqueue
    from integrations.django.models import Execution

    logger = _logger()
    parent = Execution.objects.get(pk=parent_id)
    if parent.status in TERMINAL:
        return Status(parent.status)
    group = parent.spec.get("group", {})
    policy, max_parallel = group.get("policy", "wait_all"), int(group.get("max_parallel", 1))
    children = list(Execution.objects.filter(parent_id=parent_id).order_by("id").values("id", "status", "task_id"))
    ended = [c for c in children if c["status"] in TERMINAL]
    succeeded = any(c["status"] == Status.SUCCESS for c in ended)
    unsuccessful = any(c["status"] != Status.SUCCESS for c in ended)

    stop_reason = None
    if parent.cancel_requested:
        stop_reason = "the group was cancelled"
    elif policy == "fail_fast" and unsuccessful:
        stop_reason = "a run in the group did not succeed (fail_fast)"
    elif policy == "wait_any" and succeeded:
        stop_reason = "another run in the group succeeded (wait_any)"

    if stop_reason:
        for child in children:
            if child["status"] == Status.RUNNING:
                Execution.objects.filter(pk=child["id"]).update(cancel_requested=True)
            elif child["status"] == Status.PENDING:
                logger.cancel_execution(child["id"], f"not started: {stop_reason}")
    else:
        busy = sum(1 for c in children if c["status"] == Status.RUNNING or (c["status"] == Status.PENDING and c["task_id"]))
        waiting = [c for c in children if c["status"] == Status.PENDING and not c["task_id"]]
        if specs:
            for child in waiting[: max(0, max_parallel - busy)]:
                enqueue(child["id"], RunSpec.from_dict(specs[str(child["id"])]), queue=group.get("queue"),
                        siblings=specs)
        elif waiting and not busy:
            # Only messages carry the specs, and no child is left to bring them (the last
            # one was lost with its worker): the rest cannot be queued. Say so, do not stall.
            for child in waiting:
                logger.transition(child["id"], Status.ERROR, {
                    "error_message": "not queued: the group's other runs were lost with their worker, "
                                     "and the unmasked spec travels only in their messages"}, "group")

    children = list(Execution.objects.filter(parent_id=parent_id).values("status"))
    if children and all(c["status"] in TERMINAL for c in children):
        statuses = [c["status"] for c in children]
        if parent.cancel_requested:
            final = Status.CANCELLED
        elif policy == "wait_any":
            final = Status.SUCCESS if Status.SUCCESS in statuses else Status.FAILED
        else:
            final = Status.SUCCESS if all(s == Status.SUCCESS for s in statuses) else Status.FAILED
        summary = ", ".join(f"{n} {s}" for s, n in sorted(_count(statuses).items()))
        from django.utils import timezone

        logger.transition(parent_id, final, {"completed_at": timezone.now(),
                                                      "error_message": "" if final == Status.SUCCESS else summary}, "group")
        return final
    return Status.RUNNING


def _count(values: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out
