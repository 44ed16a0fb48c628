"""A fake in-process runner: its "work" is a thread of this process that prints lines, stays
alive for a while and ends with an exit code. It keeps the whole contract (handle, attach,
probe, stop_handle, sweep, a secret option, ``command = "none"``), so the contract suite runs
on it without a process or a container."""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any

from runwright.runners import Exit, Liveness, OnWorkerLost, Option, RunContext, Runner, RunnerError, Stop

_ids = itertools.count(1)


class Job:
    """The work: prints ``lines``, then lives ``hold`` seconds (None: until stopped)."""

    def __init__(self, tag: str, lines: list[str], hold: float | None, exit_code: int) -> None:
        self.id = f"{os.getpid()}-{next(_ids)}"
        self.tag = tag
        self.output: list[bytes] = []
        self.changed = threading.Condition()
        self.stopped = threading.Event()
        self.exit_code: int | None = None
        self._thread = threading.Thread(target=self._work, args=(lines, hold, exit_code), daemon=True)

    def _work(self, lines: list[str], hold: float | None, exit_code: int) -> None:
        for line in lines:
            with self.changed:
                self.output.append(line.encode() + b"\n")
                self.changed.notify_all()
        self.stopped.wait(hold)
        with self.changed:
            self.exit_code = -15 if self.stopped.is_set() else exit_code
            self.changed.notify_all()

    @property
    def alive(self) -> bool:
        return self.exit_code is None

    def stop(self, grace: float) -> bool:
        self.stopped.set()
        with self.changed:
            return self.changed.wait_for(lambda: self.exit_code is not None, grace + 1)


#: The jobs of this process, by id: what ``probe``, ``stop_handle`` and ``sweep`` see.
JOBS: dict[str, Job] = {}


class FakeRunner(Runner):
    """An in-process fake: prints lines from its options, then ends."""

    name = "fake"
    command = "none"
    on_worker_lost = OnWorkerLost.REATTACH
    options = (
        Option("lines", list, default=[], help="Lines the work prints."),
        Option("hold", (int, float), help="Seconds the work lives after printing (absent: until stopped)."),
        Option("exit_code", int, default=0, help="The work's exit code."),
        Option("token", str, secret=True, help="A credential (masked everywhere)."),
    )

    def start(self, ctx: RunContext) -> None:
        opts = ctx.options
        job = Job(ctx.execution_id or ctx.run_id, [str(x) for x in opts["lines"]], opts["hold"], opts["exit_code"])
        JOBS[job.id] = job
        ctx.state["job"], ctx.state["seen"] = job, 0
        ctx.set_handle({"job_id": job.id, "pid": os.getpid()})
        job._thread.start()

    def attach(self, ctx: RunContext) -> None:
        job = JOBS.get(str((ctx.handle or {}).get("job_id")))
        if job is None:
            raise RunnerError(f"job {(ctx.handle or {}).get('job_id')} no longer exists")
        with job.changed:
            ctx.state["job"], ctx.state["seen"] = job, len(job.output)

    def stream(self, ctx: RunContext) -> None:
        job: Job = ctx.state["job"]
        while True:
            with job.changed:
                job.changed.wait_for(lambda: len(job.output) > ctx.state["seen"] or not job.alive)
                new, ctx.state["seen"] = job.output[ctx.state["seen"]:], len(job.output)
                ended = not job.alive and not new
            for chunk in new:
                ctx.emit("stdout", chunk)
            if ended:
                return

    def wait(self, ctx: RunContext) -> Exit:
        job: Job = ctx.state["job"]
        with job.changed:
            job.changed.wait_for(lambda: not job.alive)
        return Exit(exit_code=job.exit_code)

    def terminate(self, ctx: RunContext, grace: float) -> Stop:
        job: Job | None = ctx.state.get("job")
        if job is None:
            return Stop(True, "no job was started")
        return Stop(True, "stopped the job") if job.stop(grace) else Stop(False, "the job did not stop")

    def cleanup(self, ctx: RunContext) -> None:
        job: Job | None = ctx.state.get("job")
        if job is not None:
            job.stop(0)
            JOBS.pop(job.id, None)

    @classmethod
    def probe(cls, handle: Mapping[str, Any]) -> Liveness:
        if handle.get("pid") != os.getpid():
            return Liveness.GONE  # a job dies with its process
        job = JOBS.get(str(handle.get("job_id")))
        return Liveness.ALIVE if job is not None and job.alive else Liveness.GONE

    @classmethod
    def stop_handle(cls, handle: Mapping[str, Any], grace: float) -> Stop:
        job = JOBS.pop(str(handle.get("job_id")), None)
        if job is None:
            return Stop(True, "the job was already gone")
        return Stop(True, "stopped the job") if job.stop(grace) else Stop(False, "the job did not stop")

    @classmethod
    def sweep(cls, is_active: Callable[[str], bool]) -> list[str]:
        removed = []
        for job in list(JOBS.values()):
            if not is_active(job.tag):
                job.stop(0)
                JOBS.pop(job.id, None)
                removed.append(f"job {job.id}")
        return removed
