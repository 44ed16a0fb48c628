"""The Celery application and its settings (all from the environment)."""

from __future__ import annotations

import os
from functools import cache

from celery import Celery


def queue_name() -> str:
    return os.environ.get("RUNWRIGHT_QUEUE", "runwright")


def broker_url() -> str:
    """RUNWRIGHT_BROKER_URL, else a broker that needs no server: SQLite via SQLAlchemy."""
    url = os.environ.get("RUNWRIGHT_BROKER_URL")
    if url:
        return url
    from integrations.django.bootstrap import default_database_path

    return f"sqla+sqlite:///{default_database_path().with_name('broker.sqlite3')}"


def heartbeat_interval() -> float:
    return float(os.environ.get("RUNWRIGHT_HEARTBEAT", "10"))


def lease_seconds() -> float:
    """How long a running execution may go without a heartbeat before it is lost."""
    return float(os.environ.get("RUNWRIGHT_LEASE", str(max(30.0, heartbeat_interval() * 6))))


def get_app() -> Celery:
    """The app for the configured broker and queue (one per combination, made once)."""
    return _app(broker_url(), queue_name())


@cache
def _app(broker: str, queue: str) -> Celery:
    extra = [m.strip() for m in os.environ.get("RUNWRIGHT_CELERY_IMPORTS", "").split(",") if m.strip()]
    app = Celery("runwright", broker=broker, include=["integrations.celery.tasks", *extra])
    limits = {k: float(os.environ[e]) for k, e in (("task_time_limit", "RUNWRIGHT_TASK_TIME_LIMIT"),
                                                   ("task_soft_time_limit", "RUNWRIGHT_TASK_SOFT_TIME_LIMIT"))
              if os.environ.get(e)}
    app.conf.update(
        task_default_queue=queue,
        task_acks_late=True,  # a run's message is acknowledged when the run is over...
        task_reject_on_worker_lost=True,  # ...and handed back if its worker dies
        worker_prefetch_multiplier=1,
        task_ignore_result=True,  # the executions table is the result store
        broker_connection_retry_on_startup=True,
        broker_transport_options=_transport_options(),
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_track_started=False,
        # Celery's own limits are a backstop: the run's own timeout governs. A hard limit
        # kills the pool process; the reaper then marks the run lost and kills its tree.
        **limits,
    )
    # Celery's Django fixup: forked pool processes drop the parent's database connections
    # without closing them (a close would break the parent's), and stale ones are
    # replaced around each task. It installs itself only for DJANGO_SETTINGS_MODULE.
    from celery.fixups.django import DjangoFixup

    # Without this the fixup closes every connection around every task: a PostgreSQL
    # reconnect per run (about 10 ms). Connections are still recycled every 1000 tasks.
    app.conf["CELERY_DB_REUSE_MAX"] = 500
    DjangoFixup(app).install()
    return app


def _transport_options() -> dict[str, float]:
    if broker_url().startswith(("redis://", "rediss://")):
        # Redis hands an unacknowledged message to another worker after this long; the
        # execution's claim makes that harmless for a run still going.
        options = {"visibility_timeout": float(os.environ.get("RUNWRIGHT_VISIBILITY_TIMEOUT", "3600"))}
        restore = os.environ.get("RUNWRIGHT_UNACKED_RESTORE_INTERVAL")
        if restore:  # how often a worker looks for messages past their visibility timeout
            options.update(unacked_restore_interval=float(restore), unacked_restore_throttle=1)
        return options
    return {}
