"""The Runner base class: one life cycle for every kind of work.

``Runner.run`` is the only entry point. It validates the spec, starts the work, lets the
runner stream and wait while it watches the deadline and the cancel token, stops the whole
unit of work on timeout or cancel, builds the RunResult, and always cleans up. A runner
implements only what is specific to its kind of work; it never sets a status itself.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from runners.cancel import CancelToken
from runners.events import NullReporter, RunReporter, Stream
from runners.result import OutputTail, RunResult
from runners.secrets import Redactor, StreamRedactor
from runners.spec import RunSpec, SpecError
from runners.status import Status

log = logging.getLogger("runwright.runners")


class RunnerError(Exception):
    """The work could not run (command not found, image missing, daemon unreachable).

    Its message is shown to the user as the run's error; it must already be free of secrets
    or it is masked by the base class.
    """


@dataclass
class Exit:
    """How the work ended, as the runner saw it."""

    exit_code: int | None = None
    signal: str | None = None
    #: The work could not run: the run's status is ``error``.
    error: str | None = None
    #: The work ran but failed for a reason worth saying (OOM-killed, Job failed).
    reason: str | None = None
    #: Overrides the exit-code rule (a remote build's own verdict, for instance).
    status: Status | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


class RunContext:
    """Everything one run shares between the base class and the runner."""

    def __init__(
        self, spec: RunSpec, reporter: RunReporter, cancel: CancelToken, run_id: str, execution_id: str = ""
    ) -> None:
        self.spec = spec
        self.reporter = reporter
        self.cancel = cancel
        #: Unique per run; put on everything the run creates (env, labels) to find it later.
        self.run_id = run_id
        #: The recorded execution this run belongs to, when a sink records it.
        self.execution_id = execution_id
        self.redactor: Redactor = spec.redactor()
        self._redacting = bool(self.redactor)
        self._redactors: dict[str, StreamRedactor] = {}
        self.tails = {s: OutputTail(spec.tail_bytes) for s in ("stdout", "stderr")}
        self.metadata: dict[str, Any] = {}
        #: The runner's private state for this run (process handles, clients); never reported.
        self.state: dict[str, Any] = {}
        self.started_mono = time.monotonic()
        self.deadline: float | None = None
        self.stop_reason: Status | None = None
        self.stop_detail: str = ""
        self._emit_lock = threading.Lock()

    # -- output ------------------------------------------------------------------------
    def emit(self, stream: Stream, data: bytes) -> None:
        """Forward a chunk of output: masked, counted into the tail, sent to the reporter."""
        if not data:
            return
        if self._redacting:
            with self._emit_lock:
                data = self._stream_redactor(stream).feed(data)
                if data:
                    self._deliver(stream, data)
            return
        self._deliver(stream, data)

    def emit_fast(self) -> Callable[[Stream, bytes], None]:
        """``emit`` for a hot loop that never passes empty chunks: without secrets to mask it
        skips straight to delivery."""
        return self.emit if self._redacting else self._deliver

    def _deliver(self, stream: Stream, data: bytes) -> None:
        tail = self.tails.get(stream)
        if tail is not None:
            tail.add(data)
        self.reporter.output(stream, data)

    def _stream_redactor(self, stream: str) -> StreamRedactor:
        sr = self._redactors.get(stream)
        if sr is None:
            sr = self._redactors[stream] = self.redactor.stream()
        return sr

    def flush_output(self) -> None:
        """Release what the redactors held back while waiting to see if a secret follows."""
        with self._emit_lock:
            for stream, sr in self._redactors.items():
                rest = sr.flush()
                if rest:
                    self._deliver(stream, rest)  # type: ignore[arg-type]

    def say(self, message: str) -> None:
        """A line of the runner's own on the ``system`` stream."""
        self.emit("system", (self.redactor.text(message).rstrip("\n") + "\n").encode())

    def event(self, kind: str, data: Mapping[str, Any]) -> None:
        self.reporter.event(kind, self.redactor.deep(dict(data)))  # type: ignore[arg-type]

    # -- deadline and cancel -----------------------------------------------------------
    def remaining(self) -> float | None:
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - time.monotonic())

    def check_stop(self) -> Status | None:
        """Whether the run must be stopped now, and why; the first reason wins."""
        if self.stop_reason is None:
            if self.cancel.cancelled:
                self.stop_reason = Status.TIMEOUT if self.cancel.timed_out else Status.CANCELLED
                self.stop_detail = self.cancel.reason or "cancel requested"
            elif self.deadline is not None and time.monotonic() >= self.deadline:
                self.stop_reason = Status.TIMEOUT
                self.stop_detail = f"timed out after {self.spec.timeout:g}s"
        return self.stop_reason

    def wait_stop(self, timeout: float | None = None) -> Status | None:
        """Block until the run must stop (deadline or cancel) or ``timeout`` passes."""
        remaining = self.remaining()
        if remaining is not None:
            timeout = remaining if timeout is None else min(timeout, remaining)
        self.cancel.wait(timeout)
        return self.check_stop()


class Runner(ABC):
    """Base class of every runner. Subclasses set ``name`` and implement ``start``,
    ``stream``, ``wait`` and ``terminate``; ``prepare`` and ``cleanup`` are optional."""

    name: ClassVar[str] = ""
    #: Runner-specific options this runner accepts in ``RunSpec.options``: name -> type(s).
    option_types: ClassVar[Mapping[str, type | tuple[type, ...]]] = {}

    # -- the life cycle steps a runner implements ----------------------------------------
    def validate(self, spec: RunSpec) -> None:
        """Refuse options this runner does not know or whose type is wrong."""
        for key, value in spec.options.items():
            expected = self.option_types.get(key)
            if expected is None:
                known = ", ".join(sorted(self.option_types)) or "none"
                raise SpecError(f"options.{key}", f"unknown option for runner {self.name!r}; known: {known}")
            if not isinstance(value, expected) or (isinstance(value, bool) and expected in (int, float)):
                want = expected.__name__ if isinstance(expected, type) else "/".join(t.__name__ for t in expected)
                raise SpecError(f"options.{key}", f"must be {want}, got {type(value).__name__}")

    def prepare(self, ctx: RunContext) -> None:
        """Anything to set up before the work starts (an image, a namespace...)."""

    @abstractmethod
    def start(self, ctx: RunContext) -> None:
        """Start the work; raise RunnerError when it cannot run."""

    @abstractmethod
    def stream(self, ctx: RunContext) -> None:
        """Forward output with ``ctx.emit`` until the work's output ends."""

    @abstractmethod
    def wait(self, ctx: RunContext) -> Exit:
        """Wait for the work to end and say how it ended."""

    @abstractmethod
    def terminate(self, ctx: RunContext, grace: float) -> str:
        """Stop the whole unit of work: ask politely, wait ``grace`` seconds, then force.
        Returns a short description of what was done, for the run's error message."""

    def cleanup(self, ctx: RunContext) -> None:
        """Release everything the run used. Called in ``finally``, always."""

    def supervise(self, ctx: RunContext) -> Exit:
        """Stream and wait while a watchdog thread stops the work on deadline or cancel.
        Runners that can wait on the cancel token themselves override this."""
        wake = threading.Event()  # set when the run is done or the token is cancelled
        done = False
        unregister = ctx.cancel.on_cancel(wake.set)

        def watchdog() -> None:
            wake.wait(ctx.remaining())
            if not done and ctx.check_stop() is not None:
                ctx.stop_detail += "; " + self.terminate(ctx, ctx.spec.grace_period)

        watcher = threading.Thread(target=watchdog, name=f"runwright-watchdog-{ctx.run_id[:8]}", daemon=True)
        watcher.start()
        try:
            self.stream(ctx)
            return self.wait(ctx)
        finally:
            done = True
            unregister()
            wake.set()
            watcher.join()

    # -- the one entry point -------------------------------------------------------------
    def run(
        self,
        spec: RunSpec,
        reporter: RunReporter | None = None,
        cancel: CancelToken | None = None,
        run_id: str | None = None,
        execution_id: str = "",
    ) -> RunResult:
        """Run ``spec`` to the end and return its result. Never raises for a problem of the
        work itself (those become ``error``/``failed`` results); a failing reporter's
        exception is raised after the work has been stopped and cleaned up."""
        reporter = reporter or NullReporter()
        cancel = cancel or CancelToken()
        ctx = RunContext(spec, reporter, cancel, run_id or uuid.uuid4().hex, execution_id)
        started_at = _now()
        try:
            self.validate(spec)
        except SpecError as exc:
            return self._finish(ctx, Exit(error=f"invalid spec: {exc}"), started_at, started=False)
        if cancel.cancelled:
            ctx.check_stop()
            return self._finish(ctx, Exit(), started_at, started=False)

        started = False
        try:
            self.prepare(ctx)
            if spec.timeout is not None:
                ctx.deadline = time.monotonic() + spec.timeout
            started_at = _now()
            self.start(ctx)
            started = True
            reporter.started(spec, ctx.metadata)
            outcome = self.supervise(ctx)
        except RunnerError as exc:
            outcome = Exit(error=str(exc) or type(exc).__name__)
        except BaseException as exc:
            # The reporter (the sink) failed, or the runner has a bug: stop the work, then
            # report what we can and re-raise, so no failure is silent.
            if started:
                try:
                    self.terminate(ctx, 0)
                except Exception:
                    log.exception("terminate after an internal error failed")
            self._safe_cleanup(ctx)
            try:
                self._finish(ctx, Exit(error=f"internal error: {type(exc).__name__}: {exc}"), started_at, started)
            except Exception:
                log.exception("reporting the failed run failed too")
            raise
        self._safe_cleanup(ctx)
        return self._finish(ctx, outcome, started_at, started)

    # -- helpers -----------------------------------------------------------------------
    def _safe_cleanup(self, ctx: RunContext) -> None:
        try:
            self.cleanup(ctx)
        except Exception as exc:
            log.exception("cleanup of run %s failed", ctx.run_id)
            ctx.metadata["cleanup_error"] = ctx.redactor.text(f"{type(exc).__name__}: {exc}")

    def _finish(self, ctx: RunContext, outcome: Exit, started_at: datetime, started: bool) -> RunResult:
        ctx.flush_output()
        status, error = _decide(ctx, outcome)
        ctx.metadata.update(outcome.metadata)
        result = RunResult(
            status=status,
            exit_code=outcome.exit_code,
            signal=outcome.signal,
            started_at=started_at if started else None,
            finished_at=_now(),
            error=ctx.redactor.text(error) if error else None,
            stdout_tail=ctx.tails["stdout"].text(),
            stderr_tail=ctx.tails["stderr"].text(),
            stdout_bytes=ctx.tails["stdout"].total,
            stderr_bytes=ctx.tails["stderr"].total,
            metadata=ctx.redactor.deep(ctx.metadata),  # type: ignore[arg-type]
        )
        ctx.reporter.finished(result)
        return result


def _decide(ctx: RunContext, outcome: Exit) -> tuple[Status, str | None]:
    """The one rule that turns how the work ended into a status."""
    from runners.exitcodes import describe_exit

    if ctx.stop_reason is not None:
        return ctx.stop_reason, ctx.stop_detail
    if outcome.error:
        return Status.ERROR, outcome.error
    if outcome.status is not None:
        return outcome.status, outcome.reason
    if outcome.exit_code == 0:
        return Status.SUCCESS, None
    return Status.FAILED, outcome.reason or describe_exit(outcome.exit_code)


def _now() -> datetime:
    return datetime.now(UTC)
