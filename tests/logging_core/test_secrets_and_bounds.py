"""The sink's side of secrets and bounds: the logger's own secrets on runs, chunks never
larger than MAX_CHUNK whatever writes them, a NUL refused before anything is recorded."""

from __future__ import annotations

import pytest

from runwright.integrations.django.models import Execution, LogChunk
from runwright.logging_core import ExecutionLogger, MemoryStore
from runwright.logging_core.store import MAX_CHUNK
from runwright.runners import RunSpec, SpecError, Status


@pytest.mark.parametrize("store", [None, MemoryStore()], ids=["django", "memory"])
def test_logger_secrets_mask_runs_output_stored_spec_and_errors(store) -> None:  # type: ignore[no-untyped-def]
    logger = ExecutionLogger(store, secrets=["platform-s3cret"])
    spec = RunSpec(["sh", "-c", "echo token=platform-s3cret; echo platform-s3cret >&2; exit 3"],
                   labels={"note": "platform-s3cret"})
    result = logger.run(spec)
    ref = logger.list(limit=1)[0].id
    view = logger.get(ref)
    assert b"".join(c.data for c in logger.read_log(ref)) == b"token=***\n***\n"
    assert result.stdout_tail == "token=***\n" and view.labels == {"note": "***"}
    assert "platform-s3cret" not in repr(view)
    missing = logger.run(RunSpec(["/no/platform-s3cret/tool"]))
    assert missing.status == Status.ERROR and "platform-s3cret" not in missing.error and "***" in missing.error
    if store is None:
        row = Execution.objects.get(pk=ref)
        assert "platform-s3cret" not in str(row.spec) and "platform-s3cret" not in row.command


@pytest.mark.parametrize("store", [None, MemoryStore()], ids=["django", "memory"])
def test_a_large_legacy_append_reads_back_from_any_offset(store) -> None:  # type: ignore[no-untyped-def]
    logger = ExecutionLogger(store)
    ref = logger.create(RunSpec(["true"]))
    # A little over 3 MiB of text lines (the legacy log API appends lines of text).
    line = b"".join(bytes([b]) for b in range(32, 127)) + b"\n"
    data = line * (3 * MAX_CHUNK // len(line) + 7)
    logger.update_execution_logs(ref, data, append=True)
    assert logger.read_log(ref, 5)[0].offset == 5
    assert b"".join(c.data for c in logger.iter_log(ref, 5)) == data[5:]
    assert b"".join(c.data for c in logger.iter_log(ref, MAX_CHUNK + 3)) == data[MAX_CHUNK + 3 :]
    end = logger.store.log_end(ref)
    logger.update_execution_logs(ref, data[:-1], append=False)  # replace: same rule (stored after the old end)
    assert b"".join(c.data for c in logger.iter_log(ref, end + 1_000_000)) == data[1_000_000:-1]
    if store is None:
        sizes = LogChunk.objects.filter(execution_id=ref).values_list("data", flat=True)
        assert max(len(d) for d in sizes) <= MAX_CHUNK


def test_a_nul_in_env_or_labels_is_refused_before_anything_is_recorded() -> None:
    before = Execution.objects.count()
    for values in ({"env": {"A": "x\x00"}}, {"labels": {"k": "v\x00"}}):
        with pytest.raises(SpecError, match="NUL"):
            RunSpec(["true"], **values)
    assert Execution.objects.count() == before


def test_nul_and_non_utf8_in_a_stored_spec_are_shown_not_refused_by_the_database() -> None:
    logger = ExecutionLogger()
    spec = RunSpec(["printf", "%s", "caf\udce9"], options={}, stdin="a\x00b")
    result = logger.run(spec)
    ref = logger.list(limit=1)[0].id
    row = Execution.objects.get(pk=ref)
    assert result.status == Status.SUCCESS and b"".join(c.data for c in logger.read_log(ref)) == b"caf\xe9"
    assert row.spec["stdin"] == "a\u2400b" and "caf\\xe9" in row.command
