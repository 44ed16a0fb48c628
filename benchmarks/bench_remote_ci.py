"""The jenkins runner's cost of following a console vs a hand-written follower, against the
same Jenkins API server on 127.0.0.1 (tests/infra/jenkins_server.py), in the same run.

    python -m benchmarks.bench_remote_ci [--mib 64] [--chunk-kib 256] [--rounds 5]

Both read ``logText/progressiveText`` from the previous ``X-Text-Size`` until ``X-More-Data``
is gone; the baseline is a bare ``requests`` loop that keeps the bytes' count, the runner does
everything a run does (trigger, queue item, python-jenkins, retries wrapper, UTF-8 carry,
masking, the watched thread, the result). Both pause 1 ms between polls (a real poll interval
is a second or more), so the figure is the per-byte and per-poll overhead, not Jenkins' pace.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

from benchmarks.common import table
from runwright.runners import NullReporter, RunSpec, get_runner
from tests.infra.jenkins_server import JenkinsServer, Script

JOB = "bench/console"
POLL = 0.001


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=64)
    parser.add_argument("--chunk-kib", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    chunk = ("déjà vu → " * (args.chunk_kib * 1024 // 14 + 1)).encode()[: args.chunk_kib * 1024]
    count = args.mib * 1024 // args.chunk_kib
    times: dict[str, list[float]] = {"requests loop": [], "jenkins runner": []}
    with JenkinsServer() as server:
        for _ in range(args.rounds):
            for case in times:
                server.add_job(JOB, Script(chunks=[chunk] * count, queue_polls=0))
                t0 = time.perf_counter()
                size = _baseline(server) if case == "requests loop" else _runner(server)
                times[case].append(time.perf_counter() - t0)
                assert size == len(chunk) * count, (case, size)
    base = statistics.median(times["requests loop"])
    rows = []
    for case, values in times.items():
        median = statistics.median(values)
        rows.append([case, f"{median:.3f}", f"{args.mib / median:.0f}", f"{median / base:.2f}x"])
    print(f"#### Jenkins console: {args.mib} MiB in {count} polls of {args.chunk_kib} KiB, median of {args.rounds} "
          "interleaved rounds")
    print(table(["case", "seconds", "MiB/s", "vs requests loop"], rows))


def _baseline(server: JenkinsServer) -> int:
    import requests

    session = requests.Session()
    session.auth = (server.user, server.token)
    crumb = session.get(server.url + "crumbIssuer/api/json").json()
    location = session.post(server.job_url(JOB) + "build", headers={crumb["crumbRequestField"]: crumb["crumb"]}).headers
    queue_url = location["Location"]
    while True:
        item = session.get(queue_url + "api/json").json()
        if item.get("executable"):
            break
    url = server.job_url(JOB) + f"{item['executable']['number']}/logText/progressiveText"
    offset = received = 0
    pause = threading.Event()
    while True:
        response = session.get(url, params={"start": offset})
        received += len(response.content)
        offset = int(response.headers["X-Text-Size"])
        if response.headers.get("X-More-Data") != "true":
            return received
        pause.wait(POLL)  # the same pause between polls as the runner's


def _runner(server: JenkinsServer) -> int:
    spec = RunSpec(runner="jenkins", options={"url": server.url, "job": JOB, "user": server.user, "token": server.token,
                                              "poll_interval": POLL, "max_poll_interval": POLL}, tail_bytes=1024)
    result = get_runner("jenkins").run(spec, NullReporter())
    assert result.status == "success", result.error
    return result.stdout_bytes


if __name__ == "__main__":
    main()
