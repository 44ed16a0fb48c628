"""Bugs found by a break-it review of issue 11, each through the public API."""

from __future__ import annotations

import logging

import pytest

from runwright.integrations.django.models import TextLogChunk
from runwright.logging_core import legacy
from runwright.logging_core.fieldmap import FieldMap
from runwright.logging_core.legacy import ExecutionContext, ExecutionLogger
from runwright.logging_core.recorder import TransitionRefused
from runwright.logging_core.text_fields import prune_orphan_chunks
from tests.legacy_app.helpers import SECRET, full_log
from tests.legacy_app.models import CommandExecution, GroupedChoicesExecution, ScriptExecution, ShortErrorExecution, UUIDExecution


def test_grouped_status_choices_are_accepted_as_their_values() -> None:
    fmap = FieldMap.for_model(GroupedChoicesExecution)
    assert fmap.status_value(fmap.status_from_value("completed")) == "completed"
    row = GroupedChoicesExecution.objects.create()
    assert ExecutionLogger.start_execution(row)
    assert ExecutionLogger.complete_execution(row, {"stdout": "ok\n", "return_code": 0})
    row.refresh_from_db()
    assert row.status == "completed"
    assert full_log(row) == b"ok\n"


def test_a_secret_passed_as_the_level_never_reaches_the_row_or_the_log(caplog: pytest.LogCaptureFixture) -> None:
    row = ScriptExecution.objects.create()
    ExecutionLogger.start_execution(row)
    with caplog.at_level(logging.DEBUG, logger="runwright.legacy"):
        ExecutionLogger.log_execution_info(row, "deploying", level=f"info {SECRET}")
    row.refresh_from_db()
    stored = full_log(row).decode() + row.logs + caplog.text
    assert "deploying" in row.logs
    assert SECRET.upper() not in stored.upper()


@pytest.mark.parametrize("final", ["cancelled", "failed", "success"])
def test_an_execution_context_on_a_final_execution_does_not_run_its_block(final: str) -> None:
    row = ScriptExecution.objects.create(status=final)
    ran = []
    with pytest.raises(TransitionRefused) as refused, ExecutionContext(row, "starting"):
        ran.append(True)
    assert not ran
    assert f"ScriptExecution execution {row.pk} is {final}" in str(refused.value)
    row.refresh_from_db()
    assert row.status == final and row.logs == ""


def test_a_status_value_the_map_does_not_know_is_taken_as_not_started(caplog: pytest.LogCaptureFixture) -> None:
    """The platform's own ``scheduled`` blocks nothing: it is pending to runwright (and a
    warning says so), so the execution can be started, logged, completed or cancelled."""
    row = GroupedChoicesExecution.objects.create(status="scheduled")
    with caplog.at_level(logging.WARNING, logger="runwright.fieldmap"):
        ExecutionLogger.log_execution_info(row, "waiting for a slot")
        assert ExecutionLogger.start_execution(row, "go")
    assert "'scheduled' is not mapped to a runwright status: taken as not started" in caplog.text
    assert ExecutionLogger.complete_execution(row, {"stdout": "done\n", "return_code": 0})
    row.refresh_from_db()
    assert row.status == "completed"
    assert full_log(row) == b"[INFO] waiting for a slot\ngo\ndone\n"

    other = GroupedChoicesExecution.objects.create(status="scheduled")
    assert ExecutionLogger.cancel_execution(other, "not needed")
    other.refresh_from_db()
    assert other.status == "cancelled"
    with ExecutionContext(GroupedChoicesExecution.objects.create(status="scheduled")) as ctx:
        ctx.set_result({"return_code": 0})


def test_pruning_orphan_chunks_keeps_the_live_ones_of_a_uuid_keyed_model() -> None:
    from django.db import connection

    live, gone = UUIDExecution.objects.create(), UUIDExecution.objects.create()
    for row in (live, gone):
        ExecutionLogger.start_execution(row, "hello")
        ExecutionLogger.update_execution_logs(row, "world", append=True)
    field = UUIDExecution._meta.pk
    with connection.cursor() as cur:  # removed behind Django's back: its chunks are orphans
        cur.execute(f"DELETE FROM {UUIDExecution._meta.db_table} WHERE id = %s",
                    [field.get_db_prep_value(gone.pk, connection)])
    assert prune_orphan_chunks(UUIDExecution) == {"legacy_app.uuidexecution": 2}
    assert full_log(live) == b"hello\nworld\n"
    assert not TextLogChunk.objects.filter(model="legacy_app.uuidexecution").exclude(object_id=str(live.pk)).exists()
    assert prune_orphan_chunks(UUIDExecution) == {"legacy_app.uuidexecution": 0}


def test_pruning_orphan_chunks_of_an_integer_keyed_model() -> None:
    from django.db import connection

    live, gone = ScriptExecution.objects.create(), ScriptExecution.objects.create()
    for row in (live, gone):
        ExecutionLogger.start_execution(row, "hello")
    with connection.cursor() as cur:
        cur.execute(f"DELETE FROM {ScriptExecution._meta.db_table} WHERE id = %s", [gone.pk])
    assert prune_orphan_chunks(ScriptExecution) == {"legacy_app.scriptexecution": 1}
    assert full_log(live) == b"hello\n"


@pytest.mark.parametrize("how", ["fail", "complete", "context"])
def test_an_error_longer_than_its_field_is_cut_visibly_and_kept_in_full_in_the_log(how: str) -> None:
    """error_message is a CharField(max_length=40): PostgreSQL refused the longer text
    (DataError) and the whole call failed. The secret is masked before the text is cut."""
    error = f"deploy failed: {SECRET} " + "x" * 100 + " the real cause"
    row = ShortErrorExecution.objects.create()
    ExecutionLogger.start_execution(row)
    if how == "fail":
        assert ExecutionLogger.fail_execution(row, error, return_code=2)
    elif how == "complete":
        assert ExecutionLogger.complete_execution(row, {"return_code": 2, "stdout": "out\n"}, error_message=error)
    else:
        with pytest.raises(RuntimeError), ExecutionContext(row):
            raise RuntimeError(error)
    row.refresh_from_db()
    assert row.status == "failed"
    assert len(row.error_message) <= 40 and row.error_message.endswith("[cut; full text in the log]")
    stored = full_log(row).decode()
    assert "the real cause" in stored and "the real cause" in row.logs
    assert SECRET not in stored + row.logs + row.error_message


MULTIBYTE = "héllo wörld — 日本語 🚀 ok".encode()


@pytest.mark.parametrize("model", [ScriptExecution, CommandExecution])
def test_a_character_split_between_two_line_appends_is_never_cut_by_a_newline(model: type) -> None:
    """Split at every byte: between characters the two appends are two lines; inside one,
    the character is joined whole (the first part was given a newline, cutting it)."""
    for cut in range(1, len(MULTIBYTE)):
        row = model.objects.create()
        ExecutionLogger.start_execution(row)
        ExecutionLogger.update_execution_logs(row, MULTIBYTE[:cut], append=True)
        ExecutionLogger.update_execution_logs(row, MULTIBYTE[cut:], append=True)
        row.refresh_from_db()
        text = full_log(row).decode()  # strict: a split character raises here
        head = len(MULTIBYTE[:cut].decode(errors="ignore"))
        whole = MULTIBYTE.decode()
        expected = f"{whole[:head]}\n{whole[head:]}\n" if _whole(MULTIBYTE[:cut]) else f"{whole}\n"
        assert text == expected, f"split at byte {cut}"
        shown = row.logs if model is ScriptExecution else row.stderr
        assert shown == expected, f"split at byte {cut}"


def _whole(data: bytes) -> bool:
    try:
        data.decode()
        return True
    except UnicodeDecodeError:
        return False


def test_a_line_starts_on_a_line_of_its_own_in_its_own_text_field() -> None:
    """CommandExecution has no logs field: runwright's lines go to stderr. Whether a line
    needs a newline before it is decided by what stderr ends with, not stdout."""
    row = CommandExecution.objects.create()
    ExecutionLogger.start_execution(row)
    ExecutionLogger.log_execution_info(row, "starting")
    ExecutionLogger.complete_execution(row, {"stdout": "partial", "return_code": 0}, log_message="done")
    row.refresh_from_db()
    assert (row.stdout, row.stderr) == ("partial", "[INFO] starting\ndone\n")  # no blank line in stderr


def test_stdout_and_output_of_a_dict_are_two_lines() -> None:
    row = CommandExecution.objects.create()
    ExecutionLogger.start_execution(row)
    ExecutionLogger.complete_execution(row, {"stdout": "from stdout", "output": "from output", "return_code": 0})
    row.refresh_from_db()
    assert row.stdout == "from stdout\nfrom output"


def test_the_storage_limit_marker_counts_every_byte_a_completion_dropped() -> None:
    """stdout over the limit, then stderr: stderr was dropped without a word and the marker
    counted stdout's excess only."""
    legacy.configure(secrets=[SECRET], max_stored_bytes=100)
    row = CommandExecution.objects.create()
    ExecutionLogger.start_execution(row)
    ExecutionLogger.complete_execution(row, {"stdout": "a" * 150, "stderr": "b" * 60, "return_code": 1})
    stored = full_log(row)
    assert stored.startswith(b"a" * 100) and b"bbb" not in stored
    # the count is padded: rewritten in place
    assert stored.rstrip(b" \n").endswith(
        b"output storage limit of 100 bytes reached: 110 more bytes were produced and not stored")
    assert stored.count(b"storage limit") == 1


def test_a_runs_last_output_and_its_status_are_one_transaction_on_a_text_field_model() -> None:
    """The final status write fails: the output flushed with it is rolled back with it (it
    was stored while the row stayed running: output and status inconsistent)."""
    import sys

    from django.db import DatabaseError

    from runwright.logging_core import ExecutionLogger as RunwrightLogger
    from runwright.logging_core.django_store import DjangoStore
    from runwright.runners import RunSpec
    from runwright.runners.status import TERMINAL

    class FailingEnd(DjangoStore):
        def transition(self, ref, target, values, expect=None):  # type: ignore[no-untyped-def]
            if target in TERMINAL:
                raise DatabaseError("injected: the final status write failed")
            return super().transition(ref, target, values, expect)

    logger = RunwrightLogger(FailingEnd(CommandExecution), flush_interval=3600, flush_bytes=1 << 20,
                             structured_log=False, metrics=False)
    ref = CommandExecution.objects.create().pk
    with pytest.raises(DatabaseError, match="injected"):
        logger.run(RunSpec([sys.executable, "-c", "print('the last words')"]), ref)
    row = CommandExecution.objects.get(pk=ref)
    assert row.status == "running"
    assert row.stdout == "" and b"the last words" not in full_log(row)
