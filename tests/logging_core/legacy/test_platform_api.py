"""The platforms' class-level API on the three model shapes, called as those platforms call it."""

from __future__ import annotations

import subprocess
import threading
from datetime import UTC, datetime

import pytest

from runwright.integrations.django.models import Execution
from runwright.logging_core.django_store import DjangoStore
from runwright.logging_core.legacy import ExecutionContext, ExecutionLogger
from runwright.logging_core.store import Chunk, NotFound
from runwright.runners import RunResult, Status
from tests.legacy_app.helpers import SECRET, full_log
from tests.legacy_app.models import CommandExecution, PlaybookExecution, ScriptExecution


def shell(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=False)


# -- shape 1: stdout / stderr / return_code ------------------------------------------------------
def test_command_execution_as_a_shell_executor_records_it() -> None:
    run = CommandExecution.objects.create(command="make deploy")
    assert ExecutionLogger.start_execution(run, "Starting make deploy")
    assert run.status == "running" and run.started_at is not None
    done = shell(f"echo built; echo 'warn {SECRET}' >&2; exit 2")
    assert ExecutionLogger.complete_execution(run, result=done, log_message="Finished")
    run.refresh_from_db()
    assert (run.status, run.return_code, run.stdout) == ("failed", 2, "built\n")
    # No logs field: runwright's lines go to stderr, appended after the real stderr.
    assert run.stderr == "Starting make deploy\nwarn ***\nFinished\n"
    assert run.completed_at >= run.started_at and run.command == "make deploy"


def test_command_execution_success_is_the_models_completed() -> None:
    run = CommandExecution.objects.create()
    ExecutionLogger.start_execution(run)
    assert ExecutionLogger.complete_execution(run, shell("echo ok"))
    assert (run.status, run.return_code, run.stdout, run.stderr) == ("completed", 0, "ok\n", "")


def test_command_execution_errors_land_in_stderr_after_the_real_output() -> None:
    run = CommandExecution.objects.create()
    ExecutionLogger.start_execution(run)
    ExecutionLogger.update_execution_logs(run, b"real stderr line\n", append=True)
    assert ExecutionLogger.fail_execution(run, f"deploy key {SECRET} refused", return_code=3)
    assert (run.status, run.return_code) == ("failed", 3)
    assert run.stderr == "real stderr line\ndeploy key *** refused\n"
    # No timeout status in this model: a timeout is its failure value, its text visible.
    other = CommandExecution.objects.create()
    ExecutionLogger.start_execution(other)
    assert ExecutionLogger.timeout_execution(other, "Command exceeded 300s")
    assert (other.status, other.stderr) == ("failed", "Command exceeded 300s\n")


def test_replacing_logs_never_overwrites_the_real_stderr() -> None:
    run = CommandExecution.objects.create()
    ExecutionLogger.start_execution(run, "step 1")
    ExecutionLogger.complete_execution(run, {"stdout": "out\n", "stderr": "real error\n", "return_code": 1},
                                       custom_logs="summary: 1 failure")
    assert run.stdout == "out\n"
    assert run.stderr == "real error\nsummary: 1 failure"  # the log lines replaced, stderr kept
    # While it runs, a replace rewrites the log lines only: the real stderr stays.
    live = CommandExecution.objects.create()
    ExecutionLogger.start_execution(live, "step 1")
    DjangoStore(CommandExecution).append_output(live.pk, [Chunk(len(b"step 1\n"), "stderr", b"real error\n")])
    ExecutionLogger.update_execution_logs(live, "rewritten\n")
    live.refresh_from_db()
    assert live.stderr == "real error\nrewritten\n"


# -- shape 2: logs + error_message + a timeout status --------------------------------------------
def test_playbook_execution_keyword_shapes() -> None:
    run = PlaybookExecution.objects.create()
    assert ExecutionLogger.start_execution(execution=run, log_message="PLAY [all]")
    ExecutionLogger.log_execution_info(run, "2 hosts", level="warning")
    ExecutionLogger.update_execution_logs(run, "TASK [ping]", append=True)
    ExecutionLogger.update_execution_logs(run, "ok: [web1]", append=True)
    assert run.logs == "PLAY [all]\n[WARNING] 2 hosts\nTASK [ping]\nok: [web1]\n"
    assert ExecutionLogger.timeout_execution(run, timeout_message="Playbook timed out", timeout_seconds=600)
    assert (run.status, run.error_message) == ("timeout", "Playbook timed out (after 600s)")
    assert run.completed_at is not None


@pytest.mark.parametrize("call", [
    lambda r: ExecutionLogger.timeout_execution(r, "Execution exceeded 5 minutes {0} %s"),  # never formatted
    lambda r: ExecutionLogger.timeout_execution(r, timeout_message="Execution exceeded 5 minutes {0} %s"),
    lambda r: ExecutionLogger.complete_execution(r, status="timeout", timeout_message="Execution exceeded 5 minutes {0} %s"),
    lambda r: ExecutionLogger.complete_execution(r, timeout_message="Execution exceeded 5 minutes {0} %s"),
])
def test_timeout_shapes_record_a_timeout(call) -> None:  # type: ignore[no-untyped-def]
    run = PlaybookExecution.objects.create()
    ExecutionLogger.start_execution(run)
    assert call(run)
    run.refresh_from_db()
    assert (run.status, run.error_message) == ("timeout", "Execution exceeded 5 minutes {0} %s")


def test_playbook_complete_with_a_dict_and_custom_logs() -> None:
    run = PlaybookExecution.objects.create()
    ExecutionLogger.start_execution(run, "PLAY [all]")
    assert ExecutionLogger.complete_execution(
        run, result={"status": "completed", "output": "PLAY RECAP ok=2\n", "logs": "ansible done"},
        custom_logs=f"ansible-playbook site.yml (vault {SECRET})",
    )
    assert run.status == "completed" and run.error_message == ""
    # custom_logs replaced the log lines; the dict's output and logs are kept, masked.
    assert run.logs == "PLAY RECAP ok=2\nansible-playbook site.yml (vault ***)\nansible done\n"


def test_dict_status_through_the_field_map() -> None:
    for value, expected in (("completed", "completed"), ("failed", "failed"), ("success", "completed")):
        run = PlaybookExecution.objects.create()
        assert ExecutionLogger.complete_execution(run, {"status": value, "error": "e" if value == "failed" else None})
        assert run.status == expected
    run = PlaybookExecution.objects.create()
    from runwright.logging_core import FieldMapError

    with pytest.raises(FieldMapError, match="'finished' is not mapped"):
        ExecutionLogger.complete_execution(run, {"status": "finished"})
    run.refresh_from_db()
    assert run.status == "pending"


def test_fail_and_cancel_keep_their_code_and_message() -> None:
    run = PlaybookExecution.objects.create()
    ExecutionLogger.start_execution(run)
    assert ExecutionLogger.fail_execution(run, error_message="unreachable: web1", return_code=4, log_message="giving up")
    assert (run.status, run.error_message, run.logs) == ("failed", "unreachable: web1", "giving up\n")
    queued = PlaybookExecution.objects.create()
    assert ExecutionLogger.cancel_execution(queued, cancel_message="Cancelled by alice")  # pending -> cancelled
    assert (queued.status, queued.error_message) == ("cancelled", "Cancelled by alice")


def test_run_result_writes_its_tails_status_and_error() -> None:
    run = CommandExecution.objects.create()
    result = RunResult(status=Status.FAILED, exit_code=137, error=f"OOM-killed ({SECRET})",
                       stdout_tail="last stdout\n", stderr_tail="last stderr\n", finished_at=datetime.now(UTC))
    assert ExecutionLogger.complete_execution(run, result=result)
    assert (run.status, run.return_code, run.stdout) == ("failed", 137, "last stdout\n")
    assert run.stderr == "last stderr\nOOM-killed (***)\n"
    script = ScriptExecution.objects.create()
    assert ExecutionLogger.complete_execution(script, RunResult(status=Status.ERROR, error="image missing"))
    assert (script.status, script.logs) == ("failed", "image missing\n")


# -- shape 3: logs only ----------------------------------------------------------------------------
def test_script_execution_logs_only() -> None:
    task = ScriptExecution.objects.create()
    ExecutionLogger.start_execution(task, "started")
    assert ExecutionLogger.complete_execution(task, result=subprocess.CompletedProcess(["x"], 0, stdout="out\n", stderr="err\n"))
    assert (task.status, task.logs) == ("success", "started\nout\nerr\n")
    for call, status, line in (
        (lambda t: ExecutionLogger.fail_execution(t, f"disk full {SECRET}", return_code=2), "failed", "disk full ***"),
        (lambda t: ExecutionLogger.timeout_execution(t, "too slow"), "failed", "too slow"),
        (lambda t: ExecutionLogger.cancel_execution(t, cancel_message="stopped by bob"), "cancelled", "stopped by bob"),
    ):
        other = ScriptExecution.objects.create()
        ExecutionLogger.start_execution(other)
        ExecutionLogger.update_execution_logs(other, "working", append=True)
        assert call(other)
        assert (other.status, other.logs) == (status, f"working\n{line}\n")


def test_appended_messages_are_lines() -> None:
    task = ScriptExecution.objects.create()
    ExecutionLogger.update_execution_logs(task, "line A", append=True)
    ExecutionLogger.update_execution_logs(task, "line B", append=True)
    ExecutionLogger.update_execution_logs(task, "line C\n", append=True)
    ExecutionLogger.complete_execution(task, {"stdout": "no newline at the end", "return_code": 0}, log_message="done")
    assert task.logs == "line A\nline B\nline C\nno newline at the end\ndone\n"


# -- runwright's own model, by instance and by id -------------------------------------------------
def test_own_model_through_the_class_level_api() -> None:
    row = Execution.objects.create()
    assert ExecutionLogger.start_execution(row.pk, "starting")
    assert ExecutionLogger.complete_execution(row, {"exit_code": 0, "stdout": b"bytes \xff\n"})
    row.refresh_from_db()
    assert (row.status, row.exit_code) == ("success", 0)
    assert full_log(row) == b"starting\nbytes \xff\n"


# -- ExecutionContext --------------------------------------------------------------------------------
def test_context_completes_with_the_result_set() -> None:
    run = CommandExecution.objects.create()
    with ExecutionContext(run, start_message="Running") as ctx:
        assert run.status == "running"
        ctx.set_result(shell("echo hi"))
    assert (run.status, run.stdout, run.stderr) == ("completed", "hi\n", "Running\n")
    plain = ScriptExecution.objects.create()
    with ExecutionContext(plain):
        pass
    assert plain.status == "success"


@pytest.mark.parametrize(("raised", "status", "logs_line"), [
    (subprocess.TimeoutExpired(["sleep", SECRET], 5), "timeout", None),
    (TimeoutError("socket timed out"), "timeout", None),
    (KeyboardInterrupt(), "cancelled", None),
    (RuntimeError(f"cannot reach {SECRET}"), "failed", None),
])
def test_context_records_an_exception_by_its_kind(raised, status, logs_line) -> None:  # type: ignore[no-untyped-def]
    run = PlaybookExecution.objects.create()
    with pytest.raises(type(raised)), ExecutionContext(run):
        raise raised
    run.refresh_from_db()
    assert run.status == status
    assert type(raised).__name__ in run.error_message and SECRET not in run.error_message


def test_context_exception_text_lands_in_logs_without_an_error_field() -> None:
    task = ScriptExecution.objects.create()
    with pytest.raises(ValueError), ExecutionContext(task, "go"):
        raise ValueError(f"bad input {SECRET}")
    assert (task.status, task.logs) == ("failed", "go\nValueError: bad input ***\n")


def test_context_on_a_row_deleted_mid_run_raises_not_found() -> None:
    run = PlaybookExecution.objects.create()
    with pytest.raises(NotFound), ExecutionContext(run, "start"):
        PlaybookExecution.objects.filter(pk=run.pk).delete()
    from runwright.integrations.django.models import TextLogChunk

    chunks = TextLogChunk.objects.filter(model="legacy_app.playbookexecution", object_id=str(run.pk))
    assert not chunks.exists()  # deleted with the row; nothing written after the delete
    with pytest.raises(NotFound):
        ExecutionLogger.update_execution_logs(run, "late line", append=True)
    assert not chunks.exists()


# -- terminal states are final -----------------------------------------------------------------------
def test_a_stale_copy_cannot_complete_a_cancelled_run() -> None:
    run = CommandExecution.objects.create()
    ExecutionLogger.start_execution(run)
    stale = CommandExecution.objects.get(pk=run.pk)  # the worker's copy
    assert ExecutionLogger.cancel_execution(CommandExecution.objects.get(pk=run.pk), "Cancelled by operator")
    before = CommandExecution.objects.filter(pk=run.pk).values().get()
    log_before = full_log(run)
    assert not ExecutionLogger.complete_execution(stale, shell("echo late output"), log_message="late message")
    assert CommandExecution.objects.filter(pk=run.pk).values().get() == before
    assert full_log(run) == log_before
    assert stale.status == "cancelled"  # the stale copy now shows the truth


def test_cancel_races_a_late_completion(db_vendor) -> None:  # type: ignore[no-untyped-def]
    """Two connections at once; whichever wins, the row is consistent."""
    from django.db import connections

    rows = [CommandExecution.objects.create() for _ in range(20 if db_vendor == "postgresql" else 8)]
    for row in rows:
        ExecutionLogger.start_execution(row)
    won: dict[int, list[str]] = {row.pk: [] for row in rows}
    barrier = threading.Barrier(2)
    done = subprocess.CompletedProcess(["x"], 0, stdout="late output\n", stderr="")

    def racer(kind: str) -> None:
        try:
            for row in rows:
                stale = CommandExecution.objects.get(pk=row.pk)
                barrier.wait()
                if kind == "cancel":
                    ok = ExecutionLogger.cancel_execution(stale, "Cancelled by operator")
                else:
                    ok = ExecutionLogger.complete_execution(stale, done, log_message="worker finished")
                if ok:
                    won[row.pk].append(kind)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=racer, args=(k,)) for k in ("cancel", "complete")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for row in rows:
        row.refresh_from_db()
        assert len(won[row.pk]) == 1
        if won[row.pk] == ["cancel"]:
            assert (row.status, row.stdout, row.stderr, row.return_code) == ("cancelled", "", "Cancelled by operator\n", None)
        else:
            assert (row.status, row.stdout, row.stderr) == ("completed", "late output\n", "worker finished\n")


def test_late_log_writes_leave_a_final_row_and_its_log_untouched() -> None:
    """A stale worker's progress after a cancel (or after any final state) writes nothing:
    the cancel reason stays, in the row and in the log."""
    for model, column in ((ScriptExecution, "logs"), (CommandExecution, "stderr"), (PlaybookExecution, "logs")):
        run = model.objects.create()
        ExecutionLogger.start_execution(run, "started")
        stale = model.objects.get(pk=run.pk)
        assert ExecutionLogger.cancel_execution(run, cancel_message="Cancelled by alice")
        before, log_before = model.objects.filter(pk=run.pk).values().get(), full_log(run)
        ExecutionLogger.update_execution_logs(stale, "stale worker progress 50%", append=False)
        ExecutionLogger.update_execution_logs(stale, "stale line", append=True)
        ExecutionLogger.log_execution_info(stale, "stale info")
        assert model.objects.filter(pk=run.pk).values().get() == before
        assert full_log(run) == log_before
        if model is not PlaybookExecution:  # no error_message field: the reason is a log line
            assert getattr(stale, column) == "started\nCancelled by alice\n"
    # The error text written with a final state survives the log lines replaced in the same call.
    run = CommandExecution.objects.create()
    ExecutionLogger.start_execution(run)
    ExecutionLogger.complete_execution(run, {"stderr": "real err\n", "return_code": 2}, error_message="disk full",
                                       custom_logs="summary")
    ExecutionLogger.update_execution_logs(run, "stale summary", append=False)
    assert run.stderr == "real err\nsummary\ndisk full\n"


@pytest.mark.parametrize("writers", [2, 4])
def test_writers_appending_to_one_run_at_once_lose_nothing(writers: int, db_vendor: str) -> None:
    """Appends of one execution take turns (its row locked): N threads x M appends store N*M lines."""
    from django.db import connections

    run = ScriptExecution.objects.create()
    ExecutionLogger.start_execution(run)
    each = 60
    errors: list[str] = []
    barrier = threading.Barrier(writers)

    def writer(n: int) -> None:
        try:
            barrier.wait()
            for i in range(each):
                ExecutionLogger.update_execution_logs(ScriptExecution(pk=run.pk), f"w{n} line {i}", append=True)
        except Exception as exc:  # reported below with the lines
            errors.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = full_log(run).decode().splitlines()
    assert errors == []
    assert sorted(lines) == sorted(f"w{n} line {i}" for n in range(writers) for i in range(each))
    for n in range(writers):  # each writer's lines in its order
        assert [line for line in lines if line.startswith(f"w{n} ")] == [f"w{n} line {i}" for i in range(each)]


def test_bytes_split_between_two_line_appends_are_stored_as_they_are() -> None:
    run = ScriptExecution.objects.create()
    ExecutionLogger.start_execution(run)
    ExecutionLogger.update_execution_logs(run, b"caf\xc3", append=True)
    ExecutionLogger.update_execution_logs(run, b"\xa9 ok", append=True)
    ExecutionLogger.update_execution_logs(run, b"raw \xff\xfe\n", append=True)
    # Lines: a newline added after each, never inside a character; no byte rewritten.
    assert full_log(run) == b"caf\xc3\xa9 ok\nraw \xff\xfe\n"
    # Bytes given whole are joined as they are.
    other = ScriptExecution.objects.create()
    ExecutionLogger.update_execution_logs(other, "café ok".encode(), append=True)
    assert (full_log(other), other.logs) == ("café ok\n".encode(), "café ok\n")
