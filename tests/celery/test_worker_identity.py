"""Which worker is gone: a worker process provably of the reaper's boot and pid namespace is
judged by its process, any other (a container sharing the hostname, another machine, an
identity stored as ``host:pid``) by its lease alone. The other "containers" here are real pid
namespaces of this machine (same hostname, same boot id), made with ``unshare``.

Regression: a reaper took ``hostname:pid`` for proof, so containers sharing a hostname marked
each other's runs ``lost`` (and their workers then stopped the runs) while their heartbeats
were fresh, and a reused pid kept a dead worker's run ``running`` until its lease ran out."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from runwright.integrations.celery import submit
from runwright.integrations.celery.reaper import reap_once
from runwright.integrations.django.models import Execution
from runwright.runners import RunSpec
from runwright.runners.process_identity import ProcessIdentity, boot_id, pid_namespace
from tests.celery.conftest import LEASE, wait_for
from tests.helpers import pids_with, token, wait_for_pids
from tests.infra.docker_engine import InfraError
from tests.infra.namespaces import PidNamespace
from tests.infra.workers import RUNWRIGHT

pytestmark = pytest.mark.postgres


@pytest.fixture
def namespaces() -> Iterator[Callable[[], PidNamespace]]:
    made: list[PidNamespace] = []

    def make() -> PidNamespace:
        try:
            made.append(PidNamespace())
        except InfraError as exc:
            pytest.fail(str(exc), pytrace=False)
        return made[-1]

    yield make
    for ns in made:
        ns.stop()


def reap_in(ns: PidNamespace, env: dict[str, str], lease: str) -> dict[str, Any]:
    """`runwright reap` run inside ``ns``, with this lease."""
    out = ns.run([RUNWRIGHT, "reap"], env={**env, "RUNWRIGHT_LEASE": lease})
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def running_on_a_worker(env: dict[str, str], tok: str) -> tuple[int, ProcessIdentity]:
    ref = submit(RunSpec(["sleep", tok], grace_period=1))
    wait_for([ref], lambda s: s == "running", timeout=60)
    wait_for_pids(tok, 1)
    identity = ProcessIdentity.parse(Execution.objects.get(pk=ref).worker)
    assert identity is not None and identity.start_time is not None
    return ref, identity


def status(ref: int) -> str:
    return str(Execution.objects.get(pk=ref).status)


@pytest.mark.parametrize("its_pid_runs_here", [False, True], ids=["pid-absent-here", "pid-taken-here"])
def test_a_worker_in_another_pid_namespace_is_judged_by_its_lease_alone(  # type: ignore[no-untyped-def]
    redis_env, workers, namespaces, its_pid_runs_here,
) -> None:
    theirs, ours = namespaces(), namespaces()  # two containers sharing this machine's hostname
    workers(redis_env, 1, prefix=theirs.prefix())
    tok = token()
    ref, identity = running_on_a_worker(redis_env, tok)
    assert (identity.host, identity.boot_id) == (socket.gethostname(), boot_id())
    assert identity.pid_ns not in (None, pid_namespace()), "the worker ran in a pid namespace of its own"
    if its_pid_runs_here:  # the worker's pid names another process in the reaper's namespace
        assert ours.start_with_pid(identity.pid, ["sleep", token()]) == identity.pid
    else:
        assert not ours.runs(identity.pid)

    done = reap_in(ours, redis_env, "3600")  # a fresh heartbeat
    assert ref not in done["lost"]
    assert status(ref) == "running" and len(pids_with(tok)) == 1, "a run with a fresh heartbeat was touched"

    theirs.stop()  # that container dies: from the other one, only the lease can tell
    done = reap_in(ours, redis_env, "3600")
    assert ref not in done["lost"] and status(ref) == "running"

    deadline = time.monotonic() + 60
    while Execution.objects.get(pk=ref).heartbeat_at > timezone.now() - timedelta(seconds=float(LEASE)):
        assert time.monotonic() < deadline, "the heartbeat went on after the worker died"
        time.sleep(0.2)
    done = reap_in(ours, redis_env, LEASE)
    assert ref in done["lost"]
    row = Execution.objects.get(pk=ref)
    assert row.status == "lost" and "sent no heartbeat since" in row.error_message, row.error_message
    assert "not in this machine's pid namespace" in row.error_message and row.result["metadata"]["stop_confirmed"] is False
    if its_pid_runs_here:
        assert ours.runs(identity.pid), "the reaper killed a process that only shares the dead worker's pid"


@pytest.mark.parametrize("pid_reused", [False, True], ids=["pid-free", "pid-reused"])
def test_a_dead_worker_of_the_reapers_pid_namespace_is_lost_at_once(  # type: ignore[no-untyped-def]
    redis_env, workers, namespaces, pid_reused,
) -> None:
    here = namespaces()
    worker = workers(redis_env, 1, prefix=here.prefix())
    tok = token()
    ref, identity = running_on_a_worker(redis_env, tok)
    worker.kill()  # main process and pool; the run's command lives on (a session of its own)
    if pid_reused:  # a process started later took the dead worker's pid
        assert here.start_with_pid(identity.pid, ["sleep", token()]) == identity.pid
    done = reap_in(here, redis_env, "3600")  # the heartbeat is fresh: the process decides
    assert ref in done["lost"]
    row = Execution.objects.get(pk=ref)
    assert f"is gone (process {identity.pid} no longer exists" in row.error_message, row.error_message
    if pid_reused:
        assert "its pid now names a process started later" in row.error_message
        assert here.runs(identity.pid), "the process that took the pid was killed"
    assert row.result["metadata"]["stop_confirmed"] is True and pids_with(tok) == []


def test_an_identity_stored_as_host_pid_is_judged_by_its_lease() -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()  # a pid of this host that no longer runs: proves nothing about a host:pid worker
    row = Execution.objects.create(status="running", runner="local", worker=f"{socket.gethostname()}:{gone.pid}",
                                   started_at=timezone.now(), heartbeat_at=timezone.now())
    assert row.pk not in reap_once(lease=3600)["lost"]
    assert status(row.pk) == "running"
    Execution.objects.filter(pk=row.pk).update(heartbeat_at=timezone.now() - timedelta(hours=2))
    assert row.pk in reap_once(lease=3600)["lost"]
    assert "sent no heartbeat since" in Execution.objects.get(pk=row.pk).error_message


def test_a_cli_run_in_another_pid_namespace_is_left_alone_by_cli_commands(namespaces, tmp_path) -> None:  # type: ignore[no-untyped-def]
    theirs, ours = namespaces(), namespaces()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNWRIGHT_", "DATABASE_URL"))}
    env["RUNWRIGHT_HOME"] = str(tmp_path / "home")
    tok = token()
    theirs.next_pid(5000)  # a pid no process of the other namespace has
    cli = subprocess.Popen([*theirs.prefix(), RUNWRIGHT, "run", "--", "sh", "-c", f"echo started; exec sleep {tok}"],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert cli.stdout is not None and cli.stdout.readline() == "started\n"
        assert not ours.runs(5000)
        supervisor = ours.run([RUNWRIGHT, "list", "--json"], env=env)  # every command reaps dead supervisors first
        assert supervisor.returncode == 0, supervisor.stderr
        listed = json.loads(supervisor.stdout)
        assert [r["status"] for r in listed] == ["running"], listed[0]["error_message"]
        assert [Path(f"/proc/{p}/comm").read_text() for p in pids_with(tok)].count("sleep\n") == 1, "its command was stopped"
    finally:
        cli.kill()
        cli.wait()
        theirs.stop()
