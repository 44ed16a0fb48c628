"""Queued runs on real workers: exactly once, crash recovery, cancellation, groups, brokers."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from runwright.integrations.celery import cancel, submit, submit_group
from runwright.integrations.django.models import Execution
from runwright.runners import RunSpec
from tests.celery.conftest import final, wait_for
from tests.helpers import pids_with, token
from tests.infra.workers import RUNWRIGHT, PersistentRedis, rabbitmq_url, restart_rabbitmq, stop_worker

pytestmark = pytest.mark.postgres


def marker_spec(path: Path, extra: str = "") -> RunSpec:
    """A run that appends its execution id (the part after the store key) to a file: counts how
    often it really ran."""
    return RunSpec(["sh", "-c", f'echo "${{RUNWRIGHT_EXECUTION_ID##*:}}" >> {path}{extra}'])


def test_200_runs_on_two_workers_each_recorded_exactly_once(redis_env, workers, tmp_path) -> None:  # type: ignore[no-untyped-def]
    a, b = workers(redis_env, 2), workers(redis_env, 2)
    marks = tmp_path / "ran.txt"
    ids = [submit(marker_spec(marks)) for _ in range(200)]
    statuses = wait_for(ids, final, timeout=180)
    assert set(statuses.values()) == {"success"}
    lines = marks.read_text().split()
    assert sorted(map(int, lines)) == sorted(ids), "every run ran exactly once"
    hosts = set(Execution.objects.filter(pk__in=ids).values_list("worker", flat=True))
    assert len(hosts) >= 2, f"both workers should have taken runs, got {hosts}"
    assert {int(h.rsplit(":", 1)[1]) for h in hosts} <= a.pids() | b.pids()


def test_worker_killed_mid_run_is_lost_leaves_nothing_and_never_runs_twice(redis_env, workers, tmp_path) -> None:  # type: ignore[no-untyped-def]
    tok, marks = token(), tmp_path / "started.txt"
    doomed = workers(redis_env, 1)
    ref = submit(RunSpec(["sh", "-c", f"echo started >> {marks}; sleep {tok} & sleep {tok}; echo finished >> {marks}"]))
    wait_for([ref], lambda s: s == "running", timeout=30)
    deadline = time.monotonic() + 10
    while len(pids_with(tok)) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(pids_with(tok)) == 3  # the shell and its two sleepers
    doomed.kill()
    survivor = workers(redis_env, 1)  # its reaper runs at start, then every lease/3
    t0 = time.monotonic()
    wait_for([ref], lambda s: s == "lost", timeout=20)
    row = Execution.objects.get(pk=ref)
    assert "lost: worker" in row.error_message and row.finished_at is not None
    deadline = time.monotonic() + 10
    while pids_with(tok) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert pids_with(tok) == [], "the run's process tree survived its worker"
    # Redis hands the unacknowledged message back after the visibility timeout (5 s here):
    # the survivor receives it, and the claim refuses to run it again.
    deadline = time.monotonic() + 30
    task_id = Execution.objects.get(pk=ref).task_id
    while f"{task_id}]" not in survivor.text() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert f"{task_id}]" in survivor.text(), "the message was not redelivered"
    time.sleep(1)
    assert marks.read_text() == "started\n", "the command ran a second time"
    assert Execution.objects.get(pk=ref).status == "lost"
    assert time.monotonic() - t0 < 60


def test_cancel_a_running_execution_from_another_process(redis_env, workers, tmp_path) -> None:  # type: ignore[no-untyped-def]
    tok = token()
    workers(redis_env, 1)
    ref = submit(RunSpec(["sh", "-c", f"sleep {tok} & sleep {tok}"], grace_period=1))
    wait_for([ref], lambda s: s == "running", timeout=30)
    out = subprocess.run([RUNWRIGHT, "cancel", str(ref)], env=redis_env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    wait_for([ref], final, timeout=60)  # the worker polls the request about every second
    assert Execution.objects.get(pk=ref).status == "cancelled"
    assert pids_with(tok) == []


def test_cancel_a_pending_execution_it_never_starts(redis_env, workers, tmp_path) -> None:  # type: ignore[no-untyped-def]
    marks = tmp_path / "ran.txt"
    ref = submit(marker_spec(marks), queue="parked")  # no worker listens there yet
    assert cancel(ref) == "cancelled"
    worker = workers(redis_env, 1, queues="parked")
    later = submit(marker_spec(marks), queue="parked")
    wait_for([later], final, timeout=30)
    assert Execution.objects.get(pk=ref).status == "cancelled"
    assert marks.read_text().split() == [str(later)], "the cancelled run must never start"
    assert worker.proc.poll() is None


def test_revoke_is_wired(redis_env, workers, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from runwright.integrations.celery.app import get_app

    tok, marks = token(), tmp_path / "ran.txt"
    workers(redis_env, 1)
    busy = submit(RunSpec(["sleep", tok], grace_period=1))
    wait_for([busy], lambda s: s == "running", timeout=30)
    queued = submit(marker_spec(marks))
    task_of = dict(Execution.objects.filter(pk__in=[busy, queued]).values_list("id", "task_id"))
    get_app().control.revoke(task_of[queued])
    get_app().control.revoke(task_of[busy], terminate=True)  # SIGTERM to the pool process
    statuses = wait_for([busy, queued], final, timeout=30)
    assert statuses == {busy: "cancelled", queued: "cancelled"}
    assert not marks.exists() and pids_with(tok) == []


def test_own_timeout_governs(redis_env, workers) -> None:  # type: ignore[no-untyped-def]
    workers(redis_env, 1)
    ref = submit(RunSpec(["sleep", "30"], timeout=1, grace_period=1))
    wait_for([ref], final, timeout=30)
    row = Execution.objects.get(pk=ref)
    assert row.status == "timeout" and row.error_message.startswith("timed out after 1s")


def test_celery_hard_time_limit_leaves_no_inconsistent_row(redis_env, workers) -> None:  # type: ignore[no-untyped-def]
    tok = token()
    workers(dict(redis_env, RUNWRIGHT_TASK_TIME_LIMIT="2"), 1)
    ref = submit(RunSpec(["sleep", tok]))
    wait_for([ref], final, timeout=30)
    row = Execution.objects.get(pk=ref)
    # SIGTERM, then SIGKILL 0.1 s later: stopped in time it is a timeout, else the reaper's lost.
    assert (row.status, row.error_message[:40]) in {
        ("timeout", "Celery's hard time limit of 2s was reach"), ("lost", row.error_message[:40])}, row.error_message
    if row.status == "lost":
        assert "is gone" in row.error_message
    deadline = time.monotonic() + 10
    while pids_with(tok) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert pids_with(tok) == []


def test_fail_fast_group_cancels_running_siblings_and_skips_the_rest(redis_env, workers, tmp_path) -> None:  # type: ignore[no-untyped-def]
    tok = token()
    workers(redis_env, 2)
    specs = [RunSpec(["sleep", tok], grace_period=1), RunSpec(["sh", "-c", "sleep 0.5; exit 3"]),
             RunSpec(["echo", "third"]), RunSpec(["echo", "fourth"])]
    parent = submit_group(specs, max_parallel=2, policy="fail_fast")
    wait_for([parent], final, timeout=60)
    children = list(Execution.objects.filter(parent_id=parent).order_by("id").values_list("status", "started_at"))
    assert [s for s, _ in children] == ["cancelled", "failed", "cancelled", "cancelled"]
    assert children[2][1] is None and children[3][1] is None, "runs not started stay unstarted"
    row = Execution.objects.get(pk=parent)
    assert row.status == "failed" and row.error_message == "3 cancelled, 1 failed"
    assert pids_with(tok) == []


def test_wait_all_respects_max_parallel_and_wait_any(redis_env, workers, tmp_path) -> None:  # type: ignore[no-untyped-def]
    workers(redis_env, 4)
    log = tmp_path / "spans.txt"
    script = f'echo "start $(date +%s.%N)" >> {log}; sleep 0.4; echo "end $(date +%s.%N)" >> {log}'
    parent = submit_group([RunSpec(["sh", "-c", script]) for _ in range(6)], max_parallel=2, policy="wait_all")
    wait_for([parent], final, timeout=60)
    assert Execution.objects.get(pk=parent).status == "success"
    spans = (line.split() for line in log.read_text().splitlines())
    events = sorted((float(t), 1 if kind == "start" else -1) for kind, t in spans)
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    assert peak == 2 and len(events) == 12
    any_parent = submit_group([RunSpec(["sh", "-c", "exit 1"]), RunSpec(["true"]), RunSpec(["sleep", "30"], grace_period=1)],
                              policy="wait_any")
    wait_for([any_parent], final, timeout=60)
    assert Execution.objects.get(pk=any_parent).status == "success"
    assert sorted(Execution.objects.filter(parent_id=any_parent).values_list("status", flat=True)) == [
        "cancelled", "failed", "success"]


def test_queued_runs_survive_a_redis_restart_and_run_once(use_broker, workers, tmp_path) -> None:  # type: ignore[no-untyped-def]
    redis = PersistentRedis()
    try:
        env = use_broker(redis.url)
        marks = tmp_path / "ran.txt"
        ids = [submit(marker_spec(marks)) for _ in range(5)]
        redis.restart()
        workers(env, 2)
        wait_for(ids, final, timeout=60)
        assert sorted(map(int, marks.read_text().split())) == sorted(ids)
    finally:
        redis.stop()


def test_queued_runs_survive_a_rabbitmq_restart_and_run_once(use_broker, workers, tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = use_broker(rabbitmq_url())
    marks = tmp_path / "ran.txt"
    worker = workers(env, 1)
    busy = submit(RunSpec(["sh", "-c", f"sleep 2; echo ${{RUNWRIGHT_EXECUTION_ID##*:}} >> {marks}"]))
    wait_for([busy], lambda s: s == "running", timeout=30)
    ids = [submit(marker_spec(marks)) for _ in range(5)]
    restart_rabbitmq()  # while a run is going and five are queued
    wait_for([busy, *ids], final, timeout=120)
    assert sorted(map(int, marks.read_text().split())) == sorted([busy, *ids]), "each ran exactly once"
    assert worker.proc.poll() is None


def test_embedded_default_needs_no_server(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNWRIGHT_", "DATABASE_URL"))}
    env["RUNWRIGHT_HOME"] = str(tmp_path)
    worker = subprocess.Popen([RUNWRIGHT, "worker", "--concurrency", "1"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        out = subprocess.run([RUNWRIGHT, "submit", "--wait", "--", "sh", "-c", "echo queued-and-run; exit 3"],
                             env=env, capture_output=True, text=True, timeout=90)
        assert out.returncode == 3, out.stderr
        assert out.stdout.splitlines() == ["1", "queued-and-run"]
        assert (tmp_path / "broker.sqlite3").exists() and (tmp_path / "runwright.sqlite3").exists()
    finally:
        stop_worker(worker)




def test_group_from_the_command_line(redis_env, workers, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    workers(redis_env, 2)
    spec_file = tmp_path / "stage.json"
    spec_file.write_text(json.dumps({"policy": "wait_all", "max_parallel": 2, "name": "test stage",
                                     "runs": [{"command": ["true"]}, {"command": ["sh", "-c", "exit 4"]}]}))
    out = subprocess.run([RUNWRIGHT, "group", str(spec_file), "--wait"], env=redis_env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 1 and "1 failed, 1 success" in out.stderr, out.stderr
    parent = int(out.stdout.strip())
    assert Execution.objects.get(pk=parent).command == "test stage"
    spec_file.write_text(json.dumps({"runs": [{"command": []}]}))
    bad = subprocess.run([RUNWRIGHT, "group", str(spec_file)], env=redis_env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "runs[0].command: is empty" in bad.stderr


def test_submit_with_the_broker_down_records_an_error_and_raises(use_broker) -> None:  # type: ignore[no-untyped-def]
    use_broker("redis://:s3cret-broker-pw@127.0.0.1:1/0")  # nothing listens on port 1
    with pytest.raises(Exception) as info:
        submit(RunSpec(["true"]))
    row = Execution.objects.order_by("-id").first()
    assert row.status == "error" and row.error_message.startswith("could not be queued:")
    assert "s3cret-broker-pw" not in row.error_message and "s3cret-broker-pw" not in str(info.value)


def test_a_group_whose_running_child_is_lost_ends_instead_of_stalling(redis_env, workers) -> None:  # type: ignore[no-untyped-def]
    tok = token()
    doomed = workers(redis_env, 1)
    parent = submit_group([RunSpec(["sleep", tok]), RunSpec(["echo", "second"])], max_parallel=1, policy="wait_all")
    first = Execution.objects.filter(parent_id=parent).order_by("id").first()
    wait_for([first.pk], lambda s: s == "running", timeout=30)
    doomed.kill()
    workers(redis_env, 1)
    wait_for([parent], final, timeout=30)
    children = list(Execution.objects.filter(parent_id=parent).order_by("id").values_list("status", "error_message"))
    # The second child's spec is stored (sealed): it runs although the first one's worker died.
    assert [s for s, _ in children] == ["lost", "success"]
    assert Execution.objects.get(pk=parent).status == "failed"
    deadline = time.monotonic() + 10
    while pids_with(tok) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert pids_with(tok) == []


def test_celery_soft_time_limit_stops_the_run_as_a_timeout(redis_env, workers) -> None:  # type: ignore[no-untyped-def]
    tok = token()
    workers(dict(redis_env, RUNWRIGHT_TASK_SOFT_TIME_LIMIT="1"), 1)
    ref = submit(RunSpec(["sleep", tok], grace_period=1))
    wait_for([ref], final, timeout=30)
    row = Execution.objects.get(pk=ref)
    assert row.status == "timeout" and row.error_message.startswith("Celery's soft time limit of 1s was reached")
    assert pids_with(tok) == []
