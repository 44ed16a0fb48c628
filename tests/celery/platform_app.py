"""A platform's own Celery app, for RUNWRIGHT_CELERY_APP in test_install."""

from celery import Celery

app = Celery("platform-by-name", broker="memory://", set_as_current=False)
