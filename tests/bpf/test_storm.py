"""Event storms: flat-out threads plus thousands of short-lived processes."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.bpf


def test_map_overflow_under_churn_is_counted_exactly(spawn, churn_bin):
    """With a 64-entry process map and ~1,000 new processes an interval, every write is either
    attributed to its process or counted as skipped (map full): nothing silently lost."""
    flat = spawn(b"flatout", 64, 10**12, threads=4)  # load on the same tracepoints, filtered out
    flat.go()
    wtop = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "--json", "--map-size", "64", "-c", "stormchild", "0.5", "14"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    time.sleep(2.0)  # loaded and sampling
    churn = subprocess.run([churn_bin, "stormchild", "2000", "3"], capture_output=True, text=True, timeout=60)
    made = int(churn.stdout)
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
