"""A Store in process memory: library use and tests without a database."""

from __future__ import annotations

import builtins
import itertools
import threading
from collections.abc import Collection, Mapping, Sequence
from dataclasses import fields, replace
from datetime import UTC, datetime
from typing import Any

from runwright.logging_core.store import (
    ANY_PARENT,
    QUEUED,
    Chunk,
    Event,
    ExecutionView,
    NotFound,
    Store,
    bounded,
    cut,
    refuse_status,
)
from runwright.runners.status import TERMINAL, Status, sources_of


class MemoryStore(Store):
    supports_events = True
    tracks_workers = True

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._rows: dict[int, ExecutionView] = {}
        self._chunks: dict[int, list[Chunk]] = {}
        self._events: dict[int, list[Event]] = {}
        self._names = {f.name for f in fields(ExecutionView)}
        #: Fields kept that a view does not carry (the spec, a group child's sealed spec).
        self._kept: dict[int, dict[str, Any]] = {}

    def _clean(self, values: Mapping[str, Any]) -> dict[str, Any]:
        renamed = {"completed_at": "finished_at", "return_code": "exit_code"}
        return {renamed.get(k, k): v for k, v in values.items() if renamed.get(k, k) in self._names}

    def create(self, values: Mapping[str, Any], status: Status = Status.PENDING) -> int:
        with self._lock:
            ref = next(self._ids)
            row = ExecutionView(id=ref, status=status, created_at=datetime.now(UTC))
            self._rows[ref] = replace(row, **self._clean(values))
            self._chunks[ref] = []
            self._events[ref] = []
            self._kept[ref] = {"spec": {}, "sealed_spec": ""}
            self._keep(ref, values)
            return ref

    def _keep(self, ref: int, values: Mapping[str, Any]) -> None:
        self._kept[ref].update((k, v) for k, v in values.items() if k in self._kept[ref])

    def _row(self, ref: Any) -> ExecutionView:
        try:
            return self._rows[int(ref)]
        except (KeyError, ValueError, TypeError):
            raise NotFound(ref) from None

    def transition(
        self, ref: Any, target: Status, values: Mapping[str, Any], expect: Mapping[str, Any] | None = None
    ) -> Status | None:
        with self._lock:
            row = self._row(ref)
            if row.status not in sources_of(target):
                return row.status
            if expect and any(getattr(row, k) != v for k, v in self._clean(expect).items()):
                return row.status
            self._rows[row.id] = replace(row, status=target, **self._clean(values))
            self._keep(row.id, values)
            return None

    def take_over(self, ref: Any, from_worker: str, to_worker: str) -> bool:
        with self._lock:
            row = self._row(ref)
            if row.status != Status.RUNNING or row.worker != from_worker:
                return False
            self._rows[row.id] = replace(row, worker=to_worker, heartbeat_at=datetime.now(UTC))
            return True

    def cancels_requested(self, refs: Sequence[Any]) -> set[str]:
        with self._lock:
            rows = [self._rows.get(int(ref)) for ref in refs]
        return {str(row.id) for row in rows if row is not None and (row.cancel_requested or row.status in TERMINAL)}

    def append_events(self, ref: Any, events: list[Event]) -> None:
        with self._lock:
            self._events[self._row(ref).id].extend(events)

    def read_events(self, ref: Any, after: int = 0, limit: int | None = None) -> list[Event]:
        with self._lock:
            found = [e for e in self._events[self._row(ref).id] if e.seq > after]
        return found[:limit] if limit else found

    def update(self, ref: Any, values: Mapping[str, Any]) -> None:
        refuse_status(values)
        with self._lock:
            row = self._row(ref)
            self._rows[row.id] = replace(row, **self._clean(values))
            self._keep(row.id, values)

    def append_output(self, ref: Any, chunks: list[Chunk]) -> None:
        with self._lock:
            self._chunks[self._row(ref).id].extend(bounded(chunks))

    def replace_output(self, ref: Any, stream: str, data: bytes) -> None:
        with self._lock:
            row = self._row(ref)
            chunks = self._chunks[row.id]
            # No offset moves or is used again: a reader that has read up to the end reads the
            # replacement next, and the other streams' bytes stay where they were.
            end = max((c.offset + len(c.data) for c in chunks), default=0)
            kept = [c for c in chunks if c.stream != stream]
            self._chunks[row.id] = [*kept, *(bounded([Chunk(end, stream, data)]) if data else [])]

    def rewrite_chunk(self, ref: Any, chunk: Chunk, data: bytes) -> None:
        if len(data) != len(chunk.data):
            raise ValueError("rewrite_chunk: the new bytes must be as long as the old")
        with self._lock:
            chunks = self._chunks[self._row(ref).id]
            for i, c in enumerate(chunks):
                if c.offset == chunk.offset:
                    chunks[i] = replace(c, data=data)
                    return
        raise NotFound(ref)

    def read_log(self, ref: Any, offset: int = 0, limit: int | None = None) -> list[Chunk]:
        with self._lock:
            chunks = cut(list(self._chunks[self._row(ref).id]), offset)
        return chunks[:limit] if limit else chunks

    def read_log_since(self, ref: Any, since: datetime, offset: int = 0, limit: int | None = None) -> list[Chunk]:
        with self._lock:
            chunks = cut([c for c in self._chunks[self._row(ref).id]
                          if c.at is not None and c.at >= since and c.offset + len(c.data) > offset], offset)
        return chunks[:limit] if limit else chunks

    def get(self, ref: Any) -> ExecutionView:
        with self._lock:
            return replace(self._row(ref))

    def list(self, status: str | None = None, runner: str | None = None, limit: int = 50) -> list[ExecutionView]:
        with self._lock:
            rows = [r for r in self._rows.values() if (not status or r.status == status) and (not runner or r.runner == runner)]
        return sorted(rows, key=lambda r: r.id, reverse=True)[:limit]

    # -- queueing and groups -------------------------------------------------------------
    def read_fields(self, ref: Any, *names: str) -> dict[str, Any]:
        with self._lock:
            row = self._row(ref)
            kept = self._kept[row.id]
            unknown = [n for n in names if n not in kept and n not in self._names]
            if unknown:
                raise ValueError(f"MemoryStore keeps no field {unknown[0]!r}")
            return {n: kept[n] if n in kept else getattr(row, n) for n in names}

    def claim_task(self, ref: Any, task_id: str) -> bool:
        with self._lock:
            row = self._row(ref)
            if row.status != Status.PENDING or row.task_id:
                return False
            self._rows[row.id] = replace(row, task_id=task_id, heartbeat_at=datetime.now(UTC))
            return True

    def find(
        self, *, status: Status | Collection[Status] | None = None, runner: str | None = None,
        not_runner: str | None = None, parent: Any = ANY_PARENT, queued: bool | None = None,
        heartbeat_before: datetime | None = None, created_before: datetime | None = None, limit: int | None = None,
        task_id: str | None = None, worker_contains: str | None = None,
    ) -> builtins.list[Any]:
        statuses = None if status is None else {status} if isinstance(status, Status) else set(status)

        def wanted(r: ExecutionView) -> bool:
            return ((statuses is None or r.status in statuses) and (runner is None or r.runner == runner)
                    and (not_runner is None or r.runner != not_runner)
                    and (parent is ANY_PARENT or _same(r.parent_id, parent))
                    and (queued is None or bool(r.task_id) == queued)
                    and (heartbeat_before is None or (r.heartbeat_at is not None and r.heartbeat_at < heartbeat_before))
                    and (created_before is None or (r.created_at is not None and r.created_at < created_before))
                    and (task_id is None or r.task_id == task_id)
                    and (worker_contains is None or worker_contains in (r.worker or "")))

        with self._lock:
            ids = [r.id for r in sorted(self._rows.values(), key=lambda r: r.id) if wanted(r)]
        return ids[:limit] if limit is not None else ids

    def child_counts(self, parent: Any) -> dict[str, int]:
        counts: dict[str, int] = {}
        with self._lock:
            for r in self._rows.values():
                if r.parent_id is not None and _same(r.parent_id, parent):
                    key = QUEUED if r.status == Status.PENDING and r.task_id else r.status.value
                    counts[key] = counts.get(key, 0) + 1
        return counts

    def request_cancel(self, refs: Sequence[Any]) -> int:
        with self._lock:
            found = [self._rows[int(ref)] for ref in refs if int(ref) in self._rows]
            for row in found:
                self._rows[row.id] = replace(row, cancel_requested=True)
        return len(found)

    def drop_sealed_specs(self, parent: Any) -> None:
        with self._lock:
            for r in self._rows.values():
                if r.parent_id is not None and _same(r.parent_id, parent) and r.status in TERMINAL:
                    self._kept[r.id]["sealed_spec"] = ""


def _same(ref: Any, other: Any) -> bool:
    """Whether two ids name one execution (an id may come as text or as a number)."""
    return ref is None if other is None else ref is not None and str(ref) == str(other)
