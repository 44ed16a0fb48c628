"""``runwright logs --since``: what both ``docker logs --since`` and ``kubectl logs
--since/--since-time`` accept, a duration back from now (Go's syntax: ``90s``, ``10m``,
``1h30m``, ``1.5h``) or an RFC 3339 time with its offset (``2026-12-07T10:00:00Z``,
``2026-12-07T11:00:00.5+01:00``). Not accepted, since only one of the two takes them: Unix
seconds, a date alone or a time without its offset (docker's), a unit of days."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

#: Seconds per unit of a Go duration (``time.ParseDuration``).
UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)([a-zµ]*)", re.IGNORECASE)
_DURATION = re.compile(r"[+-]?(?:(?:\d+(?:\.\d*)?|\.\d+)[a-zµ]*)+", re.IGNORECASE)
_TIME = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})?")
EXAMPLES = "a duration (90s, 10m, 1h30m) or an RFC 3339 time (2026-12-07T10:00:00Z)"


class BadSince(ValueError):
    """A ``--since`` value that is neither; the message names the option, the value and why."""


def parse_since(text: str, now: datetime) -> datetime:
    """The aware UTC datetime ``text`` names: ``now`` minus a duration, or an RFC 3339 time.
    A time given to more than microseconds is rounded up to the next microsecond, so what is
    selected (received at or after it) is exactly what was received at or after the time
    named. Raises BadSince."""
    value = text.strip()
    if _DURATION.fullmatch(value):
        try:
            return now - timedelta(seconds=_seconds(value, text))
        except OverflowError:
            raise BadSince(f"--since {text!r}: reaches back before the year 1") from None
    match = _TIME.fullmatch(value)
    if match:
        return _time(match, text)
    raise BadSince(f"--since {text!r}: expected {EXAMPLES}")


def _seconds(value: str, text: str) -> float:
    if value[0] in "+-":
        if value[0] == "-":
            raise BadSince(f"--since {text!r}: a duration back from now cannot be negative")
        value = value[1:]
    seconds = 0.0
    for number, unit in _PART.findall(value):
        if not unit:
            raise BadSince(f"--since {text!r}: a number needs its unit: {number}s, {number}m or {number}h")
        if unit not in UNITS:
            hint = f" ({number}d is {_hours(number)}h)" if unit.lower() == "d" else ""
            raise BadSince(f"--since {text!r}: unknown unit {unit!r}; units are h, m, s, ms, us, ns{hint}")
        seconds += float(number) * UNITS[unit]
    if seconds <= 0:
        raise BadSince(f"--since {text!r}: a duration back from now must be more than zero")
    if not math.isfinite(seconds):
        raise OverflowError(text)
    return seconds


def _hours(days: str) -> str:
    hours = float(days) * 24
    return str(int(hours)) if hours.is_integer() else f"{hours:g}"


def _time(match: re.Match[str], text: str) -> datetime:
    day, clock, fraction, offset = match.groups()
    if offset is None:
        raise BadSince(f"--since {text!r}: a time needs its UTC offset (Z, or +01:00), as RFC 3339 writes it")
    digits = fraction or ""
    micro = int(digits[:6].ljust(6, "0")) if digits else 0
    round_up = bool(digits[6:].strip("0"))
    zone = "+00:00" if offset in "Zz" else offset
    try:
        at = datetime.fromisoformat(f"{day}T{clock}.{micro:06d}{zone}")
    except ValueError as exc:  # "month must be in 1..12"
        raise BadSince(f"--since {text!r}: not a valid time: {exc}") from None
    if round_up:
        at += timedelta(microseconds=1)
    return at.astimezone(UTC)
