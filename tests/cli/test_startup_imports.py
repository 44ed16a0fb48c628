"""What the console script imports for its two commonest commands: start-up time is mostly
imports, so a module a command does not use must stay out of it (issue 15). Behaviour, not
time: which modules are loaded when the process ends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = str(Path(sys.executable).parent / "runwright")

#: Never needed to record a local run or list runs: optional extras, the web UI, typer's
#: pydantic conversion, Django's URL and mail machinery (django.setup() would import them).
HEAVY = ["celery", "kombu", "kubernetes", "docker", "channels", "daphne", "pydantic", "structlog",
         "prometheus_client", "yaml", "ansible_runner", "jenkins", "gitlab", "opentelemetry",
         "django.urls", "django.utils.log", "django.core.mail", "django.contrib.admin"]
#: `list` prints a plain table and finds no runner: no rich, no package metadata.
LIST_ONLY = ["rich", "importlib.metadata"]

# The real console script's entry, with a hook that writes, as the process exits (after the
# command), which of the modules above were imported and whether garbage is collected.
PROBE = """
import atexit, gc, json, sys
def probe():
    names = {names!r}
    with open({out!r}, "w") as fh:
        json.dump({{"loaded": [n for n in names if n in sys.modules], "gc": gc.isenabled()}}, fh)
atexit.register(probe)
sys.argv = ["runwright", *{argv!r}]
from runwright.integrations.cli import console
console()
"""


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNWRIGHT_", "DATABASE_URL", "DJANGO_"))}
    env["RUNWRIGHT_HOME"] = str(tmp_path / "home")
    return env


def _probe(tmp_path: Path, argv: list[str]) -> tuple[subprocess.CompletedProcess[str], dict[str, object]]:
    out = tmp_path / "probe.json"
    code = PROBE.format(names=HEAVY + LIST_ONLY, out=str(out), argv=argv)
    done = subprocess.run([sys.executable, "-c", code], env=_env(tmp_path), capture_output=True, text=True, timeout=60)
    return done, json.loads(out.read_text())


def test_run_records_without_heavy_modules(tmp_path: Path) -> None:
    done, seen = _probe(tmp_path, ["run", "--", "sh", "-c", "echo out; echo err >&2; exit 3"])
    assert done.returncode == 3, done.stderr
    assert done.stdout == "out\n"
    assert done.stderr.splitlines()[0] == "err" and " failed in " in done.stderr.splitlines()[-1]
    assert [m for m in seen["loaded"] if m in HEAVY] == []  # type: ignore[attr-defined]
    assert seen["gc"] is True, "the collector is on again once the command line is imported"
    # Everything was stored before the process ended (its end skips the final collection).
    shown = subprocess.run([BIN, "show", "1", "--json"], env=_env(tmp_path), capture_output=True, text=True, timeout=60)
    data = json.loads(shown.stdout)
    assert (data["status"], data["exit_code"], data["stdout_tail"], data["stderr_tail"]) == ("failed", 3, "out\n", "err\n")


@pytest.mark.parametrize("argv", [["list"], ["list", "-o", "wide"]])
def test_list_loads_neither_heavy_modules_nor_rich(tmp_path: Path, argv: list[str]) -> None:
    subprocess.run([BIN, "run", "--", "true"], env=_env(tmp_path), capture_output=True, check=True, timeout=60)
    done, seen = _probe(tmp_path, argv)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert done.stdout.splitlines()[0].split()[:3] == ["ID", "STATUS", "RUNNER"]
    assert done.stdout.splitlines()[1].split()[:3] == ["1", "success", "local"]
    assert seen["loaded"] == []


def test_a_bad_option_of_list_is_still_one_line(tmp_path: Path) -> None:
    # rich is imported only to print it: the line and the exit code are unchanged.
    done, _ = _probe(tmp_path, ["list", "--status", "bogus"])
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "runwright: --status 'bogus': expected one of pending, running, success, failed, timeout, cancelled, error, lost"]
