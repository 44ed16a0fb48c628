"""Memory stays flat whatever the output size (measured in a fresh process)."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = r"""
import json, resource
from runwright.runners import RunSpec, run
from runwright.runners.events import NullReporter
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
result = run(RunSpec(["head", "-c", str(1 << 30), "/dev/zero"]), NullReporter())
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"growth_kib": after - before, "bytes": result.stdout_bytes, "status": result.status}))
"""


def test_one_gib_of_output_does_not_grow_memory() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=120)
    data = json.loads(out.stdout)
    assert data["status"] == "success" and data["bytes"] == 1 << 30
    assert data["growth_kib"] < 8 * 1024, f"RSS grew by {data['growth_kib']} KiB for 1 GiB of output"
