"""Which Celery app carries runwright's runs; Celery's current app is never changed."""

from __future__ import annotations

import weakref
from collections.abc import Iterator

import pytest
from celery import Celery, current_app

from runwright.integrations.celery import app as rw_app
from runwright.integrations.celery import install


@pytest.fixture
def restore_install() -> Iterator[None]:
    saved = rw_app._installed
    yield
    rw_app._installed = saved


def test_install_registers_the_task_on_the_given_app_and_sends_through_it(restore_install) -> None:  # type: ignore[no-untyped-def]
    before = current_app._get_current_object()
    platform = Celery("platform", broker="memory://", set_as_current=False)
    platform.conf.task_default_queue = "platform-default"
    install(platform)
    assert "runwright.run" in platform.tasks
    assert rw_app.celery_app() is platform and rw_app.queue_for(platform) == "platform-default"
    assert current_app._get_current_object() is before


def test_runwrights_own_app_never_becomes_the_current_app() -> None:
    before = current_app._get_current_object()
    own = rw_app.get_app()
    assert own.main == "runwright-standalone" and current_app._get_current_object() is before
    assert "runwright.run" in own.tasks


def test_the_task_connects_no_prerun_handler() -> None:
    # Nothing may change how other tasks run: no task_prerun/postrun receivers from runwright.
    from celery import signals

    import runwright.integrations.celery.tasks  # noqa: F401

    def target(ref):  # type: ignore[no-untyped-def]
        return ref() if isinstance(ref, weakref.ReferenceType) else ref

    for signal in (signals.task_prerun, signals.task_postrun):
        modules = {getattr(target(r[1]), "__module__", "") for r in signal.receivers}
        assert not any(m.startswith("runwright") for m in modules), modules


def test_standalone_submit_on_a_fresh_home_makes_its_schema(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # A library user's first call, before any CLI command: runwright's own migrations run.
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNWRIGHT_", "DATABASE_URL", "DJANGO_"))}
    env["RUNWRIGHT_HOME"] = str(tmp_path)
    code = ("from runwright.integrations.celery import submit, submit_group; from runwright.runners import RunSpec; "
            "print(submit(RunSpec(['true'])), submit_group([RunSpec(['true'])]))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["1", "2"]


def test_runwright_celery_app_names_the_app(restore_install, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from tests.celery.platform_app import app

    rw_app._installed = None
    monkeypatch.setenv("RUNWRIGHT_CELERY_APP", "tests.celery.platform_app:app")
    assert rw_app.celery_app() is app
    monkeypatch.setenv("RUNWRIGHT_CELERY_APP", "tests.celery.platform_app")  # a module: its `app`
    assert rw_app.celery_app() is app


PROJECT_APP_FROM_THREADS = """
import json, threading
from celery import Celery, current_app
from runwright.integrations.celery.app import _project_app

def in_thread():
    seen = []
    t = threading.Thread(target=lambda: seen.append(getattr(_project_app(), "main", None)))
    t.start(); t.join()
    return seen[0]

out = {}
current_app.main  # somebody asked for current_app before any app existed: Celery's fallback app
out["fallback only"] = in_thread()
proj = Celery("proj")  # as proj/celery.py does, in the main thread
Celery("runwright-standalone", set_as_current=False)
Celery("a-librarys-private-app", set_as_current=False)
out["main thread"] = _project_app().main
out["other thread"] = in_thread()
Celery("other")
out["two apps, other thread"] = in_thread()
proj.set_default()
out["two apps, one default"] = in_thread()
print(json.dumps(out))
"""


def test_the_projects_app_is_found_from_any_thread() -> None:
    """Celery's current app is per thread: a web request's thread, the reaper or a thread
    calling cancel() has none, and must still find the app the project made."""
    import json
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNWRIGHT_", "DJANGO_"))}
    out = subprocess.run([sys.executable, "-c", PROJECT_APP_FROM_THREADS], env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout) == {
        "fallback only": None,  # Celery's fallback app and runwright's own are never the project's
        "main thread": "proj", "other thread": "proj",
        "two apps, other thread": None,  # ambiguous: runwright's own app (and a warning naming install())
        "two apps, one default": "proj",
    }
    assert "several Celery apps in this process (other, proj)" in out.stderr
