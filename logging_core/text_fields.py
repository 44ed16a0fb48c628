"""Output of an execution kept in a platform's own model, whose output lives in text fields.

The full output goes to runwright's chunk table (``TextLogChunk``), byte-exact, at offsets
in the execution's combined log, each chunk labelled with its stream: a follower reads
"everything after offset N" and filters by stream, and a reconnect loses and repeats
nothing. The model's text fields hold a bounded summary, the last ``FieldMap.text_limit``
characters of what goes to each of them, written in SQL (``RIGHT(col || new, limit)``)
without reading the column back. So an append costs O(new bytes + limit), never
O(everything stored), and a multibyte character split between two appends is joined.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from runwright.logging_core.fieldmap import FieldMap
from runwright.logging_core.store import MAX_CHUNK, Chunk, NotFound, bounded, cut

STREAM_CODES = {"stdout": "o", "stderr": "e", "system": "s"}
CODE_STREAMS = {v: k for k, v in STREAM_CODES.items()}
#: Shown at the head of a text field whose stream outgrew it.
TRUNCATED = "[runwright] earlier output is in runwright's log\n"


def text_chunk_model() -> Any:
    from django.apps import apps

    return apps.get_model("runwright", "TextLogChunk")


def columns_of(fields: FieldMap) -> dict[str, str | None]:
    """Stream -> the text field it is summarised in. runwright's own messages (the legacy
    API's lines, error text on a model without ``error_message``) go to ``logs``, else
    ``stderr``, else ``stdout``: somewhere visible, appended, never replacing output."""
    return {
        "stdout": fields.stdout or fields.logs,
        "stderr": fields.stderr or fields.logs or fields.stdout,
        "system": fields.logs or fields.stderr or fields.stdout,
    }


class TextFieldOutput:
    def __init__(self, model: Any, fields: FieldMap) -> None:
        self.model, self.fields = model, fields
        self.label = model._meta.label_lower
        self.chunks = text_chunk_model()
        self.limit = max(int(fields.text_limit), len(TRUNCATED) + 1)
        self.columns = columns_of(fields)
        self._manager = model._default_manager
        follow_deletes(model)

    def shown_with(self, stream: str) -> frozenset[str]:
        """The streams summarised in the text field ``stream`` goes to."""
        column = self.columns.get(stream)
        return frozenset({s for s, col in self.columns.items() if col == column}) if column else frozenset({stream})

    def line_tail(self, ref: Any, stream: str) -> bytes:
        """The last bytes (up to 4) of the streams shown with ``stream``, in one query."""
        from django.db.models import IntegerField, Value
        from django.db.models.functions import Greatest, Length, Substr

        codes = [STREAM_CODES[s] for s in self.shown_with(stream)]
        start = Greatest(Length("data") - 3, Value(1), output_field=IntegerField())
        last = (self.rows(ref).filter(stream__in=codes).order_by("-offset").annotate(tail=Substr("data", start))
                .values_list("tail", flat=True)[:4])
        return b"".join(bytes(t or b"") for t in reversed(list(last)))[-4:]

    def rows(self, ref: Any) -> Any:
        return self.chunks.objects.filter(model=self.label, object_id=object_key(self.model, ref))

    # -- writing -------------------------------------------------------------------------
    def append(self, ref: Any, chunks: list[Chunk]) -> None:
        """Store ``chunks`` and add their text to the summaries, in one transaction; raises
        NotFound (and stores nothing) when the execution's row is gone."""
        from django.db import transaction

        texts: dict[str, list[str]] = {}
        decoders: dict[str, Any] = {}
        for c in chunks:
            column = self.columns.get(c.stream)
            if not column or not c.data:
                continue
            decoder = decoders.get(c.stream)
            if decoder is None:
                decoder = decoders[c.stream] = codecs.getincrementaldecoder("utf-8")("replace")
                if 0x80 <= c.data[0] < 0xC0:  # continues a character begun in an earlier append
                    decoder.decode(self._incomplete_tail(ref, c.stream, c.offset))
            texts.setdefault(column, []).append(_displayable(decoder.decode(c.data)))
        key = object_key(self.model, ref)
        with transaction.atomic(savepoint=False):  # the caller's transaction, if any, is the unit
            self.chunks.objects.bulk_create([
                self.chunks(model=self.label, object_id=key, offset=c.offset, stream=STREAM_CODES[c.stream],
                            data=c.data, at=c.at) for c in bounded(chunks) if c.data
            ])
            updates = {col: self._summary(col, "".join(parts)) for col, parts in texts.items()}
            found = self._manager.filter(pk=ref).update(**updates) if updates else self._exists(ref)
            if not found:
                raise NotFound(ref)

    def replace(self, ref: Any, stream: str, data: bytes, end: int) -> None:
        """Replace what ``stream`` holds by ``data`` (appended at ``end``); the summary of its
        text field is rebuilt from the chunks, so other streams sharing it are kept."""
        from django.db import transaction

        key = object_key(self.model, ref)
        with transaction.atomic():
            self.rows(ref).filter(stream=STREAM_CODES[stream]).delete()
            if data:
                self.chunks.objects.bulk_create([
                    self.chunks(model=self.label, object_id=key, offset=c.offset, stream=STREAM_CODES[stream],
                                data=c.data, at=c.at) for c in bounded([Chunk(end, stream, data)])
                ])
            column = self.columns.get(stream)
            if column:
                sharing = [STREAM_CODES[s] for s, col in self.columns.items() if col == column]
                if not self._manager.filter(pk=ref).update(**{column: self._rebuilt(ref, sharing)}):
                    raise NotFound(ref)
            elif not self._exists(ref):
                raise NotFound(ref)

    def close(self, ref: Any) -> None:
        """The output has ended: a stream whose stored bytes end inside a UTF-8 character
        (which no later append will finish) shows U+FFFD for it at the end of its summary."""
        end = self.end(ref)
        updates: dict[str, Any] = {}
        for stream, column in self.columns.items():
            if column and column not in updates and self._incomplete_tail(ref, stream, end + 1):
                updates[column] = self._summary(column, "\ufffd")
        if updates:
            self._manager.filter(pk=ref).update(**updates)

    def rewrite(self, ref: Any, chunk: Chunk, data: bytes) -> None:
        """Replace the stored ``chunk``'s bytes by ``data`` (as long), in place, and its text
        in the summary where the summary still shows it (``REPLACE`` in SQL)."""
        from django.db.models import F, TextField, Value
        from django.db.models.functions import Replace

        if not self.rows(ref).filter(offset=chunk.offset).update(data=data):
            raise NotFound(ref)
        column = self.columns.get(chunk.stream)
        if column:
            old, new = (_displayable(d.decode("utf-8", "replace")) for d in (chunk.data, data))
            self._manager.filter(pk=ref).update(**{column: Replace(
                F(column), Value(old, output_field=TextField()), Value(new, output_field=TextField()))})

    def _summary(self, column: str, text: str) -> Any:
        """``RIGHT(column || text, limit)`` with a marker when something was cut, in SQL."""
        from django.db.models import Case, F, TextField, Value, When
        from django.db.models.functions import Coalesce, Concat, Length, Right
        from django.db.models.lookups import GreaterThan

        def text_value(value: str) -> Any:
            return Value(value, output_field=TextField())

        joined = Concat(Coalesce(F(column), text_value(""), output_field=TextField()), text_value(text),
                        output_field=TextField())
        if len(text) >= self.limit:  # the new text alone fills the field
            return text_value(TRUNCATED + text[-(self.limit - len(TRUNCATED)):])
        keep: Any = Right(joined, self.limit - len(TRUNCATED), output_field=TextField())
        return Case(
            When(GreaterThan(Length(joined), self.limit),
                 then=Concat(text_value(TRUNCATED), keep, output_field=TextField())),
            default=joined, output_field=TextField(),
        )

    def _rebuilt(self, ref: Any, codes: list[str]) -> str:
        """The summary of a text field from the newest chunks of the streams it shows."""
        parts: list[bytes] = []
        held = 0
        for data in self.rows(ref).filter(stream__in=codes).order_by("-offset").values_list("data", flat=True).iterator():
            parts.append(bytes(data))
            held += len(data)
            if held > 4 * self.limit:
                break
        text = _displayable(b"".join(reversed(parts)).decode("utf-8", "replace"))
        cut_off = held > 4 * self.limit or len(text) > self.limit
        return TRUNCATED + text[-(self.limit - len(TRUNCATED)):] if cut_off else text

    def _incomplete_tail(self, ref: Any, stream: str, before: int) -> bytes:
        """The bytes of an unfinished UTF-8 character at the end of ``stream`` so far."""
        last = (self.rows(ref).filter(stream=STREAM_CODES[stream], offset__lt=before).order_by("-offset")
                .values_list("data", flat=True).first())
        if not last:
            return b""
        probe = codecs.getincrementaldecoder("utf-8")("replace")
        probe.decode(bytes(last)[-3:])
        pending: bytes = probe.getstate()[0]
        return pending

    def _exists(self, ref: Any) -> bool:
        return bool(self._manager.filter(pk=ref).exists())

    # -- reading -------------------------------------------------------------------------
    def read(
        self, ref: Any, offset: int = 0, limit: int | None = None, streams: Iterable[str] | None = None,
        since: datetime | None = None,
    ) -> list[Chunk]:
        """The chunks from ``offset`` on (``Store.read_log``); only those of ``streams`` and
        received at or after ``since``, when given."""
        rows = self.rows(ref)
        if streams is not None:
            rows = rows.filter(stream__in=[STREAM_CODES[s] for s in streams])
        if since is not None:
            rows = rows.filter(at__gte=since)
        chunks = read_chunks(rows, offset, limit)
        if not chunks and offset == 0 and not self._exists(ref):
            raise NotFound(ref)
        return chunks

    def sizes(self, ref: Any) -> dict[str, int]:
        """Bytes stored per stream, summed in the database."""
        from django.db.models import Sum
        from django.db.models.functions import Length

        sizes = dict.fromkeys(STREAM_CODES, 0)
        for code, size in self.rows(ref).values("stream").annotate(size=Sum(Length("data"))).values_list("stream", "size"):
            sizes[CODE_STREAMS[code]] = int(size or 0)
        return sizes

    def end(self, ref: Any) -> int:
        return tail_of(self.rows(ref))[0]


def follow_deletes(model: Any) -> None:
    """Delete an execution's chunks with its row: a ``post_delete`` receiver for ``model``
    (connected once per model, for as long as the process lives). Rows deleted without
    Django's signals (raw SQL, another process that never wrote to the model) leave orphans
    for ``prune_orphan_chunks``."""
    from django.db.models.signals import post_delete

    post_delete.connect(_delete_chunks, sender=model, weak=False,
                        dispatch_uid=f"runwright.textlogchunk:{model._meta.label_lower}")


def _delete_chunks(sender: Any, instance: Any, **kwargs: Any) -> None:
    text_chunk_model().objects.using(kwargs.get("using")).filter(
        model=sender._meta.label_lower, object_id=object_key(sender, instance.pk)).delete()


def object_key(model: Any, pk: Any) -> str:
    """How a chunk names its execution: the primary key as its Python value's text (a UUID
    with its dashes, an integer in digits), whichever form the caller passed it in."""
    from django.core.exceptions import ValidationError

    try:
        return str(model._meta.pk.to_python(pk))
    except (ValidationError, TypeError, ValueError):
        return str(pk)


#: Executions checked per query by ``prune_orphan_chunks``.
PRUNE_BATCH = 500


def prune_orphan_chunks(model: Any = None) -> dict[str, int]:
    """Delete the chunks (``TextLogChunk``) whose execution row no longer exists, for
    ``model`` (a model class) or for every model that has chunks. Returns chunks deleted
    per model label; chunks of a model no longer installed are left alone (and logged).

    The executions named by chunks are looked up by primary key, ``PRUNE_BATCH`` at a time,
    through the model's own field (a pk's text in SQL differs by database and type: a UUID
    is 32 hex digits on SQLite, dashed on PostgreSQL)."""
    import logging

    from django.apps import apps

    chunks = text_chunk_model().objects
    labels = ([model._meta.label_lower] if model is not None
              else list(chunks.values_list("model", flat=True).distinct().order_by("model")))
    deleted: dict[str, int] = {}
    for label in labels:
        try:
            owner = apps.get_model(label)
        except (LookupError, ValueError):
            logging.getLogger("runwright.text_fields").warning(
                "chunks of %s kept: no such model is installed", label)
            continue
        named = list(chunks.filter(model=label).values_list("object_id", flat=True).distinct().order_by("object_id"))
        deleted[label] = 0
        for i in range(0, len(named), PRUNE_BATCH):
            batch = named[i : i + PRUNE_BATCH]
            pks = {key: _pk_value(owner, key) for key in batch}
            wanted = [pk for pk in pks.values() if pk is not None]
            live = {object_key(owner, pk) for pk in owner._default_manager.filter(pk__in=wanted).values_list("pk", flat=True)}
            orphans = [key for key, pk in pks.items() if pk is None or object_key(owner, pk) not in live]
            if orphans:
                count, _ = chunks.filter(model=label, object_id__in=orphans).delete()
                deleted[label] += count
    return deleted


def _pk_value(model: Any, key: str) -> Any:
    """The primary key a chunk's ``object_id`` names; None when it cannot be one."""
    from django.core.exceptions import ValidationError

    try:
        return model._meta.pk.to_python(key)
    except (ValidationError, TypeError, ValueError):
        return None


def read_chunks(rows: Any, offset: int, limit: int | None) -> list[Chunk]:
    """The chunks of a chunk queryset (LogChunk, TextLogChunk) holding the bytes from
    ``offset`` on, at most ``limit``: the chunk that may hold byte ``offset`` (it starts at
    most MAX_CHUNK before it), then the chunks from ``offset`` on, the first cut to start there."""
    rows = rows.values_list("offset", "stream", "data", "at")
    head = list(rows.filter(offset__lt=offset, offset__gt=offset - MAX_CHUNK).order_by("-offset")[:1])
    rest = rows.filter(offset__gte=offset).order_by("offset")
    chunks = cut([Chunk(o, CODE_STREAMS[s], bytes(d), utc(at)) for o, s, d, at in [*head, *(rest[:limit] if limit else rest)]],
                 offset)
    return chunks[:limit] if limit else chunks


def utc(at: datetime | None) -> datetime | None:
    """A stored time as an aware UTC datetime (a project with ``USE_TZ = False`` reads naive
    ones back, in its ``TIME_ZONE``)."""
    if at is None:
        return None
    if at.tzinfo is None:
        from django.utils import timezone

        at = timezone.make_aware(at)
    return at.astimezone(UTC)


def tail_of(rows: Any) -> tuple[int, bytes]:
    """(where the next chunk goes, the last byte stored) of a chunk queryset, in one query."""
    from django.db.models.functions import Length, Substr

    last = (rows.order_by("-offset").annotate(size=Length("data"), last=Substr("data", Length("data")))
            .values_list("offset", "size", "last").first())
    return (int(last[0] + last[1]), bytes(last[2] or b"")) if last else (0, b"")


def _displayable(text: str) -> str:
    # A text column cannot hold NUL on PostgreSQL: it is shown as U+2400 (the chunks keep it).
    return text.replace("\x00", "\u2400")
