"""The API existing platforms call, on runwright's model and on three shapes of users' models."""

from __future__ import annotations

import subprocess
import threading

import pytest

from runwright.integrations.django.models import Execution
from runwright.logging_core import ExecutionLogger, FieldMapError
from runwright.runners import RunSpec, Status
from tests.legacy_app.models import DeployRun, PlaybookJob, ScriptTask


@pytest.fixture
def logger() -> ExecutionLogger:
    return ExecutionLogger(secrets=["hunter2-secret"])


def test_stdout_stderr_return_code_model(logger: ExecutionLogger) -> None:
    run = DeployRun.objects.create(name="deploy api")
    assert logger.start_execution(run, log_message="starting")
    assert run.status == "running" and run.started_at is not None
    done = subprocess.run(["sh", "-c", "echo built; echo 'warn hunter2-secret' >&2; exit 2"], capture_output=True, text=True)
    assert logger.complete_execution(run, result=done)
    run.refresh_from_db()
    assert (run.status, run.return_code) == ("failed", 2)
    assert run.stdout == "built\n" and run.stderr == "starting\nwarn ***\n"
    assert run.completed_at >= run.started_at and run.name == "deploy api"


def test_timeout_uses_the_models_timeout_status(logger: ExecutionLogger) -> None:
    run = DeployRun.objects.create()
    logger.start_execution(run)
    assert logger.timeout_execution(run, timeout_seconds=30)
    assert run.status == "timeout"


def test_renamed_fields_and_status_values(logger: ExecutionLogger) -> None:
    job = PlaybookJob.objects.create()
    assert job.state == "queued"
    logger.start_execution(job)
    assert job.state == "in_progress" and job.began is not None
    logger.update_execution_logs(job, "TASK [ping]\n")
    logger.update_execution_logs(job, "ok: [web1]\n", append=True)
    logger.log_execution_info(job, "2 hosts", level="warning")
    job.refresh_from_db()
    assert job.output == "TASK [ping]\nok: [web1]\n[WARNING] 2 hosts\n"
    logger.update_execution_logs(job, "replaced\n")
    assert job.output == "replaced\n"
    # No timeout status in this model: a timeout is recorded as its failure value.
    assert logger.timeout_execution(job, timeout_seconds=5)
    assert (job.state, job.failure) == ("broken", "Execution timed out (after 5s)") and job.ended is not None


def test_logs_only_model(logger: ExecutionLogger) -> None:
    task = ScriptTask.objects.create()
    logger.start_execution(task)
    logger.complete_execution(task, result=subprocess.CompletedProcess(["x"], 0, stdout="out\n", stderr="err\n"))
    assert task.status == "success" and task.logs == "out\nerr\n"
    other = ScriptTask.objects.create()
    assert logger.fail_execution(other, "disk full, password hunter2-secret")  # implicit start from pending
    assert other.status == "failed"


def test_context_manager_completes_or_fails(logger: ExecutionLogger) -> None:
    ok = DeployRun.objects.create()
    with logger.track(ok) as ctx:
        assert ctx.execution.status == "running"
    ok.refresh_from_db()
    assert ok.status == "success"
    broken = PlaybookJob.objects.create()
    with pytest.raises(RuntimeError), logger.track(broken):
        raise RuntimeError("cannot reach hunter2-secret host")
    broken.refresh_from_db()
    assert broken.state == "broken" and broken.failure == "RuntimeError: cannot reach *** host"


def test_same_rules_on_user_models(logger: ExecutionLogger) -> None:
    job = PlaybookJob.objects.create()
    logger.start_execution(job)
    assert logger.cancel_execution(job, "stop")
    assert not logger.complete_execution(job, result={"returncode": 0})
    assert job.state == "aborted"
    assert job.output == ""  # the refused completion wrote nothing to the row


def test_own_model_through_the_same_api(logger: ExecutionLogger) -> None:
    row = Execution.objects.create()
    logger.start_execution(row)
    logger.update_execution_logs(row, "step 1\n", append=True)
    logger.complete_execution(row, result={"exit_code": 0, "stdout": b"bytes \xff\n"})
    assert row.status == "success" and row.exit_code == 0
    assert b"".join(c.data for c in logger.read_log(row.pk)) == b"step 1\nbytes \xff\n"


def test_saves_touch_only_runwrights_fields(logger: ExecutionLogger) -> None:
    run = DeployRun.objects.create(name="before")
    logger.start_execution(run)
    DeployRun.objects.filter(pk=run.pk).update(name="renamed elsewhere")  # another writer
    stale = DeployRun.objects.get(pk=run.pk)
    stale.name = "stale"  # never saved: runwright must not write it back
    logger.complete_execution(stale, result={"returncode": 0})
    assert DeployRun.objects.get(pk=run.pk).name == "renamed elsewhere"


def test_runs_stream_into_a_user_model(logger: ExecutionLogger) -> None:
    from runwright.logging_core.django_store import DjangoStore

    store = DjangoStore(DeployRun)
    user_logger = ExecutionLogger(store)
    ref = DeployRun.objects.create().pk
    result = user_logger.run(RunSpec(["sh", "-c", "echo to-out; echo to-err >&2; exit 1"]), ref)
    run = DeployRun.objects.get(pk=ref)
    assert result.status == Status.FAILED
    assert (run.status, run.return_code, run.stdout, run.stderr) == ("failed", 1, "to-out\n", "to-err\n")


def test_bad_field_map_is_a_clear_error() -> None:
    from runwright.logging_core import FieldMap

    with pytest.raises(FieldMapError, match="unknown key 'colour'"):
        FieldMap.for_model(ScriptTask, {"colour": "x"})


def test_concurrent_writers_cannot_leave_a_terminal_state(logger: ExecutionLogger, db_vendor) -> None:  # type: ignore[no-untyped-def]
    """Many threads, each with its own database connection, race to finish the same runs."""
    from django.db import connections

    rounds = 25 if db_vendor == "postgresql" else 10
    rows = [Execution.objects.create() for _ in range(rounds)]
    for row in rows:
        logger.start_execution(row)
    outcomes: dict[int, list[tuple[str, bool]]] = {row.pk: [] for row in rows}
    barrier = threading.Barrier(4)

    def writer(kind: str) -> None:
        try:
            for row in rows:
                barrier.wait()
                if kind == "cancel":
                    ok = logger.cancel_execution(row.pk, "cancelled by racer")
                elif kind == "fail":
                    ok = logger.fail_execution(row.pk, "failed by racer")
                else:
                    ok = logger.complete_execution(row.pk, result={"returncode": 0})
                outcomes[row.pk].append((kind, ok))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(k,)) for k in ("cancel", "fail", "success", "success")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for row in rows:
        winners = [kind for kind, ok in outcomes[row.pk] if ok]
        assert len(winners) == 1, f"exactly one writer may finish a run, got {winners}"
        final = Execution.objects.get(pk=row.pk).status
        assert final == {"cancel": "cancelled", "fail": "failed", "success": "success"}[winners[0]]
