"""Found by Celery's ``app.autodiscover_tasks()`` in a project that lists
``runwright.integrations.django`` in INSTALLED_APPS: registers ``runwright.run`` (a
``shared_task``) on the project's app."""

from runwright.integrations.celery.tasks import run_execution

__all__ = ["run_execution"]
