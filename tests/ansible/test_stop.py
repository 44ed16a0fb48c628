"""Cancel and timeout through ansible-runner's cancel callback, with no process of the
ansible tree left; what a dead worker left is found by the hooks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from runwright.runners import CancelToken, Liveness, MemoryRecorder, Status, get_runner_class
from tests.ansible.conftest import LOCAL, play, run_ansible
from tests.helpers import pids_with, token, wait_for_pids

ROOT = Path(__file__).resolve().parents[2]


def sleepers(tok: str) -> str:
    """A task on the control host that leaves three sleepers: a child, a backgrounded one,
    and one that left the session with setsid."""
    return play(f"name: long\nshell: 'sleep {tok} & setsid sleep {tok} & sleep {tok}'")


def wait_gone(tok: str, timeout: float = 30.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and pids_with(tok):
        time.sleep(0.05)
    return pids_with(tok)


def test_cancel_stops_the_whole_ansible_tree() -> None:
    tok = token()
    cancel = CancelToken()

    def cancel_when_sleeping() -> None:
        wait_for_pids(tok, 3, timeout=120)
        cancel.cancel("operator asked")

    threading.Thread(target=cancel_when_sleeping, daemon=True).start()
    result, rec = run_ansible({"playbook": sleepers(tok), "inventory": LOCAL}, cancel=cancel, grace_period=2)
    assert result.status == Status.CANCELLED
    assert result.error is not None and result.error.startswith("operator asked; cancelled through ansible-runner")
    assert result.metadata["stop_confirmed"] is True
    assert pids_with(tok) == []  # checked at once: the stop waited for them
    run_id = rec.handles[0]["run_id"]
    assert not Path(rec.handles[0]["data_dir"]).exists()
    from runwright.runners.ansible.processes import pids_of_run

    assert pids_of_run(run_id) == []


def test_timeout_stops_the_playbook() -> None:
    tok = token()
    result, rec = run_ansible({"playbook": sleepers(tok), "inventory": LOCAL}, timeout=3, grace_period=1)
    assert result.status == Status.TIMEOUT
    assert result.error is not None and result.error.startswith("timed out after 3s")
    assert result.metadata["stop_confirmed"] is True
    assert pids_with(tok) == []
    assert any(kind == "task" and data["task"] == "long" for kind, data in rec.events())


def test_cancel_before_start_runs_nothing(tmp_path: Path) -> None:
    cancel = CancelToken()
    cancel.cancel("not today")
    marker = tmp_path / "ran"
    result, rec = run_ansible({"playbook": play(f"command: touch {marker}"), "inventory": LOCAL}, cancel=cancel)
    assert result.status == Status.CANCELLED and not marker.exists()
    assert rec.handles == []


WORKER = textwrap.dedent("""
    import sys
    from runwright.runners import MemoryRecorder, RunSpec, get_runner
    class Announce(MemoryRecorder):
        def handle(self, handle):
            super().handle(handle)
            print(__import__("json").dumps(dict(handle)), flush=True)
    spec = RunSpec(runner="ansible", options={"playbook": sys.argv[1], "inventory": sys.argv[2]})
    get_runner("ansible").run(spec, Announce(), execution_id=sys.argv[3])
""")


def _dead_worker(tok: str, tag: str) -> dict[str, object]:
    """Start a run in another process, wait until its task sleeps, SIGKILL that process."""
    proc = subprocess.Popen([sys.executable, "-c", WORKER, sleepers(tok), LOCAL, tag], stdout=subprocess.PIPE,
                            text=True, cwd=ROOT, start_new_session=True)
    assert proc.stdout is not None
    handle = json.loads(proc.stdout.readline())
    wait_for_pids(tok, 3, timeout=120)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    return handle  # type: ignore[no-any-return]


def test_sweep_removes_what_a_dead_worker_left() -> None:
    tok = token()
    tag = f"ansible-tests:{tok}"
    handle = _dead_worker(tok, tag)
    assert pids_with(tok), "the sleepers outlive the killed worker"
    cls = get_runner_class("ansible")
    assert cls.probe(handle) is Liveness.ALIVE
    removed = cls.sweep(lambda t: t != tag)  # only this test's execution is inactive
    assert any(f"(execution {tag})" in item for item in removed)
    assert any(item.startswith("data directory ") for item in removed)
    assert wait_gone(tok) == []
    assert not Path(str(handle["data_dir"])).exists()
    assert cls.probe(handle) is Liveness.GONE


def test_stop_handle_stops_a_run_known_only_by_its_handle() -> None:
    tok = token()
    handle = _dead_worker(tok, f"ansible-tests:{tok}")
    cls = get_runner_class("ansible")
    stop = cls.stop_handle(handle, 1.0)
    assert stop.confirmed, stop.detail
    assert pids_with(tok) == []
    assert not Path(str(handle["data_dir"])).exists()
    again = cls.stop_handle(handle, 1.0)
    assert again.confirmed and again.detail == "the ansible run had ended"
    other_host = {**handle, "host": "elsewhere"}
    assert cls.probe(other_host) is Liveness.UNKNOWN
    assert cls.stop_handle(other_host, 1.0).confirmed is False


def test_reports_come_in_the_contracts_order() -> None:
    rec = MemoryRecorder()
    result, _ = run_ansible({"playbook": play("debug: msg=hi"), "inventory": LOCAL}, rec)
    assert result.status == Status.SUCCESS
    kinds = rec.kinds()
    assert kinds[:2] == ["handle", "started"]  # then ansible-runner's events and output
    assert kinds.index("event") > 1 and kinds.index("output") > 1 and kinds[-1] == "finished"
    assert set(rec.handles[0]) == {"run_id", "host", "boot_id", "pid_ns", "data_dir", "execution_id", "pid", "start_time"}
    assert isinstance(rec.handles[0]["pid"], int) and rec.handles[0]["pid"] == result.metadata["pid"]
