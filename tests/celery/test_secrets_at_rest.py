"""What a queued run leaves behind on the embedded broker and in a worker's log, and what its
command can see of the worker: a real `runwright worker` on the embedded SQLite broker."""

from __future__ import annotations

import base64
import os
import sqlite3
import subprocess
from pathlib import Path

from tests.infra.workers import RUNWRIGHT, stop_worker

SECRET = "qz-Secret-Value-8841"
WORKER_SECRET = "worker-own-credential-5512"


def forms(secret: str) -> list[bytes]:
    """The secret as bytes and as it looks inside base64 (kombu's body encoding), at each of
    the three alignments (the middle characters, which do not depend on the neighbours)."""
    raw = secret.encode()
    return [raw, *(base64.b64encode(b"\0" * pad + raw)[4:-4] for pad in range(3))]


def on_disk(path: Path, secret: str) -> bool:
    data = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    return any(form in data for form in forms(secret))


def test_no_secret_outlives_the_run_on_disk_or_in_the_workers_log(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNWRIGHT_", "DATABASE_URL"))}
    env["RUNWRIGHT_HOME"] = str(tmp_path)
    worker_env = {**env, "CLOUD_API_TOKEN": WORKER_SECRET}
    log = tmp_path / "worker.log"
    with open(log, "wb") as fh:
        worker = subprocess.Popen([RUNWRIGHT, "worker", "--concurrency", "1", "--loglevel", "debug"], env=worker_env,
                                  stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out = subprocess.run(
            [RUNWRIGHT, "submit", "--wait", "--secret", f"DEPLOY_TOKEN={SECRET}", "--",
             "sh", "-c", 'echo "token $DEPLOY_TOKEN"; echo "cloud ${CLOUD_API_TOKEN:-unset}"; echo "path $PATH"'],
            env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, (out.stderr, log.read_text(errors="replace")[-3000:])
        lines = out.stdout.splitlines()
        assert lines[1:3] == ["token ***", "cloud unset"], "the worker's own variables stay out of commands"
        assert lines[3].startswith("path /"), "the allow-list passes PATH on"
        # The message is gone from the broker's database, and its bytes with it.
        broker = tmp_path / "broker.sqlite3"
        with sqlite3.connect(broker) as db:
            assert db.execute("SELECT count(*) FROM kombu_message").fetchone() == (0,)
        assert not on_disk(broker, SECRET)
        assert not on_disk(tmp_path / "runwright.sqlite3", SECRET)
        assert not on_disk(tmp_path / "runwright.sqlite3", WORKER_SECRET)
    finally:
        stop_worker(worker)
    text = log.read_text(errors="replace")
    assert "runwright.run" in text, "the debug log shows the task"
    assert SECRET not in text and WORKER_SECRET not in text


def test_the_data_directory_and_the_embedded_broker_are_private(tmp_path: Path) -> None:
    """broker.sqlite3 holds pending runs' unmasked specs: the owner's only, as the key file is,
    whatever the umask; one made readable by an earlier version is narrowed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNWRIGHT_", "DATABASE_URL"))}
    home = tmp_path / "home"
    env["RUNWRIGHT_HOME"] = str(home)

    def submit() -> None:  # queued only: no worker needed to write the message to the broker file
        out = subprocess.run(["sh", "-c", 'umask 022; exec "$0" "$@"', RUNWRIGHT, "submit", "--secret",
                              f"DEPLOY_TOKEN={SECRET}", "--", "true"], env=env, capture_output=True, text=True,
                             timeout=120)
        assert out.returncode == 0, out.stderr

    submit()
    assert oct(home.stat().st_mode & 0o777) == "0o700"
    files = {p.name: oct(p.stat().st_mode & 0o777) for p in home.iterdir() if ".sqlite3" in p.name or p.name == "secret_key"}
    assert {"broker.sqlite3", "runwright.sqlite3", "secret_key"} <= set(files)
    assert files == dict.fromkeys(files, "0o600"), files

    (home / "broker.sqlite3").chmod(0o644)
    submit()
    assert oct((home / "broker.sqlite3").stat().st_mode & 0o777) == "0o600"
