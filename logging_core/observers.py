"""Observers of what the ExecutionLogger records: a structured log line per state change,
Prometheus metrics, and whatever a user plugs in (the web UI's notifier, tracing, a hook).

The hook interface (every method optional; subclass :class:`BaseObserver`):

- ``on_status(execution_id, old, new, info)``: a status change was applied. ``old`` is the
  previous status (None only when it could not be known), ``info`` holds what is known
  cheaply: ``runner``, ``worker``, ``queue_wait`` (seconds, on pending -> running),
  ``error_message``, ``return_code``, ``signal``.
- ``on_refused(execution_id, current, attempted, source)``: the status model refused a change.
- ``on_output(execution_id, stream, nbytes)``: output arrived (before it is stored).
- ``on_stored(execution_id, log_end, last_event)``: output up to byte ``log_end`` and events
  up to number ``last_event`` are now in the store: a follower may read them by offset.
- ``on_finished(execution_id, result)``: the runner's RunResult, after the final status write.

Observers get already-redacted data. An observer that raises is logged and skipped: it
must never change what is recorded. They run on the recording thread: hand slow work off.

Observers every ExecutionLogger gets: :func:`register_observer` (a factory called once per
logger), or ``RUNWRIGHT_OBSERVERS="pkg.module:factory,..."`` in the environment.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from runwright.runners.result import RunResult
from runwright.runners.status import TERMINAL, Status

log = logging.getLogger("runwright.observers")


class Observer(Protocol):
    def on_status(self, execution_id: Any, old: Status | None, new: Status, info: Mapping[str, Any]) -> None: ...

    def on_refused(self, execution_id: Any, current: Status, attempted: Status, source: str) -> None: ...

    def on_output(self, execution_id: Any, stream: str, nbytes: int) -> None: ...

    def on_stored(self, execution_id: Any, log_end: int, last_event: int) -> None: ...

    def on_finished(self, execution_id: Any, result: RunResult) -> None: ...


class BaseObserver:
    """Does nothing; subclass it and override what you need."""

    def on_status(self, execution_id: Any, old: Status | None, new: Status, info: Mapping[str, Any]) -> None:
        pass

    def on_refused(self, execution_id: Any, current: Status, attempted: Status, source: str) -> None:
        pass

    def on_output(self, execution_id: Any, stream: str, nbytes: int) -> None:
        pass

    def on_stored(self, execution_id: Any, log_end: int, last_event: int) -> None:
        pass

    def on_finished(self, execution_id: Any, result: RunResult) -> None:
        pass


class StructuredLogObserver(BaseObserver):
    """One JSON line per state change on the ``runwright.executions`` logger: ``execution_id``,
    ``runner``, ``status``, ``previous_status`` and what else is known (worker, error)."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._stdlib = logger or logging.getLogger("runwright.executions")
        self._wrapped: Any = None

    @property
    def _log(self) -> Any:
        """The structlog logger, made on first use: a command line that logs nothing does
        not import structlog (about 25 ms of its start-up)."""
        if self._wrapped is None:
            import structlog

            self._wrapped = structlog.wrap_logger(
                self._stdlib,
                processors=[
                    structlog.stdlib.filter_by_level,  # render nothing for a level that is off
                    structlog.processors.add_log_level,
                    structlog.processors.TimeStamper(fmt="iso", utc=True),
                    structlog.processors.JSONRenderer(sort_keys=True),
                ],
                wrapper_class=structlog.stdlib.BoundLogger,
            )
        return self._wrapped

    def on_status(self, execution_id: Any, old: Status | None, new: Status, info: Mapping[str, Any]) -> None:
        if not self._stdlib.isEnabledFor(logging.INFO):
            return  # what filter_by_level would drop, dropped before structlog is needed
        extra = {k: v for k, v in info.items() if k not in ("runner",)}
        self._log.info("execution.status", execution_id=execution_id, runner=info.get("runner"),
                       status=str(new), previous_status=old and str(old), **extra)

    def on_refused(self, execution_id: Any, current: Status, attempted: Status, source: str) -> None:
        if not self._stdlib.isEnabledFor(logging.WARNING):
            return
        self._log.warning(
            "execution.transition_refused", execution_id=execution_id, status=str(current),
            attempted=str(attempted), source=source,
        )


#: Buckets for run durations and queue waits, in seconds.
DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, float("inf"))
QUEUE_BUCKETS = (0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 600, float("inf"))


class MetricsObserver(BaseObserver):
    """Prometheus metrics labelled by runner (and status where it applies):

    - ``runwright_runs_total{runner,status}``: runs that reached a final status;
    - ``runwright_run_duration_seconds{runner,status}``: histogram of run durations;
    - ``runwright_runs_running{runner}``: runs this process is running now;
    - ``runwright_output_bytes_total{runner,stream}``: output received;
    - ``runwright_queue_wait_seconds{runner}``: histogram of pending -> running waits;
    - ``runwright_transitions_refused_total``: status changes the state model refused.

    One set per process (prometheus_client's default registry); every ExecutionLogger's
    observer shares it."""

    _metrics: dict[str, Any] = {}
    _init_lock = threading.Lock()

    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        with MetricsObserver._init_lock:
            m = MetricsObserver._metrics
            if not m:  # prometheus refuses duplicate names
                m["runs"] = Counter("runwright_runs", "Runs that reached a final status", ["runner", "status"])
                m["duration"] = Histogram("runwright_run_duration_seconds", "Run duration", ["runner", "status"],
                                          buckets=DURATION_BUCKETS)
                m["running"] = Gauge("runwright_runs_running", "Runs running", ["runner"], multiprocess_mode="livesum")
                m["output"] = Counter("runwright_output_bytes", "Output bytes received", ["runner", "stream"])
                m["queue"] = Histogram("runwright_queue_wait_seconds", "Wait from submission to start", ["runner"],
                                       buckets=QUEUE_BUCKETS)
                m["refused"] = Counter("runwright_transitions_refused", "Status changes refused by the state model")
        self.m = m
        self._runner: dict[Any, str] = {}  # runs running here -> runner
        self._ended: dict[Any, str] = {}  # runs that ended here, until their on_finished
        self._lock = threading.Lock()

    def on_status(self, execution_id: Any, old: Status | None, new: Status, info: Mapping[str, Any]) -> None:
        runner = str(info.get("runner") or self._runner.get(execution_id) or "unknown")
        if new == Status.RUNNING:
            with self._lock:
                if execution_id in self._runner:
                    return
                self._runner[execution_id] = runner
            self.m["running"].labels(runner).inc()
            if info.get("queue_wait") is not None:
                self.m["queue"].labels(runner).observe(max(0.0, float(info["queue_wait"])))
        elif new in TERMINAL:
            self.m["runs"].labels(runner, str(new)).inc()
            self._leave(execution_id)

    def _leave(self, execution_id: Any) -> None:
        with self._lock:
            runner = self._runner.pop(execution_id, None)
            if runner is not None:  # its runner stays known until on_finished
                self._ended[execution_id] = runner
        if runner is not None:
            self.m["running"].labels(runner).dec()

    def on_refused(self, execution_id: Any, current: Status, attempted: Status, source: str) -> None:
        self.m["refused"].inc()

    def on_output(self, execution_id: Any, stream: str, nbytes: int) -> None:
        self.m["output"].labels(self._runner.get(execution_id, "unknown"), stream).inc(nbytes)

    def on_finished(self, execution_id: Any, result: RunResult) -> None:
        self._leave(execution_id)  # also when the final write was refused (cancelled meanwhile)
        with self._lock:
            runner = self._ended.pop(execution_id, "unknown")
        if result.duration is not None:
            self.m["duration"].labels(runner, str(result.status)).observe(result.duration)


_factories: list[Callable[[], Any]] = []
_env_loaded: str | None = None


def register_observer(factory: Callable[[], Any]) -> None:
    """Give every ExecutionLogger created from now on in this process an observer made by
    ``factory()`` (a class or a function). Registering the same factory twice adds it once."""
    if factory not in _factories:
        _factories.append(factory)


def unregister_observer(factory: Callable[[], Any]) -> None:
    if factory in _factories:
        _factories.remove(factory)


def registered_observers() -> list[Any]:
    """One new observer per registered factory (and per ``RUNWRIGHT_OBSERVERS`` entry)."""
    global _env_loaded
    spec = os.environ.get("RUNWRIGHT_OBSERVERS", "")
    if spec != _env_loaded:
        _env_loaded = spec
        for entry in filter(None, (e.strip() for e in spec.split(","))):
            module, _, name = entry.partition(":")
            try:
                register_observer(getattr(importlib.import_module(module), name))
            except (ImportError, AttributeError) as exc:
                log.error("RUNWRIGHT_OBSERVERS: cannot load %r: %s", entry, exc)
    out = []
    for factory in list(_factories):
        try:
            out.append(factory())
        except Exception:
            log.exception("observer factory %r failed", factory)
    return out


def notify(observers: list[Any], method: str, *args: Any) -> None:
    for obs in observers:
        fn = getattr(obs, method, None)
        if fn is None:  # an observer written before this hook existed
            continue
        try:
            fn(*args)
        except Exception:
            log.exception("observer %r failed in %s", obs, method)
