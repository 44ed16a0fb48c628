"""Observers of what the ExecutionLogger records: a structured log line per state change,
Prometheus metrics, and whatever a user plugs in (a WebSocket notifier, a hook).

Observers get already-redacted data. An observer that raises is logged and skipped: it
must never change what is recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

from runners.result import RunResult
from runners.status import Status

log = logging.getLogger("runwright.observers")


class Observer(Protocol):
    def on_status(self, execution_id: Any, old: Status | None, new: Status, info: Mapping[str, Any]) -> None: ...

    def on_refused(self, execution_id: Any, current: Status, attempted: Status, source: str) -> None: ...

    def on_output(self, execution_id: Any, stream: str, nbytes: int) -> None: ...

    def on_finished(self, execution_id: Any, result: RunResult) -> None: ...


class BaseObserver:
    """Does nothing; subclass it and override what you need."""

    def on_status(self, execution_id: Any, old: Status | None, new: Status, info: Mapping[str, Any]) -> None:
        pass

    def on_refused(self, execution_id: Any, current: Status, attempted: Status, source: str) -> None:
        pass

    def on_output(self, execution_id: Any, stream: str, nbytes: int) -> None:
        pass

    def on_finished(self, execution_id: Any, result: RunResult) -> None:
        pass


class StructuredLogObserver(BaseObserver):
    """One JSON line per state change on the ``runwright.executions`` logger."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        import structlog

        self._log = structlog.wrap_logger(
            logger or logging.getLogger("runwright.executions"),
            processors=[
                structlog.stdlib.filter_by_level,  # render nothing for a level that is off
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                structlog.processors.JSONRenderer(sort_keys=True),
            ],
            wrapper_class=structlog.stdlib.BoundLogger,
        )

    def on_status(self, execution_id: Any, old: Status | None, new: Status, info: Mapping[str, Any]) -> None:
        self._log.info("execution.status", execution_id=execution_id, old=old and str(old), new=str(new), **info)

    def on_refused(self, execution_id: Any, current: Status, attempted: Status, source: str) -> None:
        self._log.warning(
            "execution.transition_refused", execution_id=execution_id, current=str(current),
            attempted=str(attempted), source=source,
        )


class MetricsObserver(BaseObserver):
    """Prometheus counters and a duration histogram, labelled by runner and status."""

    _metrics: dict[str, Any] = {}

    def __init__(self, runner_of: Any = None) -> None:
        from prometheus_client import Counter, Histogram

        m = MetricsObserver._metrics
        if not m:  # one set per process: prometheus refuses duplicate names
            m["finished"] = Counter("runwright_runs_finished", "Runs that reached a final status", ["status"])
            m["refused"] = Counter("runwright_transitions_refused", "Status changes refused by the state model")
            m["output"] = Counter("runwright_output_bytes", "Output bytes received", ["stream"])
            m["duration"] = Histogram(
                "runwright_run_duration_seconds", "Run duration",
                buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600),
            )
        self.m = m

    def on_refused(self, execution_id: Any, current: Status, attempted: Status, source: str) -> None:
        self.m["refused"].inc()

    def on_output(self, execution_id: Any, stream: str, nbytes: int) -> None:
        self.m["output"].labels(stream).inc(nbytes)

    def on_finished(self, execution_id: Any, result: RunResult) -> None:
        self.m["finished"].labels(str(result.status)).inc()
        if result.duration is not None:
            self.m["duration"].observe(result.duration)


def notify(observers: list[Any], method: str, *args: Any) -> None:
    for obs in observers:
        try:
            getattr(obs, method)(*args)
        except Exception:
            log.exception("observer %r failed in %s", obs, method)
