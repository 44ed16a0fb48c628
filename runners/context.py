"""RunContext: what one run shares between the base class and the runner.

A runner reports through it (``emit``, ``say``, ``event``, ``set_metadata``, ``set_handle``,
``add_secret``), from any thread: one lock orders the calls, masks what leaves, and hands
each report on at once. The base class decides where a report goes: straight to the
reporter (a runner that supervises itself, run inline), or to the thread that called
``Runner.run``, which delivers it (a watched runner, whose steps run in a thread of their own).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from runwright.runners.cancel import CancelToken
from runwright.runners.events import STREAMS, RunReporter, Stream
from runwright.runners.hooks import POLICY_KEY, Stop
from runwright.runners.result import OutputTail
from runwright.runners.secrets import MIN_DETECTED_LENGTH, Redactor, StreamRedactor
from runwright.runners.spec import RunSpec
from runwright.runners.status import Status

log = logging.getLogger("runwright.runners")

#: Life cycle steps, in order, as ``ctx.phase`` names them.
PHASES = ("prepare", "start", "attach", "stream", "wait")


class ContractError(Exception):
    """A runner called the RunContext against the contract (an unknown stream, text where
    bytes belong); the run ends ``error`` saying so."""


class RunContext:
    """Everything one run shares between the base class and the runner.

    Attributes a runner reads: ``spec``, ``options`` (the spec's options with the schema's
    defaults filled in), ``run_id`` (unique per run: put it on everything the run creates),
    ``execution_id`` (the recorded execution's tag ``"<store key>:<id>"``, or ""),
    ``handle`` (set by ``set_handle``, or given to ``Runner.resume``), ``state`` (the
    runner's private per-run dict: clients, processes; never reported), ``cancel``,
    ``deadline`` (monotonic seconds or None), ``phase`` (the step running now).
    """

    def __init__(
        self,
        spec: RunSpec,
        reporter: RunReporter,
        cancel: CancelToken,
        run_id: str,
        execution_id: str = "",
        options: Mapping[str, Any] | None = None,
        secrets: list[str] | None = None,
    ) -> None:
        self.spec = spec
        self.reporter = reporter
        self.cancel = cancel
        self.run_id = run_id
        self.execution_id = execution_id
        self.options: dict[str, Any] = dict(spec.options if options is None else options)
        self.redactor: Redactor = spec.redactor() if not secrets else Redactor([*spec.redactor().values, *secrets])
        self._redacting = bool(self.redactor)
        self._redactors: dict[str, StreamRedactor] = {}
        self.tails = {s: OutputTail(spec.tail_bytes) for s in ("stdout", "stderr")}
        self.metadata: dict[str, Any] = {}
        self.state: dict[str, Any] = {}
        self.handle: dict[str, Any] | None = None
        #: Resuming (``Runner.resume``): the run's live metadata as stored by the worker that
        #: started it (a log cursor kept there), else empty.
        self.resumed_metadata: dict[str, Any] = {}
        self.started_mono = time.monotonic()
        self.deadline: float | None = None
        self.phase = ""
        self.stop_reason: Status | None = None
        self.stop_detail: str = ""
        self._unconfirmed = ""
        #: Set when the base class gave up waiting for a step that did not return.
        self.abandoned = False
        self._lock = threading.Lock()
        self._handle_reported = False
        self._closed = False  # the run has ended: reports are dropped (see close)
        self._warned_late = False
        #: Where reports go: ``None`` delivers at once in the calling thread; a queue hands
        #: them to the thread that called ``Runner.run``.
        self._outbox: queue.SimpleQueue[tuple[Any, ...]] | None = None
        self._report_handle: Callable[[Mapping[str, Any]], None] | None = getattr(reporter, "handle", None)
        self._report_metadata: Callable[[Mapping[str, Any]], None] | None = getattr(reporter, "metadata", None)
        self._report_secret: Callable[[str], None] | None = getattr(reporter, "secret", None)
        #: The exception a reporter raised, so the base class re-raises it instead of
        #: calling it the runner's failure.
        self.sink_error: BaseException | None = None

    # -- reports -------------------------------------------------------------------------
    def emit(self, stream: Stream, data: bytes) -> None:
        """Forward a chunk of output (bytes, any size) on ``"stdout"``, ``"stderr"`` or
        ``"system"``: masked, counted into the tail, reported at once. Safe from any thread."""
        if stream not in STREAMS or not isinstance(data, (bytes, bytearray, memoryview)):
            raise ContractError(f"ctx.emit({stream!r}, {type(data).__name__}): the stream must be one of "
                                f"{', '.join(STREAMS)} and the data bytes")
        if not data:
            return
        with self._lock:
            if self._redacting:
                data = self._stream_redactor(stream).feed(data)
                if not data:
                    return
            if self._outbox is None and not self._closed:
                self._deliver(stream, data)
            else:
                self._send(("output", stream, data))

    def say(self, message: str) -> None:
        """A line of the runner's own on the ``system`` stream (masked)."""
        self.emit("system", (message.rstrip("\n") + "\n").encode())

    def event(self, kind: str, data: Mapping[str, Any]) -> None:
        """A structured event (a task result, a pod phase), masked and reported at once
        through ``reporter.event(kind, data)``. ``data`` should be JSON-ready."""
        with self._lock:
            masked = self.redactor.deep(dict(data))
            self._send(("event", kind, masked))

    def set_metadata(self, **values: Any) -> None:
        """Facts learned mid-run (a pod name): kept for the result and reported at once
        through ``reporter.metadata(values)``."""
        if not values:
            return
        with self._lock:
            self.metadata.update(values)
            self._send(("metadata", self.redactor.deep(dict(values))))

    def set_handle(self, handle: Mapping[str, Any]) -> None:
        """Say how to find the work again, as soon as it exists (a pid and its start time, a
        container id and its engine, a Job's namespace and name, a build URL). JSON-ready;
        reported at once through ``reporter.handle``, kept as ``ctx.handle`` and in the
        result's metadata under ``"handle"``. At most once per run or resume.

        Raises TypeError when ``handle`` is not JSON-ready, RuntimeError when called twice.
        """
        value = dict(handle)
        try:
            json.dumps(value)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"set_handle: the handle must be JSON-ready: {exc}") from None
        with self._lock:
            if self._handle_reported:
                raise RuntimeError("set_handle: a run reports its handle at most once")
            self._handle_reported = True
            # The run's own policy (given in its spec, the runner declaring the option), for
            # the reaper that finds the run by its handle.
            policy = self.spec.options.get(POLICY_KEY) if POLICY_KEY in self.options else None
            if policy is not None:
                value[POLICY_KEY] = str(policy)
            self.handle = value
            self.metadata["handle"] = value
            self._send(("handle", self.redactor.deep(value)))

    def add_secret(self, value: str) -> None:
        """A secret learned at run time (a fetched token, a generated password): masked in
        everything reported from now on (output, events, metadata, errors). A reporter with a
        ``secret(value)`` method is given it (the ExecutionLogger keeps it sealed while the run
        lives, so a worker that re-attaches masks it too)."""
        if not isinstance(value, str):
            raise ContractError(f"ctx.add_secret({type(value).__name__}): a secret is a str")
        if not value or value in self.redactor.values:
            return
        if len(value) < MIN_DETECTED_LENGTH:
            log.warning("run %s: a secret of %d characters was added: every occurrence of it is masked, "
                        "in words too", self.run_id, len(value))
        with self._lock:
            self.redactor = Redactor([*self.redactor.values, value])
            self._redacting = True
            for stream, old in list(self._redactors.items()):
                fresh = self.redactor.stream()
                fresh._held = old.flush()  # what was held back is re-checked with the new secret
                self._redactors[stream] = fresh
            if self._report_secret is not None:
                self._send(("secret", value))

    # -- delivery (the base class) -------------------------------------------------------
    def _send(self, item: tuple[Any, ...]) -> None:
        """Called under the lock."""
        if self._closed:
            if not self._warned_late:
                self._warned_late = True
                log.warning("run %s: the runner reported %s after its run had ended: dropped (and any later report)",
                            self.run_id, item[0])
            return
        if self._outbox is None:
            self._dispatch(item)
        else:
            self._outbox.put(item)

    def _dispatch(self, item: tuple[Any, ...]) -> None:
        kind = item[0]
        try:
            if kind == "output":
                self._deliver(item[1], item[2])
            elif kind == "event":
                self.reporter.event(item[1], item[2])
            elif kind == "metadata" and self._report_metadata is not None:
                self._report_metadata(item[1])
            elif kind == "handle" and self._report_handle is not None:
                self._report_handle(item[1])
            elif kind == "secret" and self._report_secret is not None:
                self._report_secret(item[1])
        except BaseException as exc:
            self.sink_error = exc
            raise

    def _deliver(self, stream: Stream, data: bytes) -> None:
        tail = self.tails.get(stream)
        if tail is not None:
            tail.add(data)
        try:
            self.reporter.output(stream, data)
        except BaseException as exc:
            self.sink_error = exc
            raise

    def _stream_redactor(self, stream: str) -> StreamRedactor:
        sr = self._redactors.get(stream)
        if sr is None:
            sr = self._redactors[stream] = self.redactor.stream()
        return sr

    def close(self) -> None:
        """The run is over (the base class, before ``reporter.finished``): what the redactors held
        back while waiting to see if a secret follows is released, and any report made later (a
        runner's thread still emitting) is dropped, with one warning, so a finished execution's
        log, events and metadata never change."""
        with self._lock:
            for stream, sr in self._redactors.items():
                rest = sr.flush()
                if rest:
                    self._send(("output", stream, rest))
            self._closed = True

    def record_stop(self, stop: Stop) -> None:
        """Say in the result what a stop achieved: its detail joins the error message and
        ``metadata["stop_confirmed"]`` says whether it is confirmed."""
        detail = stop.detail + ("" if stop.confirmed else " (stop not confirmed: left to the sweep)")
        self.stop_detail = f"{self.stop_detail}; {detail}" if self.stop_detail else detail
        self.metadata["stop_confirmed"] = stop.confirmed
        self._unconfirmed = "" if stop.confirmed else detail

    def confirm_stop(self, detail: str) -> None:
        """A stop ``terminate`` could not confirm within its time (the work was still going
        away), confirmed later, in ``cleanup``: ``detail`` replaces the unconfirmed stop's
        words in the result and ``metadata["stop_confirmed"]`` becomes True. Does nothing
        when no unconfirmed stop was recorded."""
        if self.metadata.get("stop_confirmed") is not False or not self._unconfirmed:
            return
        self.stop_detail = self.stop_detail.replace(self._unconfirmed, detail)
        self.metadata["stop_confirmed"] = True
        self._unconfirmed = ""

    # -- deadline and cancel -------------------------------------------------------------
    def remaining(self) -> float | None:
        """Seconds until the deadline, or None without one."""
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - time.monotonic())

    def check_stop(self) -> Status | None:
        """Whether the run must be stopped now, and why (``timeout`` or ``cancelled``);
        the first reason wins."""
        if self.stop_reason is None:
            if self.cancel.cancelled:
                self.stop_reason = Status.TIMEOUT if self.cancel.timed_out else Status.CANCELLED
                self.stop_detail = self.cancel.reason or "cancel requested"
            elif self.deadline is not None and time.monotonic() >= self.deadline:
                self.stop_reason = Status.TIMEOUT
                self.stop_detail = f"timed out after {self.spec.timeout:g}s"
        return self.stop_reason

    @property
    def stopping(self) -> bool:
        """True once the run must stop (deadline passed, cancel requested, or abandoned)."""
        return self.abandoned or self.check_stop() is not None

    def wait_stop(self, timeout: float | None = None) -> Status | None:
        """Block until the run must stop (deadline or cancel) or ``timeout`` seconds pass;
        returns the reason, or None. The way for a runner to sleep between polls."""
        remaining = self.remaining()
        if remaining is not None:
            timeout = remaining if timeout is None else min(timeout, remaining)
        self.cancel.wait(timeout)
        return self.check_stop()


__all__ = ["PHASES", "RunContext"]
