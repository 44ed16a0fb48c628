"""The real Docker engine and registry the Docker tests use, started here when needed.

The engine is Debian's `docker.io` (`dockerd`, no special flags); images are made locally
from busybox-static (no registry is reachable); the registry is Debian's `docker-registry`
on 127.0.0.1 with htpasswd authentication. `.ci/run` installs the packages.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

BUSYBOX = "runwright-test/busybox:latest"
STATE = Path(tempfile.gettempdir()) / "runwright-dockerd"


class InfraError(RuntimeError):
    pass


def _engine_up() -> bool:
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


def ensure_engine() -> None:
    """Start dockerd unless an engine already answers; fail with the reason otherwise."""
    if shutil.which("docker") and _engine_up():
        return
    if not shutil.which("dockerd"):
        raise InfraError("the Docker tests need dockerd: apt-get install docker.io (.ci/run does this)")
    STATE.mkdir(exist_ok=True)
    log = open(STATE / "dockerd.log", "ab")  # noqa: SIM115 - handed to the daemon
    proc = subprocess.Popen(["dockerd"], stdout=log, stderr=log, start_new_session=True)
    (STATE / "dockerd.pid").write_text(str(proc.pid))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if _engine_up():
            return
        if proc.poll() is not None:
            raise InfraError(f"dockerd exited with {proc.returncode}; see {STATE / 'dockerd.log'}")
        time.sleep(0.2)
    raise InfraError(f"dockerd did not answer within 60 s; see {STATE / 'dockerd.log'}")


def ensure_busybox_image() -> str:
    """A busybox image made from the host's busybox-static, by `docker import`."""
    if subprocess.run(["docker", "image", "inspect", BUSYBOX], capture_output=True).returncode == 0:
        return BUSYBOX
    busybox = shutil.which("busybox") or "/bin/busybox"
    if not os.path.exists(busybox):
        raise InfraError("the Docker tests need busybox-static: apt-get install busybox-static (.ci/run does this)")
    with tempfile.TemporaryDirectory() as root:
        for d in ("bin", "etc", "tmp", "proc", "sys", "dev", "root"):
            os.makedirs(f"{root}/{d}")
        os.chmod(f"{root}/tmp", 0o1777)
        shutil.copy(busybox, f"{root}/bin/busybox")
        applets = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True).stdout.split()
        for applet in applets:
            if applet != "busybox":
                os.symlink("busybox", f"{root}/bin/{applet}")
        Path(f"{root}/etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n")
        Path(f"{root}/etc/group").write_text("root:x:0:\nnogroup:x:65534:\n")
        tar = subprocess.Popen(["tar", "-C", root, "-c", "."], stdout=subprocess.PIPE)
        subprocess.run(["docker", "import", "-c", "ENV PATH=/bin", "-c", 'CMD ["/bin/sh"]', "-", BUSYBOX],
                       stdin=tar.stdout, check=True, capture_output=True)
        tar.wait()
    return BUSYBOX


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Registry:
    """Debian's docker-registry on 127.0.0.1 with one htpasswd user."""

    def __init__(self, user: str = "ci-bot", password: str = "Reg1stry-Pa55") -> None:
        if not shutil.which("docker-registry") or not shutil.which("htpasswd"):
            raise InfraError("the registry tests need docker-registry and apache2-utils (.ci/run installs them)")
        self.user, self.password = user, password
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.dir = Path(tempfile.mkdtemp(prefix="rw-registry-"))
        htpasswd = subprocess.run(["htpasswd", "-Bbn", user, password], capture_output=True, text=True, check=True)
        (self.dir / "htpasswd").write_text(htpasswd.stdout)
        (self.dir / "config.yml").write_text(
            "version: 0.1\n"
            f"storage:\n  filesystem:\n    rootdirectory: {self.dir}/data\n"
            f"http:\n  addr: {self.address}\n"
            f"auth:\n  htpasswd:\n    realm: runwright-tests\n    path: {self.dir}/htpasswd\n"
        )
        log = open(self.dir / "registry.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(["docker-registry", "serve", str(self.dir / "config.yml")], stdout=log, stderr=log)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            if self.proc.poll() is not None:
                raise InfraError(f"docker-registry exited; see {self.dir / 'registry.log'}")
            time.sleep(0.1)
        raise InfraError("docker-registry did not listen within 20 s")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)
