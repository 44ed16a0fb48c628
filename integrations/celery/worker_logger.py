"""The ExecutionLogger a worker process uses, configured from the environment."""

from __future__ import annotations

from functools import cache

from runwright.logging_core import ExecutionLogger
from runwright.runners.process_identity import ProcessIdentity


@cache
def worker_logger() -> ExecutionLogger:
    from runwright.integrations.celery.app import heartbeat_interval
    from runwright.integrations.settings import env_seconds

    return ExecutionLogger(
        heartbeat_interval=heartbeat_interval(),
        cancel_poll_interval=env_seconds("RUNWRIGHT_CANCEL_POLL", 0.5),
        flush_interval=env_seconds("RUNWRIGHT_FLUSH_INTERVAL", 0.2),
    )


def worker_name() -> str:
    """The identity of the process running the task (``host:boot_id:pid_ns:start_time:pid``,
    :class:`~runwright.runners.process_identity.ProcessIdentity`): a reaper in the same boot
    and pid namespace checks its process, any other judges it by its lease."""
    return str(ProcessIdentity.of())
