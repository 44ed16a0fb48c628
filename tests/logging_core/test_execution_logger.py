"""The ExecutionLogger on runwright's own Django models (SQLite, or PostgreSQL with
DATABASE_URL): recording, batching, following, the storage limit, secrets, state rules."""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from pathlib import Path

import pytest
from django.db import connection

from runwright.integrations.django.models import Execution, LogChunk
from runwright.logging_core import ExecutionLogger, MemoryStore
from runwright.runners import CancelToken, RunResult, RunSpec, Status

PY = sys.executable


@pytest.fixture
def logger() -> ExecutionLogger:
    return ExecutionLogger()


def full_log(logger: ExecutionLogger, ref: int) -> bytes:
    return b"".join(c.data for c in logger.read_log(ref))


def test_run_is_recorded_byte_exact(logger: ExecutionLogger) -> None:
    payload = b"\xff\xfe\x00 binary\r50%\r100%\n"
    spec = RunSpec([PY, "-c", f"import sys; sys.stdout.buffer.write({payload!r}); sys.stderr.write('warn\\n'); sys.exit(4)"],
                   labels={"team": "infra"})
    result = logger.run(spec)
    row = Execution.objects.get(pk=int(result.log_ref.rsplit("/", 1)[1]))
    assert row.status == "failed" and row.exit_code == 4 and result.status == Status.FAILED
    assert row.started_at and row.finished_at and row.started_at <= row.finished_at
    assert row.labels == {"team": "infra"} and row.runner == "local"
    streams = {c.stream: c.data for c in logger.read_log(row.pk)}
    assert streams["stdout"] == payload and streams["stderr"] == b"warn\n"
    assert (row.stdout_bytes, row.stderr_bytes) == (len(payload), 5)
    assert logger.result_of(row.pk).to_dict()["exit_code"] == 4


def test_output_is_batched_and_visible_while_the_run_is_live(logger: ExecutionLogger) -> None:
    script = "import time\nfor i in range(40):\n    print(f'line {i}', flush=True); time.sleep(0.025)"
    spec = RunSpec([PY, "-c", script])
    ref = logger.create(spec)
    seen_live = threading.Event()

    def watch() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if logger.get(ref).status == Status.RUNNING and b"line 3" in full_log(logger, ref):
                seen_live.set()
                return
            time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    result = logger.run(spec, ref)
    watcher.join()
    assert result.ok and seen_live.is_set(), "output must reach the store while the run is live"
    lines = full_log(logger, ref).decode().splitlines()
    assert lines == [f"line {i}" for i in range(40)]
    chunks = LogChunk.objects.filter(execution_id=ref).count()
    assert chunks < 20, f"40 lines over ~1s should be batched (about every 200 ms), got {chunks} rows"


def test_follower_reading_from_any_offset_loses_and_repeats_nothing(logger: ExecutionLogger) -> None:
    script = "import sys,time\nfor i in range(300):\n    print(f'{i:05d}', flush=True)\n    if i % 50 == 0: time.sleep(0.1)"
    spec = RunSpec([PY, "-c", script])
    ref = logger.create(spec)
    got = bytearray()

    def follower() -> None:
        offset = 0
        while True:  # reconnects at every read: a new request from the last offset
            final = logger.get(ref).status not in (Status.PENDING, Status.RUNNING)
            chunks = logger.read_log(ref, offset)
            for c in chunks:
                assert c.offset == offset, "a gap or an overlap in the log"
                got.extend(c.data)
                offset += len(c.data)
            if final and not chunks:
                return
            time.sleep(0.01)

    t = threading.Thread(target=follower)
    t.start()
    logger.run(spec, ref)
    t.join(10)
    assert bytes(got) == b"".join(f"{i:05d}\n".encode() for i in range(300))
    # A read starting in the middle of a chunk is cut to start exactly there.
    assert b"".join(c.data for c in logger.read_log(ref, 7)) == bytes(got)[7:]
    assert list(logger.follow(ref, 6 * 299)) and b"".join(c.data for c in logger.follow(ref, 6 * 299)) == b"00299\n"


def test_storage_limit_counts_what_it_does_not_keep() -> None:
    logger = ExecutionLogger(max_stored_bytes=10_000)
    spec = RunSpec(["sh", "-c", "head -c 1000000 /dev/zero | tr '\\0' 'a'"])
    result = logger.run(spec)
    ref = int(result.log_ref.rsplit("/", 1)[1])
    row = Execution.objects.get(pk=ref)
    log = full_log(logger, ref)
    assert log.startswith(b"a" * 10_000)
    assert row.dropped_bytes == 990_000 and row.stdout_bytes == 1_000_000
    assert log[10_000:].decode() == (
        "[runwright] output storage limit of 10000 bytes reached: 990000 more bytes were produced and not stored\n"
    )
    assert result.ok


def test_secrets_never_reach_the_database_or_the_logs(logger: ExecutionLogger, caplog, db_vendor) -> None:  # type: ignore[no-untyped-def]
    secret, env_secret, split = "S3cr3t-Pa55word!", "tok_0123456789abcdef", "Sp1it-acr0ss-chunks"
    script = (
        "import sys,time\n"
        "print('pw', sys.argv[1]); print('env', __import__('os').environ['DEPLOY_TOKEN'])\n"
        "for c in sys.argv[2]:\n    sys.stdout.write(c); sys.stdout.flush(); time.sleep(0.003)\n"
        "print(); sys.stderr.write('failed with ' + sys.argv[1] + '\\n'); sys.exit(1)"
    )
    caplog.set_level(logging.DEBUG)
    spec = RunSpec([PY, "-c", script, secret, split], env={"DEPLOY_TOKEN": env_secret},
                   secrets=[secret, split], labels={"note": f"uses {secret}"})
    result = logger.run(spec)
    bad = logger.run(RunSpec([f"/no/such/{secret}"], secrets=[secret]))
    assert bad.status == Status.ERROR and "***" in bad.error
    ref = int(result.log_ref.rsplit("/", 1)[1])
    assert b"pw ***\nenv ***\n***\n" in full_log(logger, ref)
    texts = [r.getMessage() for r in caplog.records] + [result.to_json(), bad.to_json()]
    for value in (secret, env_secret, split):
        assert not any(value in t for t in texts), "secret in a log line or a result"
    connection.close()
    if db_vendor == "sqlite":
        db = Path(connection.settings_dict["NAME"])
        raw = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
    else:
        with connection.cursor() as cur:
            cur.execute("SELECT row_to_json(e)::text FROM runwright_execution e")
            raw = "".join(r[0] for r in cur.fetchall()).encode()
            cur.execute("SELECT encode(data, 'escape') FROM runwright_logchunk")
            raw += "".join(r[0] for r in cur.fetchall()).encode()
    assert raw, "nothing read from the database"
    for value in (secret, env_secret, split):
        assert value.encode() not in raw, f"secret found in the database: {value}"


def test_structured_log_has_a_json_line_per_state_change(logger: ExecutionLogger, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.INFO, logger="runwright.executions")
    result = logger.run(RunSpec(["true"]))
    ref = int(result.log_ref.rsplit("/", 1)[1])
    events = [json.loads(r.getMessage()) for r in caplog.records if r.name == "runwright.executions"]
    mine = [e for e in events if e.get("execution_id") == ref]
    assert [(e["event"], e["runner"], e["previous_status"], e["status"]) for e in mine] == [
        ("execution.status", "local", "pending", "running"), ("execution.status", "local", "running", "success")]


def test_late_success_after_cancel_is_refused_and_recorded(logger: ExecutionLogger, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.WARNING, logger="runwright.executions")
    row = Execution.objects.create(status="pending")
    assert logger.start_execution(row)
    assert logger.cancel_execution(row, "operator stopped it")
    assert not logger.complete_execution(row, result={"returncode": 0})
    row.refresh_from_db()
    assert row.status == "cancelled" and row.error_message == "operator stopped it"
    # The late writer's completion touches nothing of the run; the refusal is a structured warning.
    assert full_log(logger, row.pk) == b""
    assert any("transition_refused" in r.getMessage() for r in caplog.records)


def test_cancel_token_stops_a_recorded_run(logger: ExecutionLogger) -> None:
    cancel = CancelToken()
    threading.Timer(0.3, cancel.cancel).start()
    result = logger.run(RunSpec(["sleep", "30"], grace_period=1), cancel=cancel)
    assert result.status == Status.CANCELLED
    assert Execution.objects.get(pk=int(result.log_ref.rsplit("/", 1)[1])).status == "cancelled"


def test_a_run_that_is_no_longer_pending_is_not_started(logger: ExecutionLogger, tmp_path) -> None:  # type: ignore[no-untyped-def]
    marker = tmp_path / "ran"
    spec = RunSpec(["touch", str(marker)])
    ref = logger.create(spec)
    assert logger.cancel_execution(ref)
    result = logger.run(spec, ref)
    assert result.status == Status.CANCELLED and not marker.exists()


def test_memory_store_works_without_django() -> None:
    logger = ExecutionLogger(MemoryStore(), structured_log=False, metrics=False)
    result = logger.run(RunSpec(["sh", "-c", "echo mem"]))
    assert result.ok and full_log(logger, 1) == b"mem\n" and logger.get(1).status == Status.SUCCESS


def test_unknown_runner_is_an_error_run(logger: ExecutionLogger) -> None:
    result = logger.run(RunSpec(["x"], runner="nope"))
    assert result.status == Status.ERROR and "installed runners: " in result.error
    assert Execution.objects.get(pk=int(result.log_ref.rsplit("/", 1)[1])).status == "error"


def test_metrics_count_runs(logger: ExecutionLogger) -> None:
    from prometheus_client import REGISTRY

    labels = {"runner": "local", "status": "success"}
    before = REGISTRY.get_sample_value("runwright_runs_total", labels) or 0
    logger.run(RunSpec(["true"]))
    assert REGISTRY.get_sample_value("runwright_runs_total", labels) == before + 1




def test_children_record_their_parent(logger: ExecutionLogger) -> None:
    # Regression: the field map knew FK names but not their attnames, and dropped parent_id.
    parent = Execution.objects.create(runner="group")
    child = logger.create(RunSpec(["true"]), parent=parent.pk)
    assert Execution.objects.get(pk=child).parent_id == parent.pk


def test_reading_a_long_log_goes_page_by_page(logger: ExecutionLogger) -> None:
    small = ExecutionLogger(flush_bytes=1, structured_log=False, metrics=False)  # a row per chunk
    # The chunks are reported one by one (as a runner reports what it reads), so the number of
    # stored rows does not depend on how a loaded machine schedules a printing process.
    spec = RunSpec(["true"])
    ref = small.create(spec)
    rec = small.recorder(ref, spec)
    assert rec.claim() is None
    for i in range(1, 121):
        rec.output("stdout", f"line-{i}\n".encode())
    rec.finished(RunResult(status=Status.SUCCESS, exit_code=0))
    assert LogChunk.objects.filter(execution_id=ref).count() > 64, "enough chunks for several pages"
    text = b"".join(c.data for c in small.iter_log(ref)).decode()
    assert text.splitlines() == [f"line-{i}" for i in range(1, 121)]
    assert b"".join(c.data for c in small.follow(ref, 100)).decode() == text[100:]


def _columns_read(sql: str, table: str) -> set[str]:
    """The columns of ``table`` a SELECT reads (Django quotes them as "table"."column")."""
    import re

    select = sql.split(" FROM ", 1)[0]
    return set(re.findall(rf'"{table}"\."(\w+)"', select))


@pytest.mark.parametrize("rows", [5, 50])
def test_listing_reads_neither_specs_nor_results_in_one_query(logger: ExecutionLogger, rows: int) -> None:
    from django.test.utils import CaptureQueriesContext

    big = "x" * 60_000
    refs = []
    for i in range(rows):
        ref = logger.create(RunSpec(["echo", str(i)], env={"BIG": big}, labels={"n": str(i)}))
        logger.transition(ref, Status.RUNNING)
        logger.transition(ref, Status.SUCCESS, {"return_code": 0, "result": {"stdout_tail": big, "stderr_tail": big}})
        refs.append(ref)
    with CaptureQueriesContext(connection) as queries:
        listed = logger.list(limit=rows)
    assert [v.id for v in listed] == refs[::-1]
    assert [(v.status, v.command, v.labels, v.exit_code) for v in listed][-1] == (
        Status.SUCCESS, "echo 0", {"n": "0"}, 0)
    assert len(queries.captured_queries) == 1, "one query, however many rows"
    read = _columns_read(queries.captured_queries[0]["sql"], "runwright_execution")
    assert {"status", "command", "labels", "created_at"} <= read
    assert not read & {"spec", "sealed_spec", "result"}
    assert logger.get(refs[0]).result["stdout_tail"] == big, "one execution still has its result"


def test_listing_a_platform_model_leaves_its_text_fields_unread() -> None:
    from django.test.utils import CaptureQueriesContext

    from runwright.logging_core.django_store import DjangoStore
    from tests.legacy_app.models import DeployRun

    for _ in range(3):
        DeployRun.objects.create(name="deploy", stdout="o" * 50_000, stderr="e" * 50_000)
    logger = ExecutionLogger(store=DjangoStore(DeployRun))
    with CaptureQueriesContext(connection) as queries:
        listed = logger.list(limit=3)
    assert len(listed) == 3 and all(v.status == Status.PENDING for v in listed)
    assert len(queries.captured_queries) == 1
    read = _columns_read(queries.captured_queries[0]["sql"], DeployRun._meta.db_table)
    assert "status" in read and not read & {"stdout", "stderr"}
