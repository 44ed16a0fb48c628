"""RunSpec: what to run, validated before anything starts."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from runners.secrets import MASK, MIN_DETECTED_LENGTH, Redactor, looks_secret, secret_values

DEFAULT_GRACE_PERIOD = 5.0
DEFAULT_TAIL_BYTES = 64 * 1024


class SpecError(ValueError):
    """Invalid input; ``field`` names what is wrong so the message can say it."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True)
class RunSpec:
    """One unit of work, independent of where it runs.

    ``command`` is an argument list; a single shell string is accepted only with
    ``shell=True``. ``options`` are runner-specific and checked by the chosen runner.
    """

    command: list[str] | str
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
        """The argument list to execute (``/bin/sh -c`` for a shell string)."""
        if isinstance(self.command, str):
            return ["/bin/sh", "-c", self.command]
        return list(self.command)

    def redactor(self) -> Redactor:
        """Masks the spec's secrets: explicit values, secret env vars, and string values
        under secret-looking keys anywhere in ``options`` (a build arg ``NPM_TOKEN``, an
        ``auth.password``)."""
        return Redactor([*secret_values(self.secrets, self.env, self.secret_env), *_option_secrets(self.options)])

    def display_command(self) -> str:
        """The command line for people and logs, with secrets masked."""
        import shlex

        text = self.command if isinstance(self.command, str) else shlex.join(self.command)
        return self.redactor().text(text)

    def to_dict(self, *, redact: bool = True) -> dict[str, Any]:
        """A JSON-ready dict; secrets are masked and the secret list itself is left out."""
        data = asdict(self)
        if isinstance(data["stdin"], bytes):
            data["stdin"] = data["stdin"].decode("utf-8", "replace")
        if redact:
            redactor = self.redactor()
            data = redactor.deep(data)  # type: ignore[assignment]
            data["secrets"] = [MASK] * len(self.secrets)
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
        if "command" not in data:
            raise SpecError("command", "is required")
        return cls(**dict(data))

    def to_json(self) -> str:
        return json.dumps(self.to_dict())



def _option_secrets(value: Any, key: str = "") -> list[str]:
    if isinstance(value, Mapping):
        return [v for k, item in value.items() for v in _option_secrets(item, str(k))]
    if isinstance(value, (list, tuple)):
        return [v for item in value for v in _option_secrets(item, key)]
    if isinstance(value, str) and key and looks_secret(key) and len(value) >= MIN_DETECTED_LENGTH:
        return [value]
    return []


def _validate(spec: RunSpec) -> None:
    command = spec.command
    if isinstance(command, str):
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
    for name in spec.env:
        if not name or "=" in name or "\x00" in name:
            raise SpecError(f"env[{name!r}]", "is not a valid variable name")
    if spec.timeout is not None:
        _check_duration("timeout", spec.timeout, allow_zero=False)
    _check_duration("grace_period", spec.grace_period, allow_zero=True)
    if spec.cwd is not None and (not isinstance(spec.cwd, str) or not spec.cwd):
        raise SpecError("cwd", "must be a non-empty string path")
    if spec.stdin is not None and not isinstance(spec.stdin, (bytes, str)):
        raise SpecError("stdin", f"must be bytes or str, got {type(spec.stdin).__name__}")
    for name, values in (("secrets", spec.secrets), ("secret_env", spec.secret_env)):
        if not isinstance(values, (list, tuple)) or not all(isinstance(v, str) for v in values):
            raise SpecError(name, "must be a list of strings")
        object.__setattr__(spec, name, list(values))
    if not isinstance(spec.options, Mapping):
        raise SpecError("options", f"must be a mapping, got {type(spec.options).__name__}")
    if not isinstance(spec.tail_bytes, int) or isinstance(spec.tail_bytes, bool) or spec.tail_bytes < 0:
        raise SpecError("tail_bytes", "must be a non-negative integer")
    for flag in ("inherit_env", "shell"):
        if not isinstance(getattr(spec, flag), bool):
            raise SpecError(flag, "must be true or false")


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
