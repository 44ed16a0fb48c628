"""Following a pod's log live, resuming after a dropped stream without gaps or repeats.

``(last, same)`` (the timestamp of the last line forwarded, and how many lines with exactly
that timestamp were forwarded) is the follower's cursor: a follower created with a cursor
(another worker's, stored as the run's live metadata) skips every line up to it.

The log is read with ``follow=true&timestamps=true``: every line starts with the kubelet's
RFC3339Nano timestamp. When the stream drops while the container still runs, it is opened
again with ``sinceSeconds`` reaching a safety margin further back than the last line received
(``sinceTime`` and ``sinceSeconds`` have one-second granularity), and lines are skipped up to
and including the last one received: compared by (timestamp, position among the lines with
that same timestamp). Stdout and stderr arrive interleaved on one stream (the v1.20 log API
does not separate them); the runner forwards them as ``stdout``.
"""

from __future__ import annotations

import functools
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

#: Seconds further back than the last line received that a resumed stream starts: covers the
#: one-second granularity and clock differences between this host and the node.
RESUME_MARGIN = 10
CHUNK = 256 * 1024
#: Output read close together is handed on in one batch: at most this late, or this many
#: chunks (the kubelet's chunk is a line: some 100 bytes each, 10 MB at most of short lines).
BATCH_SECONDS = 0.05
BATCH_CHUNKS = 100_000
#: The kubelet's timestamp and the space after it, with the newline that ends the line before.
_TIMESTAMP = re.compile(rb"\n\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z ")


@functools.lru_cache(maxsize=64)
def _epoch(whole: bytes) -> int:
    return int(datetime.strptime(whole.decode("ascii"), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp())


def parse_timestamp(text: bytes) -> tuple[int, int]:
    """``2026-11-29T10:00:00.123456789Z`` -> (epoch seconds, nanoseconds). RFC3339Nano drops
    trailing zeros of the fraction, so timestamps are compared as numbers, never as text.
    Raises ValueError for anything else."""
    if not text.endswith(b"Z"):
        raise ValueError(f"not a timestamp: {text[:40]!r}")
    whole, dot, digits = text[:-1].partition(b".")
    frac = int((digits + b"000000000")[:9]) if dot else 0
    return _epoch(whole), frac


class LogFollower:
    """Forwards one pod's container log to ``emit`` until the container has ended.

    ``is_done()`` is asked whenever a stream ends: True when the container has terminated (its
    log is complete) or the run is stopping; False resumes. ``emit`` gets the log's bytes with
    the timestamps removed, a batch of whole lines at a time (a last line without a newline
    is forwarded when the container ended).
    """

    def __init__(self, core: Any, namespace: str, pod: str, container: str,
                 emit: Callable[[bytes], None], is_done: Callable[[], bool],
                 after: tuple[int, int] | None = None, same: int = 0) -> None:
        self.core, self.namespace, self.pod, self.container = core, namespace, pod, container
        self.emit, self.is_done = emit, is_done
        #: Timestamp of the last line forwarded (or, resuming, stored by an earlier worker).
        self.last: tuple[int, int] | None = after
        #: Lines forwarded with exactly that timestamp: (last, same) is the cursor.
        self.same = same if after is not None else 0
        self.resumes = 0
        self.interrupted = False
        self._resp: Any = None
        #: The cursor of the last batch handed to ``emit`` (what a worker taking over resumes after).
        self.emitted: tuple[tuple[int, int] | None, int] = (self.last, self.same)
        #: Chunks read and not yet processed: appended by the reading thread, taken by the
        #: batcher (a deque's append and popleft are thread-safe: no lock per chunk).
        self._chunks: deque[bytes] = deque()
        self._partial = b""  # the start of a line whose newline has not arrived yet
        self._out_lock = threading.Lock()  # one batch processed at a time, in the order read
        self._stopped = threading.Event()
        self._error: BaseException | None = None  # what the batcher's emit raised
        self._skip_same = 0  # lines with timestamp `last` still to skip in this stream

    # -- batching: the kubelet sends a log line per HTTP chunk; chunks that arrive together are
    # handed on together (at most BATCH_SECONDS late), so each batch costs one emit and one cursor.
    # The reading thread only appends each chunk to a deque (a 50 MB log is 500,000 chunks: every
    # microsecond spent per chunk is half a second); a batcher thread cuts lines once per batch.
    def flush(self) -> None:
        """Process and hand on the whole lines read so far (called by the batcher every
        BATCH_SECONDS, between streams, at the end); a partial last line waits for its newline."""
        with self._out_lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        chunks = self._chunks
        n = len(chunks)
        if not n:
            return
        data = self._partial + b"".join([chunks.popleft() for _ in range(n)])
        cut = data.rfind(b"\n") + 1
        self._partial = data[cut:]
        if cut:
            self._forward_block(data[:cut])

    def _batch(self) -> None:
        """The batcher thread: hands on what was read every BATCH_SECONDS until follow() ends."""
        while not self._stopped.wait(BATCH_SECONDS):
            if self._chunks:
                try:
                    self.flush()
                except BaseException as exc:  # emit failed (the sink): raised in follow()'s thread
                    self._error = exc
                    return

    def _raise_batch_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _emit(self, data: bytes) -> None:
        """Called under the lock, in the order read: the cursor first, then the data."""
        self.emitted = (self.last, self.same)
        self.emit(data)

    def interrupt(self) -> None:
        """Stop following, from another thread: the stream being read is shut down at once."""
        self.interrupted = True
        resp = self._resp
        conn = getattr(resp, "connection", None) if resp is not None else None
        sock = getattr(conn, "sock", None) if conn is not None else None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def follow(self) -> None:
        """Follow the log to the container's end (or an interrupt); everything read is handed
        to ``emit`` before this returns."""
        batcher = threading.Thread(target=self._batch, name=f"log-batcher-{self.pod}", daemon=True)
        batcher.start()
        try:
            self._follow()
        finally:
            self._stopped.set()
            batcher.join()
            self._raise_batch_error()
            self.flush()

    def _follow(self) -> None:
        from kubernetes.client import ApiException

        while not self.interrupted:
            self.flush()  # the cursor is up to date before a stream (re)starts
            kwargs: dict[str, Any] = {"container": self.container, "follow": True, "timestamps": True,
                                      "_preload_content": False}
            if self.last is not None:
                kwargs["since_seconds"] = max(1, int(time.time() - self.last[0]) + RESUME_MARGIN)
            resp = None
            self._skip_same = self.same
            try:
                resp = self._resp = self.core.read_namespaced_pod_log(self.pod, self.namespace, **kwargs)
                complete = self._read(resp)
            except ApiException as exc:
                if exc.status in (400, 404) and self.is_done():
                    return
                if exc.status == 404:
                    raise
                complete = False
            except Exception:  # the connection dropped (urllib3 ProtocolError, reset): resume
                complete = False
            finally:
                self._resp = None
                if resp is not None:
                    resp.release_conn()
            if self.interrupted:
                return
            if complete or self.is_done():
                if not complete:
                    self.flush()
                    self._final_read()
                return
            self.resumes += 1
            time.sleep(0.2)  # the stream ended while the container runs; do not spin

    def _final_read(self) -> None:
        """The container ended while a stream was broken: read the rest, unfollowed."""
        from kubernetes.client import ApiException

        kwargs: dict[str, Any] = {"container": self.container, "timestamps": True, "_preload_content": False}
        if self.last is not None:
            kwargs["since_seconds"] = max(1, int(time.time() - self.last[0]) + RESUME_MARGIN)
        self._skip_same = self.same
        try:
            resp = self.core.read_namespaced_pod_log(self.pod, self.namespace, **kwargs)
        except ApiException:
            return  # the pod is gone: nothing more can be read
        try:
            self._read(resp)
        finally:
            resp.release_conn()

    def _read(self, resp: Any) -> bool:
        """Read one stream to its end; True when it ended cleanly and the container is done."""
        put, chunks = self._chunks.append, self._chunks
        try:
            for chunk in resp.stream(CHUNK, decode_content=False):
                put(chunk)
                if len(chunks) >= BATCH_CHUNKS:  # the batcher fell behind: bound the memory held
                    self.flush()
        except BaseException:  # the stream broke: its whole lines count, a partial one comes again
            with self._out_lock:
                self._flush_locked()
                self._partial = b""
            raise
        done = self.is_done()
        with self._out_lock:
            self._flush_locked()
            if self._partial and done:  # the container's last line, without a newline
                self._forward([self._partial], final=True)
            # Not done: a partial line comes again whole in the resumed stream (it is after the cursor).
            self._partial = b""
        return done

    def _forward_block(self, block: bytes) -> None:
        """Whole lines (``block`` ends with a newline). When every line is after the cursor (the
        usual case: nothing to skip) the timestamps are removed in one pass and only the last
        line's timestamp is parsed; otherwise line by line."""
        space = block.find(b" ")
        try:
            first = parse_timestamp(block[:space]) if space > 0 else None
        except ValueError:
            first = None
        if first is not None and self._skip_same == 0 and (self.last is None or first > self.last):
            # every line's timestamp, anchored on the newline before it (a fast literal search)
            stripped, n = _TIMESTAMP.subn(b"\n", b"\n" + block)
            stripped = stripped[1:]
            if n == block.count(b"\n"):  # every line is a log line
                start = block.rfind(b"\n", 0, len(block) - 1) + 1
                text = block[start:block.find(b" ", start)]
                self.last = parse_timestamp(text)
                # lines with exactly that timestamp (a line's timestamp is never before the last one's)
                self.same = block.count(b"\n" + text + b" ") + (1 if block.startswith(text + b" ") else 0)
                self._emit(stripped)
                return
        self._forward(block.split(b"\n")[:-1], final=False)

    def _forward(self, lines: list[bytes], final: bool) -> None:
        out = []
        for line in lines:
            ts_text, _, content = line.partition(b" ")
            try:
                ts = parse_timestamp(ts_text)
            except ValueError:
                # not a log line: the kubelet's error text when the container went away mid-read
                # ('rpc error: ... container "..." not found'); it is not the command's output
                continue
            if self.last is None or ts > self.last:
                self.last, self.same, self._skip_same = ts, 1, 0
            elif ts < self.last:
                continue  # read before, in an earlier stream
            elif self._skip_same > 0:
                self._skip_same -= 1
                continue
            else:
                self.same += 1
            out.append(content)
        if out:
            self._emit(b"\n".join(out) + (b"" if final else b"\n"))
