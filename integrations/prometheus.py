"""Prometheus exposition: ``/metrics`` for the web UI, and a metrics port for workers.

The ExecutionLogger's MetricsObserver (runwright.logging_core.observers) counts the runs of
the process it lives in. A worker's ``--metrics-port`` serves the runs of all its pool's
processes (prometheus_client's multiprocess mode: :func:`prepare_worker_metrics` must run
before anything imports prometheus_client, so this module imports it only inside functions).
The web UI's ``/metrics`` adds ``runwright_executions{runner,status}``, counted in the
database, so one scrape of the UI sees every worker's runs by status.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from typing import Any


class DatabaseCollector:
    """``runwright_executions{runner,status}``: executions in the database by runner and status."""

    def collect(self) -> Iterator[Any]:
        from django.db.models import Count
        from prometheus_client.core import GaugeMetricFamily

        from runwright.integrations.django.models import Execution

        family = GaugeMetricFamily("runwright_executions", "Executions in the database by runner and status",
                                   labels=["runner", "status"])
        rows = Execution.objects.exclude(runner="group").values("runner", "status").annotate(n=Count("id"))
        for row in rows.order_by():
            family.add_metric([row["runner"], row["status"]], row["n"])
        yield family


_web_registry: Any = None


def exposition(with_database: bool = True) -> bytes:
    """The process's metrics (and, for the web UI, the database's counts) in the text format."""
    global _web_registry
    from prometheus_client import REGISTRY, CollectorRegistry, generate_latest

    from runwright.logging_core.observers import MetricsObserver

    MetricsObserver()  # the families exist (at zero) even before the first run
    text: bytes = generate_latest(REGISTRY)
    if with_database:
        if _web_registry is None:
            _web_registry = CollectorRegistry(auto_describe=False)
            _web_registry.register(DatabaseCollector())
        text += generate_latest(_web_registry)
    return text


def metrics_view(request: Any) -> Any:
    """Django view for ``/metrics`` (no login: scrapers have none; it holds counts only)."""
    from django.http import HttpResponse
    from prometheus_client.exposition import CONTENT_TYPE_LATEST

    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)


def prepare_worker_metrics() -> None:
    """Call before anything imports prometheus_client in a worker that serves metrics: its
    pool's processes then write their metrics where the parent's port reads them."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="runwright-metrics-")

    from celery import signals

    @signals.worker_process_shutdown.connect(weak=False)
    def _dead(pid: int | None = None, **_: Any) -> None:  # its live gauges stop counting
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())


def start_metrics_server(port: int, addr: str = "0.0.0.0") -> None:
    """Serve metrics at ``http://addr:port/metrics`` from a daemon thread: this process's, or
    with ``PROMETHEUS_MULTIPROC_DIR`` set (a worker's pool), every process's writing there."""
    from prometheus_client import REGISTRY, CollectorRegistry, start_http_server

    from runwright.logging_core.observers import MetricsObserver

    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        MetricsObserver()
    start_http_server(port, addr=addr, registry=registry)
