"""ExecutionRecorder: the RunReporter of one execution. It claims the run, batches output
into the store (by size, or by time through the logger's flusher), enforces the storage
limit, refreshes the heartbeat, and writes the final status, all through the Store."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from logging_core.store import MAX_CHUNK, Chunk, Store
from runners.cancel import CancelToken
from runners.events import Stream
from runners.result import RunResult
from runners.secrets import Redactor
from runners.spec import RunSpec
from runners.status import TERMINAL, Status

if TYPE_CHECKING:
    from logging_core.logger import ExecutionLogger

T = TypeVar("T")
RETRY_DELAYS = (0.1, 0.4, 1.0)
MAX_EVENTS = 200


class TransitionRefused(RuntimeError):
    def __init__(self, ref: Any, current: Status, attempted: Status) -> None:
        self.ref, self.current, self.attempted = ref, current, attempted
        super().__init__(f"execution {ref} is {current}; refused to move it to {attempted}")


def retrying(store: Store, fn: Callable[..., T], *args: Any) -> T:
    """Call a store method, retrying briefly on transient database errors, then raising."""
    for delay in (*RETRY_DELAYS, None):
        try:
            return fn(*args)
        except store.transient_errors:
            if delay is None:
                raise
            reset = getattr(store, "reset_connection", None)
            if reset:
                reset()
            time.sleep(delay)
    raise AssertionError("unreachable")


class ExecutionRecorder:
    def __init__(
        self, logger: ExecutionLogger, store: Store, ref: Any, spec: RunSpec | None,
        cancel: CancelToken | None = None,
    ) -> None:
        self.logger, self.store, self.ref, self.spec = logger, store, ref, spec
        self.cancel = cancel
        self.redactor = spec.redactor() if spec is not None else Redactor()
        self.limit = logger.max_stored_bytes
        self._lock = threading.Lock()
        self._pending: list[tuple[str, bytearray, int]] = []  # stream, data, offset
        self._pending_bytes = 0
        self._first_pending_at = 0.0
        self.offset = 0  # the combined log's size, stored + pending
        self.dropped = 0
        self.counts = {"stdout": 0, "stderr": 0, "system": 0}
        self.events: list[dict[str, Any]] = []
        self.status: Status | None = None
        self._error: BaseException | None = None
        self._last_heartbeat = 0.0
        self._last_cancel_poll = 0.0
        self.done = False

    # -- status ----------------------------------------------------------------------------
    def claim(self, worker: str = "") -> Status | None:
        """pending -> running. Returns None when claimed, else the status that refused it
        (a cancelled or already-claimed run is never started twice)."""
        now = datetime.now(UTC)
        refused = retrying(
            self.store, self.store.transition, self.ref, Status.RUNNING,
            {"started_at": now, "heartbeat_at": now, "worker": worker},
        )
        if refused is None:
            self.claimed(worker)
        return refused

    def claimed(self, worker: str = "") -> None:
        """The row is ours and running (claimed above, or inserted as running)."""
        self.status = Status.RUNNING
        self._last_heartbeat = time.monotonic()
        self.logger._notify("on_status", self.ref, Status.PENDING, Status.RUNNING, {"worker": worker})
        self.logger._track(self)

    def started(self, spec: RunSpec, metadata: Mapping[str, Any]) -> None:
        if self.status is None:
            refused = self.claim()
            if refused is not None:
                raise TransitionRefused(self.ref, refused, Status.RUNNING)
        if metadata:  # a container id or a Job name, visible while the run is live
            retrying(self.store, self.store.update, self.ref, {"result": {"metadata": jsonable(dict(metadata))}})

    def finished(self, result: RunResult) -> None:
        self.logger._untrack(self)  # no flusher tick or heartbeat races the final write
        output_error: BaseException | None = None
        try:
            try:
                self._raise_pending_error()
                with self._lock:
                    if self.dropped:
                        self._add("system", self._limit_marker().encode())
                    self._flush_locked()
            except Exception as exc:
                # The final status matters more than the output: record it, then raise.
                output_error = exc
                note = f"output not fully stored: {type(exc).__name__}"
                result.error = f"{result.error}; {note}" if result.error else note
            result.log_ref = self.store.log_ref(self.ref)
            values = {
                "completed_at": result.finished_at or datetime.now(UTC),
                "return_code": result.exit_code,
                "signal": result.signal or "",
                "error_message": result.error or "",
                "stdout_bytes": result.stdout_bytes,
                "stderr_bytes": result.stderr_bytes,
                "stored_bytes": self.offset,
                "dropped_bytes": self.dropped,
                "result": jsonable({**result.to_dict(), "events": self.events[-MAX_EVENTS:]}),
            }
            if self.status is None and result.status in (Status.RUNNING, Status.SUCCESS, Status.FAILED):
                self.claim()
            self.logger._move(self.store, self.ref, result.status, values, source="runner")
            self.logger._notify("on_finished", self.ref, result)
            if output_error is not None:
                raise output_error
        finally:
            self.done = True

    # -- output ----------------------------------------------------------------------------
    def output(self, stream: Stream, data: bytes) -> None:
        self._raise_pending_error()
        self.counts[stream] += len(data)
        self.logger._notify("on_output", self.ref, stream, len(data))
        with self._lock:
            room = self.limit - self.offset
            if room < len(data):
                self.dropped += len(data) - max(room, 0)
                data = data[: max(room, 0)]
            if data:
                self._add(stream, data)
            if self._pending_bytes >= self.logger.flush_bytes:
                self._flush_locked()

    def event(self, kind: str, data: Mapping[str, Any]) -> None:
        self.events.append({"kind": kind, "at": datetime.now(UTC).isoformat(), **jsonable(dict(data))})
        del self.events[:-MAX_EVENTS]

    def system(self, message: str) -> None:
        """A line of runwright's own in the execution's log."""
        with self._lock:
            self._add("system", (self.redactor.text(message).rstrip("\n") + "\n").encode())
            self._flush_locked()

    def _add(self, stream: str, data: bytes) -> None:
        if not self._pending_bytes:
            self._first_pending_at = time.monotonic()
        last = self._pending[-1] if self._pending else None
        if last is not None and last[0] == stream and len(last[1]) + len(data) <= MAX_CHUNK:
            last[1].extend(data)
        else:
            for i in range(0, len(data), MAX_CHUNK):
                piece = data[i : i + MAX_CHUNK]
                self._pending.append((stream, bytearray(piece), self.offset + i))
        self.offset += len(data)
        self._pending_bytes += len(data)

    def _flush_locked(self) -> None:
        if not self._pending:
            return
        chunks = [Chunk(offset, stream, bytes(data)) for stream, data, offset in self._pending]
        retrying(self.store, self.store.append_output, self.ref, chunks)
        self._pending.clear()
        self._pending_bytes = 0

    def flush(self) -> None:
        with self._lock:
            self._flush_locked()

    def tick(self, now: float) -> None:
        """Called by the logger's flusher thread: time-based flush, heartbeat, cancel poll."""
        try:
            with self._lock:
                if self._pending and now - self._first_pending_at >= self.logger.flush_interval:
                    self._flush_locked()
            if now - self._last_heartbeat >= self.logger.heartbeat_interval:
                self._last_heartbeat = now
                retrying(self.store, self.store.update, self.ref, {"heartbeat_at": datetime.now(UTC)})
            if self.cancel is not None and now - self._last_cancel_poll >= self.logger.cancel_poll_interval:
                self._last_cancel_poll = now
                if self.store.cancel_requested(self.ref):
                    self.cancel.cancel("cancel requested")
        except Exception as exc:  # handed to the runner's thread at its next call
            self._error = exc

    def _raise_pending_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _limit_marker(self) -> str:
        return (
            f"[runwright] output storage limit of {self.limit} bytes reached: "
            f"{self.dropped} more bytes were produced and not stored\n"
        )


def jsonable(value: Any) -> Any:
    """Plain JSON types, with NUL shown as U+2400: PostgreSQL's jsonb refuses \\u0000."""
    return json.loads(json.dumps(value, default=str).replace("\\u0000", "\\u2400"))


__all__ = ["TERMINAL", "ExecutionRecorder", "TransitionRefused", "retrying"]
