"""``runwright logs --timestamps``: each line printed starts with the time its chunk was
received, in UTC, as ``docker logs -t`` and ``kubectl logs --timestamps`` print it
(``2026-12-07T11:56:01.123456Z ``: RFC 3339, a fixed-width fraction, so lines align)."""

from __future__ import annotations

from datetime import UTC, datetime


def rfc3339(at: datetime) -> str:
    """``at`` in UTC with microseconds and ``Z``: ``2026-12-07T11:56:01.123456Z``."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LineTimes:
    """Puts the time before every line start of what is printed, per output (stdout and
    stderr are two: a line of one can be cut by a chunk of the other, and still continues
    where it stopped). A line is stamped with the time of the chunk where it starts; a line
    that starts in a chunk without a time (stored before chunks had one) is printed as it is."""

    def __init__(self) -> None:
        #: Whether the next byte printed on each output starts a line.
        self._at_start: dict[str, bool] = {}

    def stamp(self, output: str, data: bytes, at: datetime | None) -> bytes:
        """``data``, as printed next on ``output``, with the prefix at each of its line starts."""
        if not data:
            return data
        starts = self._at_start.get(output, True)
        ends = data.endswith(b"\n")
        self._at_start[output] = ends
        if at is None:
            return data
        prefix = rfc3339(at).encode() + b" "
        body = data[:-1] if ends else data
        stamped = body.replace(b"\n", b"\n" + prefix) + (b"\n" if ends else b"")
        return prefix + stamped if starts else stamped
