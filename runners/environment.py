"""Which of this process's environment variables a command starts with.

A command wrapper (the CLI, a library call from a script) passes the caller's whole
environment on, as ``subprocess`` and ``sudo -E`` users expect. A worker is different: its
environment holds the worker's own credentials (``DATABASE_URL``, the broker URL, cloud
keys), and the commands it runs come from other people. So under a worker a command starts
from an allow-list of the worker's environment (the variables a program needs to behave:
``PATH``, ``HOME``, the locale, ...) plus the spec's ``env``, the way sudo's ``env_reset``
and systemd units start from a clean environment.

A process is "a worker" when the Celery integration says so (``use_worker_policy``, called
when a runwright task starts) or when it is executing a Celery task (any Celery app: a
platform's own task calling ``ExecutionLogger.run``). ``RUNWRIGHT_INHERIT_ENV`` chooses,
per deployment:

- unset or ``allowlist``: the allow-list below (the default under a worker);
- ``allowlist,NAME,PREFIX_*``: the allow-list plus these names (``*`` ends a prefix);
- ``all``: the worker's whole environment (an explicit choice: its secrets reach commands).

Outside a worker the whole environment is inherited; ``RunSpec.inherit_env=False`` starts
any command from the spec's ``env`` alone.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

SETTING = "RUNWRIGHT_INHERIT_ENV"
#: What a program needs to find its tools and behave for its user, and nothing that
#: authenticates anyone. ``*`` ends a prefix.
DEFAULT_ALLOWED: tuple[str, ...] = (
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "TERM", "LANG", "LANGUAGE", "LC_*", "TZ", "TMPDIR",
    "HOSTNAME", "PWD", "SHLVL", "COLUMNS", "LINES", "NO_COLOR",
)


class EnvironmentSettingError(ValueError):
    """``RUNWRIGHT_INHERIT_ENV`` holds something that is not a policy."""


@dataclass(frozen=True)
class EnvironmentPolicy:
    """``inherit_all``, or the names (and ``PREFIX_*`` prefixes) passed through."""

    inherit_all: bool
    allowed: tuple[str, ...] = DEFAULT_ALLOWED

    def allows(self, name: str) -> bool:
        if self.inherit_all:
            return True
        return any(name == p or (p.endswith("*") and name.startswith(p[:-1])) for p in self.allowed)

    def environment(self, source: dict[bytes, bytes] | None = None) -> dict[bytes, bytes]:
        """The variables of ``source`` (this process's environment) a command starts with."""
        env = environ_bytes() if source is None else source
        if self.inherit_all:
            return dict(env)
        return {k: v for k, v in env.items() if self.allows(os.fsdecode(k))}


def environ_bytes() -> dict[bytes, bytes]:
    """A copy of this process's environment, bytes to bytes. ``dict(os.environb)`` goes
    through the mapping interface, which checks and re-encodes every key and value (13 µs of
    CPU for 35 variables); the dict behind it (CPython's ``os._Environ._data``, which
    ``os.environ`` writes through) copies in 0.2 µs."""
    data = getattr(os.environb, "_data", None)
    if isinstance(data, dict):
        return dict(data)
    return dict(os.environb)  # pragma: no cover - another Python implementation


def parse_policy(value: str | None) -> EnvironmentPolicy:
    """The worker policy a ``RUNWRIGHT_INHERIT_ENV`` value names (see the module's docstring).

    Raises EnvironmentSettingError naming the setting (never echoing other variables)."""
    text = (value or "").strip()
    if not text or text == "allowlist":
        return EnvironmentPolicy(inherit_all=False)
    if text == "all":
        return EnvironmentPolicy(inherit_all=True)
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if parts[0] != "allowlist":
        raise EnvironmentSettingError(
            f"{SETTING}={text!r}: expected 'allowlist', 'all', or 'allowlist,NAME,PREFIX_*,...'")
    extra = parts[1:]
    for name in extra:
        bare = name[:-1] if name.endswith("*") else name
        if not bare or "*" in bare or "=" in bare or not bare.replace("_", "").isalnum():
            raise EnvironmentSettingError(f"{SETTING}: {name!r} is not a variable name or NAME_* prefix")
    return EnvironmentPolicy(inherit_all=False, allowed=(*DEFAULT_ALLOWED, *extra))


_worker = False


def use_worker_policy(enabled: bool = True) -> None:
    """Mark this process as a worker: commands start from the allow-list from now on
    (unless ``RUNWRIGHT_INHERIT_ENV=all``)."""
    global _worker
    _worker = enabled


def in_worker() -> bool:
    """Marked as a worker, or executing a Celery task right now. Celery is only looked at if
    something already imported it: runners never import it."""
    if _worker:
        return True
    celery = sys.modules.get("celery")
    if celery is None:
        return False
    task = getattr(celery, "current_task", None)
    request = getattr(task, "request", None) if task else None
    return bool(request is not None and not getattr(request, "called_directly", True))


def current_policy() -> EnvironmentPolicy:
    """The policy in force for a command started now in this process."""
    if in_worker():
        return parse_policy(os.environ.get(SETTING))
    return EnvironmentPolicy(inherit_all=True)


def base_environment(inherit: bool = True) -> dict[bytes, bytes]:
    """The environment a command starts from before the spec's ``env`` is added: nothing
    when ``inherit`` is false, else what the current policy lets through."""
    if not inherit:
        return {}
    return current_policy().environment()


def inherited_secrets(inherit: bool = True) -> list[str]:
    """Values a command would inherit from this process whose names look secret, and URL
    passwords among them: masked in the run's output like the spec's own secrets, so a
    command that prints its environment (``env``) stores none of them in clear."""
    from runwright.runners.secrets import secret_values

    if not inherit:
        return []
    passed = current_policy().environment()
    env = {os.fsdecode(k): os.fsdecode(v) for k, v in passed.items()}
    return secret_values((), env, warn=False)


def check_setting() -> None:
    """Validate ``RUNWRIGHT_INHERIT_ENV`` now (a worker calls it at start, to fail at once)."""
    parse_policy(os.environ.get(SETTING))


__all__ = [
    "DEFAULT_ALLOWED", "SETTING", "EnvironmentPolicy", "EnvironmentSettingError", "base_environment",
    "check_setting", "current_policy", "environ_bytes", "in_worker", "inherited_secrets", "parse_policy",
    "use_worker_policy",
]
