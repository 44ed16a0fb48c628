"""A real SSH server for the Ansible tests: Debian's openssh-server on a loopback port.

``ensure_packages`` installs what the tests need when it is missing (``openssh-server``,
``sshpass`` for password logins, ``sudo`` for the become path; .ci/run installs them too).
``SSHServer`` creates a test user with a generated password, a generated key pair and a
sudo rule that asks for the password, and runs ``sshd -D`` on 127.0.0.1 with a host key
and a configuration of its own (the machine's sshd, if any, is left alone).
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PACKAGES = ("openssh-server", "sshpass", "sudo")
SSHD = "/usr/sbin/sshd"
USER = "rw-ansible"


class InfraError(RuntimeError):
    pass


def ensure_packages() -> None:
    """apt-get install what is missing (the tests run as root, as CI does)."""
    missing = [p for p, path in zip(PACKAGES, (SSHD, "/usr/bin/sshpass", "/usr/bin/sudo"), strict=True)
               if not os.path.exists(path)]
    if not missing:
        return
    if os.geteuid() != 0:
        raise InfraError(f"the SSH tests need {', '.join(missing)}: apt-get install {' '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    locks = ["-o", "DPkg::Lock::Timeout=600", "-o", "Acquire::Lock::Timeout=600"]  # another apt may be running
    subprocess.run(["apt-get", *locks, "update", "-qq"], check=False, capture_output=True, env=env)
    done = subprocess.run(["apt-get", *locks, "install", "-y", "-qq", "--no-install-recommends", *missing],
                          capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise InfraError(f"apt-get install {' '.join(missing)} failed: {done.stderr.strip()[-500:]}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def closed_port() -> int:
    """A loopback port nothing listens on (for the unreachable path)."""
    return free_port()


class SSHServer:
    """sshd on 127.0.0.1:``port`` accepting ``user`` by ``private_key`` or ``password``;
    ``user`` may ``sudo`` with that password."""

    def __init__(self) -> None:
        ensure_packages()
        self.user = USER
        self.password = "Pw-" + secrets.token_urlsafe(12)
        self.dir = Path(tempfile.mkdtemp(prefix="rw-sshd-"))
        os.chmod(self.dir, 0o755)
        self._user()
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.dir / "host_key")], check=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "runwright-tests",
                        "-f", str(self.dir / "id_ed25519")], check=True)
        self.private_key = (self.dir / "id_ed25519").read_text()
        keys = self.dir / "authorized_keys"
        keys.mkdir(mode=0o755)
        (keys / self.user).write_text((self.dir / "id_ed25519.pub").read_text())
        os.chmod(keys / self.user, 0o644)
        self.port = free_port()
        (self.dir / "sshd_config").write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {self.dir}/host_key\nPidFile {self.dir}/sshd.pid\n"
            f"AuthorizedKeysFile {keys}/%u\nPasswordAuthentication yes\nKbdInteractiveAuthentication no\n"
            f"UsePAM no\nPermitRootLogin no\nAllowUsers {self.user}\nStrictModes no\nMaxStartups 50\n"
            "Subsystem sftp internal-sftp\n"
        )
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        log = open(self.dir / "sshd.log", "wb")  # noqa: SIM115 - handed to the daemon
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.dir / "sshd_config")], stdout=log, stderr=log,
                                     start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            if self.proc.poll() is not None:
                raise InfraError(f"sshd exited with {self.proc.returncode}: {(self.dir / 'sshd.log').read_text()[-800:]}")
            time.sleep(0.05)
        self.stop()
        raise InfraError("sshd did not listen within 20 s")

    def _user(self) -> None:
        if subprocess.run(["id", self.user], capture_output=True).returncode != 0:
            subprocess.run(["useradd", "-m", "-s", "/bin/bash", self.user], check=True, capture_output=True)
        subprocess.run(["chpasswd"], input=f"{self.user}:{self.password}\n", text=True, check=True, capture_output=True)
        rule = Path(f"/etc/sudoers.d/{self.user}")
        rule.write_text(f"{self.user} ALL=(ALL:ALL) ALL\n")
        os.chmod(rule, 0o440)

    def inventory(self, *, user: bool = True, python: str = "/usr/bin/python3") -> str:
        """An INI inventory with this server as host ``sshd`` (and its user, unless ``user``
        is False: the run then names it)."""
        who = f" ansible_user={self.user}" if user else ""
        # Host keys of this server go to a known_hosts file of its own: every test server has
        # a new host key, and a port used before by another one must not look like an attack
        # in the user's ~/.ssh/known_hosts.
        known = f"-o UserKnownHostsFile={self.dir}/known_hosts -o StrictHostKeyChecking=accept-new"
        return (f"sshd ansible_host=127.0.0.1 ansible_port={self.port}{who} ansible_python_interpreter={python} "
                f"ansible_ssh_common_args='{known}'\n")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
