"""A pid namespace of its own on this machine: what a container sharing the machine's
hostname is to the process table (same hostname, same kernel and boot id, same network and
files, its own pids). Made with util-linux's ``unshare --pid --fork --mount-proc`` (as root);
processes are started in it with ``nsenter``."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time

from tests.infra.docker_engine import InfraError
from tests.infra.workers import children

#: The namespace's init, which reaps what is left to it as a container's init (tini) does, so
#: a dead process frees its pid. SIGCHLD stays blocked: one that comes between two reaps waits.
INIT = """
import os, signal
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
while True:
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass
    signal.sigwaitinfo({signal.SIGCHLD})
"""


class PidNamespace:
    """Its init reaps orphans (:data:`INIT`); :meth:`stop` kills it, and with it every process in it."""

    def __init__(self) -> None:
        if os.geteuid() != 0 or not (shutil.which("unshare") and shutil.which("nsenter")):
            raise InfraError("a pid namespace of its own needs root and util-linux's unshare and nsenter")
        self.proc = subprocess.Popen(["unshare", "--pid", "--fork", "--mount-proc", "--kill-child", sys.executable, "-c", INIT],
                                     start_new_session=True)
        deadline = time.monotonic() + 30
        while not children(self.proc.pid):
            if self.proc.poll() is not None:
                raise InfraError(f"unshare exited with {self.proc.returncode}")
            if time.monotonic() > deadline:
                raise InfraError("unshare made no namespace in 30 s")
            time.sleep(0.01)
        #: The init's pid as this (the parent) namespace sees it.
        self.init = children(self.proc.pid)[0]

    def prefix(self) -> list[str]:
        """The command that runs the rest of a command line inside the namespace."""
        return ["nsenter", f"--target={self.init}", "--pid", "--mount", "--"]

    def run(self, args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.prefix(), *args], env=env, capture_output=True, text=True, timeout=timeout)

    def next_pid(self, pid: int) -> None:
        """The next process started in the namespace gets pid ``pid`` (if free)."""
        out = self.run(["sh", "-c", f"echo {pid - 1} > /proc/sys/kernel/ns_last_pid"], env=dict(os.environ), timeout=30)
        if out.returncode != 0:
            raise InfraError(f"could not set the namespace's next pid: {out.stderr.strip()}")

    def start_with_pid(self, pid: int, args: list[str]) -> int:
        """Start ``args`` in the namespace as process ``pid`` (of the namespace), left running
        under its init; returns the pid it got, which is ``pid`` unless another process of
        the namespace took it first. A pid still held (a process not yet reaped by the init)
        is waited for, up to 10 s."""
        script = (f'n=0; while [ -e /proc/{pid} ] && [ $n -lt 200 ]; do sleep 0.05; n=$((n+1)); done; '
                  f'echo {pid - 1} > /proc/sys/kernel/ns_last_pid && {{ "$@" >/dev/null 2>&1 & }} && echo $!')
        out = self.run(["sh", "-c", script, "sh", *args], env=dict(os.environ), timeout=30)
        if out.returncode != 0:
            raise InfraError(f"could not start a process in the namespace: {out.stderr.strip()}")
        return int(out.stdout.split()[-1])

    def runs(self, pid: int) -> bool:
        """Whether process ``pid`` of the namespace runs."""
        out = self.run(["sh", "-c", f'[ -d /proc/{pid} ] && ! grep -q "^State:.Z" /proc/{pid}/status'], env=dict(os.environ))
        return out.returncode == 0

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
