"""The web UI's pages through Django's test client: permissions, filters, the detail page,
the download, cancel and re-run, statistics; the admin's rules; /metrics."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.utils import timezone

from runwright.integrations.django.models import Execution, ExecutionActive, LogChunk
from runwright.logging_core import ExecutionLogger
from runwright.runners import RunSpec


def _user(*perms: str, superuser: bool = False) -> Client:
    name = f"u-{uuid.uuid4().hex[:8]}"
    user = (User.objects.create_superuser if superuser else User.objects.create_user)(name, f"{name}@x.org", "pw")
    for perm in perms:
        user.user_permissions.add(Permission.objects.get(content_type__app_label="runwright", codename=perm))
    client = Client()
    assert client.login(username=name, password="pw")
    return client


@pytest.fixture
def viewer() -> Client:
    return _user("view_execution")


@pytest.fixture
def operator() -> Client:
    return _user("view_execution", "cancel_execution")


def _run(*argv: str, **kw: object) -> int:
    result = ExecutionLogger().run(RunSpec(list(argv), **kw))  # type: ignore[arg-type]
    return int(result.log_ref.rsplit("/", 1)[1])


def test_pages_need_the_view_permission() -> None:
    ref = _run("true")
    anonymous = Client()
    for url in ("/runwright/", f"/runwright/executions/{ref}/", f"/runwright/executions/{ref}/log", "/runwright/stats/"):
        page = anonymous.get(url)
        assert page.status_code == 302 and "login" in page["Location"], url
        assert _user().get(url).status_code == 403, url


def test_list_filters_by_status_runner_label_and_time(viewer: Client) -> None:
    tag = uuid.uuid4().hex[:8]
    ok = _run("echo", f"ok-{tag}", labels={"team": tag})
    bad = _run("sh", "-c", f"echo bad-{tag}; exit 3", labels={"team": tag})
    old = _run("echo", f"old-{tag}", labels={"team": tag})
    Execution.objects.filter(pk=old).update(created_at=timezone.now() - timedelta(days=3))
    page = viewer.get("/runwright/", {"label": f"team={tag}"}).content.decode()
    assert f'data-id="{ok}"' in page and f'data-id="{bad}"' in page and f'data-id="{old}"' in page
    failed = viewer.get("/runwright/", {"label": f"team={tag}", "status": "failed"}).content.decode()
    assert f'data-id="{bad}"' in failed and f'data-id="{ok}"' not in failed
    recent = viewer.get("/runwright/", {"label": f"team={tag}", "since": "1d", "runner": "local"}).content.decode()
    assert f'data-id="{ok}"' in recent and f'data-id="{old}"' not in recent
    assert "expected a duration like 30m" in viewer.get("/runwright/", {"since": "yesterday"}).content.decode()


def test_detail_masks_secrets_and_shows_times_with_zone(viewer: Client) -> None:
    ref = _run("sh", "-c", "echo token=hunter2-secret-value; sleep 1.2", secrets=["hunter2-secret-value"],
               env={"API_TOKEN": "hunter2-secret-value"})
    page = viewer.get(f"/runwright/executions/{ref}/").content.decode()
    assert "hunter2" not in page and "***" in page
    row = Execution.objects.get(pk=ref)
    local = timezone.localtime(row.started_at)
    assert f"{local:%Y-%m-%d %H:%M:%S} {local.tzname()}" in page, "times to the second, with the zone"
    assert "1.2 s" in page or "1.3 s" in page, "the duration in human units"
    assert 'id="cancel"' not in page and 'id="rerun"' not in page, "no cancel for a viewer, no re-run of a masked spec"


def test_the_page_starts_with_the_tail_of_a_huge_log_and_the_download_streams_all(viewer: Client) -> None:
    ref = _run("python3", "-c", "import sys\nfor i in range(60000): sys.stdout.write(f'line {i:06d}\\n')")
    page = viewer.get(f"/runwright/executions/{ref}/").content.decode()
    initial = json.loads(page.split('id="rw-initial" type="application/json">', 1)[1].split("</script>", 1)[0])
    text = "".join(part[1] for part in initial["log"]["c"])
    assert initial["truncated"] and text.startswith("line ") and text.endswith("line 059999\n")
    assert "line 000000" not in text and initial["log"]["to"] == 60000 * 12
    download = viewer.get(f"/runwright/executions/{ref}/log")
    assert download.streaming and download["Content-Disposition"].endswith('.log"')
    body = b"".join(download.streaming_content)
    assert body == b"".join(f"line {i:06d}\n".encode() for i in range(60000))


def test_cancel_needs_the_cancel_permission(viewer: Client, operator: Client) -> None:
    ref = ExecutionLogger().create(RunSpec(["sleep", "60"]))
    assert viewer.post(f"/runwright/executions/{ref}/cancel").status_code == 403
    assert Execution.objects.get(pk=ref).status == "pending"
    assert 'id="cancel"' in operator.get(f"/runwright/executions/{ref}/").content.decode()
    response = operator.post(f"/runwright/executions/{ref}/cancel")
    assert response.status_code == 302
    assert Execution.objects.get(pk=ref).status == "cancelled"


def test_rerun_of_a_spec_with_secrets_is_refused_with_a_reason() -> None:
    client = _user("view_execution", "add_execution")
    ref = _run("echo", "x", secrets=["abcdefgh-secret"], env={"DB_PASSWORD": "abcdefgh-secret"})
    before = Execution.objects.count()
    page = client.post(f"/runwright/executions/{ref}/rerun", follow=True).content.decode()
    assert "held secrets" in page and Execution.objects.count() == before


def test_statistics_page_shows_rates_durations_and_failure_reasons(viewer: Client) -> None:
    runner = f"r{uuid.uuid4().hex[:6]}"
    now = timezone.now()
    for i, (status, error) in enumerate([("success", ""), ("success", ""), ("failed", ""), ("error", "image missing")]):
        Execution.objects.create(runner=runner, status=status, error_message=error, exit_code=2 if status == "failed" else None,
                                 started_at=now + timedelta(seconds=1), finished_at=now + timedelta(seconds=1 + 10 * (i + 1)))
    page = viewer.get("/runwright/stats/", {"runner": runner, "since": "1h"}).content.decode()
    assert f'data-runner="{runner}"' in page and "50.0%" in page
    assert "error: image missing" in page and "failed: exit code 2" in page and "<svg" in page


def test_metrics_endpoint_serves_prometheus_text(viewer: Client) -> None:
    _run("true")
    body = Client().get("/runwright/metrics").content.decode()
    assert 'runwright_runs_total{runner="local",status="success"}' in body
    assert "runwright_run_duration_seconds_bucket" in body and "runwright_queue_wait_seconds" in body
    assert 'runwright_executions{runner="local",status="success"}' in body


def test_running_executions_cannot_be_deleted_anywhere() -> None:
    admin = _user(superuser=True)
    running = Execution.objects.create(status="running")
    done = Execution.objects.create(status="success")
    with pytest.raises(ExecutionActive):
        running.delete()
    assert admin.get(f"/admin/runwright/execution/{running.pk}/delete/").status_code == 403
    refused = admin.post("/admin/runwright/execution/", {"action": "delete_selected", "index": "0", "post": "yes",
                                                         "_selected_action": [running.pk, done.pk]})
    assert Execution.objects.filter(pk=running.pk).exists() and Execution.objects.filter(pk=done.pk).exists()
    assert refused.status_code == 403, "a batch holding a running execution is refused whole"
    admin.post("/admin/runwright/execution/", {"action": "delete_selected", "index": "0", "post": "yes",
                                               "_selected_action": [done.pk]})
    assert not Execution.objects.filter(pk=done.pk).exists()


def test_admin_record_is_read_only_and_shows_the_end_of_the_log() -> None:
    admin = _user(superuser=True)
    ref = _run("python3", "-c", "print('FIRST' + '-LINE'); print('x' * 100, flush=True)\n"
               "for i in range(4000): print(f'{i:099d}')\nprint('\\x1b[31mLAST-RED\\x1b[0m'); import sys; "
               "sys.stdout.write('progress 10%\\rprogress 100%\\n')")
    whole = admin.get(f"/admin/runwright/execution/{ref}/change/").content.decode()
    assert 'name="_save"' not in whole, "no Save on a read-only record"
    page = whole.split("<pre", 1)[1].split("</pre>", 1)[0]  # the log
    assert "LAST-RED" in page and "FIRST-LINE" not in page, "the end of the log, not the start"
    assert '<span style="color:#e55">LAST-RED</span>' in page, "ANSI colours rendered"
    assert "progress 100%" in page and "progress 10%" not in page, "\\r progress shown as the line it ends as"
    assert LogChunk.objects.filter(execution_id=ref).exists()
    # Times to the second with the zone, the duration in human units (not minutes, not a raw float).
    row = Execution.objects.get(pk=ref)
    local = timezone.localtime(row.started_at)
    assert f"{local:%Y-%m-%d %H:%M:%S} {local.tzname()}" in whole
    listing = admin.get("/admin/runwright/execution/").content.decode()
    created = timezone.localtime(row.created_at)
    assert f"{created:%Y-%m-%d %H:%M:%S} {created.tzname()}" in listing
    assert str(row.duration) not in listing and (" ms<" in listing or " s<" in listing), "a human duration"


def test_a_live_runs_json_counts_the_bytes_stored_so_far(viewer: Client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # Regression: the web JSON of a live run said stored_bytes 0 where the CLI, in the same
    # shape, said the bytes stored so far.
    import threading

    from runwright.integrations.execution_shape import execution_dict

    gate = tmp_path / "gate"
    logger = ExecutionLogger(flush_interval=0.05)
    spec = RunSpec(["sh", "-c", f"echo first line; while [ ! -e {gate} ]; do sleep 0.01; done"], timeout=120)
    ref = logger.create(spec)
    thread = threading.Thread(target=logger.run, args=(spec, ref), daemon=True)
    thread.start()
    try:
        deadline = timezone.now() + timedelta(seconds=60)
        while logger.store.log_end(ref) < len(b"first line\n") and timezone.now() < deadline:
            thread.join(0.05)  # the first line stored
        data = json.loads(viewer.get(f"/runwright/executions/{ref}/json").content)
        assert data["status"] == "running" and data["active"] is True
        assert data["stored_bytes"] == len(b"first line\n")
        cli_shape = execution_dict(logger.get(ref), logger.store.log_end(ref))  # what `list --json` prints
        assert {k: data[k] for k in cli_shape} == cli_shape
    finally:
        gate.touch()
        thread.join(60)
