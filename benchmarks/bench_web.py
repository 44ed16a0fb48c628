"""The web UI's live log in a real headless Chromium (Debian's, through Playwright), against
`runwright logs --follow` reading the same run in the same moment:

- delay: from a line printed by a running command (its own time stamp) to the line appearing
  in the page's DOM (a MutationObserver), and to `logs --follow` printing it; the run prints
  ``--rate`` lines per second for ``--seconds``; `runwright serve` standalone, notifications
  through Redis (RUNWRIGHT_CHANNEL_LAYER_URL), the run recorded by `runwright run`;
- memory: a run printing ``--mb`` MiB of 100-byte lines as fast as it can (stored whole: the
  run raises its storage limit), followed by a page from start to end: the tab's JS heap and
  DOM nodes (Chrome's Performance metrics), and the renderer processes' peak RSS.

    python -m benchmarks.bench_web [--seconds 10] [--rate 10000] [--mb 1024]

Needs Redis on 127.0.0.1 and Debian's chromium.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.common import percentile, table
from tests.infra.web_site import CHROMIUM, CHROMIUM_FLAGS, RUNWRIGHT, login, start_site, stop_site

PRINTER = """
import sys, time
rate, seconds = int(sys.argv[1]), float(sys.argv[2])
time.sleep(1.0)  # the page and the follower connect meanwhile
per_tick, tick = max(1, rate // 100), 0.01
end = time.time() + seconds
n = 0
while time.time() < end:
    t0 = time.time()
    sys.stdout.write("".join(f"t={time.time():.6f} line {n + i:08d} {'x' * 20}\\n" for i in range(per_tick)))
    sys.stdout.flush()
    n += per_tick
    time.sleep(max(0.0, tick - (time.time() - t0)))
"""

OBSERVER = """() => {
  window.rwDelays = [];
  new MutationObserver(muts => {
    const now = Date.now() / 1000;
    for (const m of muts) for (const n of m.addedNodes) {
      const t = /^t=(\\d+\\.\\d+)/.exec(n.textContent || '');
      if (t) window.rwDelays.push(now - parseFloat(t[1]));
    }
  }).observe(document.getElementById('log'), {childList: true});
}"""

BIG_RUN = """
import sys
from runwright.integrations.django import setup
setup()
from runwright.logging_core import ExecutionLogger
from runwright.runners import RunSpec
mb = int(sys.argv[1])
code = f"# rw-bench-mem\\nimport sys\\nline = ('y' * 99 + '\\\\n') * 10486\\nfor _ in range({mb} * 1): sys.stdout.write(line)\\n"
ExecutionLogger(max_stored_bytes=(mb + 1) << 20).run(RunSpec([sys.executable, "-c", code], labels={"bench": "mem"}))
"""


def renderer_rss_mib() -> float:
    """The largest RSS among chromium's renderer processes, MiB."""
    out = subprocess.run(["ps", "-eo", "rss,args"], capture_output=True, text=True).stdout
    sizes = [int(line.split(None, 1)[0]) for line in out.splitlines()[1:]
             if "chromium" in line and "--type=renderer" in line]
    return max(sizes, default=0) / 1024


def follow_delays(site: Any, ref: int, out: list[float]) -> None:
    proc = subprocess.Popen([RUNWRIGHT, "logs", "--follow", str(ref)], env=site.env, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("t="):
            out.append(time.time() - float(line[2:19]))
    proc.wait()


def latency(site: Any, browser: Any, rate: int, seconds: float, follow: bool = True) -> dict[str, list[float]]:
    with tempfile.NamedTemporaryFile("w", suffix="_printer.py", delete=False) as fh:
        fh.write(PRINTER)
    run = site.run(sys.executable, fh.name, str(rate), str(seconds))
    ref = site.execution_id(Path(fh.name).name)
    page = browser.new_context().new_page()
    page.set_default_timeout(600_000)
    login(page, site, "viewer")
    page.goto(f"{site.url}/executions/{ref}/")
    page.evaluate(OBSERVER)
    cli: list[float] = []
    follower = threading.Thread(target=follow_delays, args=(site, ref, cli))
    if follow:
        follower.start()
    page.wait_for_function("window.rwLive.ended")
    run.wait()
    if follow:
        follower.join()
    browser_delays = page.evaluate("window.rwDelays")
    page.context.close()
    skip = int(rate * 0.5)  # the first half second: the page's tail and the follower's catch-up
    out = {"browser": browser_delays[skip:]}
    if follow:
        out["logs --follow"] = cli[skip:]
    return out


def memory(site: Any, browser: Any, mb: int) -> dict[str, float]:
    child = subprocess.Popen([sys.executable, "-c", BIG_RUN, str(mb)], env=site.env)
    end = time.monotonic() + 60
    ref = None
    while ref is None and time.monotonic() < end:
        try:
            ref = site.execution_id("rw-bench-mem", deadline=1)
        except TimeoutError:
            pass
    assert ref is not None
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(3_600_000)
    login(page, site, "viewer")
    rss_start = renderer_rss_mib()  # the login page: a renderer at rest
    t0 = time.monotonic()
    page.goto(f"{site.url}/executions/{ref}/")
    cdp = context.new_cdp_session(page)
    cdp.send("Performance.enable")
    peak = {"heap": 0.0, "rss": 0.0, "nodes": 0.0}
    while not page.evaluate("window.rwLive.ended"):
        metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
        peak["heap"] = max(peak["heap"], metrics["JSHeapUsedSize"] / 2**20)
        peak["nodes"] = max(peak["nodes"], metrics["Nodes"])
        peak["rss"] = max(peak["rss"], renderer_rss_mib())
        time.sleep(0.5)
    elapsed = time.monotonic() - t0
    child.wait()
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    received = page.evaluate("window.rwLive.offset")
    skipped = page.evaluate("window.rwLive.skipped || 0")
    rss_end = renderer_rss_mib()
    context.close()
    return {"received_mib": received / 2**20, "skipped_mib": skipped / 2**20, "rss_start": rss_start, "rss_end": rss_end,
            "seconds": elapsed, "heap_end": metrics["JSHeapUsedSize"] / 2**20,
            "heap_peak": peak["heap"], "nodes_end": metrics["Nodes"], "nodes_peak": peak["nodes"], "rss_peak": peak["rss"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rate", type=int, default=10_000)
    parser.add_argument("--mb", type=int, default=1024)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--no-follow", action="store_true", help="Measure the browser alone.")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    site = start_site(Path(tempfile.mkdtemp(prefix="rw-bench-web-")), args.redis)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            delays = latency(site, browser, args.rate, args.seconds, follow=not args.no_follow)
            rows = [[name, str(len(v)), f"{percentile(v, 50) * 1000:.0f}", f"{percentile(v, 95) * 1000:.0f}",
                     f"{max(v) * 1000:.0f}"] for name, v in delays.items()]
            print(f"\nDelay from print to display, {args.rate} lines/s for {args.seconds:g} s (ms)\n")
            print(table(["reader", "lines", "p50", "p95", "max"], rows))
            mem = memory(site, browser, args.mb)
            print(f"\nA run printing {args.mb} MiB followed by a page from start to end\n")
            print(table(["log MiB", "moved past (skip) MiB", "seconds", "JS heap end / peak MiB", "DOM nodes end / peak",
                         "renderer RSS at rest / peak / end MiB"],
                        [[f"{mem['received_mib']:.0f}", f"{mem['skipped_mib']:.0f}", f"{mem['seconds']:.0f}",
                          f"{mem['heap_end']:.1f} / {mem['heap_peak']:.1f}", f"{mem['nodes_end']:.0f} / {mem['nodes_peak']:.0f}",
                          f"{mem['rss_start']:.0f} / {mem['rss_peak']:.0f} / {mem['rss_end']:.0f}"]]))
            browser.close()
    finally:
        stop_site(site)


if __name__ == "__main__":
    main()
