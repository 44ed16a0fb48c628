"""The vocabulary of work that can outlive the process that started it: whether it is still
alive, what to do with it when its worker dies, and what a stop achieved."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Liveness(StrEnum):
    """What ``Runner.probe(handle)`` found."""

    ALIVE = "alive"
    GONE = "gone"
    #: The runner cannot tell (another host, an engine that does not answer).
    UNKNOWN = "unknown"


class OnWorkerLost(StrEnum):
    """A runner's declared policy for its runs when the worker running them dies."""

    #: Remote work that outlives the worker: another worker follows it (``Runner.resume``).
    REATTACH = "reattach"
    #: Stop it through its handle (``Runner.stop_handle``) and mark the run ``lost``.
    STOP = "stop"


@dataclass
class Stop:
    """What ``terminate`` or ``stop_handle`` achieved.

    ``confirmed`` is True only when the runner knows the work is gone (the process was
    reaped, the engine reports the container stopped). An unconfirmed stop is said in the
    run's result (its error, and ``metadata["stop_confirmed"] = False``) and left to the sweep.
    """

    confirmed: bool
    #: A short sentence for the run's error message: "sent SIGTERM, then SIGKILL after 5s".
    detail: str


__all__ = ["Liveness", "OnWorkerLost", "Stop"]


#: The key under which a run's own policy is kept in its handle (see ``policy_of``).
POLICY_KEY = "on_worker_lost"


def policy_of(handle: object, default: OnWorkerLost) -> OnWorkerLost:
    """The policy a run chose (its runner's ``on_worker_lost`` option, kept in its handle by
    the base class), else ``default`` (the runner's declared ``on_worker_lost``)."""
    value = handle.get(POLICY_KEY) if isinstance(handle, dict) else None
    return OnWorkerLost(value) if value in {p.value for p in OnWorkerLost} else default
