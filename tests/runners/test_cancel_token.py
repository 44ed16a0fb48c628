"""The cancel token: set from any thread or from a signal handler, waited on without polling."""

from __future__ import annotations

import subprocess
import sys
import threading

from runwright.runners import CancelToken

# A signal handler cancels the token while the main thread is busy inside the token's own
# methods. A lock taken by cancel() deadlocks here as soon as the signal lands while the
# main thread holds it (the handler runs on the main thread, between two of its bytecodes).
SIGNAL_STORM = r"""
import signal
from runwright.runners import CancelToken

state = {"token": CancelToken(), "cancels": 0}

def handler(signum, frame):
    state["token"].cancel("signal")
    state["cancels"] += 1

signal.signal(signal.SIGALRM, handler)
signal.setitimer(signal.ITIMER_REAL, 0.0001, 0.0001)
fired = 0
for i in range(60000):
    token = state["token"]
    remove = token.on_cancel(lambda: None)
    token.fileno()
    token.wait(0)
    if token.cancelled:
        fired += 1
        remove()
        token.close()
        state["token"] = CancelToken()
    else:
        remove()
signal.setitimer(signal.ITIMER_REAL, 0, 0)
assert state["cancels"] > 100, state
print("ok", state["cancels"], fired)
"""


def test_cancel_from_a_signal_handler_never_deadlocks() -> None:
    done = subprocess.run([sys.executable, "-c", SIGNAL_STORM], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok")


def test_the_first_cancel_wins_and_callbacks_run_once() -> None:
    token = CancelToken()
    calls: list[str] = []
    token.on_cancel(lambda: calls.append("early"))
    threads = [threading.Thread(target=token.cancel, args=(f"reason {i}",), kwargs={"timed_out": i % 2 == 1})
               for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert token.cancelled and calls == ["early"]
    assert token.timed_out == (token.reason in {f"reason {i}" for i in range(1, 8, 2)})
    token.on_cancel(lambda: calls.append("late"))  # registered after: runs at once
    assert calls == ["early", "late"]
    assert token.wait(0) is True


def test_a_selector_wakes_on_a_cancel_made_before_or_after_it_asked_for_the_descriptor() -> None:
    import selectors

    for cancel_first in (True, False):
        token = CancelToken()
        if cancel_first:
            token.cancel()
        sel = selectors.DefaultSelector()
        sel.register(token.fileno(), selectors.EVENT_READ)
        if not cancel_first:
            threading.Thread(target=token.cancel).start()
        assert sel.select(120), "the token's descriptor never became readable"
        sel.close()
        token.close()


def test_wait_returns_when_cancelled_from_another_thread() -> None:
    token = CancelToken()
    threading.Thread(target=token.cancel, args=("elsewhere",)).start()
    assert token.wait(120) is True and token.reason == "elsewhere"
    assert CancelToken().wait(0.01) is False
