"""The Store interface the ExecutionLogger writes through, and the record it reads back."""

from __future__ import annotations

import builtins
import errno
from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from runwright.runners.status import TERMINAL, Status


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
    #: How to find the work again (reported by the runner as soon as the work exists).
    handle: dict[str, Any] | None = None

    @property
    def duration(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


#: ``Store.find(parent=...)`` left out: any parent, or none.
ANY_PARENT: Any = object()
#: The key ``Store.child_counts`` counts pending children already sent under.
QUEUED = "queued"

#: Chunks per read when a log is read through (each is at most MAX_CHUNK, usually far less).
PAGE_CHUNKS = 32
#: Stored chunks are never larger than this, so a read from offset N finds the chunk
#: holding byte N by looking back at most this far.
MAX_CHUNK = 1 << 20


@dataclass(frozen=True)
class Chunk:
    """Bytes of one stream (``stdout``, ``stderr``, ``system``) at ``offset`` in the
    execution's combined log. ``at`` is when the chunk's first byte was received (UTC); a
    store stamps a chunk written without one with the time of the write, and returns None
    only for chunks stored before chunks had a time."""

    offset: int
    stream: str
    data: bytes
    at: datetime | None = None


def bounded(chunks: list[Chunk]) -> list[Chunk]:
    """The same bytes at the same offsets in chunks of at most MAX_CHUNK bytes, each with a
    time (``stamped``): every store write goes through this, so no write path can store a
    chunk a read would look past, or one without a time."""
    chunks = stamped(chunks)
    if all(len(c.data) <= MAX_CHUNK for c in chunks):
        return chunks
    return [replace(c, offset=c.offset + i, data=c.data[i : i + MAX_CHUNK])
            for c in chunks for i in range(0, max(len(c.data), 1), MAX_CHUNK)]


def stamped(chunks: list[Chunk]) -> list[Chunk]:
    """``chunks``, those without a time given the time of now (UTC): the time a note, or a
    legacy append, is written."""
    if all(c.at is not None for c in chunks):
        return chunks
    now = datetime.now(UTC)
    return [c if c.at is not None else replace(c, at=now) for c in chunks]


@dataclass(frozen=True)
class Event:
    """A structured event of one execution: ``seq`` counts from 1 per execution, ``at`` is
    when the recorder received it (UTC), ``data`` is JSON-ready and already redacted."""

    seq: int
    kind: str
    data: dict[str, Any]
    at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "kind": self.kind, "at": self.at.isoformat(), "data": self.data}


class Store(ABC):
    """Where executions and their output live. Every status write is conditional."""

    #: Exceptions worth a retry (a dropped connection, a locked database).
    transient_errors: tuple[type[BaseException], ...] = ()
    #: What ``append_output`` raises when another writer already stored a chunk at one of
    #: the offsets (UNIQUE(execution, offset)): the recorder then moves its batch past it.
    conflict_errors: tuple[type[BaseException], ...] = ()

    @abstractmethod
    def create(self, values: Mapping[str, Any], status: Status = Status.PENDING) -> Any:
        """Insert an execution (pending, or running when the creator runs it at once);
        returns its id."""

    #: Whether this store records which worker owns a run (``take_over``, ``expect`` on it).
    tracks_workers: bool = False
    #: Whether this store keeps structured events (``append_events`` / ``read_events``).
    #: A store without them (a platform's own model) has events logged, not stored.
    supports_events: bool = False

    @abstractmethod
    def transition(
        self, ref: Any, target: Status, values: Mapping[str, Any], expect: Mapping[str, Any] | None = None
    ) -> Status | None:
        """Move ``ref`` to ``target`` only if its current status may legally move there (and,
        with ``expect``, only if those fields still hold those values: a run's ``worker``),
        writing ``values`` in the same statement. Returns None when applied, else the status
        that refused it (the current status also when ``expect`` refused it)."""

    def take_over(self, ref: Any, from_worker: str, to_worker: str) -> bool:
        """One conditional update: a ``running`` execution still owned by ``from_worker``
        becomes ``to_worker``'s, its heartbeat now. False when it is no longer running or
        someone else took it first."""
        raise NotImplementedError(f"{type(self).__name__} cannot hand a run over to another worker")

    def append_events(self, ref: Any, events: list[Event]) -> None:
        """Store events, in order (their ``seq`` numbers are unique per execution)."""
        raise NotImplementedError(f"{type(self).__name__} does not store events")

    def read_events(self, ref: Any, after: int = 0, limit: int | None = None) -> list[Event]:
        """Events with ``seq > after``, in order, at most ``limit``."""
        return []

    def last_event_seq(self, ref: Any) -> int:
        """The highest stored ``seq`` (0 when none): a recorder taking a run over goes on from it."""
        events = self.read_events(ref)
        return events[-1].seq if events else 0

    def output_sizes(self, ref: Any) -> dict[str, int]:
        """Bytes stored per stream (``stdout``, ``stderr``, ``system``)."""
        sizes = {"stdout": 0, "stderr": 0, "system": 0}
        for chunk in self.read_log(ref, 0):
            sizes[chunk.stream] = sizes.get(chunk.stream, 0) + len(chunk.data)
        return sizes

    @abstractmethod
    def update(self, ref: Any, values: Mapping[str, Any]) -> None:
        """Write non-status fields. Raises ValueError for a ``status`` (see ``refuse_status``)
        and NotFound when the row is gone."""

    @abstractmethod
    def append_output(self, ref: Any, chunks: list[Chunk]) -> None:
        """Store chunks, in order; offsets are positions in the combined log."""

    @abstractmethod
    def replace_output(self, ref: Any, stream: str, data: bytes) -> None:
        """Replace everything stored for ``stream`` (the legacy ``append=False``): its chunks
        go, ``data`` is stored at the end of the log as it was. No offset moves or is used
        again: the other streams keep theirs, and a reader at the old end reads ``data`` next."""

    @abstractmethod
    def read_log(self, ref: Any, offset: int = 0, limit: int | None = None) -> list[Chunk]:
        """Chunks holding the bytes from ``offset`` on; the first may be cut to start there."""

    def read_log_since(self, ref: Any, since: datetime, offset: int = 0, limit: int | None = None) -> builtins.list[Chunk]:
        """Like ``read_log``, only the chunks received at or after ``since`` (an aware
        datetime): whole chunks are kept or left out, and chunks without a time are left
        out. At most ``limit`` chunks. This base reads the log a page at a time; a store
        that can ask its database for the time does so."""
        found: builtins.list[Chunk] = []
        while page := self.read_log(ref, offset, PAGE_CHUNKS):
            found.extend(c for c in page if c.at is not None and c.at >= since)
            if limit and len(found) >= limit:
                return found[:limit]
            offset = page[-1].offset + len(page[-1].data)
        return found

    def chunks_sized(self, ref: Any, stream: str, low: int, high: int) -> builtins.list[Chunk]:
        """The chunks of ``stream`` of ``low`` to ``high`` bytes, newest first (the legacy
        API finds its storage-limit marker with it)."""
        return [c for c in reversed(self.read_log(ref)) if c.stream == stream and low <= len(c.data) <= high]

    def rewrite_chunk(self, ref: Any, chunk: Chunk, data: bytes) -> None:
        """Replace the bytes of the stored ``chunk`` by ``data`` of the same length, in place
        (no offset moves): the legacy API's storage-limit marker, recounted at each drop."""
        raise NotImplementedError(f"{type(self).__name__} cannot rewrite a chunk")

    def shown_with(self, stream: str) -> frozenset[str]:
        """The streams whose text is shown together with ``stream``'s (one text field of a
        platform's model; the combined log elsewhere): a line of runwright's starts on a line
        of its own among them, whatever the other streams end with."""
        return frozenset({"stdout", "stderr", "system"})

    def line_tail(self, ref: Any, stream: str) -> bytes:
        """The last bytes (up to 4) of what the streams ``shown_with(stream)`` hold, in log order."""
        chunks = [c for c in self.read_log(ref, max(self.log_end(ref) - MAX_CHUNK, 0))
                  if c.stream in self.shown_with(stream)]
        return b"".join(c.data for c in chunks)[-4:]

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
        """Whether someone asked, through the store, for this execution to stop: its cancel
        flag is set, or someone else already gave it a final status (a cancel or timeout
        through the API), so its work must stop too."""
        view = self.get(ref)
        return view.cancel_requested or view.status in TERMINAL

    def cancels_requested(self, refs: Sequence[Any]) -> set[str]:
        """Of ``refs``, those (as ``str``) whose work must stop, as ``cancel_requested`` says
        of one: a process's writer asks about all its live runs at once (one query where the
        store has queries)."""
        return {str(ref) for ref in refs if self.cancel_requested(ref)}

    def refresh_heartbeats(self, refs: Sequence[Any], worker: str = "") -> set[str]:
        """Set the heartbeat of ``refs`` to now; with ``worker`` (a store that tracks workers),
        only of those still running under that worker. Returns the ``refs`` (as ``str``) that
        another worker took over (still running, under another name): their recorder stops
        writing. A row that is gone is skipped."""
        taken: set[str] = set()
        for ref in refs:
            try:
                if not (worker and self.tracks_workers):
                    self.update(ref, {"heartbeat_at": datetime.now(UTC)})
                elif not self.take_over(ref, worker, worker):
                    view = self.get(ref)
                    if view.status == Status.RUNNING and view.worker != worker:
                        taken.add(str(ref))
            except NotFound:
                continue
        return taken

    # -- queueing and groups (what a dispatcher such as the Celery integration asks) --------
    def read_fields(self, ref: Any, *names: str) -> dict[str, Any]:
        """Only the fields ``names`` of ``ref`` (canonical names: ``status``, read as a
        Status, ``runner``, ``parent_id``, ``task_id``, ``spec``, ``sealed_spec``,
        ``cancel_requested``, ``started_at``...), in one read that leaves the row's other,
        possibly large, columns alone. Raises NotFound, and ValueError naming a field this
        store does not keep."""
        raise NotImplementedError(f"{type(self).__name__} cannot read single fields")

    def claim_task(self, ref: Any, task_id: str) -> bool:
        """One conditional update: a ``pending`` execution without a task id takes
        ``task_id``, its heartbeat now (when its message is sent). False when it is no longer
        pending or another dispatcher claimed it first: the caller then sends nothing."""
        raise NotImplementedError(f"{type(self).__name__} does not record task ids")

    def find(
        self, *, status: Status | Collection[Status] | None = None, runner: str | None = None,
        not_runner: str | None = None, parent: Any = ANY_PARENT, queued: bool | None = None,
        heartbeat_before: datetime | None = None, created_before: datetime | None = None, limit: int | None = None,
        task_id: str | None = None, worker_contains: str | None = None,
    ) -> builtins.list[Any]:
        """The ids of the executions meeting every condition given, oldest first, at most
        ``limit``: ``status`` one status or several, ``parent`` a group's id (None: only
        executions without a parent), ``queued`` whether a task id is set, ``task_id`` that
        task id, ``worker_contains`` a part of the worker's name, the times aware datetimes.
        One query. A condition on a field this store does not keep matches nothing (a
        model without groups has no children: ``parent=None`` matches every row)."""
        raise NotImplementedError(f"{type(self).__name__} cannot search executions")

    def missing_fields(self, *names: str) -> builtins.list[str]:
        """Of the canonical field names ``names``, those this store does not keep (a
        platform's model without a ``task_id`` field cannot be run by a worker)."""
        return []

    def child_counts(self, parent: Any) -> dict[str, int]:
        """How many children of ``parent`` hold each status, by status value, in one
        aggregate query (whatever the group's size); a pending child whose message was sent
        (it has a task id) is counted under ``QUEUED``, not ``pending``. Statuses no child
        holds are absent."""
        raise NotImplementedError(f"{type(self).__name__} does not keep groups")

    def request_cancel(self, refs: Sequence[Any]) -> int:
        """Set the cancel flag of every one of ``refs`` (their workers stop them), in one
        update; returns how many rows exist among them."""
        raise NotImplementedError(f"{type(self).__name__} has no cancel flag")

    def drop_sealed_specs(self, parent: Any) -> None:
        """Children of ``parent`` that ended keep no sealed spec (secrets, encrypted): one update."""
        raise NotImplementedError(f"{type(self).__name__} keeps no sealed specs")

    def is_outage(self, exc: BaseException) -> bool:
        """Whether ``exc`` (one of ``transient_errors``) means the database is unreachable: a
        dropped, refused or terminated connection. Those are retried for up to the outage
        window (see ``runwright.logging_core.writer``); other transient errors briefly."""
        return isinstance(exc, self.transient_errors)

    def is_full(self, exc: BaseException) -> bool:
        """Whether ``exc`` says the database has no room left (a full disk). The writer then
        stores a run's pending output in smaller and smaller writes, so that what fits is kept
        (see ``runwright.logging_core.writer``). The default looks for ``ENOSPC`` in the
        exception's chain."""
        return any(isinstance(e, OSError) and e.errno == errno.ENOSPC for e in _chain(exc))

    # -- secrets a runner learned mid-run (kept for a worker that re-attaches) -------------
    def keep_secret(self, ref: Any, value: str) -> None:
        """Keep ``value`` (in clear: a secret the run's runner learned mid-run) for as long as
        the run lives, so another worker that takes the run over masks it too. This base keeps
        it in this store object's memory (one process); a database store keeps it encrypted."""
        self.__dict__.setdefault("_kept_secrets", {}).setdefault(ref, []).append(value)

    def kept_secrets(self, ref: Any) -> builtins.list[str]:
        """The secrets kept for ``ref`` by :meth:`keep_secret`, in clear, oldest first."""
        return list(self.__dict__.get("_kept_secrets", {}).get(ref, []))

    def forget_secrets(self, ref: Any) -> None:
        """Drop what :meth:`keep_secret` kept for ``ref`` (the run ended)."""
        self.__dict__.get("_kept_secrets", {}).pop(ref, None)

    @property
    def key(self) -> str:
        """Which store this is, short and stable across processes. It is put with the
        execution id on everything a run starts (``<key>:<id>``), so a reaper only ever
        touches processes and containers of its own store, never another deployment's."""
        return f"mem{id(self):x}"

    def log_ref(self, ref: Any) -> str:
        return f"runwright:execution/{ref}"


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and its causes and contexts, each once."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is not None and all(e is not s for s in seen):
            seen.append(e)
            todo += [e.__cause__, e.__context__]
    return seen


class NotFound(LookupError):
    def __init__(self, ref: Any) -> None:
        super().__init__(f"no execution with id {ref!r}")
        self.ref = ref


def refuse_status(values: Mapping[str, Any]) -> None:
    """A status changes in one place, the conditional ``Store.transition``: ``update`` raises
    ValueError when ``values`` has one."""
    if "status" in values:
        raise ValueError("a status changes only through Store.transition, never through update")


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
            c = replace(c, offset=offset, data=c.data[offset - c.offset :])
        out.append(c)
    return out


def unfinished_character(data: bytes) -> bytes:
    """The bytes of a UTF-8 character begun at the end of ``data`` and not finished there."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    decoder.decode(data[-3:])
    pending: bytes = decoder.getstate()[0]
    return pending


def as_line(data: bytes, tail: bytes) -> bytes:
    """``data`` as a line after ``tail`` (the last bytes of where it is shown): on a line of
    its own and newline-ended, except that a UTF-8 character is never split by a newline
    (data that ends inside a character waits for its next part; data that finishes a
    character begun at the end of ``tail`` goes straight on)."""
    continues = bool(data) and 0x80 <= data[0] < 0xC0 and bool(unfinished_character(tail))
    if tail and not tail.endswith(b"\n") and not continues:
        data = b"\n" + data
    if data and not data.endswith(b"\n") and not unfinished_character(data):
        data += b"\n"
    return data
