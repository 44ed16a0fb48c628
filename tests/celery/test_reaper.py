"""The reaper judges only its own store's runs: another deployment on the same host (another
database) is left alone. Regression: a worker's reaper killed another deployment's runs."""

from __future__ import annotations

import os
import subprocess

import pytest

from runwright.integrations.celery.reaper import reap_once
from runwright.integrations.celery.worker_logger import worker_logger
from runwright.integrations.django.models import Execution
from tests.helpers import pids_with, token, wait_for_pids

pytestmark = pytest.mark.postgres


def sleeper(tag: str) -> tuple[str, subprocess.Popen[bytes]]:
    tok = token()
    env = dict(os.environ, RUNWRIGHT_EXECUTION_ID=tag)
    proc = subprocess.Popen(["sleep", tok], env=env, start_new_session=True)
    wait_for_pids(tok, 1)
    return tok, proc


def test_reaper_kills_leftovers_of_its_own_finished_runs_and_nothing_else() -> None:
    key = worker_logger().store.key
    done = Execution.objects.create(status="failed")
    live = Execution.objects.create(status="running")
    mine_done, p1 = sleeper(f"{key}:{done.pk}")
    mine_live, p2 = sleeper(f"{key}:{live.pk}")
    other, p3 = sleeper(f"0ther0deploy0:{done.pk}")  # same id, another database
    try:
        result = reap_once(lease=3600)
        assert result["swept"]["local"], "the local runner's sweep, found through the registry, removed it"
        p1.wait(5)
        assert pids_with(mine_done) == []
        assert len(pids_with(mine_live)) == 1, "a running execution's process must be left alone"
        assert len(pids_with(other)) == 1, "another deployment's process must be left alone"
    finally:
        for p in (p1, p2, p3):
            p.kill()
            p.wait()


def test_reaper_leaves_a_daemon_its_run_asked_to_keep() -> None:
    # Regression: a daemon kept with keep_background was killed by the next reaper pass.
    from runwright.runners import RunSpec

    logger = worker_logger()
    tok = token()
    result = logger.run(RunSpec(["sh", "-c", f"setsid sleep {tok} >/dev/null 2>&1 &"],
                                options={"keep_background": True}))
    try:
        assert result.ok and len(wait_for_pids(tok, 1)) == 1
        reap_once(lease=3600)
        assert len(pids_with(tok)) == 1, "the kept daemon was killed by the reaper"
    finally:
        for pid in pids_with(tok):
            os.kill(pid, 9)
