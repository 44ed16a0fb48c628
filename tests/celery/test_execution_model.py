"""``settings.RUNWRIGHT_EXECUTION_MODEL``: the Celery integration records runs on a platform's
own model (its field names mapped in ``runwright_fields``), every read and write through the
Store: submitting, cancelling, the reaper. A model that cannot hold what a worker writes is
refused before anything is recorded, naming what it lacks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.test import override_settings
from django.utils import timezone

from runwright.integrations.celery import cancel, submit
from runwright.integrations.celery.groups import submit_group
from runwright.integrations.celery.reaper import reap_once
from runwright.integrations.celery.worker_logger import ExecutionModelError, worker_logger
from runwright.runners import RunSpec, Status
from tests.celery.test_recovery import dead_worker
from tests.legacy_app.models import DeployRun, OpsJob


@contextmanager
def recording_on(model: str) -> Iterator[None]:
    worker_logger.cache_clear()
    try:
        with override_settings(RUNWRIGHT_EXECUTION_MODEL=model):
            yield
    finally:
        worker_logger.cache_clear()


def test_submit_and_cancel_record_on_the_platforms_model() -> None:
    with recording_on("legacy_app.OpsJob"):
        ref = submit(RunSpec(["deploy", "--token", "s3cr3t-value"], env={"API_TOKEN": "s3cr3t-value"}))
        job = OpsJob.objects.get(pk=ref)
        assert (job.state, job.kind) == ("queued", "local")
        assert job.celery_task.startswith("runwright-")
        assert "s3cr3t-value" not in str(job.params)  # the stored spec is masked
        assert cancel(ref) == Status.CANCELLED
        job.refresh_from_db()
        assert (job.state, job.stop_asked) == ("aborted", True)


def test_the_reaper_marks_a_run_of_a_dead_worker_lost_on_the_platforms_model() -> None:
    job = OpsJob.objects.create(state="in_progress", kind="local", host=dead_worker(), began=timezone.now(),
                                last_seen=timezone.now(), params={"runner": "local", "grace_period": 1})
    with recording_on("legacy_app.OpsJob"):
        done = reap_once(lease=3600)
    job.refresh_from_db()
    assert job.pk in done["lost"]
    assert job.state == "lost" and job.failure.startswith("lost: ")
    assert job.ended is not None


def test_a_model_without_the_fields_a_worker_writes_is_refused_naming_them() -> None:
    before = DeployRun.objects.count()
    with recording_on("legacy_app.DeployRun"), pytest.raises(ExecutionModelError) as err:
        submit(RunSpec(["true"]))
    message = str(err.value)
    assert "\n" not in message
    for field in ("runner", "task_id", "worker", "heartbeat_at", "cancel_requested", "handle"):
        assert field in message
    assert DeployRun.objects.count() == before  # nothing half-recorded


def test_a_model_that_is_not_installed_is_one_line_naming_the_setting() -> None:
    with recording_on("nope.Job"), pytest.raises(ExecutionModelError, match=r"RUNWRIGHT_EXECUTION_MODEL='nope.Job'"):
        submit(RunSpec(["true"]))


def test_a_group_on_a_model_without_groups_is_refused_before_anything_is_recorded() -> None:
    before = OpsJob.objects.count()
    with recording_on("legacy_app.OpsJob"), pytest.raises(ExecutionModelError, match="parent_id.*sealed_spec"):
        submit_group([RunSpec(["true"]), RunSpec(["true"])])
    assert OpsJob.objects.count() == before
