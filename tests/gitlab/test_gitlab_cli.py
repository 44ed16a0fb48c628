"""The gitlab runner from the `runwright` command, as a user runs it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.infra.gitlab_server import GitLabServer, JobScript

BIN = str(Path(sys.executable).parent / "runwright")


def test_run_a_pipeline_from_the_command_line(tmp_path: Path) -> None:
    with GitLabServer() as gitlab:
        gitlab.add_project("group/app", [JobScript("build", "build", [b"built\n"])],
                           [JobScript("test", "test", [b"boom\n"], status="failed")])
        env = dict(os.environ, RUNWRIGHT_HOME=str(tmp_path / "home"), RUNWRIGHT_GITLAB_URL=gitlab.url,
                   RUNWRIGHT_GITLAB_TOKEN=gitlab.token)
        args = [BIN, "run", "-r", "gitlab", "-o", "project=group/app", "-o", "ref=main", "-o", "poll_interval=0.01"]
        out = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert out.stdout == "built\n" and "--- job build (stage build, #90000) ---" in out.stderr
        failed = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
        assert failed.returncode == 1 and "the pipeline failed: job test failed" in failed.stderr
        summary = failed.stderr.strip().splitlines()[-1]
        assert re.fullmatch(r"runwright: execution \d+ failed in \d+\.\d\ds: the pipeline failed: job test failed",
                            summary), summary
        assert "exit code" not in out.stderr + failed.stderr
        assert gitlab.token not in out.stdout + out.stderr + failed.stderr
