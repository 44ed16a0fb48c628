"""A Jenkins build recorded through the ExecutionLogger, as a platform runs it."""

from __future__ import annotations

from runwright.integrations.django.models import Execution
from runwright.logging_core import ExecutionLogger
from runwright.runners import RunSpec, Status
from tests.infra.jenkins_server import JenkinsServer, Script


def test_a_build_is_recorded_like_any_run() -> None:
    logger = ExecutionLogger()
    console = "Started by user alice\nDéploiement terminé\nFinished: UNSTABLE\n".encode()
    with JenkinsServer() as jenkins:
        jenkins.add_job("team/app/deploy", Script(chunks=[console[:30], console[30:34], console[34:]], result="UNSTABLE"),
                        parameters=["RUNWRIGHT_EXECUTION"])
        spec = RunSpec(runner="jenkins", options={"url": jenkins.url, "job": "team/app/deploy", "user": jenkins.user,
                                                  "token": jenkins.token, "poll_interval": 0.01})
        result = logger.run(spec)
        ref = int(result.log_ref.rsplit("/", 1)[1])
        tag = jenkins.build("team/app/deploy", 1).parameters["RUNWRIGHT_EXECUTION"]
    assert tag == f"{logger.store.key}:{ref}"  # the sweep's owner tag
    row = Execution.objects.get(pk=ref)
    assert row.status == Status.FAILED and result.error == "the build is unstable (UNSTABLE: it ran, but tests or checks failed)"
    chunks = logger.read_log(ref)
    assert b"".join(c.data for c in chunks if c.stream == "stdout") == console
    assert b"build #1 started" in b"".join(c.data for c in chunks if c.stream == "system")
    assert result.metadata["build_url"].endswith("/job/team/job/app/job/deploy/1/")
    assert jenkins.token not in str(row.spec)
