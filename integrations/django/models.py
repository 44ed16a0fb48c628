"""An execution and its output. Output lives in LogChunk rows, byte-exact and addressable
by offset, so a follower can ask for "everything after byte N" while the run is live."""

from __future__ import annotations

from django.db import models
from django.db.models.signals import pre_delete
from django.dispatch import receiver

from runwright.runners.status import Status

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
    #: A group child's unmasked spec, encrypted (Fernet, key from the deployment's secret
    #: key): the worker that runs it opens it; siblings' messages carry only ids.
    sealed_spec = models.TextField(blank=True, default="", editable=False)
    #: How to find the work again (pid and start time, container id, Job name, build URL),
    #: stored as soon as the runner reports it: the reaper and a worker taking over use it.
    handle = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        #: Viewing needs ``view_execution``; stopping a run (web UI, admin) needs this one.
        permissions = [("cancel_execution", "Can cancel an execution")]
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
    #: When the chunk's first byte was received; null for chunks stored before chunks had a time.
    at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["execution", "offset"]
        constraints = [models.UniqueConstraint(fields=["execution", "offset"], name="rw_chunk_offset_unique")]

    def __str__(self) -> str:
        return f"{self.execution_id}@{self.offset} ({self.get_stream_display()}, {len(self.data)} bytes)"


class TextLogChunk(models.Model):
    """Output of an execution kept in a platform's own model. Its text fields hold a bounded
    summary (the tail of each stream); the full output is here, byte-exact and addressable
    by offset in the execution's combined log, like LogChunk for runwright's own model."""

    #: The platform's model, as ``app_label.modelname``, and the execution's primary key.
    model = models.CharField(max_length=100)
    object_id = models.CharField(max_length=64)
    offset = models.BigIntegerField()
    stream = models.CharField(max_length=1, choices=LogChunk.STREAMS)
    data = models.BinaryField()
    #: As ``LogChunk.at``.
    at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["model", "object_id", "offset"]
        constraints = [
            models.UniqueConstraint(fields=["model", "object_id", "offset"], name="rw_textchunk_offset_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.model}#{self.object_id}@{self.offset} ({self.get_stream_display()}, {len(self.data)} bytes)"


class ExecutionEvent(models.Model):
    """A structured event of a run (a task result, a pod phase), numbered from 1 per execution."""

    execution = models.ForeignKey(Execution, on_delete=models.CASCADE, related_name="events")
    seq = models.BigIntegerField()
    kind = models.CharField(max_length=64)
    data = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["execution", "seq"]
        constraints = [models.UniqueConstraint(fields=["execution", "seq"], name="rw_event_seq_unique")]

    def __str__(self) -> str:
        return f"{self.execution_id}#{self.seq} {self.kind}"


class RunSecret(models.Model):
    """A secret a runner learned while its run was live (``ctx.add_secret``: a fetched token,
    a generated password), encrypted (``runwright.logging_core.sealing``), so a worker that
    re-attaches to the run masks it too. Deleted when the run ends."""

    #: The execution, as ``Store.log_ref`` names it (runwright's own model or a platform's).
    run = models.CharField(max_length=200, db_index=True)
    sealed = models.TextField()

    def __str__(self) -> str:
        return f"a sealed secret of {self.run}"


class ExecutionActive(models.ProtectedError):
    """A pending or running execution cannot be deleted: its writer would fail on the missing row."""


@receiver(pre_delete, sender=Execution)
def _refuse_deleting_active(sender: type[Execution], instance: Execution, **_: object) -> None:
    if instance.status in (Status.PENDING.value, Status.RUNNING.value):
        raise ExecutionActive(
            f"execution {instance.pk} is {instance.status}: cancel it and wait for it to end before deleting it",
            {instance})
