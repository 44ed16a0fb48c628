"""Bad input refused at the spec's boundary with a message naming the field, and bytes
carried as bytes end to end."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from runwright.runners import MemoryRecorder, RunSpec, SpecError, Status, run
from runwright.runners.registry import available_runners, get_runner_class
from runwright.runners.spec import MAX_TAIL_BYTES


@pytest.mark.parametrize(
    ("values", "field", "words"),
    [
        ({"timeout": 3_000_000}, "timeout", "at most 2592000 seconds"),
        ({"timeout": 1e308}, "timeout", "at most"),
        ({"grace_period": 1e308}, "grace_period", "at most"),
        ({"tail_bytes": 300 * 1024 * 1024}, "tail_bytes", "at most"),
        ({"env": {"A": "x\x00y"}}, "env['A']", "NUL"),
        ({"labels": {"team": "a\x00b"}}, "labels['team']", "NUL"),
        ({"labels": {"a\x00": "b"}}, "labels", "NUL"),
        ({"labels": {"team": "caf\udce9"}}, "labels['team']", "not valid UTF-8"),
        ({"cwd": "/tmp\x00x"}, "cwd", "NUL"),
        # Options travel as JSON: a value JSON cannot hold is refused by name (it raised a bare
        # TypeError from create(), or an IntegrityError for NaN, after the run's row was made).
        ({"options": {"extra_vars": {"when": datetime(2026, 1, 1)}}}, "options.extra_vars.when", "JSON value"),
        ({"options": {"extra_vars": {"v": float("nan")}}}, "options.extra_vars.v", "finite"),
        ({"options": {"ports": [b"80"]}}, "options.ports[0]", "got bytes"),
        ({"options": {"x": {1: "a"}}}, "options.x", "must be a string"),
        # Options are stored as JSON text (PostgreSQL's jsonb holds no NUL) and read as UTF-8:
        # a NUL here started the run and then failed its recording, leaving it `running`.
        ({"options": {"image": "a\x00b"}}, "options.image", "NUL"),
        ({"options": {"auth": {"password": "p\x00w"}}}, "options.auth.password", "NUL"),
        ({"options": {"mounts": ["\x00:/x"]}}, "options.mounts[0]", "NUL"),
        ({"options": {"k\x00": 1}}, "options.k", "NUL"),
        ({"options": {"image": "caf\udce9"}}, "options.image", "not valid UTF-8"),
        ({"secrets": ["se\x00cret"]}, "secrets[0]", "NUL"),
    ],
)
def test_out_of_bounds_values_are_refused_by_name(values: dict, field: str, words: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(SpecError) as info:
        RunSpec(["true"], **values)
    assert info.value.field.startswith(field) and words in str(info.value)


def test_a_huge_read_size_is_an_error_run_not_an_overflow() -> None:
    result = run(RunSpec(["true"], options={"read_size": 99999999999999999999}))
    assert result.status == Status.ERROR and "options.read_size: must be between 1 and" in result.error


def test_the_largest_allowed_tail_is_accepted() -> None:
    assert RunSpec(["true"], tail_bytes=MAX_TAIL_BYTES).tail_bytes == MAX_TAIL_BYTES


def test_a_timeout_near_the_bound_runs_normally() -> None:
    result = run(RunSpec(["sh", "-c", "echo ok"], timeout=2_500_000))  # longer than epoll's longest wait
    assert result.status == Status.SUCCESS and result.stdout_tail == "ok\n"


def test_non_utf8_arguments_reach_the_command_as_bytes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    name = b"caf\xe9.txt"
    (tmp_path / name.decode("utf-8", "surrogateescape")).write_bytes(b"hello\n")
    arg = (str(tmp_path).encode() + b"/" + name).decode("utf-8", "surrogateescape")  # as Python reads argv
    rec = MemoryRecorder()
    spec = RunSpec(["cat", arg], env={"NAME": name.decode("utf-8", "surrogateescape")})
    result = run(spec, rec)
    assert result.status == Status.SUCCESS and rec.stdout == b"hello\n"
    shown = spec.display_command()
    assert "caf\\xe9.txt" in shown and shown.encode("utf-8")  # printable and storable
    stored = json.dumps(spec.to_dict(), ensure_ascii=False).encode("utf-8")  # no lone surrogate left
    assert b"caf\\\\xe9" in stored
    carried = RunSpec.from_dict(json.loads(json.dumps(spec.to_dict(redact=False))))
    assert carried.command == spec.command and carried.env == spec.env


def test_binary_stdin_travels_as_base64_exactly() -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB, every byte value
    spec = RunSpec(["wc", "-c"], stdin=payload)
    message = json.dumps(spec.to_dict(redact=False))
    assert len(message) < len(payload) * 1.4, "base64, not escaped text"
    carried = RunSpec.from_dict(json.loads(message))
    assert carried.stdin == payload
    rec = MemoryRecorder()
    run(RunSpec(["sha256sum"], stdin=carried.stdin), rec)
    import hashlib

    assert rec.stdout.split()[0].decode() == hashlib.sha256(payload).hexdigest()


def test_bad_base64_stdin_is_refused_by_name() -> None:
    with pytest.raises(SpecError, match="stdin"):
        RunSpec.from_dict({"command": ["cat"], "stdin": {"base64": "!!!"}})


def _numeric_options():  # type: ignore[no-untyped-def]
    for name in sorted(available_runners()):
        for option in get_runner_class(name).options:
            types = option.type if isinstance(option.type, tuple) else (option.type,)
            if int in types or float in types:
                yield pytest.param(name, option, id=f"{name}.{option.name}")


@pytest.mark.parametrize(("runner", "option"), list(_numeric_options()))
def test_every_numeric_option_of_a_built_in_runner_is_bounded(runner, option) -> None:  # type: ignore[no-untyped-def]
    # Regression: only read_size had an upper bound; `-o request_timeout=1e308` reached the
    # socket (OverflowError: timestamp out of range) and `-o retries=1e20` was taken as it was.
    assert option.minimum is not None and option.maximum is not None, f"{runner}: {option.name} has no bounds"
    too_big = option.maximum * 10 if option.maximum else 10
    with pytest.raises(SpecError) as info:
        option.check(int(too_big) if int in (option.type if isinstance(option.type, tuple) else (option.type,))
                     else float(too_big), runner)
    assert info.value.field == f"options.{option.name}" and "must be between" in str(info.value)

