"""Real workers SIGKILLed mid-build: a Jenkins build or a GitLab pipeline (REATTACH) is taken
over by another worker through Celery (the redelivered message -> run_or_take_over ->
runner.resume) and ends recorded with the build's own result; when no worker takes it over,
the reaper of a worker that never gets its message stops it on the server through
``stop_handle`` and marks the run ``lost``. The workers find the server and its credentials in
their environment (RUNWRIGHT_JENKINS_* / RUNWRIGHT_GITLAB_*): the specs name none."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from runwright.integrations.celery import submit
from runwright.integrations.django.models import Execution
from runwright.runners import RunSpec
from tests.celery.conftest import final, wait_for
from tests.celery.test_worker_death import log_of, started_with_handle, system_lines, wait_until
from tests.infra.gitlab_server import GitLabServer, JobScript
from tests.infra.jenkins_server import JenkinsServer, Script

pytestmark = pytest.mark.postgres

JOB = "team/app/deploy"
POLL = {"poll_interval": 0.1, "max_poll_interval": 0.2}


@pytest.fixture
def jenkins() -> Iterator[JenkinsServer]:
    with JenkinsServer() as server:
        yield server


@pytest.fixture
def gitlab() -> Iterator[GitLabServer]:
    with GitLabServer() as server:
        yield server


def jenkins_env(broker_env: dict[str, str], jenkins: JenkinsServer, **extra: str) -> dict[str, str]:
    """The server and its credentials in this process's environment (submit validates the spec
    here) and in the workers' (the hooks and the runs read them there)."""
    os.environ.update(RUNWRIGHT_JENKINS_URL=jenkins.url, RUNWRIGHT_JENKINS_USER=jenkins.user,
                      RUNWRIGHT_JENKINS_TOKEN=jenkins.token, **extra)
    return {**broker_env, **os.environ}


def gitlab_env(broker_env: dict[str, str], gitlab: GitLabServer, **extra: str) -> dict[str, str]:
    os.environ.update(RUNWRIGHT_GITLAB_URL=gitlab.url, RUNWRIGHT_GITLAB_TOKEN=gitlab.token, **extra)
    return {**broker_env, **os.environ}


def kill_pool_process(worker_name: str) -> None:
    os.kill(int(worker_name.rsplit(":", 1)[1]), signal.SIGKILL)


def assert_taken_over(ref: int, old_worker: str, says: bytes) -> None:
    wait_until("another worker took the run over",
               lambda: Execution.objects.filter(pk=ref, status="running").exclude(worker=old_worker).exists())
    wait_until("the runner follows the build again", lambda: says in log_of(ref))


# -- Jenkins -------------------------------------------------------------------------------------
def test_jenkins_build_is_reattached_after_its_pool_process_is_killed(  # type: ignore[no-untyped-def]
    redis_env, workers, jenkins,
) -> None:
    script = Script(chunks=[b"before-kill\n"], holds=True, result="UNSTABLE")
    jenkins.add_job(JOB, script, parameters=["RUNWRIGHT_EXECUTION"])
    worker = workers(jenkins_env(redis_env, jenkins), 2)
    ref = submit(RunSpec(runner="jenkins", grace_period=2, options={"job": JOB, **POLL}))
    row = started_with_handle(ref, b"before-kill")
    assert row.handle["queue_id"] and row.handle["job"] == JOB
    kill_pool_process(row.worker)

    assert_taken_over(ref, row.worker, b"re-attached to job")
    with jenkins.lock:  # the build goes on, then ends with its own result
        script.chunks.append(b"after-kill\n")
        script.holds = False
    wait_for([ref], final, timeout=90)
    row2 = Execution.objects.get(pk=ref)
    assert row2.status == "failed" and "unstable" in row2.error_message, (row2.status, row2.error_message)
    metadata = row2.result["metadata"]
    assert metadata["build_number"] == 1 and metadata["build_url"] == jenkins.job_url(JOB) + "1/", metadata
    assert metadata["result"] == "UNSTABLE"
    log = log_of(ref)
    assert b"before-kill" in log and b"after-kill" in log, log
    assert log.count(b"before-kill") == 1, "the console goes on after what was recorded, never replayed"
    assert f"re-attached by worker {row2.worker}" in system_lines(ref) and row2.worker != row.worker
    assert len(jenkins.jobs[JOB].builds) == 1 and jenkins.count("POST", "/buildWithParameters$") == 1, \
        "re-attached, never triggered again"
    assert jenkins.jobs[JOB].builds[0].parameters["RUNWRIGHT_EXECUTION"].endswith(f":{ref}")
    assert worker.proc.poll() is None


def test_jenkins_build_nobody_takes_over_is_stopped_by_the_reaper_and_lost(  # type: ignore[no-untyped-def]
    redis_env, workers, jenkins,
) -> None:
    jenkins.add_job(JOB, Script(chunks=[b"before-kill\n"], holds=True), parameters=["RUNWRIGHT_EXECUTION"])
    env = jenkins_env(redis_env, jenkins, RUNWRIGHT_REATTACH_WINDOW="1")
    doomed = workers(env, 1)
    ref = submit(RunSpec(runner="jenkins", grace_period=2, options={"job": JOB, **POLL}))
    row = started_with_handle(ref, b"before-kill")
    doomed.kill()
    workers(env, 1, queues="rw-elsewhere")  # its reaper runs; the run's message never reaches it

    wait_for([ref], final, timeout=90)
    row2 = Execution.objects.get(pk=ref)
    assert row2.status == "lost", (row2.status, row2.error_message)
    assert "no worker re-attached" in row2.error_message and "stopped through its handle" in row2.error_message, \
        row2.error_message
    assert row2.result["metadata"]["stop_confirmed"] is True
    build = jenkins.build(JOB, 1)
    assert not build.building and build.result == "ABORTED"
    assert jenkins.count("POST", r"/job/team/job/app/job/deploy/1/stop$") >= 1
    assert row.worker != row2.worker


# -- GitLab --------------------------------------------------------------------------------------
def test_gitlab_pipeline_is_reattached_after_its_pool_process_is_killed(  # type: ignore[no-untyped-def]
    redis_env, workers, gitlab,
) -> None:
    job = JobScript("deploy", stage="deploy", chunks=[b"before-kill\n"], holds=True, status="failed")
    gitlab.add_project("group/app", [JobScript("build", chunks=[b"built\n"]), job])
    worker = workers(gitlab_env(redis_env, gitlab), 2)
    ref = submit(RunSpec(runner="gitlab", grace_period=2, options={"project": "group/app", "ref": "main", **POLL}))
    row = started_with_handle(ref, b"before-kill")
    pipeline_id = row.handle["pipeline_id"]
    kill_pool_process(row.worker)

    assert_taken_over(ref, row.worker, b"re-attached to pipeline")
    with gitlab.lock:
        job.chunks.append(b"after-kill\n")
        job.holds = False
    wait_for([ref], final, timeout=90)
    row2 = Execution.objects.get(pk=ref)
    assert row2.status == "failed" and "deploy" in row2.error_message, (row2.status, row2.error_message)
    metadata = row2.result["metadata"]
    assert metadata["pipeline_id"] == pipeline_id and metadata["failed_jobs"] == ["deploy"], metadata
    log = log_of(ref)
    assert b"before-kill" in log and b"after-kill" in log and b"built" in log, log
    assert log.count(b"before-kill") == 1 and log.count(b"built") == 1, "traces go on after what was recorded"
    assert f"re-attached by worker {row2.worker}" in system_lines(ref) and row2.worker != row.worker
    assert gitlab.count("POST", "/pipeline$") == 1, "re-attached, never triggered again"
    assert worker.proc.poll() is None


def test_gitlab_pipeline_nobody_takes_over_is_cancelled_by_the_reaper_and_lost(  # type: ignore[no-untyped-def]
    redis_env, workers, gitlab,
) -> None:
    gitlab.add_project("group/app", [JobScript("deploy", chunks=[b"before-kill\n"], holds=True)])
    env = gitlab_env(redis_env, gitlab, RUNWRIGHT_REATTACH_WINDOW="1")
    doomed = workers(env, 1)
    ref = submit(RunSpec(runner="gitlab", grace_period=2, options={"project": "group/app", "ref": "main", **POLL}))
    row = started_with_handle(ref, b"before-kill")
    doomed.kill()
    workers(env, 1, queues="rw-elsewhere")

    wait_for([ref], final, timeout=90)
    row2 = Execution.objects.get(pk=ref)
    assert row2.status == "lost", (row2.status, row2.error_message)
    assert "stopped through its handle" in row2.error_message, row2.error_message
    assert row2.result["metadata"]["stop_confirmed"] is True
    pipeline = gitlab.pipeline(row.handle["pipeline_id"])
    assert pipeline.cancelled_at is not None and gitlab.count("POST", "/cancel$") >= 1
