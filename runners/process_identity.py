"""Who a process is, and whether it is provably here.

A pid names a process only in one pid namespace of one running kernel. So a process is
*provably local* only when it was recorded under this boot (``/proc/sys/kernel/random/boot_id``)
and in this pid namespace (the inode of ``/proc/self/ns/pid``), and this process's ``/proc``
is its own namespace's. The hostname proves nothing: containers share one (``--hostname``,
host networking), and the containers of one machine share its boot id. A recorded start time
(clock ticks since boot, field 22 of ``/proc/PID/stat``) tells a reused pid from the process.

An identity is stored as ``host:boot_id:pid_ns:start_time:pid`` (the pid last, as in the
older ``host:pid``, which is still read: such an identity is never provably local).
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

_BOOT_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def boot_id() -> str | None:
    """This kernel boot's id (a UUID), or None when ``/proc`` does not say."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as fh:
            value = fh.read().strip()
    except OSError:
        return None
    return value if _BOOT_ID.fullmatch(value) else None


def pid_namespace() -> int | None:
    """The inode of this process's pid namespace, or None when it cannot be known or when
    ``/proc`` belongs to another pid namespace (its pids would not be ours)."""
    try:
        if os.readlink("/proc/self") != str(os.getpid()):
            return None
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return None


def start_time(pid: int) -> int | None:
    """When process ``pid`` of this namespace started (clock ticks since boot), or None when
    no such process runs (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        if fields[0] in (b"Z", b"X"):
            return None
        return int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def environments() -> Iterator[tuple[int, bytes]]:
    """``(pid, environment)`` of each process of this namespace whose environment this
    process may read, itself left out. An environment is as ``/proc/PID/environ`` holds it:
    ``NAME=value`` entries, each ended by NUL, as the process started (read it with
    :func:`env_value`)."""
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                env = fh.read()
        except OSError:  # gone meanwhile, or another user's
            continue
        yield int(entry), env


def env_value(env: bytes, name: str) -> str | None:
    """The value of variable ``name`` in an environment of :func:`environments` (its first
    entry, bytes that are not UTF-8 replaced), or None when it has none."""
    prefix = f"{name}=".encode()
    for item in env.split(b"\0"):
        if item.startswith(prefix):
            return item[len(prefix):].decode(errors="replace")
    return None


def is_here(boot: object, pid_ns: object) -> bool:
    """Whether a recorded boot id and pid namespace are this process's (both known)."""
    here_ns = pid_namespace()
    return here_ns is not None and pid_ns == here_ns and boot is not None and boot == boot_id()


def place() -> dict[str, Any]:
    """Where this process runs, as a runner puts it in a handle: ``host``, ``boot_id`` and
    ``pid_ns`` (the last two None when unknown)."""
    return {"host": socket.gethostname(), "boot_id": boot_id(), "pid_ns": pid_namespace()}


def in_this_place(recorded: Mapping[str, Any]) -> bool:
    """Whether a handle's :func:`place` is this process's: same host, boot and pid namespace,
    so the pids it names are this namespace's. False for a handle without ``pid_ns``."""
    return recorded.get("host") == socket.gethostname() and is_here(recorded.get("boot_id"), recorded.get("pid_ns"))


@dataclass(frozen=True)
class ProcessIdentity:
    """One process: ``host`` and ``pid`` for people, ``boot_id``, ``pid_ns`` and
    ``start_time`` (None when not recorded, as in an older ``host:pid``) to prove it."""

    host: str
    pid: int
    boot_id: str | None = None
    pid_ns: int | None = None
    start_time: int | None = None

    @classmethod
    def of(cls, pid: int | None = None) -> ProcessIdentity:
        """The identity of ``pid`` (this process by default), a live process of this
        namespace. Raises ProcessLookupError when it does not run."""
        pid = os.getpid() if pid is None else pid
        started = start_time(pid)
        if started is None:
            raise ProcessLookupError(f"no process {pid}")
        return cls(socket.gethostname(), pid, boot_id(), pid_namespace(), started)

    @classmethod
    def parse(cls, text: str) -> ProcessIdentity | None:
        """The identity stored as ``text``; None when it names no process (empty, or a name
        a library caller chose)."""
        parts = text.rsplit(":", 4)
        if (len(parts) == 5 and _BOOT_ID.fullmatch(parts[1]) and parts[2].isdigit() and parts[3].isdigit()
                and parts[4].isdigit()):
            return cls(parts[0], int(parts[4]), parts[1], int(parts[2]), int(parts[3]))
        host, sep, pid = text.rpartition(":")
        if sep and host and pid.isdigit():
            return cls(host, int(pid))
        return None

    def __str__(self) -> str:
        if self.boot_id is None or self.pid_ns is None or self.start_time is None:
            return f"{self.host}:{self.pid}"
        return f"{self.host}:{self.boot_id}:{self.pid_ns}:{self.start_time}:{self.pid}"

    def is_local(self) -> bool:
        """Recorded under this boot in this pid namespace, with its start time: its pid
        can be checked here."""
        return self.start_time is not None and is_here(self.boot_id, self.pid_ns)

    def gone(self) -> str | None:
        """Why this process provably no longer runs, or None when it runs or cannot be
        judged from here (not local)."""
        if not self.is_local():
            return None
        now = start_time(self.pid)
        if now is None:
            return f"process {self.pid} no longer exists"
        if now != self.start_time:
            return f"process {self.pid} no longer exists (its pid now names a process started later)"
        return None


def local_marker() -> str | None:
    """What every identity of this boot and pid namespace contains (``:boot_id:pid_ns:``), to
    select them in a query; None when this process cannot prove locality."""
    boot, ns = boot_id(), pid_namespace()
    return None if boot is None or ns is None else f":{boot}:{ns}:"


__all__ = [
    "ProcessIdentity", "boot_id", "env_value", "environments", "in_this_place", "is_here", "local_marker",
    "pid_namespace", "place", "start_time",
]
