"""A disk that fills up mid-run: the database keeps what fits, the spool never takes the
database's last room, and the run ends ``error`` saying so."""

from __future__ import annotations

import errno
from typing import Any

import pytest

from runwright.logging_core import ExecutionLogger, MemoryStore
from runwright.logging_core.spool import OutputSpool
from runwright.logging_core.store import Chunk
from runwright.runners import RecordingStopped, RunSpec, Status

SMALLEST_WRITE = 4096  # runwright.logging_core.writer.SMALLEST_WRITE


class SmallDiskStore(MemoryStore):
    """A store whose disk holds ``room`` bytes of output; past that a write fails with ENOSPC,
    as a full disk says."""

    def __init__(self, room: int) -> None:
        super().__init__()
        self.room, self.used = room, 0

    def append_output(self, ref: Any, chunks: list[Chunk]) -> None:
        size = sum(len(c.data) for c in chunks)
        if self.used + size > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        super().append_output(ref, chunks)
        self.used += size


def stored_log(logger: ExecutionLogger) -> tuple[Any, bytes]:
    view = logger.list(limit=1)[0]
    return view, b"".join(c.data for c in logger.iter_log(view.id))


def test_a_database_that_fills_up_mid_run_keeps_what_fits_and_stops_the_run() -> None:
    room = 300_000
    logger = ExecutionLogger(SmallDiskStore(room))
    # The work would go on for ten minutes: it ends because the writer stops it, and run()
    # raises why (as for any write that keeps failing), chained to the store's error.
    with pytest.raises(RecordingStopped, match="^the database has no room left, recording stopped: ") as info:
        logger.run(RunSpec(["sh", "-c", "head -c 3000000 /dev/zero | tr '\\0' x; exec sleep 600"]))
    assert isinstance(info.value.__cause__, OSError) and info.value.__cause__.errno == errno.ENOSPC
    view, stored = stored_log(logger)
    assert view.status == Status.ERROR
    assert view.error_message.startswith("the database has no room left, recording stopped: "), view.error_message
    # Writes are halved down to SMALLEST_WRITE before giving up: all but that last bit fits.
    assert set(stored) == {ord("x")} and room - SMALLEST_WRITE <= len(stored) <= room


def test_a_run_that_ends_before_the_database_fills_keeps_its_status_and_says_what_is_missing() -> None:
    room = 300_000
    logger = ExecutionLogger(SmallDiskStore(room))
    command = ["sh", "-c", "head -c 3000000 /dev/zero | tr '\\0' x"]
    # What could not be stored is raised once the final status is (as for any failed write),
    # unless the writer stopped the run first (its error then says so).
    with pytest.raises((OSError, RecordingStopped)) as info:
        logger.run(RunSpec(command))
    assert (info.value if isinstance(info.value, OSError) else info.value.__cause__).errno == errno.ENOSPC  # type: ignore[union-attr]
    view, stored = stored_log(logger)
    if view.status == Status.SUCCESS:  # the command ended first: its status stays, the gap is said
        assert view.error_message == "output not fully stored: the database has no room left"
    else:
        assert view.status == Status.ERROR
        assert view.error_message.startswith("the database has no room left, recording stopped: "), view.error_message
    assert set(stored) == {ord("x")} and room - SMALLEST_WRITE <= len(stored) <= room


def test_the_spool_leaves_the_disks_last_room_and_holds_back_in_memory(tmp_path) -> None:  # type: ignore[no-untyped-def]
    spool = OutputSpool(memory_bytes=1024, directory=str(tmp_path), reserve_bytes=1 << 62)
    for i in range(5):
        spool.add("stdout", bytes([65 + i]) * 1000, i * 1000)
    assert spool.spilled == 0 and spool.held_back and spool.pending == 5000
    assert b"".join(c.data for c in spool.peek(1 << 20)) == b"".join(bytes([65 + i]) * 1000 for i in range(5))
    spool.consume(4500)
    assert not spool.held_back and b"".join(c.data for c in spool.peek(1 << 20)) == b"E" * 500


def test_the_spool_spills_where_there_is_room(tmp_path) -> None:  # type: ignore[no-untyped-def]
    spool = OutputSpool(memory_bytes=1024, directory=str(tmp_path), reserve_bytes=0)
    for i in range(5):
        spool.add("stdout", bytes([65 + i]) * 1000, i * 1000)
    assert spool.spilled >= 3000 and not spool.held_back
    assert b"".join(c.data for c in spool.peek(1 << 20)) == b"".join(bytes([65 + i]) * 1000 for i in range(5))
