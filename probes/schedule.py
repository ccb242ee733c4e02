"""A fixed-rate schedule that does not drift, for every loop that samples the probes."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator


def ticks(interval: float, stop: threading.Event, first: float | None = None) -> Iterator[int]:
    """Yield at start + first, then every interval after it, until stop is set.

    The deadlines are fixed (start + k * interval), so the time a sample takes does not
    accumulate; a tick that is missed entirely is skipped, keeping the phase.
    """
    deadline = time.monotonic() + (interval if first is None else min(first, interval))
    n = 0
    while True:
        if stop.wait(max(0.0, deadline - time.monotonic())):
            return
        n += 1
        yield n
        deadline += interval
        now = time.monotonic()
        if deadline < now:
            deadline += ((now - deadline) // interval + 1) * interval
