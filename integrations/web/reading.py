"""What the pages and sockets read from the store: log batches cut at a UTF-8 boundary, the
tail of a huge log, and an execution as JSON for the browser."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from runwright.logging_core.store import Chunk, ExecutionView
from runwright.runners.secrets import MASK
from runwright.runners.status import Status

#: Bytes of log one WebSocket message carries at most; a page shows this much tail first.
BATCH_BYTES = 256 * 1024
TAIL_BYTES = 256 * 1024
STREAM_CODE = {"stdout": "o", "stderr": "e", "system": "s", "o": "o", "e": "e", "s": "s"}


@dataclass
class LogBatch:
    start: int
    end: int
    parts: list[list[str]] = field(default_factory=list)  # [[stream code, text], ...]

    def to_dict(self) -> dict[str, Any]:
        return {"t": "log", "from": self.start, "to": self.end, "c": self.parts}


def read_batch(logger: Any, ref: Any, offset: int, final: bool, limit: int = BATCH_BYTES) -> LogBatch:
    """Output from byte ``offset``, at most about ``limit`` bytes, as text parts per stream.
    Unless the run is ``final``, a multi-byte character cut at the end of what is stored is
    left for the next batch (``end`` stops before it), so no character is ever split."""
    chunks: list[Chunk] = []
    size = 0
    for chunk in logger.iter_log(ref, offset):
        chunks.append(chunk)
        size += len(chunk.data)
        if size >= limit:
            break
    merged: list[tuple[str, bytearray]] = []
    for chunk in chunks:
        code = STREAM_CODE.get(chunk.stream, "s")
        if merged and merged[-1][0] == code:
            merged[-1][1].extend(chunk.data)
        else:
            merged.append((code, bytearray(chunk.data)))
    end = offset + size
    if merged and not final:
        cut = _incomplete_tail(merged[-1][1])
        if cut:
            del merged[-1][1][-cut:]
            end -= cut
            if not merged[-1][1]:
                merged.pop()
    return LogBatch(offset, end, [[code, bytes(data).decode("utf-8", "replace")] for code, data in merged])


def _incomplete_tail(data: bytes | bytearray) -> int:
    """How many bytes at the end of ``data`` start a UTF-8 character that is not complete."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 == 0x80:  # a continuation byte: look further back
            continue
        need = 2 if byte & 0xE0 == 0xC0 else 3 if byte & 0xF0 == 0xE0 else 4 if byte & 0xF8 == 0xF0 else 1
        return back if need > back else 0
    return 0


def tail_start(logger: Any, ref: Any, end: int, tail: int = TAIL_BYTES) -> int:
    """Where the page's first view of the log starts: ``tail`` bytes before the end, moved
    forward to the next line start so the first line shown is whole."""
    start = max(0, end - tail)
    if start == 0:
        return 0
    for chunk in logger.iter_log(ref, start):
        nl = chunk.data.find(b"\n")
        if nl >= 0:
            return chunk.offset + nl + 1
        if chunk.offset + len(chunk.data) - start > 4096:  # no newline nearby: cut where we are
            break
    return start


def human_duration(seconds: float | None) -> str:
    """``420 ms``, ``12.3 s``, ``4 min 05 s``, ``2 h 03 min``; empty for None."""
    if seconds is None:
        return ""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def human_bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def local_time(value: datetime | None) -> str:
    """Seconds and the zone: ``2026-11-29 10:41:07 UTC`` (Django's TIME_ZONE)."""
    if value is None:
        return ""
    from django.utils import timezone

    local = timezone.localtime(value)
    return f"{local:%Y-%m-%d %H:%M:%S} {local.tzname()}"


def execution_json(view: ExecutionView, now: datetime | None = None, log_end: int | None = None) -> dict[str, Any]:
    """What the browser gets of an execution: the shape every surface uses
    (runwright.integrations.execution_shape), plus the times and durations as displayed.
    ``log_end``: the store's log size, the byte count of a live run (as the CLI shows it)."""
    from django.utils import timezone

    from runwright.integrations.execution_shape import execution_dict

    now = now or timezone.now()
    running_for = (now - view.started_at).total_seconds() if view.status == Status.RUNNING and view.started_at else None
    data = execution_dict(view, log_end)
    data.update({
        "created_display": local_time(view.created_at), "started_display": local_time(view.started_at),
        "finished_display": local_time(view.finished_at),
        "duration_display": human_duration(view.duration or running_for),
        "queue_wait_display": human_duration(data["queue_wait_seconds"]),
    })
    return data


def has_masked_secret(value: Any) -> bool:
    """Whether a stored (masked) spec lost a secret's value: it cannot be re-run as stored."""
    if isinstance(value, str):
        return MASK in value
    if isinstance(value, dict):
        return any(has_masked_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(has_masked_secret(v) for v in value)
    return False
