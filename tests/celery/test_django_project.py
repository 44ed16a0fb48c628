"""runwright inside a user's Django + Celery project, as a new user sets it up: a project made
by `django-admin startproject`, its own Celery app on Redis, PostgreSQL, and its own app named
``integrations``. One worker (`celery -A proj worker`) runs the project's tasks and runwright's.

Everything the project does runs in its own processes (`manage.py`, a driver script, the
worker); this test only reads the project's database to check what was recorded."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from runwright.runners.process_identity import ProcessIdentity
from tests.infra.workers import _wait_port

pytestmark = pytest.mark.postgres
BIN = Path(sys.executable).parent
PG = "postgres://postgres@127.0.0.1:5432/postgres"

CELERY_PY = """
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")
app = Celery("proj")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
"""

HOST_TASKS = """
import time

from celery import current_app, shared_task
from celery.exceptions import SoftTimeLimitExceeded

from runwright.integrations.celery import run_in_task
from runwright.runners import RunSpec


@shared_task
def add(x, y):
    return x + y


@shared_task
def app_name():
    return current_app.main


@shared_task(soft_time_limit=1)
def limited():
    try:
        time.sleep(30)
    except SoftTimeLimitExceeded:
        return "soft limit raised"
    return "slept through its limit"


@shared_task
def deploy(token):
    return str(run_in_task(RunSpec(["sleep", token], grace_period=1)).status)


@shared_task(time_limit=4)
def deploy_after_prework(token):
    time.sleep(2)  # the task's own work before the run: the hard limit counts from the task's start
    return str(run_in_task(RunSpec(["sleep", token], grace_period=1)).status)


@shared_task(soft_time_limit=1)
def deploy_limited(token):
    try:
        run_in_task(RunSpec(["sleep", token], grace_period=1))
    except SoftTimeLimitExceeded:
        return "soft limit raised"
    return "not raised"
"""

DRIVER = """
import json, sys, time
import django
django.setup()
from celery import current_app
import proj
from integrations import tasks
from runwright.integrations.celery import submit
from runwright.integrations.django.models import Execution
from runwright.runners import RunSpec

out = {"before": current_app.main}
ref = submit(RunSpec(["sh", "-c", "echo from-runwright"]))
out["after"] = current_app.main
out["add"] = tasks.add.delay(2, 3).get(timeout=60)
out["app_in_worker"] = tasks.app_name.delay().get(timeout=60)
deadline = time.monotonic() + 60
while Execution.objects.get(pk=ref).status in ("pending", "running") and time.monotonic() < deadline:
    time.sleep(0.1)
row = Execution.objects.get(pk=ref)
out.update(ref=ref, status=row.status, worker=row.worker, task_id=row.task_id)
out["limited"] = tasks.limited.delay().get(timeout=60)
print(json.dumps(out))
"""


class Project:
    def __init__(self, root: Path, db: str, queue: str) -> None:
        self.root, self.db, self.queue = root, db, queue
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNWRIGHT_", "DATABASE_URL"))}
        self.env.update(DJANGO_SETTINGS_MODULE="proj.settings", PYTHONPATH=str(root), RUNWRIGHT_HEARTBEAT="0.5",
                        RUNWRIGHT_CANCEL_POLL="0.2", RUNWRIGHT_HOME=str(root / "rw-home"))

    def start_worker(self) -> None:
        """`celery -A proj worker` on the project's queue, one pool process."""
        self.log = self.root / "worker.log"
        self.worker = self.celery_worker(self.queue, self.env, self.log)

    def celery_worker(self, queue: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        with open(log, "wb") as fh:
            worker = subprocess.Popen(
                [str(BIN / "celery"), "-A", "proj", "worker", "--concurrency=1", "--loglevel=info", "-Q", queue,
                 "--without-gossip", "--without-mingle", "-n", f"{queue}@%h"],
                cwd=self.root, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while b" ready." not in log.read_bytes():
            assert worker.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.1)
        return worker

    def manage(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        out = subprocess.run([str(BIN / "python"), "manage.py", *args], cwd=self.root, env=self.env,
                             capture_output=True, text=True, timeout=120)
        if check and out.returncode:
            raise AssertionError(f"manage.py {' '.join(args)} exited {out.returncode}:\n{out.stdout}\n{out.stderr}")
        return out

    def python(self, code: str) -> Any:
        out = subprocess.run([str(BIN / "python"), "-c", code], cwd=self.root, env=self.env, capture_output=True,
                             text=True, timeout=180)
        assert out.returncode == 0, out.stderr[-3000:]
        return json.loads(out.stdout.strip().splitlines()[-1])

    def sql(self, query: str, *args: Any) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(f"postgres://postgres@127.0.0.1:5432/{self.db}", autocommit=True) as conn:
            return conn.execute(query, args).fetchall()  # type: ignore[arg-type]

    def wait_row(self, where: str, args: tuple[Any, ...], done: Callable[[tuple[Any, ...]], bool],
                 timeout: float = 60) -> tuple[Any, ...]:
        deadline = time.monotonic() + timeout
        while True:
            rows = self.sql(f"SELECT id, status, worker, task_id, error_message FROM runwright_execution WHERE {where}", *args)
            if rows and done(rows[0]):
                return rows[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {where} {args}: {rows}")
            time.sleep(0.1)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    import psycopg

    _wait_port(6379, "Redis")
    root = tmp_path_factory.mktemp("site")
    db = f"rw_project_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')
    queue = f"proj-{uuid.uuid4().hex[:8]}"
    subprocess.run([str(BIN / "django-admin"), "startproject", "proj", str(root)], check=True)
    p = Project(root, db, queue)
    p.manage("startapp", "integrations")  # the project's own app, named as runwright's folder is
    (root / "proj" / "celery.py").write_text(CELERY_PY)
    (root / "proj" / "__init__.py").write_text("from .celery import app as celery_app\n\n__all__ = ['celery_app']\n")
    (root / "integrations" / "tasks.py").write_text(HOST_TASKS)
    (root / "integrations" / "models.py").write_text(textwrap.dedent("""
        from django.db import models


        class Deployment(models.Model):
            # The platform's own job table, with its own names: runs are recorded on it.

            id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
            state = models.CharField(max_length=20, default="queued")
            began = models.DateTimeField(null=True)
            ended = models.DateTimeField(null=True)
            output = models.TextField(blank=True, default="")
            failure = models.TextField(blank=True, default="")
            exit_status = models.IntegerField(null=True)
            kind = models.CharField(max_length=50, default="")
            celery_task = models.CharField(max_length=100, blank=True, default="")
            host = models.CharField(max_length=200, blank=True, default="")
            last_seen = models.DateTimeField(null=True)
            stop_asked = models.BooleanField(default=False)
            work = models.JSONField(null=True)
            params = models.JSONField(default=dict)

            runwright_fields = {
                "status": "state", "started_at": "began", "completed_at": "ended", "logs": "output",
                "error_message": "failure", "return_code": "exit_status",
                "status_values": {"pending": "queued", "running": "in_progress", "success": "done",
                                  "failed": "broken", "cancelled": "aborted"},
                "extra": {"runner": "kind", "task_id": "celery_task", "worker": "host",
                          "heartbeat_at": "last_seen", "cancel_requested": "stop_asked", "handle": "work",
                          "spec": "params"},
            }


        class Pipeline(models.Model):
            name = models.CharField(max_length=50)
    """).replace("from django.db import models", "import uuid\n\nfrom django.db import models"))
    (root / "proj" / "settings_jobs.py").write_text(textwrap.dedent(f"""
        from .settings import *  # noqa: F403

        RUNWRIGHT_EXECUTION_MODEL = "integrations.Deployment"
        CELERY_TASK_DEFAULT_QUEUE = "{queue}-jobs"
    """))
    with open(root / "proj" / "settings.py", "a") as fh:
        fh.write(textwrap.dedent(f"""
            INSTALLED_APPS += ["integrations", "runwright.integrations.django"]
            DATABASES = {{"default": {{"ENGINE": "django.db.backends.postgresql", "NAME": "{db}", "USER": "postgres",
                                      "HOST": "127.0.0.1", "PORT": "5432"}}}}
            CELERY_BROKER_URL = "redis://127.0.0.1:6379/7"
            CELERY_RESULT_BACKEND = "redis://127.0.0.1:6379/7"
            CELERY_TASK_DEFAULT_QUEUE = "{queue}"
        """))
    p.manage("makemigrations", "integrations")
    p.manage("migrate")
    # A migration of the host app written but not applied yet: runwright must leave it alone.
    with open(root / "integrations" / "models.py", "a") as fh:
        fh.write("    stage = models.CharField(max_length=20, default='build')\n")
    p.manage("makemigrations", "integrations")
    (root / "drive.py").write_text(DRIVER)
    p.start_worker()
    try:
        yield p
    finally:
        os.killpg(p.worker.pid, 15)
        try:
            p.worker.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(p.worker.pid, 9)
            p.worker.wait()
        with psycopg.connect(PG, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def test_runs_and_project_tasks_share_the_projects_app_and_worker(project: Project) -> None:
    out = project.python(DRIVER)
    assert out["before"] == out["after"] == "proj", "submit() must not change Celery's current app"
    assert out["add"] == 5 and out["app_in_worker"] == "proj"
    assert out["status"] == "success" and out["worker"] and out["task_id"].startswith("runwright-")
    # The project's task with a soft limit, on the pool process that just ran runwright's run.
    assert out["limited"] == "soft limit raised"
    registered = project.log.read_text()
    assert "runwright.run" in registered and "integrations.tasks.add" in registered


def test_run_in_task_records_the_task_and_revoke_terminate_is_cancelled(project: Project) -> None:
    tok = str(9000 + uuid.uuid4().int % 900)
    task_id = project.python(
        "import django, json; django.setup(); from integrations.tasks import deploy; "
        f"print(json.dumps(deploy.delay('{tok}').id))")
    row = project.wait_row("task_id = %s", (task_id,), lambda r: r[1] == "running")
    identity = ProcessIdentity.parse(row[2])
    assert identity is not None and identity.is_local(), f"the worker process is recorded: {row[2]!r}"
    project.python("import django, json; django.setup(); from proj import celery_app; "
                   f"celery_app.control.revoke('{task_id}', terminate=True); print(1)")
    row = project.wait_row("task_id = %s", (task_id,), lambda r: r[1] not in ("pending", "running"))
    assert row[1] == "cancelled", row
    assert "revoked" in row[4]


def test_a_soft_time_limit_records_timeout_and_still_raises_in_the_task(project: Project) -> None:
    tok = str(9000 + uuid.uuid4().int % 900)
    result = project.python(
        "import django, json; django.setup(); from integrations.tasks import deploy_limited; "
        f"r = deploy_limited.delay('{tok}'); print(json.dumps([r.id, r.get(timeout=60)]))")
    task_id, returned = result
    assert returned == "soft limit raised"
    row = project.wait_row("task_id = %s", (task_id,), lambda r: r[1] not in ("pending", "running"))
    assert row[1] == "timeout" and row[4].startswith("Celery's soft time limit of 1s"), row


def test_a_hard_time_limit_after_the_tasks_own_work_records_timeout(project: Project) -> None:
    tok = str(9000 + uuid.uuid4().int % 900)
    task_id = project.python(
        "import django, json; django.setup(); from integrations.tasks import deploy_after_prework; "
        f"print(json.dumps(deploy_after_prework.delay('{tok}').id))")
    row = project.wait_row("task_id = %s", (task_id,), lambda r: r[1] not in ("pending", "running"))
    assert row[1] == "timeout" and row[4].startswith("Celery's hard time limit of 4s"), row
    wait_gone(tok)


THREAD_SUBMIT = """
import json, threading
import django
django.setup()
from runwright.integrations.celery import submit, submit_group
from runwright.runners import RunSpec

out = {}
def request():  # a web request under a threaded server: not the thread that made the project's app
    out["run"] = submit(RunSpec(["sh", "-c", "echo from-a-thread"]))
    out["group"] = submit_group([RunSpec(["true"]), RunSpec(["echo", "second"])], max_parallel=1)
thread = threading.Thread(target=request)
thread.start()
thread.join()
print(json.dumps(out))
"""


def test_runs_submitted_from_another_thread_go_to_the_projects_worker(project: Project) -> None:
    out = project.python(THREAD_SUBMIT)
    assert project.wait_row("id = %s", (out["run"],), lambda r: r[1] not in ("pending", "running"))[1] == "success"
    assert project.wait_row("id = %s", (out["group"],), lambda r: r[1] not in ("pending", "running"))[1] == "success"


def test_a_group_the_reaper_advances_goes_on_on_the_projects_worker(project: Project) -> None:
    """The first child's pool process is killed: the worker's reaper (a thread of the worker's
    main process) marks it lost and queues the next child, which the project's worker runs."""
    tok = str(9000 + uuid.uuid4().int % 900)
    group = project.python(
        "import django, json; django.setup(); from runwright.integrations.celery import submit_group; "
        "from runwright.runners import RunSpec; "
        f"print(json.dumps(submit_group([RunSpec(['sleep', '{tok}'], grace_period=1), RunSpec(['echo', 'after'])], "
        "max_parallel=1)))")
    first, second = (r[0] for r in project.sql("SELECT id FROM runwright_execution WHERE parent_id = %s ORDER BY id", group))
    task_id = project.wait_row("id = %s", (first,), lambda r: r[1] == "running")[3]
    project.python("import django, json; django.setup(); from proj import celery_app; "
                   f"celery_app.control.revoke('{task_id}', terminate=True, signal='SIGKILL'); print(1)")
    assert project.wait_row("id = %s", (first,), lambda r: r[1] not in ("pending", "running"))[1] == "lost"
    assert project.wait_row("id = %s", (second,), lambda r: r[1] not in ("pending", "running"))[1] == "success"
    assert project.wait_row("id = %s", (group,), lambda r: r[1] not in ("pending", "running"))[1] == "failed"
    wait_gone(tok)


def wait_gone(token: str) -> None:
    from tests.helpers import pids_with

    deadline = time.monotonic() + 30
    while pids_with(token) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert pids_with(token) == []


def test_manage_py_runwright_works_on_the_projects_database(project: Project) -> None:
    info = project.manage("runwright", "info", "--json")
    data = json.loads(info.stdout)
    assert data["mode"] == "project" and data["settings"] == "proj.settings"
    assert data["database"].startswith("postgresql") and project.db in data["database"]
    assert data["broker"] == "redis://127.0.0.1:6379/7" and data["queue"] == project.queue
    submitted = project.manage("runwright", "submit", "--", "sh", "-c", "echo via-manage-py")
    ref = int(submitted.stdout.strip())
    project.wait_row("id = %s", (ref,), lambda r: r[1] == "success")
    listed = json.loads(project.manage("runwright", "list", "--json").stdout)
    assert ref in [r["id"] for r in listed]
    assert project.manage("runwright", "logs", str(ref)).stdout == "via-manage-py\n"
    tok = str(9000 + uuid.uuid4().int % 900)
    long = int(project.manage("runwright", "submit", "--", "sleep", tok).stdout.strip())
    project.wait_row("id = %s", (long,), lambda r: r[1] == "running")
    assert project.manage("runwright", "cancel", str(long)).stdout.strip() == f"execution {long}: cancel requested"
    assert project.wait_row("id = %s", (long,), lambda r: r[1] not in ("pending", "running"))[1] == "cancelled"
    # The plain CLI honours DJANGO_SETTINGS_MODULE the same way.
    out = subprocess.run([str(BIN / "runwright"), "show", str(ref)], cwd=project.root, env=project.env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and re.search(r"^status: +success$", out.stdout, re.M), (out.stdout, out.stderr)


def test_the_host_apps_pending_migration_is_left_alone(project: Project) -> None:
    project.python("import django, json; django.setup(); from runwright.integrations.django import setup; "
                   "from runwright.integrations.celery import submit, cancel; from runwright.runners import RunSpec; "
                   "setup(); ref = submit(RunSpec(['true'])); cancel(ref); print(1)")
    project.manage("runwright", "list")
    applied = {name for (name,) in project.sql("SELECT name FROM django_migrations WHERE app = 'integrations'")}
    assert applied == {"0001_initial"}, applied


def test_without_the_app_installed_the_cli_says_what_to_add(project: Project) -> None:
    settings = project.root / "proj" / "bare_settings.py"
    settings.write_text("from proj.settings import *  # noqa\n"
                        "INSTALLED_APPS = [a for a in INSTALLED_APPS if not a.startswith('runwright')]\n")
    out = subprocess.run([str(BIN / "runwright"), "list"], cwd=project.root,
                         env=dict(project.env, DJANGO_SETTINGS_MODULE="proj.bare_settings"),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert 'add "runwright.integrations.django" to INSTALLED_APPS' in out.stderr


def test_a_project_that_has_not_migrated_runwright_is_told_to(project: Project) -> None:
    settings = project.root / "proj" / "unmigrated_settings.py"
    settings.write_text("from proj.settings import *  # noqa\n"
                        f"DATABASES = {{'default': {{'ENGINE': 'django.db.backends.sqlite3', "
                        f"'NAME': {str(project.root / 'empty.sqlite3')!r}}}}}\n")
    out = subprocess.run([str(BIN / "python"), "manage.py", "runwright", "list"], cwd=project.root,
                         env=dict(project.env, DJANGO_SETTINGS_MODULE="proj.unmigrated_settings"),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert "run `manage.py migrate runwright`" in out.stderr
    assert not project.python(  # and it did not migrate anything itself
        "import json, sqlite3; print(json.dumps(sqlite3.connect('empty.sqlite3').execute("
        "\"SELECT name FROM sqlite_master WHERE type='table'\").fetchall()))")


def test_a_run_in_task_whose_worker_dies_is_reaped(project: Project) -> None:
    from tests.helpers import pids_with

    tok = str(9000 + uuid.uuid4().int % 900)
    task_id = project.python(
        "import django, json; django.setup(); from integrations.tasks import deploy; "
        f"print(json.dumps(deploy.delay('{tok}').id))")
    project.wait_row("task_id = %s", (task_id,), lambda r: r[1] == "running")
    os.killpg(project.worker.pid, 9)  # the machine's worker dies: main process and pool
    project.worker.wait()
    project.start_worker()  # the next worker's reaper finds the run
    row = project.wait_row("task_id = %s", (task_id,), lambda r: r[1] not in ("pending", "running"))
    assert row[1] == "lost" and "is gone" in row[4], row
    deadline = time.monotonic() + 30
    while pids_with(tok) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert pids_with(tok) == []


JOBS_DRIVER = """
import json, time
import django
django.setup()
from runwright.integrations.celery import cancel, submit
from runwright.runners import RunSpec
from integrations.models import Deployment

def finished(ref):
    deadline = time.monotonic() + 60
    while Deployment.objects.get(pk=ref).state in ("queued", "in_progress") and time.monotonic() < deadline:
        time.sleep(0.1)
    return Deployment.objects.get(pk=ref)

ref = submit(RunSpec(["sh", "-c", "echo deployed; echo warn >&2; exit 3"]))
row = finished(ref)
out = {"ref": ref, "state": row.state, "output": row.output, "exit": row.exit_status, "host": row.host,
       "task": row.celery_task}
slow = submit(RunSpec(["sleep", "%s"], grace_period=1))
deadline = time.monotonic() + 60
while Deployment.objects.get(pk=slow).state != "in_progress" and time.monotonic() < deadline:
    time.sleep(0.1)
cancel(slow)
row = finished(slow)
out.update(cancelled=row.state, failure=row.failure)
print(json.dumps(out))
"""


def test_a_worker_records_runs_on_the_projects_own_model(project: Project) -> None:
    """``RUNWRIGHT_EXECUTION_MODEL = "integrations.Deployment"``: submit, the worker's run,
    its output and its cancel all land on the project's table (a UUID key, its own field
    names); runwright's own table gets nothing."""
    env = {**project.env, "DJANGO_SETTINGS_MODULE": "proj.settings_jobs"}
    worker = project.celery_worker(f"{project.queue}-jobs", env, project.root / "worker-jobs.log")
    try:
        before = project.sql("SELECT count(*) FROM runwright_execution")[0][0]
        tok = str(9000 + uuid.uuid4().int % 900)
        out = subprocess.run([str(BIN / "python"), "-c", JOBS_DRIVER % tok], cwd=project.root, env=env,
                             capture_output=True, text=True, timeout=180)
        assert out.returncode == 0, out.stderr[-3000:]
        result = json.loads(out.stdout.strip().splitlines()[-1])
        assert result["state"] == "broken" and result["exit"] == 3, result
        assert "deployed" in result["output"] and "warn" in result["output"]
        assert ProcessIdentity.parse(result["host"]) is not None and result["task"].startswith("runwright-")
        assert result["cancelled"] == "aborted", result
        wait_gone(tok)
        assert project.sql("SELECT count(*) FROM runwright_execution")[0][0] == before
        assert project.sql("SELECT count(*) FROM integrations_deployment")[0][0] >= 2
    finally:
        os.killpg(worker.pid, 15)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, 9)
            worker.wait()
