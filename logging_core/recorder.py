"""ExecutionRecorder: the RunReporter of one execution. It claims the run, numbers its output
(offsets in the combined log) and events, enforces the storage limit and masks what it is
given, and decides the final status. It hands everything to the process's writer
(``runwright.logging_core.writer``), which alone talks to the store for live runs: the
runner's thread never waits on the database for output."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from runwright.logging_core.spool import OutputSpool
from runwright.logging_core.storage_limit import fit, marker
from runwright.logging_core.store import Event, ExecutionView, Store, as_line
from runwright.logging_core.writer import EVENT_BATCH, RETRY_DELAYS, Batch, on_writer_thread, store_is_full, writer_for
from runwright.runners.base import RecordingStopped
from runwright.runners.cancel import CancelToken
from runwright.runners.events import Stream
from runwright.runners.result import RunResult
from runwright.runners.secrets import Redactor
from runwright.runners.spec import RunSpec
from runwright.runners.status import TERMINAL, Status

if TYPE_CHECKING:
    from runwright.logging_core.logger import ExecutionLogger

T = TypeVar("T")
#: An event's kind is a short name (the column holds 64 characters).
MAX_KIND = 64
log = logging.getLogger("runwright.recorder")


class TransitionRefused(RuntimeError):
    def __init__(self, ref: Any, current: Status, attempted: Status, what: str = "execution") -> None:
        self.ref, self.current, self.attempted = ref, current, attempted
        super().__init__(f"{what} {ref} is {current}; refused to move it to {attempted}")


def retrying(
    store: Store, fn: Callable[..., T], *args: Any,
    retry_on: tuple[type[BaseException], ...] | None = None, before_retry: Callable[[], None] | None = None,
) -> T:
    """Call a store method (or a whole transaction), retrying briefly on transient database
    errors (``retry_on``: the store's ``transient_errors`` unless given), then raising.
    ``before_retry`` puts back what a failed try changed in memory."""
    if on_writer_thread():  # the writer retries its whole write itself, through outages
        return fn(*args)
    errors = store.transient_errors if retry_on is None else retry_on
    for delay in (*RETRY_DELAYS, None):
        try:
            return fn(*args)
        except errors:
            # Under a caller's transaction.atomic() a retry cannot help and must not close
            # the connection: the real cause is raised at once.
            if delay is None or getattr(store, "in_transaction", bool)():
                raise
            if before_retry is not None:
                before_retry()
            reset = getattr(store, "reset_connection", None)
            if reset:
                reset()
            time.sleep(delay)  # a short back-off before the next try, not a wait for an event
    raise AssertionError("unreachable")


class ExecutionRecorder:
    def __init__(
        self, logger: ExecutionLogger, store: Store, ref: Any, spec: RunSpec | None,
        cancel: CancelToken | None = None,
    ) -> None:
        self.logger, self.store, self.ref, self.spec = logger, store, ref, spec
        self.cancel = cancel
        self.redactor = spec.redactor() if spec is not None else Redactor()
        self.limit = logger.max_stored_bytes
        self.writer = writer_for(store)
        self._lock = threading.Lock()
        #: Signalled when the writer stored output or stopped the run (see _wait_for_room).
        self._room = threading.Condition(self._lock)
        #: What the writer has not stored yet: output, events, row updates (each with the
        #: log offset it comes after), and the batch it is writing (see writer.Batch).
        self._spool = OutputSpool(chunk_bytes=logger.flush_bytes)
        self._updates: deque[tuple[int, dict[str, Any]]] = deque()
        self._inflight: Batch | None = None
        self._first_pending_at = 0.0
        self.offset = 0  # the combined log's size, stored + pending
        self.dropped = 0
        #: The last bytes of each stream this recorder wrote: a note starts on a line of its own
        #: among the streams shown with it (``Store.shown_with``), whatever the others end with.
        self._tails: dict[str, bytes] = {}
        self._last_stream: list[str] = []  # streams in the order of their last write
        self._events: list[Event] = []  # numbered, not stored yet
        self.event_seq = 0  # the last number given
        self.stored_seq = 0  # the last number stored
        #: The execution's live metadata (one writer per execution: this recorder).
        self.live_metadata: dict[str, Any] = {}
        #: Set when this recorder took the run over from a lost worker: what was there before.
        self.taken_over: ExecutionView | None = None
        self._prior_sizes: dict[str, int] = {}
        self.status: Status | None = None
        #: The worker that owns the run through this recorder ("" outside workers).
        self.worker = ""
        #: Another worker took the run over (this one's lease had expired): write nothing more.
        self.superseded = False
        self._error: BaseException | None = None
        self._last_heartbeat = 0.0
        #: The writer gave up on this run's writes (an error that is not an outage).
        self.write_failed = False
        #: Why the writer stopped the run (an outage past the window, writes that keep failing).
        self.stopped_because = ""
        #: Secrets learned mid-run were kept in the store for this run (deleted at its end).
        self.keeps_secrets = False

    # -- status ----------------------------------------------------------------------------
    def claim(self, worker: str = "") -> Status | None:
        """pending -> running. Returns None when claimed, else the status that refused it
        (a cancelled or already-claimed run is never started twice)."""
        now = datetime.now(UTC)
        refused = self._db(self.store.transition, self.ref, Status.RUNNING,
                           {"started_at": now, "heartbeat_at": now, "worker": worker})
        if refused == Status.RUNNING:
            # A retry of a claim that had in fact committed (the reply was lost with the
            # connection) finds the row running: if it is running as this claim wrote it,
            # it is ours.
            view = self._db(self.store.get, self.ref)
            if view.worker == worker and view.started_at == now:
                refused = None
        if refused is None:
            # What was written before the run (an API note on the pending execution) stays:
            # the run's output goes on from the stored end of the log.
            # If the log cannot be read now, the first write meets the same fault and the run
            # ends through the usual path (a write that collides with a note moves past it).
            try:
                self.offset = self._db(self.store.log_end, self.ref)
                self.stored_seq = self.event_seq
            except Exception as exc:
                log.warning("execution %s: could not read the end of its log: %s", self.ref, exc)
            wait = None
            if self.logger.observers:  # how long it was queued: one read, only when someone listens
                try:
                    created = self._db(self.store.get, self.ref).created_at
                    wait = (now - created).total_seconds() if created else None
                except Exception:
                    log.debug("execution %s: no creation time for the queue wait", self.ref, exc_info=True)
            self.claimed(worker, queue_wait=wait)
        return refused

    def claimed(self, worker: str = "", queue_wait: float | None = 0.0) -> None:
        """The row is ours and running (claimed above, or inserted as running)."""
        self.status = Status.RUNNING
        self.worker = worker
        self._last_heartbeat = time.monotonic()
        info: dict[str, Any] = {"worker": worker, "runner": self.runner_name}
        if queue_wait is not None:  # None: unknown, or a takeover (it was not queued)
            info["queue_wait"] = queue_wait
        self.logger._notify("on_status", self.ref, Status.PENDING, Status.RUNNING, info)
        self.logger._track(self)

    @property
    def runner_name(self) -> str:
        return self.spec.runner if self.spec is not None else (self.taken_over.runner if self.taken_over else "")

    def resumed(self, worker: str, view: ExecutionView) -> None:
        """This recorder follows a run another worker started (the row is already ours: see
        ``Store.take_over``): offsets and event numbers go on from what is stored."""
        self.taken_over = view
        self.offset = self._db(self.store.log_end, self.ref)
        self._prior_sizes = self._db(self.store.output_sizes, self.ref)
        if self.store.supports_events:
            self.event_seq = self.stored_seq = self._db(self.store.last_event_seq, self.ref)
        self.live_metadata = dict((view.result or {}).get("metadata") or {})
        self.claimed(worker, queue_wait=None)

    def started(self, spec: RunSpec, metadata: Mapping[str, Any]) -> None:
        if self.status is None:
            refused = self.claim()
            if refused is not None:
                raise TransitionRefused(self.ref, refused, Status.RUNNING)
        if metadata:  # a container id or a Job name, visible while the run is live
            self.metadata(metadata)

    def handle(self, handle: Mapping[str, Any]) -> None:
        """Store the work's handle at once (one UPDATE): from now on a worker taking over, or
        the reaper, can find the work even if this process dies the next instant."""
        value = jsonable(self.redactor.deep(dict(handle)))
        with self._lock:
            self._queue_update({"handle": value})
        self.flush()

    def metadata(self, values: Mapping[str, Any]) -> None:
        """Merge metadata learned mid-run into the execution's live metadata (one UPDATE).

        Metadata may describe the output reported before it (a log cursor, which a worker taking
        the run over goes on after): it is never stored before that output. Output still pending
        is stored with it, in one transaction where the store has them (``atomic``), so a worker
        killed in between leaves neither a gap nor a repeat; otherwise output first. Output
        reported after it is not in that transaction (the update is queued at the log's
        offset of now)."""
        if not values or self.superseded:
            return
        with self._lock:  # one writer at a time, so no merge overwrites a newer one
            self.live_metadata.update(jsonable(self.redactor.deep(dict(values))))
            self._queue_update({"result": {"metadata": dict(self.live_metadata)}})
        self.flush()

    def finished(self, result: RunResult) -> None:
        """Store the rest of the output and the final status, the last batch and the status in
        one transaction (on a store with transactions), through the writer: retried through a
        database outage; past the outage window this returns and the writer goes on trying
        while the process lives. If the output cannot be stored, the status still is, with a
        note in its error, and the output error raised."""
        self.logger._untrack(self)  # notes from now on go to the store; the writer's rounds skip it
        with self._lock:
            if self.dropped:
                self._add("system", marker(self.limit, self.dropped))
            fields = getattr(self.store, "fields", None)
            limit = fields.max_length("error_message") if fields is not None else None
            if result.error and limit is not None and len(result.error) > limit:  # the field holds its start
                self._add("system", self.redactor.text(f"[runwright] error message in full: {result.error}\n")
                          .encode())
        if self.stopped_because and result.status == Status.CANCELLED:  # stopped by its writer, not by a user
            result.status = Status.ERROR
            result.error = self.stopped_because
        error = result.error
        ended = result.finished_at or datetime.now(UTC)
        tries = [0]

        def final(output_error: BaseException | None) -> None:
            result.error = error
            if output_error is not None:
                # The type alone: a driver's message may quote the statement and its data.
                why = "the database has no room left" if store_is_full(self.store, output_error) else \
                    type(output_error).__name__
                note = f"output not fully stored: {why}"
                result.error = f"{error}; {note}" if error else note
            if tries[0] and self._final_already_stored(result.status, ended):
                return  # an earlier try committed; its answer was lost with the connection
            tries[0] += 1
            self._final_status(result, ended)
            close = getattr(self.store, "close_output", None)
            if close is not None and not self.superseded:  # an unfinished character shows as U+FFFD
                close(self.ref)

        outcome = self._db(lambda: ("stored", self.writer.drain(self, final)), mode="final", alone=True)
        if outcome is None:  # released: the outage outlasted the window, the writer goes on
            log.warning("execution %s: the database is unreachable; its end (%s) is recorded when it answers, "
                        "if this process still runs then", self.ref, result.status)
            return
        self.logger._notify("on_finished", self.ref, result)
        if self.keeps_secrets and not self.superseded:
            try:  # the run is over: nothing re-attaches to it, its learned secrets go
                self._db(self.store.forget_secrets, self.ref)
            except Exception:
                log.exception("execution %s: could not delete the secrets it learned", self.ref)
        if outcome[1] is not None:
            if self.write_failed and self.stopped_because:  # the writer stopped the run for it
                raise RecordingStopped(self.stopped_because) from outcome[1]
            raise outcome[1]

    def _final_already_stored(self, status: Status, ended: datetime) -> bool:
        view = self.store.get(self.ref)
        return view.status == status and view.finished_at == ended

    def stop_recording(self, reason: str) -> None:
        """The writer cannot record this run (the database has been unreachable for longer than
        the window, or its writes keep failing): stop the work; the run is recorded ``error``
        with ``reason``."""
        self.stopped_because = self.redactor.text(reason)
        log.error("execution %s: stopped: %s", self.ref, self.stopped_because)
        with self._room:
            self._room.notify_all()
        if self.cancel is not None:
            self.cancel.cancel(self.stopped_because)

    def secret(self, value: str) -> None:
        """A secret the runner learned mid-run (``ctx.add_secret``): masked in what this
        recorder writes from now on, and kept by the store (sealed) while the run lives, so a
        worker that takes the run over masks it too."""
        self.redactor = Redactor([*self.redactor.values, value])
        self.keeps_secrets = True
        self._db(self.store.keep_secret, self.ref, value, mode="soon")

    def learned(self, values: list[str]) -> None:
        """Secrets the run learned under another worker (``Store.kept_secrets``)."""
        if values:
            self.redactor = Redactor([*self.redactor.values, *values])
            self.keeps_secrets = True

    def _final_status(self, result: RunResult, ended: datetime) -> None:
        result.log_ref = self.store.log_ref(self.ref)
        if self.taken_over is not None:  # the whole run, not only the part this worker saw
            result.started_at = self.taken_over.started_at or result.started_at
            result.stdout_bytes += self._prior_sizes.get("stdout", 0)
            result.stderr_bytes += self._prior_sizes.get("stderr", 0)
            result.metadata = {**self.live_metadata, **result.metadata}
        values = {
            "completed_at": ended,
            "return_code": result.exit_code,
            "signal": result.signal or "",
            "error_message": result.error or "",
            "stdout_bytes": result.stdout_bytes,
            "stderr_bytes": result.stderr_bytes,
            "stored_bytes": self.offset,
            "dropped_bytes": self.dropped,
            "result": jsonable(result.to_dict()),
        }
        if self.status is None and result.status in (Status.RUNNING, Status.SUCCESS, Status.FAILED):
            self.claim()
        # Only while this worker still owns the run: a worker that lost it to a takeover
        # must not end it under the new owner.
        owned = {"worker": self.worker} if self.worker and self.store.tracks_workers else None
        if self.superseded:
            log.warning("execution %s: not recording %s from worker %s, which no longer owns it",
                        self.ref, result.status, self.worker)
        elif not self.logger._move(self.store, self.ref, result.status, values, "runner", owned,
                                   previous=Status.RUNNING, runner=self.runner_name or None):
            # Someone else ended the run first (a cancel or a timeout through the API):
            # the row is the truth, and run() returns what it holds.
            view = retrying(self.store, self.store.get, self.ref)
            if view.status in TERMINAL:
                result.status = view.status
                result.error = view.error_message or result.error

    # -- output ----------------------------------------------------------------------------
    def output(self, stream: Stream, data: bytes) -> None:
        """Hand ``data`` (already masked) to the writer. Waits only when the spool's disk is
        nearly full (``OutputSpool.held_back``): then until the writer has stored enough."""
        self._raise_pending_error()
        self.logger._notify("on_output", self.ref, stream, len(data))
        with self._lock:  # safe when output arrives from several threads
            if self.write_failed:  # nothing more can be stored; the run is being stopped
                self.dropped += len(data)
                return
            data, cut = fit(data, self.limit - self.offset)
            self.dropped += cut
            if data:
                self._add(stream, data)
            due = self._spool.pending >= self.logger.flush_bytes
            held = self._spool.held_back
        if due:
            self.writer.wake()
        if held:
            self._wait_for_room()

    def _wait_for_room(self) -> None:
        """The spool could not spill: wait, with memory bounded, until the writer stored enough
        or the run is stopped (writes that keep failing, an outage past its window, a cancel).
        The timed wait only re-checks a cancel, which signals no condition of ours."""
        with self._room:
            while (self._spool.held_back and not self.stopped_because and not self.write_failed
                   and not (self.cancel is not None and self.cancel.cancelled)):
                self._room.wait(0.5)

    def event(self, kind: str, data: Mapping[str, Any]) -> None:
        """Number the event and store it with the next output batch (within the flush
        interval). Safe from any thread."""
        self._raise_pending_error()
        payload = jsonable(dict(data))
        if not self.store.supports_events:
            log.info("execution %s event %s: %s", self.ref, kind, payload)
            return
        with self._lock:
            self._mark_pending()
            self.event_seq += 1
            self._events.append(Event(self.event_seq, str(kind)[:MAX_KIND], payload, datetime.now(UTC)))
            full = len(self._events) >= EVENT_BATCH
        if full:  # the writer takes them now; memory stays bounded
            self.flush()

    def system(self, message: str) -> None:
        """A line of runwright's own in the execution's log."""
        with self._lock:
            self._add("system", (self.redactor.text(message).rstrip("\n") + "\n").encode())
        self.flush()

    def _mark_pending(self) -> None:
        if not self._spool and not self._events and not self._updates:
            self._first_pending_at = time.monotonic()

    def _add(self, stream: str, data: bytes) -> None:
        self._mark_pending()
        self._spool.add(stream, data, self.offset)
        self.offset += len(data)
        self._tails[stream] = (self._tails.get(stream, b"") + data)[-4:]
        if stream in self._last_stream:
            self._last_stream.remove(stream)
        self._last_stream.append(stream)

    def _queue_update(self, fields: Mapping[str, Any]) -> None:
        """Row fields to write after the output reported so far, with it."""
        self._mark_pending()
        self._updates.append((self.offset, dict(fields)))

    def note(self, text: str) -> None:
        """A line from outside the run (an API note, a refused change) in its log, numbered by
        this recorder, the log's one offset owner in this process: on a line of its own,
        after the output it has so far, stored at once (queued while the database is
        unreachable)."""
        line = self.redactor.text(text).rstrip("\n") + "\n"
        with self._lock:
            shown = self.store.shown_with("system")
            last = next((s for s in reversed(self._last_stream) if s in shown), None)
            self._add("system", as_line(line.encode(), self._tails[last] if last else b""))
        self.flush()

    def flush(self) -> None:
        """Have the writer store everything handed over so far; returns once it is stored, or
        at once while the database is unreachable (it is stored when it answers)."""
        self._db(self.writer.drain, self, mode="soon", alone=True)

    def tick(self, now: float) -> None:
        """Do for this run, now, what the writer's rounds do: the batch that is due by ``now``
        (a monotonic time), the heartbeat and the cancel poll."""
        self._db(self.writer.tick_run, self, now, alone=True)

    def _db(self, fn: Callable[..., T], *args: Any, mode: str = "wait", alone: bool = False) -> T:
        """``fn(*args)`` through the process's writer (see ``Writer.call``)."""
        return self.writer.call(fn, *args, mode=mode, window=self.logger.outage_window,  # type: ignore[no-any-return]
                                store=self.store, alone=alone)

    def _raise_pending_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            if self.stopped_because:  # the writer said why: that is the run's error
                raise RecordingStopped(self.stopped_because) from error
            raise error


def jsonable(value: Any) -> Any:
    """Plain JSON types, with NUL shown as U+2400: PostgreSQL's jsonb refuses \\u0000."""
    return json.loads(json.dumps(value, default=str).replace("\\u0000", "\\u2400"))


__all__ = ["TERMINAL", "ExecutionRecorder", "TransitionRefused", "retrying"]
