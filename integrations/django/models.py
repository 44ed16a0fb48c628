"""An execution and its output. Output lives in LogChunk rows, byte-exact and addressable
by offset, so a follower can ask for "everything after byte N" while the run is live."""

from __future__ import annotations

from django.db import models

from runners.status import Status

STATUS_CHOICES = [(s.value, s.value) for s in Status]


class Execution(models.Model):
    status = models.CharField(max_length=16, choices=STATUS_CHOICES, default=Status.PENDING.value)
    runner = models.CharField(max_length=64, default="local")
    #: The command line for display, secrets masked.
    command = models.TextField(blank=True, default="")
    #: The RunSpec as JSON, secrets masked.
    spec = models.JSONField(default=dict, blank=True)
    labels = models.JSONField(default=dict, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    signal = models.CharField(max_length=16, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    #: Refreshed while the run is live; a stale one lets the reaper mark the run lost.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=255, blank=True, default="")
    stdout_bytes = models.BigIntegerField(default=0)
    stderr_bytes = models.BigIntegerField(default=0)
    #: Bytes of output stored, and bytes counted but not stored past the storage limit.
    stored_bytes = models.BigIntegerField(default=0)
    dropped_bytes = models.BigIntegerField(default=0)
    #: The final RunResult (tails, metadata) as JSON.
    result = models.JSONField(default=dict, blank=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="children")
    cancel_requested = models.BooleanField(default=False)
    #: The Celery task that carries this execution, once it is queued.
    task_id = models.CharField(max_length=64, blank=True, default="", db_index=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["status", "-created_at"], name="rw_exec_status_created"),
            models.Index(fields=["runner", "-created_at"], name="rw_exec_runner_created"),
            models.Index(fields=["-created_at"], name="rw_exec_created"),
            models.Index(fields=["status", "heartbeat_at"], name="rw_exec_status_heartbeat"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.runner} {self.status}: {self.command[:60]}"

    @property
    def duration(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class LogChunk(models.Model):
    STREAMS = [("o", "stdout"), ("e", "stderr"), ("s", "system")]

    execution = models.ForeignKey(Execution, on_delete=models.CASCADE, related_name="chunks")
    #: Byte offset of this chunk in the execution's combined log.
    offset = models.BigIntegerField()
    stream = models.CharField(max_length=1, choices=STREAMS)
    data = models.BinaryField()

    class Meta:
        ordering = ["execution", "offset"]
        constraints = [models.UniqueConstraint(fields=["execution", "offset"], name="rw_chunk_offset_unique")]

    def __str__(self) -> str:
        return f"{self.execution_id}@{self.offset} ({self.get_stream_display()}, {len(self.data)} bytes)"
