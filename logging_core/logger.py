"""ExecutionLogger: the single sink. The only code that changes an execution's status or
stores its output, for runs started through it and for platforms' own code calling the
familiar ``start_execution`` / ``complete_execution`` / ... API on their models."""

from __future__ import annotations

import builtins
import contextlib
import logging
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from logging_core.observers import MetricsObserver, StructuredLogObserver, notify
from logging_core.recorder import ExecutionRecorder, TransitionRefused, jsonable, retrying
from logging_core.store import Chunk, ExecutionView, Store
from runners.cancel import CancelToken
from runners.events import RunReporter, Stream
from runners.registry import UnknownRunner, get_runner
from runners.result import RunResult
from runners.secrets import Redactor
from runners.spec import RunSpec
from runners.status import Status

log = logging.getLogger("runwright.logger")

DEFAULT_MAX_STORED_BYTES = 64 * 1024 * 1024
#: Chunks per read when a log is read through (each is at most 1 MiB, usually far less).
PAGE_CHUNKS = 32


class ExecutionLogger:
    """Records executions into a Store and tells observers.

    ``store`` defaults to runwright's Django models (Django must be set up: inside a project
    with ``integrations.django`` installed, or ``integrations.django.setup()``).
    """

    def __init__(
        self,
        store: Store | None = None,
        *,
        observers: list[Any] | None = None,
        max_stored_bytes: int = DEFAULT_MAX_STORED_BYTES,
        flush_interval: float = 0.2,
        flush_bytes: int = 256 * 1024,
        heartbeat_interval: float = 10.0,
        cancel_poll_interval: float = 0.5,
        secrets: list[str] | tuple[str, ...] = (),
        structured_log: bool = True,
        metrics: bool = True,
    ) -> None:
        if store is None:
            from logging_core.django_store import DjangoStore

            store = DjangoStore()
        self.store = store
        self.observers: list[Any] = list(observers or [])
        if structured_log:
            self.observers.append(StructuredLogObserver())
        if metrics:
            self.observers.append(MetricsObserver())
        self.max_stored_bytes = max_stored_bytes
        self.flush_interval = flush_interval
        self.flush_bytes = flush_bytes
        self.heartbeat_interval = heartbeat_interval
        self.cancel_poll_interval = cancel_poll_interval
        self.redactor = Redactor(secrets)
        self._stores: dict[type, Store] = {}
        self._active: set[ExecutionRecorder] = set()
        self._active_lock = threading.Lock()
        self._flusher: threading.Thread | None = None

    # == running through the logger ===========================================================
    def create(self, spec: RunSpec, parent: Any = None, **values: Any) -> Any:
        """Record a pending execution for ``spec``; returns its id."""
        return self._create(spec, Status.PENDING, {"parent_id": parent, **values})

    def _create(self, spec: RunSpec, status: Status, values: Mapping[str, Any]) -> Any:
        return retrying(self.store, self.store.create, {
            "runner": spec.runner, "command": spec.display_command(), "spec": spec.to_dict(),
            "labels": spec.redactor().deep(dict(spec.labels)), **values,
        }, status)

    def recorder(self, ref: Any, spec: RunSpec | None = None, cancel: CancelToken | None = None) -> ExecutionRecorder:
        """The RunReporter that records one execution; hand it to ``Runner.run``."""
        return ExecutionRecorder(self, self.store, ref, spec, cancel)

    def run(
        self,
        spec: RunSpec,
        ref: Any = None,
        *,
        cancel: CancelToken | None = None,
        tee: RunReporter | None = None,
        worker: str = "",
    ) -> RunResult:
        """Run ``spec`` with its runner and record everything. With ``ref``, run that pending
        execution; a run that is no longer pending (cancelled, claimed by another worker) is
        not started and its recorded state is returned."""
        cancel = cancel or CancelToken()
        if ref is None:  # a row of our own: insert it already claimed, one statement
            now = _now()
            ref = self._create(spec, Status.RUNNING, {"started_at": now, "heartbeat_at": now, "worker": worker})
            rec = self.recorder(ref, spec, cancel)
            rec.claimed(worker)
        else:
            rec = self.recorder(ref, spec, cancel)
            if rec.claim(worker) is not None:
                return self.result_of(ref)
        try:
            runner = get_runner(spec.runner)
        except UnknownRunner as exc:
            result = RunResult(status=Status.ERROR, error=str(exc), finished_at=datetime.now(UTC))
            rec.finished(result)
            return result
        reporter: RunReporter = rec if tee is None else _Tee(rec, tee)
        try:
            tag = f"{self.store.key}:{ref}"  # on the run's processes and containers, for the reaper
            return runner.run(spec, reporter, cancel, run_id=uuid.uuid4().hex, execution_id=tag)
        finally:
            self._untrack(rec)

    # == reading ==============================================================================
    def get(self, ref: Any) -> ExecutionView:
        return self.store.get(ref)

    def list(self, status: str | None = None, runner: str | None = None, limit: int = 50) -> builtins.list[ExecutionView]:
        return self.store.list(status=status, runner=runner, limit=limit)

    def read_log(self, ref: Any, offset: int = 0, limit: int | None = None) -> builtins.list[Chunk]:
        """Output from byte ``offset`` of the combined log; a follower passes the end of
        what it has, so a reconnect neither loses nor repeats anything."""
        return self.store.read_log(ref, offset, limit)

    def iter_log(self, ref: Any, offset: int = 0) -> Iterator[Chunk]:
        """What is stored from ``offset`` on, read a page at a time (memory stays small)."""
        while chunks := self.store.read_log(ref, offset, PAGE_CHUNKS):
            yield from chunks
            offset = chunks[-1].offset + len(chunks[-1].data)

    def follow(self, ref: Any, offset: int = 0, poll: float = 0.1) -> Iterator[Chunk]:
        """Yield chunks as they are stored until the execution is final and all is read."""
        while True:
            final = self.store.status(ref) not in (Status.PENDING, Status.RUNNING)
            chunks = self.store.read_log(ref, offset, PAGE_CHUNKS)
            for chunk in chunks:
                yield chunk
                offset = chunk.offset + len(chunk.data)
            if final and not chunks:
                return
            if not chunks:
                time.sleep(poll)

    def result_of(self, ref: Any) -> RunResult:
        view = self.store.get(ref)
        stored = dict(view.result or {})
        if stored.get("status"):
            result = RunResult.from_dict({k: v for k, v in stored.items() if k != "events"})
            result.status = view.status  # the row is the truth (a refused late finish)
            return result
        return RunResult(
            status=view.status, exit_code=view.exit_code, error=view.error_message or None,
            started_at=view.started_at, finished_at=view.finished_at, log_ref=self.store.log_ref(ref),
        )

    def transition(self, ref: Any, target: Status, values: Mapping[str, Any] | None = None, source: str = "api") -> bool:
        """Move an execution of this logger's store to ``target`` if the status model allows it
        (one conditional update); a refused change is logged and noted in the run's log.
        Returns whether it was applied."""
        return self._move(self.store, ref, target, values or {}, source)

    # == the API existing platforms call ======================================================
    def start_execution(self, execution: Any, log_message: str | None = None) -> bool:
        return self._legacy_move(execution, Status.RUNNING, {"started_at": _now()}, log_message)

    def complete_execution(
        self,
        execution: Any,
        result: RunResult | subprocess.CompletedProcess[Any] | Mapping[str, Any] | None = None,
        status: Status | str | None = None,
        error_message: str | None = None,
        log_message: str | None = None,
    ) -> bool:
        """Record the end of an execution from a RunResult, a CompletedProcess or a dict
        (``returncode``/``return_code``/``exit_code``, ``stdout``, ``stderr``, ``status``,
        ``error``). Without a status, exit code 0 is success and anything else failed."""
        store, ref = self._target(execution)
        outcome = _normalise(result)
        target = self._status_arg(store, status) or outcome.get("status")
        if target is None:
            code = outcome.get("return_code")
            target = Status.SUCCESS if code in (0, None) else Status.FAILED
        for stream in ("stdout", "stderr"):
            if outcome.get(stream):
                self._append(store, ref, stream, outcome[stream])
        error = error_message or outcome.get("error")
        values = {"completed_at": _now(), "return_code": outcome.get("return_code"),
                  "error_message": self.redactor.text(error) if error else ""}
        if isinstance(result, RunResult):
            values["result"] = jsonable(self.redactor.deep(result.to_dict()))
        return self._legacy_move(execution, target, values, log_message, implicit_start=True)

    def fail_execution(
        self, execution: Any, error_message: str, return_code: int = -1, log_message: str | None = None
    ) -> bool:
        values = {"completed_at": _now(), "return_code": return_code,
                  "error_message": self.redactor.text(error_message)}
        return self._legacy_move(execution, Status.FAILED, values, log_message, implicit_start=True)

    def timeout_execution(
        self, execution: Any, timeout_seconds: float | None = None, log_message: str | None = None
    ) -> bool:
        message = f"timed out after {timeout_seconds:g}s" if timeout_seconds is not None else "timed out"
        values = {"completed_at": _now(), "error_message": message}
        return self._legacy_move(execution, Status.TIMEOUT, values, log_message, implicit_start=True)

    def cancel_execution(
        self, execution: Any, cancel_message: str | None = None, log_message: str | None = None
    ) -> bool:
        values = {"completed_at": _now(), "error_message": self.redactor.text(cancel_message or "cancelled")}
        return self._legacy_move(execution, Status.CANCELLED, values, log_message)

    def update_execution_logs(self, execution: Any, logs: str | bytes, append: bool = False) -> None:
        store, ref = self._target(execution)
        data = logs.encode() if isinstance(logs, str) else logs
        if append:
            self._append(store, ref, "system", data)
        else:
            retrying(store, store.replace_output, ref, "system", self.redactor.data(data))
        self._refresh(execution)

    def log_execution_info(self, execution: Any, message: str, level: str = "info") -> None:
        store, ref = self._target(execution)
        message = self.redactor.text(message)
        levelno = logging.getLevelName(level.upper())
        log.log(levelno if isinstance(levelno, int) else logging.INFO, "execution %s: %s", ref, message)
        self._append(store, ref, "system", f"[{level.upper()}] {message}\n".encode())
        self._refresh(execution)

    @contextlib.contextmanager
    def track(self, execution: Any, log_message: str | None = None) -> Iterator[Any]:
        """Start ``execution``; on leaving the block complete it, or fail it with the
        exception's message (masked) and re-raise."""
        self.start_execution(execution, log_message)
        try:
            yield execution
        except BaseException as exc:
            self.fail_execution(execution, f"{type(exc).__name__}: {exc}")
            raise
        store, ref = self._target(execution)
        if store.status(ref) == Status.RUNNING:
            self.complete_execution(execution, status=Status.SUCCESS)

    # == internals ===========================================================================
    def _target(self, execution: Any) -> tuple[Store, Any]:
        if isinstance(execution, (int, str)):
            return self.store, execution
        model = type(execution)
        if model is getattr(self.store, "model", None):
            return self.store, execution.pk
        store = self._stores.get(model)
        if store is None:
            from logging_core.django_store import DjangoStore

            store = self._stores[model] = DjangoStore(model)
        return store, execution.pk

    def _status_arg(self, store: Store, status: Status | str | None) -> Status | None:
        if status is None or isinstance(status, Status):
            return status
        fields = getattr(store, "fields", None)
        return fields.status_from_value(status) if fields is not None else Status(status)

    def _append(self, store: Store, ref: Any, stream: Stream, data: str | bytes) -> None:
        raw = data.encode() if isinstance(data, str) else data
        end = retrying(store, store.log_end, ref)
        room = self.max_stored_bytes - end
        masked = self.redactor.data(raw)
        if len(masked) > room:
            dropped = len(masked) - max(room, 0)
            masked = masked[: max(room, 0)] + (
                f"\n[runwright] output storage limit of {self.max_stored_bytes} bytes reached: "
                f"{dropped} more bytes were produced and not stored\n").encode()
        retrying(store, store.append_output, ref, [Chunk(end, stream, masked)])

    def _legacy_move(
        self, execution: Any, target: Status, values: dict[str, Any], log_message: str | None,
        implicit_start: bool = False,
    ) -> bool:
        store, ref = self._target(execution)
        if log_message:
            self._append(store, ref, "system", f"{self.redactor.text(log_message)}\n")
        if implicit_start and store.status(ref) == Status.PENDING:
            self._move(store, ref, Status.RUNNING, {"started_at": values.get("completed_at") or _now()}, "api")
        applied = self._move(store, ref, target, values, source="api")
        self._refresh(execution)
        return applied

    def _move(self, store: Store, ref: Any, target: Status, values: Mapping[str, Any], source: str) -> bool:
        """The one place a status changes: a conditional update, refused transitions logged."""
        refused = retrying(store, store.transition, ref, target, values)
        if refused is None:
            info = {k: v for k, v in values.items() if k in ("return_code", "error_message", "signal") and v}
            self._notify("on_status", ref, None, target, info)
            return True
        self._notify("on_refused", ref, refused, target, source)
        with contextlib.suppress(Exception):
            retrying(store, store.append_output, ref, [Chunk(store.log_end(ref), "system", (
                f"[runwright] refused status change to {target}: the execution is already {refused}\n").encode())])
        return False

    def _refresh(self, execution: Any) -> None:
        """Bring the caller's model instance up to date with what was written."""
        if hasattr(execution, "refresh_from_db"):
            execution.refresh_from_db()

    def _notify(self, method: str, *args: Any) -> None:
        notify(self.observers, method, *args)

    # -- the flusher: time-based output batches and heartbeats for every live recorder -----
    def _track(self, rec: ExecutionRecorder) -> None:
        with self._active_lock:
            self._active.add(rec)
            if self._flusher is None or not self._flusher.is_alive():
                self._flusher = threading.Thread(target=self._flush_loop, name="runwright-flusher", daemon=True)
                self._flusher.start()

    def _untrack(self, rec: ExecutionRecorder) -> None:
        with self._active_lock:
            self._active.discard(rec)

    def _flush_loop(self) -> None:
        tick = min(0.05, self.flush_interval / 2)
        idle_since: float | None = None
        try:
            while True:
                time.sleep(tick)
                with self._active_lock:
                    active = list(self._active)
                    now = time.monotonic()
                    if not active:
                        idle_since = idle_since or now
                        if now - idle_since > 2.0:
                            self._flusher = None
                            return
                        continue
                    idle_since = None
                for rec in active:
                    rec.tick(now)
        finally:
            closer = getattr(self.store, "close_thread_connections", None)
            if closer:
                closer()


class _Tee:
    """Reports to the recorder first, then to a second reporter (a live console)."""

    def __init__(self, first: RunReporter, second: RunReporter) -> None:
        self.first, self.second = first, second

    def started(self, spec: RunSpec, metadata: Mapping[str, Any]) -> None:
        self.first.started(spec, metadata)
        self.second.started(spec, metadata)

    def output(self, stream: Stream, data: bytes) -> None:
        self.first.output(stream, data)
        self.second.output(stream, data)

    def event(self, kind: str, data: Mapping[str, Any]) -> None:
        self.first.event(kind, data)
        self.second.event(kind, data)

    def finished(self, result: RunResult) -> None:
        self.first.finished(result)
        self.second.finished(result)


def _normalise(result: Any) -> dict[str, Any]:
    if result is None:
        return {}
    if isinstance(result, RunResult):
        return {"status": result.status, "return_code": result.exit_code, "error": result.error}
    if isinstance(result, subprocess.CompletedProcess):
        return {"return_code": result.returncode, "stdout": result.stdout, "stderr": result.stderr}
    if isinstance(result, Mapping):
        code = next((result[k] for k in ("return_code", "returncode", "exit_code") if k in result), None)
        status = result.get("status")
        return {"return_code": code, "stdout": result.get("stdout"), "stderr": result.get("stderr"),
                "error": result.get("error") or result.get("error_message"),
                "status": Status(status) if status else None}
    raise TypeError(f"result: expected a RunResult, CompletedProcess or dict, got {type(result).__name__}")


def _now() -> datetime:
    return datetime.now(UTC)


__all__ = ["ExecutionLogger", "TransitionRefused"]
