"""A cancel token a caller sets from any thread, or from a signal handler, and a runner
waits on without polling."""

from __future__ import annotations

import itertools
import os
import select
import threading
from collections.abc import Callable


class CancelToken:
    """Set once by whoever wants the run stopped; read by the runner.

    ``fileno()`` gives a descriptor that becomes readable when the token is set, so a runner
    that waits in a selector wakes at once instead of polling.

    ``cancel()`` takes no lock: it is safe in a signal handler (a handler runs between two
    bytecodes of the main thread, maybe while that thread is inside this token; a lock there
    would deadlock). The first cancel wins; callbacks given to ``on_cancel`` run in the
    canceller's context, so from a signal handler they must not take locks either
    (``queue.SimpleQueue.put`` and ``os.write`` are fine).
    """

    def __init__(self) -> None:
        self._set = False
        self._first = itertools.count()  # next() is atomic: the first cancel wins, lock-free
        self._lock = threading.Lock()  # only for making the pipe: never taken by cancel()
        self._pipe: tuple[int, int] | None = None
        self._callbacks: list[_Once] = []
        self.reason: str = ""
        #: Set when the stop is a deadline someone else enforces (a queue's time limit).
        self.timed_out = False

    def cancel(self, reason: str = "cancel requested", *, timed_out: bool = False) -> None:
        """Ask the run to stop; ``timed_out`` records it as a timeout, not a cancel."""
        if self._set or next(self._first):
            return
        self.reason = reason
        self.timed_out = timed_out
        self._set = True  # after the reason: whoever sees the flag sees why
        self._wake(self._pipe)
        for callback in list(self._callbacks):
            callback()

    def on_cancel(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` when the token is set (at once if it is); returns a function
        that unregisters it."""
        once = _Once(callback)
        self._callbacks.append(once)  # list.append is atomic: no lock a signal could meet
        if self._set:  # set before or while we appended: make sure it fires (once)
            once()

        def remove() -> None:
            try:
                self._callbacks.remove(once)
            except ValueError:
                pass

        return remove

    @property
    def cancelled(self) -> bool:
        return self._set

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the token is set or ``timeout`` seconds pass; returns whether it is set."""
        if self._set:
            return True
        try:
            select.select([self.fileno()], [], [], timeout)
        except InterruptedError:  # pragma: no cover - retried by Python since PEP 475
            pass
        return self._set

    def fileno(self) -> int:
        with self._lock:
            if self._pipe is None:
                pipe = os.pipe()
                for fd in pipe:
                    os.set_blocking(fd, False)
                self._pipe = pipe
                # A cancel that ran before the pipe existed did not write to it; one that
                # runs from now on will. Checking after publishing the pipe covers both.
                if self._set:
                    self._wake(pipe)
            return self._pipe[0]

    @staticmethod
    def _wake(pipe: tuple[int, int] | None) -> None:
        if pipe is not None:
            try:
                os.write(pipe[1], b"x")
            except OSError:  # full (already woken) or closed
                pass

    def close(self) -> None:
        with self._lock:
            pipe, self._pipe = self._pipe, None
        if pipe is not None:
            for fd in pipe:
                os.close(fd)

    def __del__(self) -> None:  # pragma: no cover - best effort descriptor release
        try:
            self.close()
        except Exception:
            pass


class _Once:
    """A callback that runs at most once, whoever calls it first (lock-free)."""

    __slots__ = ("_calls", "callback")

    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback
        self._calls = itertools.count()

    def __call__(self) -> None:
        if not next(self._calls):
            self.callback()
