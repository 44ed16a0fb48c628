"""Pages: the executions list (filters), one execution (live), its full log as a download,
cancel and re-run, statistics. Viewing needs ``runwright.view_execution``; cancelling
``runwright.cancel_execution``; re-running ``runwright.add_execution``."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from runwright.integrations.web import access
from runwright.integrations.web.reading import (
    execution_json,
    has_masked_secret,
    human_bytes,
    human_duration,
    local_time,
    read_batch,
    tail_start,
)
from runwright.logging_core.store import NotFound
from runwright.runners.status import ACTIVE, Status

PAGE_SIZE = 100
_logger: Any = None
_logger_lock = threading.Lock()


def web_logger() -> Any:
    """The web process's ExecutionLogger (cancels and notes go through the single sink)."""
    global _logger
    with _logger_lock:
        if _logger is None:
            from runwright.logging_core import ExecutionLogger

            _logger = ExecutionLogger()
        return _logger


def needs(perm: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Anonymous -> the login page; logged in without ``perm`` -> 403."""
    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not access.can(request.user, perm):
                raise PermissionDenied(f"needs the {perm} permission")
            return view(request, *args, **kwargs)
        return wrapper
    return decorate


def _model() -> Any:
    from runwright.integrations.django.models import Execution

    return Execution


# == list ==================================================================================
@needs(access.VIEW)
def execution_list(request: HttpRequest) -> HttpResponse:
    from runwright.integrations.django.stats import BadSince, parse_since

    Execution = _model()
    qs = Execution.objects.exclude(runner="group").order_by("-id")
    f = {k: request.GET.get(k, "").strip() for k in ("status", "runner", "label", "since", "until")}
    errors = []
    if f["status"]:
        qs = qs.filter(status=f["status"])
    if f["runner"]:
        qs = qs.filter(runner=f["runner"])
    if f["label"]:
        key, sep, value = f["label"].partition("=")
        qs = qs.filter(**{f"labels__{key.strip()}": value.strip()}) if sep else qs.filter(labels__has_key=key.strip())
    now = timezone.now()
    for name, lookup in (("since", "created_at__gte"), ("until", "created_at__lt")):
        if f[name]:
            try:
                qs = qs.filter(**{lookup: parse_since(f[name], now)})
            except BadSince as exc:
                errors.append(str(exc).replace("--since", name))
    before = request.GET.get("before", "")
    if before.isdigit():
        qs = qs.filter(id__lt=int(before))
    rows = list(qs.only("id", "status", "runner", "command", "labels", "created_at", "started_at", "finished_at",
                        "exit_code", "worker")[: PAGE_SIZE + 1])
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    items = [{
        "id": r.id, "status": r.status, "runner": r.runner, "command": r.command, "labels": r.labels,
        "created": local_time(r.created_at), "duration": human_duration(r.duration), "exit_code": r.exit_code,
    } for r in rows]
    runners = list(Execution.objects.order_by().values_list("runner", flat=True).distinct())
    query = request.GET.copy()
    query.pop("before", None)
    if rows:
        query["before"] = str(rows[-1].id)
    return render(request, "runwright_web/list.html", {
        "items": items, "filters": f, "errors": errors, "statuses": [s.value for s in Status],
        "runners": sorted(r for r in runners if r != "group"), "more": more, "next_query": query.urlencode(),
        "tz": timezone.get_current_timezone_name(),
    })


# == detail ================================================================================
def _get(pk: int) -> Any:
    try:
        return web_logger().get(pk)
    except NotFound:
        raise Http404(f"no execution {pk}") from None


@needs(access.VIEW)
def execution_detail(request: HttpRequest, pk: int) -> HttpResponse:
    logger = web_logger()
    view = _get(pk)
    row = _model().objects.only("spec", "result").get(pk=pk)
    final = view.status not in ACTIVE
    end = logger.store.log_end(pk)
    start = tail_start(logger, pk, end)
    # The tail the page starts with; the socket goes on from where it ends (no gap).
    batch = read_batch(logger, pk, start, final, limit=max(end - start, 1))
    events = [e.to_dict() for e in logger.read_events(pk)] if hasattr(logger, "read_events") else []
    initial = {"execution": execution_json(view, log_end=end), "log": batch.to_dict(),
               "event": events[-1]["seq"] if events else 0, "events": events[-500:],
               "ws": f"ws/runwright/executions/{pk}/", "truncated": start > 0}
    result = dict(row.result or {})
    for key in ("stdout_tail", "stderr_tail"):
        result.pop(key, None)  # the log is on the page
    return render(request, "runwright_web/detail.html", {
        "e": execution_json(view, log_end=end), "spec": json.dumps(row.spec, indent=2, sort_keys=True),
        "result": json.dumps(result, indent=2, sort_keys=True, default=str) if result else "",
        "initial": initial, "log_size": human_bytes(end), "skipped": human_bytes(start),
        "can_cancel": access.can(request.user, access.CANCEL) and not final,
        "can_rerun": access.can(request.user, access.RERUN) and not has_masked_secret(row.spec),
        "rerun_blocked": has_masked_secret(row.spec), "tz": timezone.get_current_timezone_name(),
    })


@needs(access.VIEW)
def execution_json_view(request: HttpRequest, pk: int) -> HttpResponse:
    view = _get(pk)
    live_end = web_logger().store.log_end(pk) if view.status in ACTIVE else None
    return JsonResponse(execution_json(view, log_end=live_end))


@needs(access.VIEW)
def execution_log(request: HttpRequest, pk: int) -> HttpResponse:
    """The whole combined log as it is stored, streamed a page of chunks at a time."""
    logger = web_logger()
    _get(pk)

    def body() -> Iterator[bytes]:
        for chunk in logger.iter_log(pk):
            yield chunk.data

    response = StreamingHttpResponse(body(), content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="execution-{pk}.log"'
    return response


@require_POST
@needs(access.CANCEL)
def execution_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    view = _get(pk)
    if view.status not in ACTIVE:
        messages.info(request, f"execution {pk} is already {view.status}")
    else:
        status = cancel(pk, f"cancelled by {request.user.get_username()} from the web UI")
        messages.success(request, f"execution {pk}: cancel requested (now {status})")
    return redirect(reverse("runwright_web:detail", args=[pk]))


def cancel(pk: int, reason: str) -> Status:
    """The Celery integration's cancel (it also drops the queued message); without Celery,
    a pending run is cancelled and a running one asked to stop through the store."""
    try:
        from runwright.integrations.celery.control import cancel as celery_cancel
    except ImportError:
        celery_cancel = None
    if celery_cancel is not None:
        try:
            return celery_cancel(pk, reason)
        except ImportError:
            pass
    logger = web_logger()
    _model().objects.filter(pk=pk).update(cancel_requested=True)
    if logger.get(pk).status == Status.PENDING:
        logger.cancel_execution(pk, reason)
    return logger.get(pk).status


@require_POST
@needs(access.RERUN)
def execution_rerun(request: HttpRequest, pk: int) -> HttpResponse:
    from runwright.runners.spec import RunSpec, SpecError

    row = _model().objects.filter(pk=pk).values("spec").first()
    if row is None:
        raise Http404(f"no execution {pk}")
    if has_masked_secret(row["spec"]):
        messages.error(request, "this run's spec held secrets, stored masked: re-run it from where its secrets are")
        return redirect(reverse("runwright_web:detail", args=[pk]))
    try:
        spec = RunSpec.from_dict(row["spec"])
    except SpecError as exc:
        messages.error(request, f"cannot re-run: {exc}")
        return redirect(reverse("runwright_web:detail", args=[pk]))
    try:
        from runwright.integrations.celery.control import submit
    except ImportError:
        messages.error(request, "re-run needs the celery extra: pip install 'runwright[celery]'")
        return redirect(reverse("runwright_web:detail", args=[pk]))
    try:
        new = submit(spec)
    except Exception as exc:
        messages.error(request, f"could not queue the re-run: {exc}")
        return redirect(reverse("runwright_web:detail", args=[pk]))
    messages.success(request, f"re-run of {pk} queued as execution {new}")
    return redirect(reverse("runwright_web:detail", args=[new]))


# == statistics ============================================================================
@needs(access.VIEW)
def stats_page(request: HttpRequest) -> HttpResponse:
    from runwright.integrations.django.stats import BadSince, compute, parse_since

    since_text = request.GET.get("since", "7d").strip() or "7d"
    runner = request.GET.get("runner", "").strip() or None
    error = ""
    try:
        since: datetime | None = parse_since(since_text, timezone.now())
    except BadSince as exc:
        error, since = str(exc).replace("--since", "since"), None
    data = compute(since, runner)
    rows = data["runners"]
    top = max([r["duration_p95"] or 0 for r in rows] + [1e-9])
    for r in rows:
        r["rate_pct"] = None if r["success_rate"] is None else round(100 * r["success_rate"], 1)
        r["p50_w"] = round(300 * (r["duration_p50"] or 0) / top, 1)
        r["p95_w"] = round(300 * (r["duration_p95"] or 0) / top, 1)
        for key in ("duration_p50", "duration_p95", "queue_wait_p50", "queue_wait_p95"):
            r[key + "_h"] = human_duration(r[key])
    return render(request, "runwright_web/stats.html", {
        "rows": rows, "since": since_text, "runner": runner or "", "error": error,
        "since_display": local_time(since) if since else "",
    })
