"""The ExecutionLogger a worker process uses, configured from the environment."""

from __future__ import annotations

import os
import socket
from functools import cache

from logging_core import ExecutionLogger


@cache
def worker_logger() -> ExecutionLogger:
    from integrations.celery.app import heartbeat_interval

    return ExecutionLogger(
        heartbeat_interval=heartbeat_interval(),
        cancel_poll_interval=float(os.environ.get("RUNWRIGHT_CANCEL_POLL", "0.5")),
    )


def worker_name() -> str:
    """host:pid of the process running the task: the reaper checks it on this host."""
    return f"{socket.gethostname()}:{os.getpid()}"
