"""Database errors are retried briefly, then raised; the work is stopped, never orphaned."""

from __future__ import annotations

import sys
import time

import pytest
from django.db import connection, connections

from runwright.integrations.django.models import Execution
from runwright.logging_core import ExecutionLogger
from runwright.runners import RunSpec, Status
from tests.helpers import pids_with, token
from tests.infra import postgres

PY = sys.executable


@pytest.mark.postgres
@pytest.mark.parametrize("when", ["first output", "last output"])
def test_dropped_connection_is_retried_and_the_run_still_recorded(when: str) -> None:
    # At the last output the connection dies with "b" still pending: the final write (output
    # and status in one transaction) fails, its output is put back and the retry stores it.
    logger = ExecutionLogger()
    spec = RunSpec([PY, "-c", "import time; print('a', flush=True); time.sleep(0.8); print('b')"])
    ref = logger.create(spec)

    class Killer:
        """Terminates the database connections of the process (the run's writer's among
        them) once, mid-run."""

        done = False

        seen = 0

        def on_output(self, execution_id, stream, nbytes):  # type: ignore[no-untyped-def]
            self.seen += 1
            if not self.done and (when == "first output" or self.seen == 2):
                self.done = True
                with postgres.admin() as admin:
                    assert postgres.terminate_backends(admin)

        def __getattr__(self, name):  # type: ignore[no-untyped-def]
            return lambda *a, **k: None

    logger.observers.append(Killer())
    result = logger.run(spec, ref)
    assert result.ok
    connections.close_all()  # this thread's connection was terminated too
    row = Execution.objects.get(pk=ref)
    assert row.status == "success"
    assert b"".join(c.data for c in logger.read_log(ref)) == b"a\nb\n"


def test_permanent_failure_is_raised_and_the_process_stopped() -> None:
    logger = ExecutionLogger(flush_bytes=1)
    tok = token()
    spec = RunSpec(["sh", "-c", f"sleep {tok} & echo started; sleep 30"])
    ref = logger.create(spec)
    table = Execution._meta.db_table.replace("execution", "logchunk")
    original_flush = logger.recorder

    def broken_recorder(*args, **kwargs):  # type: ignore[no-untyped-def]
        rec = original_flush(*args, **kwargs)
        with connection.cursor() as cur:  # make every chunk write fail for real
            cur.execute(f"ALTER TABLE {table} RENAME TO {table}_gone")
        return rec

    logger.recorder = broken_recorder  # type: ignore[method-assign]
    t0 = time.monotonic()
    try:
        with pytest.raises(Exception) as info:
            logger.run(spec, ref)
    finally:
        with connection.cursor() as cur:
            cur.execute(f"ALTER TABLE {table}_gone RENAME TO {table}")
    assert "logchunk" in str(info.value).lower()
    assert time.monotonic() - t0 < 10
    time.sleep(0.2)
    assert pids_with(tok) == [], "the run's processes must not outlive a failed sink"
    row = Execution.objects.get(pk=ref)
    assert row.status == Status.ERROR.value and "internal error" in row.error_message
