"""Event storms: flat-out threads plus thousands of short-lived processes."""

from __future__ import annotations

import json
import signal
import subprocess

import pytest

from tests.conftest import start_wtop

pytestmark = pytest.mark.bpf


def test_map_overflow_under_churn_is_counted_exactly(spawn, churn_bin):
    """With a 64-entry process map and ~1,000 new processes an interval, every write is either
    attributed to its process or counted as skipped (map full): nothing silently lost."""
    flat = spawn(b"flatout", 64, 10**12, threads=4)  # load on the same tracepoints, filtered out
    flat.go()
    # attached before the first child starts, however long compiling takes under this load
    wtop = start_wtop("--json", "--map-size", "64", "-c", "stormchild", "0.5")
    churn = subprocess.run([churn_bin, "stormchild", "2000", "3"], capture_output=True, text=True, timeout=120)
    made = int(churn.stdout)
    wtop.send_signal(signal.SIGTERM)  # the last, partial interval is printed too
    out, err = wtop.communicate(timeout=60)
    flat.kill()
    assert wtop.returncode == 0, err
    lines = [json.loads(x) for x in out.decode().splitlines()]
    writes = sum(d["writes"] for d in lines)
    attributed = sum(p["writes"] for d in lines for p in d["processes"])
    map_full = sum(d["skipped"]["map_full"] for d in lines)
    assert made > 1000
    assert writes == 3 * made  # every write of every child, counted in the kernel
    assert map_full > 0  # the map did overflow
    assert attributed + map_full == writes  # and the skipped counter says exactly by how much
    assert sum(d["bytes"] for d in lines) == 300 * made
