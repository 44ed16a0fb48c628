"""The Runner base class: one life cycle for every kind of work.

``Runner.run`` (and ``Runner.resume`` for work another process started) is the only entry
point. It checks the runner keeps the contract, validates the spec against the runner's
options schema, runs the steps (``prepare``, ``start``, ``stream``, ``wait``; or ``attach``,
``stream``, ``wait``) under the deadline and the cancel token, stops the work on timeout or
cancel (``terminate``), builds the RunResult, and always cleans up. A runner implements only
what is specific to its kind of work; it never sets a status itself.

A watched runner (the default) has its steps run in a thread of their own while the calling
thread watches the deadline and the cancel token and delivers the reports: a step blocked
in a call that cannot be interrupted is abandoned once the stop's grace period is over, and
the runner's ``cleanup`` runs again when that step finally returns. A runner whose steps
honour the deadline and the cancel token themselves (LocalRunner) sets ``watched = False``
and runs inline, with no thread.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import traceback
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from runwright.runners.cancel import CancelToken
from runwright.runners.context import ContractError, RunContext
from runwright.runners.events import NullReporter, RunReporter
from runwright.runners.hooks import Liveness, OnWorkerLost, Stop
from runwright.runners.options import Option, secret_option_values, validate_options, with_defaults
from runwright.runners.result import RunResult
from runwright.runners.spec import RunSpec, SpecError
from runwright.runners.status import Status

log = logging.getLogger("runwright.runners")

#: After a stop, how long the base class waits for a step to return once ``terminate`` has
#: returned (or once the grace period is over, if it has not) before abandoning the step.
SETTLE = 1.0
#: The longest the main thread waits at once while it watches a run (see ``_watch``), s.
MAIN_THREAD_WAKE = 0.5


class RunnerError(Exception):
    """The work could not run (command not found, image missing, daemon unreachable).

    Its message is shown to the user as the run's error; it is masked by the base class.
    """


class RecordingStopped(Exception):
    """Raised by a reporter (the sink) that cannot record the run any more (its database is
    full, its writes keep failing): the run is stopped, recorded with this message as its
    error as it is, and the exception (chained to the sink's own) is raised from ``run``."""


@dataclass
class Exit:
    """How the work ended, as the runner saw it (what ``wait`` returns)."""

    #: The process's exit code (negative: killed by that signal, Python's convention).
    exit_code: int | None = None
    #: The name of the signal that ended the work ("SIGKILL"), when one did.
    signal: str | None = None
    #: The work could not run: the run's status is ``error`` with this message.
    error: str | None = None
    #: The work ran but failed for a reason worth saying (OOM-killed, Job failed).
    reason: str | None = None
    #: Overrides the exit-code rule (a remote build's own verdict, for instance).
    status: Status | None = None
    #: Facts for the result's metadata.
    metadata: dict[str, Any] = field(default_factory=dict)


class _Broken(Exception):
    """A runner broke the contract at run time (a wrong return type)."""


class Runner(ABC):
    """Base class of every runner.

    A subclass sets ``name`` and ``options`` and implements ``start``, ``stream``, ``wait``
    and ``terminate`` (``prepare``, ``attach`` and ``cleanup`` are optional), plus the
    class-level hooks ``sweep``, ``probe`` and ``stop_handle`` when its work can outlive the
    worker. docs/plugins.md is the guide.
    """

    name: ClassVar[str] = ""
    #: The options this runner accepts in ``RunSpec.options``.
    options: ClassVar[tuple[Option, ...]] = ()
    #: What to run: ``"argv"`` (``RunSpec.command`` is required) or ``"none"`` (the runner
    #: takes what to run from its options; ``RunSpec.command`` must be left empty).
    command: ClassVar[str] = "argv"
    #: What the recovery does with a run of this runner whose worker died.
    on_worker_lost: ClassVar[OnWorkerLost] = OnWorkerLost.STOP
    #: True: the steps run in a thread the base class watches (a blocked step is abandoned).
    #: False: the steps honour the deadline and the cancel token themselves and run inline.
    watched: ClassVar[bool] = True
    #: Seconds ``cleanup`` may take, beyond the grace period, once the run must stop (its
    #: deadline passed, a cancel): then it is abandoned and said in the result.
    cleanup_seconds: ClassVar[float] = 5.0
    #: True when the work starts with this process's environment (a local process does); a
    #: container, a Job or a remote build gets only the spec's ``env``. The ExecutionLogger
    #: masks the secret-named variables a run inherits only for such runners.
    inherits_environment: ClassVar[bool] = False

    # -- validation ------------------------------------------------------------------------
    def validate(self, spec: RunSpec) -> None:
        """Check what to run and the options against the schema; raise SpecError naming
        the field. Override to add checks (call ``super().validate(spec)`` first)."""
        given = spec.command is not None and spec.command != [] and spec.command != ""
        if self.command == "argv" and not given:
            raise SpecError("command", f"is required for the {self.name} runner")
        if self.command == "none" and given:
            raise SpecError("command", f"must be empty: the {self.name} runner takes what to run from its options")
        validate_options(self.name, self.options, spec.options)

    # -- the life cycle steps a runner implements ----------------------------------------
    def prepare(self, ctx: RunContext) -> None:
        """Set up before the work starts (pull an image, upload a build context). Runs
        under the deadline and the cancel token; raise RunnerError when it cannot be done."""

    @abstractmethod
    def start(self, ctx: RunContext) -> None:
        """Start the work and call ``ctx.set_handle`` as soon as it exists; raise
        RunnerError when it cannot run."""

    def attach(self, ctx: RunContext) -> None:
        """Reconnect to work another process started, from ``ctx.handle`` (used by
        ``resume``); stream and wait follow as for a fresh run. Raise RunnerError when the
        work is gone. Runners that cannot re-attach leave this as is."""
        raise RunnerError(f"the {self.name} runner cannot attach to work started elsewhere")

    @abstractmethod
    def stream(self, ctx: RunContext) -> None:
        """Forward output with ``ctx.emit`` until the work's output ends; returns None."""

    @abstractmethod
    def wait(self, ctx: RunContext) -> Exit:
        """Wait for the work to end and say how it ended."""

    @abstractmethod
    def terminate(self, ctx: RunContext, grace: float) -> Stop:
        """Stop the whole unit of work: ask politely, wait up to ``grace`` seconds, then
        force. Called from another thread while a step may be running, in any phase (also
        during ``prepare``, before the work exists). Returns whether the stop is confirmed."""

    def cleanup(self, ctx: RunContext) -> None:
        """Release everything the run used. Called in ``finally``, always; called again if
        a step the base class abandoned returns later, so it must be idempotent."""

    # -- class-level hooks (found through the registry) -----------------------------------
    @classmethod
    def sweep(cls, is_active: Callable[[str], bool]) -> list[str]:
        """Remove what crashed workers left (processes, containers, Jobs) whose owner, the
        execution tag ``"<store key>:<execution id>"``, is not active. Returns short
        descriptions of what was removed. Raises RunnerError when the backend is unreachable."""
        return []

    @classmethod
    def probe(cls, handle: Mapping[str, Any]) -> Liveness:
        """Whether the work a handle names is still alive."""
        return Liveness.UNKNOWN

    @classmethod
    def stop_handle(cls, handle: Mapping[str, Any], grace: float) -> Stop:
        """Stop work known only by its handle (its worker died)."""
        return Stop(False, f"the {cls.name} runner cannot stop work by its handle")

    @classmethod
    def can_attach(cls) -> bool:
        """Whether this runner implements ``attach`` (and so ``resume``)."""
        return cls.attach is not Runner.attach

    # -- the entry points ------------------------------------------------------------------
    def run(
        self,
        spec: RunSpec,
        reporter: RunReporter | None = None,
        cancel: CancelToken | None = None,
        run_id: str | None = None,
        execution_id: str = "",
    ) -> RunResult:
        """Run ``spec`` to the end and return its result. Never raises for a problem of the
        work or of the runner (those become ``error``/``failed`` results); a failing
        reporter's exception is raised after the work has been stopped and cleaned up."""
        return self._drive(spec, reporter, cancel, run_id, execution_id, None, None)

    def resume(
        self,
        spec: RunSpec,
        handle: Mapping[str, Any],
        reporter: RunReporter | None = None,
        cancel: CancelToken | None = None,
        run_id: str | None = None,
        execution_id: str = "",
        started_at: datetime | None = None,
        metadata: Mapping[str, Any] | None = None,
        secrets: Sequence[str] = (),
    ) -> RunResult:
        """Follow work another process started, known by ``handle``: ``attach``, then
        ``stream`` and ``wait`` under the same rules as ``run``. With ``started_at`` (when
        the work started) the spec's timeout counts from then, not from now. ``metadata`` is
        the run's live metadata as stored so far (a log cursor a runner kept there), readable
        in ``attach`` as ``ctx.resumed_metadata``. ``secrets`` are the ones the run learned
        before (``ctx.add_secret`` in the first process): masked from the start."""
        return self._drive(spec, reporter, cancel, run_id, execution_id, dict(handle), started_at,
                           dict(metadata or {}), list(secrets))

    # -- the engine --------------------------------------------------------------------------
    def _drive(
        self, spec: RunSpec, reporter: RunReporter | None, cancel: CancelToken | None, run_id: str | None,
        execution_id: str, handle: dict[str, Any] | None, resumed_from: datetime | None,
        resumed_metadata: dict[str, Any] | None = None, learned: list[str] | None = None,
    ) -> RunResult:
        reporter = reporter or NullReporter()
        cancel = cancel or CancelToken()
        run_id = run_id or uuid.uuid4().hex
        started_at = datetime.now(UTC)
        broken = _contract_problem(type(self))
        if broken:
            return self._finish(RunContext(spec, reporter, cancel, run_id, execution_id), Exit(error=broken),
                                started_at, False)
        try:
            self.validate(spec)
        except SpecError as exc:
            ctx = RunContext(spec, reporter, cancel, run_id, execution_id)
            return self._finish(ctx, Exit(error=f"invalid spec: {exc}"), started_at, False)
        ctx = RunContext(spec, reporter, cancel, run_id, execution_id, with_defaults(self.options, spec.options),
                         [*secret_option_values(self.options, spec.options), *(learned or [])])
        if handle is not None:
            ctx.handle = handle
            ctx.metadata["handle"] = handle
            ctx.resumed_metadata = resumed_metadata or {}
        if cancel.cancelled:
            ctx.check_stop()
            return self._finish(ctx, Exit(), started_at, False)
        if spec.timeout is not None:
            elapsed = (datetime.now(UTC) - resumed_from).total_seconds() if resumed_from is not None else 0.0
            ctx.deadline = time.monotonic() + spec.timeout - max(0.0, elapsed)
        steps = ("attach", "stream", "wait") if handle is not None else ("prepare", "start", "stream", "wait")
        watch = _Watch()
        if self.watched:
            self._run_watched(ctx, steps, watch)
        else:
            self._run_inline(ctx, steps, watch)
        failed = watch.outcome is not None and watch.outcome.error is not None
        if failed and "stop_confirmed" not in ctx.metadata and (ctx.handle is not None or ctx.phase in ("stream", "wait")):
            # A step failed after the work may exist: stop it before cleaning up.
            ctx.record_stop(self._bounded_terminate(ctx, ctx.spec.grace_period))
        self._safe_cleanup(ctx)
        return self._finish(ctx, watch.outcome or Exit(), watch.started_at or started_at, watch.started)

    def _step(self, ctx: RunContext, step: str, watch: _Watch) -> bool:
        """Run one step; False when the run must not go on (stopped before the work started)."""
        if step in ("start", "attach"):
            if ctx.stopping:
                return False
            watch.started_at = datetime.now(UTC)
        ctx.phase = step
        value = getattr(self, step)(ctx)
        if step == "stream" and value is not None:
            raise _Broken(f"stream() returned {type(value).__name__}; it must call ctx.emit(stream, data) "
                          "for each chunk and return None")
        if step == "wait":
            if not isinstance(value, Exit):
                raise _Broken(f"wait() returned {type(value).__name__}, expected an Exit")
            watch.outcome = _checked_exit(value)
        return True

    def _failure(self, ctx: RunContext, exc: BaseException) -> Exit:
        """The outcome for an exception a step raised."""
        if isinstance(exc, RunnerError):
            return Exit(error=str(exc) or type(exc).__name__)
        if isinstance(exc, (_Broken, ContractError)):
            return Exit(error=ctx.redactor.text(f"runner {self.name!r} breaks the contract: {exc}"))
        # The message only, masked: a traceback would carry the run's secrets into the
        # worker's log (an exception built from a secret option, for instance).
        log.error("runner %r failed in %s: %s", self.name, ctx.phase,
                  ctx.redactor.text(f"{type(exc).__name__}: {exc}"))
        return Exit(error=f"runner {self.name!r} failed in {ctx.phase}: {type(exc).__name__}: {exc}")

    # -- inline: the runner watches the deadline and the token itself -----------------------
    def _run_inline(self, ctx: RunContext, steps: tuple[str, ...], watch: _Watch) -> None:
        try:
            for step in steps:
                if not self._step(ctx, step, watch):
                    return
                if step in ("start", "attach"):
                    self._report_started(ctx)
                    watch.started = True
        except BaseException as exc:
            if ctx.sink_error is exc or not isinstance(exc, Exception):
                self._abort(ctx, exc, watch)
                raise
            watch.outcome = self._failure(ctx, exc)

    # -- watched: the steps run in a thread; this one watches and delivers ------------------
    def _run_watched(self, ctx: RunContext, steps: tuple[str, ...], watch: _Watch) -> None:
        box: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        ctx._outbox = box
        unregister = ctx.cancel.on_cancel(lambda: box.put(("wake",)))
        worker = threading.Thread(target=self._work, args=(ctx, steps, box, watch), daemon=True,
                                  name=f"runwright-{self.name}-{ctx.run_id[:8]}")
        worker.start()
        try:
            self._watch(ctx, box, watch)
        except BaseException as exc:
            self._abort(ctx, exc, watch, worker)
            raise
        finally:
            unregister()
        if watch.stop_at is not None:
            ctx.record_stop(watch.stop or Stop(False, f"terminate did not return within {ctx.spec.grace_period + SETTLE:g}s"))
        if ctx.abandoned:
            ctx.stop_detail += f"; the runner's {ctx.phase} step did not return and was abandoned"
        ctx._outbox = None
        self._drain(ctx, box, watch)

    def _work(self, ctx: RunContext, steps: tuple[str, ...], box: queue.SimpleQueue[tuple[Any, ...]],
              watch: _Watch) -> None:
        try:
            for step in steps:
                if not self._step(ctx, step, watch) or ctx.abandoned:
                    break
                if step in ("start", "attach"):
                    # The metadata as of now: what a later step sets (a log cursor) is reported
                    # after the output before it, never with ``started``.
                    with ctx._lock:
                        box.put(("started", dict(ctx.metadata)))
        except BaseException as exc:
            watch.outcome = self._failure(ctx, exc)
        finally:
            box.put(("done",))
            if ctx.abandoned:  # the run ended without this step: undo what it did since
                self._safe_cleanup(ctx)

    def _watch(self, ctx: RunContext, box: queue.SimpleQueue[tuple[Any, ...]], watch: _Watch) -> None:
        grace = ctx.spec.grace_period
        while True:
            abandon_at = None
            if watch.stop_at is None:
                timeout = ctx.remaining()
            else:
                abandon_at = (watch.stopped_at if watch.stop is not None else watch.stop_at + grace) + SETTLE
                timeout = max(0.0, abandon_at - time.monotonic())
            if threading.current_thread() is threading.main_thread():
                # CPython runs signal handlers (a second Ctrl-C) only in the main thread, and
                # only once its wait returns: a signal the kernel gives another thread does
                # not interrupt it.
                timeout = MAIN_THREAD_WAKE if timeout is None else min(timeout, MAIN_THREAD_WAKE)
            try:
                item = box.get(timeout=timeout)
            except queue.Empty:
                item = ("tick",)
            kind = item[0]
            if kind == "done":
                watch.done = True
            elif kind == "started":
                self._report_started(ctx, item[1])
                watch.started = True
            elif kind == "stopped":
                watch.stop, watch.stopped_at = item[1], time.monotonic()
            elif kind not in ("wake", "tick"):
                ctx._dispatch(item)
            # A step that saw the deadline or the cancel itself (``ctx.wait_stop``) may return
            # before this loop does: the work must still be stopped, so a stop already decided
            # counts once the steps are done, and only then does this loop leave.
            if watch.done:  # a cancel asked before the end was seen still stops (and says so)
                due = ctx.stop_reason is not None or (ctx.cancel.cancelled and ctx.check_stop() is not None)
            else:
                due = ctx.check_stop() is not None
            if watch.stop_at is None and due:
                watch.stop_at = time.monotonic()
                threading.Thread(target=self._terminate_into, args=(ctx, grace, box), daemon=True,
                                 name=f"runwright-stop-{ctx.run_id[:8]}").start()
            elif watch.done and (watch.stop_at is None or watch.stop is not None):
                return
            elif watch.stop_at is not None and abandon_at is not None and kind != "stopped" \
                    and time.monotonic() >= abandon_at:
                # The step (or terminate) did not return in time: give up on it.
                ctx.abandoned = not watch.done
                return

    def _bounded_terminate(self, ctx: RunContext, grace: float) -> Stop:
        """``terminate`` in a thread of its own, given up after the grace period and SETTLE."""
        box: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        threading.Thread(target=self._terminate_into, args=(ctx, grace, box), daemon=True,
                         name=f"runwright-stop-{ctx.run_id[:8]}").start()
        try:
            return box.get(timeout=grace + SETTLE)[1]  # type: ignore[no-any-return]
        except queue.Empty:
            return Stop(False, f"terminate did not return within {grace + SETTLE:g}s")

    def _terminate_into(self, ctx: RunContext, grace: float, box: queue.SimpleQueue[tuple[Any, ...]]) -> None:
        box.put(("stopped", self._call_terminate(ctx, grace)))

    def _call_terminate(self, ctx: RunContext, grace: float) -> Stop:
        try:
            stop = self.terminate(ctx, grace)
        except Exception as exc:
            _log_masked(ctx, f"terminate of run {ctx.run_id} failed", exc)
            return Stop(False, f"terminate failed: {type(exc).__name__}: {exc}")
        if isinstance(stop, Stop):
            return stop
        return Stop(False, f"runner {self.name!r} breaks the contract: terminate() returned "
                           f"{type(stop).__name__}, expected a Stop ({stop})")

    def _drain(self, ctx: RunContext, box: queue.SimpleQueue[tuple[Any, ...]], watch: _Watch) -> None:
        """Deliver what is left in the box (reports made while the run was ending)."""
        while True:
            try:
                item = box.get_nowait()
            except queue.Empty:
                return
            if item[0] in ("output", "event", "metadata", "handle"):
                ctx._dispatch(item)

    def _abort(self, ctx: RunContext, exc: BaseException, watch: _Watch, worker: threading.Thread | None = None) -> None:
        """The reporter failed (or the process is being interrupted): stop the work, clean up,
        say what we can; the caller re-raises."""
        ctx._outbox = None
        if watch.started or worker is not None:
            ctx.record_stop(self._call_terminate(ctx, 0))
        if worker is not None:
            worker.join(SETTLE)
            ctx.abandoned = worker.is_alive()
        self._safe_cleanup(ctx)
        try:
            error = str(exc) if isinstance(exc, RecordingStopped) else f"internal error: {type(exc).__name__}: {exc}"
            self._finish(ctx, Exit(error=error), watch.started_at or datetime.now(UTC), watch.started)
        except Exception as exc2:
            _log_masked(ctx, "reporting the failed run failed too", exc2)
        watch.aborted = True

    def _report_started(self, ctx: RunContext, metadata: dict[str, Any] | None = None) -> None:
        try:
            # Masked with what the run knows now, secrets learned at run time included.
            known = dict(ctx.metadata) if metadata is None else metadata
            ctx.reporter.started(ctx.spec, ctx.redactor.deep(known))  # type: ignore[arg-type]
        except BaseException as exc:
            ctx.sink_error = exc
            raise

    # -- helpers -----------------------------------------------------------------------
    def _safe_cleanup(self, ctx: RunContext) -> None:
        """``cleanup``, never raising. Once the run must stop (its deadline passed or is near,
        a cancel) it is bounded: what is left of the deadline, then the grace period and the
        runner's ``cleanup_seconds``; a cleanup still running then is abandoned (it goes on in
        its thread) and said in the result (``metadata["cleanup_error"]``, a system line)."""
        bound = self._cleanup_bound(ctx)
        if bound is None:
            self._cleanup_into(ctx)
            return
        worker = threading.Thread(target=self._cleanup_into, args=(ctx,), daemon=True,
                                  name=f"runwright-cleanup-{ctx.run_id[:8]}")
        worker.start()
        worker.join(bound)
        if worker.is_alive():
            note = f"cleanup did not return within {bound:g}s: abandoned (what it removes may be left to the sweep)"
            ctx.metadata["cleanup_error"] = note
            ctx.say(f"runwright: {note}")

    def _cleanup_bound(self, ctx: RunContext) -> float | None:
        """Seconds ``cleanup`` may take, or None for no bound (nothing asks the run to stop)."""
        grace = ctx.spec.grace_period + self.cleanup_seconds
        if ctx.cancel.cancelled or ctx.stop_reason is not None:
            return grace
        if ctx.deadline is not None:
            return max(0.0, ctx.deadline - time.monotonic()) + grace
        return None

    def _cleanup_into(self, ctx: RunContext) -> None:
        try:
            self.cleanup(ctx)
        except Exception as exc:
            _log_masked(ctx, f"cleanup of run {ctx.run_id} failed", exc)
            ctx.metadata["cleanup_error"] = ctx.redactor.text(f"{type(exc).__name__}: {exc}")

    def _finish(self, ctx: RunContext, outcome: Exit, started_at: datetime, started: bool) -> RunResult:
        ctx.close()
        status, error = _decide(ctx, outcome)
        ctx.metadata.update(outcome.metadata)
        result = RunResult(
            status=status,
            exit_code=outcome.exit_code,
            signal=outcome.signal,
            started_at=started_at if started else None,
            finished_at=datetime.now(UTC),
            error=ctx.redactor.text(error) if error else None,
            stdout_tail=ctx.tails["stdout"].text(),
            stderr_tail=ctx.tails["stderr"].text(),
            stdout_bytes=ctx.tails["stdout"].total,
            stderr_bytes=ctx.tails["stderr"].total,
            metadata=ctx.redactor.deep(ctx.metadata),  # type: ignore[arg-type]
        )
        ctx.reporter.finished(result)
        return result


@dataclass
class _Watch:
    """What the base class knows about one run's progress."""

    started: bool = False
    started_at: datetime | None = None
    outcome: Exit | None = None
    done: bool = False
    stop_at: float | None = None
    stop: Stop | None = None
    stopped_at: float = 0.0
    aborted: bool = False


_problems: dict[type, str | None] = {}


def _contract_problem(cls: type) -> str | None:
    """The contract error of ``cls`` as one message, or None; checked once per class."""
    if cls in _problems:
        return _problems[cls]
    from runwright.runners.conformance import contract_problems

    problems = contract_problems(cls)
    name = getattr(cls, "name", "") or cls.__name__
    message = f"runner {name!r} breaks the contract: {'; '.join(problems)}" if problems else None
    _problems[cls] = message
    return message


def _decide(ctx: RunContext, outcome: Exit) -> tuple[Status, str | None]:
    """The one rule that turns how the work ended into a status."""
    from runwright.runners.exitcodes import describe_exit

    if ctx.stop_reason is not None:
        return ctx.stop_reason, ctx.stop_detail
    if outcome.error:
        if ctx.metadata.get("stop_confirmed") is False:  # a step failed and its work may live on
            return Status.ERROR, f"{outcome.error}; {ctx.stop_detail}"
        return Status.ERROR, outcome.error
    if outcome.status is not None:
        return outcome.status, outcome.reason
    if outcome.exit_code == 0:
        return Status.SUCCESS, None
    return Status.FAILED, outcome.reason or describe_exit(outcome.exit_code)



def _log_masked(ctx: RunContext, what: str, exc: BaseException) -> None:
    """``what`` and the exception's traceback in the worker's log, masked with the run's
    secrets (an exception built from a secret option must not carry it into the log)."""
    text = "".join(traceback.format_exception(exc)).rstrip("\n")
    log.error("%s\n%s", what, ctx.redactor.text(text))


__all__ = ["SETTLE", "Exit", "Liveness", "OnWorkerLost", "RunContext", "Runner", "RunnerError", "Stop"]


def _checked_exit(outcome: Exit) -> Exit:
    """An Exit whose fields have the documented types, or _Broken naming the field."""
    if outcome.exit_code is not None and (not isinstance(outcome.exit_code, int) or isinstance(outcome.exit_code, bool)):
        raise _Broken(f"wait() returned Exit(exit_code={type(outcome.exit_code).__name__}), expected an int or None")
    for name in ("signal", "error", "reason"):
        value = getattr(outcome, name)
        if value is not None and not isinstance(value, str):
            raise _Broken(f"wait() returned Exit({name}={type(value).__name__}), expected a str or None")
    if outcome.status is not None and not isinstance(outcome.status, Status):
        try:
            outcome.status = Status(outcome.status)
        except ValueError:
            raise _Broken(f"wait() returned Exit(status={outcome.status!r}), expected a Status") from None
    if not isinstance(outcome.metadata, dict):
        raise _Broken(f"wait() returned Exit(metadata={type(outcome.metadata).__name__}), expected a dict")
    try:
        json.dumps(outcome.metadata)
    except (TypeError, ValueError) as exc:
        raise _Broken(f"wait() returned Exit(metadata=...) that is not JSON-ready: {exc}") from None
    return outcome
