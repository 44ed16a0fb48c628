"""The Store interface the ExecutionLogger writes through, and the record it reads back."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from runners.status import Status


@dataclass
class ExecutionView:
    """An execution as read back from a store, whatever the model behind it."""

    id: Any
    status: Status
    runner: str = ""
    command: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    exit_code: int | None = None
    signal: str = ""
    error_message: str = ""
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    heartbeat_at: datetime | None = None
    worker: str = ""
    stdout_bytes: int = 0
    stderr_bytes: int = 0
    stored_bytes: int = 0
    dropped_bytes: int = 0
    result: dict[str, Any] = field(default_factory=dict)
    parent_id: Any = None
    cancel_requested: bool = False
    task_id: str = ""

    @property
    def duration(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


#: Stored chunks are never larger than this, so a read from offset N finds the chunk
#: holding byte N by looking back at most this far.
MAX_CHUNK = 1 << 20


@dataclass(frozen=True)
class Chunk:
    offset: int
    stream: str
    data: bytes


class Store(ABC):
    """Where executions and their output live. Every status write is conditional."""

    #: Exceptions worth a retry (a dropped connection, a locked database).
    transient_errors: tuple[type[BaseException], ...] = ()

    @abstractmethod
    def create(self, values: Mapping[str, Any], status: Status = Status.PENDING) -> Any:
        """Insert an execution (pending, or running when the creator runs it at once);
        returns its id."""

    @abstractmethod
    def transition(self, ref: Any, target: Status, values: Mapping[str, Any]) -> Status | None:
        """Move ``ref`` to ``target`` only if its current status may legally move there,
        writing ``values`` in the same statement. Returns None when applied, else the
        status that refused it."""

    @abstractmethod
    def update(self, ref: Any, values: Mapping[str, Any]) -> None:
        """Write non-status fields."""

    @abstractmethod
    def append_output(self, ref: Any, chunks: list[Chunk]) -> None:
        """Store chunks, in order; offsets are positions in the combined log."""

    @abstractmethod
    def replace_output(self, ref: Any, stream: str, data: bytes) -> None:
        """Replace everything stored for ``stream`` (the legacy ``append=False``)."""

    @abstractmethod
    def read_log(self, ref: Any, offset: int = 0, limit: int | None = None) -> list[Chunk]:
        """Chunks holding the bytes from ``offset`` on; the first may be cut to start there."""

    def log_end(self, ref: Any) -> int:
        """The size of the combined log, where the next chunk goes."""
        chunks = self.read_log(ref, 0)
        return chunks[-1].offset + len(chunks[-1].data) if chunks else 0

    @abstractmethod
    def get(self, ref: Any) -> ExecutionView: ...

    @abstractmethod
    def list(self, status: str | None = None, runner: str | None = None, limit: int = 50) -> list[ExecutionView]:
        ...

    def status(self, ref: Any) -> Status:
        """Just the status (a follower asks for it at every poll)."""
        return self.get(ref).status

    def cancel_requested(self, ref: Any) -> bool:
        """Whether someone asked, through the store, for this execution to stop."""
        return self.get(ref).cancel_requested

    @property
    def key(self) -> str:
        """Which store this is, short and stable across processes. It is put with the
        execution id on everything a run starts (``<key>:<id>``), so a reaper only ever
        touches processes and containers of its own store, never another deployment's."""
        return f"mem{id(self):x}"

    def log_ref(self, ref: Any) -> str:
        return f"runwright:execution/{ref}"


class NotFound(LookupError):
    def __init__(self, ref: Any) -> None:
        super().__init__(f"no execution with id {ref!r}")
        self.ref = ref


def split_execution_tag(tag: str) -> tuple[str, str]:
    """``"<store key>:<id>"`` -> (key, id); ("", tag) for a tag without a key."""
    key, sep, ref = tag.rpartition(":")
    return (key, ref) if sep else ("", tag)


def cut(chunks: list[Chunk], offset: int) -> list[Chunk]:
    """Drop what lies before ``offset`` from chunks sorted by offset."""
    out = []
    for c in chunks:
        end = c.offset + len(c.data)
        if end <= offset:
            continue
        if c.offset < offset:
            c = Chunk(offset, c.stream, c.data[offset - c.offset :])
        out.append(c)
    return out
