"""Database errors are retried briefly, then raised; the work is stopped, never orphaned."""

from __future__ import annotations

import sys
import time

import pytest
from django.db import connection

from integrations.django.models import Execution
from logging_core import ExecutionLogger
from runners import RunSpec, Status
from tests.helpers import pids_with, token

PY = sys.executable


@pytest.mark.postgres
def test_dropped_connection_is_retried_and_the_run_still_recorded() -> None:
    logger = ExecutionLogger()
    spec = RunSpec([PY, "-c", "import time; print('a', flush=True); time.sleep(0.8); print('b')"])
    ref = logger.create(spec)

    class Killer:
        """Terminates the runner thread's database connection once, mid-run."""

        done = False

        def on_output(self, execution_id, stream, nbytes):  # type: ignore[no-untyped-def]
            if not self.done:
                self.done = True
                pid = connection.connection.info.backend_pid
                import psycopg
                from django.conf import settings

                db = settings.DATABASES["default"]
                with psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"],
                                     autocommit=True) as admin:
                    admin.execute("SELECT pg_terminate_backend(%s)", [pid])

        def __getattr__(self, name):  # type: ignore[no-untyped-def]
            return lambda *a, **k: None

    logger.observers.append(Killer())
    result = logger.run(spec, ref)
    assert result.ok
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
