"""Many runs from one process on a default PostgreSQL (100 connections): the process's writer
records them all over a fixed number of connections, and polls their cancel requests in one
query."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connections
from django.db.backends.signals import connection_created

from runwright.integrations.celery.control import cancel
from runwright.integrations.django.models import Execution
from runwright.logging_core import ExecutionLogger
from runwright.runners import RunResult, RunSpec, Status
from tests.infra import postgres

pytestmark = pytest.mark.postgres

#: The connections a process holds for recording, whatever the number of its runs (README,
#: "Database outages and connections"): its writer's one.
WRITER_CONNECTIONS = 1


def no_recording_threads() -> bool:
    return not [t for t in threading.enumerate() if t.name.startswith("runwright-") and t.name != "runwright-stop"
                and ("writer" in t.name or "flusher" in t.name)]


Outcome = RunResult | BaseException | None


def run_all(logger: ExecutionLogger, specs: list[RunSpec]) -> tuple[list[Outcome], list[threading.Thread]]:
    results: list[Outcome] = [None] * len(specs)

    def one(i: int) -> None:
        try:
            results[i] = logger.run(specs[i])
        except BaseException as exc:  # reported by the assertion on the results
            results[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(specs))]
    for t in threads:
        t.start()
    return results, threads


def fifo_specs(tmp_path: Path, count: int, batch: str) -> tuple[list[RunSpec], list[Path]]:
    """Commands that print ``up`` and then wait until the test writes to their FIFO."""
    fifos = [tmp_path / f"go{i}" for i in range(count)]
    for f in fifos:
        os.mkfifo(f)
    specs = [RunSpec(["sh", "-c", f'echo up; read x < "{f}"; echo done'], labels={"batch": batch}) for f in fifos]
    return specs, fifos


def ups(batch: str) -> list[int]:
    """The executions of ``batch`` whose ``up`` is stored (read on an administrator's connection)."""
    with postgres.admin(postgres.database()["NAME"]) as conn:
        rows = conn.execute(
            "SELECT e.id FROM runwright_execution e JOIN runwright_logchunk c ON c.execution_id = e.id "
            "WHERE e.labels->>'batch' = %s AND c.\"offset\" = 0 AND c.data = %s", [batch, b"up\n"]).fetchall()
    return [r[0] for r in rows]


@pytest.fixture
def sampled_connections() -> Iterator[Callable[[], int]]:
    """The most connections to the test database opened from now on seen at once (those of
    earlier tests' threads, closed by the server once their threads are collected, are not
    the test's), but the tests' own administrator connections."""
    postgres.wait_until("the recording threads of earlier tests gone", no_recording_threads, timeout=30)
    connections.close_all()  # this thread uses none during the test
    seen = [0]
    stop = threading.Event()

    def sample() -> None:
        with postgres.admin() as admin:
            (since,) = admin.execute("SELECT now()").fetchone()  # type: ignore[misc]
            while not stop.wait(0.05):  # the sampling pace
                seen[0] = max(seen[0], len(postgres.backends(admin, since)))

    t = threading.Thread(target=sample)
    t.start()
    yield lambda: seen[0]
    stop.set()
    t.join()


def test_200_concurrent_runs_from_one_process_use_the_writers_connections(
    tmp_path: Path, sampled_connections: Callable[[], int],
) -> None:
    logger = ExecutionLogger(structured_log=False, metrics=False)
    specs, fifos = fifo_specs(tmp_path, 200, "scale")
    results, threads = run_all(logger, specs)
    try:
        postgres.wait_until("200 runs live, their first output stored", lambda: len(ups("scale")) == 200, timeout=240)
        live = sampled_connections()
    finally:
        for f in fifos:  # each command ends when its FIFO is written (open waits for its reader)
            with open(f, "w") as fh:
                fh.write("go\n")
        for t in threads:
            t.join(240)
    assert [r for r in results if not (isinstance(r, RunResult) and r.status == Status.SUCCESS)] == []
    assert live <= WRITER_CONNECTIONS + 1, f"{live} connections while 200 runs were live"
    assert sampled_connections() <= WRITER_CONNECTIONS + 1
    refs = [r.log_ref.rsplit("/", 1)[1] for r in results if isinstance(r, RunResult)]
    logs = ExecutionLogger(structured_log=False, metrics=False)
    assert {b"".join(c.data for c in logs.iter_log(ref)) for ref in refs} == {b"up\ndone\n"}


def test_one_query_polls_the_cancel_requests_of_all_runs(tmp_path: Path) -> None:
    postgres.wait_until("the recording threads of earlier tests gone", no_recording_threads, timeout=30)
    polls: list[tuple[str, Any]] = []

    def capture(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if sql.lstrip().upper().startswith("SELECT") and "cancel_requested" in sql:
            polls.append((sql, params))
        return execute(sql, params, many, context)

    def on_connection(sender: Any, connection: Any, **kwargs: Any) -> None:
        if "writer" in threading.current_thread().name or "flusher" in threading.current_thread().name:
            connection.execute_wrappers.append(capture)  # the recording thread's queries, from its first

    connection_created.connect(on_connection)
    try:
        logger = ExecutionLogger(structured_log=False, metrics=False)
        specs, fifos = fifo_specs(tmp_path, 20, "cancels")
        results, threads = run_all(logger, specs)
        try:
            refs = postgres.wait_until("20 runs live", lambda: len(ups("cancels")) == 20 and ups("cancels"))
            polls.clear()
            for ref in refs:  # as another process would: the request is in the database only
                cancel(ref)
            for t in threads:
                t.join(60)
        finally:
            for f in fifos:
                if any(t.is_alive() for t in threads):
                    with open(f, "w") as fh:
                        fh.write("go\n")
    finally:
        connection_created.disconnect(on_connection)
    assert [r.status if isinstance(r, RunResult) else r for r in results] == [Status.CANCELLED] * 20
    assert Execution.objects.filter(pk__in=refs, status="cancelled").count() == 20
    # A poll asks about every live run at once: one query per poll, not one per run.
    asked = [{p for p in params or () if p in refs} for _, params in polls]
    assert any(len(ids) == 20 for ids in asked), polls[:3]
