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
        # each program apart, as bpftop lists them: by the tracepoint it is attached to, and
        # adding up to the totals (a tail-called program's runs are its caller's)
        for c in costs:
            progs = {p["tracepoint"]: p for p in c["programs"]}
            assert {"sys_enter", "sys_exit", "block_rq_complete"} <= progs.keys()
            assert sum(p["runs"] for p in progs.values()) == c["probe_runs"]
            assert sum(p["run_ns"] for p in progs.values()) == c["probe_ns"]
        exits = sum(p["runs"] for c in costs for p in c["programs"] if p["tracepoint"] == "sys_exit")
        enters = sum(p["runs"] for c in costs for p in c["programs"] if p["tracepoint"] == "sys_enter")
        assert exits >= 20_000 and enters >= 20_000  # every write ran both
    else:
        assert all(c["probe_ns"] is None and c["probe_ns_per_run"] is None for c in costs)
        assert all(c["programs"] == [] for c in costs)
