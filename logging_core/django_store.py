"""The Store on Django models: runwright's own Execution/LogChunk, or a platform's existing
model through a FieldMap. Status writes are single conditional UPDATE statements, so two
writers racing on PostgreSQL cannot move a run out of a terminal state."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from runwright.logging_core.fieldmap import FieldMap
from runwright.logging_core.store import ANY_PARENT, QUEUED, Chunk, Event, ExecutionView, NotFound, Store, bounded, refuse_status
from runwright.logging_core.text_fields import TextFieldOutput, read_chunks, tail_of, utc
from runwright.runners.status import TERMINAL, Status, sources_of

_SECRET_PURPOSE = b"runwright run secret v1"
STREAM_CODES = {"stdout": "o", "stderr": "e", "system": "s"}
CODE_STREAMS = {v: k for k, v in STREAM_CODES.items()}
_OWN_EXTRA = (
    "runner", "command", "spec", "labels", "signal", "result", "worker", "heartbeat_at", "stdout_bytes",
    "stderr_bytes", "stored_bytes", "dropped_bytes", "parent_id", "cancel_requested", "task_id", "handle",
    "sealed_spec",
)
#: Fields an ExecutionView does not carry (large: the spec, a group child's sealed spec).
_NOT_VIEWED = frozenset({"spec", "sealed_spec"})
#: runwright's own model: output goes to LogChunk rows, not to text fields.
OWN_FIELDS = FieldMap(
    completed_at="finished_at", return_code="exit_code", stdout=None, stderr=None, logs=None,
    extra={name: name for name in _OWN_EXTRA},
)


def own_models() -> tuple[Any, Any]:
    from django.apps import apps

    return apps.get_model("runwright", "Execution"), apps.get_model("runwright", "LogChunk")


def event_model() -> Any:
    from django.apps import apps

    return apps.get_model("runwright", "ExecutionEvent")


class DjangoStore(Store):
    def __init__(self, model: Any = None, field_map: FieldMap | Mapping[str, Any] | None = None) -> None:
        from django.db import IntegrityError, InterfaceError, OperationalError

        self.transient_errors = (OperationalError, InterfaceError)
        self.conflict_errors = (IntegrityError,)
        own, chunk_model = own_models()
        self.model = model or own
        self.chunk_model: Any = chunk_model if self.model is own else None
        #: Events live in a table of runwright's own, keyed to runwright's own executions.
        self.event_model = event_model() if self.model is own else None
        self.supports_events = self.event_model is not None
        declared = OWN_FIELDS if self.model is own and field_map is None else field_map
        self.fields = FieldMap.for_model(self.model, declared)
        self.tracks_workers = bool(self.fields.model_field("worker"))
        self._manager = self.model._default_manager
        #: A platform's model: full output in runwright's chunk table, text fields summarised.
        self.text = None if self.chunk_model is not None else TextFieldOutput(self.model, self.fields)

    @property
    def key(self) -> str:
        import hashlib

        from django.db import connection

        cfg = connection.settings_dict
        where = f"{connection.vendor}|{cfg.get('HOST')}|{cfg.get('PORT')}|{cfg.get('NAME')}|{self.model._meta.db_table}"
        return hashlib.sha1(where.encode()).hexdigest()[:12]

    # -- status ----------------------------------------------------------------------------
    def create(self, values: Mapping[str, Any], status: Status = Status.PENDING) -> Any:
        cols = self.fields.columns(values)
        cols[self.fields.status] = self.fields.status_value(status)  # type: ignore[index]
        return self._manager.create(**cols).pk

    def transition(
        self, ref: Any, target: Status, values: Mapping[str, Any], expect: Mapping[str, Any] | None = None
    ) -> Status | None:
        from django.db.models import Q

        status_col = self.fields.status
        sources = sources_of(target)
        allowed = Q(**{f"{status_col}__in": {self.fields.status_value(s) for s in sources}})
        if Status.PENDING in sources:  # a value the map does not know is not started yet (FieldMap.stored_status)
            allowed |= ~Q(**{f"{status_col}__in": self.fields.mapped_values()})
        cols = self.fields.columns(values)
        cols[status_col] = self.fields.status_value(target)  # type: ignore[index]
        conditions = self._expect(expect)
        if self._manager.filter(allowed, pk=ref, **conditions).update(**cols):
            return None
        return self._status(ref)

    def _expect(self, expect: Mapping[str, Any] | None) -> dict[str, Any]:
        conditions = self.fields.columns(expect or {})
        if len(conditions) != len(expect or {}):
            missing = sorted(set(expect or {}) - {n for n in (expect or {}) if self.fields.model_field(n)})
            raise ValueError(f"{self.model.__name__} has no field for {', '.join(missing)}: cannot condition on it")
        return conditions

    def take_over(self, ref: Any, from_worker: str, to_worker: str) -> bool:
        from django.utils import timezone

        cols = self.fields.columns({"worker": to_worker, "heartbeat_at": timezone.now()})
        conditions = self._expect({"worker": from_worker})
        running = self.fields.status_value(Status.RUNNING)
        return bool(self._manager.filter(pk=ref, **{str(self.fields.status): running}, **conditions).update(**cols))

    def status(self, ref: Any) -> Status:
        return self._status(ref)

    # -- secrets learned mid-run: sealed in runwright's RunSecret table ---------------------
    def _secret_run(self, ref: Any) -> str:
        return f"{self.model._meta.label_lower}:{ref}"

    def keep_secret(self, ref: Any, value: str) -> None:
        from django.apps import apps

        from runwright.logging_core.sealing import seal

        apps.get_model("runwright", "RunSecret").objects.create(
            run=self._secret_run(ref), sealed=seal(value.encode(), _SECRET_PURPOSE))

    def kept_secrets(self, ref: Any) -> list[str]:
        from django.apps import apps

        from runwright.logging_core.sealing import unseal

        rows = apps.get_model("runwright", "RunSecret").objects.filter(run=self._secret_run(ref)).order_by("pk")
        return [unseal(token, _SECRET_PURPOSE).decode() for token in rows.values_list("sealed", flat=True)]

    def forget_secrets(self, ref: Any) -> None:
        from django.apps import apps

        apps.get_model("runwright", "RunSecret").objects.filter(run=self._secret_run(ref)).delete()

    def _status(self, ref: Any) -> Status:
        current = self._manager.filter(pk=ref).values_list(self.fields.status, flat=True).first()
        if current is None:
            raise NotFound(ref)
        return self.fields.stored_status(current)

    def update(self, ref: Any, values: Mapping[str, Any]) -> None:
        refuse_status(values)
        cols = self.fields.columns(values)
        if cols and not self._manager.filter(pk=ref).update(**cols):
            raise NotFound(ref)

    # -- output ----------------------------------------------------------------------------
    def append_output(self, ref: Any, chunks: list[Chunk]) -> None:
        if not chunks:
            return
        if self.text is not None:
            self.text.append(ref, chunks)
            return
        self.chunk_model.objects.bulk_create(
            [self.chunk_model(execution_id=ref, offset=c.offset, stream=STREAM_CODES[c.stream], data=c.data, at=c.at)
             for c in bounded(chunks)]
        )

    def replace_output(self, ref: Any, stream: str, data: bytes) -> None:
        if self.text is not None:
            self.text.replace(ref, stream, data, self.text.end(ref))
            return
        from django.db import transaction

        with transaction.atomic():
            end = self.log_end(ref)  # before the delete: the replacement reuses no offset (as on a platform's model)
            self.chunk_model.objects.filter(execution_id=ref, stream=STREAM_CODES[stream]).delete()
            if data:
                self.chunk_model.objects.bulk_create([
                    self.chunk_model(execution_id=ref, offset=c.offset, stream=STREAM_CODES[stream], data=c.data, at=c.at)
                    for c in bounded([Chunk(end, stream, data)])])

    def chunks_sized(self, ref: Any, stream: str, low: int, high: int) -> list[Chunk]:
        from django.db.models.functions import Length

        rows = self.text.rows(ref) if self.text is not None else self.chunk_model.objects.filter(execution_id=ref)
        found = (rows.filter(stream=STREAM_CODES[stream]).annotate(size=Length("data"))
                 .filter(size__gte=low, size__lte=high).order_by("-offset").values_list("offset", "data", "at"))
        return [Chunk(o, stream, bytes(d), utc(at)) for o, d, at in found]

    def close_output(self, ref: Any) -> None:
        """The execution's output has ended (see ``TextFieldOutput.close``)."""
        if self.text is not None:
            self.text.close(ref)

    def rewrite_chunk(self, ref: Any, chunk: Chunk, data: bytes) -> None:
        if len(data) != len(chunk.data):
            raise ValueError("rewrite_chunk: the new bytes must be as long as the old")
        if self.text is not None:
            self.text.rewrite(ref, chunk, data)
        elif not self.chunk_model.objects.filter(execution_id=ref, offset=chunk.offset).update(data=data):
            raise NotFound(ref)

    def read_log(self, ref: Any, offset: int = 0, limit: int | None = None) -> list[Chunk]:
        if self.text is not None:
            return self.text.read(ref, offset, limit)
        return read_chunks(self.chunk_model.objects.filter(execution_id=ref), offset, limit)

    def read_log_since(self, ref: Any, since: datetime, offset: int = 0, limit: int | None = None) -> list[Chunk]:
        """The chunks received at or after ``since``, chosen by the database (``at >= since``)."""
        if self.text is not None:
            return self.text.read(ref, offset, limit, since=since)
        return read_chunks(self.chunk_model.objects.filter(execution_id=ref, at__gte=since), offset, limit)

    def log_end(self, ref: Any) -> int:
        return self.log_tail(ref)[0]

    def shown_with(self, stream: str) -> frozenset[str]:
        return self.text.shown_with(stream) if self.text is not None else super().shown_with(stream)

    def line_tail(self, ref: Any, stream: str) -> bytes:
        if self.text is not None:
            return self.text.line_tail(ref, stream)
        from django.db.models import IntegerField, Value
        from django.db.models.functions import Greatest, Length, Substr

        start = Greatest(Length("data") - 3, Value(1), output_field=IntegerField())
        last = (self.chunk_model.objects.filter(execution_id=ref).order_by("-offset")
                .annotate(tail=Substr("data", start)).values_list("tail", flat=True)[:4])
        return b"".join(bytes(t or b"") for t in reversed(list(last)))[-4:]

    def log_tail(self, ref: Any) -> tuple[int, bytes]:
        """(the size of the combined log, its last byte), in one query."""
        if self.text is not None:
            return tail_of(self.text.rows(ref))
        return tail_of(self.chunk_model.objects.filter(execution_id=ref))

    def output_sizes(self, ref: Any) -> dict[str, int]:
        if self.chunk_model is None:
            return super().output_sizes(ref)
        from django.db.models import Sum
        from django.db.models.functions import Length

        sizes = {"stdout": 0, "stderr": 0, "system": 0}
        rows = (self.chunk_model.objects.filter(execution_id=ref).values("stream")
                .annotate(size=Sum(Length("data"))).values_list("stream", "size"))
        for code, size in rows:
            sizes[CODE_STREAMS[code]] = int(size or 0)
        return sizes

    # -- events --------------------------------------------------------------------------
    def append_events(self, ref: Any, events: list[Event]) -> None:
        if self.event_model is None:
            return super().append_events(ref, events)
        if events:
            self.event_model.objects.bulk_create(
                [self.event_model(execution_id=ref, seq=e.seq, kind=e.kind, data=e.data, at=e.at) for e in events]
            )

    def read_events(self, ref: Any, after: int = 0, limit: int | None = None) -> list[Event]:
        if self.event_model is None:
            return []
        rows = (self.event_model.objects.filter(execution_id=ref, seq__gt=after).order_by("seq")
                .values_list("seq", "kind", "data", "at"))
        return [Event(seq, kind, data, at) for seq, kind, data, at in (rows[:limit] if limit else rows)]

    def last_event_seq(self, ref: Any) -> int:
        if self.event_model is None:
            return 0
        from django.db.models import Max

        return int(self.event_model.objects.filter(execution_id=ref).aggregate(m=Max("seq"))["m"] or 0)

    def cancel_requested(self, ref: Any) -> bool:
        """The cancel flag (on models that have one) or a final status, in one query."""
        column = self.fields.extra.get("cancel_requested")
        columns = [self.fields.status, *([column] if column else [])]
        row = self._manager.filter(pk=ref).values_list(*columns).first()
        if row is None:
            return False
        return self.fields.stored_status(row[0]) in TERMINAL or (bool(row[1]) if column else False)

    def cancels_requested(self, refs: Sequence[Any]) -> set[str]:
        """Of ``refs``, those flagged or final, in one query."""
        from django.db.models import Q

        if not refs:
            return set()
        status = str(self.fields.status)
        final = {v for v in self.fields.mapped_values() if self.fields.stored_status(v) in TERMINAL}
        wanted = Q(**{f"{status}__in": final})
        column = self.fields.extra.get("cancel_requested")
        if column:
            wanted |= Q(**{column: True})
        return {str(pk) for pk in self._manager.filter(wanted, pk__in=list(refs)).values_list("pk", flat=True)}

    def refresh_heartbeats(self, refs: Sequence[Any], worker: str = "") -> set[str]:
        """One UPDATE for all of ``refs`` (and one SELECT when some were not refreshed)."""
        from django.utils import timezone

        cols = self.fields.columns({"heartbeat_at": timezone.now()})
        if not refs or not cols:
            return set()
        rows = self._manager.filter(pk__in=list(refs))
        if not (worker and self.tracks_workers):
            rows.update(**cols)
            return set()
        running = {str(self.fields.status): self.fields.status_value(Status.RUNNING)}
        if rows.filter(**running, **self._expect({"worker": worker})).update(**cols) == len(set(refs)):
            return set()
        others = rows.filter(**running).exclude(**self._expect({"worker": worker}))
        return {str(pk) for pk in others.values_list("pk", flat=True)}

    def is_outage(self, exc: BaseException) -> bool:
        """A connection that is closed, dropped, refused or terminated (PostgreSQL: no SQLSTATE,
        class 08, 57P01-57P03 shutdown, 53300 too many connections); on SQLite a database that
        stays locked or cannot be opened. Not a statement that failed (a missing table on
        SQLite is an OperationalError too)."""
        from django.db import InterfaceError, OperationalError, connection

        if isinstance(exc, InterfaceError):
            return True
        if not isinstance(exc, OperationalError):
            return False
        if connection.vendor == "sqlite":
            text = str(exc).lower()
            return any(word in text for word in ("locked", "busy", "unable to open", "disk i/o"))
        code = getattr(exc.__cause__, "sqlstate", None)
        return code is None or str(code).startswith("08") or code in {"57P01", "57P02", "57P03", "53300"}

    def is_full(self, exc: BaseException) -> bool:
        """SQLite's ``SQLITE_FULL`` ("database or disk is full"), PostgreSQL's ``53100``
        (disk_full; "could not extend file" carries it), or ``ENOSPC`` anywhere in the chain."""
        from django.db import OperationalError

        if isinstance(exc, OperationalError):
            if "database or disk is full" in str(exc).lower():
                return True
            if getattr(exc.__cause__, "sqlstate", None) == "53100":
                return True
        return super().is_full(exc)

    def reset_connection(self) -> None:
        from django.db import connection

        if not connection.in_atomic_block:  # never under a caller's transaction.atomic()
            connection.close()

    def in_transaction(self) -> bool:
        """Whether the caller holds a transaction open: a failed statement is then raised at
        once (retrying it, or closing the connection, would hide the real cause)."""
        from django.db import connection

        return bool(connection.in_atomic_block)

    def atomic(self) -> Any:
        from django.db import transaction

        return transaction.atomic()

    # -- queueing and groups -------------------------------------------------------------
    def _column(self, name: str) -> str:
        column = self.fields.status if name == "status" else self.fields.model_field(name)
        if not column:
            raise ValueError(f"{self.model.__name__} has no field for {name!r} (map one with runwright_fields)")
        return column

    def read_fields(self, ref: Any, *names: str) -> dict[str, Any]:
        row = self._manager.filter(pk=ref).values_list(*[self._column(n) for n in names]).first()
        if row is None:
            raise NotFound(ref)
        values = dict(zip(names, row, strict=True))
        if "status" in values:
            values["status"] = self.fields.stored_status(values["status"])
        return values

    def claim_task(self, ref: Any, task_id: str) -> bool:
        from django.utils import timezone

        task = self._column("task_id")
        pending = {self._column("status"): self.fields.status_value(Status.PENDING)}
        cols = self.fields.columns({"task_id": task_id, "heartbeat_at": timezone.now()})
        return bool(self._manager.filter(pk=ref, **pending, **{task: ""}).update(**cols))

    def find(
        self, *, status: Status | Collection[Status] | None = None, runner: str | None = None,
        not_runner: str | None = None, parent: Any = ANY_PARENT, queued: bool | None = None,
        heartbeat_before: datetime | None = None, created_before: datetime | None = None, limit: int | None = None,
        task_id: str | None = None, worker_contains: str | None = None,
    ) -> list[Any]:
        rows = self._manager.all()
        if status is not None:
            wanted = [status] if isinstance(status, Status) else list(status)
            rows = rows.filter(**{f"{self._column('status')}__in": {self.fields.status_value(s) for s in wanted}})
        # (canonical name, lookup, value, exclude, met by every row of a model without the field)
        conditions: list[tuple[str, str, Any, bool, bool]] = [
            ("runner", "", runner, False, False), ("runner", "", not_runner, True, True),  # no runner: no groups
            ("task_id", "", task_id, False, False), ("worker", "__contains", worker_contains, False, False),
            ("heartbeat_at", "__lt", heartbeat_before, False, False), ("created_at", "__lt", created_before, False, False),
        ]
        if queued is not None:  # queued: a task id is set; a model without task ids queues nothing
            conditions.append(("task_id", "", "", queued, not queued))
        if parent is not ANY_PARENT:  # a model without groups: every row is without a parent
            conditions.append(("parent_id", "__isnull", True, False, True) if parent is None
                              else ("parent_id", "", parent, False, False))
        for name, lookup, value, exclude, all_meet in conditions:
            if value is None:
                continue
            column = self._created_column() if name == "created_at" else self.fields.model_field(name)
            if not column:
                if all_meet:
                    continue
                return []
            rows = (rows.exclude if exclude else rows.filter)(**{f"{column}{lookup}": value})
        ids = rows.order_by("pk").values_list("pk", flat=True)
        return list(ids[:limit] if limit is not None else ids)

    def _created_column(self) -> str | None:
        mapped = self.fields.model_field("created_at")
        if mapped:
            return mapped
        return "created_at" if "created_at" in {f.name for f in self.model._meta.concrete_fields} else None

    def missing_fields(self, *names: str) -> list[str]:
        return [n for n in names if not (self.fields.status if n == "status" else self.fields.model_field(n))]

    def child_counts(self, parent: Any) -> dict[str, int]:
        from django.db.models import BooleanField, Count, ExpressionWrapper, Q

        status, task = self._column("status"), self._column("task_id")
        # order_by(): the model's default ordering would be grouped by too (a group per row).
        rows = (self._manager.filter(**{self._column("parent_id"): parent}).order_by()
                .annotate(rw_sent=ExpressionWrapper(~Q(**{task: ""}), output_field=BooleanField()))
                .values(status, "rw_sent").annotate(rw_n=Count("pk")).values_list(status, "rw_sent", "rw_n"))
        counts: dict[str, int] = {}
        for value, sent, n in rows:
            found = self.fields.stored_status(value)
            key = QUEUED if found == Status.PENDING and sent else found.value
            counts[key] = counts.get(key, 0) + n
        return counts

    def request_cancel(self, refs: Sequence[Any]) -> int:
        if not refs:
            return 0
        return int(self._manager.filter(pk__in=list(refs)).update(**{self._column("cancel_requested"): True}))

    def drop_sealed_specs(self, parent: Any) -> None:
        sealed = self._column("sealed_spec")
        final = {v for v in self.fields.mapped_values() if self.fields.stored_status(v) in TERMINAL}
        (self._manager.filter(**{self._column("parent_id"): parent, f"{self.fields.status}__in": final})
         .exclude(**{sealed: ""}).update(**{sealed: ""}))

    # -- reading -------------------------------------------------------------------------
    def _viewed(self, with_result: bool = True) -> list[tuple[str, str]]:
        """(ExecutionView field, model field) of what a view reads: never the spec, and for
        a list (``with_result`` False) not the result either (a run's tails: tens of KB)."""
        f = self.fields
        out = [(target, column) for canonical, target in (
            ("started_at", "started_at"), ("completed_at", "finished_at"), ("return_code", "exit_code"),
            ("error_message", "error_message")) if (column := f.model_field(canonical))]
        out += [(name, column) for name, column in f.extra.items()
                if name not in _NOT_VIEWED and (with_result or name != "result")]
        if "created_at" in {c.name for c in self.model._meta.concrete_fields}:
            out.append(("created_at", "created_at"))
        return out

    def _view_rows(self, rows: Any, with_result: bool = True) -> list[ExecutionView]:
        """The views of ``rows`` in one query of only the columns a view shows: a platform's
        large text fields and the spec are never read."""
        viewed = self._viewed(with_result)
        status = str(self.fields.status)
        found = rows.values_list("pk", status, *[column for _, column in viewed])
        views = []
        for pk, value, *rest in found:
            values: dict[str, Any] = {"id": pk, "status": self.fields.stored_status(value)}
            values.update((name, v) for (name, _), v in zip(viewed, rest, strict=True))
            values["error_message"] = values.get("error_message") or ""
            values["signal"] = values.get("signal") or ""
            views.append(ExecutionView(**values))
        return views

    def get(self, ref: Any) -> ExecutionView:
        found = self._view_rows(self._manager.filter(pk=ref))
        if not found:
            raise NotFound(ref)
        return found[0]

    def list(self, status: str | None = None, runner: str | None = None, limit: int = 50) -> list[ExecutionView]:
        """The newest executions, in one query that reads neither their spec nor their
        result (the views' ``result`` is empty: ``get`` one for it)."""
        qs = self._manager.all().order_by("-pk")
        if status:
            qs = qs.filter(**{str(self.fields.status): self.fields.status_value(Status(status))})
        if runner and "runner" in self.fields.extra:
            qs = qs.filter(**{self.fields.extra["runner"]: runner})
        return self._view_rows(qs[:limit], with_result=False)

    @staticmethod
    def close_thread_connections() -> None:
        from django.db import connections

        connections.close_all()

