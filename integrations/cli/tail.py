"""Where the last N lines of an execution's log begin (``runwright logs --tail N``), found by
reading the stored log backwards a block at a time, so a huge log is never read whole."""

from __future__ import annotations

from typing import Any

#: Bytes read per step backwards.
BLOCK = 64 * 1024


def tail_offset(logger: Any, ref: Any, lines: int) -> int:
    """The byte offset in the combined log (stdout, stderr and runwright's own lines, as
    stored) where its last ``lines`` lines start; 0 when it has fewer. A last line without
    its newline counts as a line, as ``tail`` counts it."""
    end = logger.store.log_end(ref)
    if lines <= 0:
        return end
    wanted = lines
    position = end
    first_block = True
    while position > 0:
        start = max(0, position - BLOCK)
        data = _read(logger, ref, start, position)
        if first_block and data.endswith(b"\n"):
            data = data[:-1]  # the final newline ends the last line; it does not start one
            position -= 1
        first_block = False
        index = len(data)
        while True:
            index = data.rfind(b"\n", 0, index)
            if index < 0:
                break
            wanted -= 1
            if wanted == 0:
                return start + index + 1
        position = start
    return 0


def _read(logger: Any, ref: Any, start: int, stop: int) -> bytes:
    parts = []
    for chunk in logger.iter_log(ref, start):
        if chunk.offset >= stop:
            break
        begin = max(start - chunk.offset, 0)
        parts.append(chunk.data[begin: stop - chunk.offset])
    return b"".join(parts)
