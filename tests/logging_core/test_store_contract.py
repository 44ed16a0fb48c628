"""The Store contract, the same on every store: MemoryStore, DjangoStore on runwright's own
Execution model, and (for output) DjangoStore on a platform's model, whose output is kept
in runwright's chunk table beside its text fields. Runs on SQLite and on PostgreSQL
(DATABASE_URL)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from runwright.logging_core import MemoryStore, NotFound, Store
from runwright.logging_core.django_store import DjangoStore
from runwright.logging_core.store import MAX_CHUNK, Chunk, Event
from runwright.runners import Status
from tests.legacy_app.models import DeployRun


def _memory() -> tuple[Store, Callable[..., Any]]:
    store = MemoryStore()
    return store, lambda **values: store.create({"runner": "local", **values})


def _own() -> tuple[Store, Callable[..., Any]]:
    store = DjangoStore()
    return store, lambda **values: store.create({"runner": "local", **values})


def _platform() -> tuple[Store, Callable[..., Any]]:
    return DjangoStore(DeployRun), lambda **values: DeployRun.objects.create().pk


FULL = {"memory": _memory, "django": _own}
OUTPUT = {**FULL, "django-platform": _platform}


@pytest.fixture(params=sorted(FULL))
def full(request: pytest.FixtureRequest) -> tuple[Store, Callable[..., Any]]:
    """A store that keeps everything (statuses, workers, events) and a way to add a row."""
    return FULL[request.param]()


@pytest.fixture(params=sorted(OUTPUT))
def output(request: pytest.FixtureRequest) -> tuple[Store, Callable[..., Any]]:
    """Any store, for what every store does with output."""
    return OUTPUT[request.param]()


AT = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def log_bytes(store: Store, ref: Any) -> list[tuple[int, str, bytes]]:
    return [(c.offset, c.stream, c.data) for c in store.read_log(ref)]


# -- rows and statuses ------------------------------------------------------------------------
def test_create_and_get(full: tuple[Store, Callable[..., Any]]) -> None:
    store, _ = full
    ref = store.create({"runner": "local", "command": "echo hi", "labels": {"team": "a"}})
    view = store.get(ref)
    assert (view.id, view.status, view.runner, view.command, view.labels) == (ref, Status.PENDING, "local", "echo hi",
                                                                               {"team": "a"})
    assert view.created_at is not None and view.created_at.tzinfo is not None
    assert store.status(ref) == Status.PENDING
    running = store.create({"runner": "local"}, Status.RUNNING)
    assert store.get(running).status == Status.RUNNING


def test_an_unknown_execution_is_not_found(full: tuple[Store, Callable[..., Any]]) -> None:
    store, _ = full
    with pytest.raises(NotFound):
        store.get(10**12)
    with pytest.raises(NotFound):
        store.status(10**12)
    with pytest.raises(NotFound):
        store.update(10**12, {"worker": "w"})


def test_transitions_are_conditional(full: tuple[Store, Callable[..., Any]]) -> None:
    store, new = full
    ref = new()
    started = datetime.now(UTC)
    assert store.transition(ref, Status.RUNNING, {"started_at": started, "worker": "w1"}) is None
    view = store.get(ref)
    assert (view.status, view.started_at, view.worker) == (Status.RUNNING, started, "w1")
    assert store.transition(ref, Status.RUNNING, {}) == Status.RUNNING  # claimed once only
    assert store.transition(ref, Status.PENDING, {}) == Status.RUNNING  # never back
    assert store.transition(ref, Status.SUCCESS, {"return_code": 0}, expect={"worker": "w2"}) == Status.RUNNING
    assert store.get(ref).status == Status.RUNNING  # another worker's end is refused
    assert store.transition(ref, Status.CANCELLED, {"error_message": "stopped"}, expect={"worker": "w1"}) is None
    assert store.transition(ref, Status.SUCCESS, {"return_code": 0}) == Status.CANCELLED  # final is final
    view = store.get(ref)
    assert (view.status, view.error_message, view.exit_code) == (Status.CANCELLED, "stopped", None)


def test_a_pending_run_may_be_cancelled_but_not_finished(full: tuple[Store, Callable[..., Any]]) -> None:
    store, new = full
    ref = new()
    assert store.transition(ref, Status.SUCCESS, {}) == Status.PENDING
    assert store.transition(ref, Status.CANCELLED, {}) is None
    assert store.transition(ref, Status.RUNNING, {}) == Status.CANCELLED


def test_take_over_moves_a_running_run_to_another_worker_once(full: tuple[Store, Callable[..., Any]]) -> None:
    store, new = full
    ref = new()
    assert not store.take_over(ref, "", "w2")  # not running
    store.transition(ref, Status.RUNNING, {"worker": "w1"})
    assert store.take_over(ref, "w1", "w2")
    assert not store.take_over(ref, "w1", "w3")  # w2 has it now
    view = store.get(ref)
    assert view.worker == "w2" and view.heartbeat_at is not None


def test_update_writes_fields_and_never_a_status(output: tuple[Store, Callable[..., Any]]) -> None:
    store, new = output
    ref = new()
    store.update(ref, {"handle": {"pid": 7}, "started_at": AT})
    view = store.get(ref)
    assert view.started_at == AT
    assert view.handle == ({"pid": 7} if store.tracks_workers else None)  # a platform's model has no handle field
    with pytest.raises(ValueError, match="only through Store.transition"):  # one place changes a status
        store.update(ref, {"status": "success", "started_at": None})
    view = store.get(ref)
    assert (view.status, view.started_at) == (Status.PENDING, AT)


def test_cancel_requests(full: tuple[Store, Callable[..., Any]]) -> None:
    store, new = full
    flagged, ended, live = new(), new(), new()
    store.update(flagged, {"cancel_requested": True})
    store.transition(ended, Status.CANCELLED, {})
    assert [store.cancel_requested(r) for r in (flagged, ended, live)] == [True, True, False]
    assert store.cancels_requested([flagged, ended, live]) == {str(flagged), str(ended)}
    assert store.cancels_requested([]) == set()


def test_heartbeats_name_the_runs_another_worker_took(full: tuple[Store, Callable[..., Any]]) -> None:
    store, new = full
    mine, taken = new(), new()
    for ref in (mine, taken):
        store.transition(ref, Status.RUNNING, {"worker": "w1"})
    store.take_over(taken, "w1", "w2")
    before = datetime.now(UTC)
    assert store.refresh_heartbeats([mine, taken], "w1") == {str(taken)}
    beat = store.get(mine).heartbeat_at
    assert beat is not None and beat >= before


def test_list_is_newest_first_filtered_and_limited(full: tuple[Store, Callable[..., Any]]) -> None:
    store, _ = full
    runner = f"contract-{uuid.uuid4().hex[:8]}"  # the database is shared by the session's tests
    refs = [store.create({"runner": runner}) for _ in range(3)]
    store.transition(refs[1], Status.CANCELLED, {})
    assert [v.id for v in store.list(runner=runner)] == refs[::-1]
    assert [v.id for v in store.list(runner=runner, limit=2)] == refs[:0:-1]
    assert [v.id for v in store.list(status="cancelled", runner=runner)] == [refs[1]]
    assert [v.id for v in store.list(status="pending", runner=runner)] == [refs[2], refs[0]]


def test_events_are_read_in_order_after_a_number(full: tuple[Store, Callable[..., Any]]) -> None:
    store, new = full
    ref = new()
    assert store.supports_events and store.last_event_seq(ref) == 0 and store.read_events(ref) == []
    events = [Event(i, "progress", {"i": i}, AT + timedelta(seconds=i)) for i in range(1, 6)]
    store.append_events(ref, events[:2])
    store.append_events(ref, events[2:])
    assert store.read_events(ref) == events
    assert store.read_events(ref, after=2) == events[2:]
    assert store.read_events(ref, after=2, limit=2) == events[2:4]
    assert store.last_event_seq(ref) == 5


def test_secrets_are_kept_until_forgotten(full: tuple[Store, Callable[..., Any]]) -> None:
    store, new = full
    ref, other = new(), new()
    store.keep_secret(ref, "s3cret")
    store.keep_secret(ref, "t0ken")
    assert store.kept_secrets(ref) == ["s3cret", "t0ken"] and store.kept_secrets(other) == []
    store.forget_secrets(ref)
    assert store.kept_secrets(ref) == []


# -- output -------------------------------------------------------------------------------------
def test_output_is_one_log_numbered_by_offset(output: tuple[Store, Callable[..., Any]]) -> None:
    store, new = output
    ref = new()
    assert store.read_log(ref) == [] and store.log_end(ref) == 0 and store.line_tail(ref, "stdout") == b""
    store.append_output(ref, [Chunk(0, "stdout", b"hello\n", AT), Chunk(6, "stderr", b"oops\n", AT)])
    store.append_output(ref, [Chunk(11, "stdout", b"world", AT)])
    assert log_bytes(store, ref) == [(0, "stdout", b"hello\n"), (6, "stderr", b"oops\n"), (11, "stdout", b"world")]
    assert all(c.at == AT for c in store.read_log(ref))
    assert store.log_end(ref) == 16
    assert store.output_sizes(ref) == {"stdout": 11, "stderr": 5, "system": 0}
    assert store.line_tail(ref, "stdout") == b"orld"


def test_a_read_from_inside_a_chunk_starts_there(output: tuple[Store, Callable[..., Any]]) -> None:
    store, new = output
    ref = new()
    store.append_output(ref, [Chunk(0, "stdout", b"abcdef", AT), Chunk(6, "stderr", b"ghij", AT),
                              Chunk(10, "stdout", b"kl", AT)])
    assert log_bytes(store, ref)[0] == (0, "stdout", b"abcdef")
    assert [(c.offset, c.stream, c.data) for c in store.read_log(ref, 3)] == [
        (3, "stdout", b"def"), (6, "stderr", b"ghij"), (10, "stdout", b"kl")]
    assert [(c.offset, c.data) for c in store.read_log(ref, 7, limit=1)] == [(7, b"hij")]
    assert store.read_log(ref, 6)[0].offset == 6  # at a chunk's start: the chunk whole
    assert store.read_log(ref, 12) == []


def test_a_chunk_is_stamped_and_a_large_one_split(output: tuple[Store, Callable[..., Any]]) -> None:
    store, new = output
    ref = new()
    before = datetime.now(UTC)
    data = bytes(range(256)) * (MAX_CHUNK // 256) + b"tail"
    store.append_output(ref, [Chunk(0, "stdout", data)])
    chunks = store.read_log(ref)
    assert [(c.offset, len(c.data)) for c in chunks] == [(0, MAX_CHUNK), (MAX_CHUNK, 4)]
    assert b"".join(c.data for c in chunks) == data
    assert all(c.at is not None and c.at >= before for c in chunks)
    assert store.read_log(ref, MAX_CHUNK + 2)[0].data == b"il"


def test_read_log_since_keeps_whole_chunks_received_from_then_on(output: tuple[Store, Callable[..., Any]]) -> None:
    store, new = output
    ref = new()
    store.append_output(ref, [Chunk(0, "stdout", b"early\n", AT), Chunk(6, "stdout", b"later\n", AT + timedelta(1)),
                              Chunk(12, "stderr", b"last\n", AT + timedelta(2))])
    since = [(c.offset, c.data) for c in store.read_log_since(ref, AT + timedelta(hours=1))]
    assert since == [(6, b"later\n"), (12, b"last\n")]
    assert [(c.offset, c.data) for c in store.read_log_since(ref, AT + timedelta(1))] == since  # at counts
    assert [(c.offset, c.data) for c in store.read_log_since(ref, AT, offset=8)] == [(8, b"ter\n"), (12, b"last\n")]
    assert [(c.offset, c.data) for c in store.read_log_since(ref, AT, limit=1)] == [(0, b"early\n")]
    assert store.read_log_since(ref, AT + timedelta(3)) == []


def test_replacing_a_stream_moves_no_other_bytes_and_reuses_no_offset(
    output: tuple[Store, Callable[..., Any]],
) -> None:
    store, new = output
    ref = new()
    store.append_output(ref, [Chunk(0, "stdout", b"out\n", AT), Chunk(4, "system", b"line 1\n", AT),
                              Chunk(11, "stderr", b"err\n", AT), Chunk(15, "system", b"line 2\n", AT)])
    end = store.log_end(ref)
    store.replace_output(ref, "system", b"replaced\n")
    # The other streams keep their offsets (a reader that has them reads on after them); the
    # replacement goes at the end, so a follower at the old end reads it.
    assert log_bytes(store, ref) == [(0, "stdout", b"out\n"), (11, "stderr", b"err\n"), (end, "system", b"replaced\n")]
    assert [(c.offset, c.data) for c in store.read_log(ref, end)] == [(end, b"replaced\n")]
    assert store.log_end(ref) == end + len(b"replaced\n")
    assert store.output_sizes(ref) == {"stdout": 4, "stderr": 4, "system": 9}
    # Replaced again, as the last stream of the log: its offsets are still not reused.
    end = store.log_end(ref)
    store.replace_output(ref, "system", b"again\n")
    assert log_bytes(store, ref)[-1] == (end, "system", b"again\n")
    store.replace_output(ref, "system", b"")
    assert log_bytes(store, ref) == [(0, "stdout", b"out\n"), (11, "stderr", b"err\n")]


def test_a_chunk_is_rewritten_in_place(output: tuple[Store, Callable[..., Any]]) -> None:
    store, new = output
    ref = new()
    store.append_output(ref, [Chunk(0, "stdout", b"out\n", AT), Chunk(4, "system", b"count:   1\n", AT),
                              Chunk(15, "system", b"x\n", AT)])
    found = store.chunks_sized(ref, "system", 5, 20)
    assert [(c.offset, c.data) for c in found] == [(4, b"count:   1\n")]
    assert [c.offset for c in store.chunks_sized(ref, "system", 1, 20)] == [15, 4]  # newest first
    store.rewrite_chunk(ref, found[0], b"count: 200\n")
    assert log_bytes(store, ref)[1] == (4, "system", b"count: 200\n")
    with pytest.raises(ValueError):
        store.rewrite_chunk(ref, found[0], b"longer than it was\n")
