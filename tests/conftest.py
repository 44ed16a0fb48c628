"""Test set-up: Django on SQLite (default) or PostgreSQL (DATABASE_URL), a fresh database
for the session, and runwright's schema migrated."""

from __future__ import annotations

import os
import tempfile
import uuid

import pytest

HOME = tempfile.mkdtemp(prefix="runwright-tests-")
os.environ["RUNWRIGHT_HOME"] = HOME
# Every process of the tests (this one, the workers it starts) seals and opens group specs with it.
os.environ.setdefault("RUNWRIGHT_SECRET_KEY", "tests")
_PG_DB: str | None = None


def _fresh_postgres(url: str) -> str:
    """Create a database of its own for this session; fail clearly if the server is not there."""
    global _PG_DB
    import dj_database_url
    import psycopg

    cfg = dj_database_url.parse(url)
    _PG_DB = f"runwright_test_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(host=cfg["HOST"], port=cfg["PORT"] or 5432, user=cfg["USER"], dbname="postgres",
                             password=cfg["PASSWORD"] or None, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{_PG_DB}"')
    except psycopg.OperationalError as exc:
        pytest.exit(f"PostgreSQL at {cfg['HOST']}:{cfg['PORT']} is needed (DATABASE_URL) and not reachable: {exc}", 3)
    return url.rsplit("/", 1)[0] + "/" + _PG_DB


def pytest_configure(config: pytest.Config) -> None:
    from django.conf import settings

    if os.environ.get("DATABASE_URL"):
        os.environ["DATABASE_URL"] = _fresh_postgres(os.environ["DATABASE_URL"])
    import importlib.util

    from runwright.integrations.django.bootstrap import database_settings

    # The web UI's app when its extra is installed (tests/web); its URLs are in tests/urls.py.
    web = ["channels", "runwright.integrations.web"] if importlib.util.find_spec("channels") else []
    settings.configure(
        SECRET_KEY="tests",
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "django.contrib.admin",
                        "django.contrib.sessions", "django.contrib.messages", "runwright.integrations.django",
                        "tests.legacy_app", *web],
        CHANNEL_LAYERS={"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}},
        DATABASES={"default": database_settings()},
        USE_TZ=True,
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        ROOT_URLCONF="tests.urls",
        MIDDLEWARE=["django.contrib.sessions.middleware.SessionMiddleware",
                    "django.middleware.csrf.CsrfViewMiddleware",
                    "django.contrib.auth.middleware.AuthenticationMiddleware",
                    "django.contrib.messages.middleware.MessageMiddleware"],
        TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True,
                    "OPTIONS": {"context_processors": ["django.template.context_processors.request",
                                                       "django.contrib.auth.context_processors.auth",
                                                       "django.contrib.messages.context_processors.messages"]}}],
        ALLOWED_HOSTS=["testserver"],
    )
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", run_syncdb=True, verbosity=0)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _PG_DB:
        from django.db import connections

        connections.close_all()
        import dj_database_url
        import psycopg

        cfg = dj_database_url.parse(os.environ["DATABASE_URL"])
        with psycopg.connect(host=cfg["HOST"], port=cfg["PORT"] or 5432, user=cfg["USER"], dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{_PG_DB}" WITH (FORCE)')


@pytest.fixture
def db_vendor() -> str:
    from django.db import connection

    return connection.vendor
