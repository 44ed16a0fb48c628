"""Secret detection and masking through the public API: what a run's output, result and
stored spec show."""

from __future__ import annotations

import json
import logging
import random

import pytest

from runwright.runners import MemoryRecorder, RunSpec, Status, run
from runwright.runners.secrets import MASK, Redactor, looks_secret

PEM = ("-----BEGIN PRIVATE KEY-----\n" + "\n".join("MIIEv" + "QIBADANBgkqhkiG9w0BAQEFAASC" * 2 for _ in range(50))
       + "\n-----END PRIVATE KEY-----\n")


@pytest.mark.parametrize("name", ["GITHUB_TOKEN", "CI_JOB_TOKEN", "PASSWORD", "API_KEY", "DB_PASS",
                                  "AWS_SECRET_ACCESS_KEY", "PRIVATE_KEY", "SSH_KEY", "githubToken", "db-password",
                                  "SENTRY_DSN", "MYSQL_PWD", "SESSION_COOKIE"])
def test_secret_names_by_component(name: str) -> None:
    assert looks_secret(name)


@pytest.mark.parametrize("name", ["GIT_AUTHOR_NAME", "AUTHOR", "KEYBOARD_LAYOUT", "MONKEY", "PATH", "BYPASS_CACHE",
                                  "AWS_ACCESS_KEY_ID", "PASSAGE", "TOKENIZER_MODEL", "HOME"])
def test_ordinary_names_are_not_secret(name: str) -> None:
    assert not looks_secret(name)


def test_a_name_that_contains_a_secret_word_does_not_mask_its_value() -> None:
    rec = MemoryRecorder()
    spec = RunSpec(["sh", "-c", 'echo "building main branch for $GIT_AUTHOR_NAME"'],
                   env={"GIT_AUTHOR_NAME": "building", "GITHUB_TOKEN": "ghp_abcdef123456"})
    run(spec, rec)
    assert rec.stdout == b"building main branch for building\n"
    assert "ghp_abcdef123456" not in str(spec.to_dict()) and spec.to_dict()["env"]["GITHUB_TOKEN"] == MASK


def test_a_short_secret_named_value_is_not_masked_and_a_warning_names_the_variable(caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.WARNING, logger="runwright.secrets")
    rec = MemoryRecorder()
    run(RunSpec(["sh", "-c", "echo 1 2 3"], env={"RETRY_TOKEN_XYZ_KEY": "1"}), rec)
    assert rec.stdout == b"1 2 3\n"
    assert any("RETRY_TOKEN_XYZ_KEY" in r.getMessage() and "not masked" in r.getMessage() for r in caplog.records)
    assert all("'1'" not in r.getMessage() for r in caplog.records)
    # Named explicitly, a short value is masked anyway.
    rec = MemoryRecorder()
    run(RunSpec(["sh", "-c", "echo pin 42"], env={"PIN": "42"}, secret_env=["PIN"]), rec)
    assert rec.stdout == b"pin ***\n"


def test_a_secret_used_as_a_label_key_is_masked() -> None:
    spec = RunSpec(["true"], secrets=["hunter2-pass"], labels={"hunter2-pass": "x", "team": "hunter2-pass"})
    assert "hunter2-pass" not in str(spec.to_dict())
    assert spec.to_dict()["labels"] == {MASK: "x", "team": MASK}


def test_url_passwords_in_the_env_are_masked() -> None:
    rec = MemoryRecorder()
    run(RunSpec(["sh", "-c", "echo $DATABASE_URL"], env={"DATABASE_URL": "postgres://app:pg-s3cret@db/app"}), rec)
    assert rec.stdout == b"postgres://app:***@db/app\n"


@pytest.mark.parametrize("chunk", [1, 7, 64, 4096])
def test_a_pem_key_split_across_any_chunks_is_masked(chunk: int) -> None:
    data = ("before\n" + PEM + "after\n").encode()
    script = f"import sys,os\nd={data!r}\nfor i in range(0,len(d),{chunk}): os.write(1,d[i:i+{chunk}])"
    rec = MemoryRecorder()
    run(RunSpec(["python3", "-c", script], secrets=[PEM]), rec)
    assert rec.stdout == f"before\n{MASK}after\n".encode()


def test_stream_masking_equals_masking_the_whole_output_however_it_is_cut() -> None:
    rnd = random.Random(7)
    for _ in range(2000):
        secrets = ["".join(rnd.choice("ab") for _ in range(rnd.randint(1, 6))) for _ in range(rnd.randint(1, 4))]
        redactor = Redactor(secrets)
        text = "".join(rnd.choice("abc") for _ in range(rnd.randint(0, 60))).encode()
        stream, out, i = redactor.stream(), b"", 0
        while i < len(text):
            n = rnd.randint(1, 8)
            out += stream.feed(text[i : i + n])
            i += n
        out += stream.flush()
        assert out == redactor.data(text), (secrets, text)


def test_twenty_secrets_mask_in_one_pass_and_overlaps_mask_whole() -> None:
    secrets = [f"secret-{i:02d}-" + "x" * 180 for i in range(20)]
    redactor = Redactor([*secrets, "abcdef", "cdefgh"])
    text = " ".join(secrets).encode() + b" abcdefgh"
    assert redactor.data(text) == b" ".join([MASK.encode()] * 20) + b" ***gh"


def test_a_multi_line_secret_is_masked_however_it_is_printed() -> None:
    # An SSH key given with its final newline was shown in clear by a task that read the key
    # file (the lookup strips the newline) or printed it JSON-escaped (found by a review).
    from runwright.runners.secrets import Redactor

    key = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAAfakekeylineone\nBBBBfakekeylinetwo\n-----END OPENSSH PRIVATE KEY-----\n"
    redactor = Redactor([key])
    for shown in (key, key.strip(), key.strip().replace("\n", "\\n"), "second line: BBBBfakekeylinetwo"):
        masked = redactor.text(f"task output: {shown} end")
        assert "fakekeyline" not in masked and masked.endswith(" end"), masked


def test_a_password_in_a_url_option_is_masked_whatever_the_options_name() -> None:
    # Regression: a token given as http://user:TOKEN@host in options.url reached the log, the
    # events, the stored spec and errors in clear.
    spec = RunSpec(runner="jenkins", options={"job": "j", "url": "http://alice:s3cret-tok-123@127.0.0.1:1/"})
    assert "s3cret-tok-123" not in str(spec.to_dict())
    assert spec.redactor().text("GET http://alice:s3cret-tok-123@127.0.0.1:1/job/j") == "GET http://alice:***@127.0.0.1:1/job/j"


#: A Secret in every spelling a manifest may give its values: data (base64), stringData plain,
#: quoted with an escape, a block scalar; and one in a kind: List's items.
SECRET_MANIFESTS = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {greeting: hello}
---
apiVersion: v1
kind: Secret
metadata: {name: db}
data: {password: cGE1NS13MHJkLWluLWRhdGE=}
stringData:
  token: tok-in-string-data-42
  escaped: "esc\\x61ped-value-77"
  key.pem: |
    -----BEGIN FAKE KEY-----
    QUJDREVGR0hJSktMTU5PUA
    -----END FAKE KEY-----
---
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Secret, metadata: {name: listed}, stringData: {api: listed-secret-99}}
"""
SECRET_CLEAR = ["pa55-w0rd-in-data", "tok-in-string-data-42", "escaped-value-77", "QUJDREVGR0hJSktMTU5PUA",
                "listed-secret-99"]


def secret_forms(values: list[str]) -> list[str]:
    import base64

    return [*values, *(base64.b64encode(v.encode()).decode() for v in values), "cGE1NS13MHJkLWluLWRhdGE=",
            "esc\\x61ped"]


def test_the_values_of_secret_manifests_never_reach_the_stored_spec_or_the_log() -> None:
    # Regression: the data and stringData of a Secret in a kubernetes-deploy run's manifests
    # were stored in clear in the execution's spec (the row, `show --json`), and in errors.
    import json

    from runwright.integrations.django.models import Execution
    from runwright.logging_core import ExecutionLogger

    logger = ExecutionLogger(structured_log=False, metrics=False)
    spec = RunSpec(runner="kubernetes-deploy", options={
        "action": "apply", "manifests": SECRET_MANIFESTS, "kubeconfig": "/nonexistent/kubeconfig", "context": "c"})
    ref = logger.create(spec)
    stored = json.dumps(Execution.objects.get(pk=ref).spec)  # what `show --json` shows
    assert "settings" in stored and "greeting: hello" in stored  # the rest of the manifest is kept
    for form in secret_forms(SECRET_CLEAR):
        assert form not in stored, form
    # what the run says (here: the cluster cannot be reached) and the output of its pods
    text = " ".join(secret_forms(SECRET_CLEAR))
    assert "tok-in" not in spec.redactor().text(text) and "listed-secret" not in spec.redactor().text(text)
    result = logger.run(spec, ref)
    assert result.status == "error"
    row = Execution.objects.get(pk=ref)
    logged = (b"".join(c.data for c in logger.read_log(ref)).decode() + (result.error or "") + row.error_message
              + json.dumps(row.spec) + json.dumps(row.result))
    assert all(form not in logged for form in secret_forms(SECRET_CLEAR))


def test_a_manifest_that_does_not_parse_hides_its_secret_document_in_the_stored_spec() -> None:
    spec = RunSpec(runner="kubernetes-deploy", options={
        "action": "apply", "kubeconfig": "k", "context": "c",
        "manifests": SECRET_MANIFESTS + "---\nkind: Secret\nstringData: {a: [broken-secret-123\n"})
    stored = str(spec.to_dict())
    assert "broken-secret-123" not in stored and "tok-in-string-data-42" not in stored


def test_a_terminate_or_cleanup_that_raises_never_logs_a_secret(caplog: pytest.LogCaptureFixture) -> None:
    # Regression (break-it, issue 8): their tracebacks went to the log unmasked, with the
    # secret option the exception was built from.
    from runwright.runners import Exit, Option, RunContext, Runner, RunnerError, RunSpec, Stop

    secret = "TOPSECRET-in-a-traceback"

    class Careless(Runner):
        name = "careless"
        command = "none"
        options = (Option("password", str, secret=True),)

        def start(self, ctx: RunContext) -> None:
            ctx.set_handle({"step": "started"})

        def stream(self, ctx: RunContext) -> None:
            raise RunnerError("the stream broke")  # the work may exist: terminate is called

        def wait(self, ctx: RunContext) -> Exit:
            return Exit(exit_code=0)

        def terminate(self, ctx: RunContext, grace: float) -> Stop:
            raise RuntimeError("terminate bug " + ctx.options["password"])

        def cleanup(self, ctx: RunContext) -> None:
            raise RuntimeError("cleanup bug " + ctx.options["password"])

    with caplog.at_level("DEBUG"):
        result = Careless().run(RunSpec(runner="careless", options={"password": secret}))
    assert result.status == Status.ERROR
    assert "terminate bug ***" in caplog.text and "cleanup bug ***" in caplog.text
    assert "Traceback" in caplog.text  # still there to debug with, masked
    assert secret not in caplog.text and secret not in json.dumps(result.to_dict(), default=str)
