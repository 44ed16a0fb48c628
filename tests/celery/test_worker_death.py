"""Real workers SIGKILLed mid-run: a Docker run (on_worker_lost REATTACH) is re-attached by
another worker and ends as its work ends, its output after the kill stored in the same
execution; a local run (STOP) is stopped through its handle and ``lost``, no process left."""

from __future__ import annotations

import itertools
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from runwright.integrations.celery import submit
from runwright.integrations.celery.worker_logger import worker_logger
from runwright.integrations.django.models import Execution
from runwright.runners import RunSpec
from tests.celery.conftest import final, wait_for
from tests.docker.conftest import busybox, docker_client  # noqa: F401 - fixtures
from tests.helpers import pids_with, token

pytestmark = pytest.mark.postgres


def wait_until(what: str, check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.1)


def log_of(ref: int) -> bytes:
    return b"".join(c.data for c in worker_logger().iter_log(ref))


def system_lines(ref: int) -> str:
    return b"".join(c.data for c in worker_logger().iter_log(ref) if c.stream == "system").decode()


def gated_docker_run(busybox: str, gate: Path) -> RunSpec:  # noqa: F811
    """A container that prints, then waits for the test to open the gate, then prints again:
    what it prints after the gate opens comes after its first worker was killed."""
    gate.mkdir()
    os.chmod(gate, 0o777)
    script = "echo before-kill; while [ ! -f /gate/open ]; do sleep 0.05; done; echo after-kill; echo done >&2; exit 0"
    return RunSpec(["sh", "-c", script], runner="docker", grace_period=2,
                   options={"image": busybox, "mounts": [f"{gate}:/gate"]})


def started_with_handle(ref: int, marker: bytes) -> Execution:
    wait_until("the run is live with its handle stored",
               lambda: bool(Execution.objects.get(pk=ref).handle) and marker in log_of(ref))
    return Execution.objects.get(pk=ref)


def assert_reattached(ref: int, old_worker: str, gate: Path, docker_client) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    wait_until("another worker took the run over",
               lambda: Execution.objects.filter(pk=ref, status="running").exclude(worker=old_worker).exists())
    # The gate opens once the runner says it follows the container again.
    wait_until("the runner follows the container again", lambda: b"re-attached to container" in log_of(ref))
    (gate / "open").touch()
    wait_for([ref], final, timeout=90)
    row = Execution.objects.get(pk=ref)
    assert row.status == "success" and row.exit_code == 0, (row.status, row.error_message)
    log = log_of(ref)
    assert b"before-kill" in log and b"after-kill" in log and b"done\n" in log, log
    note = system_lines(ref)
    assert f"re-attached by worker {row.worker}" in note and old_worker in note, note
    assert row.worker != old_worker
    chunks = worker_logger().read_log(ref)
    assert all(a.offset + len(a.data) == b.offset for a, b in itertools.pairwise(chunks)), \
        "offsets go on from the stored log end"
    tag = f"{worker_logger().store.key}:{ref}"
    wait_until("the container is removed", lambda: not docker_client.containers.list(
        all=True, filters={"label": f"runwright.execution={tag}"}), timeout=30)


def test_docker_run_is_reattached_after_its_pool_process_is_killed(  # type: ignore[no-untyped-def]
    redis_env, workers, busybox, docker_client, tmp_path,  # noqa: F811
) -> None:
    worker = workers(redis_env, 1)
    gate = tmp_path / "gate"
    ref = submit(gated_docker_run(busybox, gate))
    row = started_with_handle(ref, b"before-kill")
    pool_pid = int(row.worker.rsplit(":", 1)[1])
    assert pool_pid in worker.pids() and pool_pid != worker.proc.pid
    os.kill(pool_pid, signal.SIGKILL)  # the pool process only: the worker hands the message back
    assert_reattached(ref, row.worker, gate, docker_client)
    assert worker.proc.poll() is None


def test_docker_run_is_reattached_after_its_whole_worker_is_killed(  # type: ignore[no-untyped-def]
    redis_env, workers, busybox, docker_client, tmp_path,  # noqa: F811
) -> None:
    # Regression: a re-attached container's output from while no worker followed it was lost.
    # Here the container prints a line after its worker died and before the next one starts.
    doomed = workers(redis_env, 1)
    gate = tmp_path / "gate"
    gate.mkdir()
    os.chmod(gate, 0o777)
    script = ("echo before-kill; while [ ! -f /gate/open ]; do sleep 0.05; done; echo while-unattached; "
              "while [ ! -f /gate/end ]; do sleep 0.05; done; echo after-kill; echo done >&2")
    ref = submit(RunSpec(["sh", "-c", script], runner="docker", grace_period=2,
                         options={"image": busybox, "mounts": [f"{gate}:/gate"]}))
    row = started_with_handle(ref, b"before-kill")
    wait_until("the runner kept its output cursor", lambda: "output_cursor" in (
        Execution.objects.get(pk=ref).result.get("metadata") or {}))
    doomed.kill()  # main process and pool, as when a machine dies
    (gate / "open").touch()
    container = docker_client.containers.get(row.handle["container_id"])
    wait_until("the container printed while no worker followed it", lambda: b"while-unattached" in container.logs())
    survivor = workers(redis_env, 1)  # gets the message back after Redis's visibility timeout
    wait_until("the runner follows the container again", lambda: b"re-attached to container" in log_of(ref))
    (gate / "end").touch()
    wait_for([ref], final, timeout=90)
    row = Execution.objects.get(pk=ref)
    assert row.status == "success" and row.exit_code == 0, (row.status, row.error_message)
    out = b"".join(c.data for c in worker_logger().iter_log(ref) if c.stream == "stdout")
    assert out == b"before-kill\nwhile-unattached\nafter-kill\n", out  # each line once, in order
    assert b"".join(c.data for c in worker_logger().iter_log(ref) if c.stream == "stderr") == b"done\n"
    assert int(row.worker.rsplit(":", 1)[1]) in survivor.pids()


def test_local_run_whose_pool_process_is_killed_is_stopped_and_lost(redis_env, workers) -> None:  # type: ignore[no-untyped-def]
    tok = token()
    worker = workers(redis_env, 1)
    ref = submit(RunSpec(["sh", "-c", f"echo started; sleep {tok} & sleep {tok}"], grace_period=1))
    row = started_with_handle(ref, b"started")
    wait_until("the run's processes exist", lambda: len(pids_with(tok)) == 3)
    os.kill(int(row.worker.rsplit(":", 1)[1]), signal.SIGKILL)
    wait_for([ref], final, timeout=60)
    row = Execution.objects.get(pk=ref)
    assert row.status == "lost" and row.finished_at is not None
    assert "is gone (process" in row.error_message and "stopped through its handle" in row.error_message, \
        row.error_message
    assert row.result["metadata"]["stop_confirmed"] is True
    assert worker_logger().result_of(ref).metadata["stop_confirmed"] is True  # what `runwright show` prints
    wait_until("no process of the run is left", lambda: pids_with(tok) == [], timeout=15)
    assert worker.proc.poll() is None
