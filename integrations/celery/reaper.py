"""The reaper: no execution stays ``running`` after its worker died, and nothing it started
outlives it.

Run periodically in every worker (and once at worker start):
- a running execution whose heartbeat is older than the lease is marked ``lost``;
- one recorded by a worker process on this host that no longer exists is marked ``lost`` at
  once, without waiting for the lease;
- processes on this host that belong to an execution no longer running (found by the
  ``RUNWRIGHT_EXECUTION_ID`` in their environment) are killed, and runwright's containers of
  such executions are removed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import time
from datetime import timedelta
from typing import Any

from integrations.celery.worker_logger import worker_logger
from logging_core.store import split_execution_tag
from runners.base import RunnerError
from runners.local import EXECUTION_ID_ENV
from runners.status import Status

log = logging.getLogger("runwright.reaper")


def reap_once(lease: float | None = None) -> dict[str, list[Any]]:
    """One pass; returns what it did (for logs and tests)."""
    from django.utils import timezone

    from integrations.celery.app import lease_seconds
    from integrations.celery.groups import advance_group
    from integrations.django.models import Execution

    logger = worker_logger()
    lease = lease_seconds() if lease is None else lease
    now = timezone.now()
    host = socket.gethostname()
    running = Execution.objects.filter(status=Status.RUNNING.value).exclude(runner="group")
    reasons: dict[int, str] = {}
    for row in running.filter(heartbeat_at__lt=now - timedelta(seconds=lease)).values("id", "worker", "heartbeat_at"):
        reasons[row["id"]] = (f"worker {row['worker'] or '?'} sent no heartbeat since {row['heartbeat_at']:%Y-%m-%d %H:%M:%S} "
                              f"(lease {lease:g}s)")
    for row in running.filter(worker__startswith=f"{host}:").values("id", "worker"):
        pid = row["worker"].rsplit(":", 1)[1]
        if pid.isdigit() and not _alive(int(pid)):
            reasons.setdefault(row["id"], f"worker {row['worker']} is gone (process {pid} no longer exists)")
    lost = []
    for ref, why in reasons.items():
        if logger.transition(ref, Status.LOST, {"completed_at": now, "error_message": f"lost: {why}"}, "reaper"):
            lost.append(ref)
            parent = Execution.objects.filter(pk=ref).values_list("parent_id", flat=True).first()
            if parent:
                advance_group(parent)
    return {"lost": lost, "killed": kill_orphans(), "containers": _sweep_containers()}


def kill_orphans() -> list[int]:
    """Kill processes on this host whose execution (in this worker's database) is no longer
    running; returns their pids."""
    from integrations.django.models import Execution

    marker = f"{EXECUTION_ID_ENV}=".encode()
    own_key = worker_logger().store.key
    found: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                env = fh.read()
        except OSError:
            continue
        start = env.find(marker)
        if start < 0 or (start > 0 and env[start - 1] != 0):
            continue
        key, ref = split_execution_tag(env[start + len(marker):].split(b"\0", 1)[0].decode(errors="replace"))
        if key == own_key and ref.isdigit():  # another deployment's processes are not ours to judge
            found.setdefault(int(ref), []).append(int(entry))
    if not found:
        return []
    active = set(Execution.objects.filter(pk__in=found, status=Status.RUNNING.value).values_list("id", flat=True))
    killed = []
    for ref, pids in found.items():
        if ref in active:
            continue
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
        log.warning("killed %d process(es) left by execution %s", len(pids), ref)
    return killed


def _sweep_containers() -> list[str]:
    if not os.path.exists("/var/run/docker.sock") and not os.environ.get("DOCKER_HOST"):
        return []
    try:
        from integrations.django.models import Execution
        from runners.docker_engine import sweep_containers

        own_key = worker_logger().store.key

        def active(owner: str) -> bool:
            key, ref = split_execution_tag(owner)
            if key != own_key or not ref.isdigit():
                return True  # not ours: leave it
            return Execution.objects.filter(pk=int(ref), status__in=("pending", "running")).exists()

        return sweep_containers(active)
    except RunnerError as exc:  # no reachable engine here is not the reaper's problem
        log.debug("container sweep skipped: %s", exc)
        return []
    except Exception:
        log.exception("container sweep failed")
        return []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is dead for our purpose
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def reaper_loop() -> None:
    """In the worker's main process: a pass at start, then every third of the lease."""
    from django.db import connections

    from integrations.celery.app import lease_seconds

    interval = max(0.5, min(30.0, lease_seconds() / 3))
    while True:
        try:
            done = reap_once()
            if any(done.values()):
                log.warning("reaper: %s", done)
        except Exception:
            log.exception("reaper pass failed")
            connections.close_all()
        time.sleep(interval)


__all__ = ["kill_orphans", "reap_once", "reaper_loop"]
