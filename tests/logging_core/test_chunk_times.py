"""Every stored chunk carries the time its output was received (``Chunk.at``, UTC), and a log
can be read from a time on (``read_log(since=...)``, ``iter_log``, ``follow``): in memory, on
runwright's own model and on a platform's model (SQLite, or PostgreSQL with DATABASE_URL)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from runwright.logging_core import ExecutionLogger, MemoryStore
from runwright.logging_core.store import Chunk
from runwright.runners import RunResult, RunSpec, Status
from tests.legacy_app.models import DeployRun

SPEC = RunSpec(["true"])


def clock_past(t: datetime) -> datetime:
    """Now, once the clock reads later than ``t`` (its next microsecond; no fixed wait)."""
    while (now := datetime.now(UTC)) <= t:
        pass
    return now


def _memory() -> tuple[ExecutionLogger, Any]:
    logger = ExecutionLogger(MemoryStore(), structured_log=False, metrics=False)
    return logger, logger.create(SPEC)


def _own() -> tuple[ExecutionLogger, Any]:
    logger = ExecutionLogger(structured_log=False, metrics=False)
    return logger, logger.create(SPEC)


def _platform() -> tuple[ExecutionLogger, Any]:
    from runwright.logging_core.django_store import DjangoStore

    return ExecutionLogger(DjangoStore(DeployRun), structured_log=False, metrics=False), DeployRun.objects.create().pk


STORES: dict[str, Callable[[], tuple[ExecutionLogger, Any]]] = {"memory": _memory, "own": _own, "platform": _platform}


@pytest.fixture(params=sorted(STORES))
def run(request: pytest.FixtureRequest) -> tuple[ExecutionLogger, Any]:
    """A logger on one kind of store and a pending execution of it."""
    return STORES[request.param]()


def test_a_chunk_has_the_time_its_first_byte_arrived(run: tuple[ExecutionLogger, Any]) -> None:
    logger, ref = run
    rec = logger.recorder(ref, SPEC)
    assert rec.claim() is None
    before = datetime.now(UTC)
    rec.output("stdout", b"hel")
    first_byte_done = datetime.now(UTC)
    clock_past(first_byte_done)
    rec.output("stdout", b"lo\n")  # the same pending chunk: it keeps the time of its first byte
    rec.flush()
    rec.finished(RunResult(status=Status.SUCCESS, exit_code=0))
    [chunk] = [c for c in logger.read_log(ref) if c.stream == "stdout"]
    assert chunk.data == b"hello\n"
    assert chunk.at is not None and chunk.at.utcoffset() == timedelta(0)
    assert before <= chunk.at <= first_byte_done


def test_since_selects_exactly_the_chunks_received_from_then_on(run: tuple[ExecutionLogger, Any]) -> None:
    logger, ref = run
    rec = logger.recorder(ref, SPEC)
    assert rec.claim() is None
    rec.output("stdout", b"early\n")
    rec.output("stderr", b"early err\n")
    rec.flush()
    stored = logger.read_log(ref)
    mark = clock_past(max(c.at for c in stored if c.at is not None))
    rec.output("stdout", b"late\n")
    rec.output("stderr", b"late err\n")
    rec.flush()
    rec.finished(RunResult(status=Status.SUCCESS, exit_code=0))

    def since(t: datetime, offset: int = 0) -> list[tuple[str, bytes]]:
        return [(c.stream, c.data) for c in logger.iter_log(ref, offset, since=t)]

    late = [("stdout", b"late\n"), ("stderr", b"late err\n")]
    assert since(mark) == late
    assert [(c.stream, c.data) for c in logger.follow(ref, since=mark)] == late  # a final run: what is stored
    assert logger.read_log(ref, since=mark, limit=1) == logger.read_log(ref, since=mark)[:1]
    # At or after: the first chunk's own time selects it and everything after it.
    first = logger.read_log(ref)[0]
    assert first.at is not None
    assert since(first.at) == [(c.stream, c.data) for c in logger.read_log(ref)]
    # With an offset too: the chunk holding the offset is cut to start there.
    late_start = next(c.offset for c in logger.read_log(ref) if c.data == b"late\n")
    assert since(mark, late_start + 2) == [("stdout", b"te\n"), ("stderr", b"late err\n")]
    assert since(clock_past(datetime.now(UTC))) == []


def test_since_pages_through_a_long_log(run: tuple[ExecutionLogger, Any]) -> None:
    # More chunks than one page (32), with times given: the selection spans pages.
    logger, ref = run
    base = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    logger.store.append_output(ref, [Chunk(i * 4, "stdout", b"%03d\n" % i, base + timedelta(seconds=i)) for i in range(100)])
    got = list(logger.iter_log(ref, since=base + timedelta(seconds=30)))
    assert [c.data for c in got] == [b"%03d\n" % i for i in range(30, 100)]
    assert [c.at for c in got] == [base + timedelta(seconds=i) for i in range(30, 100)]


def test_notes_and_appends_without_a_time_get_the_time_they_are_written(run: tuple[ExecutionLogger, Any]) -> None:
    logger, ref = run
    before = datetime.now(UTC)
    logger.store.append_output(ref, [Chunk(0, "system", b"a note\n")])
    logger.transition(ref, Status.CANCELLED)
    assert not logger.transition(ref, Status.SUCCESS)  # refused: noted in the log by the store's writer
    after = datetime.now(UTC)
    chunks = logger.read_log(ref)
    assert b"".join(c.data for c in chunks).startswith(b"a note\n[runwright] refused status change")
    assert all(c.at is not None and before <= c.at <= after for c in chunks)


def test_a_replaced_stream_keeps_the_other_streams_times(run: tuple[ExecutionLogger, Any]) -> None:
    logger, ref = run
    old = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    logger.store.append_output(ref, [Chunk(0, "stdout", b"out\n", old), Chunk(4, "system", b"line\n", old)])
    before = datetime.now(UTC)
    logger.store.replace_output(ref, "system", b"replaced\n")
    by_stream = {c.stream: c for c in logger.read_log(ref)}
    assert by_stream["stdout"].at == old
    assert by_stream["system"].data == b"replaced\n"
    assert by_stream["system"].at is not None and by_stream["system"].at >= before


def test_the_legacy_api_stamps_what_it_writes() -> None:
    from runwright.logging_core.django_store import DjangoStore

    logger = ExecutionLogger(DjangoStore(DeployRun), structured_log=False, metrics=False)
    row = DeployRun.objects.create()
    before = datetime.now(UTC)
    logger.start_execution(row, "starting")
    logger.update_execution_logs(row, "more\n", append=True)
    logger.log_execution_info(row, "info")
    after = datetime.now(UTC)
    chunks = logger.read_log(row.pk)
    assert b"more\n" in b"".join(c.data for c in chunks)
    assert chunks and all(c.at is not None and before <= c.at <= after for c in chunks)


@pytest.mark.parametrize("model", ["own", "platform"])
def test_chunks_stored_before_chunks_had_a_time(model: str) -> None:
    """Rows stored before migration 0008 have no time: read back with ``at`` None, and left
    out of a read from a time on."""
    from runwright.integrations.django.models import LogChunk, TextLogChunk

    logger, ref = STORES[model]()
    if model == "own":
        LogChunk.objects.create(execution_id=ref, offset=0, stream="o", data=b"old\n")
    else:
        TextLogChunk.objects.create(model="legacy_app.deployrun", object_id=str(ref), offset=0, stream="o", data=b"old\n")
    now = datetime.now(UTC)
    logger.store.append_output(ref, [Chunk(4, "stdout", b"new\n", now)])
    assert logger.read_log(ref) == [Chunk(0, "stdout", b"old\n", None), Chunk(4, "stdout", b"new\n", now)]
    assert logger.read_log(ref, since=datetime(1970, 1, 1, tzinfo=UTC)) == [Chunk(4, "stdout", b"new\n", now)]


def test_the_models_and_their_migrations_agree() -> None:
    from django.core.management import call_command

    call_command("makemigrations", "runwright", "--check", "--dry-run", verbosity=0)  # SystemExit(1) if not


def test_the_migration_leaves_earlier_chunks_without_a_time() -> None:
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    from runwright.logging_core.django_store import DjangoStore

    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes("runwright")
    before = [("runwright", "0007_runsecret")]
    executor.migrate(before)
    key = f"migration-{uuid.uuid4().hex}"  # a platform's row of its own: no other test's chunks
    try:
        old = MigrationExecutor(connection).loader.project_state(before).apps
        execution = old.get_model("runwright", "Execution").objects.create(status="success")
        old.get_model("runwright", "LogChunk").objects.create(execution=execution, offset=0, stream="o", data=b"kept\n")
        old.get_model("runwright", "TextLogChunk").objects.create(
            model="tests.migration", object_id=key, offset=0, stream="o", data=b"kept\n")
    finally:
        MigrationExecutor(connection).migrate(latest)
    from runwright.integrations.django.models import TextLogChunk

    assert DjangoStore().read_log(execution.pk) == [Chunk(0, "stdout", b"kept\n", None)]
    kept = TextLogChunk.objects.filter(model="tests.migration", object_id=key)
    assert [(bytes(c.data), c.at) for c in kept] == [(b"kept\n", None)]
    kept.delete()
    logger = ExecutionLogger(structured_log=False, metrics=False)
    result = logger.run(RunSpec(["echo", "after"]))  # the new column is written
    assert [c.data for c in logger.read_log(result.log_ref.rsplit("/", 1)[1])] == [b"after\n"]
