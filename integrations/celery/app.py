"""Which Celery app carries runwright's runs, and runwright's own app for standalone use.

Inside a Django project runwright's task (``runwright.run``, a ``shared_task``) registers on
the project's Celery app, and runs are sent through that app: its broker, its settings, its
workers. Which app, in this order:

1. the app given to :func:`install`;
2. ``RUNWRIGHT_CELERY_APP`` (``"proj.celery:app"``);
3. inside a project, the app the project made (the usual ``proj/celery.py`` imported from
   ``proj/__init__.py``), found from any thread (:func:`_project_app`);
4. else runwright's own app (never made Celery's current app), whose broker is
   ``RUNWRIGHT_BROKER_URL``, else the project's ``CELERY_BROKER_URL``, else an embedded broker
   that needs no server (SQLite via kombu's SQLAlchemy transport). ``runwright worker`` runs it.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from celery import Celery

from runwright.integrations.settings import SettingError, env_seconds

_installed: Celery | None = None
#: The embedded broker's transport: kombu's SQLAlchemy one, deleting messages once taken
#: (integrations/celery/embedded_broker.py).
EMBEDDED_TRANSPORT = "runwright.integrations.celery.embedded_broker:Transport"


def install(app: Celery) -> None:
    """Register ``runwright.run`` on ``app`` and send runwright's runs through it.

    Call it where the project makes its app (``proj/celery.py``). Not needed when the
    project's app autodiscovers tasks (``app.autodiscover_tasks()``) and is Celery's current
    app: ``runwright.integrations.django`` in INSTALLED_APPS then brings the task along.
    Celery's current app is left as it is."""
    global _installed
    import runwright.integrations.celery.tasks  # noqa: F401  (a shared_task: on every app when it finalizes)

    _installed = app


def celery_app() -> Celery:
    """The app that sends runwright's runs (see the module's docstring for the order)."""
    if _installed is not None:
        return _installed
    name = os.environ.get("RUNWRIGHT_CELERY_APP")
    if name:
        return _named_app(name)
    from runwright.integrations.django.bootstrap import is_standalone

    if not is_standalone():
        project = _project_app()
        if project is not None:
            return project
    return get_app()


def _project_app() -> Celery | None:
    """The Celery app the project made, or None; the same answer in every thread.

    Celery's *current* app is thread-local: a thread that did not make the app (a web
    request under a threaded server, the reaper, a thread calling cancel()) has none. So,
    in order: this thread's current app; Celery's process-wide *default* app (the Django
    fixup makes the first app created under DJANGO_SETTINGS_MODULE the default, and a
    worker sets its app as default); else the one app in this process made to be current
    (``Celery("proj")``; a library's private app is made with ``set_as_current=False``).
    Never runwright's own app nor Celery's fallback app (made when somebody asked for
    ``current_app`` before any app existed)."""
    from celery import _state

    for app in (getattr(_state._tls, "current_app", None), _state.default_app):
        if _is_project_app(app):
            return app  # type: ignore[no-any-return]
    made = [app for app in list(_state._apps) if app.set_as_current and _is_project_app(app)]
    if len(made) == 1:
        return made[0]  # type: ignore[no-any-return]
    # Several: the ones runwright's task is registered on (finalized apps), if that decides.
    with_task = [app for app in made if "runwright.run" in app._tasks]
    if len(with_task) == 1:
        return with_task[0]  # type: ignore[no-any-return]
    if made:
        _warn_ambiguous(tuple(sorted(str(app.main) for app in made)))
    return None


@cache
def _warn_ambiguous(names: tuple[str, ...]) -> None:
    import logging

    logging.getLogger("runwright.celery").warning(
        "several Celery apps in this process (%s) and none is current or default here: runwright's runs go to "
        "its own app; name yours with runwright.integrations.celery.install(app) or RUNWRIGHT_CELERY_APP",
        ", ".join(names))


def _is_project_app(app: Any) -> bool:
    if app is None or app.main == "runwright-standalone":
        return False
    # Celery's fallback: Celery("default", fixups=[], set_as_current=False) in celery/_state.py.
    return not (app.main == "default" and not app.fixups)


@cache
def _named_app(name: str) -> Celery:
    from celery.utils.imports import symbol_by_name

    module, _, attr = name.partition(":")
    try:
        found = symbol_by_name(f"{module}:{attr}" if attr else module)
    except (ImportError, AttributeError) as exc:  # one line naming the setting, not the import's traceback
        raise SettingError(f"RUNWRIGHT_CELERY_APP={name[:60]!r} cannot be imported: {exc}"[:300]) from None
    if not isinstance(found, Celery):
        found = getattr(found, "app", None) or getattr(found, "celery", None)
    if not isinstance(found, Celery):
        raise SettingError(f"RUNWRIGHT_CELERY_APP={name[:60]!r} is not a Celery app")
    return found


def queue_for(app: Celery) -> str:
    """``RUNWRIGHT_QUEUE``, else ``runwright`` on runwright's own app, else the app's default
    queue (so the project's workers consume runwright's runs with no extra option)."""
    name = os.environ.get("RUNWRIGHT_QUEUE")
    if name:
        return name
    if app.main == "runwright-standalone":
        return "runwright"
    return str(app.conf.task_default_queue or "celery")


def queue_name() -> str:
    return queue_for(celery_app())


def broker_url() -> str:
    """The broker runwright's own app uses: RUNWRIGHT_BROKER_URL, else the project's
    CELERY_BROKER_URL, else SQLite via SQLAlchemy next to the embedded database.

    Raises SettingError (one line, without the URL's password) for a URL that names no
    transport kombu has."""
    url = os.environ.get("RUNWRIGHT_BROKER_URL", "").strip()
    if url:
        check_broker_url(url)
        return url
    from runwright.integrations.django.bootstrap import default_database_path, is_standalone

    if not is_standalone():
        from django.conf import settings

        project = getattr(settings, "CELERY_BROKER_URL", None)
        if project:
            return str(project)
    return f"sqla+sqlite:///{default_database_path().with_name('broker.sqlite3')}"


def sending_broker_url() -> str:
    """The broker URL of the app that sends runs (for messages and `runwright info`)."""
    app = celery_app()
    url = str(app.conf.broker_url or "amqp://guest@localhost//")
    if app.conf.broker_transport == EMBEDDED_TRANSPORT:
        return f"sqla+{url}"  # the embedded broker: kombu's SQLAlchemy transport, made to delete messages
    return url


def check_broker_url(url: str) -> None:
    from kombu.transport import TRANSPORT_ALIASES, resolve_transport

    scheme, sep, _ = url.partition("://")
    transport = scheme.partition("+")[0]
    if not sep or not transport:
        raise SettingError("RUNWRIGHT_BROKER_URL: expected scheme://..., for example redis://127.0.0.1:6379/0")
    try:
        resolve_transport(transport)
    except (KeyError, ImportError):
        raise SettingError(f"RUNWRIGHT_BROKER_URL: unknown transport {transport[:40]!r}; known: "
                           f"{', '.join(sorted(TRANSPORT_ALIASES))}") from None


def heartbeat_interval() -> float:
    return env_seconds("RUNWRIGHT_HEARTBEAT", 10.0)


def lease_seconds() -> float:
    """How long a running execution may go without a heartbeat before it is lost."""
    return env_seconds("RUNWRIGHT_LEASE", max(30.0, heartbeat_interval() * 6))


def get_app() -> Celery:
    """runwright's own app for the configured broker (one per broker, made once)."""
    return _app(broker_url(), os.environ.get("RUNWRIGHT_QUEUE", "runwright"))


@cache
def _app(broker: str, queue: str) -> Celery:
    extra = [m.strip() for m in os.environ.get("RUNWRIGHT_CELERY_IMPORTS", "").split(",") if m.strip()]
    transport = None
    for prefix in ("sqla+", "sqlalchemy+"):
        if broker.startswith(prefix):  # the embedded broker, without what kombu keeps after a run
            broker, transport = broker[len(prefix):], EMBEDDED_TRANSPORT
    # Never Celery's current app: a project's own tasks keep going to the project's app.
    app = Celery("runwright-standalone", broker=broker, set_as_current=False,
                 include=["runwright.integrations.celery.tasks", *extra])
    if transport:
        app.conf.broker_transport = transport
    limits = {k: env_seconds(e, 0.0) for k, e in (("task_time_limit", "RUNWRIGHT_TASK_TIME_LIMIT"),
                                                  ("task_soft_time_limit", "RUNWRIGHT_TASK_SOFT_TIME_LIMIT"))
              if os.environ.get(e)}
    app.conf.update(
        task_default_queue=queue,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        broker_transport_options=_transport_options(broker),
        worker_hijack_root_logger=False,
        # Task events for monitors (Flower, `celery events`). Not task-sent: that is one more
        # broker publish on every submit.
        worker_send_task_events=True,
        task_track_started=False,
        # Celery's own limits are a backstop: the run's own timeout governs. A hard limit
        # kills the pool process; the reaper then marks the run lost and kills its tree.
        **limits,
    )
    # Celery's Django fixup: forked pool processes drop the parent's database connections
    # without closing them (a close would break the parent's), and stale ones are
    # replaced around each task. It installs itself only for DJANGO_SETTINGS_MODULE.
    from celery.fixups.django import DjangoFixup

    # Without this the fixup closes every connection around every task: a PostgreSQL
    # reconnect per run (about 10 ms). Connections are still recycled every 1000 tasks.
    app.conf["CELERY_DB_REUSE_MAX"] = 500
    if not os.environ.get("DJANGO_SETTINGS_MODULE"):
        DjangoFixup(app).install()
    return app


def _transport_options(broker: str) -> dict[str, Any]:
    if broker.startswith(("redis://", "rediss://")):
        # Redis hands an unacknowledged message to another worker after this long; the
        # execution's claim makes that harmless for a run still going.
        options: dict[str, Any] = {"visibility_timeout": env_seconds("RUNWRIGHT_VISIBILITY_TIMEOUT", 3600.0)}
        if os.environ.get("RUNWRIGHT_UNACKED_RESTORE_INTERVAL", "").strip():
            # how often a worker looks for messages past their visibility timeout
            options.update(unacked_restore_interval=env_seconds("RUNWRIGHT_UNACKED_RESTORE_INTERVAL", 0.0),
                           unacked_restore_throttle=1)
        return options
    return {}
