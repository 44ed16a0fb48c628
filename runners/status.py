"""The status vocabulary of a run: values, legal transitions, and the sets callers need.

Terminal states are final; the store refuses any transition out of them, so a late
writer can never turn a cancelled run back into a success.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    ERROR = "error"
    LOST = "lost"


#: States a run never leaves.
TERMINAL: frozenset[Status] = frozenset(
    {Status.SUCCESS, Status.FAILED, Status.TIMEOUT, Status.CANCELLED, Status.ERROR, Status.LOST}
)
#: States of a run that is not finished yet.
ACTIVE: frozenset[Status] = frozenset({Status.PENDING, Status.RUNNING})

#: Legal transitions: from-state -> the states it may move to.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.PENDING: frozenset({Status.RUNNING, Status.CANCELLED, Status.ERROR}),
    Status.RUNNING: TERMINAL,
}


def sources_of(target: Status) -> frozenset[Status]:
    """The states from which ``target`` may be reached (used for conditional updates)."""
    return frozenset(src for src, dests in TRANSITIONS.items() if target in dests)


def can_transition(current: Status, target: Status) -> bool:
    return target in TRANSITIONS.get(current, frozenset())

