"""The web UI in a real headless Chromium (Debian's, driven by Playwright): the live tail grows
while a run prints, survives a dropped connection with no gap or repeat, renders ANSI
colours, `\\r` progress and stderr; the list follows status changes; the permission rules
hold for pages and sockets. What the page shows is checked through the DOM."""

from __future__ import annotations

import os
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.infra.web_site import CHROMIUM, CHROMIUM_FLAGS, Site, chromium_available, login, start_site, stop_site


@pytest.fixture(autouse=True)
def _chromium() -> None:
    # The test suite skips nothing: without the browser these tests fail, saying what to install
    # (scripts/test.sh installs it).
    if not chromium_available():
        pytest.fail("the browser tests need Debian's chromium: apt-get install chromium (scripts/test.sh does this)",
                    pytrace=False)

LOG_TEXT = "document.querySelector('#log').textContent"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    started = start_site(tmp_path_factory.mktemp("web-site"), os.environ.get("RUNWRIGHT_TEST_REDIS", "redis://127.0.0.1:6379/0"))
    yield started
    stop_site(started)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield b
        b.close()


@pytest.fixture
def page_as(browser: Any, site: Site) -> Iterator[Any]:
    contexts = []

    def make(user: str | None) -> Any:
        context = browser.new_context()
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(60_000)
        if user:
            login(page, site, user)
        return page

    yield make
    for context in contexts:
        context.close()


def _gated_script(tmp: Path, body: str) -> tuple[str, Path]:
    """A Python script that prints, waiting between steps for gate files the test creates."""
    gate = tmp / f"gate-{uuid.uuid4().hex[:8]}-"
    script = tmp / f"printer_{uuid.uuid4().hex[:8]}.py"
    script.write_text("import os, sys, time\n"
                      "def wait(name):\n"
                      f"    while not os.path.exists({str(gate)!r} + name): time.sleep(0.02)\n"
                      + textwrap.dedent(body))
    return str(script), gate


def _open(gate: Path, name: str) -> None:
    Path(f"{gate}{name}").touch()


def test_live_tail_grows_renders_ansi_and_survives_a_dropped_connection(site: Site, page_as: Any, tmp_path: Path) -> None:
    script, gate = _gated_script(tmp_path, r"""
        print("\x1b[31mred words\x1b[0m plain \x1b[1;32mbold green\x1b[0m", flush=True)
        sys.stderr.write("to stderr\n"); sys.stderr.flush()
        for p in (10, 50, 100):
            sys.stdout.write(f"\rprogress {p}%"); sys.stdout.flush()
        sys.stdout.write("\n")
        for i in range(1, 6): print(f"line {i:05d}", flush=True)
        wait("1")
        for i in range(6, 11): print(f"line {i:05d}", flush=True)
        wait("2")
        for i in range(11, 3001): print(f"line {i:05d}", flush=True)
        wait("3")
    """)
    run = site.run(sys.executable, script)
    ref = site.execution_id(Path(script).name)
    page = page_as("viewer")
    page.goto(f"{site.url}/executions/{ref}/")
    page.wait_for_function(f"{LOG_TEXT}.includes('line 00005')")
    assert page.get_attribute("#status", "data-status") == "running"
    assert "line 00006" not in page.inner_text("#log")

    _open(gate, "1")  # the run prints more while the page is open: the tail grows
    page.wait_for_function(f"{LOG_TEXT}.includes('line 00010')")
    assert page.get_attribute("#status", "data-status") == "running"

    assert page.inner_text("#log span.ansi-fg-1") == "red words"
    assert page.inner_text("#log span.ansi-bold.ansi-fg-2") == "bold green"
    assert page.inner_text("#log .line.stream-e") == "to stderr"
    progress = page.eval_on_selector_all("#log .line", "els => els.map(e => e.textContent).filter(t => t.includes('progress'))")
    assert progress == ["progress 100%"], "\\r progress is shown as the line it ends as"

    page.evaluate("window.rwLive.socket.close()")  # the connection drops...
    _open(gate, "2")  # ...while the run prints 2,990 more lines
    page.wait_for_function(f"{LOG_TEXT}.includes('line 03000')")
    _open(gate, "3")
    page.wait_for_function("window.rwLive.ended && document.querySelector('#status').dataset.status === 'success'")
    assert run.wait(30) == 0
    lines = page.eval_on_selector_all("#log .line.stream-o", "els => els.map(e => e.textContent)")
    numbered = [t for t in lines if t.startswith("line ")]
    assert numbered == [f"line {i:05d}" for i in range(1, 3001)], "nothing lost, nothing repeated"
    assert page.evaluate("window.rwLive.reconnects") >= 1
    assert page.inner_text("[data-field=exit_code]") == "0"
    assert page.inner_text("[data-field=duration_display]").endswith(("ms", "s"))


def test_list_follows_status_changes(site: Site, page_as: Any, tmp_path: Path) -> None:
    script, gate = _gated_script(tmp_path, 'print("started", flush=True)\nwait("go")\n')
    page = page_as("viewer")
    page.goto(f"{site.url}/")
    page.wait_for_function("window.rwList.socket && window.rwList.socket.readyState === 1")
    run = site.run(sys.executable, script)
    ref = site.execution_id(Path(script).name)
    cell = f"(document.querySelector('tr[data-id=\"{ref}\"] [data-role=status]') || {{}}).textContent"
    page.wait_for_function(f"{cell} === 'running'")
    _open(gate, "go")
    page.wait_for_function(f"{cell} === 'success'")
    assert run.wait(30) == 0


SOCKET_PROBE = """(url) => new Promise(resolve => {
    const got = []; const ws = new WebSocket(url);
    ws.onmessage = e => got.push(e.data);
    ws.onclose = e => resolve({code: e.code, messages: got});
    setTimeout(() => { ws.close(); resolve({code: 'open', messages: got}); }, 5000);
})"""


def test_permissions_hold_for_pages_and_sockets(site: Site, page_as: Any, tmp_path: Path) -> None:
    script, gate = _gated_script(tmp_path, 'print("secret-free output", flush=True)\nwait("end")\n')
    run = site.run(sys.executable, script)
    ref = site.execution_id(Path(script).name)
    ws_url = f"ws://{site.url.split('://', 1)[1]}/ws/runwright/executions/{ref}/?offset=0"

    anonymous = page_as(None)
    anonymous.goto(f"{site.url}/executions/{ref}/")
    assert "/accounts/login/" in anonymous.url
    probe = anonymous.evaluate(SOCKET_PROBE, ws_url)
    assert probe["messages"] == [] and probe["code"] != "open", "an anonymous socket gets nothing"

    nobody = page_as("nobody")
    assert nobody.goto(f"{site.url}/executions/{ref}/").status == 403
    probe = nobody.evaluate(SOCKET_PROBE, ws_url)
    assert probe["messages"] == [] and probe["code"] != "open", "a socket without the view permission gets nothing"

    viewer = page_as("viewer")
    viewer.goto(f"{site.url}/executions/{ref}/")
    viewer.wait_for_function(f"{LOG_TEXT}.includes('secret-free output')")
    assert viewer.query_selector("#cancel") is None, "no cancel button without the cancel permission"
    token = next(c["value"] for c in viewer.context.cookies() if c["name"] == "csrftoken")
    forbidden = viewer.request.post(f"{site.url}/executions/{ref}/cancel", headers={"X-CSRFToken": token})
    assert forbidden.status == 403 and "CSRF" not in forbidden.text(), "refused for the permission, not the token"

    admin = page_as("admin")
    admin.goto(f"{site.url}/executions/{ref}/")
    admin.click("#cancel")
    viewer.wait_for_function("document.querySelector('#status').dataset.status === 'cancelled'")
    assert run.wait(30) != 0
    _open(gate, "end")
