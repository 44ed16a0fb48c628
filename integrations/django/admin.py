"""Admin: executions listed by status, runner and time, searchable, with their log shown."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html

from integrations.django.models import Execution

LOG_PREVIEW_BYTES = 256 * 1024


@admin.register(Execution)
class ExecutionAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("id", "status", "runner", "short_command", "exit_code", "created_at", "duration", "worker")
    list_filter = ("status", "runner", "created_at")
    search_fields = ("command", "error_message", "worker", "id")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in Execution._meta.fields] + ["log"]
    fieldsets = (
        (None, {"fields": ("status", "runner", "command", "exit_code", "signal", "error_message")}),
        ("Timing", {"fields": ("created_at", "started_at", "finished_at", "heartbeat_at", "worker")}),
        ("Output", {"fields": ("stdout_bytes", "stderr_bytes", "stored_bytes", "dropped_bytes", "log")}),
        ("Details", {"classes": ("collapse",), "fields": ("spec", "labels", "result", "parent", "cancel_requested")}),
    )

    @admin.display(description="command")
    def short_command(self, obj: Execution) -> str:
        return obj.command[:80]

    @admin.display(description="log")
    def log(self, obj: Execution) -> str:
        """The first 256 KiB of the combined log, stderr and runwright's own lines marked."""
        parts, size = [], 0
        for chunk in obj.chunks.order_by("offset").iterator():
            data = bytes(chunk.data)
            parts.append((chunk.stream, data.decode("utf-8", "replace")))
            size += len(data)
            if size >= LOG_PREVIEW_BYTES:
                break
        colours = {"o": "inherit", "e": "#b00", "s": "#666"}
        body = format_html(
            "".join('<span style="color:{}">{}</span>' for _ in parts),
            *[v for stream, text in parts for v in (colours[stream], text)],
        )
        more = " (first 256 KiB shown)" if size >= LOG_PREVIEW_BYTES else ""
        return format_html('<pre style="white-space:pre-wrap;max-height:40em;overflow:auto">{}</pre>{}', body, more)

    def has_add_permission(self, request: object) -> bool:
        return False
