"""Django for runwright: the project's settings inside a project, a zero-configuration
embedded one outside."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_lock = threading.Lock()
_migrated = False
_standalone = False
_migrate_all = False
APP_LABEL = "runwright"


def default_database_path() -> Path:
    """The embedded database's path in runwright's data directory (``RUNWRIGHT_HOME``, else the
    user's data directory), which is created readable by its owner only (0700) when missing."""
    from platformdirs import user_data_dir

    base = Path(os.environ.get("RUNWRIGHT_HOME") or user_data_dir("runwright"))
    if not base.is_dir():
        base.mkdir(mode=0o700, parents=True, exist_ok=True)
    return base / "runwright.sqlite3"


def private_file(path: Path) -> Path:
    """Make sure ``path`` exists and only its owner can read it (0600): created so when
    missing (before SQLite creates it with the umask's mode: SQLite gives its journal and
    WAL files the database file's mode), and an existing file of this user's that others
    could read is narrowed. Returns ``path``."""
    try:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            st = path.stat()
            if st.st_uid == os.geteuid() and st.st_mode & 0o077:
                path.chmod(0o600)
        else:
            os.close(fd)
    except OSError:
        pass  # a read-only or missing directory: SQLite's own open reports it, as it would have
    return path


def database_settings() -> dict[str, Any]:
    """``DATABASE_URL`` when set (PostgreSQL in production), else SQLite in the user's data dir."""
    url = os.environ.get("DATABASE_URL")
    if url:
        import dj_database_url

        return dj_database_url.parse(url, conn_max_age=60)
    return {
        "ENGINE": "django.db.backends.sqlite3",
        # Run output and stored specs (masked) are for the owner's eyes, as the key is.
        "NAME": str(private_file(default_database_path())),
        # Writers from several threads and processes wait for the lock instead of failing.
        "OPTIONS": {"timeout": 30, "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"},
    }


def is_standalone() -> bool:
    """True when runwright configured Django itself (no project): its own SQLite (or
    DATABASE_URL) database, its own broker, its migrations applied on first use."""
    return _standalone


def _standalone_secret_key() -> str:
    """RUNWRIGHT_SECRET_KEY, else a random key made once next to the embedded database
    (readable by its owner only): the key sealed group specs are encrypted with."""
    own = os.environ.get("RUNWRIGHT_SECRET_KEY")
    if own:
        return own
    import secrets

    path = default_database_path().with_name("secret_key")
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    key = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


class NotInstalled(RuntimeError):
    """The project's settings do not have runwright's app in INSTALLED_APPS."""


def setup(migrate: bool = True, *, extra_settings: dict[str, Any] | None = None) -> None:
    """Make Django ready for runwright.

    - Inside a project (``DJANGO_SETTINGS_MODULE`` set, or settings configured by the
      caller): the project's settings and database; nothing is migrated (the project runs
      ``migrate`` as for any app). Raises NotInstalled when INSTALLED_APPS lacks
      ``runwright.integrations.django``.
    - Standalone: Django configured with runwright's app only, on ``DATABASE_URL`` or SQLite
      in runwright's data directory, and runwright's own migrations applied once per process
      (``migrate=False`` skips that). ``extra_settings`` (the standalone web UI's apps,
      middleware, URLs) are added to that configuration; their apps are migrated too, in
      runwright's own database. Ignored inside a project."""
    global _migrated, _standalone, _migrate_all
    import django
    from django.apps import apps
    from django.conf import settings

    with _lock:
        if not settings.configured and not os.environ.get("DJANGO_SETTINGS_MODULE"):
            extra = dict(extra_settings or {})
            if os.environ.get("RUNWRIGHT_CHANNEL_LAYER_URL") and "CHANNEL_LAYERS" not in extra:
                # A worker or CLI run tells `runwright serve`'s browsers through Redis.
                from runwright.integrations.web.notifier import layer_settings

                extra["CHANNEL_LAYERS"] = layer_settings()
            apps_list = ["runwright.integrations.django", *extra.pop("INSTALLED_APPS", [])]
            _migrate_all = len(apps_list) > 1
            settings.configure(**{
                "DEBUG": False,
                "SECRET_KEY": _standalone_secret_key(),
                # Only what the CLI and workers need: the admin (auth, sessions, messages) is
                # served by a platform's own Django project, or by `runwright serve` (which
                # passes its apps here); loading it on every command cost 0.3 s.
                "INSTALLED_APPS": apps_list,
                "DATABASES": {"default": database_settings()},
                "USE_TZ": True,
                "TIME_ZONE": os.environ.get("RUNWRIGHT_TIME_ZONE", "UTC"),
                "DEFAULT_AUTO_FIELD": "django.db.models.BigAutoField",
                "LOGGING_CONFIG": None,
                **extra,
            })
            _standalone = True
        if not apps.ready:
            if _standalone and settings.LOGGING_CONFIG is None and settings.FORCE_SCRIPT_NAME is None:
                # What django.setup() does with these settings (no logging to configure, the
                # default script prefix "/"), without importing django.urls and django.utils.log
                # (django.http, django.core.mail: about 20 ms of every command's start-up).
                apps.populate(settings.INSTALLED_APPS)
            else:
                django.setup()
            if _standalone and getattr(settings, "CHANNEL_LAYERS", None):
                from runwright.integrations.web.notifier import install

                install()
        if not _standalone:
            if not apps.is_installed("runwright.integrations.django"):
                raise NotInstalled(
                    f"add \"runwright.integrations.django\" to INSTALLED_APPS of {settings.SETTINGS_MODULE or 'your settings'}"
                    " and run `manage.py migrate runwright`")
            return
        if migrate and not _migrated:
            _migrate_if_needed()
            _migrated = True


def _migrate_if_needed() -> None:
    """Apply runwright's own migrations when its schema is behind, one process at a time:
    several processes starting together on a fresh database (a worker and a CLI) must not
    both create the tables. Other apps' migrations are never touched."""
    from django.db import connection

    if not _migrate_all and _all_recorded(connection):
        return  # the common case, without loading the migration graph (about 40 ms)
    from django.core.management import call_command
    from django.db.migrations.executor import MigrationExecutor

    def behind() -> bool:
        executor = MigrationExecutor(connection)
        targets = [key for key in executor.loader.graph.leaf_nodes() if _migrate_all or key[0] == APP_LABEL]
        return bool(executor.migration_plan(targets))

    if not behind():
        return
    with _migration_lock(connection):
        if behind():
            if _migrate_all:  # the standalone web UI: auth, sessions, admin in runwright's own database
                call_command("migrate", interactive=False, verbosity=0)
            else:
                call_command("migrate", APP_LABEL, interactive=False, verbosity=0)


def _all_recorded(connection: Any) -> bool:
    """Whether every migration file of runwright's app is recorded as applied: one query
    instead of the migration loader (a database without the table answers False)."""
    folder = Path(__file__).with_name("migrations")
    names = {p.stem for p in folder.glob("[0-9][0-9][0-9][0-9]_*.py")}
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT name FROM django_migrations WHERE app = %s", [APP_LABEL])
            applied = {row[0] for row in cur.fetchall()}
    except Exception:  # no table yet, or unreadable: the full check below decides
        return False
    return bool(names) and names <= applied


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

        lock = os.open(f"{connection.settings_dict['NAME']}.migrate-lock", os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(lock, "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
        return
    yield


#: An arbitrary constant: the advisory lock runwright's migrations take on PostgreSQL.
_LOCK_KEY = 0x52574D47
