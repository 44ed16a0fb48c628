"""Metrics, structured logs, the tracing example and statistics, through their public surfaces:
the observer hooks, `runwright stats`, `runwright worker --metrics-port`."""

from __future__ import annotations

import importlib
import json
import logging
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from typer.testing import CliRunner

from runwright.integrations.cli.app import app
from runwright.integrations.django.models import Execution
from runwright.logging_core import ExecutionLogger
from runwright.logging_core.observers import register_observer, unregister_observer
from runwright.runners import RunSpec


def test_cancelling_a_pending_run_logs_previous_status_and_runner(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="runwright.executions")
    logger = ExecutionLogger()
    ref = logger.create(RunSpec(["sleep", "5"], runner="local"))
    assert logger.cancel_execution(ref, "not needed")
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "runwright.executions"]
    mine = [e for e in lines if e.get("execution_id") == ref]
    assert [(e["runner"], e["previous_status"], e["status"]) for e in mine] == [("local", "pending", "cancelled")]


def test_metrics_by_runner_and_status_with_queue_wait_and_running_gauge() -> None:
    from prometheus_client import REGISTRY

    logger = ExecutionLogger()
    value = REGISTRY.get_sample_value
    waits = value("runwright_queue_wait_seconds_count", {"runner": "local"}) or 0
    failed = value("runwright_runs_total", {"runner": "local", "status": "failed"}) or 0
    out = value("runwright_output_bytes_total", {"runner": "local", "stream": "stdout"}) or 0
    ref = logger.create(RunSpec(["sh", "-c", "printf 12345; exit 4"]))
    Execution.objects.filter(pk=ref).update(created_at=timezone.now() - timedelta(seconds=3))
    logger.run(RunSpec(["sh", "-c", "printf 12345; exit 4"]), ref)
    assert value("runwright_runs_total", {"runner": "local", "status": "failed"}) == failed + 1
    assert value("runwright_queue_wait_seconds_count", {"runner": "local"}) == waits + 1
    assert (value("runwright_queue_wait_seconds_bucket", {"runner": "local", "le": "5.0"}) or 0) > 0
    assert value("runwright_output_bytes_total", {"runner": "local", "stream": "stdout"}) == out + 5
    assert value("runwright_runs_running", {"runner": "local"}) == 0
    assert value("runwright_run_duration_seconds_count", {"runner": "local", "status": "failed"}) >= 1


def test_opentelemetry_example_records_a_span_per_run() -> None:
    importlib.import_module("opentelemetry.sdk")  # a locked dependency: missing fails, never skips
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import StatusCode

    from runwright.integrations.otel import TracingObserver

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    def factory() -> TracingObserver:
        return TracingObserver(tracer_provider=provider)

    register_observer(factory)
    try:
        logger = ExecutionLogger()
        ok = logger.run(RunSpec(["true"]))
        bad = logger.run(RunSpec(["sh", "-c", "exit 3"]))
    finally:
        unregister_observer(factory)
    spans = {s.attributes["runwright.execution_id"]: s for s in exporter.get_finished_spans()}
    ok_span = spans[ok.log_ref.rsplit("/", 1)[1]]
    bad_span = spans[bad.log_ref.rsplit("/", 1)[1]]
    assert ok_span.name == "runwright.run" and ok_span.attributes["runwright.runner"] == "local"
    assert ok_span.attributes["runwright.status"] == "success" and ok_span.attributes["runwright.previous_status"] == "running"
    assert bad_span.status.status_code == StatusCode.ERROR and bad_span.attributes["runwright.exit_code"] == 3
    assert ok_span.end_time >= ok_span.start_time


def test_stats_command_per_runner_with_json() -> None:
    runner = f"r{uuid.uuid4().hex[:6]}"
    now = timezone.now()
    rows = [("success", 10, ""), ("success", 20, ""), ("failed", 30, ""), ("failed", 40, ""), ("timeout", 50, "")]
    for status, seconds, error in rows:
        Execution.objects.create(runner=runner, status=status, error_message=error, exit_code=1 if status == "failed" else None,
                                 started_at=now, finished_at=now + timedelta(seconds=seconds))
    Execution.objects.filter(runner=runner).update(created_at=now - timedelta(seconds=2))
    result = CliRunner().invoke(app, ["stats", "--since", "1h", "--runner", runner, "--json"])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.output)["runners"]
    assert row["count"] == 5 and row["success_rate"] == pytest.approx(0.4)
    assert row["duration_p50"] == pytest.approx(30) and row["duration_p95"] == pytest.approx(48)
    assert row["queue_wait_p50"] == pytest.approx(2, abs=0.5)
    assert row["failures"][0] == {"reason": "failed: exit code 1", "count": 2}
    text = CliRunner().invoke(app, ["stats", "--since", "1h", "--runner", runner])
    assert runner in text.output and "40.0%" in text.output and "30.0 s" in text.output
    bad = CliRunner().invoke(app, ["stats", "--since", "last week"])
    assert bad.exit_code == 2 and "expected a duration like 30m" in bad.output and "Traceback" not in bad.output


def test_worker_metrics_port_serves_the_runs_of_its_pool(tmp_path: Path) -> None:
    importlib.import_module("celery")  # a locked dependency: missing fails, never skips
    from tests.infra.web_site import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "PROMETHEUS_MULTIPROC_DIR")}
    env["RUNWRIGHT_HOME"] = str(tmp_path)
    env.pop("DATABASE_URL", None)
    runwright = str(Path(sys.executable).with_name("runwright"))
    log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115
    worker = subprocess.Popen([runwright, "worker", "--metrics-port", str(port), "--concurrency", "1"], env=env,
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        done = subprocess.run([runwright, "submit", "--wait", "--", "sh", "-c", "echo metered"], env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr + (tmp_path / "worker.log").read_text()
        end = time.monotonic() + 60
        body = ""
        while time.monotonic() < end:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                    body = response.read().decode()
                if 'runwright_runs_total{runner="local",status="success"} 1.0' in body:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        assert 'runwright_runs_total{runner="local",status="success"} 1.0' in body, body[-2000:]
        assert "runwright_run_duration_seconds_bucket" in body
    finally:
        worker.terminate()
        worker.wait(30)
