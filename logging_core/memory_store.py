"""A Store in process memory: library use and tests without a database."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping
from dataclasses import fields, replace
from datetime import UTC, datetime
from typing import Any

from logging_core.store import Chunk, ExecutionView, NotFound, Store, cut
from runners.status import Status, sources_of


class MemoryStore(Store):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._rows: dict[int, ExecutionView] = {}
        self._chunks: dict[int, list[Chunk]] = {}
        self._names = {f.name for f in fields(ExecutionView)}

    def _clean(self, values: Mapping[str, Any]) -> dict[str, Any]:
        renamed = {"completed_at": "finished_at", "return_code": "exit_code"}
        return {renamed.get(k, k): v for k, v in values.items() if renamed.get(k, k) in self._names}

    def create(self, values: Mapping[str, Any], status: Status = Status.PENDING) -> int:
        with self._lock:
            ref = next(self._ids)
            row = ExecutionView(id=ref, status=status, created_at=datetime.now(UTC))
            self._rows[ref] = replace(row, **self._clean(values))
            self._chunks[ref] = []
            return ref

    def _row(self, ref: Any) -> ExecutionView:
        try:
            return self._rows[int(ref)]
        except (KeyError, ValueError, TypeError):
            raise NotFound(ref) from None

    def transition(self, ref: Any, target: Status, values: Mapping[str, Any]) -> Status | None:
        with self._lock:
            row = self._row(ref)
            if row.status not in sources_of(target):
                return row.status
            self._rows[row.id] = replace(row, status=target, **self._clean(values))
            return None

    def update(self, ref: Any, values: Mapping[str, Any]) -> None:
        with self._lock:
            row = self._row(ref)
            self._rows[row.id] = replace(row, **self._clean(values))

    def append_output(self, ref: Any, chunks: list[Chunk]) -> None:
        with self._lock:
            self._chunks[self._row(ref).id].extend(chunks)

    def replace_output(self, ref: Any, stream: str, data: bytes) -> None:
        with self._lock:
            row = self._row(ref)
            kept = [c for c in self._chunks[row.id] if c.stream != stream]
            rebuilt, offset = [], 0
            for c in [*kept, Chunk(0, stream, data)]:
                if c.data:
                    rebuilt.append(Chunk(offset, c.stream, c.data))
                    offset += len(c.data)
            self._chunks[row.id] = rebuilt

    def read_log(self, ref: Any, offset: int = 0, limit: int | None = None) -> list[Chunk]:
        with self._lock:
            chunks = cut(list(self._chunks[self._row(ref).id]), offset)
        return chunks[:limit] if limit else chunks

    def get(self, ref: Any) -> ExecutionView:
        with self._lock:
            return replace(self._row(ref))

    def list(self, status: str | None = None, runner: str | None = None, limit: int = 50) -> list[ExecutionView]:
        with self._lock:
            rows = [r for r in self._rows.values() if (not status or r.status == status) and (not runner or r.runner == runner)]
        return sorted(rows, key=lambda r: r.id, reverse=True)[:limit]
