"""The platforms' own ``ExecutionLogger`` and ``ExecutionContext``, on runwright.

A platform whose executors do ``from myplatform.logging import ExecutionLogger,
ExecutionContext`` changes that one line to::

    from runwright.logging_core.legacy import ExecutionContext, ExecutionLogger

and keeps calling the class (static methods, never an instance) with the same names and
parameters. What changes is what happens: every status write is one conditional UPDATE
through the model's field map (terminal states are final, a stale copy cannot turn a
cancelled run into a success), secrets are masked, database errors are raised (never
swallowed), output goes to runwright's chunk table with the model's text fields kept as a
bounded summary, and the end of a run (output and status) is one transaction.

The records are written through a runwright ``ExecutionLogger`` (its secrets, storage limit
and observers): by default one built on first use with ``settings.RUNWRIGHT_SECRETS``;
``configure()`` sets another.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import operator
import subprocess
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar

from runwright.logging_core.logger import ExecutionLogger as RunwrightLogger
from runwright.logging_core.logger import live_recorder, stop_live_run
from runwright.logging_core.recorder import TransitionRefused, jsonable, retrying
from runwright.logging_core.storage_limit import COUNT_WIDTH, fit, last_marker, marker
from runwright.logging_core.store import MAX_CHUNK, Chunk, NotFound, Store, as_line
from runwright.runners.result import RunResult
from runwright.runners.secrets import Redactor
from runwright.runners.status import TERMINAL, Status, sources_of

log = logging.getLogger("runwright.legacy")
T = TypeVar("T")
P = ParamSpec("P")

DEFAULT_TIMEOUT_MESSAGE = "Execution timed out"
DEFAULT_CANCEL_MESSAGE = "Execution cancelled"
#: Exceptions recorded as a timeout or a cancel when they leave an ExecutionContext; matched
#: by class name too, so Celery's time limits count without importing Celery.
TIMEOUT_EXCEPTIONS: tuple[type[BaseException], ...] = (subprocess.TimeoutExpired, TimeoutError)
TIMEOUT_NAMES = frozenset({"SoftTimeLimitExceeded", "TimeLimitExceeded"})
CANCEL_EXCEPTIONS: tuple[type[BaseException], ...] = (KeyboardInterrupt,)
CANCEL_NAMES = frozenset({"Terminated", "WorkerTerminate", "TaskRevokedError"})

_core: RunwrightLogger | None = None
#: The secrets the last ``configure(secrets=...)`` gave; None: the setting ``RUNWRIGHT_SECRETS``.
_secrets: list[str] | None = None
_core_lock = threading.Lock()
_stores: dict[type, Store] = {}


def configure(logger: RunwrightLogger | None = None, **options: Any) -> RunwrightLogger:
    """Set the runwright ExecutionLogger the class-level API records through: ``logger``,
    or one built from ``options`` (``secrets=[...]``, ``max_stored_bytes=...``,
    ``observers=[...]``, see ``runwright.logging_core.ExecutionLogger``). Returns it.

    The secrets configured so far (``settings.RUNWRIGHT_SECRETS``, or those of an earlier
    ``configure(secrets=...)``) are kept unless ``secrets=`` replaces them: the new logger,
    or the ``logger`` given, masks them too. Raises TypeError for a secret that is not a
    string (named by its position, never shown)."""
    global _core, _secrets
    with _core_lock:
        if logger is not None and options:
            raise TypeError("configure(): give a logger or options to build one, not both")
        if "secrets" in options:
            secrets = _checked_secrets(options["secrets"], "configure(secrets=...)", TypeError)
        else:
            secrets = _secrets if _secrets is not None else _settings_secrets()
        if logger is None:
            logger = RunwrightLogger(**{**options, "secrets": secrets})
        elif secrets:
            logger.redactor = Redactor([*logger.redactor.values, *secrets])
        _secrets = secrets if "secrets" in options or _secrets is not None else None
        _core = logger
        return _core


def core() -> RunwrightLogger:
    """The runwright ExecutionLogger behind the class-level API (built on first use, with
    the Django setting ``RUNWRIGHT_SECRETS`` as its secrets when it is set)."""
    global _core
    with _core_lock:
        if _core is None:
            _core = RunwrightLogger(secrets=_secrets if _secrets is not None else _settings_secrets())
        return _core


def _settings_secrets() -> list[str]:
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    return _checked_secrets(getattr(settings, "RUNWRIGHT_SECRETS", None) or (), "settings.RUNWRIGHT_SECRETS",
                            ImproperlyConfigured)


def _checked_secrets(values: Any, where: str, error: type[Exception]) -> list[str]:
    """``values`` as a list of secrets (empty ones skipped), or ``error`` naming ``where``
    and the position of a value that is not a string (the value itself is never shown)."""
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise error(f"{where} must be a list of strings, not a {type(values).__name__}")
    secrets: list[str] = []
    for i, value in enumerate(values):
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise error(f"{where}[{i}] is a {type(value).__name__}, not a string: give the secret as the text "
                        f"it is printed as (str(value))")
        secrets.append(value)
    return secrets


class ExecutionLogger:
    """The platforms' API, called on the class: ``ExecutionLogger.start_execution(execution)``.

    ``execution`` is a model instance (runwright's ``Execution`` or a platform's model with a
    field map, see ``FieldMap``) or an id of runwright's own model. The status methods return
    whether the change was applied (False: the execution was already final, nothing was
    written to it). They raise ``NotFound`` when the row is gone, ``FieldMapError`` for a
    status the map cannot place, and database errors after brief retries (at once inside a
    caller's ``transaction.atomic()``, whose connection is left open and usable)."""

    @staticmethod
    def start_execution(execution: Any, log_message: str | None = None) -> bool:
        """pending -> running, ``started_at`` now; ``log_message`` is appended as a line."""
        return LegacyAPI(core()).start_execution(execution, log_message)

    @staticmethod
    def complete_execution(
        execution: Any,
        result: Any = None,
        status: Status | str | None = None,
        error_message: str | None = None,
        timeout_message: str | None = None,
        custom_logs: str | bytes | None = None,
        log_message: str | None = None,
    ) -> bool:
        """Record the end of an execution. ``result``: a ``CompletedProcess``, a ``RunResult``
        (its status, exit code, error and output tails) or a dict with any of ``stdout``,
        ``stderr``, ``output`` (stdout), ``logs``, ``return_code`` (``returncode``,
        ``exit_code``), ``status`` (the model's value or runwright's) and ``error``
        (``error_message``); or None. Without a status: ``timeout`` when a
        ``timeout_message`` is given, else success for exit code 0 or none, failed otherwise.
        ``custom_logs`` replaces the execution's log lines (never its stdout/stderr)."""
        return LegacyAPI(core()).complete_execution(
            execution, result, status, error_message, timeout_message, custom_logs, log_message)

    @staticmethod
    def fail_execution(execution: Any, error_message: str, return_code: int | None = -1, log_message: str | None = None) -> bool:
        """``return_code`` must be an int or None (TypeError otherwise)."""
        return LegacyAPI(core()).fail_execution(execution, error_message, return_code, log_message)

    @staticmethod
    def timeout_execution(
        execution: Any, timeout_message: str = DEFAULT_TIMEOUT_MESSAGE, timeout_seconds: float | None = None,
        log_message: str | None = None,
    ) -> bool:
        """The model's ``timeout`` status where it has one, else its failure value."""
        return LegacyAPI(core()).timeout_execution(execution, timeout_message, timeout_seconds, log_message)

    @staticmethod
    def cancel_execution(execution: Any, cancel_message: str = DEFAULT_CANCEL_MESSAGE, log_message: str | None = None) -> bool:
        return LegacyAPI(core()).cancel_execution(execution, cancel_message, log_message)

    @staticmethod
    def update_execution_logs(execution: Any, logs: str | bytes | None, append: bool = False) -> bool:
        """``append=True`` adds ``logs`` as lines; ``append=False`` replaces the log lines
        written so far (stdout and stderr are kept). Returns whether it was written: False
        for ``logs=None`` (ignored) and on a final execution (a warning says so). Raises
        TypeError for anything but str, bytes or None."""
        return LegacyAPI(core()).update_execution_logs(execution, logs, append)

    @staticmethod
    def log_execution_info(execution: Any, message: str | None, level: str = "info") -> bool:
        """A ``[LEVEL] message`` line in the execution's log, and a record on the
        ``runwright.legacy`` Python logger. Returns whether it was written, as
        ``update_execution_logs`` does (``message=None`` is ignored)."""
        return LegacyAPI(core()).log_execution_info(execution, message, level)


class ExecutionContext:
    """``with ExecutionContext(execution, "starting") as ctx: ... ctx.set_result(proc)``

    Starts the execution on entry. On a normal exit it completes it with the result given
    to ``set_result`` (success when none). An exception leaving the block is recorded (its
    message masked) and re-raised: ``subprocess.TimeoutExpired``/``TimeoutError``/Celery's
    time limits as ``timeout``, ``KeyboardInterrupt`` as ``cancelled`` (someone stopped it),
    anything else as ``failed``. If recording itself fails, that error is raised with the
    block's exception as its context."""

    def __init__(self, execution: Any, start_message: str | None = None, *, logger: RunwrightLogger | None = None) -> None:
        self.execution = execution
        self.start_message = start_message
        self.result: Any = None
        self._logger = logger

    def set_result(self, result: Any) -> None:
        """What ``complete_execution`` records on a normal exit (see its ``result``)."""
        self.result = result

    def __enter__(self) -> ExecutionContext:
        """Start the execution. On an execution already final (cancelled before its worker
        got to it, finished by someone else) the block is not run: ``TransitionRefused``
        names the execution and its status (terminal states are final)."""
        api = self._api()
        if not api.start_execution(self.execution, self.start_message):
            store, ref = api._target(self.execution)
            current = store.status(ref)
            if current in TERMINAL:
                what = f"{type(self.execution).__name__} execution" if hasattr(self.execution, "pk") else "execution"
                raise TransitionRefused(ref, current, Status.RUNNING, what)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        api = self._api()
        if exc is None:
            api.complete_execution(self.execution, self.result)
            return
        message = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        names = {c.__name__ for c in type(exc).__mro__}
        if isinstance(exc, TIMEOUT_EXCEPTIONS) or names & TIMEOUT_NAMES:
            api.timeout_execution(self.execution, message)
        elif isinstance(exc, CANCEL_EXCEPTIONS) or names & CANCEL_NAMES:
            api.cancel_execution(self.execution, message)
        else:
            api.fail_execution(self.execution, message)

    def _api(self) -> LegacyAPI:
        return LegacyAPI(self._logger or core())


@dataclass
class _Outcome:
    """A result of any accepted shape, normalised."""

    return_code: int | None = None
    status: Status | str | None = None
    error: str | None = None
    output: list[tuple[str, Any]] = field(default_factory=list)  # (stream, str|bytes), in order
    logs: Any = None
    result: dict[str, Any] | None = None

    @classmethod
    def of(cls, result: Any) -> _Outcome:
        if result is None:
            return cls()
        if isinstance(result, RunResult):
            return cls(_exit_code(result.exit_code, "result.exit_code"), result.status, result.error,
                       [("stdout", _text(result.stdout_tail, "result.stdout_tail")),
                        ("stderr", _text(result.stderr_tail, "result.stderr_tail"))], result=result.to_dict())
        if isinstance(result, subprocess.CompletedProcess):
            return cls(_exit_code(result.returncode, "result.returncode"),
                       output=[("stdout", _text(result.stdout, "result.stdout")),
                               ("stderr", _text(result.stderr, "result.stderr"))])
        if isinstance(result, Mapping):
            code = next((_exit_code(result[k], f"result[{k!r}]") for k in ("return_code", "returncode", "exit_code")
                         if result.get(k) is not None), None)
            texts = {k: _text(result.get(k), f"result[{k!r}]") for k in ("stdout", "output", "stderr", "logs")}
            return cls(code, result.get("status") or None, result.get("error") or result.get("error_message") or None,
                       [("stdout", _joined_lines(texts["stdout"], texts["output"])), ("stderr", texts["stderr"])],
                       logs=texts["logs"])
        raise TypeError(f"result: expected a CompletedProcess, RunResult, dict or None, got {type(result).__name__}")


def _masked_errors(method: Callable[Concatenate[LegacyAPI, P], T]) -> Callable[Concatenate[LegacyAPI, P], T]:
    """Errors leaving the API with a secret in their message (built from a value the caller
    passed, a status value, a database's detail line) are raised again masked, of the same
    type where it can be rebuilt from a message, with no link to the unmasked original."""

    @functools.wraps(method)
    def masking(self: LegacyAPI, *args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:  # re-raised below, masked or as it is
            masked = _masked(exc, self.redactor.text)
            if masked is None:
                raise
            error = masked
        raise error  # outside the except block: the unmasked error is not its context

    return masking  # type: ignore[return-value]


def _masked(exc: BaseException, mask: Callable[[str], str]) -> BaseException | None:
    text = str(exc)
    safe = mask(text)
    if safe == text:
        return None
    try:
        new = type(exc)(safe)
        if str(new) != safe:
            raise TypeError
    except Exception:  # a type that cannot be rebuilt from a message
        new = RuntimeError(f"{type(exc).__name__}: {safe}")
    return new.with_traceback(exc.__traceback__)


class LegacyAPI:
    """The legacy API's behaviour on one runwright ExecutionLogger. The class-level
    ``ExecutionLogger`` above and the same-named methods of runwright's own
    ``ExecutionLogger`` instances both call it."""

    def __init__(self, logger: RunwrightLogger) -> None:
        self.logger = logger
        self.redactor = logger.redactor

    # -- the API ---------------------------------------------------------------------------
    @_masked_errors
    def start_execution(self, execution: Any, log_message: str | None = None) -> bool:
        return self._finish(execution, Status.RUNNING, {"started_at": datetime.now(UTC)}, lines=[log_message], start=False)

    @_masked_errors
    def complete_execution(
        self, execution: Any, result: Any = None, status: Status | str | None = None, error_message: str | None = None,
        timeout_message: str | None = None, custom_logs: str | bytes | None = None, log_message: str | None = None,
    ) -> bool:
        store, _ = self._target(execution)
        outcome = _Outcome.of(result)
        custom_logs = _text(custom_logs, "custom_logs")
        target = self._status(store, status) or self._status(store, outcome.status)
        if target is None:
            if timeout_message is not None:
                target = Status.TIMEOUT
            else:
                target = Status.SUCCESS if outcome.return_code in (0, None) else Status.FAILED
        error = error_message or timeout_message or outcome.error
        values: dict[str, Any] = {"completed_at": datetime.now(UTC)}
        if outcome.return_code is not None:
            values["return_code"] = outcome.return_code
        if outcome.result is not None:
            values["result"] = jsonable(self.redactor.deep(outcome.result))
        return self._finish(execution, target, values, error=error, output=outcome.output, replace_logs=custom_logs,
                            log_lines=outcome.logs, lines=[log_message])

    @_masked_errors
    def fail_execution(
        self, execution: Any, error_message: str, return_code: int | None = -1, log_message: str | None = None,
    ) -> bool:
        values = {"completed_at": datetime.now(UTC), "return_code": _exit_code(return_code, "return_code")}
        return self._finish(execution, Status.FAILED, values, error=error_message, lines=[log_message])

    @_masked_errors
    def timeout_execution(
        self, execution: Any, timeout_message: str = DEFAULT_TIMEOUT_MESSAGE, timeout_seconds: float | None = None,
        log_message: str | None = None,
    ) -> bool:
        message = str(timeout_message or DEFAULT_TIMEOUT_MESSAGE)  # taken as it is: never a format string
        if timeout_seconds is not None:
            message += f" (after {_seconds(timeout_seconds)})"
        return self._finish(execution, Status.TIMEOUT, {"completed_at": datetime.now(UTC)}, error=message, lines=[log_message])

    @_masked_errors
    def cancel_execution(
        self, execution: Any, cancel_message: str = DEFAULT_CANCEL_MESSAGE, log_message: str | None = None
    ) -> bool:
        return self._finish(execution, Status.CANCELLED, {"completed_at": datetime.now(UTC)},
                            error=cancel_message or DEFAULT_CANCEL_MESSAGE, lines=[log_message], start=False)

    @_masked_errors
    def update_execution_logs(self, execution: Any, logs: str | bytes | None, append: bool = False) -> bool:
        store, ref = self._target(execution)
        logs = _text(logs, "logs")
        if logs is None:  # nothing to write (a replacement by None is no replacement)
            return False
        if append:
            written = self._note(store, ref, logs, "log lines")
        else:
            data = self.redactor.data(_bytes(logs))
            written = self._late_write(store, ref, lambda: self._replace(store, ref, data), "a replacement of the log")
        self._refresh(store, execution)
        return written

    @_masked_errors
    def log_execution_info(self, execution: Any, message: str | None, level: str = "info") -> bool:
        store, ref = self._target(execution)
        text = _text(message, "message")
        if text is None:
            return False
        message = self.redactor.text(text if isinstance(text, str) else _bytes(text).decode("utf-8", "replace"))
        # Masked before it is upper-cased (a secret upper-cased is no longer the secret the
        # redactor knows), and the line masked again as a whole when it is written.
        name = self.redactor.text(self.redactor.text(str(level)).upper())
        levelno = logging.getLevelName(name)
        log.log(levelno if isinstance(levelno, int) else logging.INFO, "execution %s: %s", ref, message)
        written = self._note(store, ref, f"[{name}] {message}", "a log line")
        self._refresh(store, execution)
        return written

    def _note(self, store: Store, ref: Any, text: str | bytes, what: str) -> bool:
        """Lines in an execution's log. A run this process is recording has one writer of
        its offsets, its recorder: the lines go through it, after the output it holds.
        Otherwise they go at the stored end, the row locked (a run of another process moves
        its own pending output past them); never to a final execution."""
        rec = live_recorder(store, ref)
        if rec is not None:
            rec.note(self.redactor.text(text if isinstance(text, str) else _bytes(text).decode("utf-8", "replace")))
            return True
        return self._late_write(store, ref, lambda: self._lines(store, ref, text), what)

    def _late_write(self, store: Store, ref: Any, write: Callable[[], None], what: str) -> bool:
        """``write`` to the log of a live execution, one writer at a time (the execution's
        row locked first). Once the execution is final its row and log are never touched
        again (a stale worker's progress cannot erase a cancel reason): the write is
        dropped with a warning, as a refused late completion is."""

        def guarded() -> Status | None:
            _lock_row(store, ref)
            current = store.status(ref)
            if current in TERMINAL:
                return current
            write()
            return None

        final = self._write(store, guarded)
        if final is not None:
            log.warning("execution %s is already %s: %s not stored", ref, final.value, what)
        return final is None

    # -- one status change, with everything written alongside it ------------------------------
    def _finish(
        self, execution: Any, target: Status, values: dict[str, Any], *, error: str | None = None,
        output: Iterable[tuple[str, Any]] = (), replace_logs: str | bytes | None = None, log_lines: Any = None,
        lines: Iterable[str | bytes | None] = (), start: bool = True,
    ) -> bool:
        """Move the execution to ``target`` and, only if that was applied, write its output,
        error and lines, all in one transaction. A refused change writes nothing to the
        execution: it is logged (``transition_refused``) and False returned."""
        store, ref = self._target(execution)
        lines = [_text(line, "log_message") for line in lines]
        fields = getattr(store, "fields", None)
        error = self.redactor.text(str(error)) if error else None
        error_in_field = fields is None or bool(fields.error_message)
        error_cut = False
        if error_in_field and target != Status.RUNNING:
            values["error_message"] = error or ""  # cut to the field's max_length by the store (FieldMap.columns)
            limit = fields.max_length("error_message") if fields is not None else None
            error_cut = bool(error and limit is not None and len(error) > limit)
        # Masked before the transaction, so a retry writes the same bytes.
        chunks = [(stream, self.redactor.data(_bytes(data))) for stream, data in output if data]
        replacement = self.redactor.data(_bytes(replace_logs)) if replace_logs is not None else None
        # (line, within the storage limit?): error text is stored even past the limit.
        extra: list[tuple[str | bytes, bool]] = [(self.redactor.data(_bytes(log_lines)), True)] if log_lines else []
        if error and not error_in_field:
            extra.append((error, False))
        elif error and error_cut:  # the field holds its start: the whole text is a line of the log
            extra.append((f"[runwright] error message in full: {error}", False))
        extra += [(self.redactor.data(_bytes(line)), True) for line in lines if line]

        def write() -> Status | None:
            if start and Status.PENDING not in sources_of(target):  # finishing a run never started: start it on the way
                store.transition(ref, Status.RUNNING, {"started_at": values.get("completed_at") or datetime.now(UTC)})
            refused = store.transition(ref, target, values)
            if refused is not None:
                return refused
            dropped = [0]  # everything this call could not store, counted in the execution's one marker
            last: tuple[str, bytes] | None = None
            for stream, data in chunks:
                if last is not None and last[0] != stream and last[0] in store.shown_with(stream) \
                        and not last[1].endswith(b"\n"):
                    # Shown together (one text field): this stream's text starts on a line of its own.
                    # The newline is runwright's (``system``): each stream keeps its bytes exactly.
                    self._append(store, ref, "system", b"\n", limited=False)
                self._append(store, ref, stream, data, dropped=dropped)
                last = (stream, data)
            if replacement is not None:
                self._replace(store, ref, replacement, dropped)
            for line, limited in extra:
                self._lines(store, ref, line, limited, dropped)
            if dropped[0]:
                self._mark(store, ref, dropped[0])
            close = getattr(store, "close_output", None)
            if close is not None and target in TERMINAL:  # an unfinished character at the end shows as U+FFFD
                close(ref)
            return None

        previous, runner = self._before(store, ref)
        refused = self._write(store, write)
        if refused is None:
            info = {k: v for k, v in values.items() if k in ("return_code", "error_message") and v}
            if runner:
                info["runner"] = runner
            # Masked as everything logged is (a secret passed as a value of any type, text or not).
            info = {k: v if isinstance(v, int) else self.redactor.text(str(v)) for k, v in info.items()}
            self.logger._notify("on_status", ref, previous, target, info)
            stop_live_run(store, ref, target, "API")  # every cancel stops the work
        else:
            self.logger._notify("on_refused", ref, refused, target, "api")
        self._refresh(store, execution)
        return refused is None

    def _before(self, store: Store, ref: Any) -> tuple[Status | None, str | None]:
        """The status and runner before a change, for observers (structured logs, metrics):
        one read, only when someone listens."""
        if not self.logger.observers:
            return None, None
        try:
            view = store.get(ref)
        except Exception:
            return None, None
        return view.status, view.runner or None

    # -- output ------------------------------------------------------------------------------
    def _append(
        self, store: Store, ref: Any, stream: str, data: bytes, limited: bool = True, end: int | None = None,
        dropped: list[int] | None = None,
    ) -> None:
        """Store ``data`` at the end of the log, within the storage limit, which counts the
        bytes stored (a replaced log leaves its offsets behind, not its bytes); error text is
        stored even past it. What does not fit is dropped and counted in the execution's one
        marker line (``_mark``): at once, or with ``dropped``, added to ``dropped[0]`` for the
        caller to count. Called with the execution's row locked (see ``_lock_row``)."""
        end = store.log_end(ref) if end is None else end
        cut = 0
        if limited and end + len(data) > self.logger.max_stored_bytes:  # stored <= end: only here can it be full
            data, cut = fit(data, self.logger.max_stored_bytes - sum(_sizes(store, ref).values()))
            if cut:
                log.warning("execution %s: output storage limit of %d bytes reached, %d bytes of %s not stored",
                            ref, self.logger.max_stored_bytes, cut, stream)
        if data:
            store.append_output(ref, [Chunk(end + i, stream, data[i : i + MAX_CHUNK])
                                      for i in range(0, len(data), MAX_CHUNK)])
        if cut and dropped is not None:
            dropped[0] += cut
        elif cut:
            self._mark(store, ref, cut)

    def _replace(self, store: Store, ref: Any, data: bytes, dropped: list[int] | None = None) -> None:
        """Replace the log lines (the ``system`` stream) by ``data``, within the storage limit
        (what the other streams hold counts, what is replaced does not). The marker is one of
        the lines replaced, and what it counted was theirs: the count starts again."""
        sizes = _sizes(store, ref)
        found = last_marker(store, ref)
        data, cut = fit(data, self.logger.max_stored_bytes - (sum(sizes.values()) - sizes.get("system", 0)))
        if cut:
            log.warning("execution %s: output storage limit of %d bytes reached, %d bytes not stored",
                        ref, self.logger.max_stored_bytes, cut)
        store.replace_output(ref, "system", data)
        if found is not None and not cut:
            store.update(ref, {"dropped_bytes": 0})
        if cut and dropped is not None:
            dropped[0] += cut
        elif cut:
            self._mark(store, ref, cut)

    def _mark(self, store: Store, ref: Any, dropped: int) -> None:
        """Count ``dropped`` more bytes not stored in the execution's one marker line: the
        marker found is rewritten in place with the new total (its count padded to a fixed
        width, so no offset moves), else one is added at the end of the log, on a line of its
        own. The row's ``dropped_bytes`` (where the model has one) is set to the total."""
        found = last_marker(store, ref)
        if found is not None:
            chunk, limit, counted = found
            total = counted + dropped
            new = marker(limit, total, size=len(chunk.data))
            if len(new) == len(chunk.data):
                store.rewrite_chunk(ref, chunk, new)
                store.update(ref, {"dropped_bytes": total})
                return
        total = dropped + (found[2] if found is not None else 0)
        end = store.log_end(ref)
        tail = store.line_tail(ref, "system") if end else b""
        line = marker(self.logger.max_stored_bytes, total, count_width=COUNT_WIDTH)
        chunks = [Chunk(end, "system", line)]
        if tail and not tail.endswith(b"\n"):  # the newline a chunk of its own: the marker chunk is only the marker
            chunks = [Chunk(end, "system", b"\n"), Chunk(end + 1, "system", line)]
        store.append_output(ref, chunks)
        store.update(ref, {"dropped_bytes": total})

    def _lines(
        self, store: Store, ref: Any, text: str | bytes, limited: bool = True, dropped: list[int] | None = None,
    ) -> None:
        """``text`` as whole lines of runwright's log: on a line of its own among what is
        shown with it (its text field's other streams; see ``Store.shown_with``),
        newline-ended, a UTF-8 character split between two calls never cut by a newline
        (``as_line``). Bytes are stored as they are."""
        data = self.redactor.data(_bytes(text))
        if not data:
            return
        end = store.log_end(ref)
        data = as_line(data, store.line_tail(ref, "system") if end else b"")
        self._append(store, ref, "system", data, limited, end, dropped)

    # -- plumbing ------------------------------------------------------------------------------
    def _target(self, execution: Any) -> tuple[Store, Any]:
        store = self.logger.store
        if isinstance(execution, (int, str)) and not isinstance(execution, bool):
            return store, execution
        model = type(execution)
        if not hasattr(model, "_meta") or not hasattr(execution, "pk"):
            raise TypeError(f"execution: expected a model instance, got a {model.__name__}: pass the model instance; "
                            f"ids are only for runwright's own Execution")
        if model is not getattr(store, "model", None):
            store = _stores.get(model)  # type: ignore[assignment]
            if store is None:
                from runwright.logging_core.django_store import DjangoStore

                store = _stores.setdefault(model, DjangoStore(model))  # the field map is checked here, once
        if execution.pk is None:
            raise ValueError(f"{model.__name__} instance has no primary key: save it before recording on it")
        return store, execution.pk

    @staticmethod
    def _status(store: Store, status: Status | str | None) -> Status | None:
        if status is None or isinstance(status, Status):
            return status
        fields = getattr(store, "fields", None)
        return fields.status_from_value(str(status)) if fields is not None else Status(status)

    @staticmethod
    def _write(store: Store, fn: Callable[[], T]) -> T:
        """Run ``fn`` in one transaction. Transient errors are retried (the connection reset
        between tries), except under a caller's ``transaction.atomic()``: there ``fn`` runs in
        a savepoint, once, and its error is raised with the caller's connection left open
        and usable (rolled back to before ``fn``)."""
        atomic: Callable[[], Any] = getattr(store, "atomic", contextlib.nullcontext)
        retryable: tuple[type[BaseException], ...] = ()
        if store.transient_errors:
            from django.db import IntegrityError  # two writers appending at once: the offset is taken again

            retryable = (*store.transient_errors, IntegrityError)
        def in_one_transaction() -> T:
            with atomic():
                return fn()

        if getattr(store, "in_transaction", bool)():
            return in_one_transaction()
        return retrying(store, in_one_transaction, retry_on=retryable)

    @staticmethod
    def _refresh(store: Store, execution: Any) -> None:
        """Bring the caller's instance up to date with the fields runwright wrote, and only
        those (the caller's unsaved changes to other fields are kept)."""
        if not hasattr(execution, "refresh_from_db"):
            return
        fields = getattr(store, "fields", None)
        if fields is None:
            execution.refresh_from_db()
            return
        names = [getattr(fields, n) for n in ("status", "started_at", "completed_at", "stdout", "stderr", "return_code",
                                              "logs", "error_message")]
        names += [c for c in fields.extra.values() if c not in ("parent_id",)]
        concrete = {f.attname for f in type(execution)._meta.concrete_fields}
        execution.refresh_from_db(fields=[n for n in dict.fromkeys(names) if n and n in concrete])


def _sizes(store: Store, ref: Any) -> dict[str, int]:
    """Bytes stored per stream, summed in the database."""
    text = getattr(store, "text", None)
    return text.sizes(ref) if text is not None else store.output_sizes(ref)  # type: ignore[no-any-return]


def _lock_row(store: Store, ref: Any) -> None:
    """Lock the execution's row until the end of the transaction, so that writers of one
    execution take their turns (each finds the end of the log the previous one left):
    ``SELECT ... FOR NO KEY UPDATE`` where the database has row locks, else a write of the
    row (SQLite then holds its write lock from the start, instead of failing to upgrade a
    read to a write with "database is locked"). Raises NotFound when the row is gone."""
    model = getattr(store, "model", None)
    if model is None:
        return
    from django.db import connections
    from django.db.models import F

    manager = model._default_manager
    if connections[manager.db].features.has_select_for_update:
        found = bool(list(manager.select_for_update(no_key=True).filter(pk=ref).values_list("pk", flat=True)))
    else:
        status = store.fields.status  # type: ignore[attr-defined]
        found = bool(manager.filter(pk=ref).update(**{status: F(status)}))
    if not found:
        raise NotFound(ref)


def _joined_lines(first: Any, second: Any) -> bytes | None:
    """Two texts of one stream (a dict's ``stdout`` and ``output``), the second on a line of its own."""
    if not first or not second:
        return _bytes(first or second) if (first or second) else None
    head = _bytes(first)
    return head + (b"" if head.endswith(b"\n") else b"\n") + _bytes(second)


def _exit_code(value: Any, name: str) -> int | None:
    """``value`` as an exit code: an int (anything with ``__index__`` but a bool) or None;
    else a TypeError naming ``name`` and the type (never the value, which may be a secret)."""
    if value is None:
        return None
    if isinstance(value, bool) or not hasattr(type(value), "__index__"):
        raise TypeError(f"{name} must be an int or None, not a {type(value).__name__}")
    return operator.index(value)


def _text(value: Any, name: str) -> str | bytes | None:
    """``value`` as text to write: str, bytes (bytearray, memoryview) or None; else a
    TypeError naming ``name`` and the type (``str(value)`` would store ``"42"``, ``"['a']"``)."""
    if value is None or isinstance(value, str | bytes):
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    raise TypeError(f"{name} must be str, bytes or None, not a {type(value).__name__}")



def _bytes(data: Any) -> bytes:
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    return str(data).encode()


def _seconds(value: Any) -> str:
    try:
        return f"{float(value):g}s"
    except (TypeError, ValueError):
        return str(value)


__all__ = ["DEFAULT_CANCEL_MESSAGE", "DEFAULT_TIMEOUT_MESSAGE", "ExecutionContext", "ExecutionLogger", "LegacyAPI",
           "configure", "core"]
