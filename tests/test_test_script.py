"""The README's test command on a fresh machine: scripts/test.sh installs every service the
tests need (only what is missing), not only the Docker tools."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_on_a_machine_without_the_services_it_installs_them(tmp_path: Path) -> None:
    # A PATH with the shell tools the script uses, and an apt-get and dpkg-query of a machine
    # where none of the Debian packages is installed; apt-get notes what it was asked for.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "dirname", "id", "grep", "ls", "sort", "tail", "env"):
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    asked = tmp_path / "apt-get.log"
    (bin_dir / "apt-get").write_text(f'#!{shutil.which("bash")}\necho "$@" >> {asked}\n')
    (bin_dir / "dpkg-query").write_text(f"#!{shutil.which('bash')}\nexit 1\n")
    for fake in ("apt-get", "dpkg-query"):
        (bin_dir / fake).chmod(0o755)
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path), "RUNWRIGHT_TEST_SETUP_ONLY": "1"}
    out = subprocess.run([str(bin_dir / "bash"), str(ROOT / "scripts" / "test.sh")], env=env, capture_output=True,
                         text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    install = [line.split() for line in asked.read_text().splitlines() if " install " in f" {line} "]
    assert len(install) == 1, asked.read_text()
    assert {"postgresql", "redis-server", "rabbitmq-server", "docker.io", "docker-registry",
            "apache2-utils"} <= set(install[0]), install
    assert "== installing" in out.stdout
