"""The admin a platform's operators use: list with filters and search, and the log view."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth.models import User
from django.test import Client

from integrations.django.models import Execution
from logging_core import ExecutionLogger
from runners import RunSpec


@pytest.fixture
def admin_client() -> Client:
    name = f"ops-{uuid.uuid4().hex[:6]}"
    User.objects.create_superuser(name, f"{name}@example.com", "pw")
    client = Client()
    client.login(username=name, password="pw")
    return client


def test_changelist_filters_and_search(admin_client: Client) -> None:
    logger = ExecutionLogger()
    marker = uuid.uuid4().hex[:10]
    ok = logger.run(RunSpec(["echo", f"ok-{marker}"]))
    bad = logger.run(RunSpec(["sh", "-c", f"echo bad-{marker}; exit 2"]))
    assert ok.ok and not bad.ok
    page = admin_client.get("/admin/runwright/execution/", {"q": marker})
    assert page.status_code == 200
    text = page.content.decode()
    assert f"echo ok-{marker}" in text and f"echo bad-{marker}" in text
    assert "By status" in text and "By runner" in text
    failed_only = admin_client.get("/admin/runwright/execution/", {"q": marker, "status__exact": "failed"}).content.decode()
    assert f"echo bad-{marker}" in failed_only and f"echo ok-{marker}" not in failed_only


def test_change_page_shows_the_log_escaped(admin_client: Client) -> None:
    logger = ExecutionLogger()
    result = logger.run(RunSpec(["sh", "-c", "echo '<b>out</b>'; echo err-line >&2"]))
    ref = int(result.log_ref.rsplit("/", 1)[1])
    page = admin_client.get(f"/admin/runwright/execution/{ref}/change/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "&lt;b&gt;out&lt;/b&gt;" in text, "output is shown, HTML-escaped"
    assert '<span style="color:#b00">err-line' in text, "stderr is marked"
    assert Execution.objects.filter(pk=ref).exists()
    assert admin_client.get("/admin/runwright/execution/add/").status_code == 403
