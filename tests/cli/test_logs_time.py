"""`runwright logs --timestamps` and `--since`, as a user runs them: a real process reading
the database this test records into (SQLite in the tests' data directory, or PostgreSQL with
DATABASE_URL), its output and exit code."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from runwright.logging_core import ExecutionLogger
from runwright.logging_core.store import Chunk
from runwright.runners import RunResult, RunSpec, Status

BIN = str(Path(sys.executable).parent / "runwright")
SPEC = RunSpec(["true"])


def rw(*args: str) -> subprocess.CompletedProcess[str]:
    # The CLI's database is the tests' own (conftest): RUNWRIGHT_HOME's SQLite, or DATABASE_URL.
    return subprocess.run([BIN, "logs", *args], env=dict(os.environ), capture_output=True, text=True, timeout=60)


def ts(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def clock_past(t: datetime) -> datetime:
    """Now, once the clock reads later than ``t`` (its next microsecond; no fixed wait)."""
    while (now := datetime.now(UTC)) <= t:
        pass
    return now


@pytest.fixture
def logger() -> ExecutionLogger:
    return ExecutionLogger(structured_log=False, metrics=False)


def recorded(logger: ExecutionLogger, chunks: list[tuple[str, bytes, datetime | None]], exit_code: int = 0) -> str:
    """An execution that ended with ``exit_code``, whose log is ``chunks`` (stream, bytes,
    the time each was received), written through the Store API; returns its id."""
    ref = logger.create(SPEC)
    offset, stored = 0, []
    for stream, data, at in chunks:
        stored.append(Chunk(offset, stream, data, at))
        offset += len(data)
    logger.store.append_output(ref, stored)
    assert logger.transition(ref, Status.RUNNING)
    assert logger.transition(ref, Status.SUCCESS if exit_code == 0 else Status.FAILED, {"return_code": exit_code})
    return str(ref)


T = [datetime(2026, 12, 7, 11, 56, 1, 123456, tzinfo=UTC) + timedelta(seconds=i) for i in range(5)]
T[4] = T[4].replace(microsecond=0)  # printed with all six digits: the prefixes align


def test_timestamps_start_every_line_also_one_split_across_chunks(logger: ExecutionLogger) -> None:
    ref = recorded(logger, [
        ("stdout", b"hel", T[0]), ("stdout", b"lo\nwor", T[1]), ("stderr", b"oops\n", T[2]),
        ("system", b"[runwright] a note\n", T[3]), ("stdout", b"ld\nlast", T[4]),
    ], exit_code=3)
    for args in (["--timestamps"], ["-t"], ["-t", "--follow"]):
        out = rw(ref, *args)
        assert out.stdout == f"{ts(T[0])} hello\n{ts(T[1])} world\n{ts(T[4])} last", args
        assert out.stderr == f"{ts(T[2])} oops\n{ts(T[3])} [runwright] a note\n", args
        assert out.returncode == (3 if "--follow" in args else 0)
    assert ts(T[4]).endswith(".000000Z")
    # --tail and --offset: the first line printed starts with its chunk's time too.
    assert rw(ref, "-t", "--tail", "2").stdout == f"{ts(T[4])} ld\n{ts(T[4])} last"
    assert rw(ref, "-t", "--offset", "4").stdout == f"{ts(T[1])} o\n{ts(T[1])} world\n{ts(T[4])} last"
    assert rw(ref).stdout == "hello\nworld\nlast"  # without the option: the log as stored


def test_since_a_time_prints_what_was_received_from_then_on(logger: ExecutionLogger) -> None:
    # Recorded as a run records: output, a point noted after it was stored, more output.
    ref = logger.create(SPEC)
    rec = logger.recorder(ref, SPEC)
    assert rec.claim() is None
    rec.output("stdout", b"before\n")
    rec.output("stderr", b"before err\n")
    rec.flush()
    first = logger.read_log(ref)[0].at
    assert first is not None
    mark = clock_past(max(c.at for c in logger.read_log(ref) if c.at is not None))
    rec.output("stdout", b"after\n")
    rec.output("stderr", b"after err\n")
    rec.flush()
    rec.finished(RunResult(status=Status.SUCCESS, exit_code=0))

    for given in (ts(mark), mark.astimezone(UTC).isoformat(), mark.astimezone(timezone_plus_one()).isoformat()):
        out = rw(str(ref), "--since", given)
        assert (out.returncode, out.stdout, out.stderr) == (0, "after\n", "after err\n"), given
    both = rw(str(ref), "--since", ts(first))  # at or after: the first chunk's own time selects it
    assert (both.stdout, both.stderr) == ("before\nafter\n", "before err\nafter err\n")
    assert rw(str(ref), "--since", ts(clock_past(datetime.now(UTC)))).stdout == ""
    after = logger.read_log(ref, since=mark)[0].at
    assert after is not None
    assert rw(str(ref), "--since", ts(mark), "-t", "--follow").stdout == f"{ts(after)} after\n"


def timezone_plus_one() -> Any:
    from datetime import timezone

    return timezone(timedelta(hours=1))


def test_since_a_duration_counts_back_from_now(logger: ExecutionLogger) -> None:
    now = datetime.now(UTC)
    ref = recorded(logger, [
        ("stdout", b"3h ago\n", now - timedelta(hours=3)), ("stdout", b"2h ago\n", now - timedelta(hours=2)),
        ("stderr", b"10m ago\n", now - timedelta(minutes=10)), ("stdout", b"now\n", now),
    ])
    cases = {"1h": ("now\n", "10m ago\n"), "2h30m": ("2h ago\nnow\n", "10m ago\n"), "90m": ("now\n", "10m ago\n"),
             "1.5h": ("now\n", "10m ago\n"), "4h": ("3h ago\n2h ago\nnow\n", "10m ago\n"), "300s": ("now\n", "")}
    for given, (stdout, stderr) in cases.items():
        out = rw(ref, "--since", given)
        assert (out.returncode, out.stdout, out.stderr) == (0, stdout, stderr), given
    # With --tail: the last lines of what was received since then.
    assert rw(ref, "--since", "2h30m", "--tail", "1").stdout == "now\n"


@pytest.mark.parametrize(("value", "why"), [
    ("2d", "unknown unit 'd'; units are h, m, s, ms, us, ns (2d is 48h)"),
    ("90", "a number needs its unit: 90s, 90m or 90h"),
    ("-5m", "a duration back from now cannot be negative"),
    ("0s", "a duration back from now must be more than zero"),
    ("1h30", "a number needs its unit: 30s, 30m or 30h"),
    ("yesterday", "expected a duration (90s, 10m, 1h30m) or an RFC 3339 time (2026-12-07T10:00:00Z)"),
    ("", "expected a duration"),
    ("2026-12-07T10:00:00", "a time needs its UTC offset (Z, or +01:00)"),
    ("2026-12-07", "expected a duration"),
    ("2026-13-07T10:00:00Z", "not a valid time: month must be in 1..12"),
    ("99999999999h", "reaches back before the year 1"),
])
def test_a_bad_since_is_one_line_naming_it_and_exit_2(logger: ExecutionLogger, value: str, why: str) -> None:
    ref = recorded(logger, [("stdout", b"kept\n", datetime.now(UTC))])
    out = rw(ref, "--since", value)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.startswith(f"runwright: --since {value!r}: ") and why in out.stderr
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert rw(ref).stdout == "kept\n"  # nothing recorded is touched


def test_chunks_stored_before_chunks_had_a_time(logger: ExecutionLogger) -> None:
    from runwright.integrations.django.models import LogChunk

    ref = logger.create(SPEC)
    LogChunk.objects.create(execution_id=ref, offset=0, stream="o", data=b"old one\nold ")  # as migration 0008 left it
    now = datetime.now(UTC)
    logger.store.append_output(ref, [Chunk(12, "stdout", b"two\nnew\n", now)])
    assert logger.transition(ref, Status.RUNNING) and logger.transition(ref, Status.SUCCESS, {"return_code": 0})
    # No prefix where a line starts in a chunk without a time; --since leaves such chunks out.
    assert rw(str(ref), "-t").stdout == f"old one\nold two\n{ts(now)} new\n"
    assert rw(str(ref), "--since", "1h").stdout == "two\nnew\n"
