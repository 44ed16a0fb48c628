"""Bugs found by the second break-it review of issue 11, each through the public API."""

from __future__ import annotations

import logging
import re
import subprocess
import uuid

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from runwright.logging_core import legacy
from runwright.logging_core.django_store import DjangoStore
from runwright.logging_core.legacy import ExecutionContext, ExecutionLogger
from tests.legacy_app.helpers import SECRET, full_log
from tests.legacy_app.models import DeployRun, ScriptExecution

VAULT = "vault-pw-4242"


def _reset() -> None:
    """No logger built yet, no secrets configured: the next use reads the settings."""
    legacy._core = None
    legacy._secrets = None  # type: ignore[attr-defined, unused-ignore]


def _stored(row: ScriptExecution) -> str:
    row.refresh_from_db()
    return full_log(row).decode() + row.logs


@override_settings(RUNWRIGHT_SECRETS=[VAULT])
def test_configure_with_options_keeps_the_settings_secrets() -> None:
    _reset()
    legacy.configure(max_stored_bytes=10_000)  # as the README says to set the storage limit
    row = ScriptExecution.objects.create()
    ExecutionLogger.start_execution(row, f"pw {VAULT}")
    assert VAULT not in _stored(row) and "pw ***" in row.logs


def test_configure_keeps_earlier_secrets_unless_replaced() -> None:
    legacy.configure(secrets=[VAULT])
    legacy.configure(max_stored_bytes=10_000)
    legacy.configure(legacy.core().__class__())  # a logger given: it masks the configured secrets too
    row = ScriptExecution.objects.create()
    ExecutionLogger.start_execution(row, f"pw {VAULT}")
    assert VAULT not in _stored(row)
    legacy.configure(secrets=[SECRET])  # replaced explicitly
    other = ScriptExecution.objects.create()
    ExecutionLogger.start_execution(other, f"{VAULT} {SECRET}")
    assert _stored(other).startswith(f"{VAULT} ***")


@pytest.mark.parametrize("secrets", [[123], ["ok", b"bytes"], "a-string"])
def test_a_secret_setting_that_is_not_a_list_of_strings_is_one_clear_error(secrets: object) -> None:
    _reset()
    with override_settings(RUNWRIGHT_SECRETS=secrets), \
            pytest.raises(ImproperlyConfigured, match=r"settings\.RUNWRIGHT_SECRETS"):
        ExecutionLogger.start_execution(ScriptExecution.objects.create())
    with pytest.raises(TypeError, match=r"configure\(secrets=\.\.\.\)"):
        legacy.configure(secrets=secrets)


@override_settings(RUNWRIGHT_SECRETS=[None, ""])
def test_empty_secrets_in_the_setting_are_skipped() -> None:
    _reset()
    row = ScriptExecution.objects.create()
    ExecutionLogger.start_execution(row, "hello")
    assert _stored(row).startswith("hello\n")


def test_a_secret_passed_as_return_code_is_refused_and_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    row = ScriptExecution.objects.create()  # no return_code field
    ExecutionLogger.start_execution(row)
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(TypeError, match=r"^return_code must be an int or None, not a str$"):
            ExecutionLogger.fail_execution(row, "x", return_code=SECRET)  # type: ignore[arg-type]
        assert ExecutionLogger.fail_execution(row, f"boom {SECRET}", return_code=3)
    assert SECRET not in caplog.text + _stored(row)
    assert '"return_code": 3' in caplog.text


@pytest.mark.parametrize("result", [
    {"return_code": "0"}, {"returncode": 0.0}, {"exit_code": True},
    subprocess.CompletedProcess(["x"], "0", "", ""),  # type: ignore[arg-type]
])
def test_a_return_code_that_is_not_an_int_is_refused_naming_it(result: object) -> None:
    row = ScriptExecution.objects.create()
    ExecutionLogger.start_execution(row)
    with pytest.raises(TypeError, match=r"^result(\['\w+'\]|\.returncode) must be an int or None"):
        ExecutionLogger.complete_execution(row, result)
    row.refresh_from_db()
    assert row.status == "running"


def test_a_return_code_of_any_int_type_is_taken() -> None:
    row = DeployRun.objects.create()
    ExecutionLogger.start_execution(row)
    assert ExecutionLogger.complete_execution(row, {"return_code": IntLike(0)})
    row.refresh_from_db()
    assert (row.status, row.return_code) == ("success", 0)


class IntLike:
    def __init__(self, value: int) -> None:
        self.value = value

    def __index__(self) -> int:
        return self.value


def test_none_is_ignored_and_other_types_refused_by_the_log_methods() -> None:
    row = ScriptExecution.objects.create()
    ExecutionLogger.start_execution(row)
    assert ExecutionLogger.update_execution_logs(row, None, append=True) is False
    assert ExecutionLogger.update_execution_logs(row, None) is False
    assert ExecutionLogger.log_execution_info(row, None) is False
    for bad in (42, ["a", "b"], {"x": 1}):
        with pytest.raises(TypeError, match=r"^logs must be str, bytes or None"):
            ExecutionLogger.update_execution_logs(row, bad, append=True)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"^message must be str, bytes or None"):
            ExecutionLogger.log_execution_info(row, bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"^result\['stdout'\] must be str, bytes or None"):
            ExecutionLogger.complete_execution(row, {"stdout": bad})
        with pytest.raises(TypeError, match=r"^log_message must be str, bytes or None"):
            ExecutionLogger.complete_execution(row, None, log_message=bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"^custom_logs must be str, bytes or None"):
            ExecutionLogger.complete_execution(row, None, custom_logs=bad)  # type: ignore[arg-type]
    assert ExecutionLogger.update_execution_logs(row, "a", append=True) is True
    assert ExecutionLogger.log_execution_info(row, "b") is True
    assert _stored(row) == "a\n[INFO] b\n" * 2
    ExecutionLogger.cancel_execution(row)
    assert ExecutionLogger.update_execution_logs(row, "late", append=True) is False


@pytest.mark.parametrize("wrong", [uuid.uuid4(), 1.5, b"1", True])
def test_an_id_that_is_not_an_execution_id_is_a_clear_error(wrong: object) -> None:
    with pytest.raises(TypeError, match="pass the model instance; ids are only for runwright's own Execution"):
        ExecutionLogger.start_execution(wrong)


@pytest.mark.parametrize("how", ["dict", "context", "process"])
def test_stdout_and_stderr_sharing_a_text_field_each_start_on_a_line_of_their_own(how: str) -> None:
    row = ScriptExecution.objects.create()  # its only text field is logs
    if how == "context":
        with ExecutionContext(row) as ctx:
            ctx.set_result({"stdout": "o", "output": "dict output", "stderr": "err\n", "return_code": 1})
    elif how == "process":
        ExecutionLogger.complete_execution(row, subprocess.CompletedProcess(["x"], 1, b"o", b"e"))
    else:
        ExecutionLogger.complete_execution(row, {"stdout": "o", "output": "dict output", "stderr": "err\n",
                                                 "return_code": 1})
    row.refresh_from_db()
    expected = "o\ne" if how == "process" else "o\ndict output\nerr\n"
    assert row.logs.endswith(expected)
    store = DjangoStore(ScriptExecution)
    streams = {s: b"".join(c.data for c in store.read_log(row.pk) if c.stream == s) for s in ("stdout", "stderr")}
    assert streams == ({"stdout": b"o", "stderr": b"e"} if how == "process"
                       else {"stdout": b"o\ndict output", "stderr": b"err\n"})  # each stream's bytes as given


def test_streams_with_fields_of_their_own_get_no_newline() -> None:
    row = DeployRun.objects.create()
    ExecutionLogger.complete_execution(row, {"stdout": "o", "stderr": "e", "return_code": 1})
    row.refresh_from_db()
    assert (row.stdout, row.stderr) == ("o", "e")


def _marker_counts(row: object) -> list[int]:
    return [int(n) for n in re.findall(rb"reached: (\d+) more bytes were produced and not stored", full_log(row))]


@pytest.mark.parametrize("model", [ScriptExecution, DeployRun])
def test_every_byte_dropped_past_the_limit_is_counted_in_the_one_marker(model: type) -> None:
    legacy.configure(secrets=[], max_stored_bytes=100)
    row = model.objects.create()
    ExecutionLogger.start_execution(row)
    for i in range(10):  # 10 lines of 30 bytes
        ExecutionLogger.update_execution_logs(row, f"line {i} " + "y" * 22, append=True)
    assert _marker_counts(row) == [200]
    ExecutionLogger.log_execution_info(row, "z" * 41)  # "[INFO] " + 41 + "\n": 49 bytes
    assert _marker_counts(row) == [249]
    ExecutionLogger.fail_execution(row, "boom", log_message="x" * 9)  # error text is stored; the 10 bytes are not
    assert _marker_counts(row) == [259]
    row.refresh_from_db()
    summary = row.logs if model is ScriptExecution else row.stderr
    assert re.findall(r"reached: (\d+) more bytes", summary) == ["259"]  # the text field shows the same count


def test_a_replacement_counts_again_and_the_count_goes_to_the_rows_dropped_bytes() -> None:
    from runwright.integrations.django.models import Execution

    logger = legacy.configure(secrets=[], max_stored_bytes=100)
    pk = Execution.objects.create(command="x").pk
    logger.start_execution(pk)
    logger.update_execution_logs(pk, "a" * 150, append=True)
    assert Execution.objects.get(pk=pk).dropped_bytes == 51  # the line had its newline added
    logger.update_execution_logs(pk, "b" * 130)  # replaces the log lines, the marker and what it counted with them
    assert _marker_counts(Execution.objects.get(pk=pk)) == [30]
    logger.complete_execution(pk, {"stdout": "c" * 5})
    row = Execution.objects.get(pk=pk)
    assert _marker_counts(row) == [35] and row.dropped_bytes == 35


@pytest.mark.parametrize("model", [DeployRun, ScriptExecution])
def test_an_unfinished_character_at_the_end_of_the_output_shows_as_a_replacement_character(model: type) -> None:
    row = model.objects.create()
    ExecutionLogger.complete_execution(row, subprocess.CompletedProcess(["x"], 0, b"ok \xe2\x82", b""))
    row.refresh_from_db()
    shown = row.stdout if model is DeployRun else row.logs
    assert shown.endswith("ok \ufffd")
    assert full_log(row).endswith(b"ok \xe2\x82")  # the chunks keep the bytes
