"""The tests' PostgreSQL server seen from outside Django: an administrator's connection that
is not one of the process's Django connections, and the backends of the test database."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import psycopg

#: The application name of the tests' own administrator connections (not counted as the process's).
ADMIN = "runwright-tests-admin"


def database() -> dict[str, Any]:
    """Django's settings of the test database (HOST, PORT, USER, NAME...)."""
    from django.conf import settings

    return dict(settings.DATABASES["default"])


def admin(dbname: str = "postgres") -> psycopg.Connection[Any]:
    """An autocommit connection to ``dbname`` on the tests' server (the maintenance database by
    default, so that it is not counted among the test database's backends)."""
    db = database()
    return psycopg.connect(host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"], password=db["PASSWORD"] or None,
                           dbname=dbname, autocommit=True, application_name=ADMIN)


def backends(conn: psycopg.Connection[Any], since: Any = None) -> list[int]:
    """The pids of the backends connected to the test database (since ``since``, a server
    time, when given), but the tests' administrator connections (``admin()``)."""
    rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name <> %s "
                        "AND (%s::timestamptz IS NULL OR backend_start >= %s)",
                        [database()["NAME"], ADMIN, since, since]).fetchall()
    return [r[0] for r in rows]


def terminate_backends(conn: psycopg.Connection[Any]) -> int:
    """pg_terminate_backend of every connection to the test database but ``conn``; how many."""
    rows = conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                        "AND pid <> pg_backend_pid()", [database()["NAME"]]).fetchall()
    return sum(1 for (done,) in rows if done)


def wait_until(what: str, check: Callable[[], Any], timeout: float = 60.0) -> Any:
    """Poll ``check`` until it returns something true (returned), or fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.05)
