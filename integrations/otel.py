"""OpenTelemetry tracing through the observer hook interface: one span per execution.

    from runwright.integrations.otel import TracingObserver
    from runwright.logging_core.observers import register_observer
    register_observer(TracingObserver)          # every ExecutionLogger of this process

or ``RUNWRIGHT_OBSERVERS=runwright.integrations.otel:TracingObserver``. Needs the ``otel``
extra (``opentelemetry-sdk``); configure a TracerProvider and exporter as usual.

The span ``runwright.run`` starts when the run starts (pending -> running) and ends at its
final status, with attributes ``runwright.execution_id``, ``runwright.runner``,
``runwright.status``, ``runwright.previous_status``, ``runwright.queue_wait_s``,
``runwright.exit_code``, ``runwright.worker``; a failed, timed-out, lost or error run sets
the span's status to ERROR with the run's error message (already masked).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from runwright.logging_core.observers import BaseObserver
from runwright.runners.result import RunResult
from runwright.runners.status import TERMINAL, Status


class TracingObserver(BaseObserver):
    def __init__(self, tracer_provider: Any = None) -> None:
        from opentelemetry import trace

        self._trace = trace
        self._tracer = trace.get_tracer("runwright", tracer_provider=tracer_provider)
        self._spans: dict[Any, Any] = {}
        self._lock = threading.Lock()

    def on_status(self, execution_id: Any, old: Status | None, new: Status, info: Mapping[str, Any]) -> None:
        if new == Status.RUNNING:
            span = self._tracer.start_span("runwright.run", attributes={
                "runwright.execution_id": str(execution_id), "runwright.runner": str(info.get("runner") or ""),
                "runwright.worker": str(info.get("worker") or ""),
            })
            if info.get("queue_wait") is not None:
                span.set_attribute("runwright.queue_wait_s", float(info["queue_wait"]))
            with self._lock:
                self._spans[execution_id] = span
            return
        if new not in TERMINAL:
            return
        with self._lock:
            span = self._spans.pop(execution_id, None)
        if span is None:  # ended before it started here (a pending run cancelled): a short span
            span = self._tracer.start_span("runwright.run", attributes={
                "runwright.execution_id": str(execution_id), "runwright.runner": str(info.get("runner") or "")})
        span.set_attribute("runwright.status", str(new))
        span.set_attribute("runwright.previous_status", str(old) if old else "")
        if info.get("return_code") is not None:
            span.set_attribute("runwright.exit_code", int(info["return_code"]))
        if new in (Status.FAILED, Status.TIMEOUT, Status.ERROR, Status.LOST):
            from opentelemetry.trace import Status as SpanStatus
            from opentelemetry.trace import StatusCode

            span.set_status(SpanStatus(StatusCode.ERROR, str(info.get("error_message") or new)))
        span.end()

    def on_finished(self, execution_id: Any, result: RunResult) -> None:
        # The final write was refused (cancelled meanwhile): the status change that won ended it.
        with self._lock:
            span = self._spans.pop(execution_id, None)
        if span is not None:
            span.set_attribute("runwright.status", str(result.status))
            span.end()
