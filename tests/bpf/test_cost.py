"""What wtop costs, shown to the user: its own CPU and its probes' run time per event (the
kernel's bpf_stats, as bpftop shows them), in JSON, Prometheus and the screen."""

from __future__ import annotations

import contextlib
import json
import signal
import time

import pytest

from probes import bpfsys
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


def test_programs_are_found_by_id_and_their_run_time_read_without_bpftool():
    """The benchmark finds a peer's programs (bpftrace's) as those that appeared with it, and
    reads their run time by id through bpf(2), where a fresh machine has no bpftool. bpftool,
    where the tests install it, is the ground truth: its figures only grow after ours."""
    import subprocess

    from bcc import BPF

    before = bpfsys.prog_ids()
    b = BPF(text=b"RAW_TRACEPOINT_PROBE(sys_enter) { return 0; }")
    try:
        ids = bpfsys.prog_ids() - before
        assert len(ids) == 1
        (pid,) = ids
        with bpf_stats(True):
            t0, c0 = bpfsys.prog_runs(ids)
            with open("/dev/null", "wb", buffering=0) as f:
                for _ in range(1000):
                    f.write(b"x")
            t1, c1 = bpfsys.prog_runs(ids)
        assert c1 - c0 >= 1000 and t1 > t0  # every write() entered: at least 1,000 runs
        shown = json.loads(
            subprocess.run(
                ["bpftool", "-j", "prog", "show", "id", str(pid)], capture_output=True, text=True, check=True
            ).stdout
        )
        assert shown["run_cnt"] >= c1 and shown["run_time_ns"] >= t1
    finally:
        b.cleanup()
    deadline = time.monotonic() + 30  # the kernel frees a program after an RCU grace period
    while pid in bpfsys.prog_ids():
        assert time.monotonic() < deadline, "the program outlived its last fd"
        time.sleep(0.01)
    assert bpfsys.prog_runs({pid}) == (0, 0)  # unloaded: nothing, and no error
