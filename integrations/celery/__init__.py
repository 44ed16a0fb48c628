"""Celery integration: queued runs on many workers, cancellation, crash recovery, groups.

    from runwright.integrations.celery import submit, submit_group, cancel, run_in_task
    execution_id = submit(RunSpec(["make", "deploy"], timeout=600))

Executions live in the database; Celery carries only "run execution N (with this spec)".
Inside a Django project runwright's task registers on the project's Celery app and runs go
through the project's broker (see :mod:`runwright.integrations.celery.app`, and
:func:`install` to name the app explicitly). Standalone, the broker is kombu's SQLAlchemy
transport on SQLite next to the embedded database, so `runwright worker` + `runwright submit`
work on one machine as they are; set RUNWRIGHT_BROKER_URL (redis://, amqp://) and
DATABASE_URL to scale out. ``run_in_task(spec)`` runs a spec inside your own task.
"""

from runwright.integrations.celery.app import install
from runwright.integrations.celery.control import cancel, submit
from runwright.integrations.celery.groups import submit_group
from runwright.integrations.celery.in_task import run_in_task

__all__ = ["cancel", "install", "run_in_task", "submit", "submit_group"]
