"""The plugin author's guide, taken at its word on Celery: the minimal runner of docs/plugins.md,
installed from the guide's own files, runs by name on a real worker and is recorded there as
the guide says the library runs it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from runwright.integrations.celery import submit
from runwright.integrations.celery.worker_logger import worker_logger
from runwright.integrations.django.models import Execution
from runwright.runners import RunSpec
from tests.celery.conftest import final, wait_for

pytestmark = pytest.mark.postgres
GUIDE = (Path(__file__).resolve().parents[2] / "docs" / "plugins.md").read_text()


def block_after(label: str, lang: str) -> str:
    """The first ``lang`` code block after the line that names ``label``."""
    match = re.search(re.escape(label) + r".*?\n```" + lang + r"\n(.*?)\n```", GUIDE, re.S)
    assert match, f"docs/plugins.md has no {lang} block after {label}"
    return match.group(1) + "\n"


def test_the_guides_runner_runs_through_a_celery_worker(redis_env, workers, tmp_path) -> None:  # type: ignore[no-untyped-def]
    pkg, site = tmp_path / "hello-runner", tmp_path / "site"
    pkg.mkdir()
    (pkg / "hello_runner.py").write_text(block_after("`hello_runner.py`", "python"))
    (pkg / "pyproject.toml").write_text(block_after("`pyproject.toml`", "toml"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(pkg)], check=True, capture_output=True)
    workers(dict(redis_env, PYTHONPATH=str(site)), 1)  # installed where the worker runs, not here
    # The guide's own example: RunSpec(["ada", "grace"], runner="hello", options={"greeting": "hi"}).
    ok = submit(RunSpec(["ada", "grace"], runner="hello", options={"greeting": "hi"}))
    refused = submit(RunSpec(["nobody"], runner="hello"))
    wait_for([ok, refused], final, timeout=60)
    row = Execution.objects.get(pk=ok)
    assert (row.status, row.exit_code) == ("success", 0), row.error_message
    assert b"".join(c.data for c in worker_logger().iter_log(ok)) == b"hi, ada\nhi, grace\n"
    assert worker_logger().result_of(ok).metadata["greeted"] == 2
    bad = Execution.objects.get(pk=refused)
    assert bad.status == "error" and bad.error_message == "cannot greet nobody"
