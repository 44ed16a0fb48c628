"""The read side of the sink: an execution's row, its log by byte offset, its events by number,
read once, a page at a time, or followed while the run goes on. Reading changes nothing."""

from __future__ import annotations

import builtins
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from runwright.logging_core.store import PAGE_CHUNKS, Chunk, Event, ExecutionView, Store
from runwright.runners.result import RunResult
from runwright.runners.status import ACTIVE

#: Events per read when events are followed.
PAGE_EVENTS = 500


class LogReading:
    """What :class:`~runwright.logging_core.logger.ExecutionLogger` offers to read, on its ``store``."""

    store: Store

    def get(self, ref: Any) -> ExecutionView:
        return self.store.get(ref)

    def list(self, status: str | None = None, runner: str | None = None, limit: int = 50) -> builtins.list[ExecutionView]:
        return self.store.list(status=status, runner=runner, limit=limit)

    def read_log(
        self, ref: Any, offset: int = 0, limit: int | None = None, since: datetime | None = None,
    ) -> builtins.list[Chunk]:
        """Output from byte ``offset`` of the combined log; a follower passes the end of
        what it has, so a reconnect neither loses nor repeats anything. With ``since`` (an
        aware datetime), only the chunks received at or after it (``Chunk.at``; chunks stored
        before chunks had a time are left out)."""
        if since is None:
            return self.store.read_log(ref, offset, limit)
        return self.store.read_log_since(ref, since, offset, limit)

    def iter_log(self, ref: Any, offset: int = 0, since: datetime | None = None) -> Iterator[Chunk]:
        """What is stored from ``offset`` on (received at or after ``since``, when given),
        read a page at a time (memory stays small)."""
        while chunks := self.read_log(ref, offset, PAGE_CHUNKS, since):
            yield from chunks
            offset = chunks[-1].offset + len(chunks[-1].data)

    def follow(self, ref: Any, offset: int = 0, poll: float = 0.1, since: datetime | None = None) -> Iterator[Chunk]:
        """Yield chunks as they are stored (received at or after ``since``, when given) until
        the execution is final and all is read."""
        while True:
            final = self.store.status(ref) not in ACTIVE
            chunks = self.read_log(ref, offset, PAGE_CHUNKS, since)
            for chunk in chunks:
                yield chunk
                offset = chunk.offset + len(chunk.data)
            if final and not chunks:
                return
            if not chunks:
                time.sleep(poll)

    def read_events(self, ref: Any, after: int = 0, limit: int | None = None) -> builtins.list[Event]:
        """Structured events numbered after ``after`` (numbers start at 1 per execution), in
        order; a follower passes the last number it has, so a reconnect loses and repeats none."""
        return self.store.read_events(ref, after, limit)

    def iter_events(self, ref: Any, after: int = 0) -> Iterator[Event]:
        """What is stored after event ``after``, read a page at a time."""
        while events := self.store.read_events(ref, after, PAGE_EVENTS):
            yield from events
            after = events[-1].seq

    def follow_events(self, ref: Any, after: int = 0, poll: float = 0.1) -> Iterator[Event]:
        """Yield events as they are stored until the execution is final and all are read."""
        while True:
            final = self.store.status(ref) not in ACTIVE
            events = self.store.read_events(ref, after, PAGE_EVENTS)
            for event in events:
                yield event
                after = event.seq
            if final and not events:
                return
            if not events:
                time.sleep(poll)

    def result_of(self, ref: Any) -> RunResult:
        view = self.store.get(ref)
        stored = dict(view.result or {})
        if stored.get("status"):
            result = RunResult.from_dict({k: v for k, v in stored.items() if k != "events"})
            result.status = view.status  # the row is the truth (a refused late finish)
            return result
        return RunResult(
            status=view.status, exit_code=view.exit_code, error=view.error_message or None,
            started_at=view.started_at, finished_at=view.finished_at, log_ref=self.store.log_ref(ref),
            metadata=dict(stored.get("metadata") or {}),  # live metadata; a lost run's stop_confirmed
        )
