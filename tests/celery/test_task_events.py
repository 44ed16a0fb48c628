"""Worker task events are on, so Flower (or any events receiver) shows runwright's runs."""

from __future__ import annotations

import threading

import pytest

from runwright.integrations.celery import submit
from runwright.integrations.django.models import Execution
from runwright.runners import RunSpec
from tests.celery.conftest import final, wait_for

pytestmark = pytest.mark.postgres


def test_a_runwright_worker_sends_task_events_for_its_runs(redis_env, workers) -> None:  # type: ignore[no-untyped-def]
    from runwright.integrations.celery.app import celery_app

    app = celery_app()
    seen: dict[str, list[str]] = {}
    ready, got = threading.Event(), threading.Event()

    def record(event: dict) -> None:  # type: ignore[type-arg]
        seen.setdefault(event.get("uuid", ""), []).append(event["type"])
        got.set()

    with app.connection() as conn:
        receiver = app.events.Receiver(conn, handlers={"*": record})

        def capture() -> None:
            ready.set()
            receiver.capture(limit=None, timeout=None, wakeup=False)

        thread = threading.Thread(target=capture, daemon=True)
        thread.start()
        assert ready.wait(10)
        workers(redis_env, 1)
        ref = submit(RunSpec(["true"]))
        assert wait_for([ref], final) == {ref: "success"}
        task_id = Execution.objects.get(pk=ref).task_id
        for _ in range(100):  # events arrive a moment after the row is final
            if "task-succeeded" in seen.get(task_id, []):
                break
            got.clear()
            got.wait(0.2)
        receiver.should_stop = True
    assert {"task-received", "task-started", "task-succeeded"} <= set(seen.get(task_id, [])), seen.get(task_id)
