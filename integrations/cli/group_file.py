"""A group file (``runwright group FILE``): its declared schema, checked before anything is
recorded, so a bad file is one line and no half-made group.

    {"name": "deploy", "policy": "wait_all", "max_parallel": 2, "timeout": 600, "runs": [RunSpec, ...]}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from runwright.integrations.celery.groups import MAX_RUNS, check_group
from runwright.runners.registry import UnknownRunner, get_runner_class
from runwright.runners.spec import RunSpec, SpecError

#: Keys a group file may have, with their JSON types and whether they are required.
SCHEMA: dict[str, tuple[type, bool]] = {"runs": (list, True), "name": (str, False), "policy": (str, False),
                                       "max_parallel": (int, False), "timeout": ((int, float), False)}


class GroupFileError(ValueError):
    """The file is not a valid group; the message names the file and the field."""


@dataclass(frozen=True)
class GroupFile:
    specs: list[RunSpec]
    max_parallel: int | None
    policy: str
    name: str
    #: Seconds for the whole group, or None.
    timeout: float | None = None


def load_group_file(path: str) -> GroupFile:
    """Read and validate a group file; raises GroupFileError (one line) for anything wrong,
    OSError when it cannot be read."""
    with open(path, "rb") as fh:
        raw = fh.read()
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise GroupFileError(f"{path}: not valid JSON: {exc}") from None
    return parse_group(data, path)


def parse_group(data: Any, where: str = "group") -> GroupFile:
    if not isinstance(data, dict):
        raise GroupFileError(f"{where}: expected an object with a list under \"runs\"")
    unknown = sorted(set(data) - set(SCHEMA))
    if unknown:
        raise GroupFileError(f"{where}: unknown key {unknown[0]!r}; known: {', '.join(sorted(SCHEMA))}")
    for key, (kind, required) in SCHEMA.items():
        if key not in data:
            if required:
                raise GroupFileError(f"{where}: {key!r} is required")
            continue
        value = data[key]
        if key in ("max_parallel", "timeout") and value is None:
            continue
        if not isinstance(value, kind) or isinstance(value, bool):
            want = {int: "an integer", (int, float): "a number of seconds"}.get(kind, f"a {getattr(kind, '__name__', kind)}")
            raise GroupFileError(
                f"{where}: {key!r} must be {want}, "
                f"got {type(value).__name__} {value!r}"[:200])
    runs = data["runs"]
    if len(runs) > MAX_RUNS:  # before reading each one
        raise GroupFileError(f"{where}: {len(runs)} runs; a group holds at most {MAX_RUNS}")
    specs = []
    for i, item in enumerate(runs):
        try:
            spec = RunSpec.from_dict(item)
            get_runner_class(spec.runner)().validate(spec)  # an unknown runner is refused here, not later
        except (SpecError, UnknownRunner) as exc:
            raise GroupFileError(f"{where}: runs[{i}].{exc}") from None
        except TypeError as exc:
            raise GroupFileError(f"{where}: runs[{i}].{exc}") from None
        specs.append(spec)
    policy, name = data.get("policy", "wait_all"), data.get("name", "")
    max_parallel, timeout = data.get("max_parallel"), data.get("timeout")
    try:
        check_group(specs, max_parallel, policy, name, timeout)
    except SpecError as exc:
        raise GroupFileError(f"{where}: {exc.field!r} {str(exc).partition(': ')[2]}") from None
    return GroupFile(specs=specs, max_parallel=max_parallel, policy=policy, name=name,
                     timeout=float(timeout) if timeout is not None else None)
