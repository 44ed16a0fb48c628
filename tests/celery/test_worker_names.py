"""Two `runwright worker`s on one host, on RabbitMQ and on Redis: both start, both take runs,
and Celery's remote control (inspect, ping, revoke: the cancel path) reaches the one it names.

Regression: every worker was Celery's default node ``celery@HOST``; on RabbitMQ the second one
died at start (``ResourceLocked`` on the pidbox queue) and exited 0, on Redis both answered to
the one name."""

from __future__ import annotations

import socket
import subprocess

import pytest

from runwright.integrations.celery import submit
from runwright.integrations.celery.app import get_app
from runwright.integrations.django.models import Execution
from runwright.runners import RunSpec
from runwright.runners.process_identity import ProcessIdentity
from tests.celery.conftest import final, wait_for
from tests.helpers import pids_with, token
from tests.infra.workers import RUNWRIGHT, Worker, rabbitmq_url

pytestmark = pytest.mark.postgres


@pytest.fixture(params=["rabbitmq", "redis"])
def broker_env(request, use_broker) -> dict[str, str]:  # type: ignore[no-untyped-def]
    url = rabbitmq_url() if request.param == "rabbitmq" else "redis://127.0.0.1:6379/5"
    return use_broker(url)  # type: ignore[no-any-return]


def owner_of(ref: int, candidates: list[Worker]) -> Worker:
    identity = ProcessIdentity.parse(Execution.objects.get(pk=ref).worker)
    assert identity is not None
    found = [w for w in candidates if identity.pid in w.pids()]
    assert len(found) == 1, (identity, [w.pids() for w in candidates])
    return found[0]


def test_two_workers_of_one_host_start_take_runs_and_are_reached_by_name(broker_env, workers) -> None:  # type: ignore[no-untyped-def]
    a, b = workers(broker_env, 1), workers(broker_env, 1)
    host = socket.gethostname()
    assert a.node != b.node and a.node.endswith(f"@{host}") and b.node.endswith(f"@{host}")
    assert a.proc.poll() is None and b.proc.poll() is None

    tok_of = {submit(RunSpec(["sleep", t], grace_period=1)): t for t in (token(), token())}
    refs = list(tok_of)
    wait_for(refs, lambda s: s == "running", timeout=60)
    owners = {ref: owner_of(ref, [a, b]) for ref in refs}
    assert {w.node for w in owners.values()} == {a.node, b.node}, "each worker took one run"
    on_a = next(ref for ref, w in owners.items() if w is a)
    on_b = next(ref for ref, w in owners.items() if w is b)
    task_of = dict(Execution.objects.filter(pk__in=refs).values_list("id", "task_id"))

    control = get_app().control
    active = control.inspect(destination=[a.node], timeout=5).active()
    assert list(active) == [a.node] and [t["id"] for t in active[a.node]] == [task_of[on_a]]
    assert control.ping(destination=[b.node], timeout=5) == [{b.node: {"ok": "pong"}}]

    control.revoke(task_of[on_a], terminate=True, destination=[a.node])  # only a's run stops
    wait_for([on_a], final, timeout=60)
    assert Execution.objects.get(pk=on_a).status == "cancelled"
    assert Execution.objects.get(pk=on_b).status == "running" and len(pids_with(tok_of[on_b])) == 1

    out = subprocess.run([RUNWRIGHT, "cancel", str(on_b)], env=broker_env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    wait_for([on_b], final, timeout=60)
    assert Execution.objects.get(pk=on_b).status == "cancelled"
    assert pids_with(tok_of[on_a]) == pids_with(tok_of[on_b]) == []


def test_hostname_is_celerys_own_and_a_name_in_use_is_refused(broker_env, workers) -> None:  # type: ignore[no-untyped-def]
    host = socket.gethostname()
    first = workers(broker_env, 1, hostname="first@%h")
    second = workers(broker_env, 1, hostname="second.%n")  # no @: a host, as Celery reads it
    assert (first.node, second.node) == (f"first@{host}", f"celery@second.{host.partition('.')[0]}")
    replies = get_app().control.ping(destination=[first.node, second.node], timeout=5)
    assert sorted(n for r in replies for n in r) == sorted([first.node, second.node])

    again = subprocess.run([RUNWRIGHT, "worker", "--hostname", "first@%h"], env=broker_env, capture_output=True,
                           text=True, timeout=60)
    assert again.returncode == 2, again.stderr
    lines = again.stderr.strip().splitlines()
    assert len(lines) == 1 and f"a running worker is already named 'first@{host}'" in lines[0], again.stderr
    assert first.proc.poll() is None, "the running worker of that name was not disturbed"


def test_a_worker_the_broker_refuses_exits_1(use_broker) -> None:  # type: ignore[no-untyped-def]
    # Regression: Celery's worker_main() dropped the worker's exit code, so a worker the broker
    # refused at start (the second celery@HOST on RabbitMQ) exited 0. Here RabbitMQ refuses to
    # declare its queue: one of that name exists with other arguments.
    from kombu import Connection, Queue

    env = use_broker(rabbitmq_url())
    with Connection(env["RUNWRIGHT_BROKER_URL"]) as conn:
        queue = Queue(env["RUNWRIGHT_QUEUE"], durable=False, auto_delete=True, channel=conn.default_channel)
        queue.declare()
        out = subprocess.run([RUNWRIGHT, "worker"], env=env, capture_output=True, text=True, timeout=120)
        queue.delete()
    assert "PRECONDITION_FAILED" in out.stderr, out.stderr[-2000:]
    assert out.returncode == 1


def test_a_loglevel_celery_does_not_know_is_one_line_and_exit_2(redis_env) -> None:  # type: ignore[no-untyped-def]
    out = subprocess.run([RUNWRIGHT, "worker", "--loglevel", "nonsense"], env=redis_env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert out.stderr.strip().splitlines() == [
        "runwright: Invalid value for '-l' / '--loglevel': 'NONSENSE' is not one of 'DEBUG', 'INFO', 'WARNING', "
        "'ERROR', 'CRITICAL', 'FATAL'."]
