"""How the command line prints executions for people and for scripts: plain columns (no box
characters, as ``docker ps`` and ``kubectl get``), JSON and YAML of the one execution shape
(runwright.integrations.execution_shape), times with their zone, exit codes in words."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from runwright.integrations.execution_shape import signal_of
from runwright.runners.exitcodes import shell_code, signal_number

FORMATS = ("table", "wide", "json", "yaml")


def local_time(value: datetime | None) -> str:
    """``2026-11-29 11:42:00 UTC`` in the configured zone (RUNWRIGHT_TIME_ZONE, or the
    project's TIME_ZONE); '' for no time."""
    if value is None:
        return ""
    from django.utils import timezone

    local = timezone.localtime(value) if timezone.is_aware(value) else value
    return f"{local:%Y-%m-%d %H:%M:%S} {local.tzname() or ''}".rstrip()


def human_duration(seconds: float | None) -> str:
    """``0.01s``, ``42.3s``, ``3m 05s``, ``2h 01m``; '' for none."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.2f}s" if seconds < 10 else f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def human_bytes(count: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024  # type: ignore[assignment]
    return f"{count} B"  # pragma: no cover


def describe_end(exit_code: int | None, signal: str | None = None) -> str:
    """``exit code 3``, ``signal SIGTERM (143)`` (the shell's 128+N), or '' when the work has
    no exit code (it never started, or it is a remote build)."""
    name = signal_of(exit_code, signal)
    if name:
        number = signal_number(name)
        return f"signal {name}" if number is None else f"signal {name} ({shell_code(number)})"
    if exit_code is None:
        return ""
    return f"exit code {exit_code}"


def error_text(error: str | None, exit_code: int | None) -> str:
    """The error worth printing next to the exit: '' when it only restates the exit code
    (the runner's ``"exit code 3"`` beside "exit code 3")."""
    if not error:
        return ""
    if exit_code is not None and error.startswith(f"exit code {exit_code}"):
        return ""
    return error


def columns(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Left-aligned columns two spaces apart, headers upper-case; no trailing blanks."""
    table = [[h.upper() for h in header], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in table)


_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_YAML_WORDS = {"true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"}


def _key(key: Any) -> str:
    text = str(key)
    return text if _PLAIN_KEY.fullmatch(text) and text.lower() not in _YAML_WORDS else json.dumps(text)


def to_yaml(value: Any, indent: int = 0) -> str:
    """YAML of JSON-ready data (scalars written as JSON, which YAML reads the same): no
    dependency for the flat execution shape."""
    pad = " " * indent
    if isinstance(value, list):
        if not value:
            return pad + "[]"
        items = []
        for item in value:
            text = to_yaml(item, indent + 2)
            items.append(pad + "- " + text.lstrip() if isinstance(item, dict) and item else pad + "- " + text.strip())
        return "\n".join(items)
    if isinstance(value, dict):
        if not value:
            return pad + "{}"
        lines = []
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                lines.append(f"{pad}{_key(key)}:\n{to_yaml(item, indent + 2)}")
            else:
                lines.append(f"{pad}{_key(key)}: {to_yaml(item).strip()}")
        return "\n".join(lines)
    return pad + json.dumps(value, ensure_ascii=False)


def summary_line(ref: Any, result: Any) -> str:
    """``runwright: execution 3 failed in 0.01s (exit code 3)`` in rich markup: the run's
    status, duration, how it ended and the error when it says more than the exit code."""
    from rich.markup import escape

    colour = "green" if result.ok else "red"
    line = f"runwright: execution {ref} [{colour}]{result.status}[/]"
    if result.duration is not None:
        line += f" in {human_duration(result.duration)}"
    end = describe_end(result.exit_code, result.signal)
    if end:
        line += f" ({end})"
    error = error_text(result.error, result.exit_code)
    if error and not result.ok:
        line += f": {escape(error)}"
    return line
