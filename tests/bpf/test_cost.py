"""What wtop costs, shown to the user: its own CPU and its probes' run time per event (the
kernel's bpf_stats, as bpftop shows them), in JSON, Prometheus and the screen."""

from __future__ import annotations

import contextlib
import json
import signal

import pytest

from tests.conftest import start_wtop

pytestmark = pytest.mark.bpf
STATS = "/proc/sys/kernel/bpf_stats_enabled"


@contextlib.contextmanager
def bpf_stats(on: bool):
    with open(STATS) as f:
        before = f.read().strip()
    with open(STATS, "w") as f:
        f.write("1" if on else "0")
    try:
        yield
    finally:
        with open(STATS, "w") as f:
            f.write(before)


@pytest.mark.parametrize("on", [True, False], ids=["bpf_stats on", "bpf_stats off"])
def test_json_says_what_wtop_cost(spawn, on):
    w = spawn(b"cost-writer", 64, 20_000)
    with bpf_stats(on):
        p = start_wtop("--json", "-c", "cost-writer", "0.3")
        w.go()
        w.wait(60)
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    lines = [json.loads(x) for x in out.splitlines()]
    assert sum(d["writes"] for d in lines) == 20_000
    costs = [d["cost"] for d in lines]
    assert all(0 <= c["cpu_share"] < 1 and c["cpu_s"] >= 0 for c in costs)
    if on:
        runs = sum(c["probe_runs"] for c in costs)
        assert runs >= 2 * 20_000  # every write of it ran the enter and the exit program, at least
        per = sum(c["probe_ns"] for c in costs) / runs
        assert 1 < per < 100_000  # ns an event: a real figure, not a placeholder
    else:
        assert all(c["probe_ns"] is None and c["probe_ns_per_run"] is None for c in costs)
