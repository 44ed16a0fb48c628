"""Output into a platform's text fields: chunks in runwright's table, bounded summaries."""

from __future__ import annotations

import statistics
import sys
import time

import pytest

from runwright.integrations.django.models import TextLogChunk
from runwright.logging_core import ExecutionLogger as RunwrightLogger
from runwright.logging_core import legacy
from runwright.logging_core.django_store import DjangoStore
from runwright.logging_core.legacy import ExecutionLogger
from runwright.logging_core.store import Chunk
from runwright.logging_core.text_fields import TRUNCATED
from runwright.runners import RunSpec, Status
from tests.legacy_app.helpers import full_log
from tests.legacy_app.models import CommandExecution, PlaybookExecution, ScriptExecution

PY = sys.executable


def test_ten_thousand_appended_lines_cost_the_same_each() -> None:
    """An append costs the same whatever is stored already. Measured side by side, so that
    a loaded machine slows both sides alike: appends to a run holding 10,000 lines
    interleaved with appends to a run holding almost nothing, compared by their medians
    (no wall-clock threshold; a cost that grew with what is stored would be ~10x here)."""
    run = PlaybookExecution.objects.create()
    ExecutionLogger.start_execution(run)
    lines = [f"TASK [step {i}] ok: [web{i % 7}] changed=false elapsed=0.{i:04d}s" for i in range(10_000)]
    # 10,000 lines appended a hundred at a time (what is measured below is the cost of one more
    # append against what is stored, not how the stored lines got there; one call a line made
    # this the suite's slowest test, a minute on PostgreSQL).
    for i in range(0, len(lines), 100):
        ExecutionLogger.update_execution_logs(run, "\n".join(lines[i : i + 100]), append=True)
    small = PlaybookExecution.objects.create()
    ExecutionLogger.start_execution(small)
    took: dict[int, list[float]] = {run.pk: [], small.pk: []}
    for i in range(400):
        for row in ((run, small) if i % 2 else (small, run)):  # neither side always first
            t0 = time.perf_counter()
            ExecutionLogger.update_execution_logs(row, f"extra line {i}", append=True)
            took[row.pk].append(time.perf_counter() - t0)
    big_cost, small_cost = statistics.median(took[run.pk]), statistics.median(took[small.pk])
    assert big_cost < 2 * small_cost, (
        f"an append to 10,000 stored lines costs {big_cost * 1e3:.2f} ms, to a fresh log {small_cost * 1e3:.2f} ms")
    expected = "".join(f"{line}\n" for line in [*lines, *(f"extra line {i}" for i in range(400))])
    assert full_log(run) == expected.encode()  # every byte kept
    run.refresh_from_db()
    limit = DjangoStore(PlaybookExecution).fields.text_limit
    assert len(run.logs) <= limit and run.logs.startswith(TRUNCATED) and run.logs.endswith(expected[-1000:])


MULTIBYTE = "héllo wörld — 日本語 🚀 ok\n".encode()


def test_a_multibyte_log_split_at_every_byte_offset() -> None:
    store = DjangoStore(ScriptExecution)
    for cut in range(1, len(MULTIBYTE)):
        row = ScriptExecution.objects.create()
        store.append_output(row.pk, [Chunk(0, "stdout", MULTIBYTE[:cut])])
        store.append_output(row.pk, [Chunk(cut, "stdout", MULTIBYTE[cut:])])
        row.refresh_from_db()
        assert row.logs == MULTIBYTE.decode(), f"split at byte {cut}"
        assert full_log(row) == MULTIBYTE


def test_a_character_split_across_streams_and_flushes_of_a_real_run() -> None:
    """A process writes one 4-byte character in two writes with a pause; it reaches the
    store in two flushes, interleaved with the other stream."""
    logger = RunwrightLogger(DjangoStore(CommandExecution), flush_interval=0.01, structured_log=False, metrics=False)
    ref = CommandExecution.objects.create().pk
    script = ("import os,sys,time; e='🚀'.encode(); os.write(1, b'a' + e[:2]); time.sleep(0.3); "
              "os.write(2, b'err\\n'); time.sleep(0.3); os.write(1, e[2:] + b'b\\n')")
    result = logger.run(RunSpec([PY, "-c", script]), ref)
    row = CommandExecution.objects.get(pk=ref)
    assert result.status == Status.SUCCESS
    assert (row.status, row.stdout, row.stderr) == ("completed", "a🚀b\n", "err\n")
    chunks = logger.read_log(ref)
    assert len([c for c in chunks if c.stream == "stdout"]) >= 2, "the character was meant to span two flushes"


def test_a_follower_reads_each_stream_by_offset_without_loss_or_repeats() -> None:
    logger = RunwrightLogger(DjangoStore(CommandExecution), flush_bytes=1, structured_log=False, metrics=False)
    ref = CommandExecution.objects.create().pk
    script = "import sys\nfor i in range(200):\n    print(f'out {i}', flush=True); print(f'err {i}', file=sys.stderr, flush=True)"
    logger.run(RunSpec([PY, "-c", script]), ref)
    # A follower that reconnects after every page, from the offset it reached.
    got: dict[str, bytes] = {"stdout": b"", "stderr": b""}
    offset = 0
    while page := logger.read_log(ref, offset, 3):
        for chunk in page:
            got[chunk.stream] += chunk.data
        offset = page[-1].offset + len(page[-1].data)
        if offset > 7:  # and once from the middle of a chunk
            mid = logger.read_log(ref, offset - 3, 1)[0]
            assert mid.offset == offset - 3
    assert got["stdout"] == "".join(f"out {i}\n" for i in range(200)).encode()
    assert got["stderr"] == "".join(f"err {i}\n" for i in range(200)).encode()


def test_the_storage_limit_applies_and_error_text_still_lands() -> None:
    legacy.configure(secrets=[], max_stored_bytes=100)
    task = ScriptExecution.objects.create()
    ExecutionLogger.start_execution(task)
    for i in range(20):
        ExecutionLogger.update_execution_logs(task, f"line number {i:02d}", append=True)
    assert ExecutionLogger.fail_execution(task, "the real error")
    stored = full_log(task)
    assert stored.count(b"output storage limit of 100 bytes reached") == 1
    assert stored.startswith(b"line number 00\n") and stored.endswith(b"the real error\n")
    assert len(stored) < 300
    assert task.logs.endswith("the real error\n")


def test_a_text_field_keeps_its_last_characters_and_says_so() -> None:
    run = PlaybookExecution.objects.create()
    big = "".join(f"{i:06d}\n" for i in range(20_000))  # 140,000 characters
    ExecutionLogger.complete_execution(run, {"stdout": big, "return_code": 0})
    limit = DjangoStore(PlaybookExecution).fields.text_limit
    assert len(run.logs) == limit and run.logs.startswith(TRUNCATED) and run.logs.endswith("019999\n")
    assert full_log(run) == big.encode()


def test_a_streamed_run_whose_row_is_deleted_stops_and_says_why() -> None:
    """The row goes away while the process runs: the run is stopped, the NotFound raised,
    and no chunk is left without its row."""
    from runwright.logging_core.store import NotFound
    from tests.helpers import pids_with, token

    logger = RunwrightLogger(DjangoStore(CommandExecution), flush_interval=0.01, structured_log=False, metrics=False)
    ref = CommandExecution.objects.create().pk
    tok = token()

    class DeleteOnFirstOutput:
        def on_output(self, execution_id, stream, nbytes):  # type: ignore[no-untyped-def]
            CommandExecution.objects.filter(pk=ref).delete()

        def __getattr__(self, name):  # type: ignore[no-untyped-def]
            return lambda *a, **k: None

    logger.observers.append(DeleteOnFirstOutput())
    with pytest.raises(NotFound):
        logger.run(RunSpec(["sh", "-c", f"echo started; sleep {tok}; echo never"]), ref)
    deadline = time.monotonic() + 10
    while pids_with(tok) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pids_with(tok) == []
    assert not TextLogChunk.objects.filter(model="legacy_app.commandexecution", object_id=str(ref)).exists()


def test_a_log_replaced_after_every_line_keeps_the_real_output_within_the_limit() -> None:
    """A platform that keeps the whole log and replaces it after each line: the limit counts
    the bytes stored, not the log's end (which every replace moves on)."""
    import subprocess

    legacy.configure(secrets=[], max_stored_bytes=1000)
    run = CommandExecution.objects.create()
    ExecutionLogger.start_execution(run)
    whole = ""
    for i in range(40):  # 40 replaces of a log of up to 320 bytes: its end passes 6,000
        whole += f"line {i:02d}\n"
        ExecutionLogger.update_execution_logs(run, whole, append=False)
    assert full_log(run) == whole.encode()
    done = subprocess.CompletedProcess([], 1, "REAL STDOUT\n", "REAL STDERR\n")
    assert ExecutionLogger.complete_execution(run, done, log_message="Finished")
    assert (run.stdout, run.stderr) == ("REAL STDOUT\n", whole + "REAL STDERR\nFinished\n")
    assert b"storage limit" not in full_log(run)


def test_a_replacement_is_held_to_the_limit_and_says_what_it_dropped() -> None:
    legacy.configure(secrets=[], max_stored_bytes=1000)
    run = ScriptExecution.objects.create()
    ExecutionLogger.start_execution(run)
    ExecutionLogger.update_execution_logs(run, "x" * 100_000, append=False)
    stored = full_log(run)
    assert stored.startswith(b"x" * 1000) and len(stored) < 1200
    # the count is padded: rewritten in place
    assert stored.rstrip(b" \n").endswith(
        b"output storage limit of 1000 bytes reached: 99000 more bytes were produced and not stored")
    # What the other streams hold counts; what is replaced does not.
    ExecutionLogger.update_execution_logs(run, "short\n", append=False)
    ExecutionLogger.complete_execution(run, {"stdout": "y" * 990, "return_code": 0})
    stored = full_log(run)
    assert stored.startswith(b"short\n" + b"y" * 990)
    assert stored.count(b"storage limit") == 0


def test_every_drop_leaves_the_marker_line() -> None:
    """Past the limit (reached through replaces or appends) a drop is never silent."""
    legacy.configure(secrets=[], max_stored_bytes=200)
    run = ScriptExecution.objects.create()
    ExecutionLogger.start_execution(run)
    for i in range(30):
        ExecutionLogger.update_execution_logs(run, "".join(f"r{j}\n" for j in range(i)), append=False)
    ExecutionLogger.update_execution_logs(run, "a" * 150, append=True)  # stored 150 + the log: past the limit
    ExecutionLogger.update_execution_logs(run, "b" * 50, append=True)
    assert ExecutionLogger.fail_execution(run, "the real error")
    stored = full_log(run)
    assert stored.count(b"output storage limit of 200 bytes reached") == 1
    assert b"b" * 50 not in stored and stored.endswith(b"the real error\n")


def test_chunks_go_with_their_row_and_orphans_can_be_pruned() -> None:
    from django.db import connection

    from runwright.logging_core.text_fields import prune_orphan_chunks

    def chunks(row):  # type: ignore[no-untyped-def]
        return TextLogChunk.objects.filter(model=row._meta.label_lower, object_id=str(row.pk))

    kept, one, many = (ScriptExecution.objects.create() for _ in range(3))
    for row in (kept, one, many):
        ExecutionLogger.start_execution(row, "hello")
        ExecutionLogger.update_execution_logs(row, "world", append=True)
    gone_one, gone_many = chunks(one), chunks(many)
    one.delete()  # an instance's delete
    ScriptExecution.objects.filter(pk=many.pk).delete()  # a queryset's delete
    assert not gone_one.exists() and not gone_many.exists()
    # Rows removed behind Django's back leave orphans, which the prune removes.
    raw = ScriptExecution.objects.create()
    ExecutionLogger.start_execution(raw, "hello")
    orphans = chunks(raw)
    with connection.cursor() as cur:
        cur.execute(f"DELETE FROM {ScriptExecution._meta.db_table} WHERE id = %s", [raw.pk])
    assert orphans.count() == 1
    assert prune_orphan_chunks()["legacy_app.scriptexecution"] == 1
    assert not orphans.exists()
    assert full_log(kept) == b"hello\nworld\n"
    assert prune_orphan_chunks(ScriptExecution) == {"legacy_app.scriptexecution": 0}
