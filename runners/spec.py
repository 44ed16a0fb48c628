"""RunSpec: what to run, validated before anything starts."""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from runwright.runners.secrets import MASK, MIN_DETECTED_LENGTH, Redactor, looks_secret, secret_values

DEFAULT_GRACE_PERIOD = 5.0
DEFAULT_TAIL_BYTES = 64 * 1024
#: Upper bounds of the numbers a spec carries: a deadline or grace period beyond 30 days
#: is a typo (``-t 3000000``) or an overflow (``1e308``), and each tail is held in memory
#: and stored with the result.
MAX_DURATION = 30 * 24 * 3600.0
MAX_TAIL_BYTES = 1024 * 1024


class SpecError(ValueError):
    """Invalid input; ``field`` names what is wrong so the message can say it."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True)
class RunSpec:
    """One unit of work, independent of where it runs.

    ``command`` is an argument list; a single shell string is accepted only with
    ``shell=True``. It may be left out (None) for a runner that takes what to run from its
    options (``Runner.command = "none"``); the chosen runner decides whether it is required.
    ``options`` are runner-specific and checked against the runner's options schema.
    """

    command: list[str] | str | None = None
    runner: str = "local"
    env: dict[str, str] = field(default_factory=dict)
    inherit_env: bool = True
    cwd: str | None = None
    timeout: float | None = None
    grace_period: float = DEFAULT_GRACE_PERIOD
    stdin: bytes | str | None = None
    shell: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)
    secret_env: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    tail_bytes: int = DEFAULT_TAIL_BYTES

    def __post_init__(self) -> None:
        _validate(self)

    # -- derived views -------------------------------------------------------------------
    @property
    def argv(self) -> list[str]:
        """The argument list to execute (``/bin/sh -c`` for a shell string; empty without
        a command)."""
        if self.command is None:
            return []
        if isinstance(self.command, str):
            return ["/bin/sh", "-c", self.command]
        return list(self.command)

    def redactor(self) -> Redactor:
        """Masks the spec's secrets: explicit values, secret env vars, and string values
        under secret-looking keys anywhere in ``options`` (a build arg ``NPM_TOKEN``, an
        ``auth.password``), and the values of options the runner declares secret."""
        return Redactor([*secret_values(self.secrets, self.env, self.secret_env), *_option_secrets(self.options),
                         *_declared_secrets(self.runner, self.options)])

    def display_command(self) -> str:
        """The command line for people and logs, with secrets masked."""
        import shlex

        if self.command is None:
            return ""
        text = self.command if isinstance(self.command, str) else shlex.join(self.command)
        return printable(self.redactor().text(text))

    def to_dict(self, *, redact: bool = True) -> dict[str, Any]:
        """A JSON-ready dict.

        ``redact=True`` (the default) is for people and storage: secrets masked, the secret
        list itself left out, bytes that are not UTF-8 shown as ``\\xNN``. ``redact=False``
        is for carrying the spec to a worker, exact: arguments that are not UTF-8 stay as
        surrogate escapes (JSON carries them), binary stdin as ``{"base64": ...}`` (4/3 of
        its size; ``from_dict`` reads both forms back)."""
        data = asdict(self)
        if redact:
            if isinstance(data["stdin"], bytes):
                data["stdin"] = data["stdin"].decode("utf-8", "replace")
            redactor = self.redactor()
            data = _printable_deep(redactor.deep(data))
            data["secrets"] = [MASK] * len(self.secrets)
        elif isinstance(data["stdin"], bytes):
            data["stdin"] = {"base64": base64.b64encode(data["stdin"]).decode("ascii")}
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunSpec:
        """Build from decoded JSON or a config file; unknown keys are refused by name."""
        if not isinstance(data, Mapping):
            raise SpecError("spec", f"expected an object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SpecError(unknown[0], f"unknown field; known fields: {', '.join(sorted(known))}")
        values = dict(data)
        stdin = values.get("stdin")
        if isinstance(stdin, Mapping):
            if set(stdin) != {"base64"} or not isinstance(stdin["base64"], str):
                raise SpecError("stdin", 'expected a string, or {"base64": "..."} for bytes')
            try:
                values["stdin"] = base64.b64decode(stdin["base64"], validate=True)
            except ValueError:
                raise SpecError("stdin", "is not valid base64") from None
        return cls(**values)

    def to_json(self) -> str:
        return json.dumps(self.to_dict())



def printable(text: str) -> str:
    """``text`` safe for a text column, a terminal or jsonb: bytes that were not UTF-8
    (carried as surrogate escapes, the way Python reads such arguments) shown as ``\\xNN``,
    NUL as U+2400."""
    if "\x00" in text:  # a text column and PostgreSQL's jsonb cannot hold NUL
        text = text.replace("\x00", "\u2400")
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _printable_deep(value: Any) -> Any:
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {_printable_deep(k): _printable_deep(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_printable_deep(v) for v in value)
    return value


def _option_secrets(value: Any, key: str = "") -> list[str]:
    if isinstance(value, Mapping):
        return [v for k, item in value.items() for v in _option_secrets(item, str(k))]
    if isinstance(value, (list, tuple)):
        return [v for item in value for v in _option_secrets(item, key)]
    if isinstance(value, str) and key and looks_secret(key) and len(value) >= MIN_DETECTED_LENGTH:
        return [value]
    if isinstance(value, str) and "@" in value and "://" in value:
        return _url_password(value)
    return []


def _url_password(value: str) -> list[str]:
    """The password of a URL with credentials in it (``https://user:TOKEN@host/``), under
    any option name: a server URL is a common place for a token."""
    from urllib.parse import urlsplit

    try:
        password = urlsplit(value.strip()).password
    except ValueError:
        return []
    return [password] if password else []


def _declared_secrets(runner: str, options: Mapping[str, Any]) -> list[str]:
    """Values of the options ``runner``'s schema declares secret (none when it cannot be loaded)."""
    if not options:
        return []
    from runwright.runners.conformance import RunnerLoadError
    from runwright.runners.options import secret_option_values
    from runwright.runners.registry import get_runner_class

    try:
        schema = get_runner_class(runner).options
    except RunnerLoadError:
        return []
    return secret_option_values(schema, options)


def _validate(spec: RunSpec) -> None:
    command = spec.command
    if command is None:
        if spec.shell:
            raise SpecError("shell", "shell=True needs the command as one string")
    elif isinstance(command, str):
        if not spec.shell:
            raise SpecError(
                "command", "a single string needs shell=True; pass an argument list to run without a shell"
            )
        if not command.strip():
            raise SpecError("command", "is empty")
    elif isinstance(command, (list, tuple)):
        if spec.shell:
            raise SpecError("shell", "shell=True takes the command as one string, not a list")
        if not command:
            raise SpecError("command", "is empty")
        for i, arg in enumerate(command):
            if not isinstance(arg, str):
                raise SpecError(f"command[{i}]", f"must be a string, got {type(arg).__name__}")
            if "\x00" in arg:
                raise SpecError(f"command[{i}]", "contains a NUL byte")
        if not command[0]:
            raise SpecError("command[0]", "is empty")
        object.__setattr__(spec, "command", list(command))
    else:
        raise SpecError("command", f"must be a list of strings, got {type(command).__name__}")

    if not isinstance(spec.runner, str) or not spec.runner:
        raise SpecError("runner", "must be a non-empty string")
    _check_str_map("env", spec.env)
    _check_str_map("labels", spec.labels)
    for name, value in spec.env.items():
        if not name or "=" in name or "\x00" in name:
            raise SpecError(f"env[{printable(name)!r}]", "is not a valid variable name")
        if "\x00" in value:
            raise SpecError(f"env[{printable(name)!r}]", "contains a NUL byte")
    for key, value in spec.labels.items():
        for what, text in (("key", key), ("value", value)):
            if "\x00" in text:
                raise SpecError(f"labels[{printable(key)!r}]", f"{what} contains a NUL byte")
            if printable(text) != text:
                raise SpecError(f"labels[{printable(key)!r}]", f"{what} is not valid UTF-8 text")
    if spec.timeout is not None:
        _check_duration("timeout", spec.timeout, allow_zero=False)
    _check_duration("grace_period", spec.grace_period, allow_zero=True)
    if spec.cwd is not None and (not isinstance(spec.cwd, str) or not spec.cwd):
        raise SpecError("cwd", "must be a non-empty string path")
    if spec.cwd is not None and "\x00" in spec.cwd:
        raise SpecError("cwd", "contains a NUL byte")
    if spec.stdin is not None and not isinstance(spec.stdin, (bytes, str)):
        raise SpecError("stdin", f"must be bytes or str, got {type(spec.stdin).__name__}")
    for name, values in (("secrets", spec.secrets), ("secret_env", spec.secret_env)):
        if not isinstance(values, (list, tuple)) or not all(isinstance(v, str) for v in values):
            raise SpecError(name, "must be a list of strings")
        for i, text in enumerate(values):
            if "\x00" in text:  # a secret's value is never repeated, not even in an error
                raise SpecError(f"{name}[{i}]", "contains a NUL byte")
        object.__setattr__(spec, name, list(values))
    if not isinstance(spec.options, Mapping):
        raise SpecError("options", f"must be a mapping, got {type(spec.options).__name__}")
    _check_json("options", spec.options)
    if not isinstance(spec.tail_bytes, int) or isinstance(spec.tail_bytes, bool) or spec.tail_bytes < 0:
        raise SpecError("tail_bytes", "must be a non-negative integer")
    if spec.tail_bytes > MAX_TAIL_BYTES:
        raise SpecError("tail_bytes", f"must be at most {MAX_TAIL_BYTES} bytes (1 MiB), got {spec.tail_bytes}")
    for flag in ("inherit_env", "shell"):
        if not isinstance(getattr(spec, flag), bool):
            raise SpecError(flag, "must be true or false")


def _check_json(name: str, value: object) -> None:
    """Options travel as JSON (the stored spec, a Celery message, a runner's own files):
    plain JSON values only, string keys, finite numbers. Raises SpecError naming the field."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise SpecError(name, f"key {key!r} must be a string")
            _check_text(f"{name}.{printable(key)}", key, "key")
            _check_json(f"{name}.{printable(key)}", item)
    elif isinstance(value, (list, tuple)):  # a tuple is stored as a JSON list
        for i, item in enumerate(value):
            _check_json(f"{name}[{i}]", item)
    elif isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        raise SpecError(name, f"must be a finite number, got {value!r}")
    elif isinstance(value, str):
        _check_text(name, value, "value")
    elif value is not None and not isinstance(value, (int, float, bool)):
        raise SpecError(name, f"must be a JSON value (string, number, true/false, null, list or mapping), "
                              f"got {type(value).__name__}")


def _check_text(name: str, text: str, what: str) -> None:
    """Text that is stored as JSON text (PostgreSQL's jsonb holds no NUL) and read by
    runners and servers as UTF-8: no NUL, no byte that is not UTF-8."""
    if "\x00" in text:
        raise SpecError(name, f"{what} contains a NUL byte")
    if printable(text) != text:
        raise SpecError(name, f"{what} is not valid UTF-8 text")


def _check_str_map(name: str, value: object) -> None:
    if not isinstance(value, Mapping):
        raise SpecError(name, f"must be a mapping of strings, got {type(value).__name__}")
    for key, item in value.items():
        if not isinstance(key, str):
            raise SpecError(name, f"key {key!r} must be a string")
        if not isinstance(item, str):
            raise SpecError(f"{name}[{key!r}]", f"must be a string, got {type(item).__name__}")


def _check_duration(name: str, value: object, *, allow_zero: bool) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or math.isinf(value):
        raise SpecError(name, f"must be a number of seconds, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise SpecError(name, f"must be {'zero or ' if allow_zero else ''}positive, got {value!r}")
    if value > MAX_DURATION:
        raise SpecError(name, f"must be at most {MAX_DURATION:.0f} seconds (30 days), got {value:g}")
