"""The output storage limit (``ExecutionLogger(max_stored_bytes=...)``): what of a write fits,
and the one marker line in the ``system`` stream that says how many bytes did not.

The recorder (live runs) writes the marker once, at the run's end; the legacy API, which has
no end to wait for, writes it at the first drop and rewrites it in place at each later one,
so its count is padded to ``COUNT_WIDTH`` digits and no offset ever moves."""

from __future__ import annotations

import re
from typing import Any

from runwright.logging_core.store import Chunk, Store

#: The marker line; group 1 is the limit it names, group 2 the bytes it counts.
MARKER = re.compile(rb"\[runwright\] output storage limit of (\d+) bytes reached: (\d+) more bytes were produced "
                    rb"and not stored *\n")
#: The legacy API's marker has its count padded (with spaces after the line's text) to this
#: many digits, so that it is rewritten in place, as long as it was, when more bytes are dropped.
COUNT_WIDTH = 20


def fit(data: bytes, room: int) -> tuple[bytes, int]:
    """What of ``data`` fits in ``room`` bytes (nothing when ``room`` is 0 or less), and how
    many bytes of it do not."""
    room = max(room, 0)
    return data[:room], max(len(data) - room, 0)


def marker(limit: int, dropped: int, size: int | None = None, count_width: int = 0) -> bytes:
    """The marker line (newline-ended) for ``dropped`` bytes not stored past ``limit`` bytes.
    ``size``: the line's length in bytes, spaces before its newline filling it (a marker
    rewritten in place keeps the length of the one it replaces); else the count is padded
    to ``count_width`` digits (0: no padding)."""
    text = (f"[runwright] output storage limit of {limit} bytes reached: "
            f"{dropped} more bytes were produced and not stored").encode()
    pad = (size - len(text) - 1) if size is not None else count_width - len(str(dropped))
    return text + b" " * max(pad, 0) + b"\n"


def last_marker(store: Store, ref: Any) -> tuple[Chunk, int, int] | None:
    """The execution's storage-limit marker, padded or not: (its chunk, the limit it names, its
    count); None when its log has none."""
    shortest, longest = len(marker(1, 0)), len(marker(10**20, 0, count_width=COUNT_WIDTH))
    for chunk in store.chunks_sized(ref, "system", shortest, longest):
        found = MARKER.fullmatch(chunk.data)
        if found:
            return chunk, int(found[1]), int(found[2])
    return None


__all__ = ["COUNT_WIDTH", "MARKER", "fit", "last_marker", "marker"]
