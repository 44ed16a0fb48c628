"""The local cluster's scripts judge their recorded pids right: start.sh must not take a
component it has just forked, which has not exec'd yet, for one that exited (a loaded CI machine
failed every Kubernetes test with "apiserver exited" and an empty apiserver.log), nor take a
reused pid for one of its components."""

from __future__ import annotations

import subprocess
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent / "infra" / "k8s"


def _bash(script: str, state: Path) -> str:
    out = subprocess.run(
        ["bash", "-c", f'. "{SCRIPTS}/env.sh"; . "{SCRIPTS}/pids.sh"; mkdir -p "$K"; {script}'],
        env={"PATH": "/usr/bin:/bin", "RUNWRIGHT_K8S_DIR": str(state)},
        capture_output=True, text=True, timeout=60, check=True)
    return out.stdout.split()


def test_a_child_not_yet_running_its_component_is_alive(tmp_path: Path) -> None:
    # `sleep` stands for the forked child before its exec: its command line does not name $K.
    said = _bash('sleep 30 & echo $! > "$K/apiserver.pid"; alive apiserver && echo alive; kill $!', tmp_path)
    assert said == ["alive"]


def test_a_reused_pid_is_not_a_component_and_ours_is(tmp_path: Path) -> None:
    said = _bash(
        'echo 1 > "$K/kcm.pid"; alive kcm || echo reused;'
        # a component running with our directory on its command line; it writes its own pid
        # once it runs, so the check below cannot see it before its exec
        ' python3 -c "import os, sys, time; open(sys.argv[1] + \'/etcd.p\', \'w\').write(str(os.getpid()));'
        ' time.sleep(30)" "$K" & until [[ -s $K/etcd.p ]]; do sleep 0.05; done; p=$(cat "$K/etcd.p");'
        ' ours $p && echo ours;'
        ' echo 999999999 > "$K/sched.pid"; alive sched || echo gone; kill $p', tmp_path)
    assert said == ["reused", "ours", "gone"]
