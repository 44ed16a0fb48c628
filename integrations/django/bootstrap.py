"""Zero-configuration Django for runwright outside a Django project."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_lock = threading.Lock()
_migrated = False


def default_database_path() -> Path:
    from platformdirs import user_data_dir

    base = Path(os.environ.get("RUNWRIGHT_HOME") or user_data_dir("runwright"))
    base.mkdir(parents=True, exist_ok=True)
    return base / "runwright.sqlite3"


def database_settings() -> dict[str, Any]:
    """``DATABASE_URL`` when set (PostgreSQL in production), else SQLite in the user's data dir."""
    url = os.environ.get("DATABASE_URL")
    if url:
        import dj_database_url

        return dj_database_url.parse(url, conn_max_age=60)
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(default_database_path()),
        # Writers from several threads and processes wait for the lock instead of failing.
        "OPTIONS": {"timeout": 30, "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"},
    }


def setup(migrate: bool = True) -> None:
    """Configure Django if nobody did, and bring the schema up to date once per process."""
    global _migrated
    import django
    from django.conf import settings

    with _lock:
        if not settings.configured:
            settings.configure(
                DEBUG=False,
                SECRET_KEY=os.environ.get("RUNWRIGHT_SECRET_KEY", "runwright-standalone"),
                # Only what the CLI and workers need: the admin (auth, sessions, messages) is
                # served by a platform's own Django project, and loading it here cost 0.3 s
                # on every command.
                INSTALLED_APPS=["integrations.django"],
                DATABASES={"default": database_settings()},
                USE_TZ=True,
                TIME_ZONE="UTC",
                DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
                LOGGING_CONFIG=None,
            )
        django.setup()
        if migrate and not _migrated:
            _migrate_if_needed()
            _migrated = True


def _migrate_if_needed() -> None:
    """Migrate when the schema is behind, one process at a time: several processes starting
    together on a fresh database (a worker and a CLI) must not both create the tables."""
    from django.core.management import call_command
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    def behind() -> bool:
        executor = MigrationExecutor(connection)
        return bool(executor.migration_plan(executor.loader.graph.leaf_nodes()))

    if not behind():
        return
    with _migration_lock(connection):
        if behind():
            call_command("migrate", interactive=False, verbosity=0)


@contextlib.contextmanager
def _migration_lock(connection: Any) -> Iterator[None]:
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", [_LOCK_KEY])
            try:
                yield
            finally:
                cur.execute("SELECT pg_advisory_unlock(%s)", [_LOCK_KEY])
        return
    if connection.vendor == "sqlite":
        import fcntl

        with open(f"{connection.settings_dict['NAME']}.migrate-lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
        return
    yield


#: An arbitrary constant: the advisory lock runwright's migrations take on PostgreSQL.
_LOCK_KEY = 0x52574D47
