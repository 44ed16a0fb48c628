"""Groups on real workers, Redis and PostgreSQL: what reaches the broker, cancelling a child,
a group's timeout, messages that could not be sent or were lost."""

from __future__ import annotations

import uuid

import pytest

from runwright.integrations.celery import cancel, submit_group
from runwright.integrations.django.models import Execution
from runwright.runners import RunSpec
from tests.celery.conftest import final, wait_for
from tests.helpers import pids_with, token

pytestmark = pytest.mark.postgres
REDIS_DB = 5  # the database redis_env points at


def _redis():  # type: ignore[no-untyped-def]
    import redis

    return redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB)


def test_a_group_of_200_puts_little_on_the_broker_and_no_secret_in_clear(redis_env, workers) -> None:  # type: ignore[no-untyped-def]
    secret = f"s3cret-{uuid.uuid4().hex}"
    specs = [RunSpec(["sh", "-c", f'test "$DEPLOY_TOKEN" = "{secret}"'], env={"DEPLOY_TOKEN": secret},
                     secret_env=["DEPLOY_TOKEN"]) for _ in range(200)]
    parent = submit_group(specs, max_parallel=200)  # every child queued at once, no worker yet
    queue = redis_env["RUNWRIGHT_QUEUE"]
    messages = _redis().lrange(queue, 0, -1)
    assert len(messages) == 200
    assert sum(len(m) for m in messages) < 2 * 1024 * 1024, "a few MB at most for 200 children"
    assert not any(secret.encode() in m for m in messages), "no message carries a sibling's (or any) secret"
    for row in Execution.objects.filter(parent_id=parent).values("spec", "command", "sealed_spec"):
        assert secret not in str(row)
    workers(redis_env, 2)
    assert wait_for([parent], final, timeout=240) == {parent: "success"}, "each run got its secret"
    assert Execution.objects.filter(parent_id=parent, status="success").count() == 200
    assert not Execution.objects.filter(parent_id=parent).exclude(sealed_spec="").exists(), \
        "a finished run keeps no sealed spec (its secrets do not outlive it, even encrypted)"


def test_cancelling_a_pending_child_never_fails_its_siblings(redis_env, workers) -> None:  # type: ignore[no-untyped-def]
    parent = submit_group([RunSpec(["true"]), RunSpec(["true"]), RunSpec(["true"]), RunSpec(["true"])], max_parallel=1)
    first, second, third, fourth = Execution.objects.filter(parent_id=parent).order_by("id").values_list("id", flat=True)
    assert cancel(first) == "cancelled"  # queued (its message sent): revoked, its slot goes to the next
    assert cancel(third) == "cancelled"  # not queued yet
    workers(redis_env, 1)
    wait_for([parent], final, timeout=60)
    statuses = dict(Execution.objects.filter(parent_id=parent).values_list("id", "status"))
    assert statuses == {first: "cancelled", second: "success", third: "cancelled", fourth: "success"}
    assert "2 cancelled, 2 success" in Execution.objects.get(pk=parent).error_message
    assert not Execution.objects.filter(parent_id=parent).exclude(sealed_spec="").exists()


def test_a_group_past_its_timeout_stops_its_runs_and_ends_timeout(redis_env, workers) -> None:  # type: ignore[no-untyped-def]
    tok = token()
    workers(redis_env, 1)
    parent = submit_group([RunSpec(["sleep", tok], grace_period=1), RunSpec(["true"])], max_parallel=1, timeout=2)
    wait_for([parent], final, timeout=60)
    children = list(Execution.objects.filter(parent_id=parent).order_by("id").values_list("status", "error_message"))
    assert [s for s, _ in children] == ["cancelled", "cancelled"]
    assert "not started: the group ran past its timeout of 2s" in children[1][1]
    row = Execution.objects.get(pk=parent)
    assert row.status == "timeout" and row.error_message.startswith("timed out after 2s"), row.error_message
    assert pids_with(tok) == []


def test_children_whose_messages_cannot_be_sent_end_the_group_instead_of_stalling(use_broker) -> None:  # type: ignore[no-untyped-def]
    use_broker("redis://:s3cret-broker-pw@127.0.0.1:1/0")  # nothing listens on port 1
    parent = submit_group([RunSpec(["true"]), RunSpec(["true"])], max_parallel=1)
    rows = list(Execution.objects.filter(parent_id=parent).values_list("status", "error_message"))
    assert [s for s, _ in rows] == ["error", "error"]
    assert all(m.startswith("could not be queued:") and "s3cret-broker-pw" not in m for _, m in rows)
    assert Execution.objects.get(pk=parent).status == "failed"


def test_a_submitted_run_whose_message_was_lost_is_found_and_reported(redis_env, monkeypatch, caplog) -> None:  # type: ignore[no-untyped-def]
    # Regression: a single submit() whose message the broker lost stayed pending for ever and
    # no reaper pass said a word. Its spec travelled only in the message: it is reported.
    import logging

    from runwright.integrations.celery import submit
    from runwright.integrations.celery.reaper import reap_once

    ref = submit(RunSpec(["true"]))
    _redis().delete(redis_env["RUNWRIGHT_QUEUE"])  # the broker lost the message
    assert ref not in reap_once(lease=3600)["queued_too_long"], "within its queued lease it is only waiting"
    monkeypatch.setenv("RUNWRIGHT_QUEUED_LEASE", "0")
    with caplog.at_level(logging.WARNING, "runwright.reaper"):
        found = reap_once(lease=3600)["queued_too_long"]
    assert ref in found
    assert f"execution {ref}: queued more than 0s ago and not taken by any worker" in caplog.text
    assert Execution.objects.get(pk=ref).status == "pending", "reported, not guessed at"


def test_a_queued_child_whose_message_was_lost_is_found_and_sent_again(redis_env, workers) -> None:  # type: ignore[no-untyped-def]
    parent = submit_group([RunSpec(["true"]), RunSpec(["true"])], max_parallel=2)
    _redis().delete(redis_env["RUNWRIGHT_QUEUE"])  # the broker lost both messages
    w = workers(dict(redis_env, RUNWRIGHT_QUEUED_LEASE="1"), 1)
    assert wait_for([parent], final, timeout=60) == {parent: "success"}
    assert "not taken by any worker; sending it again" in w.text()
