"""Settings read from the environment, declared once with their bounds: each is checked
where it is read, and :func:`check_settings` checks every declared one that is set, so a
command refuses a bad value before it records anything. A bad value is one line naming
the variable (``RUNWRIGHT_LEASE='abc': expected a number of seconds``)."""

from __future__ import annotations

import math
import os
from collections.abc import Callable

#: The longest duration any setting accepts: 30 days, the same bound as a run's timeout.
MAX_SECONDS = 30 * 24 * 3600.0


class SettingError(ValueError):
    """An environment setting holds a value runwright cannot use."""


#: Every duration setting: (minimum, maximum) in seconds, inclusive. Defaults stay with
#: their readers (some are computed: the lease from the heartbeat).
SECONDS: dict[str, tuple[float, float]] = {
    "RUNWRIGHT_HEARTBEAT": (0.001, MAX_SECONDS),
    "RUNWRIGHT_LEASE": (0.001, MAX_SECONDS),
    "RUNWRIGHT_CANCEL_POLL": (0.001, 3600.0),
    "RUNWRIGHT_FLUSH_INTERVAL": (0.001, 3600.0),
    "RUNWRIGHT_QUEUED_LEASE": (0.0, MAX_SECONDS),  # 0: at the next reaper pass
    "RUNWRIGHT_REATTACH_WINDOW": (0.0, MAX_SECONDS),
    "RUNWRIGHT_VISIBILITY_TIMEOUT": (1.0, MAX_SECONDS),
    "RUNWRIGHT_UNACKED_RESTORE_INTERVAL": (0.001, MAX_SECONDS),
    "RUNWRIGHT_TASK_TIME_LIMIT": (0.001, MAX_SECONDS),
    "RUNWRIGHT_TASK_SOFT_TIME_LIMIT": (0.001, MAX_SECONDS),
}


def env_seconds(name: str, default: float, *, minimum: float | None = None, maximum: float | None = None) -> float:
    """``name`` as a number of seconds within its declared bounds (:data:`SECONDS`, or
    ``minimum``/``maximum`` for one not declared), ``default`` when unset or empty.
    Raises SettingError naming the variable."""
    low, high = SECONDS.get(name, (0.001, MAX_SECONDS))
    low, high = low if minimum is None else minimum, high if maximum is None else maximum
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingError(f"{name}={raw[:40]!r}: expected a number of seconds") from None
    if math.isnan(value) or not low <= value <= high:
        raise SettingError(f"{name}={raw[:40]!r}: expected seconds between {low:g} and {high:.0f}")
    return value


def _time_zone(raw: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingError(f"RUNWRIGHT_TIME_ZONE={raw[:40]!r}: not a time zone name (like UTC or Europe/Paris)") from None


def _flag(name: str) -> Callable[[str], None]:
    def check(raw: str) -> None:
        if raw not in ("0", "1"):
            raise SettingError(f"{name}={raw[:40]!r}: expected 1 or 0")
    return check


def _app_path(raw: str) -> None:
    module, sep, attr = raw.partition(":")
    if not all(part.isidentifier() for part in module.split(".")) or (sep and not attr.isidentifier()):
        raise SettingError(f"RUNWRIGHT_CELERY_APP={raw[:60]!r}: expected module.path:app")


def _not_blank(name: str) -> Callable[[str], None]:
    def check(raw: str) -> None:
        if not raw.strip():
            raise SettingError(f"{name}={raw!r}: is blank")
    return check


def _inherit_env(raw: str) -> None:
    from runwright.runners.environment import check_setting

    check_setting()


def _broker_url(raw: str) -> None:
    try:
        from runwright.integrations.celery.app import check_broker_url
    except ImportError:  # without the celery extra nothing reads it
        return
    check_broker_url(raw.strip())


#: The other settings whose value has a shape to check, by name. Each raises SettingError.
CHECKS: dict[str, Callable[[str], None]] = {
    "RUNWRIGHT_TIME_ZONE": _time_zone,
    "RUNWRIGHT_KUBE_IN_CLUSTER": _flag("RUNWRIGHT_KUBE_IN_CLUSTER"),
    "RUNWRIGHT_CELERY_APP": _app_path,
    "RUNWRIGHT_QUEUE": _not_blank("RUNWRIGHT_QUEUE"),
    "RUNWRIGHT_INHERIT_ENV": _inherit_env,
    "RUNWRIGHT_BROKER_URL": _broker_url,
}


def check_settings() -> None:
    """Check every declared setting that is set (an empty value counts as unset); raises
    SettingError for the first that cannot be used."""
    for name in SECONDS:
        env_seconds(name, 0.0)
    for name, check in CHECKS.items():
        raw = os.environ.get(name, "")
        if raw:
            check(raw)
