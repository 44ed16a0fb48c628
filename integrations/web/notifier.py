"""Tells browsers, through the Channels layer, what an ExecutionLogger just recorded.

An observer on the ExecutionLogger publishes two kinds of notification:

- to group ``runwright.executions``: ``{"type": "runwright.status", "id", "status",
  "previous", "runner"}`` on every status change (the list page);
- to group ``runwright.execution.<id>``: the same status message, and
  ``{"type": "runwright.stored", "id", "end", "event"}`` when output up to byte ``end`` and
  events up to ``event`` are in the store.

A notification never carries the data: the consumer reads the bytes from the store by
offset, so a lost notification costs latency (the consumer also polls), never output.
With the in-memory layer only browsers of this process hear it; with channels-redis
(``CHANNEL_LAYERS`` in a project, ``RUNWRIGHT_CHANNEL_LAYER_URL`` standalone) runs on any
worker reach every browser.

The recording thread never waits for the layer: notifications are queued to one
background thread with its own event loop, and stored-offset notifications of one
execution are coalesced (only the newest end is sent).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Mapping
from typing import Any

from runwright.logging_core.observers import BaseObserver, register_observer
from runwright.runners.status import Status

log = logging.getLogger("runwright.web")

LIST_GROUP = "runwright.executions"


def execution_group(execution_id: Any) -> str:
    return f"runwright.execution.{execution_id}"


class ChannelsNotifier(BaseObserver):
    """One per process (see :func:`notifier`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stored: dict[Any, tuple[int, int]] = {}
        self._queue: list[tuple[str, dict[str, Any]]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._scheduled = False

    # -- observer hooks (recording thread) --------------------------------------------------
    def on_status(self, execution_id: Any, old: Status | None, new: Status, info: Mapping[str, Any]) -> None:
        msg = {"type": "runwright.status", "id": _plain(execution_id), "status": str(new),
               "previous": old and str(old), "runner": info.get("runner") or ""}
        wake_local(LIST_GROUP, msg)
        wake_local(execution_group(execution_id), msg)
        with self._lock:
            self._queue.append((LIST_GROUP, msg))
            self._queue.append((execution_group(execution_id), msg))
        self._kick()

    def on_stored(self, execution_id: Any, log_end: int, last_event: int) -> None:
        wake_local(execution_group(execution_id),
                   {"type": "runwright.stored", "id": _plain(execution_id), "end": log_end, "event": last_event})
        with self._lock:
            self._stored[execution_id] = (log_end, last_event)
        self._kick()

    # -- delivery (the notifier's thread) -------------------------------------------------------
    def _kick(self) -> None:
        with self._lock:
            if self._scheduled:
                return
            self._scheduled = True
        self._ensure_loop().call_soon_threadsafe(lambda: asyncio.ensure_future(self._deliver()))

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="runwright-notifier", daemon=True).start()
                self._loop = loop
            return self._loop

    def flush(self, timeout: float = 2.0) -> None:
        """Deliver what is queued before the process exits (a CLI run's last status change
        would otherwise die with the daemon thread)."""
        with self._lock:
            loop, pending = self._loop, bool(self._queue or self._stored)
        if loop is None or not pending or not loop.is_running():
            return
        try:
            asyncio.run_coroutine_threadsafe(self._deliver(), loop).result(timeout)
        except Exception:
            log.warning("notifications not delivered before exit", exc_info=True)

    async def _deliver(self) -> None:
        from channels.layers import get_channel_layer

        with self._lock:
            self._scheduled = False
            queue, self._queue = self._queue, []
            stored, self._stored = self._stored, {}
        layer = get_channel_layer()
        if layer is None or type(layer).__name__ == "InMemoryChannelLayer":
            return  # this process's browsers were woken directly (wake_local)
        for ref, (end, event) in stored.items():
            queue.append((execution_group(ref), {"type": "runwright.stored", "id": _plain(ref), "end": end, "event": event}))
        for group, msg in queue:
            try:
                await layer.group_send(group, msg)
            except Exception:  # the browsers poll the store too: nothing is lost
                log.warning("could not notify %s", group, exc_info=True)


def _plain(ref: Any) -> Any:
    return int(ref) if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()) else str(ref)


#: Consumers of this process: group -> {token: (loop, callback)}. Woken directly by the
#: notifier, whatever the layer (the in-memory layer cannot be used across threads' loops).
_local: dict[str, dict[int, tuple[asyncio.AbstractEventLoop, Any]]] = {}
_local_lock = threading.Lock()


def listen_local(group: str, token: int, loop: asyncio.AbstractEventLoop, callback: Any) -> None:
    with _local_lock:
        _local.setdefault(group, {})[token] = (loop, callback)


def unlisten_local(group: str, token: int) -> None:
    with _local_lock:
        members = _local.get(group, {})
        members.pop(token, None)
        if not members:
            _local.pop(group, None)


def wake_local(group: str, message: dict[str, Any]) -> None:
    with _local_lock:
        members = list(_local.get(group, {}).values())
    for loop, callback in members:
        try:
            loop.call_soon_threadsafe(callback, message)
        except RuntimeError:  # its loop is closed: the consumer is gone
            pass


_notifier: ChannelsNotifier | None = None
_notifier_lock = threading.Lock()


def notifier() -> ChannelsNotifier:
    """The process's notifier (the observer factory registered by :func:`install`)."""
    global _notifier
    with _notifier_lock:
        if _notifier is None:
            import atexit

            _notifier = ChannelsNotifier()
            atexit.register(_notifier.flush)
        return _notifier


def layer_settings() -> dict[str, Any]:
    """``CHANNEL_LAYERS`` for standalone use: Redis at ``RUNWRIGHT_CHANNEL_LAYER_URL`` when set
    (channels-redis), else in memory (this process only)."""
    import os

    url = os.environ.get("RUNWRIGHT_CHANNEL_LAYER_URL")
    if url:
        # No socket timeout: redis-py 8 has a default one that cuts channels-redis's blocking
        # BZPOPMIN reads (redis/redis-py#4091); a project's own CHANNEL_LAYERS needs the same.
        host = {"address": url, "socket_timeout": None}
        return {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [host]}}}
    return {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


def install() -> bool:
    """Register the notifier for every ExecutionLogger of this process when Channels is
    installed and a channel layer is configured; returns whether it was."""
    try:
        from django.conf import settings
    except ImportError:
        return False
    import importlib.util

    if importlib.util.find_spec("channels") is None or not getattr(settings, "CHANNEL_LAYERS", None):
        return False
    register_observer(notifier)
    return True
