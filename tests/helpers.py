"""Small helpers the tests share: finding processes by a token in their command line."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any


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


def dead_worker_script(runner: str, execution_id: str) -> str:
    """Python code (``python -c CODE SPEC_JSON HANDLE_FILE``) that runs ``runner`` and writes
    what a recorder would store: the handle to HANDLE_FILE, the live metadata and stdout next
    to it, for a test that kills it mid-run and reads them with :func:`stored_by_the_dead_worker`."""
    return f"""
import json, sys
from runwright.runners import RunSpec, NullReporter, get_runner
class Reporter(NullReporter):
    live = {{}}
    def handle(self, handle):
        open(sys.argv[2], "w").write(json.dumps(dict(handle)))
    def metadata(self, values):
        self.live.update(values)
        open(sys.argv[2] + ".metadata", "w").write(json.dumps(self.live))
    def output(self, stream, data):
        if stream == "stdout":
            with open(sys.argv[2] + ".stdout", "ab") as fh:
                fh.write(data)
get_runner({runner!r}).run(RunSpec.from_dict(json.loads(sys.argv[1])), Reporter(), execution_id={execution_id!r})
"""


def stored_by_the_dead_worker(handle_file: Path) -> tuple[dict[str, Any], bytes]:
    """The live metadata and the stdout a killed :func:`dead_worker_script` had reported."""
    meta = Path(f"{handle_file}.metadata")
    out = Path(f"{handle_file}.stdout")
    try:
        metadata = json.loads(meta.read_text()) if meta.exists() else {}
    except ValueError:  # being written this instant
        metadata = {}
    return metadata, (out.read_bytes() if out.exists() else b"")
