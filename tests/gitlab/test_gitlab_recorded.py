"""A GitLab pipeline recorded through the ExecutionLogger, as a platform runs it."""

from __future__ import annotations

from runwright.integrations.django.models import Execution
from runwright.logging_core import ExecutionLogger
from runwright.runners import RunSpec, Status
from tests.infra.gitlab_server import GitLabServer, JobScript


def test_a_pipeline_is_recorded_like_any_run() -> None:
    logger = ExecutionLogger()
    with GitLabServer() as gitlab:
        gitlab.add_project("group/app", [JobScript("build", "build", [b"built\n"]),
                                         JobScript("test", "test", [b"1 failed with s3cr3t-value\n"], status="failed")])
        spec = RunSpec(runner="gitlab", options={"url": gitlab.url, "project": "group/app", "ref": "main",
                                                 "token": gitlab.token, "masked_variables": {"KEY": "s3cr3t-value"},
                                                 "poll_interval": 0.01})
        result = logger.run(spec)
        ref = int(result.log_ref.rsplit("/", 1)[1])
        variables = {v["key"]: v["value"] for v in gitlab.pipeline(5000).variables}
    assert variables["RUNWRIGHT_EXECUTION"] == f"{logger.store.key}:{ref}"
    row = Execution.objects.get(pk=ref)
    assert row.status == Status.FAILED and result.error == "the pipeline failed: job test failed"
    log = b"".join(c.data for c in logger.read_log(ref))
    assert b"--- job test (stage test, #90001) ---" in log and b"1 failed with ***\n" in log
    assert b"s3cr3t-value" not in log and "s3cr3t-value" not in str(row.spec) and gitlab.token not in str(row.spec)
    assert result.metadata["pipeline_url"].endswith("/group/app/-/pipelines/5000")
