"""The runner contract suite: pytest tests every runner passes, the built-in ones and yours.

In your plugin's tests::

    from runwright.runners import RunSpec
    from runwright.runners.testing import RunnerCase, RunnerContract

    def spec(kind: str, **overrides) -> RunSpec:
        work = {"quick": ["echo", "hello-contract"], "long": ["sleep", "300"],
                "resumable": ["sh", "-c", "echo first; sleep 3; echo last; exit 3"]}[kind]
        return RunSpec(work, runner="mine", **overrides)

    class TestMyRunner(RunnerContract):
        case = RunnerCase(MyRunner, spec, quick_output=b"hello-contract")

``spec(kind, **overrides)`` builds the runs the suite needs, with the given RunSpec fields
(``timeout``, ``grace_period``, ``secrets``) applied:

- ``"quick"``: ends on its own with exit code 0 and prints ``quick_output`` on stdout;
- ``"long"``: runs until it is stopped (far longer than the suite waits);
- ``"resumable"`` (runners that can ``attach``): prints a line, lives a few seconds, ends
  with exit code ``resume_exit_code``.

What it checks: a quick run (statuses, order of reports, the handle before the first output,
the work gone afterwards); timeout and cancel in each phase (``prepare``, ``start``,
``stream``, ``wait``) while the step blocks in a call that ignores the token, so the base
class must abandon it and the runner's ``terminate`` and ``cleanup`` must still stop and
remove the work; a failure in each phase (a RunnerError, and a bug); timeout and cancel of
the real work; ``emit``/``event``/``set_metadata`` from many threads at once; ``sweep``
after a worker died without cleaning up; ``resume`` of work a dead worker started. A runner
without sweep or attach is checked for the documented defaults instead (nothing is skipped).

A worker's death is simulated with ``death="process"`` (a child process runs the work and is
killed with SIGKILL; the runner class must be importable) or ``death="thread"`` (for
runners whose work lives in the process: a run whose ``terminate`` and ``cleanup`` do
nothing is left behind).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from runwright.runners.base import Exit, Runner, RunnerError
from runwright.runners.cancel import CancelToken
from runwright.runners.conformance import contract_problems
from runwright.runners.context import RunContext
from runwright.runners.events import MemoryRecorder, Stream
from runwright.runners.hooks import Liveness, OnWorkerLost, Stop
from runwright.runners.result import RunResult
from runwright.runners.spec import RunSpec
from runwright.runners.status import Status

#: How long an injected step blocks: far longer than any run of the suite may take.
HANG = 30.0
#: Generous bound for what must happen "soon" (the work gone after a stop).
PATIENCE = 30.0
PHASES = ("prepare", "start", "stream", "wait")


@dataclass
class RunnerCase:
    """What the suite needs to know about one runner."""

    runner: type[Runner]
    #: ``spec(kind, **overrides) -> RunSpec`` for kind "quick", "long" or "resumable".
    spec: Callable[..., RunSpec]
    #: Bytes the quick run prints on stdout.
    quick_output: bytes
    #: "process" or "thread": how a worker's death is simulated (see the module's doc).
    death: str = "process"
    #: The exit code the resumable run ends with.
    resume_exit_code: int = 3
    #: The timeout the suite gives a run when it tests the deadline (seconds).
    timeout: float = 3.0
    #: Grace period for stops.
    grace: float = 1.0
    #: How long an injected stuck step blocks (seconds); a stop must end the run sooner. A
    #: runner whose stop waits on a real system (a cluster deleting a pod) under load needs more.
    hang: float = HANG
    #: Checks that the work a handle names is gone; default: ``probe(handle)`` is GONE.
    gone: Callable[[Mapping[str, Any]], bool] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def is_gone(self, handle: Mapping[str, Any]) -> bool:
        if self.gone is not None:
            return self.gone(handle)
        return self.runner.probe(handle) is Liveness.GONE


class SerialRecorder(MemoryRecorder):
    """A MemoryRecorder that notes calls that overlapped (the contract says they never do)."""

    def __init__(self) -> None:
        super().__init__()
        self.overlaps = 0
        self._busy = threading.Lock()

    def _enter(self) -> None:
        if not self._busy.acquire(blocking=False):
            self.overlaps += 1
            self._busy.acquire()

    def handle(self, handle: Mapping[str, Any]) -> None:
        self._enter()
        try:
            super().handle(handle)
        finally:
            self._busy.release()

    def output(self, stream: Stream, data: bytes) -> None:
        self._enter()
        try:
            super().output(stream, data)
        finally:
            self._busy.release()

    def event(self, kind: str, data: Mapping[str, Any]) -> None:
        self._enter()
        try:
            super().event(kind, data)
        finally:
            self._busy.release()

    def metadata(self, values: Mapping[str, Any]) -> None:
        self._enter()
        try:
            super().metadata(values)
        finally:
            self._busy.release()


def eventually(check: Callable[[], bool], what: str, timeout: float = PATIENCE) -> None:
    """Poll ``check`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} (waited {timeout:g}s)")
        time.sleep(0.05)


def tag() -> str:
    """An execution tag of this test's own, so a sweep can tell its work from others'."""
    return f"contract-suite:{uuid.uuid4().hex[:12]}"


class Injected:
    """A subclass of the runner whose step ``phase`` blocks (``hang``) or fails (``raise``)
    in a way that ignores the cancel token, as a stuck SDK call would."""

    def __init__(self, runner: type[Runner], phase: str, action: str, hang: float = HANG) -> None:
        self.reached = threading.Event()
        self.release = threading.Event()
        self.phase, self.action, self.hang = phase, action, hang
        act = self._act

        class Stuck(runner):  # type: ignore[valid-type,misc]
            watched = True  # the injected step ignores the token: the base class must watch it

            def prepare(self, ctx: RunContext) -> None:
                super().prepare(ctx)
                if phase == "prepare":
                    act()

            def start(self, ctx: RunContext) -> None:
                super().start(ctx)
                if phase == "start":
                    act()

            def stream(self, ctx: RunContext) -> None:
                if phase == "stream":
                    act()
                if phase != "wait":  # for a stop in wait, wait is reached while the work runs
                    super().stream(ctx)

            def wait(self, ctx: RunContext) -> Exit:
                if phase == "wait":
                    act()
                return super().wait(ctx)  # type: ignore[no-any-return]

        Stuck.__name__ = Stuck.__qualname__ = f"{runner.__name__}StuckIn{phase.title()}"
        self.runner = Stuck

    def _act(self) -> None:
        self.reached.set()
        if self.action == "hang":
            self.release.wait(self.hang)
        elif self.action == "runner-error":
            raise RunnerError(f"injected failure in {self.phase}")
        else:
            raise ZeroDivisionError(f"injected bug in {self.phase}")


class RunnerContract:
    """Subclass as ``TestSomething`` with ``case = RunnerCase(...)``; pytest runs the tests."""

    case: RunnerCase

    # -- helpers -------------------------------------------------------------------------
    def _run(self, runner: Runner, spec: RunSpec, rec: MemoryRecorder | None = None,
             cancel: CancelToken | None = None, execution_id: str = "") -> tuple[RunResult, MemoryRecorder, float]:
        rec = rec if rec is not None else SerialRecorder()
        t0 = time.monotonic()
        result = runner.run(spec, rec, cancel, execution_id=execution_id or tag())
        return result, rec, time.monotonic() - t0

    def _assert_nothing_left(self, execution: str, handles: list[dict[str, Any]]) -> None:
        for handle in handles:
            eventually(lambda h=handle: self.case.is_gone(h), f"the work of handle {handle} is still there")  # type: ignore[misc]
        left = self.case.runner.sweep(lambda owner: owner != execution)
        assert left == [], f"the run left work behind that only the sweep removed: {left}"

    # -- the contract ------------------------------------------------------------------------
    def test_the_class_keeps_the_contract(self) -> None:
        assert contract_problems(self.case.runner) == []

    def test_a_quick_run_succeeds_and_reports_in_order(self) -> None:
        execution = tag()
        result, rec, _ = self._run(self.case.runner(), self.case.spec("quick"), execution_id=execution)
        assert result.status == Status.SUCCESS, result.error
        assert result.exit_code == 0 and self.case.quick_output in rec.stdout
        kinds = rec.kinds()
        assert kinds.count("started") == 1 and kinds[-1] == "finished" and kinds.count("finished") == 1
        assert kinds.count("handle") <= 1
        work_output = [i for i, (k, v) in enumerate(rec.calls) if k == "output" and v[0] != "system"]
        if "handle" in kinds:
            assert rec.handles[0] == result.metadata["handle"]
            assert not work_output or kinds.index("handle") < work_output[0], "the handle must come before the first output"
        self._assert_nothing_left(execution, rec.handles)

    def test_an_option_it_does_not_declare_is_an_error_naming_it(self) -> None:
        spec = self.case.spec("quick")
        bad = replace(spec, options={**spec.options, "no_such_option_rw": 1})
        result, rec, _ = self._run(self.case.runner(), bad)
        assert result.status == Status.ERROR and "options.no_such_option_rw" in (result.error or "")
        assert rec.kinds() == ["finished"]

    @pytest.mark.parametrize("stop", ["timeout", "cancel"])
    def test_stop_during_the_work(self, stop: str) -> None:
        execution, cancel = tag(), CancelToken()
        rec = SerialRecorder()
        if stop == "timeout":
            spec = self.case.spec("long", timeout=self.case.timeout, grace_period=self.case.grace)
        else:
            spec = self.case.spec("long", grace_period=self.case.grace)

            def cancel_once_started() -> None:
                eventually(lambda: "started" in rec.kinds(), "the run never started")
                cancel.cancel("suite")

            threading.Thread(target=cancel_once_started, daemon=True).start()
        result, _, elapsed = self._run(self.case.runner(), spec, rec, cancel, execution)
        assert result.status == (Status.TIMEOUT if stop == "timeout" else Status.CANCELLED), result.error
        assert elapsed < self.case.hang
        assert result.metadata.get("stop_confirmed") is True, result.error
        self._assert_nothing_left(execution, rec.handles)

    @pytest.mark.parametrize("stop", ["timeout", "cancel"])
    @pytest.mark.parametrize("phase", PHASES)
    def test_stop_while_a_step_is_stuck(self, phase: str, stop: str) -> None:
        injected = Injected(self.case.runner, phase, "hang", self.case.hang)
        execution, cancel = tag(), CancelToken()
        if stop == "timeout":
            spec = self.case.spec("long", timeout=self.case.timeout, grace_period=self.case.grace)
        else:
            spec = self.case.spec("long", grace_period=self.case.grace)

            def cancel_once_stuck() -> None:
                injected.reached.wait(PATIENCE)
                cancel.cancel("suite")

            threading.Thread(target=cancel_once_stuck, daemon=True).start()
        try:
            result, rec, elapsed = self._run(injected.runner(), spec, None, cancel, execution)
            assert injected.reached.is_set(), f"the run ended before reaching {phase}: {result.status} {result.error}"
            assert result.status == (Status.TIMEOUT if stop == "timeout" else Status.CANCELLED), result.error
            assert elapsed < self.case.hang, f"the run waited for the stuck {phase} step"
            assert "abandoned" in (result.error or ""), result.error
        finally:
            injected.release.set()  # the abandoned step returns; the base cleans up again
        self._assert_nothing_left(execution, rec.handles)

    @pytest.mark.parametrize("failure", ["runner-error", "bug"])
    @pytest.mark.parametrize("phase", PHASES)
    def test_a_failure_in_a_step_is_an_error_and_stops_the_work(self, phase: str, failure: str) -> None:
        injected = Injected(self.case.runner, phase, failure, self.case.hang)
        execution = tag()
        spec = self.case.spec("long", grace_period=self.case.grace)
        result, rec, elapsed = self._run(injected.runner(), spec, None, None, execution)
        assert result.status == Status.ERROR, result.error
        expected = f"injected failure in {phase}" if failure == "runner-error" else f"failed in {phase}: ZeroDivisionError"
        assert expected in (result.error or "")
        assert elapsed < self.case.hang
        self._assert_nothing_left(execution, rec.handles)

    @pytest.mark.parametrize("with_secrets", [True, False], ids=["secrets", "no-secrets"])
    def test_reports_from_many_threads_arrive_whole_masked_and_one_at_a_time(self, with_secrets: bool) -> None:
        # Both ways: a run with no secret takes the redactor's fast path, and must be as safe.
        secret = "contract-s3cret-Value"
        shown = "***" if with_secrets else secret
        threads, per_thread = 8, 40

        class Chatty(self.case.runner):  # type: ignore[name-defined,misc]
            def stream(self, ctx: RunContext) -> None:
                def chat(i: int) -> None:
                    for j in range(per_thread):
                        ctx.emit("stdout", f"t{i}-{j} {secret} end\n".encode())
                        ctx.event("suite.tick", {"thread": i, "n": j, "note": secret})
                        ctx.set_metadata(**{f"thread{i}": j})
                        ctx.say(f"t{i}-{j} said")

                workers = [threading.Thread(target=chat, args=(i,)) for i in range(threads)]
                for w in workers:
                    w.start()
                for w in workers:
                    w.join()
                super().stream(ctx)

        spec = self.case.spec("quick", secrets=[secret] if with_secrets else [])
        result, rec, _ = self._run(Chatty(), spec)
        assert result.status == Status.SUCCESS, result.error
        assert isinstance(rec, SerialRecorder) and rec.overlaps == 0, "the reporter was called concurrently"
        lines = rec.stdout.splitlines()
        for i in range(threads):
            for j in range(per_thread):
                assert lines.count(f"t{i}-{j} {shown} end".encode()) == 1
        if with_secrets:
            assert secret.encode() not in rec.stdout + rec.system and secret not in json.dumps(rec.events())
        ticks = [data for kind, data in rec.events() if kind == "suite.tick"]
        assert len(ticks) == threads * per_thread and all(t["note"] == shown for t in ticks)
        assert all(result.metadata[f"thread{i}"] == per_thread - 1 for i in range(threads))

    def test_sweep_removes_what_a_dead_worker_left(self) -> None:
        if self.case.runner.sweep.__func__ is Runner.sweep.__func__:  # type: ignore[attr-defined]
            # Nothing of its work outlives a run (an image build's engine call): nothing to sweep.
            assert self.case.runner.sweep(lambda owner: False) == []
            return
        execution = tag()
        with self._dead_worker(self.case.spec("long"), execution) as handle:
            assert self.case.runner.probe(handle) is Liveness.ALIVE, "the work should outlive its worker"
            assert self.case.runner.sweep(lambda owner: True) == [], "an active run's work must be left alone"
            assert self.case.runner.probe(handle) is Liveness.ALIVE
            removed = self.case.runner.sweep(lambda owner: owner != execution)
            assert removed, "the sweep found nothing of the dead worker's run"
            eventually(lambda: self.case.is_gone(handle), "the swept work is still alive")

    def test_stop_handle_stops_work_known_only_by_its_handle(self) -> None:
        if self.case.runner.stop_handle.__func__ is Runner.stop_handle.__func__:  # type: ignore[attr-defined]
            # A runner that cannot stop work by its handle says so: never a confirmed stop.
            stop = self.case.runner.stop_handle({"any": "handle"}, self.case.grace)
            assert isinstance(stop, Stop) and not stop.confirmed, stop
            return
        execution = tag()
        with self._dead_worker(self.case.spec("long"), execution) as handle:
            stop = self.case.runner.stop_handle(handle, self.case.grace)
            assert isinstance(stop, Stop) and stop.confirmed, stop
            eventually(lambda: self.case.is_gone(handle), "the stopped work is still alive")
            again = self.case.runner.stop_handle(handle, self.case.grace)
            assert again.confirmed, "stopping work that is gone is confirmed"

    def test_resume_follows_work_a_dead_worker_started(self) -> None:
        if not self.case.runner.can_attach():
            # A runner that cannot attach says so: resume is an `error` naming why, never a hang.
            result = self.case.runner().resume(self.case.spec("long"), {"any": "handle"}, SerialRecorder())
            assert result.status == Status.ERROR and "cannot attach" in (result.error or ""), result
            assert self.case.runner.on_worker_lost is OnWorkerLost.STOP, "a runner that cannot attach must stop"
            return
        execution = tag()
        spec = self.case.spec("resumable")
        with self._dead_worker(spec, execution, keep=True, after_output=True) as handle:
            rec = SerialRecorder()
            result = self.case.runner().resume(spec, handle, rec, execution_id=execution)
            assert result.exit_code == self.case.resume_exit_code, (result.status, result.error)
            assert result.status == Status.FAILED
            assert rec.kinds()[0] in ("started", "output") and rec.kinds()[-1] == "finished"
            assert result.metadata["handle"] == handle
        self._assert_nothing_left(execution, [handle])

    # -- a worker that dies ---------------------------------------------------------------
    def _dead_worker(self, spec: RunSpec, execution: str, keep: bool = False, after_output: bool = False) -> Any:
        return _DeadWorker(self.case, spec, execution, keep, after_output)


class _DeadWorker:
    """Start ``spec`` in a worker that dies without cleaning up; yields the handle."""

    def __init__(self, case: RunnerCase, spec: RunSpec, execution: str, keep: bool, after_output: bool) -> None:
        self.case, self.spec, self.execution, self.keep = case, spec, execution, keep
        #: Die only once the work printed something (it runs), not as soon as it exists.
        self.after_output = after_output
        self.handle: dict[str, Any] = {}

    def __enter__(self) -> dict[str, Any]:
        if self.case.death == "thread":
            return self._thread()
        return self._process()

    def _process(self) -> dict[str, Any]:
        cls = self.case.runner
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _WORKER, f"{cls.__module__}:{cls.__qualname__}",
             json.dumps(self.spec.to_dict(redact=False)), self.execution],
            stdout=subprocess.PIPE, env=env, text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            raise AssertionError(f"the worker ended (exit code {self.proc.returncode}) without reporting a handle")
        self.handle = json.loads(line)
        if self.after_output:
            assert self.proc.stdout.readline() == "output\n", "the worker ended before its work printed anything"
        os.kill(self.proc.pid, signal.SIGKILL)  # the worker dies; its work does not
        self.proc.wait()
        return self.handle

    def _thread(self) -> dict[str, Any]:
        got = threading.Event()
        worker = self

        class Careless(self.case.runner):  # type: ignore[name-defined,misc]
            def terminate(self, ctx: RunContext, grace: float) -> Stop:
                return Stop(False, "the worker is dead")

            def cleanup(self, ctx: RunContext) -> None:
                pass

        class Reporter(MemoryRecorder):
            def handle(self, handle: Mapping[str, Any]) -> None:
                worker.handle = dict(handle)
                if not worker.after_output:
                    got.set()

            def output(self, stream: Stream, data: bytes) -> None:
                got.set()

        self.thread = threading.Thread(target=lambda: Careless().run(self.spec, Reporter(), execution_id=self.execution),
                                       daemon=True)
        self.thread.start()
        assert got.wait(PATIENCE), "the worker never reported a handle"
        return self.handle

    def __exit__(self, *exc: object) -> None:
        if self.handle and self.case.runner.probe(self.handle) is Liveness.ALIVE:
            self.case.runner.stop_handle(self.handle, 0)
        if not self.keep or exc[0] is not None:
            self.case.runner.sweep(lambda owner: owner != self.execution)


_WORKER = r"""
import importlib, json, sys
from runwright.runners import NullReporter, RunSpec
module, _, qualname = sys.argv[1].partition(":")
cls = importlib.import_module(module)
for part in qualname.split("."):
    cls = getattr(cls, part)

class Out(NullReporter):
    printed = False

    def handle(self, handle):
        print(json.dumps(handle), flush=True)

    def output(self, stream, data):
        if stream != "system" and not self.printed:
            self.printed = True
            print("output", flush=True)

cls().run(RunSpec.from_dict(json.loads(sys.argv[2])), Out(), execution_id=sys.argv[3])
"""


__all__ = ["HANG", "PHASES", "Injected", "RunnerCase", "RunnerContract", "SerialRecorder", "eventually", "tag"]
