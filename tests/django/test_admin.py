"""The admin a platform's operators use: list with filters and search, and the log view."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth.models import User
from django.test import Client

from runwright.integrations.django.models import Execution
from runwright.logging_core import ExecutionLogger
from runwright.runners import RunSpec


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
    assert '<div style="color:#b00">err-line' in text, "stderr is marked"
    assert Execution.objects.filter(pk=ref).exists()
    assert admin_client.get("/admin/runwright/execution/add/").status_code == 403



def _changelist_queries(client: Client, rows: int) -> list[str]:
    """The SQL of listing ``rows`` executions, each with a 60 KB spec and result, in the admin."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from runwright.runners import Status

    logger = ExecutionLogger()
    marker, big = uuid.uuid4().hex[:10], "x" * 60_000
    for _ in range(rows):
        ref = logger.create(RunSpec(["echo", marker], env={"BIG": big}))
        logger.transition(ref, Status.RUNNING)
        logger.transition(ref, Status.SUCCESS, {"return_code": 0, "result": {"stdout_tail": big}})
    with CaptureQueriesContext(connection) as queries:
        page = client.get("/admin/runwright/execution/", {"q": marker})
    assert page.status_code == 200 and page.context_data["cl"].result_count == rows
    assert page.content.decode().count(f"<td class=\"field-short_command\">echo {marker}</td>") == rows
    return [q["sql"] for q in queries.captured_queries]


def test_changelist_reads_no_spec_nor_result_and_no_query_per_row(admin_client: Client) -> None:
    import re

    few, many = _changelist_queries(admin_client, 5), _changelist_queries(admin_client, 50)
    assert len(few) == len(many), "no query per row"
    read = {c for sql in many for c in re.findall(r'"runwright_execution"\."(\w+)"', sql.split(" FROM ", 1)[0])}
    assert "command" in read and not read & {"spec", "sealed_spec", "result"}
