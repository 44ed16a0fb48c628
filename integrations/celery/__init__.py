"""Celery integration: queued runs on many workers, cancellation, crash recovery, groups.

    from integrations.celery import submit, submit_group, cancel
    execution_id = submit(RunSpec(["make", "deploy"], timeout=600))

Executions live in the database; Celery carries only "run execution N with this spec".
With no configuration the broker is kombu's SQLAlchemy transport on SQLite next to the
embedded database, so `runwright worker` + `runwright submit` work on one machine as they
are; set RUNWRIGHT_BROKER_URL (redis://, amqp://) and DATABASE_URL to scale out.
"""

from integrations.celery.control import cancel, submit
from integrations.celery.groups import submit_group

__all__ = ["cancel", "submit", "submit_group"]
