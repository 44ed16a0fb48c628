"""`runwright serve` for the browser tests: its own embedded database, users with given
permissions, Redis as the channel layer so runs of other processes (the CLI) reach browsers,
and headless Chromium driven by Playwright (Debian's chromium, never a downloaded browser)."""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
RUNWRIGHT = str(Path(sys.executable).with_name("runwright"))

USERS_SCRIPT = """
from runwright.integrations.web.standalone import configure
configure()
from django.contrib.auth.models import Permission, User
def user(name, *perms):
    u, _ = User.objects.get_or_create(username=name)
    u.set_password("pw"); u.save()
    for p in perms:
        u.user_permissions.add(Permission.objects.get(content_type__app_label="runwright", codename=p))
user("viewer", "view_execution")
user("nobody")
admin = User.objects.get_or_create(username="admin")[0]
admin.is_superuser = admin.is_staff = True; admin.set_password("pw"); admin.save()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Site:
    url: str
    home: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]

    def run(self, *argv: str) -> subprocess.Popen[bytes]:
        """``runwright run -- argv`` recorded in the site's database, as a user would."""
        return subprocess.Popen([RUNWRIGHT, "run", "--", *argv], env=self.env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def execution_id(self, marker: str, deadline: float = 30.0) -> int:
        """The id of the execution whose command contains ``marker``, once it is recorded."""
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            with sqlite3.connect(self.home / "runwright.sqlite3", timeout=30) as db:
                row = db.execute("SELECT id FROM runwright_execution WHERE command LIKE ? ORDER BY id DESC",
                                 (f"%{marker}%",)).fetchone()
            if row:
                return int(row[0])
            time.sleep(0.05)
        raise TimeoutError(f"no execution with {marker!r} in its command")


def start_site(home: Path, redis_url: str | None) -> Site:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "RUNWRIGHT_BROKER_URL", "RUNWRIGHT_CHANNEL_LAYER_URL")}
    env["RUNWRIGHT_HOME"] = str(home)
    if redis_url:
        env["RUNWRIGHT_CHANNEL_LAYER_URL"] = redis_url
    subprocess.run([sys.executable, "-c", USERS_SCRIPT], env=env, check=True, timeout=120)
    port = free_port()
    log = open(home / "serve.log", "wb")  # noqa: SIM115 (closed with the process)
    process = subprocess.Popen([RUNWRIGHT, "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    end = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/accounts/login/", timeout=5) as response:
                if response.status == 200:
                    break
        except OSError:
            if process.poll() is not None or time.monotonic() > end:
                raise RuntimeError(f"runwright serve did not start: {(home / 'serve.log').read_text()}") from None
            time.sleep(0.1)
    return Site(url, home, env, process)


def stop_site(site: Site) -> None:
    site.process.terminate()
    try:
        site.process.wait(10)
    except subprocess.TimeoutExpired:
        site.process.kill()
        site.process.wait()


def chromium_available() -> bool:
    return shutil.which(CHROMIUM) is not None or os.path.exists(CHROMIUM)


def login(page: object, site: Site, user: str) -> None:
    page.goto(f"{site.url}/accounts/login/")  # type: ignore[attr-defined]
    page.fill("#id_username", user)  # type: ignore[attr-defined]
    page.fill("#id_password", "pw")  # type: ignore[attr-defined]
    page.click("#login")  # type: ignore[attr-defined]
    page.wait_for_url(f"{site.url}/")  # type: ignore[attr-defined]
