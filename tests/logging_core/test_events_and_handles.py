"""Live recording of what a runner learns mid-run: its handle and metadata stored at once,
structured events stored as they happen (numbered from 1, in a table of their own), read
from any number and followed live, from any thread. On runwright's Django models (SQLite or
PostgreSQL) and on the MemoryStore."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest

from runwright.logging_core import ExecutionLogger, MemoryStore
from runwright.logging_core.store import Chunk
from runwright.runners import Exit, RunContext, Runner, RunResult, RunSpec, Status, Stop

BIN = str(Path(sys.executable).parent / "runwright")


class ScriptedRunner(Runner):
    """An in-process runner whose work is a Python function of the context."""

    name = "scripted"
    command: ClassVar[str] = "none"
    work: ClassVar[Callable[[RunContext], None]]

    def start(self, ctx: RunContext) -> None:
        pass

    def stream(self, ctx: RunContext) -> None:
        type(self).work(ctx)

    def wait(self, ctx: RunContext) -> Exit:
        return Exit(exit_code=0)

    def terminate(self, ctx: RunContext, grace: float) -> Stop:
        return Stop(True, "nothing to stop")


def run_scripted(logger: ExecutionLogger, work: Callable[[RunContext], None], ref: Any = None) -> tuple[Any, Any]:
    """Run ``work`` as a recorded execution; returns (execution id, RunResult)."""
    runner = type("Scripted", (ScriptedRunner,), {"work": staticmethod(work)})()
    spec = RunSpec(runner="scripted")
    ref = ref if ref is not None else logger.create(spec)
    rec = logger.recorder(ref, spec)
    assert rec.claim() is None
    try:
        result = runner.run(spec, rec, execution_id=f"{logger.store.key}:{ref}")
    finally:
        logger._untrack(rec)
    return ref, result


def eventually(value: Callable[[], Any], timeout: float = 10) -> Any:
    """The first truthy ``value()``, polled; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (got := value()):
        assert time.monotonic() < deadline, "not stored while the run was live"
        time.sleep(0.01)
    return got


@pytest.fixture(params=["django", "memory"])
def logger(request: pytest.FixtureRequest) -> ExecutionLogger:
    store = MemoryStore() if request.param == "memory" else None
    return ExecutionLogger(store, structured_log=False, metrics=False, flush_interval=0.05)


def test_events_from_many_threads_are_stored_numbered_and_complete(logger: ExecutionLogger) -> None:
    threads, per_thread = 8, 400

    def work(ctx: RunContext) -> None:
        def emit(t: int) -> None:
            for i in range(per_thread):
                ctx.event("progress", {"thread": t, "i": i})
                if i % 50 == 0:
                    ctx.emit("stdout", f"thread {t} at {i}\n".encode())

        pool = [threading.Thread(target=emit, args=(t,)) for t in range(threads)]
        for th in pool:
            th.start()
        for th in pool:
            th.join()

    ref, result = run_scripted(logger, work)
    assert result.status == Status.SUCCESS
    events = logger.read_events(ref)
    assert [e.seq for e in events] == list(range(1, threads * per_thread + 1))
    got = sorted((e.data["thread"], e.data["i"]) for e in events)
    assert got == [(t, i) for t in range(threads) for i in range(per_thread)]
    for t in range(threads):  # each thread's own events keep their order
        mine = [e.data["i"] for e in events if e.data["thread"] == t]
        assert mine == list(range(per_thread))
    assert logger.read_events(ref, after=3198) == events[3198:]
    assert [e.seq for e in logger.read_events(ref, after=10, limit=5)] == [11, 12, 13, 14, 15]
    assert [e.seq for e in logger.iter_events(ref, 3000)] == list(range(3001, 3201))
    # The whole log made it too, offsets contiguous.
    chunks = logger.read_log(ref)
    assert all(a.offset + len(a.data) == b.offset for a, b in itertools.pairwise(chunks))
    assert sum(c.data.count(b"\n") for c in chunks) == threads * (per_thread // 50)
    # Events are not folded into the stored result any more.
    assert "events" not in (logger.get(ref).result or {})


def test_events_are_followed_live_while_the_run_goes(logger: ExecutionLogger) -> None:
    seen: list[int] = []
    got_three = threading.Event()
    ref_box: dict[str, Any] = {}
    spec = RunSpec(runner="scripted")
    ref = logger.create(spec)
    ref_box["ref"] = ref

    def follower() -> None:
        for event in logger.follow_events(ref, poll=0.02):
            seen.append(event.seq)
            if event.seq == 3:
                got_three.set()

    watcher = threading.Thread(target=follower)
    watcher.start()

    def work(ctx: RunContext) -> None:
        for i in range(3):
            ctx.event("phase", {"n": i})
        # The run goes on until the follower has seen the first three: they were stored live.
        assert got_three.wait(30), "events were not followable while the run was live"
        assert logger.get(ref).status == Status.RUNNING
        for i in range(3, 6):
            ctx.event("phase", {"n": i})

    _, result = run_scripted(logger, work, ref)
    watcher.join(30)
    assert result.status == Status.SUCCESS
    assert seen == [1, 2, 3, 4, 5, 6], "the follower ends when the run is over and all is read"


def test_handle_is_stored_before_the_first_output_and_metadata_at_once(logger: ExecutionLogger) -> None:
    order: list[str] = []
    store = logger.store
    real_update, real_append = store.update, store.append_output

    def update(ref: Any, values: Any) -> None:
        if "handle" in values:
            order.append("handle")
        real_update(ref, values)

    def append_output(ref: Any, chunks: list[Chunk]) -> None:
        order.append("output")
        real_append(ref, chunks)

    store.update, store.append_output = update, append_output  # type: ignore[method-assign]
    observed: dict[str, Any] = {}

    def live_metadata(ref: int) -> dict[str, Any]:
        return dict((logger.get(ref).result or {}).get("metadata") or {})

    def work(ctx: RunContext) -> None:
        ref = int(ctx.execution_id.rsplit(":", 1)[1])
        ctx.set_handle({"kind": "test", "id": "w-1"})
        # Delivered at once (by the thread watching the run): visible while the run is live.
        observed["handle"] = eventually(lambda: logger.get(ref).handle)
        ctx.emit("stdout", b"first output\n")
        ctx.set_metadata(pod="pod-7")
        observed["metadata"] = eventually(lambda: live_metadata(ref).get("pod") and live_metadata(ref))
        ctx.set_metadata(node="n-2")
        observed["merged"] = eventually(lambda: live_metadata(ref).get("node") and live_metadata(ref))

    ref, result = run_scripted(logger, work)
    assert observed["handle"] == {"kind": "test", "id": "w-1"}
    assert order.index("handle") < order.index("output")
    assert observed["metadata"]["pod"] == "pod-7"
    assert observed["merged"]["pod"] == "pod-7" and observed["merged"]["node"] == "n-2"
    view = logger.get(ref)
    assert view.handle == {"kind": "test", "id": "w-1"}
    assert result.metadata["handle"] == {"kind": "test", "id": "w-1"}
    assert view.result["metadata"]["pod"] == "pod-7"


@pytest.mark.parametrize("store", ["django", "memory"])
def test_metadata_is_stored_with_the_output_reported_before_it_never_before(store: str) -> None:
    # Regression: a log cursor (live metadata a worker taking the run over goes on after) was
    # stored at once while the output it covers waited for the flush interval: a worker killed
    # in between lost that output on re-attach. Now the output is stored first, and on a store
    # with transactions in the same one as the metadata (killed in between: neither is stored).
    logger = ExecutionLogger(MemoryStore() if store == "memory" else None, structured_log=False, metrics=False,
                             flush_interval=3600)  # no time-based flush: only the metadata stores the output
    real_update = logger.store.update
    seen: list[tuple[bytes, bool]] = []

    def update(ref: Any, values: Any) -> None:
        if "cursor" in ((values.get("result") or {}).get("metadata") or {}):
            stored = b"".join(c.data for c in logger.read_log(ref))
            seen.append((stored, bool(getattr(logger.store, "in_transaction", bool)())))
        real_update(ref, values)

    logger.store.update = update  # type: ignore[method-assign]

    def work(ctx: RunContext) -> None:
        for i in range(3):
            ctx.emit("stdout", f"line-{i}\n".encode())
            ctx.set_metadata(cursor=i)

    ref, result = run_scripted(logger, work)
    assert result.status == Status.SUCCESS, result.error
    assert [log for log, _ in seen] == [b"line-0\n", b"line-0\nline-1\n", b"line-0\nline-1\nline-2\n"]
    assert all(atomic for _, atomic in seen) == (store == "django")
    assert logger.get(ref).result["metadata"]["cursor"] == 2


def test_a_secret_never_reaches_a_stored_event_handle_or_metadata(logger: ExecutionLogger) -> None:
    def work(ctx: RunContext) -> None:
        ctx.add_secret("tok-9f8e7d6c")
        ctx.set_handle({"url": "https://ci.example/job/1?token=tok-9f8e7d6c"})
        ctx.set_metadata(note="auth tok-9f8e7d6c")
        ctx.event("auth", {"token": "tok-9f8e7d6c"})

    ref, _ = run_scripted(logger, work)
    stored = json.dumps([logger.get(ref).handle, logger.get(ref).result, [e.data for e in logger.read_events(ref)]])
    assert "tok-9f8e7d6c" not in stored
    assert logger.read_events(ref)[0].kind == "auth"


@pytest.mark.parametrize("follow", [False, True])
def test_cli_events(tmp_path: Path, follow: bool) -> None:
    """`runwright events ID [--follow] [--after N] [--json]` on a recorded execution."""
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["RUNWRIGHT_HOME"] = str(home)
    script = (
        "from runwright.integrations.django import setup; setup()\n"
        "from runwright.logging_core import ExecutionLogger\n"
        "from runwright.runners import RunSpec\n"
        "lg = ExecutionLogger(structured_log=False, metrics=False)\n"
        "ref = lg.create(RunSpec(['true']))\n"
        "rec = lg.recorder(ref)\n"
        "rec.claim()\n"
        "for i in range(5): rec.event('step', {'n': i, 'name': f'task {i}'})\n"
        "rec.flush()\n"
        "from runwright.runners import RunResult, Status\n"
        "rec.finished(RunResult(status=Status.SUCCESS, exit_code=0))\n"
        "print(ref)\n"
    )
    made = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    ref = made.stdout.strip()
    args = [BIN, "events", ref, "--json", "--after", "2"] + (["--follow"] if follow else [])
    out = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [(e["seq"], e["kind"], e["data"]["n"]) for e in lines] == [(3, "step", 2), (4, "step", 3), (5, "step", 4)]
    plain = subprocess.run([BIN, "events", ref], env=env, capture_output=True, text=True, timeout=60)
    first = plain.stdout.splitlines()[0].split("\t")
    assert first[0] == "1" and first[2] == "step" and json.loads(first[3]) == {"n": 0, "name": "task 0"}
    missing = subprocess.run([BIN, "events", "999"], env=env, capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "no execution with id '999'" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_many_events_are_not_held_in_memory(logger: ExecutionLogger) -> None:
    """Events are written in batches as they come (no in-memory list up to the end)."""
    pending_sizes: list[int] = []

    def work(ctx: RunContext) -> None:
        rec = ctx.reporter
        for i in range(3000):
            ctx.event("tick", {"i": i})
            pending_sizes.append(len(rec._events))  # type: ignore[attr-defined]

    ref, _ = run_scripted(logger, work)
    assert max(pending_sizes) < 1000
    assert len(logger.read_events(ref)) == 3000


def test_a_local_runs_handle_is_stored_before_its_first_output(logger: ExecutionLogger) -> None:
    order: list[str] = []
    store = logger.store
    real_update, real_append = store.update, store.append_output

    def update(ref: Any, values: Any) -> None:
        if "handle" in values:
            order.append("handle")
        real_update(ref, values)

    def append_output(ref: Any, chunks: list[Chunk]) -> None:
        order.append("output")
        real_append(ref, chunks)

    store.update, store.append_output = update, append_output  # type: ignore[method-assign]
    result = logger.run(RunSpec(["sh", "-c", "echo first; echo second >&2"]))
    ref = int(result.log_ref.rsplit("/", 1)[1])
    assert result.status == Status.SUCCESS and order[0] == "handle" and "output" in order
    handle = logger.get(ref).handle
    assert handle is not None and handle["pid"] == result.metadata["pid"]


def test_a_worker_whose_run_was_taken_over_writes_nothing_more(logger: ExecutionLogger) -> None:
    """Worker A's lease expired (a long outage) and worker B took the run over: A's late output,
    events and final status must not land in B's execution."""
    spec = RunSpec(["true"])
    ref = logger.create(spec)
    a = logger.recorder(ref, spec)
    assert a.claim("host:1") is None
    a.output("stdout", b"from a, before\n")
    a.flush()
    assert logger.store.take_over(ref, "host:1", "host:2")
    assert not logger.store.take_over(ref, "host:1", "host:3"), "only one takeover wins"
    b = logger.recorder(ref, spec)
    b.resumed("host:2", logger.get(ref))
    a.tick(time.monotonic() + 3600)  # A's next heartbeat finds it no longer owns the run
    assert a.superseded
    a.output("stdout", b"from a, late\n")
    a.event("late", {})
    a.finished(RunResult(status=Status.FAILED, exit_code=1))
    b.output("stdout", b"from b\n")
    b.finished(RunResult(status=Status.SUCCESS, exit_code=0, stdout_bytes=len(b"from b\n")))
    view = logger.get(ref)
    assert (view.status, view.worker, view.exit_code) == (Status.SUCCESS, "host:2", 0)
    assert b"".join(c.data for c in logger.read_log(ref)) == b"from a, before\nfrom b\n"
    assert logger.read_events(ref) == []
    assert view.stdout_bytes == len(b"from a, before\nfrom b\n")


def test_reports_after_the_run_ended_never_change_the_execution(logger: ExecutionLogger) -> None:
    # Regression (break-it, issue 8): a runner's thread that emitted, sent an event and set
    # metadata after the run had returned wrote them into the finished execution.
    go, done = threading.Event(), threading.Event()

    def work(ctx: RunContext) -> None:
        ctx.emit("stdout", b"early\n")

        def late() -> None:
            go.wait(60)
            ctx.emit("stdout", b"LATE OUTPUT\n")
            ctx.event("late", {"n": 1})
            ctx.set_metadata(late=1)
            done.set()

        threading.Thread(target=late, daemon=True).start()

    ref, result = run_scripted(logger, work)
    assert result.status == Status.SUCCESS
    go.set()
    assert done.wait(60)
    view = logger.get(ref)
    assert b"".join(c.data for c in logger.read_log(ref)) == b"early\n"
    assert "late" not in (view.result.get("metadata") or {})
    assert [e.kind for e in logger.read_events(ref)] == []
