"""One line for a failure of runwright's environment (the database, the broker, the data
directory, a setting), with every URL password of the configuration masked."""

from __future__ import annotations

import os

from runwright.runners.secrets import Redactor, url_password
from runwright.runners.spec import printable

#: Settings whose URLs may carry a password.
URL_SETTINGS = ("DATABASE_URL", "RUNWRIGHT_BROKER_URL")


def describe(exc: BaseException) -> str:
    """``exc`` as one masked line saying what could not be used."""
    what = _kind(exc)
    text = str(exc).strip().splitlines()
    first = text[0] if text else type(exc).__name__
    if isinstance(exc, (FileExistsError, NotADirectoryError)) and exc.filename:
        first = f"{printable(str(exc.filename))!r} is not a directory"
    elif isinstance(exc, OSError) and exc.strerror:
        first = f"{exc.strerror}: {exc.filename!r}" if exc.filename else exc.strerror
    passwords = [p for p in (url_password(os.environ.get(n, "")) for n in URL_SETTINGS) if p]
    line = Redactor(passwords).text(f"{what}: {first}" if what else first)
    return printable(line)[:500]


def _kind(exc: BaseException) -> str:
    from runwright.integrations.settings import SettingError
    from runwright.runners.environment import EnvironmentSettingError

    if isinstance(exc, (SettingError, EnvironmentSettingError)):
        return ""
    module = type(exc).__module__ or ""
    name = type(exc).__name__
    if module.startswith(("django.db", "sqlite3", "psycopg")):
        if os.environ.get("DATABASE_URL"):
            return "database unavailable (DATABASE_URL)"
        home = os.environ.get("RUNWRIGHT_HOME")
        return f"database unavailable (in the data directory{' ' + repr(home) if home else ''})"
    if module.startswith("django.core.exceptions") or name == "UnknownSchemeError":
        return "database configuration (DATABASE_URL) is not usable"
    if module.startswith(("kombu", "amqp", "redis", "sqlalchemy", "celery")):
        return "broker unavailable (RUNWRIGHT_BROKER_URL)"
    if isinstance(exc, OSError):
        return "cannot use the data directory (RUNWRIGHT_HOME)"
    return f"internal error ({name}; RUNWRIGHT_DEBUG=1 shows the traceback)"
