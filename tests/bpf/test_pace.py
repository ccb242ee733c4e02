"""Paced timing (writes.c: wtop_pace): a storm of data calls on a CPU is counted in full and
timed in part, one call in 2 to 8; calls further apart are all timed again at once; and
--time-every-call (ProbeOptions.pace False) times every one. Real probes, real writers."""

from __future__ import annotations

import os
import time

import pytest

from outlets.batch import text_block
from probes import runstate
from probes.live import LiveSource
from probes.program import PACE_GAP_NS, PACE_NOTE, PACE_RUN, ProbeOptions
from probes.snapshot import Log2Histogram
from tests.bpf.test_paths import zombie

pytestmark = pytest.mark.bpf

STORM = 100_000
"""64-byte writes to /dev/null, back to back: about half a microsecond apart here, far less
than the 2 us that makes a storm."""


def latency_line(s) -> str:
    """The --batch text's latency line of this interval."""
    return next(x for x in text_block(s, runstate.merge([s]), 5).splitlines() if x.startswith("latency "))


def one_cpu() -> set[int]:
    return {min(os.sched_getaffinity(0))}


def storm(spawn, name: bytes, count: int = STORM, **kw):
    """A writer of `count` 64-byte writes, pinned to one CPU (the pace is a CPU's), run to its
    end; whether its calls came close enough together to be a storm: under half PACE_GAP_NS
    each on average, start-up included (here about 0.5 us each; a machine too slow for that
    has every call timed, as it should); and the kernel's accounting of it at its end."""
    w = spawn(name, 64, count, "/dev/null", **kw)
    os.sched_setaffinity(w.pid, one_cpu())
    t0 = time.perf_counter()
    w.go()
    io = zombie(w.proc, poll=0.001)  # ended, not yet reaped: its /proc/PID/io holds all it did
    stormy = (time.perf_counter() - t0) * 1e9 / count < PACE_GAP_NS / 2
    assert w.wait(60) == 0
    return w, stormy, io


@pytest.mark.parametrize("pace", [True, False], ids=["paced", "every call timed"])
def test_a_storm_is_counted_in_full_and_timed_in_part(spawn, pace):
    with LiveSource(ProbeOptions(comm="wtop-storm", pace=pace)) as src:
        src.sample()
        w, stormy, io = storm(spawn, b"wtop-storm")
        s = src.sample()
    (row,) = [p for p in s.processes if p.pid == w.pid]
    assert (row.bytes, row.writes, row.errors) == (io["wchar"], io["syscw"], 0) == (64 * STORM, STORM, 0)
    assert s.sizes.counts[Log2Histogram.bucket_of(64)] == STORM and s.sizes.total == STORM
    assert s.family("write").calls == STORM and s.skipped.no_entry == 0
    timed = s.latency.total
    if pace:
        # each timed call is followed by at most 7 untimed ones (only the writer's calls pass
        # the name filter, so only they move the pace), and the first PACE_RUN are all timed
        assert STORM // 8 <= timed <= STORM and timed >= PACE_RUN
        assert timed < STORM or not stormy
        assert PACE_NOTE in s.notes
        assert timed == STORM or f"(timed {timed:,} of {STORM:,} calls)" in latency_line(s)
    else:
        assert timed == STORM
        assert PACE_NOTE not in s.notes
        line = latency_line(s)
        assert "timed" not in line


def test_calls_after_a_storm_are_timed_again(spawn):
    """The countdown a storm leaves on its CPU lets at most 7 calls go untimed; the first timed
    one after sees the storm is over, and every call after it is timed."""
    with LiveSource(ProbeOptions(comm="wtop-after")) as src:
        src.sample()
        _, stormy, _ = storm(spawn, b"wtop-after")
        s = src.sample()
        assert s.latency.total < STORM or not stormy  # it was paced
        slow = spawn(b"wtop-after", 64, 1, "/dev/null", period_ms=5, repeats=40)  # 40 writes, 5 ms apart
        os.sched_setaffinity(slow.pid, one_cpu())
        slow.go()
        assert slow.wait(60) == 0
        s = src.sample()
    (row,) = [p for p in s.processes if p.pid == slow.pid]
    assert row.writes == 40 and s.family("write").calls == 40
    assert 40 - 7 <= s.latency.total <= 40


def test_a_short_burst_is_timed_in_full(spawn):
    """Fewer than PACE_RUN calls in a row, however close together, are all timed: a program
    writing a few lines at once is not a storm."""
    with LiveSource(ProbeOptions(comm="wtop-burst")) as src:
        src.sample()
        for _ in range(3):
            storm(spawn, b"wtop-burst", count=PACE_RUN // 2)
        s = src.sample()
    assert s.family("write").calls == 3 * (PACE_RUN // 2) == s.latency.total
