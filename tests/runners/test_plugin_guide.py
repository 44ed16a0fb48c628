"""docs/plugins.md's minimal runner runs as written: installed from the guide's own files, it
works from the CLI and the library, and passes the contract suite as the guide says to run it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUIDE = (ROOT / "docs" / "plugins.md").read_text()
BIN = str(Path(sys.executable).parent / "runwright")


def block_after(label: str, lang: str) -> str:
    """The first ``lang`` code block after the line that names ``label``."""
    match = re.search(re.escape(label) + r".*?\n```" + lang + r"\n(.*?)\n```", GUIDE, re.S)
    assert match, f"docs/plugins.md has no {lang} block after {label}"
    return match.group(1) + "\n"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pkg = tmp_path_factory.mktemp("hello-runner")
    (pkg / "hello_runner.py").write_text(block_after("`hello_runner.py`", "python"))
    (pkg / "pyproject.toml").write_text(block_after("`pyproject.toml`", "toml"))
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(pkg)], check=True, capture_output=True)
    return target


def env_with(site: Path, tmp_path: Path) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), str(ROOT)]), RUNWRIGHT_HOME=str(tmp_path),
                COLUMNS="200")


def test_the_guides_runner_works_from_the_cli(site: Path, tmp_path: Path) -> None:
    env = env_with(site, tmp_path)
    shown = subprocess.run([BIN, "runners", "hello"], env=env, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and "greeting  string, default \"hello\": The word to greet with." in shown.stdout
    out = subprocess.run([BIN, "run", "-r", "hello", "-o", "greeting=hi", "--", "ada", "grace"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "hi, ada\nhi, grace\n" and "success" in out.stderr
    refused = subprocess.run([BIN, "run", "-r", "hello", "--", "nobody"], env=env, capture_output=True, text=True,
                             timeout=60)
    assert refused.returncode == 125 and "cannot greet nobody" in refused.stderr


def test_the_guides_library_snippet_runs(site: Path, tmp_path: Path) -> None:
    snippet = re.search(r"```python\n(from runwright.runners import RunSpec, run\n.*?)```", GUIDE, re.S)
    assert snippet
    out = subprocess.run([sys.executable, "-c", snippet.group(1)], env=env_with(site, tmp_path), capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr


def test_the_contract_suite_runs_on_it_as_the_guide_says(site: Path, tmp_path: Path) -> None:
    (tmp_path / "test_hello_contract.py").write_text(block_after("`test_hello_contract.py`", "python"))
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
                          str(tmp_path / "test_hello_contract.py")], env=env_with(site, tmp_path), capture_output=True,
                         text=True, timeout=600, cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-3000:]
    assert re.search(r"\d+ passed", out.stdout) and "failed" not in out.stdout
