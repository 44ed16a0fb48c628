"""OutputSpool: the output of one live run that is not stored yet, in order, by offset.

It holds the newest bytes in memory, up to ``memory_bytes``; older ones spill to a file, so
a database outage costs disk, never memory, and never a byte. The bytes are redacted before
they get here (the recorder masks secrets first), so the file holds no secret in clear. The
file is an unlinked temporary file (``tempfile.TemporaryFile``, mode 0600) in
``$RUNWRIGHT_HOME/spool`` (else the system's temp directory): nothing of it is left on disk
when the run ends or the process dies. It is emptied (truncated) each time all it held is
stored, so it holds at most what is pending, itself bounded by the run's storage limit.

The file never takes a disk's last ``reserve_bytes`` (the database often lives on the same
disk and needs that room to store what is spooled): a spill that would, or that fails, leaves
the bytes in memory and ``held_back`` true, and the recorder makes the run wait for the writer
to store them (backpressure: the process being read waits on its pipe).

Not thread-safe: its owner (the recorder) holds its lock around every call. The writer reads
from the front (``peek``) and drops what it stored only once it is committed (``consume``),
while the runner appends at the back.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO

from runwright.logging_core.store import MAX_CHUNK, Chunk

#: Pending output a run keeps in memory before older bytes go to its spool file.
DEFAULT_MEMORY_BYTES = 512 * 1024
#: Free room on its disk that the spool file leaves to others (the database).
DEFAULT_RESERVE_BYTES = 64 << 20


@dataclass(slots=True)
class _Piece:
    """Pending bytes in memory."""

    stream: str
    data: bytearray
    offset: int
    at: datetime  # when its first byte was received


@dataclass(slots=True)
class _Segment:
    """Pending bytes in the spool file: ``length`` bytes at ``position``."""

    stream: str
    offset: int
    position: int
    length: int
    at: datetime


class OutputSpool:
    def __init__(self, memory_bytes: int = DEFAULT_MEMORY_BYTES, directory: str | None = None,
                 chunk_bytes: int = MAX_CHUNK, reserve_bytes: int = DEFAULT_RESERVE_BYTES) -> None:
        self.memory_bytes = memory_bytes
        self.reserve_bytes = reserve_bytes
        #: Appends of one stream are joined into chunks up to this size (a stored row each).
        self.chunk_bytes = min(max(chunk_bytes, 1), MAX_CHUNK)
        self.directory = directory
        self._memory: deque[_Piece] = deque()  # oldest first; the file's part comes before it
        self._in_memory = 0
        self._segments: deque[_Segment] = deque()
        self._in_file = 0
        self._file: IO[bytes] | None = None
        self._end_of_file = 0
        #: Bytes that ever went to the file (what a benchmark or a test can look at).
        self.spilled = 0

    @property
    def pending(self) -> int:
        """Bytes not stored yet."""
        return self._in_memory + self._in_file

    def __bool__(self) -> bool:
        return self.pending > 0

    @property
    def held_back(self) -> bool:
        """More than ``memory_bytes`` in memory: the file had no room for it."""
        return self._in_memory > self.memory_bytes

    def add(self, stream: str, data: bytes, offset: int) -> None:
        """Append ``data`` of ``stream`` at ``offset`` (right after what is pending)."""
        last = self._memory[-1] if self._memory else None
        if last is not None and last.stream == stream and len(last.data) + len(data) <= self.chunk_bytes:
            last.data.extend(data)
        else:  # a new chunk: received now (output joining it keeps this time)
            now = datetime.now(UTC)
            for i in range(0, len(data), MAX_CHUNK):
                self._memory.append(_Piece(stream, bytearray(data[i : i + MAX_CHUNK]), offset + i, now))
        self._in_memory += len(data)
        while self._in_memory > self.memory_bytes and self._memory and self._spill(self._memory[0]):
            self._memory.popleft()

    def peek(self, max_bytes: int, end: int | None = None) -> list[Chunk]:
        """The oldest pending chunks, about ``max_bytes`` of them (whole chunks, at least one),
        none past offset ``end``; nothing is removed."""
        out: list[Chunk] = []
        size = 0
        for seg in self._segments:
            if size >= max_bytes or (end is not None and seg.offset >= end):
                return out
            take = seg.length if end is None else min(seg.length, end - seg.offset)
            assert self._file is not None
            self._file.seek(seg.position)
            out.append(Chunk(seg.offset, seg.stream, self._file.read(take), seg.at))
            size += take
        for piece in self._memory:
            if size >= max_bytes or (end is not None and piece.offset >= end):
                break
            take = len(piece.data) if end is None else min(len(piece.data), end - piece.offset)
            out.append(Chunk(piece.offset, piece.stream, bytes(piece.data[:take]), piece.at))
            size += take
        return out

    def consume(self, nbytes: int) -> None:
        """Drop the oldest ``nbytes`` (stored now)."""
        while nbytes and self._segments:
            seg = self._segments[0]
            done = min(seg.length, nbytes)
            seg.offset, seg.position, seg.length = seg.offset + done, seg.position + done, seg.length - done
            self._in_file -= done
            nbytes -= done
            if not seg.length:
                self._segments.popleft()
        if not self._segments and self._file is not None and self._end_of_file:
            self._file.seek(0)  # all it held is stored: the file starts again, empty
            self._file.truncate()
            self._end_of_file = 0
        while nbytes and self._memory:
            piece = self._memory[0]
            done = min(len(piece.data), nbytes)
            del piece.data[:done]
            piece.offset += done
            self._in_memory -= done
            nbytes -= done
            if not piece.data:
                self._memory.popleft()
        if nbytes:
            raise ValueError(f"consume: {nbytes} bytes more than pending")

    def shift(self, delta: int) -> None:
        """Move every pending byte ``delta`` bytes further in the log (past a note another
        process stored at the offsets this run was about to use)."""
        for seg in self._segments:
            seg.offset += delta
        for piece in self._memory:
            piece.offset += delta

    def close(self) -> None:
        """Forget what is pending and remove the file."""
        self._memory.clear()
        self._segments.clear()
        self._in_memory = self._in_file = 0
        if self._file is not None:
            self._file.close()
            self._file = None
            self._end_of_file = 0

    def _spill(self, piece: _Piece) -> bool:
        """Write ``piece`` (the oldest in memory) at the file's end; False, with nothing
        changed, when its disk has no room for it beyond ``reserve_bytes`` or the write fails."""
        length = len(piece.data)
        try:
            if self._file is None:
                self._file = tempfile.TemporaryFile(dir=self._directory())  # noqa: SIM115 - open for the run's life, closed by close()
            disk = os.fstatvfs(self._file.fileno())
            if disk.f_bavail * disk.f_frsize - length < self.reserve_bytes:
                return False
            self._file.seek(self._end_of_file)
            self._file.write(piece.data)
            self._file.flush()  # a full disk is found now, not at a later seek or read
        except OSError:
            if self._file is not None:
                with contextlib.suppress(OSError):
                    self._file.seek(self._end_of_file)
                    self._file.truncate()
            return False
        last = self._segments[-1] if self._segments else None
        if last is not None and last.stream == piece.stream and last.offset + last.length == piece.offset \
                and last.position + last.length == self._end_of_file and last.length + length <= self.chunk_bytes:
            last.length += length
        else:
            self._segments.append(_Segment(piece.stream, piece.offset, self._end_of_file, length, piece.at))
        self._end_of_file += length
        self._in_file += length
        self._in_memory -= length
        self.spilled += length
        return True

    def _directory(self) -> str | None:
        if self.directory is not None:
            return self.directory
        home = os.environ.get("RUNWRIGHT_HOME")
        if not home:
            return None  # the system's temp directory
        path = os.path.join(home, "spool")
        try:
            os.makedirs(path, mode=0o700, exist_ok=True)
        except OSError:
            return None
        return path
