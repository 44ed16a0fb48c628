"""The per-process writer: the one thread that writes the live runs of a process to a store.

Design
======

One ``Writer`` per process and store (by ``Store.key``: one database table), started with the
first live run and gone two seconds after the last. It alone writes what the live runs of the
process hand over: their output, events, live metadata and handles, heartbeats; it polls
their cancel requests; and it runs, on behalf of the callers' threads, the writes before and
after a run (the insert of a run's row, the claim, the final status). Everything happens on
its one thread, so a process holds **one database connection per writer** (the thread's, in
Django's per-thread connections) whatever the number of runs it supervises; the callers'
threads hold none for a run (a caller inside its own ``transaction.atomic()`` writes in its
transaction, as before).

Handing over. A runner's thread never waits on the database: ``ExecutionRecorder.output``
appends the (already redacted) bytes to the run's ``OutputSpool`` (memory up to a bound, then
an unlinked file on disk) at offsets the recorder gives, and wakes the writer once
``flush_bytes`` are pending. Events, metadata and handles are queued with the run; live
metadata and a handle carry the offset of the output reported before them, and are written
with exactly that output (in its transaction), never ahead of it. Notes, handles, metadata,
secrets and ``flush()`` wait until the writer has stored them, unless the database is
unreachable: then they are queued like the output and the run goes on.

Batching. Every tick (at most 50 ms, half the flush interval) the writer takes from each run a
batch that is due (``flush_interval`` old, ``flush_bytes`` big, or asked for), up to 1 MiB a
run, and writes the batches of all runs and the heartbeats that are due in one transaction.
A batch leaves its run only once committed (``Batch`` is frozen until then), so a failed try
is retried with the same bytes at the same offsets. Cancel requests of all the writer's runs
are read in one query (``Store.cancels_requested``) every ``cancel_poll_interval``.

Offsets. The recorder numbers its run's bytes; the writer stores them and owns what happens
when the numbers meet something already stored (``UNIQUE(execution, offset)``): bytes that are
the batch's own (the same stream and bytes at the same offset: an earlier try committed and
its answer was lost with the connection) count as stored, never stored twice; anything else
(a note another process wrote at the stored end) moves the run's pending output past it.

Outages. An error of the database being unreachable (``Store.is_outage``: a terminated
backend, a refused or dropped connection) starts an outage: the writer closes its connection
and tries again with a backoff of up to 1 s, while the runs go on and their output is spooled.
When the database answers, everything is written in order and byte-exact, heartbeats are
refreshed at once, and waiting callers go on. Past a run's window
(``RUNWRIGHT_DB_OUTAGE_WINDOW``, 60 s, or ``ExecutionLogger(outage_window=...)``) the run is
stopped through its cancel token, with the reason, and recorded ``error``; its final write
stays queued and is made as soon as the database allows, while the process lives (``run()``
returns once the window has passed; ``ExecutionLogger.wait_written`` waits for it; a process
that exits first leaves the run to the reaper, which marks it ``lost``). Other errors of the
database a store calls transient (a lock timeout) are retried briefly, as before; any other
error stops that one run ("recording failed"), never the others.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from runwright.logging_core.store import Chunk, Event, Store

if TYPE_CHECKING:
    from runwright.logging_core.recorder import ExecutionRecorder

log = logging.getLogger("runwright.writer")

#: Brief retries of a transient error that is not an outage (a lock timeout), as before.
RETRY_DELAYS = (0.1, 0.4, 1.0)
#: Backoff between tries while the database is unreachable (the last one repeats).
OUTAGE_BACKOFF = (0.1, 0.25, 0.5, 1.0)
#: How long an outage may last before the runs are stopped (RUNWRIGHT_DB_OUTAGE_WINDOW).
DEFAULT_OUTAGE_WINDOW = 60.0
#: How many times a batch moves past notes other processes wrote at its offsets.
MAX_REBASES = 5
#: Pending events that make the run's thread wait for the writer (memory stays bounded).
EVENT_BATCH = 500
#: Output of one run in one write, and of all runs in one transaction.
BATCH_BYTES = 1 << 20
CYCLE_BYTES = 8 << 20
#: A full database: the smallest write tried before a run gives up (halving from the batch).
SMALLEST_WRITE = 4096
#: A writer with nothing to do for this long ends its thread (and closes its connection).
IDLE_EXIT = 2.0

_thread_state = threading.local()


def on_writer_thread() -> bool:
    """Whether the calling thread is a writer's (which retries whole writes itself)."""
    return getattr(_thread_state, "writer", None) is not None


def outage_window_setting() -> float:
    """RUNWRIGHT_DB_OUTAGE_WINDOW in seconds (default 60); a bad value is logged and ignored."""
    raw = os.environ.get("RUNWRIGHT_DB_OUTAGE_WINDOW")
    if raw is None:
        return DEFAULT_OUTAGE_WINDOW
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        log.warning("RUNWRIGHT_DB_OUTAGE_WINDOW=%r is not a positive number of seconds: using %g", raw,
                    DEFAULT_OUTAGE_WINDOW)
        return DEFAULT_OUTAGE_WINDOW
    return value


def error_kind(store: Store, exc: BaseException) -> str:
    """``outage`` (the database is unreachable), ``transient`` (worth a brief retry) or ``permanent``."""
    if isinstance(exc, store.transient_errors):
        return "outage" if store.is_outage(exc) else "transient"
    return "permanent"


@dataclass
class Batch:
    """What one write takes from a run: fixed until it is committed."""

    chunks: list[Chunk]
    nbytes: int  # the run's pending bytes it covers (from the front)
    events: list[Event]
    updates: int  # queued row updates it covers
    update: dict[str, Any] | None
    end: int  # the log's end once it is stored
    tries: int = 0

    @property
    def stores_something(self) -> bool:
        return bool(self.chunks or self.events)


@dataclass
class _Call:
    """A function the writer runs for a caller's thread. ``mode``: ``wait`` (the caller waits;
    an outage past ``window`` raises its error), ``final`` (the caller waits up to ``window``
    into an outage; the writer keeps trying after) or ``soon`` (the caller waits unless the
    database is unreachable; the writer keeps trying)."""

    fn: Callable[..., Any]
    args: tuple[Any, ...]
    mode: str
    window: float
    store: Store
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None
    released: bool = False  # the caller went on; the call stays queued
    tries: int = 0
    #: It writes a run's batches (and commits them itself): never inside another call's transaction.
    alone: bool = False


class Writer:
    """The writer of one store in this process (see the module's docstring)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._cond = threading.Condition()
        self._runs: dict[int, ExecutionRecorder] = {}
        self._calls: deque[_Call] = deque()
        self._thread: threading.Thread | None = None
        self._wake = False
        #: When the current outage began (monotonic), None while the database answers.
        self.outage_since: float | None = None
        self._outage_error: BaseException | None = None
        self._backoff = 0
        self._last_poll = 0.0
        self._did_io = False
        self._start = 0  # where the next cycle starts among the runs (fairness under CYCLE_BYTES)

    # == the callers' side ======================================================================
    def register(self, rec: ExecutionRecorder) -> None:
        with self._cond:
            self._runs[id(rec)] = rec
            self._ensure_thread()

    def unregister(self, rec: ExecutionRecorder) -> None:
        with self._cond:
            self._runs.pop(id(rec), None)

    def wake(self) -> None:
        with self._cond:
            self._wake = True
            self._ensure_thread()
            self._cond.notify_all()

    def call(self, fn: Callable[..., Any], *args: Any, mode: str = "wait", window: float = DEFAULT_OUTAGE_WINDOW,
             store: Store | None = None, alone: bool = False) -> Any:
        """Run ``fn(*args)`` on the writer's thread, retried through outages (see ``_Call``);
        returns its result (None when the caller was released before it ran). Raises its
        error, or for ``wait`` the outage's error once it lasted longer than ``window``.
        On the writer's thread itself it runs at once; under the caller's own transaction it
        runs there, with the brief retries of ``retrying`` (but a ``soon`` call, which is
        queued for the writer: the run's batches are the writer's to write). ``alone``: ``fn``
        writes batches of a run (``drain``), in transactions of its own."""
        store = store or self.store
        if getattr(_thread_state, "writer", None) is self:
            return fn(*args)
        in_transaction = getattr(store, "in_transaction", bool)()
        if in_transaction and mode != "soon":
            from runwright.logging_core.recorder import retrying

            return retrying(store, fn, *args)
        call = _Call(fn, args, mode, window, store, alone=alone)
        with self._cond:
            self._calls.append(call)
            self._wake = True
            self._ensure_thread()
            self._cond.notify_all()
            if mode == "soon" and (self.outage_since is not None or in_transaction):
                return None  # queued with the output: the run goes on
        call.done.wait()
        if call.released:
            return None
        if call.error is not None:
            raise call.error
        return call.result

    def wait_idle(self, timeout: float | None = None, give_up: Callable[[], bool] = lambda: False) -> bool:
        """Wait until everything handed over is written (no call queued, nothing pending);
        False when ``timeout`` passed or ``give_up()`` became true first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._calls or any(_pending(rec) for rec in self._runs.values()):
                if give_up() or (deadline is not None and time.monotonic() >= deadline):
                    return False
                self._wake = True
                self._cond.notify_all()
                self._cond.wait(0.2)  # woken after every step; the bound re-checks give_up()
        return True

    # == the thread ===========================================================================
    def _ensure_thread(self) -> None:  # with self._cond held
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name="runwright-writer", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        _thread_state.writer = self
        idle_since: float | None = None
        try:
            while True:
                with self._cond:
                    if not self._wake:
                        self._cond.wait(self._tick())
                    self._wake = False
                    if not self._runs and not self._calls:
                        now = time.monotonic()
                        idle_since = idle_since or now
                        if now - idle_since > IDLE_EXIT:
                            self._thread = None
                            return
                        continue
                    idle_since = None
                healthy = self._step()
                with self._cond:
                    self._cond.notify_all()  # wait_idle() looks again
                if not healthy:
                    delay = OUTAGE_BACKOFF[min(self._backoff, len(OUTAGE_BACKOFF) - 1)]
                    self._backoff += 1
                    time.sleep(delay)  # backoff while the database is unreachable
        finally:
            _thread_state.writer = None
            closer = getattr(self.store, "close_thread_connections", None)
            if closer is not None:
                with contextlib.suppress(Exception):
                    closer()

    def _tick(self) -> float:
        intervals = [rec.logger.flush_interval for rec in self._runs.values()]
        return min(0.05, min(intervals) / 2) if intervals else 0.5

    def _step(self) -> bool:
        """One round: the queued calls, then the runs. False while the database is unreachable."""
        self._did_io = False
        try:
            self._run_calls()
            self._cycle(time.monotonic())
        except Exception as exc:
            if error_kind(self.store, exc) != "outage":
                log.exception("runwright writer: unexpected error (the runs go on)")
                return True
            self._outage(exc)
            return False
        if self._did_io:
            self._recovered()
        return True

    # -- calls ----------------------------------------------------------------------------
    def _run_calls(self) -> None:
        """The queued calls, in order: consecutive ones that write no batch of a run share one
        transaction (a savepoint each, so that one's error is its own): one commit for the
        claims and inserts of many runs. A call's result is given only once committed."""
        while True:
            with self._cond:
                calls = list(self._calls)
            if not calls:
                return
            group = calls[:1] if calls[0].alone else list(_until_alone(calls))
            again: _Call | None = None
            with _atomic(self.store) if len(group) > 1 else contextlib.nullcontext():
                for call in group:
                    call.result, call.error = None, None
                    try:
                        with _savepoint(call.store) if len(group) > 1 else contextlib.nullcontext():
                            call.result = call.fn(*call.args)
                    except Exception as exc:
                        kind = error_kind(call.store, exc)
                        if kind == "outage":
                            raise  # the calls stay in line, retried whole
                        if kind == "transient" and call.tries < len(RETRY_DELAYS):
                            again = call
                            break  # what came before it is committed; it is tried again
                        call.error = exc
            self._did_io = True
            finished = group[: group.index(again)] if again is not None else group
            with self._cond:
                for call in finished:
                    self._calls.remove(call)
            for call in finished:
                call.done.set()
            if again is not None:
                _reset(again.store)
                time.sleep(RETRY_DELAYS[again.tries])  # a short back-off, as ``retrying`` does
                again.tries += 1

    # -- outages --------------------------------------------------------------------------
    def _outage(self, exc: BaseException) -> None:
        now = time.monotonic()
        _reset(self.store)
        if self.outage_since is None:
            self.outage_since = now
            log.warning("runwright: the database is unreachable (%s: %s); output is spooled until it answers",
                        type(exc).__name__, str(exc).strip().splitlines()[0] if str(exc).strip() else "")
        self._outage_error = exc
        lasted = now - self.outage_since
        with self._cond:
            runs = list(self._runs.values())
            calls = list(self._calls)
        for rec in runs:
            window = rec.logger.outage_window
            if lasted > window and not rec.stopped_because:
                rec.stop_recording(f"the database was unreachable for more than {window:g}s "
                                   f"(RUNWRIGHT_DB_OUTAGE_WINDOW): {type(exc).__name__}")
        for call in calls:
            if call.done.is_set():
                continue
            if call.mode == "soon" or (call.mode == "final" and lasted > call.window):
                call.released = True
                call.done.set()
            elif call.mode == "wait" and lasted > call.window:
                call.error = exc
                with self._cond, contextlib.suppress(ValueError):
                    self._calls.remove(call)
                call.done.set()

    def _recovered(self) -> None:
        self._backoff = 0
        if self.outage_since is None:
            return
        log.warning("runwright: the database answers again after %.1fs; writing what was spooled",
                    time.monotonic() - self.outage_since)
        self.outage_since = None
        self._outage_error = None
        with self._cond:
            for rec in self._runs.values():
                rec._last_heartbeat = float("-inf")  # refreshed at once: it went stale meanwhile

    # -- the runs -------------------------------------------------------------------------
    def _cycle(self, now: float) -> None:
        with self._cond:
            runs = list(self._runs.values())
        if not runs:
            return
        self._poll_cancels(runs, now)
        start = self._start % len(runs)
        self._start += 1
        batches: list[tuple[ExecutionRecorder, Batch]] = []
        size = 0
        for rec in runs[start:] + runs[:start]:
            if rec.superseded or rec.write_failed or size >= CYCLE_BYTES:
                continue
            batch = self.take(rec, force=False, now=now)
            if batch is not None:
                batches.append((rec, batch))
                size += batch.nbytes
        beats = [rec for rec in runs if not rec.superseded and now - rec._last_heartbeat >= rec.logger.heartbeat_interval]
        if not batches and not beats:
            return
        try:
            with _atomic(self.store):
                for rec, batch in batches:
                    self._write_batch(rec, batch, savepoints=False)
                taken_over = self._beat(beats)
        except Exception as exc:
            if error_kind(self.store, exc) == "outage":
                raise
            # One run's write failed (another process's note at its offsets, a row deleted, a
            # table gone): each run on its own now, so that the others are stored.
            for rec, batch in batches:
                self._write_alone(rec, batch)
            taken_over = self._beat(beats)
        else:
            for rec, batch in batches:
                self._committed(rec, batch)
        self._did_io = True
        for rec in beats:
            rec._last_heartbeat = now
            if str(rec.ref) in taken_over:
                rec.superseded = True
                log.warning("execution %s was taken over by another worker; worker %s stops recording it",
                            rec.ref, rec.worker)

    def _poll_cancels(self, runs: list[ExecutionRecorder], now: float) -> None:
        polled = [rec for rec in runs if rec.cancel is not None and not rec.cancel.cancelled and not rec.superseded]
        if not polled:
            return
        interval = min(rec.logger.cancel_poll_interval for rec in polled)
        if now - self._last_poll < interval and self.outage_since is None:  # in an outage: the probe
            return
        self._last_poll = now
        found = self.store.cancels_requested([rec.ref for rec in polled])
        self._did_io = True
        for rec in polled:
            if str(rec.ref) in found and rec.cancel is not None:
                rec.cancel.cancel("cancel requested")

    def _beat(self, recs: list[ExecutionRecorder]) -> set[str]:
        """Heartbeats, one statement per worker name; the runs another worker took over."""
        by_worker: dict[str, list[Any]] = {}
        for rec in recs:
            owner = rec.worker if rec.worker and self.store.tracks_workers else ""
            by_worker.setdefault(owner, []).append(rec.ref)
        taken: set[str] = set()
        for worker, refs in by_worker.items():
            taken |= self.store.refresh_heartbeats(refs, worker)
        return taken

    def take(self, rec: ExecutionRecorder, force: bool, now: float | None = None) -> Batch | None:
        """The run's batch in flight, or a new one when something is due (or ``force``)."""
        with rec._lock:
            if rec._inflight is not None:
                return rec._inflight
            if rec.superseded:  # the new owner writes from the stored end: nothing of ours may land
                _drop_pending(rec)
                return None
            spool, events, updates = rec._spool, rec._events, rec._updates
            if not (spool or events or updates):
                return None
            if not force:
                now = time.monotonic() if now is None else now
                due = (updates or spool.pending >= rec.logger.flush_bytes or len(events) >= EVENT_BATCH
                       or now - rec._first_pending_at >= rec.logger.flush_interval)
                if not due:
                    return None
            front = rec.offset - spool.pending
            limit = updates[0][0] if updates else None
            chunks = spool.peek(BATCH_BYTES, limit)
            nbytes = sum(len(c.data) for c in chunks)
            update: dict[str, Any] | None = None
            covered = 0
            while covered < len(updates) and updates[covered][0] <= front + nbytes:
                update = {**(update or {}), **updates[covered][1]}
                covered += 1
            rec._inflight = Batch(chunks, nbytes, list(events[:EVENT_BATCH * 4]), covered, update, front + nbytes)
            return rec._inflight

    def _committed(self, rec: ExecutionRecorder, batch: Batch) -> None:
        with rec._lock:
            rec._spool.consume(batch.nbytes)
            rec._room.notify_all()
            del rec._events[: len(batch.events)]
            for _ in range(batch.updates):
                rec._updates.popleft()
            rec._inflight = None
            if rec._spool or rec._events or rec._updates:
                rec._first_pending_at = time.monotonic()
            if batch.events:
                rec.stored_seq = batch.events[-1].seq
        if batch.stores_something:  # followers (the web UI) read what is now in the store, by offset
            rec.logger._notify("on_stored", rec.ref, batch.end, rec.stored_seq)

    def _write_alone(self, rec: ExecutionRecorder, batch: Batch) -> None:
        """One run's batch in a transaction of its own; a failure is that run's alone."""
        try:
            with _atomic(rec.store):
                self._write_batch(rec, batch, savepoints=True)
        except Exception as exc:
            kind = error_kind(rec.store, exc)
            if kind == "outage":
                raise
            if store_is_full(rec.store, exc) and self._shrink(rec, batch):
                return  # the smaller write is tried next round
            batch.tries += 1
            if kind == "transient" and batch.tries <= len(RETRY_DELAYS):
                return  # tried again next round
            self._give_up(rec, exc)
            return
        self._committed(rec, batch)

    def _shrink(self, rec: ExecutionRecorder, batch: Batch) -> bool:
        """The database is full: the front half of the batch's output, alone, becomes the
        write in flight (its events and row update wait for a later one), so that what still
        fits is stored before the run gives up. False when it is down to ``SMALLEST_WRITE``."""
        smaller = _front_half(batch)
        if smaller is None:
            return False
        with rec._lock:
            if rec._inflight is batch:
                rec._inflight = smaller
        return True

    def _give_up(self, rec: ExecutionRecorder, exc: BaseException) -> None:
        """Writes of this run keep failing for a reason that is not an outage: stop its work
        (the runner's thread gets the error at its next report); what is pending stays for
        the final write, which says what could not be stored."""
        with rec._lock:
            rec._inflight = None
            rec.write_failed = True
            rec._error = exc
        if store_is_full(rec.store, exc):  # not runwright's fault: say what the user can fix
            rec.stop_recording(f"the database has no room left, recording stopped: {exc}")
        else:
            rec.stop_recording(f"internal error: recording failed: {type(exc).__name__}: {exc}")

    def drain(self, rec: ExecutionRecorder, final: Callable[[BaseException | None], None] | None = None,
              ) -> BaseException | None:
        """Store everything ``rec`` holds now, a batch per transaction. With ``final`` (the
        run's end), the last batch and ``final(error)`` share one transaction, and output
        that cannot be stored (an error that is not an outage) does not keep the final
        status from being written: ``final`` is given that error, which is returned."""
        output_error: BaseException | None = None
        while True:
            batch = self.take(rec, force=True) if output_error is None else None
            last = batch is None or _is_last(rec, batch)
            if batch is None and final is None:
                return None
            shrunk = False  # the database is full: a smaller write is tried first
            try:
                with _atomic(rec.store):
                    if batch is not None and final is not None and last:
                        try:
                            with _savepoint(rec.store):
                                self._write_batch(rec, batch, savepoints=True)
                        except Exception as exc:
                            if error_kind(rec.store, exc) == "outage":
                                raise
                            shrunk = store_is_full(rec.store, exc) and self._shrink(rec, batch)
                            if not shrunk:
                                output_error, batch = exc, None
                    elif batch is not None:
                        self._write_batch(rec, batch, savepoints=True)
                    if final is not None and last and not shrunk:
                        final(output_error)
            except Exception as exc:
                if batch is not None and store_is_full(rec.store, exc) and self._shrink(rec, batch):
                    continue
                if final is None or batch is None or last or error_kind(rec.store, exc) == "outage":
                    raise
                output_error = exc  # an earlier batch: the status is still written, next
                continue
            if shrunk:
                continue
            if batch is not None:
                self._committed(rec, batch)
            if final is not None and last:
                if output_error is not None:
                    with rec._lock:
                        _drop_pending(rec)
                return output_error

    def tick_run(self, rec: ExecutionRecorder, now: float) -> None:
        """What a round does for one run, now: its batch if due, its heartbeat and cancel poll if due."""
        batch = self.take(rec, force=False, now=now)
        if batch is not None:
            self._write_alone(rec, batch)
        if not rec.superseded and now - rec._last_heartbeat >= rec.logger.heartbeat_interval:
            rec._last_heartbeat = now
            owner = rec.worker if rec.worker and rec.store.tracks_workers else ""
            if str(rec.ref) in rec.store.refresh_heartbeats([rec.ref], owner):
                rec.superseded = True
        if rec.cancel is not None and rec.store.cancels_requested([rec.ref]):
            rec.cancel.cancel("cancel requested")

    # -- one batch -------------------------------------------------------------------------
    def _write_batch(self, rec: ExecutionRecorder, batch: Batch, savepoints: bool) -> None:
        """The batch's chunks, events and row update, in the caller's transaction. With
        ``savepoints``, an offset or event number found taken is reconciled (see the module's
        docstring); without, it is raised (the caller retries the run on its own)."""
        store = rec.store
        for _ in range(MAX_REBASES + 1):
            if not batch.chunks:
                break
            try:
                with _savepoint(store) if savepoints else contextlib.nullcontext():
                    store.append_output(rec.ref, batch.chunks)
                break
            except store.conflict_errors:
                if not savepoints or not self._reconcile(rec, batch):
                    raise
        else:
            raise RuntimeError(f"execution {rec.ref}: its output kept meeting other writers' notes")
        if batch.events:
            try:
                with _savepoint(store) if savepoints else contextlib.nullcontext():
                    store.append_events(rec.ref, batch.events)
            except store.conflict_errors:
                have = store.read_events(rec.ref, batch.events[0].seq - 1, len(batch.events)) if savepoints else []
                if [(e.seq, e.kind) for e in have] != [(e.seq, e.kind) for e in batch.events]:
                    raise
        if batch.update:
            store.update(rec.ref, batch.update)

    def _reconcile(self, rec: ExecutionRecorder, batch: Batch) -> bool:
        """The batch's offsets are taken. By its own bytes (an earlier try committed): those
        count as stored. By someone else's (a note of another process): the run's pending
        output moves to the stored end. False when neither explains it."""
        store = rec.store
        stored = store.read_log(rec.ref, batch.chunks[0].offset, len(batch.chunks))
        same = 0
        for ours, theirs in zip(batch.chunks, stored, strict=False):
            if (ours.offset, ours.stream, ours.data) != (theirs.offset, theirs.stream, theirs.data):
                break
            same += 1
        if same:
            batch.chunks = batch.chunks[same:]
            return True
        end = store.log_end(rec.ref)
        shift = end - batch.chunks[0].offset
        if shift <= 0:
            return False
        with rec._lock:
            rec._spool.shift(shift)
            rec._updates = deque((offset + shift, fields) for offset, fields in rec._updates)
            rec.offset += shift
            batch.chunks = [replace(c, offset=c.offset + shift) for c in batch.chunks]
            batch.end += shift
        return True


def _until_alone(calls: list[_Call]) -> Iterator[_Call]:
    for call in calls:
        if call.alone:
            return
        yield call


def _pending(rec: ExecutionRecorder) -> bool:
    return bool(rec._spool or rec._events or rec._updates or rec._inflight) and not (rec.superseded or rec.write_failed)


def _drop_pending(rec: ExecutionRecorder) -> None:  # with rec._lock held
    rec._spool.close()
    rec._events.clear()
    rec._updates.clear()
    rec._inflight = None


def store_is_full(store: Store, exc: BaseException) -> bool:
    """Whether ``exc`` says ``store``'s database has no room left (``Store.is_full``)."""
    is_full = getattr(store, "is_full", None)  # a store written before is_full existed
    return bool(is_full(exc)) if is_full is not None else False


def _front_half(batch: Batch) -> Batch | None:
    """A batch of the front half of ``batch``'s bytes not stored yet (a chunk cut in two where
    the half falls), with no events and no row update; None at ``SMALLEST_WRITE`` or less."""
    unstored = sum(len(c.data) for c in batch.chunks)
    if unstored <= SMALLEST_WRITE:
        return None
    half, taken = unstored // 2, 0
    chunks: list[Chunk] = []
    for chunk in batch.chunks:
        keep = min(len(chunk.data), half - taken)
        if keep <= 0:
            break
        chunks.append(chunk if keep == len(chunk.data) else replace(chunk, data=chunk.data[:keep]))
        taken += keep
    stored_before = batch.nbytes - unstored  # a first try that committed (see _reconcile)
    front = batch.end - batch.nbytes
    return Batch(chunks, stored_before + taken, [], 0, None, front + stored_before + taken)


def _is_last(rec: ExecutionRecorder, batch: Batch) -> bool:
    with rec._lock:
        return (batch.nbytes == rec._spool.pending and len(batch.events) == len(rec._events)
                and batch.updates == len(rec._updates))


def _atomic(store: Store) -> Any:
    atomic = getattr(store, "atomic", None)
    return atomic() if atomic is not None else contextlib.nullcontext()


@contextlib.contextmanager
def _savepoint(store: Store) -> Iterator[None]:
    """A savepoint where the store is in a transaction: a failed statement leaves it usable."""
    if getattr(store, "in_transaction", bool)():
        with store.atomic():  # type: ignore[attr-defined]
            yield
    else:
        yield


def _reset(store: Store) -> None:
    reset = getattr(store, "reset_connection", None)
    if reset is not None:
        with contextlib.suppress(Exception):
            reset()


# == one writer per process and store ==========================================================
_writers: dict[str, Writer] = {}
_writers_lock = threading.Lock()


def writer_for(store: Store) -> Writer:
    """This process's writer of ``store`` (by its key), made on first use."""
    key = store.key
    with _writers_lock:
        writer = _writers.get(key)
        if writer is None:
            writer = _writers[key] = Writer(store)
        return writer


def _forget_writers() -> None:
    """In a forked child: the parent's writer threads do not exist here."""
    global _writers_lock
    _writers.clear()
    _writers_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_writers)


__all__ = ["DEFAULT_OUTAGE_WINDOW", "EVENT_BATCH", "RETRY_DELAYS", "Batch", "Writer", "error_kind",
           "on_writer_thread", "outage_window_setting", "writer_for"]
