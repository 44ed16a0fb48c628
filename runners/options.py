"""A runner's declared options: one schema validates specs, masks secret options, and
generates the CLI's help and the README's option tables."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from runwright.runners.spec import SpecError


@dataclass(frozen=True)
class Option:
    """One runner option, as accepted in ``RunSpec.options``.

    ``type`` is a type or a tuple of types the value must be an instance of (``bool`` is
    never accepted for ``int``/``float``). ``default`` is what the runner uses when the option
    is absent (``ctx.options`` has it filled in). A ``secret`` option's value is masked
    everywhere like the spec's secrets. ``secrets``, when given, finds the secret values inside
    an option's value (a Kubernetes Secret in a manifest): they are masked the same way.
    ``choices``, when given, lists the accepted values. ``minimum`` and ``maximum`` bound a
    number (inclusive; ``float("inf")`` is never accepted): every numeric option declares
    them, so a value that would overflow a timer, a buffer or a remote API (``1e308``
    seconds, ``10**20`` bytes) is refused by name before anything starts.
    """

    name: str
    type: type | tuple[type, ...]
    required: bool = False
    default: Any = None
    secret: bool = False
    help: str = ""
    choices: tuple[Any, ...] = ()
    secrets: Callable[[Any], list[str]] | None = None
    minimum: float | None = None
    maximum: float | None = None

    @property
    def type_name(self) -> str:
        types = self.type if isinstance(self.type, tuple) else (self.type,)
        return " | ".join(_TYPE_NAMES.get(t, t.__name__) for t in types)

    def check(self, value: Any, runner: str) -> None:
        """Raise SpecError naming ``options.<name>`` when ``value`` does not fit."""
        types = self.type if isinstance(self.type, tuple) else (self.type,)
        numeric = any(t in (int, float) for t in types) and bool not in types
        if not isinstance(value, types) or (numeric and isinstance(value, bool)):
            raise SpecError(f"options.{self.name}", f"must be {self.type_name}, got {type(value).__name__}")
        if self.choices and value not in self.choices:
            raise SpecError(f"options.{self.name}", f"must be one of {', '.join(map(str, self.choices))}, got {value!r}")
        if numeric and isinstance(value, (int, float)) and not isinstance(value, bool):
            low = -math.inf if self.minimum is None else self.minimum
            high = math.inf if self.maximum is None else self.maximum
            if not low <= value <= high:
                shown = str(value) if isinstance(value, int) else f"{value:g}"
                raise SpecError(f"options.{self.name}", f"must be {self.range_text}, got {shown}"[:200])

    @property
    def range_text(self) -> str:
        """``between 1 and 16777216`` / ``at least 0`` / ``at most 5``, or "" when unbounded."""
        low, high = _number(self.minimum), _number(self.maximum)
        if low and high:
            return f"between {low} and {high}"
        return f"at least {low}" if low else f"at most {high}" if high else ""


def _number(bound: float | None) -> str:
    if bound is None:
        return ""
    return str(int(bound)) if float(bound).is_integer() else f"{bound:g}"


#: Bounds of integers that a remote API holds in 32 or 64 bits (a Job's backoffLimit, replicas).
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1

_TYPE_NAMES = {str: "string", bool: "bool", int: "int", float: "number", list: "list", dict: "object"}


def validate_options(runner: str, schema: Iterable[Option], options: Mapping[str, Any]) -> None:
    """Check ``options`` against ``schema``: unknown names, types, choices, required ones."""
    by_name = {o.name: o for o in schema}
    for key, value in options.items():
        option = by_name.get(key)
        if option is None:
            known = ", ".join(sorted(by_name)) or "none"
            raise SpecError(f"options.{key}", f"unknown option for runner {runner!r}; known: {known}")
        option.check(value, runner)
    for option in by_name.values():
        if option.required and option.name not in options:
            raise SpecError(f"options.{option.name}", f"is required for the {runner} runner")


def with_defaults(schema: Iterable[Option], options: Mapping[str, Any]) -> dict[str, Any]:
    """The spec's options with every absent option's default filled in."""
    filled = {o.name: o.default for o in schema if not o.required}
    filled.update(options)
    return filled


def secret_option_values(schema: Iterable[Option], options: Mapping[str, Any]) -> list[str]:
    """Every string inside the options the schema declares secret, and the secret values
    the options' ``secrets`` functions find in theirs."""
    found: list[str] = []
    for option in schema:
        if option.name not in options:
            continue
        if option.secret:
            _strings(options[option.name], found)
        elif option.secrets is not None:
            found += option.secrets(options[option.name])
    return found


def _strings(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        if value:
            out.append(value)
    elif isinstance(value, Mapping):
        for item in value.values():
            _strings(item, out)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _strings(item, out)
    elif value is not None and not isinstance(value, bool):
        out.append(str(value))


def default_text(option: Option) -> str:
    if option.required:
        return "required"
    if option.default is None:
        return "-"
    return json.dumps(option.default)


def help_rows(schema: Iterable[Option]) -> list[tuple[str, str, str, str]]:
    """(name, type, default, help) per option, for tables; secret options say so."""
    rows = []
    for o in schema:
        text = o.help
        if o.choices:
            text += f" One of: {', '.join(map(str, o.choices))}."
        if o.range_text:
            text += f" {o.range_text[0].upper()}{o.range_text[1:]}."
        if o.secret:
            text += " Secret: masked everywhere."
        rows.append((o.name, o.type_name, default_text(o), text.strip()))
    return rows


def markdown_table(schema: Iterable[Option]) -> str:
    """The options as a Markdown table (the README's option tables are printed by
    ``runwright runners NAME --markdown``)."""
    lines = ["| option | type | default | what it does |", "|---|---|---|---|"]
    for name, type_name, default, text in help_rows(schema):
        cells = [f"`{name}`", type_name, default if default in ("required", "-") else f"`{default}`", text]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def worker_lost_option(default: str = "reattach") -> Option:
    """The ``on_worker_lost`` option a runner of work that outlives its worker declares to let
    each run choose what happens when its worker dies (the runner's ``on_worker_lost`` is then
    the default): ``reattach`` (another worker follows the work to its end) or ``stop`` (the
    work is stopped through its handle and the run marked ``lost``). The base class keeps the
    choice in the run's handle, where the reaper reads it."""
    return Option("on_worker_lost", str, default=default, choices=("reattach", "stop"),
                  help="When its worker dies: reattach (another worker follows the work to its end) or stop "
                       "(stopped through its handle, the run marked lost).")


__all__ = ["Option", "help_rows", "markdown_table", "secret_option_values", "validate_options", "with_defaults",
           "worker_lost_option"]
