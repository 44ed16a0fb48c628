"""The ExecutionLogger a worker process uses, configured from the environment, and the model
runs are recorded on (runwright's own, or the project's: ``settings.RUNWRIGHT_EXECUTION_MODEL``)."""

from __future__ import annotations

from functools import cache
from typing import Any

from runwright.integrations.settings import SettingError
from runwright.logging_core import ExecutionLogger
from runwright.runners.process_identity import ProcessIdentity

#: What the Celery integration writes besides a run's status, times and output: a project's
#: model that runs are recorded on needs a field for each (a ``runwright_fields["extra"]``
#: entry, or a field of that name). ``runner`` finds the runner that stops a lost run's work,
#: ``task_id`` makes a message run once, ``worker`` and ``heartbeat_at`` are the lease the
#: reaper judges, ``cancel_requested`` the flag a cancel sets, ``handle`` what stops the work.
WORKER_FIELDS = ("runner", "task_id", "worker", "heartbeat_at", "cancel_requested", "handle")
#: What groups need besides: the children's parent, and their specs stored sealed.
GROUP_FIELDS = ("parent_id", "spec", "sealed_spec")


class ExecutionModelError(SettingError):
    """``settings.RUNWRIGHT_EXECUTION_MODEL`` names a model runwright cannot record runs on
    (a setting error: the CLI prints its one line and exits 125)."""


def execution_model() -> Any:
    """The model of ``settings.RUNWRIGHT_EXECUTION_MODEL`` (``"app_label.ModelName"``, as
    ``AUTH_USER_MODEL`` is given), None when unset: runwright's own Execution. Raises
    ExecutionModelError naming the setting when it is not an installed model."""
    from django.apps import apps
    from django.conf import settings

    name = getattr(settings, "RUNWRIGHT_EXECUTION_MODEL", None)
    if not name:
        return None
    try:
        return apps.get_model(str(name), require_ready=True)
    except (ValueError, LookupError) as exc:
        raise ExecutionModelError(f"settings.RUNWRIGHT_EXECUTION_MODEL={str(name)[:80]!r}: {exc}") from None


def execution_store() -> Any:
    """The DjangoStore runs are recorded in (see :func:`execution_model`); on a project's
    model every field of :data:`WORKER_FIELDS` must be kept. Raises ExecutionModelError
    naming what is missing, FieldMapError for a ``runwright_fields`` that does not fit."""
    from runwright.logging_core.django_store import DjangoStore

    model = execution_model()
    store = DjangoStore(model)
    missing = store.missing_fields(*WORKER_FIELDS)
    if missing:
        raise ExecutionModelError(
            f"settings.RUNWRIGHT_EXECUTION_MODEL: {model.__name__} has no field for {', '.join(missing)}, which a "
            f"worker writes; add them, or map existing fields in runwright_fields = {{'extra': {{...}}}}")
    return store


def require_groups(store: Any) -> None:
    """Raises ExecutionModelError when the store's model cannot keep a group (see :data:`GROUP_FIELDS`)."""
    missing = store.missing_fields(*GROUP_FIELDS)
    if missing:
        raise ExecutionModelError(
            f"{store.model.__name__} has no field for {', '.join(missing)}, which a group needs; add them, or map "
            f"existing fields in runwright_fields = {{'extra': {{...}}}}")


@cache
def worker_logger() -> ExecutionLogger:
    from runwright.integrations.celery.app import heartbeat_interval
    from runwright.integrations.settings import env_seconds

    return ExecutionLogger(
        execution_store(),
        heartbeat_interval=heartbeat_interval(),
        cancel_poll_interval=env_seconds("RUNWRIGHT_CANCEL_POLL", 0.5),
        flush_interval=env_seconds("RUNWRIGHT_FLUSH_INTERVAL", 0.2),
    )


def worker_name() -> str:
    """The identity of the process running the task (``host:boot_id:pid_ns:start_time:pid``,
    :class:`~runwright.runners.process_identity.ProcessIdentity`): a reaper in the same boot
    and pid namespace checks its process, any other judges it by its lease."""
    return str(ProcessIdentity.of())
