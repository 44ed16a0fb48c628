"""runwright installs under one name: nothing generic lands in a user's site-packages, and
no module of runwright imports the repository's folders by their bare names (which would
load a second copy of each module)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BARE = {"runners", "logging_core", "integrations"}


def _bare_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        found += [f"{path.relative_to(ROOT)}:{node.lineno}: {n}" for n in names if n.split(".")[0] in BARE]
    return found


def test_no_source_imports_a_bare_top_level_name() -> None:
    offenders = []
    for folder in ("runners", "logging_core", "integrations", "tests", "benchmarks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            offenders += _bare_imports(path)
    assert offenders == []


def test_installed_package_exposes_only_runwright(tmp_path: Path) -> None:
    # From a directory that is not the checkout, as a user's project imports it.
    code = (
        "import importlib.util, runwright.runners, runwright.logging_core, runwright.integrations.django;"
        "print([n for n in ('runners', 'logging_core', 'integrations') if importlib.util.find_spec(n)])"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
