"""Real Celery workers (`runwright worker` processes) and brokers the Celery tests use."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.infra.docker_engine import InfraError, free_port

RUNWRIGHT = str(Path(sys.executable).parent / "runwright")


class Worker:
    """`runwright worker` in its own session, its log in a file; ``prefix`` runs it through
    another command (``nsenter ...`` for a pid namespace of its own, see namespaces.py)."""

    def __init__(self, env: dict[str, str], concurrency: int = 2, queues: str | None = None,
                 hostname: str | None = None, prefix: list[str] | None = None) -> None:
        self.log = Path(tempfile.mkstemp(prefix="rw-worker-", suffix=".log")[1])
        args = [*(prefix or []), RUNWRIGHT, "worker", f"--concurrency={concurrency}", "--loglevel=info"]
        if queues:
            args.append(f"--queues={queues}")
        if hostname is not None:
            args.append(f"--hostname={hostname}")
        self.prefixed = bool(prefix)
        with open(self.log, "wb") as fh:
            self.proc = subprocess.Popen(args, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while (ready := re.search(rb"\] (\S+) ready\.", self.log.read_bytes())) is None:
            if self.proc.poll() is not None:
                raise InfraError(f"worker exited with {self.proc.returncode}:\n{self.text()[-3000:]}")
            if time.monotonic() > deadline:
                raise InfraError(f"worker not ready in 60 s:\n{self.text()[-3000:]}")
            time.sleep(0.1)
        #: The Celery node name the worker took (`celery inspect -d NODE`).
        self.node = ready.group(1).decode()

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def pids(self) -> set[int]:
        """The worker's main process and its pool processes."""
        out = subprocess.run(["pgrep", "-s", str(self.proc.pid)], capture_output=True, text=True)
        return {int(p) for p in out.stdout.split()}

    def kill(self) -> None:
        """SIGKILL to the whole worker: main process and pool, as when a machine dies."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.prefixed and self.proc.poll() is None:  # SIGTERM to the worker itself, not to nsenter
            for child in children(self.proc.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGTERM)
        stop_worker(self.proc)
        self.log.unlink(missing_ok=True)


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    """Stop a worker started in a session of its own as Celery's documentation does
    (systemd's KillMode=mixed): SIGTERM to the main process only, which stops its pool; a
    SIGTERM sent to the pool processes too can leave billiard's parent waiting for a queue lock
    a killed child held. Whatever is left after that is killed."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


class PersistentRedis:
    """A redis-server of the tests' own, with an append-only file, so a restart keeps the
    queued messages (the machine's Redis keeps nothing on disk)."""

    def __init__(self) -> None:
        if not shutil.which("redis-server"):
            raise InfraError("the broker-restart test needs redis-server (Debian's redis-server package)")
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="rw-redis-")
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir, "--appendonly", "yes",
             "--appendfsync", "always", "--save", ""], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_port(self.port, "redis-server")

    def restart(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(10)
        self.start()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


def restart_rabbitmq() -> None:
    """Stop and start the machine's RabbitMQ application: durable queues and persistent
    messages survive it."""
    for action in ("stop_app", "start_app"):
        out = subprocess.run(["rabbitmqctl", action], capture_output=True, text=True, timeout=120)
        if out.returncode:
            raise InfraError(f"rabbitmqctl {action} failed: {out.stderr}")
    _wait_port(5672, "RabbitMQ")


def rabbitmq_url() -> str:
    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", 5672)):
            raise InfraError("RabbitMQ is not listening on 127.0.0.1:5672 (start it with `rabbitmq-server -detached`)")
    return "amqp://guest:guest@127.0.0.1:5672//"


def _wait_port(port: int, what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise InfraError(f"{what} did not listen on {port} within 60 s")
