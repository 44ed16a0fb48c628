"""RunResult: what a run ended with. The full output lives in the store, never here."""

from __future__ import annotations

import json
from collections import deque
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from runwright.runners.status import Status


@dataclass
class RunResult:
    status: Status
    exit_code: int | None = None
    #: Name of the signal that ended the process (``"SIGKILL"``), when one did.
    signal: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None
    #: The last ``RunSpec.tail_bytes`` of each stream, decoded for display.
    stdout_tail: str = ""
    stderr_tail: str = ""
    stdout_bytes: int = 0
    stderr_bytes: int = 0
    #: Where the full log is (for example ``"runwright:execution/42"``); set by the sink.
    log_ref: str | None = None
    #: Runner facts: container id, pod and Job names, per-host stats, remote build URL...
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def ok(self) -> bool:
        return self.status == Status.SUCCESS

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = str(self.status)
        for key in ("started_at", "finished_at"):
            value = data[key]
            data[key] = value.isoformat() if value else None
        data["duration"] = self.duration
        return data

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunResult:
        data = {k: v for k, v in data.items() if k != "duration"}
        data["status"] = Status(data["status"])
        for key in ("started_at", "finished_at"):
            if data.get(key):
                data[key] = datetime.fromisoformat(data[key])
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> RunResult:
        return cls.from_dict(json.loads(text))


class OutputTail:
    """The last ``limit`` bytes of a stream plus its total size, in bounded memory.

    It keeps references to the newest chunks instead of copying bytes, so the hot path
    costs a deque append; memory stays under ``limit`` plus one chunk.
    """

    __slots__ = ("_chunks", "_held", "limit", "total")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.total = 0
        self._chunks: deque[bytes] = deque()
        self._held = 0

    def add(self, data: bytes) -> None:
        self.total += len(data)
        if not self.limit:
            return
        self._chunks.append(data)
        self._held += len(data)
        while self._held - len(self._chunks[0]) >= self.limit:
            self._held -= len(self._chunks.popleft())

    def tail(self) -> bytes:
        return b"".join(self._chunks)[-self.limit :] if self.limit else b""

    def text(self) -> str:
        """For display: undecodable bytes become U+FFFD and NUL becomes U+2400 (a text
        column or a PostgreSQL jsonb value cannot hold NUL); the store keeps exact bytes."""
        return self.tail().decode("utf-8", "replace").replace("\x00", "\u2400")
