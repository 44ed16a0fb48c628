"""The Store on Django models: runwright's own Execution/LogChunk, or a platform's existing
model through a FieldMap. Status writes are single conditional UPDATE statements, so two
writers racing on PostgreSQL cannot move a run out of a terminal state."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from logging_core.fieldmap import FieldMap
from logging_core.store import MAX_CHUNK, Chunk, ExecutionView, NotFound, Store, cut
from runners.status import Status, sources_of

STREAM_CODES = {"stdout": "o", "stderr": "e", "system": "s"}
CODE_STREAMS = {v: k for k, v in STREAM_CODES.items()}
_OWN_EXTRA = (
    "runner", "command", "spec", "labels", "signal", "result", "worker", "heartbeat_at", "stdout_bytes",
    "stderr_bytes", "stored_bytes", "dropped_bytes", "parent_id", "cancel_requested", "task_id",
)
#: runwright's own model: output goes to LogChunk rows, not to text fields.
OWN_FIELDS = FieldMap(
    completed_at="finished_at", return_code="exit_code", stdout=None, stderr=None, logs=None,
    extra={name: name for name in _OWN_EXTRA},
)


def own_models() -> tuple[Any, Any]:
    from django.apps import apps

    return apps.get_model("runwright", "Execution"), apps.get_model("runwright", "LogChunk")


class DjangoStore(Store):
    def __init__(self, model: Any = None, field_map: FieldMap | Mapping[str, Any] | None = None) -> None:
        from django.db import InterfaceError, OperationalError

        self.transient_errors = (OperationalError, InterfaceError)
        own, chunk_model = own_models()
        self.model = model or own
        self.chunk_model = chunk_model if self.model is own else None
        declared = OWN_FIELDS if self.model is own and field_map is None else field_map
        self.fields = FieldMap.for_model(self.model, declared)
        self._manager = self.model._default_manager

    @property
    def key(self) -> str:
        import hashlib

        from django.db import connection

        cfg = connection.settings_dict
        where = f"{connection.vendor}|{cfg.get('HOST')}|{cfg.get('PORT')}|{cfg.get('NAME')}|{self.model._meta.db_table}"
        return hashlib.sha1(where.encode()).hexdigest()[:12]

    @property
    def is_own(self) -> bool:
        return self.chunk_model is not None

    # -- status ----------------------------------------------------------------------------
    def create(self, values: Mapping[str, Any], status: Status = Status.PENDING) -> Any:
        cols = self.fields.columns(values)
        cols[self.fields.status] = self.fields.status_value(status)  # type: ignore[index]
        return self._manager.create(**cols).pk

    def transition(self, ref: Any, target: Status, values: Mapping[str, Any]) -> Status | None:
        status_col = self.fields.status
        allowed = {self.fields.status_value(s) for s in sources_of(target)}
        cols = self.fields.columns(values)
        cols[status_col] = self.fields.status_value(target)  # type: ignore[index]
        if self._manager.filter(pk=ref, **{f"{status_col}__in": allowed}).update(**cols):
            return None
        return self._status(ref)

    def status(self, ref: Any) -> Status:
        return self._status(ref)

    def _status(self, ref: Any) -> Status:
        current = self._manager.filter(pk=ref).values_list(self.fields.status, flat=True).first()
        if current is None:
            raise NotFound(ref)
        return self.fields.status_from_value(current)

    def update(self, ref: Any, values: Mapping[str, Any]) -> None:
        cols = self.fields.columns(values)
        if cols and not self._manager.filter(pk=ref).update(**cols):
            raise NotFound(ref)

    # -- output ----------------------------------------------------------------------------
    def _text_field(self, stream: str) -> str | None:
        f = self.fields
        return {"stdout": f.stdout or f.logs, "stderr": f.stderr or f.logs, "system": f.logs or f.stderr}.get(stream)

    def append_output(self, ref: Any, chunks: list[Chunk]) -> None:
        if not chunks:
            return
        if self.chunk_model is not None:
            self.chunk_model.objects.bulk_create(
                [self.chunk_model(execution_id=ref, offset=c.offset, stream=STREAM_CODES[c.stream], data=c.data)
                 for c in chunks]
            )
            return
        from django.db.models import F, TextField, Value
        from django.db.models.functions import Coalesce, Concat

        texts: dict[str, list[str]] = {}
        for c in chunks:
            column = self._text_field(c.stream)
            if column:
                texts.setdefault(column, []).append(_as_text(c.data))
        if texts:
            self._manager.filter(pk=ref).update(
                **{col: Concat(Coalesce(F(col), Value(""), output_field=TextField()), Value("".join(parts)),
                                 output_field=TextField())
                   for col, parts in texts.items()}
            )

    def replace_output(self, ref: Any, stream: str, data: bytes) -> None:
        if self.chunk_model is not None:
            from django.db import transaction

            with transaction.atomic():
                rows = self.chunk_model.objects.filter(execution_id=ref)
                rows.filter(stream=STREAM_CODES[stream]).delete()
                last = rows.order_by("-offset").values_list("offset", "data").first()
                offset = last[0] + len(last[1]) if last else 0
                if data:
                    self.chunk_model.objects.create(
                        execution_id=ref, offset=offset, stream=STREAM_CODES[stream], data=data
                    )
            return
        column = self._text_field(stream)
        if column:
            self._manager.filter(pk=ref).update(**{column: _as_text(data)})

    def read_log(self, ref: Any, offset: int = 0, limit: int | None = None) -> list[Chunk]:
        if self.chunk_model is not None:
            rows = self.chunk_model.objects.filter(execution_id=ref).values_list("offset", "stream", "data")
            # The chunk that may hold byte ``offset`` (it starts at most MAX_CHUNK before it),
            # then the chunks from ``offset`` on.
            head = list(rows.filter(offset__lt=offset, offset__gt=offset - MAX_CHUNK).order_by("-offset")[:1])
            rest = rows.filter(offset__gte=offset).order_by("offset")
            chunks = cut([Chunk(o, CODE_STREAMS[s], bytes(d)) for o, s, d in [*head, *(rest[:limit] if limit else rest)]],
                         offset)
            return chunks[:limit] if limit else chunks
        columns = [c for c in dict.fromkeys([self.fields.stdout, self.fields.stderr, self.fields.logs]) if c]
        row = self._manager.filter(pk=ref).values(*columns).first()
        if row is None:
            raise NotFound(ref)
        data = "".join(row[c] or "" for c in columns).encode()
        return cut([Chunk(0, "stdout", data)], offset) if data else []

    def log_end(self, ref: Any) -> int:
        if self.chunk_model is None:
            return 0  # text fields are appended in SQL; offsets do not apply
        from django.db.models.functions import Length

        last = (
            self.chunk_model.objects.filter(execution_id=ref).order_by("-offset")
            .annotate(size=Length("data")).values_list("offset", "size").first()
        )
        return last[0] + last[1] if last else 0

    def cancel_requested(self, ref: Any) -> bool:
        column = self.fields.extra.get("cancel_requested")
        if not column:
            return False
        return bool(self._manager.filter(pk=ref).values_list(column, flat=True).first())

    def reset_connection(self) -> None:
        from django.db import connection

        connection.close()

    # -- reading -------------------------------------------------------------------------
    def get(self, ref: Any) -> ExecutionView:
        obj = self._manager.filter(pk=ref).first()
        if obj is None:
            raise NotFound(ref)
        return self.view(obj)

    def view(self, obj: Any) -> ExecutionView:
        f = self.fields
        values: dict[str, Any] = {"id": obj.pk, "status": f.status_from_value(getattr(obj, f.status))}  # type: ignore[arg-type]
        for canonical, target in (("started_at", "started_at"), ("completed_at", "finished_at"),
                                  ("return_code", "exit_code"), ("error_message", "error_message")):
            column = f.model_field(canonical)
            if column:
                values[target] = getattr(obj, column)
        for name, column in f.extra.items():
            values[name] = getattr(obj, column)
        if hasattr(obj, "created_at"):
            values["created_at"] = obj.created_at
        values["error_message"] = values.get("error_message") or ""
        values["signal"] = values.get("signal") or ""
        values.pop("spec", None)
        return ExecutionView(**values)

    def list(self, status: str | None = None, runner: str | None = None, limit: int = 50) -> list[ExecutionView]:
        qs = self._manager.all().order_by("-pk")
        if status:
            qs = qs.filter(**{str(self.fields.status): self.fields.status_value(Status(status))})
        if runner and "runner" in self.fields.extra:
            qs = qs.filter(**{self.fields.extra["runner"]: runner})
        return [self.view(obj) for obj in qs[:limit]]

    @staticmethod
    def close_thread_connections() -> None:
        from django.db import connections

        connections.close_all()


def _as_text(data: bytes) -> str:
    # Text columns hold text: undecodable bytes become U+FFFD, and NUL (refused by
    # PostgreSQL in text) is shown as U+2400. runwright's own model keeps the exact bytes.
    return data.decode("utf-8", "replace").replace("\x00", "\u2400")
