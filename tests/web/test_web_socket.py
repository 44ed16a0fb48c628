"""The execution socket through Channels' test communicator: who gets in, and that it sends
exactly what lies after the offset and event number it is given, then ``end``."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser, Permission, User

from runwright.integrations.web.routing import websocket_urlpatterns
from runwright.logging_core import ExecutionLogger
from runwright.runners import RunResult, RunSpec, Status


def _viewer() -> User:
    name = f"v-{uuid.uuid4().hex[:8]}"
    user = User.objects.create_user(name, password="pw")
    user.user_permissions.add(Permission.objects.get(content_type__app_label="runwright", codename="view_execution"))
    return User.objects.get(pk=user.pk)  # a fresh instance: no stale permission cache


def _recorded() -> int:
    """A finished execution with two events and a log of 3 lines, recorded through the public API."""
    logger = ExecutionLogger()
    spec = RunSpec(["play"])
    ref = logger.create(spec)
    rec = logger.recorder(ref, spec)
    assert rec.claim() is None
    rec.output("stdout", b"one\n")
    rec.event("ansible.task", {"host": "web1", "task": "install", "ok": True})
    rec.output("stderr", b"two\n")
    rec.event("ansible.task", {"host": "web2", "task": "install", "ok": False})
    rec.output("stdout", b"three\n")
    rec.finished(RunResult(status=Status.SUCCESS, exit_code=0))
    return int(ref)


async def _talk(user: Any, path: str) -> tuple[bool, Any, list[dict[str, Any]]]:
    communicator = WebsocketCommunicator(URLRouter(websocket_urlpatterns), path)
    communicator.scope["user"] = user
    connected, code = await communicator.connect(timeout=10)
    got: list[dict[str, Any]] = []
    if connected:
        while not got or got[-1].get("t") != "end":
            got.append(await communicator.receive_json_from(timeout=10))
        await communicator.disconnect()
    return connected, code, got


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_anonymous_and_unauthorised_sockets_get_nothing() -> None:
    ref = _recorded()
    nobody = User.objects.create_user(f"n-{uuid.uuid4().hex[:8]}", password="pw")
    for user in (AnonymousUser(), nobody):
        connected, code, got = _run(_talk(user, f"ws/runwright/executions/{ref}/"))
        assert not connected and code == 4403 and got == []


def test_socket_sends_what_lies_after_the_offset_and_event_then_end() -> None:
    ref = _recorded()
    viewer = _viewer()
    connected, _, got = _run(_talk(viewer, f"ws/runwright/executions/{ref}/?offset=4&event=1"))
    assert connected
    logs = [m for m in got if m["t"] == "log"]
    assert logs[0]["from"] == 4 and logs[-1]["to"] == len(b"one\ntwo\nthree\n")
    assert [p for m in logs for p in m["c"]] == [["e", "two\n"], ["o", "three\n"]]
    events = [e for m in got if m["t"] == "events" for e in m["items"]]
    assert [(e["seq"], e["data"]["host"]) for e in events] == [(2, "web2")]
    assert got[0]["t"] == "status" and got[0]["execution"]["status"] == "success" and got[-1] == {"t": "end"}


def test_detail_page_lists_the_events() -> None:
    from django.test import Client

    ref = _recorded()
    viewer = _viewer()
    c = Client()
    c.force_login(viewer)
    page = c.get(f"/runwright/executions/{ref}/").content.decode()
    assert '"kind": "ansible.task"' in page and '"host": "web2"' in page


def test_a_page_far_behind_is_moved_to_the_last_part_and_told_so() -> None:
    size = 20 << 20
    line = b"z" * 99 + b"\n"
    logger = ExecutionLogger(max_stored_bytes=size * 2)
    spec = RunSpec(["big"])
    ref = logger.create(spec)
    rec = logger.recorder(ref, spec)
    assert rec.claim() is None
    for _ in range(size // (len(line) * 1000)):
        rec.output("stdout", line * 1000)
    rec.finished(RunResult(status=Status.SUCCESS, exit_code=0))
    total = (size // (len(line) * 1000)) * len(line) * 1000
    connected, _, got = _run(_talk(_viewer(), f"ws/runwright/executions/{ref}/?offset=0"))
    assert connected
    (skip,) = [m for m in got if m["t"] == "skip"]
    logs = [m for m in got if m["t"] == "log"]
    assert skip["from"] == 0 and total - 300_000 < skip["to"] < total and skip["to"] % len(line) == 0
    assert logs[0]["from"] == skip["to"] and logs[-1]["to"] == total, "from the skip on, every byte, in order"
    assert sum(m["to"] - m["from"] for m in logs) == total - skip["to"]
