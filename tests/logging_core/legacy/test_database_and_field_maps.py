"""A locked database inside the caller's transaction, and field maps checked when declared."""

from __future__ import annotations

import sqlite3
import threading
import warnings

import pytest
from django.db import OperationalError, connection, transaction
from django.db import models as dj_models

from runwright.logging_core import FieldMap, FieldMapError
from runwright.logging_core.django_store import DjangoStore
from runwright.logging_core.fieldmap import FieldMapWarning
from runwright.logging_core.legacy import ExecutionLogger
from tests.legacy_app.models import CommandExecution, PlaybookExecution, ScriptExecution, UnmappedExecution


class _Locker:
    """Another connection holding a lock on the row (PostgreSQL) or the database (SQLite)."""

    def __init__(self, vendor: str, table: str, pk: int) -> None:
        from django.conf import settings

        db = settings.DATABASES["default"]
        if vendor == "postgresql":
            import psycopg

            self.conn: object = psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"])
            self.conn.execute(f'SELECT 1 FROM "{table}" WHERE id = %s FOR UPDATE', [pk])  # type: ignore[attr-defined]
        else:
            self.conn = sqlite3.connect(db["NAME"], isolation_level=None, check_same_thread=False)
            self.conn.execute("BEGIN EXCLUSIVE")  # type: ignore[attr-defined]

    def release(self) -> None:
        self.conn.rollback()  # type: ignore[attr-defined]
        self.conn.close()  # type: ignore[attr-defined]


def test_a_locked_database_inside_the_callers_transaction(db_vendor) -> None:  # type: ignore[no-untyped-def]
    run = CommandExecution.objects.create(command="deploy")
    if db_vendor == "sqlite":
        with connection.cursor() as cur:
            busy = cur.execute("PRAGMA busy_timeout").fetchone()[0]
    locker = _Locker(db_vendor, CommandExecution._meta.db_table, run.pk)
    try:
        with transaction.atomic():
            with connection.cursor() as cur:  # give up on the lock soon (the wait is not the point)
                cur.execute("SET LOCAL lock_timeout = '300ms'" if db_vendor == "postgresql" else "PRAGMA busy_timeout = 300")
            with pytest.raises(OperationalError) as info:
                ExecutionLogger.start_execution(run, "starting")
            # The real cause, and the caller's connection and transaction still usable.
            assert "lock" in str(info.value).lower() and "closed" not in str(info.value).lower()
            assert connection.connection is not None
            locker.release()
            locker = None  # type: ignore[assignment]
            assert CommandExecution.objects.get(pk=run.pk).status == "pending"  # nothing half-written
            assert ExecutionLogger.start_execution(run, "starting again")
        run.refresh_from_db()
        assert (run.status, run.stderr) == ("running", "starting again\n")
    finally:
        if locker is not None:
            locker.release()
        if db_vendor == "sqlite":
            with connection.cursor() as cur:
                cur.execute(f"PRAGMA busy_timeout = {busy}")


def test_a_lock_outside_any_transaction_is_waited_out(db_vendor) -> None:  # type: ignore[no-untyped-def]
    """Without a caller's transaction the write is retried; the lock goes away meanwhile."""
    run = CommandExecution.objects.create()
    locker = _Locker(db_vendor, CommandExecution._meta.db_table, run.pk)
    release = threading.Timer(0.05, locker.release)  # while the first attempt waits
    try:
        if db_vendor == "postgresql":
            with connection.cursor() as cur:
                cur.execute("SET lock_timeout = '200ms'")
        release.start()
        assert ExecutionLogger.start_execution(run, "started")
    finally:
        release.join()
        if db_vendor == "postgresql":
            with connection.cursor() as cur:
                cur.execute("SET lock_timeout = 0")
    assert run.status == "running"


# -- field maps ------------------------------------------------------------------------------------
def test_unknown_key_names_the_key() -> None:
    with pytest.raises(FieldMapError, match=r"ScriptExecution.runwright_fields: unknown key 'colour'"):
        FieldMap.for_model(ScriptExecution, {"colour": "x"})


def test_a_field_the_model_lacks_is_named() -> None:
    with pytest.raises(FieldMapError, match=r"'logs' is mapped to 'output', but ScriptExecution has no field 'output'"):
        FieldMap.for_model(ScriptExecution, {"logs": "output"})


def test_a_status_value_outside_the_choices_is_named() -> None:
    with pytest.raises(FieldMapError, match=r"maps 'success' to 'done', which is not among PlaybookExecution.status's choices"):
        FieldMap.for_model(PlaybookExecution, {"status_values": {"success": "done"}})
    with pytest.raises(FieldMapError, match=r"status_values has 'completed', which is not a runwright status"):
        FieldMap.for_model(PlaybookExecution, {"status_values": {"completed": "completed"}})


def test_choices_without_runwrights_values_warn_once_when_first_used() -> None:
    with pytest.warns(FieldMapWarning, match=r"lack runwright's 'success' and no status_values map them"):
        DjangoStore(UnmappedExecution)
    row = UnmappedExecution.objects.create()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        ExecutionLogger.start_execution(row)
        ExecutionLogger.update_execution_logs(row, "x", append=True)
    assert len([w for w in seen if issubclass(w.category, FieldMapWarning)]) <= 1
    # Mapped, the same choices are fine and silent.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        FieldMap.for_model(UnmappedExecution, {"status_values": {"success": "completed"}})


def test_a_model_without_a_status_field_is_refused() -> None:
    class NoStatus(dj_models.Model):
        logs = dj_models.TextField()

        class Meta:
            app_label = "legacy_app"

    with pytest.raises(FieldMapError, match="NoStatus has no status field"):
        FieldMap.for_model(NoStatus)


def test_output_and_status_at_the_end_are_one_transaction() -> None:
    """The output cannot be stored: the status is not changed either, and the error is raised."""
    from runwright.integrations.django.models import TextLogChunk

    run = CommandExecution.objects.create()
    ExecutionLogger.start_execution(run)
    table = TextLogChunk._meta.db_table
    with connection.cursor() as cur:  # every chunk write fails, for real
        cur.execute(f"ALTER TABLE {table} RENAME TO {table}_gone")
    try:
        with pytest.raises(Exception, match="(?i)textlogchunk"):
            ExecutionLogger.complete_execution(run, {"stdout": "built\n", "return_code": 0})
    finally:
        with connection.cursor() as cur:
            cur.execute(f"ALTER TABLE {table}_gone RENAME TO {table}")
    row = CommandExecution.objects.get(pk=run.pk)
    assert (row.status, row.stdout, row.return_code, row.completed_at) == ("running", "", None, None)
    assert ExecutionLogger.complete_execution(run, {"stdout": "built\n", "return_code": 0})  # and it can finish after
    assert (run.status, run.stdout) == ("completed", "built\n")


@pytest.mark.parametrize(("declared", "message"), [
    ({"logs": "logs", "error_message": "logs"}, r"'logs' and 'error_message' are both mapped to 'logs'"),
    ({"stdout": "status"}, r"'status' and 'stdout' are both mapped to 'status'"),
    ({"status": "playbook", "logs": "playbook"}, r"'status' and 'logs' are both mapped to 'playbook'"),
    ({"extra": {"worker": "logs"}}, r"'logs' and 'worker' are both mapped to 'logs'"),
    ({"return_code": "logs", "logs": None}, r"'return_code' is mapped to 'logs', a TextField, but it needs a signed integer"),
    ({"error_message": "started_at", "started_at": None}, r"'error_message' is mapped to 'started_at', a DateTimeField, "
                                                          r"but it needs a text field"),
    ({"completed_at": "logs", "logs": None}, r"'completed_at' is mapped to 'logs', a TextField, but it needs a date-time"),
])
def test_a_map_that_would_corrupt_the_row_is_refused(declared, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(FieldMapError, match=f"PlaybookExecution.runwright_fields: {message}"):
        FieldMap.for_model(PlaybookExecution, {"status_values": {"success": "completed"}, **declared})


def test_output_is_never_written_into_the_status_column() -> None:
    """The map is checked before anything is written: the row keeps its status."""
    class OutputInStatus(dj_models.Model):
        status = dj_models.CharField(max_length=20, default="pending")
        runwright_fields = {"stdout": "status"}

        class Meta:
            app_label = "legacy_app"

    with pytest.raises(FieldMapError, match="'status' and 'stdout' are both mapped to 'status'"):
        DjangoStore(OutputInStatus)


def test_a_secret_in_a_status_value_is_masked_in_the_error() -> None:
    from tests.legacy_app.helpers import SECRET

    run = PlaybookExecution.objects.create()
    ExecutionLogger.start_execution(run)
    for call in (lambda: ExecutionLogger.complete_execution(run, {"status": SECRET}),
                 lambda: ExecutionLogger.complete_execution(run, status=f"x-{SECRET}-y")):
        with pytest.raises(FieldMapError) as info:
            call()
        assert SECRET not in str(info.value) and "***" in str(info.value)
        seen: BaseException | None = info.value
        while seen is not None:  # nor anywhere in what it carries
            assert SECRET not in str(seen)
            seen = seen.__cause__ or seen.__context__
    run.refresh_from_db()
    assert run.status == "running"
