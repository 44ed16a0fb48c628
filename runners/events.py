"""The plain-Python interface a runner reports to, and an in-memory recorder for tests and
library use. The ExecutionLogger is the production implementation."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from runwright.runners.result import RunResult
from runwright.runners.spec import RunSpec

Stream = Literal["stdout", "stderr", "system"]
STREAMS: tuple[Stream, ...] = ("stdout", "stderr", "system")


@runtime_checkable
class RunReporter(Protocol):
    """What the base class reports for every run, in this order: ``handle`` at most once
    (as soon as the work exists, possibly before ``started``), ``started`` once, then any
    number of ``output``, ``event`` and ``metadata`` calls, then ``finished`` once (also for
    runs that never started, in which case ``started`` is not called).

    Everything arrives already redacted. Calls come one at a time, never concurrently: for a
    runner the base class watches (the default), always from the thread that called
    ``Runner.run``. A reporter without ``handle`` or ``metadata`` (written before they were
    part of the protocol) is tolerated: those calls are skipped, and the values are still in
    the RunResult's metadata."""

    def handle(self, handle: Mapping[str, Any]) -> None: ...

    def started(self, spec: RunSpec, metadata: Mapping[str, Any]) -> None: ...

    def output(self, stream: Stream, data: bytes) -> None: ...

    def event(self, kind: str, data: Mapping[str, Any]) -> None: ...

    def metadata(self, values: Mapping[str, Any]) -> None: ...

    def finished(self, result: RunResult) -> None: ...


class NullReporter:
    """Discards everything; the runner's own RunResult still carries the tails."""

    def handle(self, handle: Mapping[str, Any]) -> None:
        pass

    def metadata(self, values: Mapping[str, Any]) -> None:
        pass

    def started(self, spec: RunSpec, metadata: Mapping[str, Any]) -> None:
        pass

    def output(self, stream: Stream, data: bytes) -> None:
        pass

    def event(self, kind: str, data: Mapping[str, Any]) -> None:
        pass

    def finished(self, result: RunResult) -> None:
        pass


@dataclass
class MemoryRecorder:
    """Keeps every call in memory. For tests and small library uses, not for big outputs."""

    calls: list[tuple[str, Any]] = field(default_factory=list)
    chunks: dict[str, bytearray] = field(default_factory=lambda: {s: bytearray() for s in STREAMS})
    result: RunResult | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def handle(self, handle: Mapping[str, Any]) -> None:
        with self._lock:
            self.calls.append(("handle", dict(handle)))

    def metadata(self, values: Mapping[str, Any]) -> None:
        with self._lock:
            self.calls.append(("metadata", dict(values)))

    def started(self, spec: RunSpec, metadata: Mapping[str, Any]) -> None:
        with self._lock:
            self.calls.append(("started", dict(metadata)))

    def output(self, stream: Stream, data: bytes) -> None:
        with self._lock:
            self.calls.append(("output", (stream, data)))
            self.chunks[stream] += data

    def event(self, kind: str, data: Mapping[str, Any]) -> None:
        with self._lock:
            self.calls.append(("event", (kind, dict(data))))

    def finished(self, result: RunResult) -> None:
        with self._lock:
            self.calls.append(("finished", result))
            self.result = result

    @property
    def stdout(self) -> bytes:
        return bytes(self.chunks["stdout"])

    @property
    def stderr(self) -> bytes:
        return bytes(self.chunks["stderr"])

    @property
    def system(self) -> bytes:
        return bytes(self.chunks["system"])

    def kinds(self) -> list[str]:
        return [name for name, _ in self.calls]

    def events(self) -> list[tuple[str, dict[str, Any]]]:
        """The structured events, in the order they were reported."""
        return [value for name, value in self.calls if name == "event"]

    @property
    def handles(self) -> list[dict[str, Any]]:
        return [value for name, value in self.calls if name == "handle"]
