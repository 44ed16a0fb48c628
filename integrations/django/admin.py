"""Admin: executions listed by status, runner and time, searchable, with their log shown."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from runwright.integrations.django.models import Execution
from runwright.runners.status import ACTIVE

ACTIVE_VALUES = [s.value for s in ACTIVE]

LOG_PREVIEW_BYTES = 256 * 1024
#: Columns the list of executions never shows: a run's spec, sealed spec and result (its
#: output tails) are tens of KB a row; the change page still shows them.
LIST_DEFERRED = ("spec", "sealed_spec", "result", "handle")


class _ExecutionChangeList(ChangeList):
    def get_queryset(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        return super().get_queryset(request, *args, **kwargs).defer(*LIST_DEFERRED)


@admin.register(Execution)
class ExecutionAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("id", "status", "runner", "short_command", "exit_code", "created", "took", "worker")
    list_filter = ("status", "runner", "created_at")
    search_fields = ("command", "error_message", "worker", "id")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in Execution._meta.fields] + [
        "log", "created", "started", "finished", "heartbeat", "took"]
    fieldsets = (
        (None, {"fields": ("status", "runner", "command", "exit_code", "signal", "error_message")}),
        ("Timing", {"fields": ("created", "started", "finished", "took", "heartbeat", "worker")}),
        ("Output", {"fields": ("stdout_bytes", "stderr_bytes", "stored_bytes", "dropped_bytes", "log")}),
        ("Details", {"classes": ("collapse",), "fields": ("spec", "labels", "handle", "result", "parent",
                                                  "cancel_requested")}),
    )

    def get_changelist(self, request: Any, **kwargs: Any) -> type[ChangeList]:
        return _ExecutionChangeList

    @admin.display(description="command")
    def short_command(self, obj: Execution) -> str:
        return obj.command[:80]

    # Times to the second with their zone, durations in human units (as the web UI shows
    # them; Django's own rendering gives minutes and raw float seconds).
    @admin.display(description="created", ordering="created_at")
    def created(self, obj: Execution) -> str:
        return _when(obj.created_at)

    @admin.display(description="started", ordering="started_at")
    def started(self, obj: Execution) -> str:
        return _when(obj.started_at)

    @admin.display(description="finished", ordering="finished_at")
    def finished(self, obj: Execution) -> str:
        return _when(obj.finished_at)

    @admin.display(description="heartbeat")
    def heartbeat(self, obj: Execution) -> str:
        return _when(obj.heartbeat_at)

    @admin.display(description="duration")
    def took(self, obj: Execution) -> str:
        from runwright.integrations.web.reading import human_duration

        return human_duration(obj.duration) or "-"

    @admin.display(description="log")
    def log(self, obj: Execution) -> str:
        """The END of the combined log (the last 256 KiB), ANSI colours rendered, ``\r``
        progress shown as the line it ends as, stderr and runwright's own lines marked."""
        from runwright.integrations.django.ansi import AnsiHtml

        end = obj.stored_bytes or _log_end(obj)
        start = max(0, end - LOG_PREVIEW_BYTES)
        chunks = obj.chunks.filter(offset__gte=start - (1 << 20)).order_by("offset")
        renderers: dict[str, AnsiHtml] = {}
        lines: list[str] = []
        colours = {"o": "inherit", "e": "#b00", "s": "#666"}
        for chunk in chunks.iterator():
            data = bytes(chunk.data)
            if chunk.offset + len(data) <= start:
                continue
            if chunk.offset < start:
                data = data[start - chunk.offset:]
                cut = data.find(b"\n")  # start on a whole line
                data = data[cut + 1:] if 0 <= cut < 4096 else data
            r = renderers.setdefault(chunk.stream, AnsiHtml())
            lines += [f'<div style="color:{colours.get(chunk.stream, "inherit")}">{h or "&nbsp;"}</div>'
                      for h in r.feed(data.decode("utf-8", "replace"))]
        for stream, r in renderers.items():
            if r.line:
                lines.append(f'<div style="color:{colours.get(stream, "inherit")}">{r.html()}</div>')
        note = format_html("last 256 KiB of {} bytes shown", end) if start > 0 else ""
        return format_html('{}<pre style="white-space:pre-wrap;max-height:40em;overflow:auto;background:#111;'
                           'color:#ddd;padding:.5em">{}</pre>', note, mark_safe("".join(lines)))

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: Execution | None = None) -> bool:
        """Records are read-only: the view permission shows them, and no Save is offered."""
        return False

    def has_delete_permission(self, request: Any, obj: Execution | None = None) -> bool:
        """A running (or pending) execution cannot be deleted: its writer would fail."""
        if obj is not None and obj.status in ACTIVE_VALUES:
            return False
        return bool(super().has_delete_permission(request, obj))

    def delete_queryset(self, request: Any, queryset: Any) -> None:
        active = queryset.filter(status__in=ACTIVE_VALUES)
        if active.exists():
            ids = ", ".join(str(pk) for pk in active.values_list("pk", flat=True)[:20])
            self.message_user(request, f"not deleted: executions still pending or running ({ids})", messages.WARNING)
        queryset.exclude(status__in=ACTIVE_VALUES).delete()


def _when(value: Any) -> str:
    from runwright.integrations.web.reading import local_time

    return local_time(value) or "-"


def _log_end(obj: Execution) -> int:
    last = obj.chunks.order_by("-offset").values_list("offset", "data").first()
    return last[0] + len(last[1]) if last else 0
