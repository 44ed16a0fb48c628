"""One truth per run, through the public API: one offset owner per log (notes during and
before a run), one cancel path (every cancel stops the work and run() returns the row's
status), an idempotent claim."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from runwright.integrations.django.models import Execution
from runwright.logging_core import ExecutionLogger, MemoryStore
from runwright.runners import NullReporter, RunSpec, Status
from tests.helpers import pids_with, token

PATIENCE = 120.0


class FirstOutput(NullReporter):
    """A tee that sets ``seen`` when the run's first output reaches the console side, and
    ``all_before`` once every line printed before the gate has (so a note made then lands
    after them all, not between two of them while the shell is still printing)."""

    def __init__(self, last_before: bytes = b"before 50\n") -> None:
        self.seen = threading.Event()
        self.all_before = threading.Event()
        self._last_before = last_before
        self._tail = b""

    def output(self, stream: Any, data: bytes) -> None:
        self.seen.set()
        self._tail = (self._tail + data)[-64:]
        if self._last_before in self._tail:
            self.all_before.set()


def gated(gate: Path, lines: int = 50) -> RunSpec:
    """Prints ``lines`` lines, waits for ``gate`` to exist, prints as many again."""
    script = (f"for i in $(seq {lines}); do echo before $i; done; "
              f"while [ ! -e {gate} ]; do sleep 0.01; done; "
              f"for i in $(seq {lines}); do echo after $i; done")
    return RunSpec(["sh", "-c", script], timeout=PATIENCE)


def in_thread(fn: Any, *args: Any, **kwargs: Any) -> tuple[threading.Thread, list[Any]]:
    box: list[Any] = []
    thread = threading.Thread(target=lambda: box.append(fn(*args, **kwargs)), daemon=True)
    thread.start()
    return thread, box


def log_of(logger: ExecutionLogger, ref: Any) -> bytes:
    chunks = logger.read_log(ref)
    offset = 0
    for chunk in chunks:  # no gap, no overlap: one numbering of the whole log
        assert chunk.offset == offset, (chunk.offset, offset)
        offset += len(chunk.data)
    return b"".join(c.data for c in chunks)


def expected_output(lines: int = 50) -> bytes:
    return "".join([*(f"before {i}\n" for i in range(1, lines + 1)),
                    *(f"after {i}\n" for i in range(1, lines + 1))]).encode()


# -- one offset owner per log ---------------------------------------------------------------
@pytest.mark.parametrize("writer", ["same logger", "another logger (another process)", "legacy class API"])
def test_notes_during_a_run_never_collide_with_its_output(tmp_path: Path, writer: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # Regression: log_execution_info during a run took the offset the run's own next flush
    # was about to use (UNIQUE(execution, offset)): the command was killed, the row went
    # error and run() raised. The flush interval is long, so the run holds unflushed output
    # at exactly the offsets a note would take from the stored end.
    logger = ExecutionLogger(flush_interval=3600, flush_bytes=1 << 30)
    spec = gated(tmp_path / "gate")
    ref = logger.create(spec)
    console = FirstOutput()
    thread, box = in_thread(logger.run, spec, ref, tee=console)
    # Every "before" line first: a note made while the shell still prints lands between two
    # of its lines (after the output so far, as it should), which this test does not check.
    assert console.all_before.wait(PATIENCE)
    if writer == "same logger":
        note = logger.log_execution_info
    elif writer == "legacy class API":
        from runwright.logging_core import legacy

        monkeypatch.setattr(legacy, "_core", logger)
        note = legacy.ExecutionLogger.log_execution_info
    else:
        note = ExecutionLogger().log_execution_info
    for i in range(3):
        note(ref, f"deploy note {i}")
    (tmp_path / "gate").touch()
    thread.join(PATIENCE)
    result = box[0]
    assert result.status == Status.SUCCESS, result.error
    stored = log_of(logger, ref)
    notes = b"".join(f"[INFO] deploy note {i}\n".encode() for i in range(3))
    assert notes in stored
    assert stored.replace(notes, b"") == expected_output()
    assert Execution.objects.get(pk=ref).status == "success"


def test_a_note_before_the_run_keeps_the_runs_output(tmp_path: Path) -> None:
    # Regression: a note on a pending execution took offset 0; the run then wrote its output
    # from 0 again and lost it.
    logger = ExecutionLogger()
    (tmp_path / "gate").touch()
    spec = gated(tmp_path / "gate", 5)
    ref = logger.create(spec)
    logger.log_execution_info(ref, "queued by the deploy portal")
    result = logger.run(spec, ref)
    assert result.status == Status.SUCCESS, result.error
    assert log_of(logger, ref) == b"[INFO] queued by the deploy portal\n" + expected_output(5)


# -- cancel is one path -----------------------------------------------------------------------
CANCELS = ["transition, same logger", "transition, another logger", "legacy cancel_execution",
           "legacy class API", "cancel flag", "row cancelled by another process"]


@pytest.mark.parametrize("how", CANCELS)
def test_every_cancel_of_a_live_run_stops_its_work(how: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # Regression: transition(CANCELLED) and cancel_execution() changed the row while the
    # command ran to its end, and run() returned success under a row that said cancelled.
    logger = ExecutionLogger(cancel_poll_interval=0.1)
    tok = token()
    spec = RunSpec(["sh", "-c", f"echo up; sleep {tok}"], grace_period=1, timeout=PATIENCE)
    ref = logger.create(spec)
    console = FirstOutput()
    thread, box = in_thread(logger.run, spec, ref, tee=console)
    assert console.seen.wait(PATIENCE)
    if how == "transition, same logger":
        assert logger.transition(ref, Status.CANCELLED, {"error_message": "stop it"})
    elif how == "transition, another logger":
        assert ExecutionLogger().transition(ref, Status.CANCELLED, {"error_message": "stop it"})
    elif how == "legacy cancel_execution":
        assert logger.cancel_execution(ref, "stop it")
    elif how == "legacy class API":
        from runwright.logging_core import legacy

        monkeypatch.setattr(legacy, "_core", ExecutionLogger())
        assert legacy.ExecutionLogger.cancel_execution(ref, "stop it")
    elif how == "cancel flag":
        Execution.objects.filter(pk=ref).update(cancel_requested=True)
    else:  # what another process's conditional update leaves: only the row knows
        Execution.objects.filter(pk=ref, status="running").update(status="cancelled", error_message="stop it")
    thread.join(PATIENCE)
    assert not thread.is_alive(), "the work was not stopped"
    result = box[0]
    row = Execution.objects.get(pk=ref)
    assert row.status == "cancelled"
    assert result.status == Status.CANCELLED, "run() must return the status the row holds"
    assert pids_with(tok) == [], "the command outlived the cancel"


def test_a_timeout_recorded_through_the_api_ends_the_run_as_timeout() -> None:
    logger = ExecutionLogger(cancel_poll_interval=0.1)
    tok = token()
    spec = RunSpec(["sh", "-c", f"echo up; sleep {tok}"], grace_period=1, timeout=PATIENCE)
    ref = logger.create(spec)
    console = FirstOutput()
    thread, box = in_thread(logger.run, spec, ref, tee=console)
    assert console.seen.wait(PATIENCE)
    assert ExecutionLogger().timeout_execution(ref, "the portal's limit")
    thread.join(PATIENCE)
    assert box[0].status == Status.TIMEOUT and Execution.objects.get(pk=ref).status == "timeout"
    assert pids_with(tok) == []


# -- the claim ------------------------------------------------------------------------------
class CommitsThenDrops(MemoryStore):
    """A store whose first claim commits and then loses the reply (a dropped connection)."""

    transient_errors = (ConnectionResetError,)

    def __init__(self) -> None:
        super().__init__()
        self.dropped = False

    def transition(self, ref: Any, target: Status, values: Any, expect: Any = None) -> Status | None:
        refused = super().transition(ref, target, values, expect)
        if target == Status.RUNNING and refused is None and not self.dropped:
            self.dropped = True
            raise ConnectionResetError("server closed the connection after the commit")
        return refused


def test_a_claim_retried_after_it_had_committed_still_runs_the_work() -> None:
    # Regression: the retry was refused ("already running") and the run sat running without
    # its command.
    store = CommitsThenDrops()
    logger = ExecutionLogger(store)
    spec = RunSpec(["sh", "-c", "echo ran"])
    ref = logger.create(spec)
    result = logger.run(spec, ref, worker="host-a:1")
    assert store.dropped
    assert result.status == Status.SUCCESS and result.stdout_tail == "ran\n", result.error
    assert store.get(ref).status == Status.SUCCESS


def test_a_run_claimed_by_another_worker_is_still_refused() -> None:
    store = MemoryStore()
    logger = ExecutionLogger(store)
    spec = RunSpec(["sh", "-c", "echo ran"])
    ref = logger.create(spec)
    store.transition(ref, Status.RUNNING, {"worker": "host-b:2", "started_at": None})
    result = logger.run(spec, ref, worker="host-a:1")
    assert result.status == Status.RUNNING and result.stdout_tail == ""
