"""ExecutionLogger: the single sink. The only code that changes an execution's status or
stores its output, for runs started through it and (through ``runwright.logging_core.legacy``)
for platforms' own code calling the familiar ``start_execution`` / ``complete_execution`` /
... API on their models."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from runwright.logging_core.legacy_methods import LegacyMethods
from runwright.logging_core.log_reading import LogReading
from runwright.logging_core.observers import MetricsObserver, StructuredLogObserver, notify, registered_observers
from runwright.logging_core.recorder import ExecutionRecorder, TransitionRefused, retrying
from runwright.logging_core.store import Chunk, Store
from runwright.logging_core.writer import outage_window_setting, writer_for
from runwright.runners.cancel import CancelToken
from runwright.runners.environment import inherited_secrets
from runwright.runners.events import RunReporter, Stream
from runwright.runners.registry import UnknownRunner, get_runner, get_runner_class
from runwright.runners.result import RunResult
from runwright.runners.secrets import Redactor
from runwright.runners.spec import RunSpec
from runwright.runners.status import TERMINAL, Status, sources_of

if TYPE_CHECKING:
    pass

log = logging.getLogger("runwright.logger")

#: The recorder of every run this process is recording, by (store key, execution id): the
#: one writer of that log's offsets and the holder of its cancel token, for every logger of
#: the process (an API note or a cancel made through another logger instance finds it).
_live: dict[tuple[str, str], ExecutionRecorder] = {}
_live_lock = threading.Lock()


def live_recorder(store: Store, ref: Any) -> ExecutionRecorder | None:
    """The recorder of this process that is running ``ref`` in ``store``, or None."""
    if not _live:
        return None
    with _live_lock:
        return _live.get((store.key, str(ref)))


def stop_live_run(store: Store, ref: Any, status: Status, source: str) -> None:
    """A run of this process was just moved to the final ``status`` by someone else (the API,
    the legacy calls): stop its work now through its cancel token, the same token every
    other cancel sets. Runs of other processes see the final status at their next poll."""
    rec = live_recorder(store, ref)
    if rec is not None and rec.cancel is not None and status in TERMINAL:
        rec.cancel.cancel(f"marked {status} by the {source}", timed_out=status == Status.TIMEOUT)

DEFAULT_MAX_STORED_BYTES = 64 * 1024 * 1024


class ExecutionLogger(LogReading, LegacyMethods):
    """Records executions into a Store and tells observers.

    ``store`` defaults to runwright's Django models (Django must be set up: inside a project
    with ``runwright.integrations.django`` installed, or ``runwright.integrations.django.setup()``).
    """

    def __init__(
        self,
        store: Store | None = None,
        *,
        observers: list[Any] | None = None,
        max_stored_bytes: int = DEFAULT_MAX_STORED_BYTES,
        flush_interval: float | None = None,
        flush_bytes: int = 256 * 1024,
        heartbeat_interval: float = 10.0,
        cancel_poll_interval: float = 0.5,
        secrets: list[str] | tuple[str, ...] = (),
        structured_log: bool = True,
        metrics: bool = True,
        outage_window: float | None = None,
    ) -> None:
        if store is None:
            from runwright.logging_core.django_store import DjangoStore

            store = DjangoStore()
        self.store = store
        self.observers: list[Any] = list(observers or [])
        if structured_log:
            self.observers.append(StructuredLogObserver())
        if metrics:
            self.observers.append(MetricsObserver())
        self.observers.extend(registered_observers())
        self.max_stored_bytes = max_stored_bytes
        # How long output may wait before it is stored (and followers such as the web UI see
        # it): RUNWRIGHT_FLUSH_INTERVAL seconds, default 0.2.
        self.flush_interval = flush_interval if flush_interval is not None else _env_seconds("RUNWRIGHT_FLUSH_INTERVAL", 0.2)
        self.flush_bytes = flush_bytes
        self.heartbeat_interval = heartbeat_interval
        self.cancel_poll_interval = cancel_poll_interval
        # How long the database may be unreachable before live runs are stopped (seconds):
        # RUNWRIGHT_DB_OUTAGE_WINDOW, default 60 (see runwright.logging_core.writer).
        self.outage_window = outage_window if outage_window is not None else outage_window_setting()
        self.redactor = Redactor(secrets)
        self._stores: dict[type, Store] = {}

    # == running through the logger ===========================================================
    def create(self, spec: RunSpec, parent: Any = None, **values: Any) -> Any:
        """Record a pending execution for ``spec``; returns its id."""
        return self._create(spec, Status.PENDING, {"parent_id": parent, **values})

    def _create(self, spec: RunSpec, status: Status, values: Mapping[str, Any]) -> Any:
        return self._db(self.store.create, {
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
        # The logger's secrets, and secret-named variables the command inherits from this
        # process, mask this run too: output, stored spec, errors.
        inherits = spec.inherit_env and _inherits_environment(spec.runner)
        extra = [*self.redactor.values, *inherited_secrets(inherits)]
        if extra:
            spec = dataclasses.replace(spec, secrets=[*spec.secrets, *extra])
        if ref is None:  # a row of our own: insert it already claimed, one statement
            now = datetime.now(UTC)
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

    def resume(
        self,
        spec: RunSpec,
        ref: Any,
        *,
        from_worker: str,
        worker: str = "",
        cancel: CancelToken | None = None,
        tee: RunReporter | None = None,
        note: str = "",
    ) -> RunResult | None:
        """Take over running execution ``ref`` from ``from_worker`` (gone) and follow its
        work to the end with the runner's ``resume``, recording the rest of the output, the
        events and the result into the same execution. The takeover is one conditional
        update (still running, still ``from_worker``'s); returns None when it was refused
        (another worker or the reaper was first, or the run ended). ``note`` is written to
        the log as a system line before anything else of the resumed part, and the takeover is
        recorded as a ``runwright.reattached`` event. The spec's timeout counts from the run's
        first start.

        Raises UnknownRunner when the runner is not installed here, ValueError when the
        execution has no handle to follow."""
        view = self.store.get(ref)
        if not view.handle:
            raise ValueError(f"execution {ref} has no handle: there is no work to follow")
        runner = get_runner(spec.runner)
        cancel = cancel or CancelToken()
        if not self._db(self.store.take_over, ref, from_worker, worker):
            return None
        rec = self.recorder(ref, spec, cancel)
        rec.resumed(worker, view)
        learned = self._db(self.store.kept_secrets, ref)  # by the run under the lost worker
        rec.learned(learned)
        if note:
            rec.system(note)
        rec.event("runwright.reattached", {"worker": worker, "from_worker": from_worker, "log_offset": rec.offset})
        reporter: RunReporter = rec if tee is None else _Tee(rec, tee)
        try:
            tag = f"{self.store.key}:{ref}"
            run_id = str(view.handle.get("run_id") or uuid.uuid4().hex)
            # The live metadata as stored (a runner's log cursor): the resumed run goes on after it.
            return runner.resume(spec, view.handle, reporter, cancel, run_id=run_id, execution_id=tag,
                                 started_at=view.started_at, metadata=rec.live_metadata, secrets=learned)
        finally:
            self._untrack(rec)

    def wait_written(self, timeout: float | None = None, give_up: Any = None) -> bool:
        """Wait until this process's writer of this logger's store has stored everything
        handed over to it (a run's end held back by a database outage). Returns False when
        ``timeout`` seconds passed first, or ``give_up`` (a CancelToken) was set."""
        stop = (lambda: bool(give_up.cancelled)) if give_up is not None else (lambda: False)
        return writer_for(self.store).wait_idle(timeout, stop)

    def _db(self, fn: Any, *args: Any) -> Any:
        """``fn(*args)`` on this process's writer of the store: no connection of the calling
        thread is used, and a database outage shorter than the window is waited out."""
        return writer_for(self.store).call(fn, *args, window=self.outage_window, store=self.store)

    def transition(
        self, ref: Any, target: Status, values: Mapping[str, Any] | None = None, source: str = "api",
        expect: Mapping[str, Any] | None = None,
    ) -> bool:
        """Move an execution of this logger's store to ``target`` if the status model allows it
        and the fields in ``expect`` still hold those values (one conditional update); a
        refused change is logged and noted in the run's log. Returns whether it was applied."""
        return self._move(self.store, ref, target, values or {}, source, expect)

    # == internals ===========================================================================
    def _move(
        self, store: Store, ref: Any, target: Status, values: Mapping[str, Any], source: str,
        expect: Mapping[str, Any] | None = None, previous: Status | None = None, runner: str | None = None,
    ) -> bool:
        """The one place a status changes: a conditional update, refused transitions logged.
        Observers are told the previous status: ``previous`` when the caller knows it, the only
        state ``target`` can be reached from, or else the status read just before the update."""
        if self.observers and (previous is None or runner is None):
            sources = sources_of(target)
            if previous is None and len(sources) == 1:
                previous = next(iter(sources))
            with contextlib.suppress(Exception):  # one read for what the caller did not say
                before = store.get(ref)
                previous = previous or before.status
                runner = runner or before.runner
        refused = retrying(store, store.transition, ref, target, values, expect)
        if refused is None:
            info: dict[str, Any] = {k: v for k, v in values.items() if k in ("return_code", "error_message", "signal") and v}
            if runner:
                info["runner"] = runner
            self._notify("on_status", ref, previous, target, info)
            if source != "runner":
                stop_live_run(store, ref, target, source)
            return True
        self._notify("on_refused", ref, refused, target, source)
        if expect:  # refused because someone else owns the run now: its log is theirs to write
            return False
        message = f"[runwright] refused status change to {target}: the execution is already {refused}"
        with contextlib.suppress(Exception):
            rec = live_recorder(store, ref)
            if rec is not None:  # the run's own writer numbers the line
                rec.note(message)
            else:
                retrying(store, store.append_output, ref,
                         [Chunk(store.log_end(ref), "system", f"{message}\n".encode())])
        return False

    def _notify(self, method: str, *args: Any) -> None:
        notify(self.observers, method, *args)

    # -- the process's live runs ------------------------------------------------------------
    def _track(self, rec: ExecutionRecorder) -> None:
        with _live_lock:
            _live[(rec.store.key, str(rec.ref))] = rec
        rec.writer.register(rec)

    def _untrack(self, rec: ExecutionRecorder) -> None:
        with _live_lock:
            key = (rec.store.key, str(rec.ref))
            if _live.get(key) is rec:
                del _live[key]
        rec.writer.unregister(rec)


class _Tee:
    """Reports to the recorder first, then to a second reporter (a live console)."""

    def __init__(self, first: ExecutionRecorder, second: RunReporter) -> None:
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

    def handle(self, handle: Mapping[str, Any]) -> None:
        self.first.handle(handle)
        _call(self.second, "handle", handle)

    def metadata(self, values: Mapping[str, Any]) -> None:
        self.first.metadata(values)
        _call(self.second, "metadata", values)

    def secret(self, value: str) -> None:
        self.first.secret(value)  # the recorder only: a console is given masked output, never a secret

    def finished(self, result: RunResult) -> None:
        self.first.finished(result)
        self.second.finished(result)


def _inherits_environment(runner: str) -> bool:
    """Whether ``runner``'s work starts with this process's environment (then what it inherits
    is masked); a runner that cannot be loaded runs nothing, so either answer is harmless."""
    try:
        return bool(get_runner_class(runner).inherits_environment)
    except Exception:
        return True


def _call(reporter: Any, method: str, *args: Any) -> None:
    """A second reporter written before ``handle``/``metadata`` existed simply misses them."""
    fn = getattr(reporter, method, None)
    if fn is not None:
        fn(*args)



def _env_seconds(name: str, default: float) -> float:
    import os

    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        log.warning("%s=%r is not a number of seconds: using %s", name, os.environ.get(name), default)
        return default
    return value if value > 0 else default


__all__ = ["ExecutionLogger", "TransitionRefused"]
