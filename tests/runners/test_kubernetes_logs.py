"""The pod log follower's resume: a stream dropped mid-run is reopened and continues without
a gap or a repeat, also when several lines share one timestamp. The dropped connection is
played by a log API whose streams end where the test says (the real cluster cannot drop one on
demand); the runner's tests on the real cluster cover the unbroken path."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from runwright.runners.kubernetes_logs import LogFollower, parse_timestamp


class DroppedStream(Exception):
    pass


class Response:
    def __init__(self, chunks: list[bytes], drop: bool) -> None:
        self.chunks, self.drop = chunks, drop

    def stream(self, amt: int, decode_content: bool = False) -> Iterator[bytes]:
        yield from self.chunks
        if self.drop:
            raise DroppedStream("connection reset by peer")

    def release_conn(self) -> None:
        pass


class LogApi:
    """Serves the given streams in order and records the request arguments."""

    def __init__(self, streams: list[tuple[list[bytes], bool]]) -> None:
        self.streams = streams
        self.calls: list[dict[str, Any]] = []

    def read_namespaced_pod_log(self, name: str, namespace: str, **kwargs: Any) -> Response:
        self.calls.append(kwargs)
        chunks, drop = self.streams[len(self.calls) - 1]
        return Response(chunks, drop)


T1, T2, T3 = b"2026-11-29T10:00:00.1Z", b"2026-11-29T10:00:00.25Z", b"2026-11-29T10:00:01.000000003Z"


def follow(api: LogApi, done_after: int) -> tuple[bytes, LogFollower]:
    out = bytearray()
    asked = [0]

    def is_done() -> bool:
        asked[0] += 1
        return asked[0] >= done_after

    follower = LogFollower(api, "ns", "pod", "main", out.extend, is_done)
    follower.follow()
    return bytes(out), follower


@pytest.mark.parametrize("broken", [True, False], ids=["connection-reset", "stream-ended-early"])
def test_a_dropped_stream_resumes_without_gap_or_repeat(broken: bool) -> None:
    api = LogApi([
        # first stream: two lines share T2; the line at T3 is cut off by the drop (an error, or
        # the stream ending while the container still runs)
        ([T1 + b" a\n" + T2 + b" b\n", T2 + b" c\n" + T3 + b" partial-d"], broken),
        # resumed: starts a little earlier (sinceSeconds), repeats what was seen, then goes on
        ([T1 + b" a\n" + T2 + b" b\n" + T2 + b" c\n" + T3 + b" partial-d\n" + T3 + b" e\n"], False),
    ])
    # is_done is asked when a stream ends: after a reset once, after an early end twice
    out, follower = follow(api, done_after=2 if broken else 3)
    assert out == b"a\nb\nc\npartial-d\ne\n"
    assert follower.resumes == 1
    assert "since_seconds" not in api.calls[0] and api.calls[1]["since_seconds"] >= 1
    assert all(call["follow"] and call["timestamps"] for call in api.calls)


def test_lines_sharing_a_timestamp_after_the_resume_point_are_kept() -> None:
    api = LogApi([
        ([T2 + b" b\n"], True),
        ([T2 + b" b\n" + T2 + b" b-again-same-ts\n"], False),
    ])
    out, _ = follow(api, done_after=2)
    assert out == b"b\nb-again-same-ts\n"


def test_a_last_line_without_newline_is_forwarded_when_the_container_ended() -> None:
    out, _ = follow(LogApi([([T1 + b" one\n" + T1 + b" no newline"], False)]), done_after=1)
    assert out == b"one\nno newline"


def test_timestamps_compare_as_numbers_not_text() -> None:
    # RFC3339Nano drops trailing zeros: ".25" is later than ".1" and earlier than ".3"
    assert parse_timestamp(b"2026-11-29T10:00:00.1Z") < parse_timestamp(b"2026-11-29T10:00:00.25Z")
    assert parse_timestamp(b"2026-11-29T10:00:00.25Z") < parse_timestamp(b"2026-11-29T10:00:00.3Z")
    assert parse_timestamp(b"2026-11-29T10:00:00Z") < parse_timestamp(b"2026-11-29T10:00:00.000000001Z")


def test_a_failing_emit_in_the_batcher_is_raised_by_follow() -> None:
    """Output handed on from the batcher thread: if the sink refuses it, follow() says so
    (before, a failing batch thread died with the error printed and its bytes lost silently)."""
    import threading

    failed = threading.Event()

    class Waiting(Response):
        def stream(self, amt: int, decode_content: bool = False) -> Iterator[bytes]:
            yield T1 + b" a\n"
            assert failed.wait(30), "the batcher never handed the line on"

    class Api(LogApi):
        def read_namespaced_pod_log(self, name: str, namespace: str, **kwargs: Any) -> Response:
            return Waiting([], False)

    def emit(data: bytes) -> None:
        failed.set()
        raise RuntimeError("the sink refused the output")

    follower = LogFollower(Api([]), "ns", "pod", "main", emit, lambda: True)
    with pytest.raises(RuntimeError, match="sink refused"):
        follower.follow()
