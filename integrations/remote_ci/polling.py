"""Polling a server politely: an interval that grows while nothing changes, and requests
retried on transient failures with a limit, honouring ``Retry-After``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from runwright.integrations.remote_ci.http import RemoteError
from runwright.runners import RunnerError

T = TypeVar("T")

#: The longest pause between two retries of a failed request, unless the server asks for more.
MAX_RETRY_DELAY = 30.0
#: The longest a server's Retry-After is waited for, seconds.
MAX_RETRY_AFTER = 300.0
#: Bounds of the polling options: the longest poll interval or request timeout (seconds) and
#: the most retries of one request.
MAX_POLL = 3600.0
MAX_RETRIES = 100


class Backoff:
    """A poll interval (seconds): ``initial`` after a change, growing by ``factor`` per
    quiet poll up to ``maximum``."""

    def __init__(self, initial: float, maximum: float, factor: float = 1.5) -> None:
        self.initial, self.maximum, self.factor = initial, max(initial, maximum), factor
        self.current = initial

    def reset(self) -> None:
        self.current = self.initial

    def next(self) -> float:
        value = self.current
        self.current = min(self.maximum, self.current * self.factor)
        return value


class Stopped(RunnerError):
    """The run was stopped while a request waited to be retried."""


class Retrier:
    """Runs one request, retrying a transient failure (a connection error, 429, 5xx) up to
    ``retries`` times; the pause doubles from ``first_delay`` (capped at 30 s) unless the
    server's ``Retry-After`` asks for another. ``pause(seconds)`` sleeps and returns True
    when the caller must give up (the run is stopping). ``say`` reports each retry.

    A failure that is not transient, or the last one, raises RunnerError with ``what`` and
    the server's message. A request that may have been acted on (``idempotent=False``: a
    trigger) is repeated only when the server surely did not process it.
    """

    def __init__(self, retries: int, pause: Callable[[float], bool], say: Callable[[str], None] | None = None,
                 first_delay: float = 1.0) -> None:
        self.retries, self.pause, self.say, self.first_delay = retries, pause, say, first_delay
        #: Retries made so far (all requests), for the result's metadata.
        self.total = 0

    def __call__(self, what: str, request: Callable[[], T], *, idempotent: bool = True,
                 explain: Callable[[RemoteError], str | None] | None = None) -> T:
        attempt = 0
        delay = self.first_delay
        while True:
            try:
                return request()
            except RemoteError as exc:
                special = explain(exc) if explain else None
                if special is not None:
                    raise RunnerError(special) from None
                repeatable = exc.transient and (idempotent or not exc.processed)
                if not repeatable or attempt >= self.retries:
                    tries = f" (after {attempt} retr{'y' if attempt == 1 else 'ies'})" if attempt else ""
                    unsure = "" if idempotent or not exc.processed else "; it may have been acted on"
                    raise RunnerError(f"{what} failed{tries}: {exc}{unsure}") from None
                attempt += 1
                self.total += 1
                # The server's Retry-After, within reason: one bad answer (a proxy's) must not
                # stall a run without a timeout for ever.
                wait = min(exc.retry_after, MAX_RETRY_AFTER) if exc.retry_after is not None \
                    else min(delay, MAX_RETRY_DELAY)
                delay *= 2
                if self.say is not None:
                    self.say(f"{what}: {exc}; retry {attempt} of {self.retries} in {wait:g}s")
                if self.pause(wait):
                    raise Stopped(f"stopped while waiting to retry {what}") from None


__all__ = ["MAX_RETRY_DELAY", "Backoff", "Retrier", "Stopped"]
