"""The Celery application and its settings (all from the environment)."""

from __future__ import annotations

import os
from functools import cache

from celery import Celery

QUEUE = os.environ.get("RUNWRIGHT_QUEUE", "runwright")


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


@cache
def get_app() -> Celery:
    app = Celery("runwright", broker=broker_url(), include=["integrations.celery.tasks"])
    app.conf.update(
        task_default_queue=QUEUE,
        task_acks_late=True,  # a run's message is acknowledged when the run is over...
        task_reject_on_worker_lost=True,  # ...and handed back if its worker dies
        worker_prefetch_multiplier=1,
        task_ignore_result=True,  # the executions table is the result store
        broker_connection_retry_on_startup=True,
        broker_transport_options=_transport_options(),
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_track_started=False,
    )
    return app


def _transport_options() -> dict[str, float]:
    if broker_url().startswith(("redis://", "rediss://")):
        # Redis hands an unacknowledged message to another worker after this long; the
        # execution's claim makes that harmless for a run still going.
        return {"visibility_timeout": float(os.environ.get("RUNWRIGHT_VISIBILITY_TIMEOUT", "3600"))}
    return {}
