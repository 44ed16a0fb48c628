"""What one Ansible run reports while it runs, from ansible-runner's job events.

``Progress.handle(event)`` is ansible-runner's ``event_handler``: it forwards the event's
stdout at once, turns the events that matter into runwright events (play, task, one per host
result, the recap), and keeps only what the verdict needs, bounded: the per-host recap, the
first failure and the unreachable reason per host (at most ``MAX_HOSTS_KEPT`` hosts), and
the last lines of output (for Ansible's own error message). Nothing grows with the number of
tasks, so a playbook of thousands of tasks runs in flat memory. It returns False so that
ansible-runner writes no event files to disk.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from runwright.runners.context import RunContext

#: Hosts whose failure, unreachable reason, ping result or facts are kept for the result.
MAX_HOSTS_KEPT = 1000
#: Lines of output kept to quote Ansible's own error message.
TAIL_LINES = 60
#: A quoted message is cut to this many characters.
MAX_MESSAGE = 500

#: ansible-runner's per-host result events and the status runwright reports for each.
HOST_RESULTS = {
    "runner_on_ok": "ok",
    "runner_on_failed": "failed",
    "runner_on_skipped": "skipped",
    "runner_on_unreachable": "unreachable",
    "runner_on_async_failed": "failed",
    "runner_on_async_ok": "ok",
}
#: Per-item results of a loop, and their status.
ITEM_RESULTS = {"runner_item_on_ok": "ok", "runner_item_on_failed": "failed", "runner_item_on_skipped": "skipped"}
#: The PLAY RECAP counters, as ansible-runner's ``playbook_on_stats`` names them, and ours.
RECAP = {"ok": "ok", "changed": "changed", "dark": "unreachable", "failures": "failed", "skipped": "skipped",
         "rescued": "rescued", "ignored": "ignored"}

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_ERROR_START = re.compile(r"^(\[ERROR\]:|ERROR!)")


class Gate:
    """Holds ansible-runner's reports back until the run is reported started.

    ansible-runner calls its handlers from its own thread from the moment it starts; the
    contract wants nothing but the handle before ``started``. Statuses (reported before the
    process exists) are held; events wait at the gate (the process runs on, its output waits
    in the pty). A stop opens the way too, so a stopped run's thread always ends.
    """

    def __init__(self, stop: threading.Event) -> None:
        self._open = threading.Event()
        self._stop = stop
        self._lock = threading.Lock()
        self._held: list[tuple[Callable[..., None], tuple[Any, ...]]] = []

    def report(self, fn: Callable[..., None], *args: Any) -> None:
        with self._lock:
            if not self._open.is_set():
                self._held.append((fn, args))
                return
        fn(*args)

    def wait(self) -> None:
        while not self._open.is_set() and not self._stop.is_set():
            self._open.wait(0.1)

    def open(self) -> None:
        with self._lock:
            for fn, args in self._held:
                fn(*args)
            self._held.clear()
            self._open.set()


def short(text: Any, limit: int = MAX_MESSAGE, mask: Callable[[str], str] | None = None) -> str:
    """``text`` without ANSI escapes, cut to ``limit`` characters. ``mask`` (a run's
    redactor) is applied before the cut: a secret that straddled the cut would no longer be
    recognised whole and would keep its first part in clear."""
    value = _ANSI.sub("", str(text)).strip()
    if mask is not None:
        value = mask(value)
    return value if len(value) <= limit else value[: limit - 3] + "..."


class Progress:
    """Follows one run's events (see the module docstring)."""

    def __init__(self, ctx: RunContext, action: str, gate: Gate) -> None:
        self.ctx = ctx
        self.gate = gate
        self.action = action
        self.events = 0
        self.host_results = 0
        self.pid: int | None = None
        self.recap: dict[str, dict[str, int]] | None = None
        #: host -> (task, message) of its first failure that was not ignored.
        self.failures: dict[str, tuple[str, str]] = {}
        #: host -> why it could not be reached.
        self.unreachable: dict[str, str] = {}
        self.ping: dict[str, dict[str, Any]] = {}
        self.facts: dict[str, Any] = {}
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._hosts_dropped = 0

    def _short(self, text: Any, limit: int = MAX_MESSAGE) -> str:
        """:func:`short`, masked with the run's redactor (runtime secrets included) first."""
        return short(text, limit, mask=self.ctx.redactor.text)

    # -- ansible-runner's event_handler ---------------------------------------------------------
    def handle(self, event: dict[str, Any]) -> bool:
        self.gate.wait()
        self.events += 1
        stdout = event.get("stdout")
        if stdout:
            text = stdout.replace("\r\n", "\n")
            self.ctx.emit("stdout", (text + "\n").encode())
            self.tail.extend(text.splitlines())
        kind = event.get("event", "")
        data = event.get("event_data") or {}
        if self.pid is None and event.get("pid"):
            self.pid = int(event["pid"])
        if kind in HOST_RESULTS:
            self._host_result(kind, data, event)
        elif kind in ITEM_RESULTS:
            self._item_result(kind, data, event)
        elif kind == "runner_retry":
            self.ctx.event("retry", {"host": data.get("host", ""), "task": data.get("task", ""),
                                     "attempt": (data.get("res") or {}).get("attempts"), "counter": event.get("counter")})
        elif kind == "playbook_on_play_start":
            self.ctx.event("play", {"play": data.get("play", ""), "pattern": data.get("play_pattern", ""),
                                    "counter": event.get("counter")})
        elif kind == "playbook_on_task_start":
            self.ctx.event("task", {"play": data.get("play", ""), "task": data.get("task", ""),
                                    "action": data.get("task_action", ""), "counter": event.get("counter")})
        elif kind == "playbook_on_stats":
            self._recap(data)
        return False  # never write the event to disk: runwright keeps it

    def _host_result(self, kind: str, data: dict[str, Any], event: dict[str, Any]) -> None:
        self.host_results += 1
        res: dict[str, Any] = data["res"] if isinstance(data.get("res"), dict) else {}
        host = str(data.get("host", ""))
        status = HOST_RESULTS[kind]
        if status == "ok" and res.get("changed"):
            status = "changed"
        if status == "failed" and data.get("ignore_errors"):
            status = "ignored"
        payload: dict[str, Any] = {
            "host": host, "status": status, "play": data.get("play", ""), "task": data.get("task", ""),
            "action": data.get("task_action", ""), "duration": data.get("duration"),
            "changed": bool(res.get("changed")), "counter": event.get("counter"),
        }
        message = res.get("msg") or res.get("stderr") or ""
        if status in ("failed", "unreachable", "ignored") and message:
            payload["msg"] = self._short(message)
        self.ctx.event("host", payload)
        if status == "failed":
            self._keep(self.failures, host, (str(data.get("task", "")), self._short(message)))
        elif status == "unreachable":
            self._keep(self.unreachable, host, self._short(message) or "unreachable")
        if self.action == "ping":
            if status in ("ok", "changed"):
                self._keep(self.ping, host, {"reachable": True, "ping": res.get("ping", "pong")})
            else:
                self._keep(self.ping, host, {"reachable": False, "state": status, "reason": self._short(message) or status})
        elif self.action == "facts" and status in ("ok", "changed"):
            self._keep(self.facts, host, res.get("ansible_facts", {}))

    def _item_result(self, kind: str, data: dict[str, Any], event: dict[str, Any]) -> None:
        res: dict[str, Any] = data["res"] if isinstance(data.get("res"), dict) else {}
        status = ITEM_RESULTS[kind]
        if status == "ok" and res.get("changed"):
            status = "changed"
        label = res.get("_ansible_item_label", res.get("item", ""))
        payload = {"host": data.get("host", ""), "task": data.get("task", ""), "status": status,
                   "item": self._short(label, 200), "counter": event.get("counter")}
        if status == "failed" and res.get("msg"):
            payload["msg"] = self._short(res["msg"])
        self.ctx.event("item", payload)

    def _keep(self, table: dict[str, Any], host: str, value: Any) -> None:
        if host in table:
            return  # the first one says what went wrong first
        if len(table) >= MAX_HOSTS_KEPT:
            self._hosts_dropped += 1
            return
        table[host] = value

    def _recap(self, data: dict[str, Any]) -> None:
        hosts: dict[str, dict[str, int]] = {}
        for theirs, ours in RECAP.items():
            for host, count in (data.get(theirs) or {}).items():
                hosts.setdefault(host, {name: 0 for name in RECAP.values()})[ours] = int(count)
        for host in data.get("processed") or {}:
            hosts.setdefault(host, {name: 0 for name in RECAP.values()})
        self.recap = hosts
        self.ctx.event("recap", {"hosts": hosts})
        self.ctx.set_metadata(stats=hosts)

    # -- the verdict's material -------------------------------------------------------------------
    def ansible_error(self) -> str:
        """Ansible's own error message from the end of the output ("[ERROR]: ..."), after
        the warnings that say why an inventory source could not be parsed; or ''."""
        lines = [_ANSI.sub("", x).rstrip() for x in self.tail]
        for i, line in enumerate(lines):
            if _ERROR_START.match(line.strip()):
                why = [x for x in lines[:i] if x.startswith("[WARNING]:") and "inventory" in x.lower()]
                block = [x for x in lines[i: i + 12] if x.strip()]
                return self._short("\n".join([*why[-4:], *block]), 2000)
        return ""

    def last_output(self, lines: int = 5) -> str:
        kept = [_ANSI.sub("", x).rstrip() for x in list(self.tail)[-lines:]]
        return self._short("\n".join(x for x in kept if x.strip()), 1000)

    def failure_text(self) -> str:
        """"task failures on N host(s): h (task 'T': msg); host(s) unreachable: h (reason)"."""
        parts = []
        if self.failures:
            items = [f"{h} (task {t!r}" + (f": {m}" if m else "") + ")" for h, (t, m) in self.failures.items()]
            parts.append(f"task failures on {len(self.failures)} host(s): {'; '.join(items[:20])}"
                         + (f"; and {len(items) - 20} more" if len(items) > 20 else ""))
        if self.unreachable:
            items = [f"{h} ({r})" for h, r in self.unreachable.items()]
            parts.append(f"{len(self.unreachable)} host(s) unreachable: {'; '.join(items[:20])}"
                         + (f"; and {len(items) - 20} more" if len(items) > 20 else ""))
        return ". ".join(parts)


__all__ = ["HOST_RESULTS", "ITEM_RESULTS", "MAX_HOSTS_KEPT", "RECAP", "Gate", "Progress", "short"]
