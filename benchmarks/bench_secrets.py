"""Output throughput of a run with 0, 1 and 20 secrets to mask, side by side in one process.

Each case runs ``cat FILE`` through LocalRunner (output masked, counted into the tails, sent
to a reporter that drops it), with 64 KiB reads and with small 4 KiB reads
(``read_size``). The output is log-like text, and in a second table base64 text, the worst
case for the automaton's prefilter (secrets and output share one alphabet).

    python -m benchmarks.bench_secrets [--mib 128] [--rounds 3]
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import statistics
import tempfile
import time

from benchmarks.common import table
from runwright.runners import RunSpec
from runwright.runners.events import NullReporter
from runwright.runners.local import LocalRunner


def secret_sets() -> dict[str, list[str]]:
    rnd = random.Random(42)

    def token(n: int) -> str:
        return "".join(rnd.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") for _ in range(n))

    pem = "-----BEGIN PRIVATE KEY-----\n" + "\n".join(token(64) for _ in range(50)) + "\n-----END PRIVATE KEY-----\n"
    return {
        "0 secrets": [],
        "1 secret (40 B)": [token(40)],
        "20 secrets (200 B)": [token(200) for _ in range(20)],
        "20 secrets (2 KiB)": [token(2048) for _ in range(20)],
        "PEM key (3.2 KiB)": [pem],
    }


def log_text(size: int) -> bytes:
    rnd = random.Random(1)
    words = ["building", "module", "compiling", "ok", "warning:", "deploy", "main", "branch", "step", "of", "done"]
    lines, total = [], 0
    while total < size:
        line = f"2026-11-29T10:{rnd.randint(0, 59):02d} [{rnd.randint(1, 999):03d}] " + " ".join(
            rnd.choice(words) for _ in range(rnd.randint(4, 14))) + f" id={rnd.getrandbits(64):x}\n"
        lines.append(line)
        total += len(line)
    return "".join(lines).encode()[:size]


def measure(path: str, secrets: list[str], read_size: int, size: int) -> float:
    spec = RunSpec(["cat", path], secrets=secrets, options={"read_size": read_size})
    t0 = time.perf_counter()
    result = LocalRunner().run(spec, NullReporter())
    elapsed = time.perf_counter() - t0
    assert result.stdout_bytes == size, result
    return size / elapsed / 2**20


def run_table(title: str, data: bytes, rounds: int) -> str:
    with tempfile.NamedTemporaryFile(prefix="rw-bench-", delete=False) as fh:
        fh.write(data)
        path = fh.name
    try:
        sets = secret_sets()
        rows = []
        speeds: dict[tuple[str, int], list[float]] = {}
        for _ in range(rounds):  # interleaved: a noisy moment hits every case alike
            for name, secrets in sets.items():
                for read_size in (65536, 4096):
                    speeds.setdefault((name, read_size), []).append(measure(path, secrets, read_size, len(data)))
        for name in sets:
            row = [name]
            for read_size in (65536, 4096):
                mib = statistics.median(speeds[(name, read_size)])
                base = statistics.median(speeds[("0 secrets", read_size)])
                row += [f"{mib:.0f} MiB/s", f"{mib / base:.2f}x"]
            rows.append(row)
        return f"{title}\n\n" + table(
            ["secrets", "64 KiB reads", "ratio", "4 KiB reads", "ratio"], rows)
    finally:
        os.unlink(path)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    size = args.mib * 2**20
    print(run_table(f"Log text, {args.mib} MiB", log_text(size), args.rounds))
    print()
    b64 = base64.b64encode(random.Random(2).randbytes(size * 3 // 4 + 3))[:size]
    print(run_table(f"base64 text (worst case), {args.mib} MiB", b64, args.rounds))


if __name__ == "__main__":
    main()
