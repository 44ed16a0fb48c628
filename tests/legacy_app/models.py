"""Three shapes of a platform's existing execution model, as found in the wild."""

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
