"""A fixed-rate schedule that does not drift, and the one sampling loop every mode uses (the
dashboard's worker, batch, JSON and headless modes)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Protocol

from .snapshot import Snapshot


class Source(Protocol):
    def sample(self) -> Snapshot | None: ...


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


def samples(
    source: Source,
    interval: float,
    stop: threading.Event,
    count: int | None = None,
    first: float | None = None,
    final: bool = False,
) -> Iterator[Snapshot]:
    """Snapshots on the schedule until count intervals, the source ends (None), or stop is set;
    with final, a stop yields the partial interval too, as bpftrace prints its maps on Ctrl+C."""
    for n in ticks(interval, stop, first):
        snap = source.sample()
        if snap is None:
            return
        yield snap
        if count and n >= count:
            return
    if final and (snap := source.sample()) is not None:
        yield snap
