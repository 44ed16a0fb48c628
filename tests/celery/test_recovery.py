"""A run whose worker died: the reaper and the redelivered message decide through the
registry (never a concrete runner), per the runner's ``on_worker_lost``: re-attach to work
that is alive, or stop it through its handle and mark the run ``lost``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.utils import timezone

from runwright.integrations.celery.reaper import reap_once, sweep_all
from runwright.integrations.celery.worker_logger import worker_logger
from runwright.integrations.django.models import Execution

pytestmark = pytest.mark.postgres
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def install_plugin(name: str, target: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(FIXTURES / name)], check=True, capture_output=True)


@pytest.fixture
def filework(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The rw_filework_runner package installed (with a broken entry point beside it); yields
    the directory its work lives in."""
    site, work = tmp_path / "site", tmp_path / "work"
    work.mkdir()
    install_plugin("rw_filework_runner", site)
    sys.path.insert(0, str(site))
    monkeypatch.setenv("RW_FILEWORK_DIR", str(work))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])))
    try:
        yield work
    finally:
        sys.path.remove(str(site))
        for mod in [m for m in sys.modules if m.startswith("rw_filework_runner")]:
            del sys.modules[mod]
        from runwright.runners import registry

        for name in ("filework", "filework-broken"):
            registry._loaded.pop(name, None)


def dead_worker() -> str:
    """The identity of a worker process of this machine and pid namespace that no longer exists."""
    from runwright.runners.process_identity import ProcessIdentity

    proc = subprocess.Popen(["sleep", "60"])
    identity = ProcessIdentity.of(proc.pid)
    proc.kill()
    proc.wait()
    return str(identity)


def orphaned_run(runner: str, work: Path | None, worker: str | None = None) -> tuple[Execution, Path | None]:
    """A running execution whose worker died, with its work (a file) still there."""
    row = Execution.objects.create(status="running", runner=runner, worker=worker or dead_worker(),
                                   started_at=timezone.now(), heartbeat_at=timezone.now(),
                                   spec={"runner": runner, "grace_period": 1})
    path = None
    if work is not None:
        path = work / f"{worker_logger().store.key}_{row.pk}"
        path.write_text("")
        row.handle = {"path": str(path), "tag": f"{worker_logger().store.key}:{row.pk}"}
        row.save(update_fields=["handle"])
    return row, path


def test_reaper_leaves_live_reattachable_work_for_a_takeover_then_stops_it(filework, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    row, path = orphaned_run("filework", filework)
    monkeypatch.setenv("RUNWRIGHT_REATTACH_WINDOW", "3600")
    done = reap_once(lease=30)
    assert row.pk in done["waiting"] and row.pk not in done["lost"]
    assert Execution.objects.get(pk=row.pk).status == "running" and path.exists()
    monkeypatch.setenv("RUNWRIGHT_REATTACH_WINDOW", "0")  # nobody came in time: lease and window are over
    done = reap_once(lease=0)
    assert row.pk in done["lost"]
    row.refresh_from_db()
    assert row.status == "lost" and row.finished_at is not None
    assert "is gone (process" in row.error_message and "no worker re-attached within 0s" in row.error_message
    assert "stopped through its handle: removed" in row.error_message
    assert row.result["metadata"]["stop_confirmed"] is True
    assert not path.exists(), "the work was stopped through its handle"


def test_reaper_marks_gone_work_lost_at_once(filework) -> None:  # type: ignore[no-untyped-def]
    row, path = orphaned_run("filework", filework)
    path.unlink()  # the work ended while nobody watched: probe says GONE
    assert row.pk in reap_once(lease=30)["lost"]
    row.refresh_from_db()
    assert row.status == "lost" and "stopped through its handle: the work was already gone" in row.error_message


def test_a_runner_that_cannot_be_loaded_is_logged_and_skipped(filework, caplog) -> None:  # type: ignore[no-untyped-def]
    key = worker_logger().store.key
    finished = Execution.objects.create(status="failed", runner="filework")
    live = Execution.objects.create(status="running", runner="filework", worker=f"{socket.gethostname()}:{os.getpid()}",
                                    heartbeat_at=timezone.now())
    for name in (f"{key}_{finished.pk}", f"{key}_{live.pk}", f"0ther0deploy0_{finished.pk}"):
        (filework / name).write_text("")
    broken, _ = orphaned_run("filework-broken", None)
    caplog.set_level("WARNING", logger="runwright.recovery")
    done = reap_once(lease=30)
    assert "runner 'filework-broken' cannot be loaded here" in caplog.text
    assert done["swept"]["filework"] == [f"{key}_{finished.pk}"], "the other runners' sweeps still ran"
    assert sorted(p.name for p in filework.iterdir()) == sorted([f"{key}_{live.pk}", f"0ther0deploy0_{finished.pk}"])
    broken.refresh_from_db()
    assert broken.status == "lost" and "cannot be loaded here" in broken.error_message
    assert sweep_all().get("filework") is None  # nothing left to remove


def test_reaper_never_imports_a_concrete_runner() -> None:
    source = (Path(__file__).resolve().parents[2] / "integrations" / "celery")
    for name in ("reaper.py", "recovery.py"):
        text = (source / name).read_text()
        for concrete in ("runners.local", "runners.docker", "LocalRunner", "DockerRunner", "EXECUTION_ID_ENV"):
            assert concrete not in text, f"{name} names {concrete}"


def test_a_third_party_reattach_runner_runs_through_a_worker_and_is_taken_over(  # type: ignore[no-untyped-def]
    filework, redis_env, workers,
) -> None:
    """A plugin runner (installed as a package, found through the registry in the worker) whose
    work outlives its worker: the worker's pool process is killed, the redelivered message
    re-attaches, and the run ends with the work's own exit code."""
    import signal
    import time

    from runwright.integrations.celery import submit
    from runwright.runners import RunSpec
    from tests.celery.conftest import final, wait_for

    site = filework.parent / "site"
    env = dict(redis_env, PYTHONPATH=str(site), RW_FILEWORK_DIR=str(filework))
    worker = workers(env, 1)
    ref = submit(RunSpec(runner="filework"))
    deadline = time.monotonic() + 60
    while not Execution.objects.get(pk=ref).handle:
        assert time.monotonic() < deadline, "the handle was never stored"
        time.sleep(0.05)
    row = Execution.objects.get(pk=ref)
    work = Path(row.handle["path"])
    with open(work, "a") as fh:
        fh.write("line one\n")
    logger = worker_logger()
    while b"line one" not in b"".join(c.data for c in logger.read_log(ref)):
        assert time.monotonic() < deadline, "the output was not stored"
        time.sleep(0.05)
    os.kill(int(row.worker.rsplit(":", 1)[1]), signal.SIGKILL)
    while not Execution.objects.filter(pk=ref, status="running").exclude(worker=row.worker).exists():
        assert time.monotonic() < deadline + 30, "nobody took the run over"
        time.sleep(0.05)
    with open(work, "a") as fh:
        fh.write("line two\nEND 3\n")
    wait_for([ref], final, timeout=60)
    row.refresh_from_db()
    assert row.status == "failed" and row.exit_code == 3, (row.status, row.error_message)
    text = b"".join(c.data for c in logger.read_log(ref)).decode()
    assert "line two" in text and f"re-attached by worker {row.worker}" in text
    # This runner reads its work from the start again: what it had sent before is repeated.
    assert text.count("line one") == 2
    assert [e.kind for e in logger.read_events(ref)] == ["runwright.reattached"]
    assert worker.proc.poll() is None


def test_a_run_that_chose_stop_is_stopped_and_lost_when_its_worker_dies(  # type: ignore[no-untyped-def]
    filework, redis_env, workers,
) -> None:
    """The runner re-attaches by default; a run with ``on_worker_lost: stop`` has its work
    stopped through its handle and is marked lost by the worker that gets its message back."""
    import signal
    import time

    from runwright.integrations.celery import submit
    from runwright.runners import RunSpec
    from tests.celery.conftest import final, wait_for

    site = filework.parent / "site"
    env = dict(redis_env, PYTHONPATH=str(site), RW_FILEWORK_DIR=str(filework))
    worker = workers(env, 1)
    ref = submit(RunSpec(runner="filework", options={"on_worker_lost": "stop"}))
    deadline = time.monotonic() + 60
    while not Execution.objects.get(pk=ref).handle:
        assert time.monotonic() < deadline, "the handle was never stored"
        time.sleep(0.05)
    row = Execution.objects.get(pk=ref)
    assert row.handle["on_worker_lost"] == "stop"  # kept with the handle, where the reaper reads it
    work = Path(row.handle["path"])
    os.kill(int(row.worker.rsplit(":", 1)[1]), signal.SIGKILL)
    wait_for([ref], final, timeout=90)
    row.refresh_from_db()
    assert row.status == "lost", (row.status, row.error_message)
    assert f"stopped through its handle: removed {work.name}" in row.error_message, row.error_message
    assert not work.exists(), "the work was stopped, not re-attached"
    assert [e.kind for e in worker_logger().read_events(ref)] == []
    assert worker.proc.poll() is None
