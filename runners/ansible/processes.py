"""Finding and stopping the processes of one Ansible run on the control host.

Every process of a run inherits ``RUNWRIGHT_RUN_ID`` (and ``RUNWRIGHT_EXECUTION_ID`` under
the ExecutionLogger) from the environment the run starts with: ansible-playbook, its forked
workers, ssh and sshpass, and the commands a task starts with the local connection (a
``sleep`` backgrounded with ``setsid`` included). That is how a stop finds what
ansible-runner's process-group kill missed, and how the sweep finds what a dead worker left.
"""

from __future__ import annotations

import os
import signal
import time

from runwright.runners.local import EXECUTION_ID_ENV, RUN_ID_ENV
from runwright.runners.process_identity import env_value, environments

#: Set in every ansible run's environment, so the sweep takes only what ansible runs left
#: (LocalRunner's sweep looks after its own processes).
RUNNER_ENV = "RUNWRIGHT_RUNNER"
RUNNER_NAME = "ansible"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            state = fh.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in (b"Z", b"X")


def pids_of_run(run_id: str) -> list[int]:
    """Live processes whose environment carries ``RUNWRIGHT_RUN_ID=run_id``."""
    return [pid for pid, env in environments() if env_value(env, RUN_ID_ENV) == run_id and _alive(pid)]


def child_of_run(run_id: str) -> int | None:
    """The process of the run this process started itself (ansible-runner's child), or None."""
    me = str(os.getpid()).encode()
    for pid, env in environments():
        if env_value(env, RUN_ID_ENV) != run_id:
            continue
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                parent = fh.read().rsplit(b")", 1)[1].split()[1]
        except (OSError, IndexError):
            continue
        if parent == me:
            return pid
    return None


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (``/proc/PID/stat`` field 22)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return int(fh.read().rsplit(b")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def kill_run(run_id: str, rounds: int = 5) -> int:
    """SIGKILL every process of the run, looking again until none is left (a dying parent
    may fork once more); returns how many were signalled."""
    killed: set[int] = set()
    for _ in range(rounds):
        pids = pids_of_run(run_id)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except OSError:
                pass
        time.sleep(0.02)  # let the kernel tear them down before looking again
    return len(killed)


def owners() -> dict[str, list[int]]:
    """This host's processes of ansible runs by the execution tag (``RUNWRIGHT_EXECUTION_ID``)
    they carry."""
    found: dict[str, list[int]] = {}
    for pid, env in environments():
        tag = env_value(env, EXECUTION_ID_ENV)
        if tag is not None and env_value(env, RUNNER_ENV) == RUNNER_NAME:
            found.setdefault(tag, []).append(pid)
    return found


__all__ = ["RUNNER_ENV", "RUNNER_NAME", "child_of_run", "kill_run", "owners", "pids_of_run", "start_time"]
