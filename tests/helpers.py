"""Small helpers the tests share: finding processes by a token in their command line."""

from __future__ import annotations

import os
import time
import uuid


def token() -> str:
    """A unique number usable as a `sleep` duration, to find the sleepers afterwards."""
    return f"1000.{uuid.uuid4().int % 10**9:09d}"


def pids_with(token: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmd = fh.read()
            with open(f"/proc/{entry}/stat", "rb") as fh:
                state = fh.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if token.encode() in cmd and state != b"Z" and int(entry) != os.getpid():
            found.append(int(entry))
    return found


def wait_for_pids(token: str, count: int, timeout: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = pids_with(token)
        if len(pids) >= count:
            return pids
        time.sleep(0.02)
    raise AssertionError(f"expected {count} processes with {token}, found {pids_with(token)}")


def tree_script(tok: str) -> str:
    """A shell script that leaves five sleepers: a child, a backgrounded grandchild, a
    subshell's child, one that called setsid, and a double-forked daemon with setsid."""
    return (
        f"sleep {tok} & "
        f"sh -c 'sleep {tok} & wait' & "
        f"( sleep {tok} & ) ; "
        f"setsid sleep {tok} & "
        f"setsid sh -c 'sleep {tok} & exit 0' ; "
        "echo started; wait"
    )
