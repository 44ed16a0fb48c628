"""Three shapes of a platform's existing execution model, as found in the wild."""

import uuid

from django.db import models


class DeployRun(models.Model):
    """stdout/stderr/return_code, runwright's status names (timeout included)."""

    name = models.CharField(max_length=50, default="")
    status = models.CharField(max_length=20, default="pending", choices=[(s, s) for s in (
        "pending", "running", "success", "failed", "timeout", "cancelled", "error", "lost")])
    started_at = models.DateTimeField(null=True)
    completed_at = models.DateTimeField(null=True)
    stdout = models.TextField(blank=True, default="")
    stderr = models.TextField(blank=True, default="")
    return_code = models.IntegerField(null=True)

    class Meta:
        app_label = "legacy_app"


class PlaybookJob(models.Model):
    """logs + error_message, other field and status names, no timeout status."""

    state = models.CharField(max_length=20, default="queued", choices=[(s, s) for s in (
        "queued", "in_progress", "done", "broken", "aborted")])
    began = models.DateTimeField(null=True)
    ended = models.DateTimeField(null=True)
    output = models.TextField(blank=True, default="")
    failure = models.TextField(blank=True, default="")

    runwright_fields = {
        "status": "state", "started_at": "began", "completed_at": "ended", "logs": "output",
        "error_message": "failure",
        "status_values": {"pending": "queued", "running": "in_progress", "success": "done",
                          "failed": "broken", "cancelled": "aborted"},
    }

    class Meta:
        app_label = "legacy_app"


class ScriptTask(models.Model):
    """logs only."""

    status = models.CharField(max_length=20, default="pending")
    logs = models.TextField(blank=True, default="")

    class Meta:
        app_label = "legacy_app"


# The three shapes of the issue, as a platform that had its own ExecutionLogger declares them.
class CommandExecution(models.Model):
    """A shell executor's row: stdout/stderr/return_code; the platform says ``completed``."""

    command = models.TextField(default="")
    status = models.CharField(max_length=20, default="pending", choices=[(s, s) for s in (
        "pending", "running", "completed", "failed", "cancelled")])
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    stdout = models.TextField(blank=True, default="")
    stderr = models.TextField(blank=True, default="")
    return_code = models.IntegerField(null=True, blank=True)

    runwright_fields = {"status_values": {"success": "completed"}}

    class Meta:
        app_label = "legacy_app"


class PlaybookExecution(models.Model):
    """An Ansible executor's row: logs + error_message, and a ``timeout`` status."""

    playbook = models.CharField(max_length=100, default="site.yml")
    status = models.CharField(max_length=20, default="pending", choices=[(s, s) for s in (
        "pending", "running", "completed", "failed", "timeout", "cancelled")])
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    logs = models.TextField(blank=True, default="")
    error_message = models.TextField(blank=True, default="")

    runwright_fields = {"status_values": {"success": "completed"}}

    class Meta:
        app_label = "legacy_app"


class ScriptExecution(models.Model):
    """A script runner's row: logs only."""

    status = models.CharField(max_length=20, default="pending", choices=[(s, s) for s in (
        "pending", "running", "success", "failed", "cancelled")])
    logs = models.TextField(blank=True, default="")

    class Meta:
        app_label = "legacy_app"


class UnmappedExecution(models.Model):
    """Choices without runwright's ``success`` and no status_values: a warning."""

    status = models.CharField(max_length=20, default="pending", choices=[(s, s) for s in (
        "pending", "running", "completed", "failed")])
    logs = models.TextField(blank=True, default="")

    class Meta:
        app_label = "legacy_app"


# Shapes found by a break-it review of issue 11.
class UUIDExecution(models.Model):
    """A UUID primary key (SQLite stores it as 32 hex digits, PostgreSQL as a uuid)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    status = models.CharField(max_length=20, default="pending")
    logs = models.TextField(blank=True, default="")

    class Meta:
        app_label = "legacy_app"


class GroupedChoicesExecution(models.Model):
    """Status choices in Django's grouped form, and a value of the platform's own (``scheduled``)."""

    status = models.CharField(max_length=20, default="pending", choices=[
        ("Waiting", [("pending", "Pending"), ("scheduled", "Scheduled")]),
        ("Active", [("running", "Running")]),
        ("Done", [("completed", "Completed"), ("failed", "Failed"), ("cancelled", "Cancelled")]),
    ])
    logs = models.TextField(blank=True, default="")

    runwright_fields = {"status_values": {"success": "completed"}}

    class Meta:
        app_label = "legacy_app"


class ShortErrorExecution(models.Model):
    """An ``error_message`` of a bounded length (a CharField) next to ``logs``."""

    status = models.CharField(max_length=20, default="pending")
    logs = models.TextField(blank=True, default="")
    error_message = models.CharField(max_length=40, blank=True, default="")

    class Meta:
        app_label = "legacy_app"


class OpsJob(models.Model):
    """A platform's job table that a Celery worker records runs on
    (``settings.RUNWRIGHT_EXECUTION_MODEL``): a UUID key and its own names for every field a
    worker writes, mapped in ``runwright_fields``; no groups (no parent, no sealed spec)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    state = models.CharField(max_length=20, default="queued", choices=[(s, s) for s in (
        "queued", "in_progress", "done", "broken", "aborted", "lost")])
    began = models.DateTimeField(null=True)
    ended = models.DateTimeField(null=True)
    output = models.TextField(blank=True, default="")
    failure = models.TextField(blank=True, default="")
    kind = models.CharField(max_length=50, default="")
    celery_task = models.CharField(max_length=100, blank=True, default="")
    host = models.CharField(max_length=200, blank=True, default="")
    last_seen = models.DateTimeField(null=True)
    stop_asked = models.BooleanField(default=False)
    work = models.JSONField(null=True)
    params = models.JSONField(default=dict)
    queued_at = models.DateTimeField(auto_now_add=True)

    runwright_fields = {
        "status": "state", "started_at": "began", "completed_at": "ended", "logs": "output",
        "error_message": "failure",
        "status_values": {"pending": "queued", "running": "in_progress", "success": "done",
                          "failed": "broken", "cancelled": "aborted"},
        "extra": {"runner": "kind", "task_id": "celery_task", "worker": "host", "heartbeat_at": "last_seen",
                  "cancel_requested": "stop_asked", "handle": "work", "spec": "params", "created_at": "queued_at"},
    }

    class Meta:
        app_label = "legacy_app"
