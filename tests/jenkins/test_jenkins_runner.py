"""The jenkins runner against a Jenkins API server on 127.0.0.1 (tests/infra/jenkins_server.py),
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
from tests.infra.jenkins_server import JenkinsServer, Script

ROOT = Path(__file__).resolve().parents[2]
JOB = "team/app/deploy"


@pytest.fixture
def jenkins() -> Iterator[JenkinsServer]:
    with JenkinsServer() as server:
        yield server


def spec(server: JenkinsServer, job: str = JOB, timeout: float | None = None, **options: Any) -> RunSpec:
    opts = {"url": server.url, "job": job, "user": server.user, "token": server.token, "poll_interval": 0.01,
            "max_poll_interval": 0.05, **options}
    return RunSpec(runner="jenkins", options=opts, timeout=timeout, grace_period=2.0)


def run(server: JenkinsServer, **kwargs: Any) -> tuple[Any, MemoryRecorder]:
    recorder = MemoryRecorder()
    cancel = kwargs.pop("cancel", None)
    result = get_runner("jenkins").run(spec(server, **kwargs), recorder, cancel)
    return result, recorder


def everything(recorder: MemoryRecorder) -> str:
    """Every report of a run as text, to look for secrets."""
    return repr(recorder.calls) + recorder.stdout.decode("utf-8", "replace") + recorder.system.decode()


# -- registration -------------------------------------------------------------------------------
def test_registered_through_entry_points_like_a_plugin() -> None:
    from runwright.integrations.jenkins import JenkinsRunner

    assert available_runners()["jenkins"] == "runwright.integrations.jenkins:JenkinsRunner"
    assert get_runner_class("jenkins") is JenkinsRunner
    assert JenkinsRunner.command == "none" and JenkinsRunner.on_worker_lost == "reattach"
    assert {o.name for o in JenkinsRunner.options if o.secret} == {"token", "secret_parameters"}


# -- a build from trigger to result ---------------------------------------------------------------
def test_parameterized_build_in_folders_streams_its_console_and_succeeds(jenkins: JenkinsServer) -> None:
    jenkins.add_job(JOB, Script(chunks=[b"Started by user alice\n", b"deploying prod\n", b"Finished: SUCCESS\n"]),
                    parameters=["ENV", "DRY_RUN", "RUNWRIGHT_EXECUTION"])
    result, rec = run(jenkins, parameters={"ENV": "prod", "DRY_RUN": False})
    assert result.status == Status.SUCCESS, result.error
    assert rec.stdout == b"Started by user alice\ndeploying prod\nFinished: SUCCESS\n"
    build_url = jenkins.job_url(JOB) + "1/"
    assert "/job/team/job/app/job/deploy/" in build_url
    assert result.metadata["build_url"] == build_url and result.metadata["build_number"] == 1
    assert result.metadata["result"] == "SUCCESS"
    # The handle (server, job, queue item) is reported once, before the run is started.
    kinds = rec.kinds()
    assert kinds.count("handle") == 1 and kinds.index("handle") < kinds.index("started")
    assert rec.handles[0] == {"server": jenkins.url.rstrip("/"), "job": JOB, "queue_id": 100}
    # Parameters go in the form body (never the URL), with the CSRF crumb and the execution tag.
    post = next(r for r in jenkins.requests if r[0] == "POST" and r[1].endswith("/buildWithParameters"))
    assert post[2] == {} and post[3]["Jenkins-Crumb"] == jenkins.crumb
    form = dict(pair.split("=", 1) for pair in post[4].decode().split("&"))
    assert form["ENV"] == "prod" and form["DRY_RUN"] == "false" and len(form["RUNWRIGHT_EXECUTION"]) == 32  # the run id
    assert [e[0] for e in rec.events()][:3] == ["queued", "queue", "build"]
    assert jenkins.token not in everything(rec)


def test_job_without_parameters_is_triggered_with_build(jenkins: JenkinsServer) -> None:
    jenkins.add_job("plain", Script(chunks=[b"ok\n"]))
    result, _ = run(jenkins, job="plain")
    assert result.status == Status.SUCCESS, result.error
    assert jenkins.count("POST", r"^/job/plain/build$") == 1 and jenkins.count("POST", "buildWithParameters") == 0


@pytest.mark.parametrize(("result", "status", "words"), [
    ("UNSTABLE", Status.FAILED, "unstable (UNSTABLE"),
    ("FAILURE", Status.FAILED, "failed (FAILURE)"),
    ("NOT_BUILT", Status.FAILED, "not built (NOT_BUILT"),
    ("ABORTED", Status.FAILED, "aborted on the server"),
    ("SOMETHING_NEW", Status.ERROR, "'SOMETHING_NEW'"),
])
def test_results_are_mapped_by_an_explicit_table(jenkins: JenkinsServer, result: str, status: Status, words: str) -> None:
    jenkins.add_job(JOB, Script(chunks=[b"x\n"], result=result))
    outcome, _ = run(jenkins)
    assert outcome.status == status
    assert words in (outcome.error or "")
    assert outcome.metadata["result"] == result


def test_secret_parameters_and_the_token_are_masked(jenkins: JenkinsServer) -> None:
    jenkins.add_job(JOB, Script(chunks=[b"password is hunter2-secret\n"]), parameters=["PASSWORD"])
    result, rec = run(jenkins, secret_parameters={"PASSWORD": "hunter2-secret"})
    assert result.status == Status.SUCCESS, result.error
    assert rec.stdout == b"password is ***\n"
    assert "hunter2-secret" not in everything(rec) and "hunter2-secret" not in json.dumps(result.metadata)


# -- the queue ---------------------------------------------------------------------------------
def test_queue_item_cancelled_on_the_server_is_an_error(jenkins: JenkinsServer) -> None:
    jenkins.add_job(JOB, Script(queue_polls=2, cancelled_on_server=True))
    result, _ = run(jenkins)
    assert result.status == Status.ERROR
    assert result.error == "queue item 100 of job team/app/deploy was cancelled on the server before a build started"


def test_stuck_queue_item_is_an_error_and_is_cancelled(jenkins: JenkinsServer) -> None:
    jenkins.add_job(JOB, Script(stuck=True, why="There are no nodes with the label 'gpu'"))
    result, _ = run(jenkins)
    assert result.status == Status.ERROR
    assert "queue item 100 of job team/app/deploy is stuck (There are no nodes with the label 'gpu')" in result.error
    assert jenkins.queue[100].cancelled


def test_queue_timeout(jenkins: JenkinsServer) -> None:
    jenkins.add_job(JOB, Script(queue_polls=10**6, why="Waiting for next available executor"))
    result, _ = run(jenkins, queue_timeout=0.2)
    assert result.status == Status.ERROR and "still queued after 0.2s" in result.error
    assert jenkins.queue[100].cancelled


# -- the console ------------------------------------------------------------------------------
def test_console_that_grows_over_many_polls_is_streamed_without_repeats_or_gaps(jenkins: JenkinsServer) -> None:
    chunks = [f"line {i}\n".encode() * (i + 1) for i in range(12)]
    jenkins.add_job(JOB, Script(chunks=chunks))
    result, rec = run(jenkins)
    assert result.status == Status.SUCCESS, result.error
    assert rec.stdout == b"".join(chunks)
    starts = [int(r[2]["start"][0]) for r in jenkins.requests if r[1].endswith("/logText/progressiveText")]
    assert len(starts) >= 12
    # Each poll asks from where the previous answer ended (its X-Text-Size).
    ends = [sum(len(c) for c in chunks[: i + 1]) for i in range(len(chunks))]
    assert starts == [0, *ends[: len(starts) - 1]]


def test_a_chunk_that_splits_a_multibyte_character(jenkins: JenkinsServer) -> None:
    text = "déploiement → prêt ✓ 😀\n".encode()
    chunks = [text[i:i + 1] for i in range(len(text))]  # every character split across polls
    jenkins.add_job(JOB, Script(chunks=chunks))
    result, rec = run(jenkins)
    assert result.status == Status.SUCCESS, result.error
    assert rec.stdout == text
    for name, value in rec.calls:
        if name == "output" and value[0] == "stdout":
            value[1].decode("utf-8")  # every chunk passed on decodes whole
    assert result.stdout_tail == text.decode()


def test_a_console_that_shrinks_is_followed_from_its_start_without_looping(jenkins: JenkinsServer) -> None:
    script = Script(chunks=[b"one\n", b"two\n", b"three\n"], holds=True)
    jenkins.add_job(JOB, script)
    cancel = CancelToken()
    thread, box = _run_in_thread(jenkins, cancel)
    jenkins.wait_for(lambda: jenkins.jobs[JOB].builds and jenkins.jobs[JOB].builds[0].released >= 3)
    with jenkins.lock:  # the server's log is replaced by a shorter one
        script.chunks, script.holds = [b"new\n"], False
        jenkins.build(JOB, 1).released = 0
    thread.join(30)
    result, rec = box["result"], box["recorder"]
    assert result.status == Status.SUCCESS, result.error
    assert rec.stdout == b"one\ntwo\nthree\nnew\n"
    assert b"the console of build #1 shrank on the server (14 -> 4 bytes)" in rec.system


# -- errors from the server ------------------------------------------------------------------------
def test_401_is_an_error_at_once_naming_the_job(jenkins: JenkinsServer) -> None:
    jenkins.add_job(JOB, Script())
    result, rec = run(jenkins, token="wrong-token-123")
    assert result.status == Status.ERROR
    assert result.error.startswith(f"Jenkins at {jenkins.url.rstrip('/')} refused the credentials for job team/app/deploy "
                                   "(HTTP 401")
    assert len(jenkins.requests) == 1  # not retried
    assert "wrong-token-123" not in everything(rec) + (result.error or "")


def test_a_token_without_a_user_is_an_error_before_any_request(jenkins: JenkinsServer) -> None:
    jenkins.add_job(JOB, Script())
    recorder = MemoryRecorder()
    opts = {"url": jenkins.url, "job": JOB, "token": jenkins.token}
    result = get_runner("jenkins").run(RunSpec(runner="jenkins", options=opts), recorder)
    assert result.status == Status.ERROR
    assert result.error.endswith("needs both a user and an API token: options.user (or $RUNWRIGHT_JENKINS_USER) and "
                                 "options.token (or $RUNWRIGHT_JENKINS_TOKEN); only the token is given")
    assert jenkins.requests == [] and jenkins.token not in everything(recorder)


def test_credentials_from_the_workers_environment(jenkins: JenkinsServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNWRIGHT_JENKINS_URL", jenkins.url)
    monkeypatch.setenv("RUNWRIGHT_JENKINS_USER", jenkins.user)
    monkeypatch.setenv("RUNWRIGHT_JENKINS_TOKEN", jenkins.token)
    jenkins.add_job(JOB, Script(chunks=[f"token {jenkins.token} leaked by the job\n".encode()]))
    recorder = MemoryRecorder()
    result = get_runner("jenkins").run(RunSpec(runner="jenkins", options={"job": JOB, "poll_interval": 0.01}), recorder)
    assert result.status == Status.SUCCESS, result.error
    assert recorder.stdout == b"token *** leaked by the job\n"  # a token from the environment is masked too


def test_403_is_an_error_at_once(jenkins: JenkinsServer) -> None:
    jenkins.add_job(JOB, Script())
    jenkins.fail("GET", "/api/json$", 403, body="<html><head><title>Access Denied</title></head></html>")
    result, _ = run(jenkins)
    assert result.status == Status.ERROR
    assert result.error == f"Jenkins at {jenkins.url.rstrip('/')} denied access to job team/app/deploy (HTTP 403: Access Denied)"


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/job/team/job/app/job/deploy/api/json"),
    ("POST", "/job/team/job/app/job/deploy/build"),
])
def test_no_request_follows_a_redirect_to_another_server(jenkins: JenkinsServer, method: str, path: str) -> None:
    """Neither the credentials nor the crumb go to another server; its answer is never trusted."""
    jenkins.add_job(JOB, Script(chunks=[b"ok\n"]))
    with JenkinsServer(user=jenkins.user, token=jenkins.token, host="127.0.0.2") as other:
        other.add_job(JOB, Script(chunks=[b"ok\n"]))
        jenkins.fail(method, f"^{path}$", 302, times=100, headers={"Location": other.url.rstrip("/") + path})
        result, rec = run(jenkins, retries=0)
        assert other.requests == [], [r[3] for r in other.requests]
    assert result.status == Status.ERROR
    assert f"redirected the request to another server ({other.url.rstrip('/')}, from {jenkins.url.rstrip('/')})" \
        in result.error, result.error
    assert jenkins.token not in repr(rec.calls)


def test_404_names_the_job(jenkins: JenkinsServer) -> None:
    result, _ = run(jenkins, job="team/app/missing")
    assert result.status == Status.ERROR
    assert result.error.startswith(f"job team/app/missing not found on {jenkins.url.rstrip('/')} (HTTP 404)")


def test_transient_5xx_then_success(jenkins: JenkinsServer) -> None:
    jenkins.add_job(JOB, Script(chunks=[b"a\n", b"b\n"]))
    jenkins.fail("GET", r"/queue/item/\d+/api/json", 503, times=2)
    jenkins.fail("GET", "progressiveText", 502, times=1)
    result, rec = run(jenkins)
    assert result.status == Status.SUCCESS, result.error
    assert rec.stdout == b"a\nb\n"
    assert result.metadata["retries"] == 3
    assert b"HTTP 503" in rec.system and b"retry 1 of 5" in rec.system


def test_5xx_past_the_retry_limit_is_an_error_with_the_servers_message(jenkins: JenkinsServer) -> None:
    jenkins.add_job(JOB, Script(chunks=[b"a\n"]))
    jenkins.fail("GET", "progressiveText", 500, times=100,
                 body="<html><head><title>Jenkins [Jenkins]</title></head><body><h1>Oops!</h1></body></html>")
    result, _ = run(jenkins, retries=2)
    assert result.status == Status.ERROR
    assert result.error.startswith(
        "reading the console of build #1 failed (after 2 retries): HTTP 500: Jenkins [Jenkins] - Oops!")
    assert jenkins.count("GET", "progressiveText") == 3


def test_retry_after_is_honoured(jenkins: JenkinsServer) -> None:
    jenkins.add_job(JOB, Script(chunks=[b"a\n"]))
    jenkins.fail("GET", "progressiveText", 429, headers={"Retry-After": "2"})
    result, rec = run(jenkins)
    assert result.status == Status.SUCCESS, result.error
    assert b"HTTP 429" in rec.system and b"in 2s" in rec.system
    times = [t for r, t in zip(jenkins.requests, jenkins.times, strict=True) if r[1].endswith("progressiveText")]
    assert times[1] - times[0] >= 2.0


def test_an_expired_crumb_is_fetched_again(jenkins: JenkinsServer) -> None:
    jenkins.add_job(JOB, Script(chunks=[b"a\n"]))
    jenkins.fail("POST", r"/build$", 403, body="<html><head><title>Error 403 No valid crumb was included in the request"
                                               "</title></head></html>")
    result, _ = run(jenkins)
    assert result.status == Status.SUCCESS, result.error
    assert jenkins.count("GET", "crumbIssuer") == 2 and jenkins.count("POST", r"/build$") == 2


def test_an_unreachable_server_is_an_error_after_the_retries(jenkins: JenkinsServer) -> None:
    jenkins.__exit__(None, None, None)
    result, _ = run(jenkins, retries=1)
    assert result.status == Status.ERROR
    assert result.error.startswith("reading job team/app/deploy failed (after 1 retry): connection failed")


# -- the spec ------------------------------------------------------------------------------------
def test_parameters_the_job_does_not_declare_are_refused(jenkins: JenkinsServer) -> None:
    jenkins.add_job(JOB, parameters=["ENV"])
    jenkins.add_job("plain")
    result, _ = run(jenkins, parameters={"ENV": "x", "REGION": "eu"})
    assert result.status == Status.ERROR
    assert result.error == "job team/app/deploy does not declare the parameter REGION (Jenkins would drop it); it declares ENV"
    result, _ = run(jenkins, job="plain", parameters={"ENV": "x"})
    assert result.error == "job plain takes no parameters, but the spec gives ENV"
    assert jenkins.count("POST", "build") == 0


NO_URL: dict[str, Any] = {"job": "x", "user": "u", "token": "tok-123456"}


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
    result = get_runner("jenkins").run(RunSpec(runner="jenkins", options={**NO_URL, "url": url}), recorder)
    assert result.status == Status.ERROR
    assert result.error == f"invalid spec: options.url: {problem}: got {url!r}, expected a URL like https://jenkins.example.com/"
    monkeypatch.setenv("RUNWRIGHT_JENKINS_URL", url)
    result = get_runner("jenkins").run(RunSpec(runner="jenkins", options=NO_URL))
    assert result.error.startswith(f"invalid spec: options.url: is not set, and RUNWRIGHT_JENKINS_URL {problem}: got {url!r}")


def test_credentials_in_a_malformed_url_are_not_repeated() -> None:
    result = get_runner("jenkins").run(RunSpec(runner="jenkins", options={**NO_URL, "url": "ftp://bob:pa55word@ci/"}))
    assert result.error.startswith("invalid spec: options.url: must start with http:// or https://: got 'ftp://***@ci/'")
    assert "pa55word" not in result.error


@pytest.mark.parametrize(("changes", "message"), [
    ({"options": {"job": "/team/x"}}, "options.job: must be a job's full name"),
    ({"options": {"url": "http://127.0.0.1:1"}}, "options.job: is required"),
    ({"env": {"A": "b"}}, "env: is not used by the jenkins runner"),
    ({"command": ["echo"]}, "command: must be empty"),
    ({"options": {"job": "x", "url": "http://127.0.0.1:1", "parameters": {"A": [1]}}},
     "options.parameters.A: must be a string, number or boolean"),
])
def test_bad_specs_name_the_field(changes: dict[str, Any], message: str) -> None:
    base: dict[str, Any] = {"runner": "jenkins", "options": {"job": "x", "url": "http://127.0.0.1:1"}}
    base.update(changes)
    result = get_runner("jenkins").run(RunSpec(**base))
    assert result.status == Status.ERROR and message in result.error


# -- stopping --------------------------------------------------------------------------------------
def _run_in_thread(server: JenkinsServer, cancel: CancelToken, **kwargs: Any) -> tuple[threading.Thread, dict[str, Any]]:
    box: dict[str, Any] = {}

    def target() -> None:
        box["result"], box["recorder"] = run(server, cancel=cancel, **kwargs)

    thread = threading.Thread(target=target)
    thread.start()
    return thread, box


def test_cancel_stops_the_build_and_confirms_it(jenkins: JenkinsServer) -> None:
    jenkins.add_job(JOB, Script(chunks=[b"working\n"], holds=True))
    cancel = CancelToken()
    thread, box = _run_in_thread(jenkins, cancel)
    jenkins.wait_for(lambda: jenkins.jobs[JOB].builds and jenkins.jobs[JOB].builds[0].released >= 1)
    cancel.cancel("cancelled by alice")
    thread.join(30)
    result = box["result"]
    assert result.status == Status.CANCELLED
    assert "stopped build #1" in result.error and result.metadata["stop_confirmed"] is True
    assert jenkins.build(JOB, 1).result == "ABORTED" and jenkins.count("POST", "/1/stop$") == 1


def test_cancel_while_queued_cancels_the_queue_item(jenkins: JenkinsServer) -> None:
    jenkins.add_job(JOB, Script(queue_polls=10**6))
    cancel = CancelToken()
    thread, box = _run_in_thread(jenkins, cancel)
    jenkins.wait_for(lambda: 100 in jenkins.queue and jenkins.queue[100].polls >= 1)
    cancel.cancel()
    thread.join(30)
    result = box["result"]
    assert result.status == Status.CANCELLED, result.error
    assert "cancelled queue item 100" in result.error and result.metadata["stop_confirmed"] is True
    assert jenkins.queue[100].cancelled and not jenkins.jobs[JOB].builds


def test_a_cancel_while_the_trigger_hangs_is_cleaned_up_when_it_returns(jenkins: JenkinsServer) -> None:
    jenkins.add_job(JOB, Script(queue_polls=10**6))
    release = jenkins.hold("POST", r"/build$")
    cancel = CancelToken()
    thread, box = _run_in_thread(jenkins, cancel, request_timeout=60)
    jenkins.wait_for(lambda: jenkins.count("GET", "crumbIssuer") == 1)  # the trigger is on its way
    cancel.cancel()
    thread.join(30)
    result = box["result"]
    assert result.status == Status.CANCELLED and result.metadata["stop_confirmed"] is False
    assert "the trigger request had not returned" in result.error and "left to the sweep" in result.error
    release.set()  # the server answers at last: the abandoned step's cleanup cancels what it queued
    jenkins.wait_for(lambda: 100 in jenkins.queue and jenkins.queue[100].cancelled)
    assert not jenkins.jobs[JOB].builds


def test_timeout_stops_the_build(jenkins: JenkinsServer) -> None:
    jenkins.add_job(JOB, Script(chunks=[b"working\n"], holds=True))
    result, _ = run(jenkins, timeout=4.0)  # generous: the build must be running when the deadline comes
    assert result.status == Status.TIMEOUT and result.error.startswith("timed out after 4s")
    assert result.metadata["stop_confirmed"] is True and jenkins.build(JOB, 1).result == "ABORTED"


def test_a_pipeline_that_ignores_stop_is_killed(jenkins: JenkinsServer) -> None:
    jenkins.add_job(JOB, Script(chunks=[b"sh 'sleep'\n"], holds=True, ignores_stop=True,
                                kind="org.jenkinsci.plugins.workflow.job.WorkflowRun"))
    cancel = CancelToken()
    thread, box = _run_in_thread(jenkins, cancel)
    jenkins.wait_for(lambda: jenkins.jobs[JOB].builds and jenkins.jobs[JOB].builds[0].released >= 1)
    cancel.cancel()
    thread.join(30)
    result = box["result"]
    assert result.status == Status.CANCELLED
    assert "killed" in result.error and result.metadata["stop_confirmed"] is True
    assert jenkins.count("POST", "/1/kill$") == 1


# -- work that outlives its worker ------------------------------------------------------------------
WORKER = dead_worker_script("jenkins", "store:7")


def test_a_worker_killed_mid_build_is_resumed_from_its_handle(jenkins: JenkinsServer, tmp_path: Path) -> None:
    chunks = [f"step {i}\n".encode() for i in range(6)]
    script = Script(chunks=chunks, holds=True)
    jenkins.add_job(JOB, script, parameters=["RUNWRIGHT_EXECUTION"])
    run_spec = spec(jenkins)
    handle_file = tmp_path / "handle.json"
    worker = subprocess.Popen([sys.executable, "-c", WORKER, json.dumps(run_spec.to_dict(redact=False)), str(handle_file)],
                              cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        jenkins.wait_for(lambda: jenkins.jobs[JOB].builds and jenkins.jobs[JOB].builds[0].released >= 3)
        # Once the worker has passed those steps on and kept its cursor (as a recorder stores
        # both), it dies mid-build; the build goes on.
        three = len(b"".join(chunks[:3]))
        jenkins.wait_for(lambda: stored_by_the_dead_worker(handle_file)[0].get("console_cursor", {}).get("offset", 0) >= three)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
    handle = json.loads(handle_file.read_text())
    assert handle == {"server": jenkins.url.rstrip("/"), "job": JOB, "queue_id": 100}
    assert jenkins.build(JOB, 1).building and jenkins.build(JOB, 1).parameters["RUNWRIGHT_EXECUTION"] == "store:7"
    cls = get_runner_class("jenkins")
    os.environ["RUNWRIGHT_JENKINS_URL"] = jenkins.url
    os.environ["RUNWRIGHT_JENKINS_USER"], os.environ["RUNWRIGHT_JENKINS_TOKEN"] = jenkins.user, jenkins.token
    try:
        assert cls.probe(handle) == Liveness.ALIVE
        script.holds = False  # the build will end once its last chunks are out
        recorder = MemoryRecorder()
        metadata, before = stored_by_the_dead_worker(handle_file)
        assert metadata["console_cursor"]["offset"] == len(before) >= three
        assert before == b"".join(chunks)[: len(before)]
        # A second runner instance, from the handle and the stored metadata only.
        result = cls().resume(run_spec, handle, recorder, metadata=metadata)
        assert result.status == Status.SUCCESS, result.error
        # Regression: the console was replayed from its start (what was stored came twice).
        assert before + recorder.stdout == b"".join(chunks), "nothing repeated, nothing lost"
        assert b"re-attached to job team/app/deploy" in recorder.system
        assert result.metadata["build_number"] == 1 and recorder.handles == []
        assert cls.probe(handle) == Liveness.GONE
    finally:
        for name in ("RUNWRIGHT_JENKINS_URL", "RUNWRIGHT_JENKINS_USER", "RUNWRIGHT_JENKINS_TOKEN"):
            os.environ.pop(name, None)


def test_resume_after_the_server_forgot_the_queue_item(jenkins: JenkinsServer) -> None:
    jenkins.add_job(JOB, Script(chunks=[b"a\n", b"b\n"]))
    result, _ = run(jenkins)
    assert result.status == Status.SUCCESS
    del jenkins.queue[100]  # Jenkins drops left items after some minutes
    recorder = MemoryRecorder()
    resumed = get_runner("jenkins").resume(spec(jenkins), {"server": jenkins.url, "job": JOB, "queue_id": 100}, recorder)
    assert resumed.status == Status.SUCCESS and recorder.stdout == b"a\nb\n" and resumed.metadata["build_number"] == 1


@pytest.fixture
def configured(jenkins: JenkinsServer, monkeypatch: pytest.MonkeyPatch) -> JenkinsServer:
    monkeypatch.setenv("RUNWRIGHT_JENKINS_URL", jenkins.url)
    monkeypatch.setenv("RUNWRIGHT_JENKINS_USER", jenkins.user)
    monkeypatch.setenv("RUNWRIGHT_JENKINS_TOKEN", jenkins.token)
    return jenkins


def _queue(server: JenkinsServer, params: dict[str, str]) -> int:
    from runwright.integrations.jenkins.client import JenkinsClient

    return JenkinsClient(server.url, server.user, server.token).trigger(JOB, params)


def test_stop_handle_cancels_a_queued_item_and_stops_a_build(configured: JenkinsServer) -> None:
    configured.add_job(JOB, Script(queue_polls=10**6), Script(queue_polls=0, chunks=[b"x"], holds=True),
                       parameters=["RUNWRIGHT_EXECUTION"])
    cls = get_runner_class("jenkins")
    queued = {"server": configured.url, "job": JOB, "queue_id": _queue(configured, {})}
    stop = cls.stop_handle(queued, 2.0)
    assert stop.confirmed and "cancelled queue item" in stop.detail
    assert cls.probe(queued) == Liveness.GONE
    running = {"server": configured.url, "job": JOB, "queue_id": _queue(configured, {})}
    assert cls.probe(running) == Liveness.ALIVE  # its build starts as it is asked about
    stop = cls.stop_handle(running, 2.0)
    assert stop.confirmed and stop.detail == "stopped build #1"
    assert configured.build(JOB, 1).result == "ABORTED"


def test_probe_without_the_server_is_unknown(jenkins: JenkinsServer) -> None:
    handle = {"server": jenkins.url, "job": JOB, "queue_id": 1}
    jenkins.__exit__(None, None, None)
    assert get_runner_class("jenkins").probe(handle) == Liveness.UNKNOWN
    stop = get_runner_class("jenkins").stop_handle(handle, 1.0)
    assert not stop.confirmed and "could not stop" in stop.detail


def test_sweep_stops_builds_and_queue_items_of_runs_no_longer_active(configured: JenkinsServer) -> None:
    configured.add_job(JOB, Script(queue_polls=0, chunks=[b"x"], holds=True), Script(queue_polls=0, holds=True),
                       Script(queue_polls=10**6), Script(queue_polls=10**6), parameters=["RUNWRIGHT_EXECUTION"])
    for tag in ("s:1", "s:2", "s:3", "s:4"):
        _queue(configured, {"RUNWRIGHT_EXECUTION": tag})
    cls = get_runner_class("jenkins")
    for queue_id in (100, 101):  # the first two become running builds
        assert cls.probe({"server": configured.url, "job": JOB, "queue_id": queue_id}) == Liveness.ALIVE
    removed = cls.sweep(lambda tag: tag in ("s:2", "s:4"))
    assert len(removed) == 2
    assert any("queue item 102" in r and "s:3" in r for r in removed)
    assert any("/1/" in r and "s:1" in r and "stopped build #1" in r for r in removed)
    assert configured.build(JOB, 1).result == "ABORTED" and configured.build(JOB, 2).building
    assert configured.queue[102].cancelled and not configured.queue[103].cancelled


def test_sweep_without_a_configured_server_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUNWRIGHT_JENKINS_URL", raising=False)
    assert get_runner_class("jenkins").sweep(lambda tag: False) == []


def test_handle_is_known_before_the_build_leaves_the_queue(jenkins: JenkinsServer) -> None:
    jenkins.add_job(JOB, Script(queue_polls=10**6))
    cancel = CancelToken()
    thread, box = _run_in_thread(jenkins, cancel)
    jenkins.wait_for(lambda: 100 in jenkins.queue and jenkins.queue[100].polls >= 2)
    cancel.cancel()
    thread.join(30)
    assert box["recorder"].handles == [{"server": jenkins.url.rstrip("/"), "job": JOB, "queue_id": 100}]
    assert not jenkins.jobs[JOB].builds


def test_a_parameter_named_like_the_runs_tag_is_refused_by_name() -> None:
    # Regression: the user's value was overwritten silently by the run's tag.
    from runwright.runners import SpecError

    for field in ("parameters", "secret_parameters"):
        with pytest.raises(SpecError) as info:
            get_runner("jenkins").validate(RunSpec(runner="jenkins", options={
                "url": "http://127.0.0.1:1/", "job": "team/app", field: {"RUNWRIGHT_EXECUTION": "mine"}}))
        assert info.value.field == f"options.{field}.RUNWRIGHT_EXECUTION" and "set by runwright" in str(info.value)


def test_a_huge_retry_after_is_waited_for_at_most_five_minutes() -> None:
    # Regression: one 503 with Retry-After: 1e9 (a proxy's) stalled a run without a timeout for ever.
    from runwright.integrations.remote_ci.http import RemoteError
    from runwright.integrations.remote_ci.polling import Retrier

    waits: list[float] = []
    answers = iter([RemoteError("busy", 503, retry_after=1e9, processed=False), "ok"])

    def request() -> str:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert Retrier(3, lambda seconds: waits.append(seconds) is not None)("reading", request) == "ok"
    assert waits == [300.0]
