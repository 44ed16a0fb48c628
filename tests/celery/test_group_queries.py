"""What a group costs the database each time one of its children ends: the same few queries
whatever the group's size, none reading every child (no worker is needed: the children's
messages wait on Redis and each child is ended as its worker would end it)."""

from __future__ import annotations

import re

from django.db import connection
from django.test.utils import CaptureQueriesContext

from runwright.integrations.celery import submit_group
from runwright.integrations.celery.groups import advance_group
from runwright.integrations.celery.worker_logger import worker_logger
from runwright.runners import RunSpec, Status
from tests.celery.test_groups import _redis


def _reads_every_child(sql: str) -> bool:
    """A SELECT of children (by parent) that neither counts them nor stops at a LIMIT."""
    return (sql.startswith("SELECT") and re.search(r'"runwright_execution"\."parent_id" = ', sql) is not None
            and "COUNT(" not in sql and " LIMIT " not in sql)


def _completion_queries(size: int, queue: str) -> list[list[str]]:
    """Run a group of ``size`` (two at a time) to its end; the SQL of each child's completion."""
    from runwright.integrations.django.models import Execution

    logger = worker_logger()
    parent = submit_group([RunSpec(["true"]) for _ in range(size)], max_parallel=2)
    costs = []
    for _ in range(size):
        ref = Execution.objects.filter(parent_id=parent, status="pending").exclude(task_id="").order_by("id")[0].pk
        assert logger.transition(ref, Status.RUNNING, {}, "worker")
        assert logger.transition(ref, Status.SUCCESS, {"return_code": 0}, "worker")
        with CaptureQueriesContext(connection) as queries:
            advance_group(parent)
        costs.append([q["sql"] for q in queries.captured_queries])
    assert Execution.objects.get(pk=parent).status == "success"
    assert not Execution.objects.filter(parent_id=parent).exclude(sealed_spec="").exists()
    _redis().delete(queue)
    return costs


def test_a_childs_completion_costs_the_same_queries_in_a_group_of_5_as_of_50(redis_env) -> None:  # type: ignore[no-untyped-def]
    small, large = (_completion_queries(n, redis_env["RUNWRIGHT_QUEUE"]) for n in (5, 50))
    # The first completion of each group queues the third child; the last ends the group.
    assert len(small[0]) == len(large[0]), (small[0], large[0])
    assert {len(q) for q in large[:-2]} == {len(small[0])}, "every completion that queues the next costs the same"
    assert [sql for sql in large[0] if _reads_every_child(sql)] == []
