"""A secret a runner learns mid-run (``ctx.add_secret``) stays masked after its worker dies and
another worker re-attaches: the ExecutionLogger keeps it sealed in the store while the run
lives (never in clear at rest) and deletes it when the run ends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from runwright.logging_core import ExecutionLogger
from runwright.runners import RunSpec, Status

#: A third-party runner whose work is a detached shell (it outlives the worker, as a remote
#: job does): a password is generated when it starts, and printed before and after a gate.
LEARNER = '''
import os, secrets, subprocess
from pathlib import Path
from runwright.runners import Exit, Liveness, OnWorkerLost, Option, Runner, Stop

class Learner(Runner):
    name = "learner"
    command = "none"
    on_worker_lost = OnWorkerLost.REATTACH
    options = (Option("dir", str, required=True, help="Where the job writes its log."),)

    def start(self, ctx):
        password = secrets.token_hex(12)
        ctx.add_secret(password)  # learned at run time: the spec never held it
        d = ctx.options["dir"]
        script = (f'echo "before $PW" >> {d}/out; while [ ! -e {d}/gate ]; do sleep 0.02; done; '
                  f'echo "after $PW" >> {d}/out; echo 0 > {d}/rc')
        subprocess.Popen(["sh", "-c", script], env={"PW": password, "PATH": os.environ["PATH"]},
                         start_new_session=True)
        ctx.set_handle({"dir": d})

    def attach(self, ctx):
        pass

    def stream(self, ctx):
        d = Path(ctx.handle["dir"])
        pos = int(ctx.resumed_metadata.get("cursor", 0))
        while True:
            done = (d / "rc").exists()
            data = (d / "out").read_bytes()[pos:] if (d / "out").exists() else b""
            if data:
                ctx.emit("stdout", data)
                pos += len(data)
                ctx.set_metadata(cursor=pos)
            if (done and not data) or ctx.wait_stop(0.02):
                return

    def wait(self, ctx):
        rc = Path(ctx.handle["dir"]) / "rc"
        return Exit(exit_code=int(rc.read_text())) if rc.exists() else Exit(error="the job did not end")

    def terminate(self, ctx, grace):
        (Path(ctx.handle["dir"]) / "gate").touch()
        return Stop(True, "the job was let through its gate")

    @classmethod
    def probe(cls, handle):
        return Liveness.GONE if (Path(handle["dir"]) / "rc").exists() else Liveness.ALIVE
'''

WORKER = '''
import json, sys
sys.path.insert(0, sys.argv[3])
from runwright.integrations.django import setup
setup()
from runwright.logging_core import ExecutionLogger
from runwright.runners import RunSpec
logger = ExecutionLogger(structured_log=False, metrics=False, flush_interval=0.05)
logger.run(RunSpec.from_dict(json.loads(sys.argv[1])), int(sys.argv[2]), worker="worker-a")
'''


@pytest.fixture
def learner_site(tmp_path: Path) -> Iterator[Path]:
    """The runner installed as a plugin distribution (its entry point found by the registry)."""
    site = tmp_path / "site"
    info = site / "rw_learner-1.0.dist-info"
    info.mkdir(parents=True)
    (site / "rw_learner.py").write_text(textwrap.dedent(LEARNER))
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: rw-learner\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[runwright.runners]\nlearner = rw_learner:Learner\n")
    sys.path.insert(0, str(site))
    yield site
    sys.path.remove(str(site))
    sys.modules.pop("rw_learner", None)


def log_of(logger: ExecutionLogger, ref: object) -> bytes:
    return b"".join(chunk.data for chunk in logger.read_log(ref))


def until(what: str, check: Callable[[], object], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_a_secret_learned_mid_run_stays_masked_after_another_worker_reattaches(
    learner_site: Path, tmp_path: Path,
) -> None:
    from runwright.integrations.django.models import Execution, RunSecret

    work = tmp_path / "job"
    work.mkdir()
    logger = ExecutionLogger(structured_log=False, metrics=False, flush_interval=0.05)
    spec = RunSpec(runner="learner", options={"dir": str(work)}, timeout=120)
    ref = logger.create(spec)
    worker = subprocess.Popen([sys.executable, "-c", WORKER, json.dumps(spec.to_dict(redact=False)), str(ref),
                               str(learner_site)], env=dict(os.environ), stderr=subprocess.PIPE)
    try:
        until("the first line stored", lambda: b"before ***" in log_of(logger, ref)
              or worker.poll() is not None)
        assert worker.poll() is None, worker.stderr.read() if worker.stderr else ""
        until("the learned secret kept", lambda: RunSecret.objects.exists())
    finally:
        worker.send_signal(signal.SIGKILL)  # the worker dies; its job does not
        worker.wait()
    password = (work / "out").read_text().split()[1]
    kept = list(RunSecret.objects.values_list("sealed", flat=True))
    assert len(kept) == 1 and password not in kept[0]  # sealed at rest, never in clear

    (work / "gate").touch()
    resumed = ExecutionLogger(structured_log=False, metrics=False, flush_interval=0.05).resume(
        spec, ref, from_worker="worker-a", worker="worker-b")
    assert resumed is not None and resumed.status == Status.SUCCESS, resumed and resumed.error
    log = log_of(logger, ref)
    assert b"before ***" in log and b"after ***" in log, log
    row = Execution.objects.filter(pk=ref).values().get()
    assert password not in log.decode() + json.dumps(row, default=str)
    assert not RunSecret.objects.exists()  # the run ended: nothing re-attaches, the secret goes
