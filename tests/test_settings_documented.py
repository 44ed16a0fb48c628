"""Every RUNWRIGHT_* name the code reads is in the README's settings table (the table says it
lists every variable runwright reads)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _settings_table() -> str:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("\n## Settings\n")
    return readme[start : readme.index("\n## ", start + 1)]


def test_every_runwright_variable_the_code_reads_is_in_the_settings_table() -> None:
    used: set[str] = set()
    for folder in ("runners", "logging_core", "integrations"):
        for path in (ROOT / folder).rglob("*.py"):
            used |= set(re.findall(r"\bRUNWRIGHT_[A-Z0-9_]*[A-Z0-9]\b", path.read_text()))
    documented = set(re.findall(r"`(RUNWRIGHT_[A-Z0-9_]+)`", _settings_table()))
    # RUNWRIGHT_EXECUTION is a value (the default tag parameter), listed as such in the table.
    assert sorted(used - documented) == []
