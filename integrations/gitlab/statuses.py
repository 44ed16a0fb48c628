"""GitLab pipeline and job statuses, with one explicit table each (GitLab REST API v4)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from runwright.runners import Exit, Status

#: Pipeline and job statuses that are not over yet, and what each waits for.
ACTIVE: dict[str, str] = {
    "created": "created",
    "waiting_for_resource": "waiting for a resource",
    "preparing": "preparing a runner",
    "pending": "waiting for a runner",
    "running": "running",
    "scheduled": "waiting for a delayed job's time",
    "manual": "waiting for someone to start a manual job",
    "canceling": "being cancelled",
}
#: Statuses that are over, and the run's status for a pipeline that ended so (``canceled``
#: depends on who cancelled it: see ``exit_for``).
FINISHED: dict[str, tuple[Status, str | None]] = {
    "success": (Status.SUCCESS, None),
    "failed": (Status.FAILED, "the pipeline failed"),
    "canceled": (Status.FAILED, "the pipeline was canceled on the server"),
    "skipped": (Status.FAILED, "the pipeline was skipped: no job ran"),
}
#: Job statuses whose trace is worth reading (the job has run or runs now).
TRACED = frozenset({"running", "success", "failed", "canceled", "canceling"})


def latest_attempts(jobs: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Each job's latest attempt, in id order: a job retried (by ``retry:`` or by hand) is a
    new job of the same name with a higher id, and only that one says how the job ended."""
    latest: dict[str, Mapping[str, Any]] = {}
    for job in sorted(jobs, key=lambda j: int(j["id"])):
        latest[str(job.get("name"))] = job
    return sorted(latest.values(), key=lambda j: int(j["id"]))


def is_finished(status: str) -> bool:
    return status in FINISHED


def exit_for(status: str, *, stopped_by_us: bool, failed_jobs: list[str], allowed: list[str],
             metadata: dict[str, object]) -> Exit:
    """How a pipeline that is over ended; an unknown status is an ``error`` naming it."""
    metadata = {**metadata, "status": status, "failed_jobs": failed_jobs, "allowed_failures": allowed}
    if status == "canceled" and stopped_by_us:
        return Exit(status=Status.CANCELLED, reason="the pipeline was cancelled on request", metadata=metadata)
    known = FINISHED.get(status)
    if known is None:
        return Exit(error=f"GitLab reported a pipeline status this runner does not know: {status!r}", metadata=metadata)
    run_status, reason = known
    if status == "failed" and failed_jobs:
        reason = f"the pipeline failed: job{'s' if len(failed_jobs) > 1 else ''} {', '.join(failed_jobs)} failed"
    return Exit(status=run_status, reason=reason, metadata=metadata)


__all__ = ["ACTIVE", "FINISHED", "TRACED", "exit_for", "is_finished", "latest_attempts"]
