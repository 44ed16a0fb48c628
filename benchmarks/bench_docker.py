"""DockerRunner vs the Docker SDK called directly vs the `docker run` CLI, and container
output throughput with runwright's peak RSS.

    python -m benchmarks.bench_docker [--runs 30] [--mb 200]

Needs a running engine and the test image (`python -c "from tests.infra.docker_engine import *;
ensure_engine(); ensure_busybox_image()"` makes both).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from benchmarks.common import table, timed_rounds
from tests.infra.docker_engine import ensure_busybox_image, ensure_engine

THROUGHPUT = r"""
import json, resource, sys, time
size, image, case = int(sys.argv[1]), sys.argv[2], sys.argv[3]
cmd = ["head", "-c", str(size), "/dev/zero"]
t0 = time.perf_counter()
if case == "runwright":
    from runwright.runners import RunSpec
    from runwright.runners.docker_container import DockerRunner
    from runwright.runners.events import NullReporter
    r = DockerRunner().run(RunSpec(cmd, runner="docker", options={"image": image}), NullReporter())
    n = r.stdout_bytes
else:
    import docker
    client = docker.from_env()
    c = client.containers.create(image, cmd)
    frames = client.api.attach(c.id, stdout=True, stderr=True, stream=True, demux=True)
    c.start(); n = 0
    for out, err in frames:
        n += len(out or b"")
    c.wait(); c.remove(force=True)
elapsed = time.perf_counter() - t0
assert n == size, n
print(json.dumps({"seconds": elapsed, "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--mb", type=int, default=200)
    args = parser.parse_args()
    ensure_engine()
    image = ensure_busybox_image()

    import docker

    from runwright.runners import RunSpec
    from runwright.runners.docker_container import DockerRunner
    from runwright.runners.events import NullReporter

    client = docker.from_env()
    runner, spec, sink = DockerRunner(), RunSpec(["true"], runner="docker", options={"image": image}), NullReporter()
    cases = {
        "docker SDK: containers.run(remove=True)": lambda: client.containers.run(image, ["true"], remove=True),
        "DockerRunner.run": lambda: runner.run(spec, sink),
        "docker run --rm (CLI)": lambda: subprocess.run(["docker", "run", "--rm", image, "true"], check=True,
                                                         capture_output=True),
    }
    per_run = timed_rounds(cases, args.runs)
    base = per_run["docker SDK: containers.run(remove=True)"]
    print(f"## Per-run time: `true` in a local busybox image, {args.runs} runs each, interleaved\n")
    print(table(["case", "ms per run", "ratio to the SDK"],
                [[k, f"{v * 1000:.0f}", f"{v / base:.2f}x"] for k, v in per_run.items()]))

    size = args.mb * 1_000_000
    rows = []
    results = {}
    for case, label in (("sdk", "docker SDK attach loop, bytes counted"), ("runwright", "DockerRunner -> discarding sink")):
        out = subprocess.run([sys.executable, "-c", THROUGHPUT, str(size), image, case], capture_output=True, text=True,
                             check=True)
        results[case] = json.loads(out.stdout.strip().splitlines()[-1])
        r = results[case]
        rows.append([label, f"{size / r['seconds'] / 1e6:.0f}", f"{results['sdk']['seconds'] / r['seconds']:.2f}x",
                     f"{r['rss_mib']:.0f}"])
    print(f"\n## Output throughput: {args.mb} MB from a container\n")
    print(table(["case", "MB/s", "throughput vs SDK loop", "peak RSS of the process (MiB)"], rows))


if __name__ == "__main__":
    main()
