"""A database outage shorter than the window costs nothing; a longer one stops the run, whose
final state is written when the database is back. Real PostgreSQL: backends terminated with
pg_terminate_backend, and a TCP proxy (tests/infra/pg_proxy.py) that drops every connection
and refuses new ones for as long as the outage lasts."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.db import connections

from runwright.integrations.django.models import Execution
from runwright.logging_core import ExecutionLogger
from runwright.runners import RunSpec, Status
from tests.helpers import pids_with, token
from tests.infra import postgres
from tests.infra.pg_proxy import TcpProxy

pytestmark = pytest.mark.postgres

PY = sys.executable
BIN = str(Path(sys.executable).parent / "runwright")
PIECES, SIZE = 30, 100_000  # 3 MB of bytes that are not text (every value 0-255, NUL included)
STREAM = """
import random, sys, time
out = sys.stdout.buffer
for i in range({pieces}):
    out.write(random.Random(i).randbytes({size}))
    out.flush()
    time.sleep({pause})
"""


def produced(pieces: int = PIECES, size: int = SIZE) -> bytes:
    return b"".join(random.Random(i).randbytes(size) for i in range(pieces))


def stored(ref: int, stream: str = "stdout") -> bytes:
    logger = ExecutionLogger(structured_log=False, metrics=False)
    return b"".join(c.data for c in logger.iter_log(ref) if c.stream == stream)


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    db = postgres.database()
    with TcpProxy(db["HOST"], int(db["PORT"] or 5432)) as p:
        yield p


def cli_env(tmp_path: Path, proxy: TcpProxy, **extra: str) -> dict[str, str]:
    """The environment of a `runwright run` whose database is reached through ``proxy``."""
    db = postgres.database()
    url = f"postgres://{db['USER']}@127.0.0.1:{proxy.port}/{db['NAME']}"
    return {**os.environ, "DATABASE_URL": url, "RUNWRIGHT_HOME": str(tmp_path / "home"), **extra}


def execution_labelled(label: str) -> int:
    connections.close_all()  # this thread's connection may have been cut by the test before
    return postgres.wait_until(f"the execution labelled {label}", lambda: Execution.objects.filter(
        labels__outage=label).values_list("pk", flat=True).first())  # type: ignore[no-any-return]


def test_backends_terminated_every_second_while_3mb_stream_cost_nothing() -> None:
    logger = ExecutionLogger()
    spec = RunSpec([PY, "-c", STREAM.format(pieces=PIECES, size=SIZE, pause=0.2)])
    ref = logger.create(spec)
    stop = threading.Event()
    killed: list[int] = []

    def terminate_every_second() -> None:
        with postgres.admin() as admin:
            while not stop.wait(1.0):  # the pace of the fault, not a wait for an event
                killed.append(postgres.terminate_backends(admin))

    killer = threading.Thread(target=terminate_every_second)
    killer.start()
    try:
        result = logger.run(spec, ref)
    finally:
        stop.set()
        killer.join()
    connections.close_all()  # this thread's connection was terminated too
    assert sum(killed) >= 3, f"the run's connections were not terminated: {killed}"
    assert result.status == Status.SUCCESS, result.error
    row = Execution.objects.get(pk=ref)
    assert row.status == "success" and row.error_message == ""
    assert stored(ref) == produced()


def test_connections_refused_for_10s_mid_run_cost_nothing(tmp_path: Path, proxy: TcpProxy) -> None:
    label = uuid.uuid4().hex
    go = tmp_path / "go"
    os.mkfifo(go)
    code = STREAM.format(pieces=PIECES, size=SIZE, pause=0.3) + f"open({str(go)!r}).read()\nout.write(b'done\\n')\n"
    with open(tmp_path / "cli.out", "wb") as out, open(tmp_path / "cli.err", "wb") as err:
        cli = subprocess.Popen([BIN, "run", "--label", f"outage={label}", "--", PY, "-c", code],
                               env=cli_env(tmp_path, proxy), stdout=out, stderr=err)
    try:
        ref = execution_labelled(label)
        postgres.wait_until("the first output stored", lambda: stored(ref))
        proxy.cut()
        time.sleep(10)  # the outage lasts 10 s: its length is what is tested, not a wait for an event
        proxy.restore()
        back = datetime.now(UTC)
        postgres.wait_until("a heartbeat after the outage", lambda: Execution.objects.get(pk=ref).heartbeat_at > back,
                            timeout=30)
        assert cli.poll() is None, (tmp_path / "cli.err").read_text()
        with open(go, "w") as fh:  # the command may end now
            fh.write("go")
        assert cli.wait(timeout=120) == 0, (tmp_path / "cli.err").read_text()
    finally:
        if cli.poll() is None:
            cli.kill()
    row = Execution.objects.get(pk=ref)
    assert row.status == "success", (row.status, row.error_message)
    assert row.heartbeat_at > back
    assert stored(ref) == produced() + b"done\n"
    assert row.stdout_bytes == len(produced()) + 5


def test_outage_past_the_window_stops_the_run_and_records_it_when_the_database_is_back(
    tmp_path: Path, proxy: TcpProxy,
) -> None:
    label, tok = uuid.uuid4().hex, token()
    code = f"import sys, time\nsys.stdout.write('before the outage\\n')\nsys.stdout.flush()\ntime.sleep({tok})\n"
    with open(tmp_path / "cli.out", "wb") as out, open(tmp_path / "cli.err", "wb") as err:
        cli = subprocess.Popen([BIN, "run", "--label", f"outage={label}", "--", PY, "-c", code],
                               env=cli_env(tmp_path, proxy, RUNWRIGHT_DB_OUTAGE_WINDOW="3"), stdout=out, stderr=err)
    try:
        ref = execution_labelled(label)
        postgres.wait_until("the first output stored", lambda: stored(ref))
        proxy.cut()
        # Past the window the command is stopped, while the database is still unreachable...
        postgres.wait_until("the command stopped", lambda: pids_with(tok) == [cli.pid], timeout=60)  # the CLI's argv has it
        assert Execution.objects.get(pk=ref).status == "running"
        assert cli.poll() is None, (tmp_path / "cli.err").read_text()  # ...and the CLI waits to record it
        proxy.restore()
        code_ = cli.wait(timeout=120)
    finally:
        if cli.poll() is None:
            cli.kill()
    errors = (tmp_path / "cli.err").read_text()
    row = Execution.objects.get(pk=ref)
    assert row.status == "error", (row.status, row.error_message, errors)
    assert "database" in row.error_message and "3s" in row.error_message, row.error_message
    assert code_ == 125, errors
    assert stored(ref) == b"before the outage\n"
