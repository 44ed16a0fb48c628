"""What happens to a run whose worker died: re-attach to it, or stop it and mark it ``lost``.

A run's Celery message is acknowledged late and handed back when its worker dies, so the
message comes back (to this worker or another) while the execution's row still says
``running``. Whoever gets it, and the reaper, decide here, per the runner's declared policy
(``Runner.on_worker_lost``) and what its ``probe(handle)`` says:

- REATTACH and the work is ALIVE: take the run over with one conditional UPDATE (worker and
  heartbeat, only while the dead worker still owns it) and follow the work to its end with
  ``runner.resume``, into the same execution.
- otherwise: take the run over the same way, stop the work through ``stop_handle``, and mark
  the run ``lost``, saying whether the stop was confirmed.

Taking the run over first makes the decision exclusive: the reaper and a redelivered message
racing on the same run never both act on it. Runners are found through the registry only.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from runwright.logging_core import ExecutionLogger, ExecutionView
from runwright.runners import Liveness, OnWorkerLost, Runner, RunResult, RunSpec, Status
from runwright.runners.hooks import policy_of
from runwright.runners.process_identity import ProcessIdentity
from runwright.runners.registry import get_runner_class

log = logging.getLogger("runwright.recovery")


# -- settings --------------------------------------------------------------------------------
def reattach_window() -> float:
    """Seconds after a run's lease expired during which the reaper leaves a run it could
    re-attach to (REATTACH policy, work alive) for its redelivered message; then it is stopped
    and marked lost. RUNWRIGHT_REATTACH_WINDOW; by default a little more than the time the
    broker takes to hand an unacknowledged message back (Redis: its visibility timeout)."""
    from runwright.integrations.settings import env_seconds

    if os.environ.get("RUNWRIGHT_REATTACH_WINDOW", "").strip():
        return env_seconds("RUNWRIGHT_REATTACH_WINDOW", 300.0)
    from runwright.integrations.celery.app import broker_url

    if broker_url().startswith(("redis://", "rediss://")):
        return env_seconds("RUNWRIGHT_VISIBILITY_TIMEOUT", 3600.0) + 60
    return 300.0


# -- is the worker gone? -----------------------------------------------------------------------
def gone_reason(view: ExecutionView, lease: float, now: datetime) -> str | None:
    """Why the worker recorded on a running execution is gone, or None when it may be alive.

    A worker process that is provably local (recorded under this boot, in this pid namespace,
    see :mod:`runwright.runners.process_identity`) is gone as soon as its process no longer
    runs (a reused pid is told apart by its start time). Any other worker (another machine, a
    container sharing this hostname, an identity stored as ``host:pid``) is judged by its
    lease alone: gone when its heartbeat is older than ``lease`` seconds."""
    identity = ProcessIdentity.parse(view.worker)
    dead = identity.gone() if identity is not None else None
    if dead is not None:
        return f"worker {view.worker} is gone ({dead})"
    if view.heartbeat_at is not None and view.heartbeat_at < now - timedelta(seconds=lease):
        return (f"worker {view.worker or '?'} sent no heartbeat since {view.heartbeat_at:%Y-%m-%d %H:%M:%S} "
                f"(lease {lease:g}s)")
    return None


def local_workers_gone(rows: Iterable[tuple[Any, str]]) -> list[Any]:
    """The ids among ``(id, worker)`` whose worker is provably local and no longer runs."""
    gone = []
    for ref, worker in rows:
        identity = ProcessIdentity.parse(worker)
        if identity is not None and identity.gone() is not None:
            gone.append(ref)
    return gone


# -- the decision ------------------------------------------------------------------------------
def runner_class(name: str) -> type[Runner] | None:
    """The registered runner class, or None (logged) when it cannot be loaded here."""
    try:
        return get_runner_class(name)
    except Exception as exc:
        log.warning("runner %r cannot be loaded here: %s: %s", name, type(exc).__name__, exc)
        return None


def probe(cls: type[Runner], handle: Mapping[str, Any] | None) -> Liveness:
    """The runner's answer, UNKNOWN when there is no handle or the probe itself failed."""
    if not handle:
        return Liveness.UNKNOWN
    try:
        return Liveness(cls.probe(handle))
    except Exception:
        log.exception("probe of %s by runner %r failed", dict(handle), cls.name)
        return Liveness.UNKNOWN


def can_reattach(cls: type[Runner] | None, view: ExecutionView) -> bool:
    return (cls is not None and policy_of(view.handle, cls.on_worker_lost) == OnWorkerLost.REATTACH
            and cls.can_attach() and bool(view.handle)
            and probe(cls, view.handle) == Liveness.ALIVE)


def run_or_take_over(
    logger: ExecutionLogger, ref: Any, spec: RunSpec, cancel: Any, worker: str, lease: float | None = None,
) -> RunResult:
    """Run pending execution ``ref``; when it is already ``running`` and its worker is gone
    (this is the redelivered message of a run whose worker died), re-attach to the work or
    stop it and mark it lost, per the runner's policy. Otherwise (it ended, or a live worker
    has it) nothing runs and its recorded state is returned."""
    result = logger.run(spec, ref, cancel=cancel, worker=worker)
    if result.status != Status.RUNNING:  # ran here, or already over: the usual case
        return result
    from django.utils import timezone

    from runwright.integrations.celery.app import lease_seconds

    view = logger.get(ref)
    why = gone_reason(view, lease_seconds() if lease is None else lease, timezone.now())
    if view.status != Status.RUNNING or why is None:
        return logger.result_of(ref)
    cls = runner_class(view.runner)
    if can_reattach(cls, view):
        note = f"[runwright] re-attached by worker {worker}: {why}. The work went on meanwhile; {_gap_note(view)}"
        resumed = logger.resume(spec, ref, from_worker=view.worker, worker=worker, cancel=cancel, note=note)
        if resumed is not None:
            log.warning("execution %s re-attached by %s (%s)", ref, worker, why)
            return resumed
        return logger.result_of(ref)  # the reaper or another worker was first
    stop_and_mark_lost(logger, view, why, cls, worker, grace=spec.grace_period)
    return logger.result_of(ref)


def _gap_note(view: ExecutionView) -> str:
    """What the log may lack or repeat around the takeover."""
    since = f", last heartbeat at {view.heartbeat_at:%Y-%m-%d %H:%M:%S}" if view.heartbeat_at else ""
    return ("runwright keeps what was stored and appends after it; output the work wrote "
            f"after the lost worker's last stored batch{since} and before this re-attach may be "
            "missing, and is repeated only if the runner replays it")


def stop_and_mark_lost(
    logger: ExecutionLogger, view: ExecutionView, why: str, cls: type[Runner] | None, me: str,
    grace: float = 10.0, source: str = "worker",
) -> bool:
    """Take the run over from its dead worker (so nobody re-attaches meanwhile), stop the work
    through its handle, and mark the run ``lost`` with whether the stop was confirmed. False
    when someone else took the run first."""
    from django.utils import timezone

    if not logger.store.take_over(view.id, view.worker, me):
        return False
    stop_note, confirmed = "", None
    if cls is None:
        stop_note = f"; runner {view.runner!r} cannot be loaded here, its work was not stopped (left to the sweep)"
    elif not view.handle:
        stop_note = "; no handle was reported, nothing to stop through it (left to the sweep)"
    else:
        try:
            stop = cls.stop_handle(view.handle, grace)
            confirmed, detail = bool(stop.confirmed), stop.detail
        except Exception as exc:
            log.exception("stop_handle of execution %s failed", view.id)
            confirmed, detail = False, f"{type(exc).__name__}: {exc}"
        stop_note = (f"; stopped through its handle: {detail}" if confirmed
                     else f"; stop not confirmed: {detail} (left to the sweep)")
    values: dict[str, Any] = {"completed_at": timezone.now(), "error_message": logger.redactor.text(f"lost: {why}{stop_note}")}
    if confirmed is not None:
        values["result"] = {"metadata": {**(view.result or {}).get("metadata", {}), "stop_confirmed": confirmed}}
    if not logger.transition(view.id, Status.LOST, values, source, expect={"worker": me}):
        return False
    try:  # nothing re-attaches to a lost run: the secrets it learned go
        logger.store.forget_secrets(view.id)
    except Exception:
        log.exception("execution %s: could not delete the secrets it learned", view.id)
    log.warning("execution %s lost: %s%s", view.id, why, stop_note)
    _advance_parent(view.id)
    return True


def _advance_parent(ref: Any) -> None:
    from runwright.integrations.celery.groups import advance_group, parent_of

    parent = parent_of(ref)
    if parent:
        advance_group(parent)


__all__ = ["can_reattach", "gone_reason", "local_workers_gone", "reattach_window", "run_or_take_over", "stop_and_mark_lost"]
