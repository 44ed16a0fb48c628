"""A cancel token a caller sets from any thread and a runner waits on without polling."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable


class CancelToken:
    """Set once by whoever wants the run stopped; read by the runner.

    ``fileno()`` gives a descriptor that becomes readable when the token is set, so a runner
    that waits in a selector wakes at once instead of polling.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._pipe: tuple[int, int] | None = None
        self._callbacks: list[Callable[[], None]] = []
        self.reason: str = ""
        #: Set when the stop is a deadline someone else enforces (a queue's time limit).
        self.timed_out = False

    def cancel(self, reason: str = "cancel requested", *, timed_out: bool = False) -> None:
        """Ask the run to stop; ``timed_out`` records it as a timeout, not a cancel."""
        with self._lock:
            if self._event.is_set():
                return
            self.reason = reason
            self.timed_out = timed_out
            self._event.set()
            if self._pipe is not None:
                os.write(self._pipe[1], b"x")
            callbacks = list(self._callbacks)
        for callback in callbacks:
            callback()

    def on_cancel(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` when the token is set (at once if it is); returns a function
        that unregisters it."""
        with self._lock:
            fire = self._event.is_set()
            if not fire:
                self._callbacks.append(callback)
        if fire:
            callback()

        def remove() -> None:
            with self._lock:
                if callback in self._callbacks:
                    self._callbacks.remove(callback)

        return remove

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._event.wait(timeout)

    def fileno(self) -> int:
        with self._lock:
            if self._pipe is None:
                self._pipe = os.pipe()
                os.set_blocking(self._pipe[0], False)
                if self._event.is_set():
                    os.write(self._pipe[1], b"x")
            return self._pipe[0]

    def close(self) -> None:
        with self._lock:
            if self._pipe is not None:
                for fd in self._pipe:
                    os.close(fd)
                self._pipe = None

    def __del__(self) -> None:  # pragma: no cover - best effort descriptor release
        try:
            self.close()
        except Exception:
            pass
