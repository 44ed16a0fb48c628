"""The gitlab runner against a GitLab API server on 127.0.0.1 (tests/infra/gitlab_server.py),
found through the registry like any plugin."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runwright.runners import CancelToken, Liveness, MemoryRecorder, RunSpec, Status, get_runner, get_runner_class
from runwright.runners.registry import available_runners
from tests.helpers import dead_worker_script, stored_by_the_dead_worker
from tests.infra.gitlab_server import GitLabServer, JobScript

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "group/app"


@pytest.fixture
def gitlab() -> Iterator[GitLabServer]:
    with GitLabServer() as server:
        yield server


def spec(server: GitLabServer, timeout: float | None = None, **options: Any) -> RunSpec:
    opts = {"url": server.url, "project": PROJECT, "ref": "main", "token": server.token, "poll_interval": 0.01,
            "max_poll_interval": 0.05, **options}
    return RunSpec(runner="gitlab", options=opts, timeout=timeout, grace_period=2.0)


def run(server: GitLabServer, cancel: CancelToken | None = None, **kwargs: Any) -> tuple[Any, MemoryRecorder]:
    recorder = MemoryRecorder()
    result = get_runner("gitlab").run(spec(server, **kwargs), recorder, cancel)
    return result, recorder


def everything(recorder: MemoryRecorder) -> str:
    return repr(recorder.calls) + recorder.stdout.decode("utf-8", "replace") + recorder.system.decode()


def test_registered_through_entry_points_like_a_plugin() -> None:
    from runwright.integrations.gitlab import GitLabRunner

    assert available_runners()["gitlab"] == "runwright.integrations.gitlab:GitLabRunner"
    assert get_runner_class("gitlab") is GitLabRunner
    assert GitLabRunner.command == "none" and GitLabRunner.on_worker_lost == "reattach"
    assert {o.name for o in GitLabRunner.options if o.secret} == {"token", "masked_variables"}


def test_pipeline_with_variables_streams_each_job_as_a_section(gitlab: GitLabServer) -> None:
    gitlab.add_project(PROJECT, [JobScript("build", "build", [b"compiling\n", b"built\n"]),
                                 JobScript("test", "test", [b"42 tests\n", b"ok with hunter2-secret\n"], start=3)])
    result, rec = run(gitlab, variables={"DEPLOY": "prod", "DRY": True}, masked_variables={"PASSWORD": "hunter2-secret"})
    assert result.status == Status.SUCCESS, result.error
    assert rec.stdout == b"compiling\nbuilt\n42 tests\nok with ***\n"
    system = rec.system.decode()
    assert system.index("--- job build (stage build, #90000) ---") < system.index("--- job test (stage test, #90001) ---")
    # The variables (masked ones too, and the execution tag) reach GitLab; the masked value nowhere else.
    post = json.loads(next(r[4] for r in gitlab.requests if r[0] == "POST" and r[1].endswith("/pipeline")))
    variables = {v["key"]: v["value"] for v in post["variables"]}
    assert variables["DEPLOY"] == "prod" and variables["DRY"] == "true" and variables["PASSWORD"] == "hunter2-secret"
    assert len(variables["RUNWRIGHT_EXECUTION"]) == 32
    assert "hunter2-secret" not in everything(rec) and gitlab.token not in everything(rec)
    # Handle at once (before started); URL and number in the result.
    kinds = rec.kinds()
    assert kinds.count("handle") == 1 and kinds.index("handle") < kinds.index("started")
    assert rec.handles[0] == {"server": gitlab.url, "project": PROJECT, "pipeline_id": 5000}
    assert result.metadata["pipeline_url"] == f"{gitlab.url}/group/app/-/pipelines/5000"
    assert result.metadata["pipeline_id"] == 5000 and result.metadata["pipeline_iid"] == 1
    jobs = [(e["name"], e["status"]) for kind, e in rec.events() if kind == "job"]
    assert ("build", "running") in jobs and ("build", "success") in jobs and ("test", "success") in jobs
    assert ("success" in [e["status"] for kind, e in rec.events() if kind == "pipeline"])


def test_failed_pipeline_says_which_jobs_failed(gitlab: GitLabServer) -> None:
    gitlab.add_project(PROJECT, [JobScript("build", chunks=[b"a\n"]), JobScript("unit", chunks=[b"boom\n"], status="failed"),
                                 JobScript("lint", chunks=[b"warn\n"], status="failed", allow_failure=True),
                                 JobScript("e2e", chunks=[b"x\n"], status="failed")])
    result, rec = run(gitlab)
    assert result.status == Status.FAILED
    assert result.error == "the pipeline failed: jobs unit, e2e failed"
    assert result.metadata["failed_jobs"] == ["unit", "e2e"] and result.metadata["allowed_failures"] == ["lint"]
    assert b"job lint (stage test): failed, script_failure (allowed to fail)" in rec.system


def test_a_failed_job_retried_successfully_is_reported_by_its_latest_attempt(gitlab: GitLabServer) -> None:
    retry = JobScript("unit", chunks=[b"second try passes\n"])
    gitlab.add_project(PROJECT, [JobScript("unit", chunks=[b"flaky failure\n"], status="failed", retried_as=retry),
                                 JobScript("lint", chunks=[b"lint ok\n"])])
    result, rec = run(gitlab)
    assert result.status == Status.SUCCESS, result.error
    assert result.metadata["failed_jobs"] == [] and result.metadata["jobs"] == 2, result.metadata
    system = rec.system.decode()
    assert "job unit (stage test): failed" in system  # the first attempt, seen failing
    assert "job unit (stage test): retried as #90002 (#90000 failed)" in system, system
    assert "failed job" not in system
    assert b"flaky failure" in rec.stdout and b"second try passes" in rec.stdout


def test_a_job_whose_retry_failed_too_is_named_once(gitlab: GitLabServer) -> None:
    retry = JobScript("unit", chunks=[b"fails again\n"], status="failed")
    gitlab.add_project(PROJECT, [JobScript("unit", chunks=[b"fails\n"], status="failed", retried_as=retry)])
    result, _ = run(gitlab)
    assert result.status == Status.FAILED
    assert result.metadata["failed_jobs"] == ["unit"] and "job unit failed" in result.error, result.error


@pytest.mark.parametrize(("jobs", "forced", "status", "message"), [
    ([JobScript("a", chunks=[b"x"], status="failed", allow_failure=True)], None, Status.SUCCESS, None),
    ([JobScript("a", status="skipped")], None, Status.FAILED, "the pipeline was skipped: no job ran"),
    ([JobScript("a", chunks=[b"x"])], "canceled", Status.FAILED, "the pipeline was canceled on the server"),
    ([JobScript("a", chunks=[b"x"])], "exploded", Status.ERROR,
     "GitLab reported a pipeline status this runner does not know: 'exploded'"),
])
def test_statuses_are_mapped_by_an_explicit_table(gitlab: GitLabServer, jobs: list[JobScript], forced: str | None,
                                                  status: Status, message: str | None) -> None:
    project = gitlab.add_project(PROJECT, jobs)
    if forced:
        original = gitlab.create

        def create(*args: Any) -> Any:
            pipeline = original(*args)
            pipeline.forced = forced
            return pipeline

        gitlab.create = create  # type: ignore[method-assign]
    result, _ = run(gitlab)
    assert result.status == status
    assert result.error == message
    assert project.pipelines


def test_every_status_is_in_one_table() -> None:
    from runwright.integrations.gitlab.statuses import ACTIVE, FINISHED

    documented = {"created", "waiting_for_resource", "preparing", "pending", "running", "success", "failed", "canceled",
                  "skipped", "manual", "scheduled"}
    assert documented <= set(ACTIVE) | set(FINISHED)
    assert not set(ACTIVE) & set(FINISHED)


def test_more_than_100_jobs_are_followed_across_pages(gitlab: GitLabServer) -> None:
    jobs = [JobScript(f"shard-{i:03d}", chunks=[f"shard {i}\n".encode()]) for i in range(150)]
    gitlab.add_project(PROJECT, jobs)
    result, rec = run(gitlab)
    assert result.status == Status.SUCCESS, result.error
    assert result.metadata["jobs"] == 150
    assert rec.stdout == b"".join(f"shard {i}\n".encode() for i in range(150))
    finished = {e["name"] for kind, e in rec.events() if kind == "job" and e["status"] == "success"}
    assert len(finished) == 150
    pages = [r[2].get("page", ["1"])[0] for r in gitlab.requests if r[1].endswith("/jobs")]
    assert "2" in pages and all(r[2].get("per_page") == ["100"] for r in gitlab.requests if r[1].endswith("/jobs"))


def test_a_trace_that_grows_over_many_polls(gitlab: GitLabServer) -> None:
    chunks = [f"step {i}\n".encode() * (i + 1) for i in range(10)]
    gitlab.add_project(PROJECT, [JobScript("long", chunks=chunks)])
    result, rec = run(gitlab)
    assert result.status == Status.SUCCESS, result.error
    assert rec.stdout == b"".join(chunks)
    assert gitlab.count("GET", r"/jobs/90000/trace$") >= 10
    assert rec.system.decode().count("--- job long") == 1


def test_a_trace_chunk_that_splits_a_multibyte_character(gitlab: GitLabServer) -> None:
    text = "Übersetzung → fertig ✓ 😀\n".encode()
    gitlab.add_project(PROJECT, [JobScript("i18n", chunks=[text[i:i + 1] for i in range(len(text))])])
    result, rec = run(gitlab)
    assert result.status == Status.SUCCESS, result.error
    assert rec.stdout == text
    for name, value in rec.calls:
        if name == "output" and value[0] == "stdout":
            value[1].decode("utf-8")
    assert result.stdout_tail == text.decode()


def test_401_is_an_error_at_once(gitlab: GitLabServer) -> None:
    gitlab.add_project(PROJECT)
    result, rec = run(gitlab, token="glpat-wrongwrongwrong")
    assert result.status == Status.ERROR
    assert result.error == (f"GitLab at {gitlab.url} refused the token for project group/app (HTTP 401: 401 Unauthorized); "
                            "check options.token")
    assert len(gitlab.requests) == 1 and "glpat-wrongwrongwrong" not in everything(rec)


def test_credentials_from_the_workers_environment(gitlab: GitLabServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNWRIGHT_GITLAB_URL", gitlab.url)
    monkeypatch.setenv("RUNWRIGHT_GITLAB_TOKEN", gitlab.token)
    gitlab.add_project(PROJECT, [JobScript("leak", chunks=[f"token {gitlab.token}\n".encode()])])
    recorder = MemoryRecorder()
    opts = {"project": PROJECT, "ref": "main", "poll_interval": 0.01}
    result = get_runner("gitlab").run(RunSpec(runner="gitlab", options=opts), recorder)
    assert result.status == Status.SUCCESS, result.error
    assert recorder.stdout == b"token ***\n"  # a token from the environment is masked too


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/api/v4/projects/group%2Fapp/pipeline"),
    ("GET", "/api/v4/projects/group%2Fapp/pipelines/5000"),
])
def test_the_token_never_follows_a_redirect_to_another_server(gitlab: GitLabServer, method: str, path: str) -> None:
    """requests strips only Authorization across hosts: PRIVATE-TOKEN would follow."""
    gitlab.add_project(PROJECT, [JobScript("build", chunks=[b"ok\n"])])
    with GitLabServer(token=gitlab.token, host="127.0.0.2") as other:
        other.add_project(PROJECT)
        gitlab.fail(method, f"^{path}$", 302, times=100, headers={"Location": other.url + path}, body={})
        result, rec = run(gitlab, retries=0)
        assert other.requests == [], [r[3].get("PRIVATE-TOKEN") for r in other.requests]
    assert result.status == Status.ERROR
    assert f"redirected the request to another server ({other.url}, from {gitlab.url})" in result.error, result.error
    assert "set options.url" in result.error and gitlab.token not in everything(rec)


def test_404_names_the_project(gitlab: GitLabServer) -> None:
    result, _ = run(gitlab, project="group/missing")
    assert result.status == Status.ERROR
    assert result.error == f"project group/missing not found on {gitlab.url} (HTTP 404: 404 Project Not Found)"


def test_403_is_an_error_at_once(gitlab: GitLabServer) -> None:
    gitlab.add_project(PROJECT)
    gitlab.fail("POST", "/pipeline$", 403, body={"message": "403 Forbidden"})
    result, _ = run(gitlab)
    assert result.error == f"GitLab at {gitlab.url} denied access to project group/app (HTTP 403: 403 Forbidden)"


def test_a_ref_gitlab_refuses_is_an_error_with_its_message(gitlab: GitLabServer) -> None:
    gitlab.add_project(PROJECT)
    result, _ = run(gitlab, ref="missing")
    assert result.status == Status.ERROR
    assert "HTTP 400" in result.error and "Reference not found" in result.error


def test_transient_5xx_then_success(gitlab: GitLabServer) -> None:
    gitlab.add_project(PROJECT, [JobScript("a", chunks=[b"x\n"])])
    gitlab.fail("GET", r"/pipelines/\d+$", 503, times=2)
    gitlab.fail("GET", r"/jobs$", 502)
    gitlab.fail("POST", r"/pipeline$", 503)  # 503: not processed, so even the trigger is repeated
    result, rec = run(gitlab)
    assert result.status == Status.SUCCESS, result.error
    assert result.metadata["retries"] == 4 and len(gitlab.projects[PROJECT].pipelines) == 1
    assert b"HTTP 503: 503 Fault; retry 1 of 5" in rec.system


def test_a_500_on_the_trigger_is_not_repeated(gitlab: GitLabServer) -> None:
    gitlab.add_project(PROJECT)
    gitlab.fail("POST", r"/pipeline$", 500, body={"message": "500 Internal Server Error"})
    result, _ = run(gitlab)
    assert result.status == Status.ERROR
    assert result.error == ("creating a pipeline for main in project group/app failed: HTTP 500: 500 Internal Server Error; "
                            "it may have been acted on")
    assert gitlab.count("POST", "/pipeline$") == 1


def test_5xx_past_the_retry_limit_is_an_error_with_the_servers_message(gitlab: GitLabServer) -> None:
    gitlab.add_project(PROJECT, [JobScript("a", chunks=[b"x\n"])])
    gitlab.fail("GET", r"/pipelines/\d+$", 502, times=100, body={"message": "502 Bad Gateway: GitLab is not responding"})
    result, _ = run(gitlab, retries=2)
    assert result.status == Status.ERROR
    assert result.error.startswith("reading pipeline 5000 failed (after 2 retries): HTTP 502: 502 Bad Gateway: GitLab is "
                                   "not responding")


def test_retry_after_is_honoured(gitlab: GitLabServer) -> None:
    gitlab.add_project(PROJECT, [JobScript("a", chunks=[b"x\n"])])
    gitlab.fail("GET", r"/jobs$", 429, headers={"Retry-After": "2"}, body={"message": "Retry later"})
    result, rec = run(gitlab)
    assert result.status == Status.SUCCESS, result.error
    assert b"HTTP 429: Retry later; retry 1 of 5 in 2s" in rec.system
    times = [t for r, t in zip(gitlab.requests, gitlab.times, strict=True) if r[1].endswith("/jobs")]
    assert times[1] - times[0] >= 2.0


def _in_thread(server: GitLabServer, cancel: CancelToken, **kwargs: Any) -> tuple[threading.Thread, dict[str, Any]]:
    box: dict[str, Any] = {}

    def target() -> None:
        box["result"], box["recorder"] = run(server, cancel, **kwargs)

    thread = threading.Thread(target=target)
    thread.start()
    return thread, box


def test_cancel_cancels_the_pipeline_and_confirms_it(gitlab: GitLabServer) -> None:
    gitlab.add_project(PROJECT, [JobScript("deploy", chunks=[b"deploying\n"], holds=True)])
    cancel = CancelToken()
    thread, box = _in_thread(gitlab, cancel)
    gitlab.wait_for(lambda: gitlab.projects[PROJECT].pipelines and gitlab.pipeline(5000).tick >= 3)
    cancel.cancel("cancelled by alice")
    thread.join(30)
    result = box["result"]
    assert result.status == Status.CANCELLED
    assert "cancelled pipeline 5000 (canceled)" in result.error and result.metadata["stop_confirmed"] is True
    assert gitlab.pipeline(5000).status == "canceled" and gitlab.count("POST", "/cancel$") == 1
    assert box["recorder"].stdout == b"deploying\n"


def test_timeout_cancels_the_pipeline(gitlab: GitLabServer) -> None:
    gitlab.add_project(PROJECT, [JobScript("deploy", chunks=[b"deploying\n"], holds=True)])
    result, _ = run(gitlab, timeout=4.0)  # generous: the pipeline must be running when the deadline comes
    assert result.status == Status.TIMEOUT and result.error.startswith("timed out after 4s")
    assert result.metadata["stop_confirmed"] is True and gitlab.pipeline(5000).status == "canceled"


def test_a_pipeline_waiting_for_a_manual_job_keeps_the_run_going(gitlab: GitLabServer) -> None:
    gitlab.add_project(PROJECT, [JobScript("build", chunks=[b"x\n"]), JobScript("deploy", status="manual")])
    result, rec = run(gitlab, timeout=4.0)
    assert result.status == Status.TIMEOUT
    assert b"pipeline 5000: manual (waiting for someone to start a manual job)" in rec.system


WORKER = dead_worker_script("gitlab", "store:9")


def test_a_worker_killed_mid_pipeline_is_resumed_from_its_handle(gitlab: GitLabServer, tmp_path: Path) -> None:
    chunks = [f"step {i}\n".encode() for i in range(8)]
    job = JobScript("deploy", chunks=chunks, holds=True)
    gitlab.add_project(PROJECT, [JobScript("build", "build", [b"built\n"]), job])
    run_spec = spec(gitlab)
    handle_file = tmp_path / "handle.json"
    worker = subprocess.Popen([sys.executable, "-c", WORKER, json.dumps(run_spec.to_dict(redact=False)), str(handle_file)],
                              cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        gitlab.wait_for(lambda: gitlab.projects[PROJECT].pipelines and gitlab.pipeline(5000).tick >= 4)
        # Once the worker has passed the first step of deploy on and kept its cursor, it dies.
        gitlab.wait_for(lambda: stored_by_the_dead_worker(handle_file)[1].startswith(b"built\nstep 0\n")
                        and "trace_cursor" in stored_by_the_dead_worker(handle_file)[0])
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
    handle = json.loads(handle_file.read_text())
    assert handle == {"server": gitlab.url, "project": PROJECT, "pipeline_id": 5000}
    variables = {v["key"]: v["value"] for v in gitlab.pipeline(5000).variables}
    assert variables["RUNWRIGHT_EXECUTION"] == "store:9"
    cls = get_runner_class("gitlab")
    env = {"RUNWRIGHT_GITLAB_URL": gitlab.url, "RUNWRIGHT_GITLAB_TOKEN": gitlab.token}
    os.environ.update(env)
    try:
        assert cls.probe(handle) == Liveness.ALIVE
        job.holds = False
        recorder = MemoryRecorder()
        metadata, before = stored_by_the_dead_worker(handle_file)
        assert before.startswith(b"built\nstep 0\n") and "trace_cursor" in metadata
        result = cls().resume(run_spec, handle, recorder, metadata=metadata)
        assert result.status == Status.SUCCESS, result.error
        # Regression: the traces were replayed from their start (what was stored came twice).
        assert before + recorder.stdout == b"built\n" + b"".join(chunks), "nothing repeated, nothing lost"
        assert b"re-attached to pipeline 5000 of project group/app" in recorder.system
        assert result.metadata["pipeline_url"].endswith("/pipelines/5000") and recorder.handles == []
        assert cls.probe(handle) == Liveness.GONE
    finally:
        for name in env:
            os.environ.pop(name, None)


@pytest.fixture
def configured(gitlab: GitLabServer, monkeypatch: pytest.MonkeyPatch) -> GitLabServer:
    monkeypatch.setenv("RUNWRIGHT_GITLAB_URL", gitlab.url)
    monkeypatch.setenv("RUNWRIGHT_GITLAB_TOKEN", gitlab.token)
    monkeypatch.setenv("RUNWRIGHT_GITLAB_PROJECTS", PROJECT)
    return gitlab


def test_stop_handle_and_probe(configured: GitLabServer) -> None:
    project = configured.add_project(PROJECT, [JobScript("x", chunks=[b"x"], holds=True)])
    pipeline = configured.create(project, "main", [])
    handle = {"server": configured.url, "project": PROJECT, "pipeline_id": pipeline.id}
    cls = get_runner_class("gitlab")
    assert cls.probe(handle) == Liveness.ALIVE
    stop = cls.stop_handle(handle, 2.0)
    assert stop.confirmed and stop.detail == f"cancelled pipeline {pipeline.id} (canceled)"
    assert cls.probe(handle) == Liveness.GONE
    assert cls.probe({**handle, "pipeline_id": 1}) == Liveness.GONE  # deleted: 404


def test_probe_and_stop_without_the_server(gitlab: GitLabServer) -> None:
    handle = {"server": gitlab.url, "project": PROJECT, "pipeline_id": 1}
    gitlab.__exit__(None, None, None)
    cls = get_runner_class("gitlab")
    assert cls.probe(handle) == Liveness.UNKNOWN
    stop = cls.stop_handle(handle, 1.0)
    assert not stop.confirmed and "could not cancel pipeline 1" in stop.detail


def test_sweep_cancels_pipelines_of_runs_no_longer_active(configured: GitLabServer) -> None:
    project = configured.add_project(PROJECT, *[[JobScript("x", chunks=[b"x"], holds=True)] for _ in range(4)])
    tagged = {}
    for tag in ("s:1", "s:2", None):
        variables = [{"key": "RUNWRIGHT_EXECUTION", "value": tag, "variable_type": "env_var"}] if tag else []
        tagged[tag] = configured.create(project, "main", variables)
    tagged[None].tick = 5  # running, but no tag: not runwright's
    tagged["s:2"].tick = 2
    removed = get_runner_class("gitlab").sweep(lambda tag: tag == "s:2")
    assert removed == [f"gitlab pipeline {tagged['s:1'].id} of group/app (run s:1): cancelled pipeline "
                       f"{tagged['s:1'].id} (canceled)"]
    assert tagged["s:1"].status == "canceled" and tagged["s:2"].status != "canceled"
    assert tagged[None].status != "canceled"


def test_sweep_without_configuration_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUNWRIGHT_GITLAB_URL", raising=False)
    assert get_runner_class("gitlab").sweep(lambda tag: False) == []


NO_URL: dict[str, Any] = {"project": "g/a", "ref": "main", "token": "glpat-123456"}


@pytest.mark.parametrize(("url", "problem"), [
    ("127.0.0.1:8080", "must start with http:// or https://"),
    ("ftp://127.0.0.1/", "must start with http:// or https://"),
    ("http://[::1", "is not a valid URL (Invalid IPv6 URL)"),
    ("http://127.0.0.1:99999/", "is not a valid URL (Port out of range 0-65535)"),
    (" http://127.0.0.1:8080", "must not contain spaces"),
    ("http:///path", "names no host"),
    ("https://127.0.0.1/?a=b", "must not have a query or a fragment"),
])
def test_a_malformed_url_is_a_spec_error_naming_options_url(url: str, problem: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = MemoryRecorder()
    result = get_runner("gitlab").run(RunSpec(runner="gitlab", options={**NO_URL, "url": url}), recorder)
    assert result.status == Status.ERROR
    assert result.error == f"invalid spec: options.url: {problem}: got {url!r}, expected a URL like https://gitlab.example.com"
    monkeypatch.setenv("RUNWRIGHT_GITLAB_URL", url)
    result = get_runner("gitlab").run(RunSpec(runner="gitlab", options=NO_URL))
    assert result.error.startswith(f"invalid spec: options.url: is not set, and RUNWRIGHT_GITLAB_URL {problem}: got {url!r}")


def test_credentials_in_a_malformed_url_are_not_repeated() -> None:
    result = get_runner("gitlab").run(RunSpec(runner="gitlab", options={**NO_URL, "url": "ftp://bob:pa55word@ci/"}))
    assert result.error.startswith("invalid spec: options.url: must start with http:// or https://: got 'ftp://***@ci/'")
    assert "pa55word" not in result.error


@pytest.mark.parametrize(("changes", "message"), [
    ({"options": {"project": "group/app", "url": "http://127.0.0.1:1"}}, "options.ref: is required"),
    ({"env": {"A": "b"}}, "env: is not used by the gitlab runner"),
    ({"options": {"project": "g/a", "ref": "main", "url": "http://127.0.0.1:1", "variables": {"A": "1"},
                  "masked_variables": {"A": "2"}}}, "options.masked_variables: A is also in options.variables"),
    ({"options": {"project": "g/a", "ref": "main", "url": "http://127.0.0.1:1", "variables": {"A": {"x": 1}}}},
     "options.variables.A: must be a string, number or boolean"),
    ({"options": {"project": "g/a", "ref": "main"}}, "options.url: is required (or set RUNWRIGHT_GITLAB_URL"),
])
def test_bad_specs_name_the_field(changes: dict[str, Any], message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUNWRIGHT_GITLAB_URL", raising=False)
    base: dict[str, Any] = {"runner": "gitlab", "options": {"project": "g/a", "ref": "main", "url": "http://127.0.0.1:1"}}
    base.update(changes)
    result = get_runner("gitlab").run(RunSpec(**base))
    assert result.status == Status.ERROR and message in result.error


def test_a_masked_variable_split_between_polls_of_jobs_running_side_by_side_stays_masked(gitlab: GitLabServer) -> None:
    # Regression: jobs running at once share stdout; a line cut between two polls of one job
    # was spliced with another job's output ("key=sup3rlint ok\ns3cretkey"), so the secret was
    # never seen whole and both halves were stored in clear.
    gitlab.add_project(PROJECT, [JobScript("build", chunks=[b"key=sup3r", b"s3cretkey\n"]),
                                 JobScript("lint", chunks=[b"lint ok\n"])])
    result, rec = run(gitlab, masked_variables={"API_KEY": "sup3rs3cretkey"})
    assert result.status == Status.SUCCESS, result.error
    assert b"sup3r" not in rec.stdout and b"s3cretkey" not in rec.stdout
    assert sorted(rec.stdout.splitlines()) == [b"key=***", b"lint ok"], "whole lines, never spliced"


def test_a_variable_named_like_the_runs_tag_is_refused_by_name() -> None:
    # Regression: it was sent twice and the pipeline's tag became the user's value, so the
    # sweep took the live run's pipeline for an orphan and cancelled it.
    from runwright.runners import SpecError

    for field in ("variables", "masked_variables"):
        with pytest.raises(SpecError) as info:
            get_runner("gitlab").validate(RunSpec(runner="gitlab", options={
                "url": "http://127.0.0.1:1", "project": PROJECT, "ref": "main", field: {"RUNWRIGHT_EXECUTION": "x"}}))
        assert info.value.field == f"options.{field}.RUNWRIGHT_EXECUTION" and "set by runwright" in str(info.value)
