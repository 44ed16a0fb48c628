"""The jenkins runner from the `runwright` command, as a user runs it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.infra.jenkins_server import JenkinsServer, Script

BIN = str(Path(sys.executable).parent / "runwright")


def test_run_a_jenkins_job_from_the_command_line(tmp_path: Path) -> None:
    with JenkinsServer() as jenkins:
        jenkins.add_job("team/app/deploy", Script(chunks=[b"deploying\n", b"done\n"]), parameters=["ENV"])
        env = dict(os.environ, RUNWRIGHT_HOME=str(tmp_path / "home"), RUNWRIGHT_JENKINS_URL=jenkins.url,
                   RUNWRIGHT_JENKINS_USER=jenkins.user, RUNWRIGHT_JENKINS_TOKEN=jenkins.token)
        out = subprocess.run([BIN, "run", "-r", "jenkins", "-o", "job=team/app/deploy", "-o", 'parameters={"ENV": "prod"}',
                              "-o", "poll_interval=0.01"], env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert out.stdout == "deploying\ndone\n"
        assert re.search(r"runwright: execution \d+ success in ", out.stderr), out.stderr
        assert jenkins.token not in out.stdout + out.stderr
        jenkins.add_job("team/app/test", Script(chunks=[b"3 tests failed\n"], result="UNSTABLE"))
        failed = subprocess.run([BIN, "run", "-r", "jenkins", "-o", "job=team/app/test", "-o", "poll_interval=0.01"],
                                env=env, capture_output=True, text=True, timeout=60)
        assert failed.returncode == 1  # a build has no exit code: 1
        summary = failed.stderr.strip().splitlines()[-1]  # the status and why, no "exit code None"
        found = re.fullmatch(r"runwright: execution (\d+) failed in \d+\.\d\ds: the build is unstable \(UNSTABLE: .*\)",
                             summary)
        assert found, summary
        assert "exit code" not in failed.stderr
        shown = subprocess.run([BIN, "show", found.group(1)], env=env, capture_output=True, text=True, timeout=60)
        assert re.search(r"^status: +failed$", shown.stdout, re.M) and "exit code" not in shown.stdout, shown.stdout
        wrong = subprocess.run([BIN, "run", "-r", "jenkins", "-o", "job=team/app/deploy", "--", "echo"], env=env,
                               capture_output=True, text=True, timeout=60)
        assert wrong.returncode != 0 and "command: must be empty" in wrong.stderr
