"""WebSocket consumers: one execution's live log, events and status; the list's status changes.

An anonymous or unauthorised socket is closed before it is accepted (code 4403) and gets
nothing. The log socket takes ``?offset=N&event=M`` (what the page already has) and sends
everything after it, in batches of at most ``BATCH_BYTES``, read from the store by offset:

- ``{"t": "log", "from": N, "to": M, "c": [[stream, text], ...]}`` (stream ``o``/``e``/``s``);
- ``{"t": "events", "items": [{"seq", "kind", "at", "data"}, ...]}``;
- ``{"t": "status", "execution": {...}}`` when the status changes;
- ``{"t": "end"}`` once the run is final and everything was sent; then the socket closes.

It wakes on the notifier's messages and otherwise reads the store every ``POLL_SECONDS``, so
a notification is never needed for correctness. Between two messages it waits
``COALESCE_SECONDS``, so a run printing a million lines costs the browser a few messages a
second, each up to ``BATCH_BYTES`` of log.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from runwright.integrations.web import access, notifier
from runwright.integrations.web.reading import TAIL_BYTES, execution_json, read_batch, tail_start
from runwright.runners.status import ACTIVE

POLL_SECONDS = 1.0
#: Log bytes sent and not yet acknowledged by the page, at most: a slow page slows the
#: sending, nothing piles up in the server or the browser.
WINDOW_BYTES = 1 << 20
#: A page further behind than this is moved to the log's last part (``skip``): the bytes in
#: between are in the download, not pushed through the browser.
SKIP_BYTES = 8 << 20
LIST_POLL_SECONDS = 2.0
COALESCE_SECONDS = 0.03
DENIED = 4403
_tokens = itertools.count(1)


def _logger() -> Any:
    from runwright.integrations.web.views import web_logger

    return web_logger()


class _Guarded(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    group = ""
    perm = access.VIEW

    async def connect(self) -> None:
        user = self.scope.get("user")
        if not await database_sync_to_async(access.can)(user, self.perm):
            await self.close(code=DENIED)
            return
        self.wake = asyncio.Event()
        self.token = next(_tokens)
        self.group = self.group_name()
        notifier.listen_local(self.group, self.token, asyncio.get_running_loop(), self.on_local)
        if self.channel_layer is not None:
            await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.started()

    def group_name(self) -> str:
        raise NotImplementedError

    async def started(self) -> None:
        pass

    def on_local(self, message: dict[str, Any]) -> None:
        self.wake.set()

    async def disconnect(self, code: int) -> None:
        if not self.group:
            return
        notifier.unlisten_local(self.group, self.token)
        if self.channel_layer is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)
        task = getattr(self, "pump", None)
        if task is not None:
            task.cancel()

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        pass  # the list page only listens


class ExecutionConsumer(_Guarded):
    """``ws/runwright/executions/<id>/``: the live log, events and status of one execution."""

    def group_name(self) -> str:
        self.ref = int(self.scope["url_route"]["kwargs"]["pk"])
        return notifier.execution_group(self.ref)

    async def started(self) -> None:
        query = parse_qs(self.scope.get("query_string", b"").decode())
        self.offset = max(0, int((query.get("offset") or ["0"])[0] or 0))
        self.acked = self.offset
        self.event = max(0, int((query.get("event") or ["0"])[0] or 0))
        self.status: str | None = (query.get("status") or [None])[0]
        self.pump = asyncio.ensure_future(self._pump())

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        """The page acknowledges what it has shown: ``{"ack": offset}``."""
        if isinstance(content, dict) and isinstance(content.get("ack"), int):
            self.acked = max(self.acked, content["ack"])
            self.wake.set()

    async def runwright_status(self, message: dict[str, Any]) -> None:
        self.wake.set()

    async def runwright_stored(self, message: dict[str, Any]) -> None:
        self.wake.set()

    async def _pump(self) -> None:
        try:
            while True:
                if self.offset - self.acked >= WINDOW_BYTES:  # the page is behind: wait for its ack
                    try:
                        await asyncio.wait_for(self.wake.wait(), POLL_SECONDS * 10)
                    except TimeoutError:
                        pass
                    self.wake.clear()
                    continue
                messages, more, done = await database_sync_to_async(self._read)()
                for msg in messages:
                    await self.send_json(msg)
                if done:
                    await self.send_json({"t": "end"})
                    await self.close()
                    return
                if not more:
                    try:
                        await asyncio.wait_for(self.wake.wait(), POLL_SECONDS)
                    except TimeoutError:
                        pass
                self.wake.clear()
                await asyncio.sleep(COALESCE_SECONDS)
        except asyncio.CancelledError:
            raise
        except Exception:
            import logging

            logging.getLogger("runwright.web").exception("execution %s: live view failed", self.ref)
            await self.close(code=1011)

    def _read(self) -> tuple[list[dict[str, Any]], bool, bool]:
        """What to send now, whether more is already stored, whether the run is over and sent."""
        logger = _logger()
        view = logger.get(self.ref)  # the status first: final and then read all means all
        final = view.status not in ACTIVE
        messages: list[dict[str, Any]] = []
        if str(view.status) != self.status:
            self.status = str(view.status)
            live_end = None if final else logger.store.log_end(self.ref)
            messages.append({"t": "status", "execution": execution_json(view, log_end=live_end)})
        end = view.stored_bytes if final and view.stored_bytes else logger.store.log_end(self.ref)
        if end - self.offset > SKIP_BYTES:
            start = tail_start(logger, self.ref, end, TAIL_BYTES)
            messages.append({"t": "skip", "from": self.offset, "to": start})
            self.offset = self.acked = start
        batch = read_batch(logger, self.ref, self.offset, final)
        if batch.end > self.offset:
            messages.append(batch.to_dict())
            self.offset = batch.end
        events = []
        if hasattr(logger, "read_events"):
            events = logger.read_events(self.ref, self.event, 500)
            if events:
                self.event = events[-1].seq
                messages.append({"t": "events", "items": [e.to_dict() for e in events]})
        # A final run: read on without waiting until a read finds nothing, then it is over.
        more = (bool(batch.parts) and (final or batch.end - batch.start >= 64 * 1024)) or len(events) >= 500
        return messages, more, final and not batch.parts and not events


class ExecutionListConsumer(_Guarded):
    """``ws/runwright/executions/``: status changes of every execution, for the list page.
    Notifications make them instant; a poll of new and active executions every
    ``LIST_POLL_SECONDS`` finds those no notification told of (runs of other processes with
    the in-memory layer)."""

    async def started(self) -> None:
        self.known: dict[int, str] = {}
        self.max_id = await database_sync_to_async(self._baseline)()
        self.pump = asyncio.ensure_future(self._poll())

    def group_name(self) -> str:
        return notifier.LIST_GROUP

    def on_local(self, message: dict[str, Any]) -> None:
        self.pending = asyncio.ensure_future(self._forward(message))  # sent in order on this loop

    async def runwright_status(self, message: dict[str, Any]) -> None:
        await self._forward(message)

    async def _forward(self, message: dict[str, Any]) -> None:
        ref = int(message["id"]) if str(message["id"]).isdigit() else message["id"]
        if isinstance(ref, int):
            if self.known.get(ref) == message["status"]:
                return
            self.known[ref] = message["status"]
        await self.send_json({"t": "status", "id": message["id"], "status": message["status"],
                              "runner": message.get("runner", "")})

    def _baseline(self) -> int:
        from runwright.integrations.django.models import Execution

        for pk, status in Execution.objects.filter(status__in=[s.value for s in ACTIVE]).values_list("id", "status"):
            self.known[pk] = status
        return Execution.objects.order_by("-id").values_list("id", flat=True).first() or 0

    def _changes(self, active: list[int], known: dict[int, str]) -> list[dict[str, Any]]:
        from django.db.models import Q

        from runwright.integrations.django.models import Execution

        rows = Execution.objects.filter(Q(id__gt=self.max_id) | Q(id__in=active)).exclude(runner="group")
        out = []
        for pk, status, runner in rows.order_by("id").values_list("id", "status", "runner")[:500]:
            self.max_id = max(self.max_id, pk)
            if known.get(pk) != status:
                out.append({"id": pk, "status": status, "runner": runner})
        return out

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(LIST_POLL_SECONDS)
            known = dict(self.known)  # a snapshot: the loop goes on updating self.known
            active = [pk for pk, st in known.items() if st in {s.value for s in ACTIVE}]
            for change in await database_sync_to_async(self._changes)(active, known):
                await self._forward(change)
