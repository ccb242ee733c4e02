"""Kernel differences: wtop starts with what works and says what is missing."""

from __future__ import annotations

import ctypes as ct

import pytest

from probes import bpfsys
from probes.kernel import FD_KEY
from probes.live import LiveSource
from probes.program import BLOCK, DIRTY_OLD, TRACEPOINTS, URING_SUBMIT_OLD, ProbeOptions, available_tracepoints
from tests.bpf.conftest import run_to_end
from tests.conftest import fdinfo_of

pytestmark = pytest.mark.bpf
STATS = "/proc/sys/kernel/bpf_stats_enabled"


def test_without_sys_enter_sizes_stay_exact_and_latency_says_why(spawn):
    w = spawn(b"k-noenter", 700, 30)
    no_enter = (("raw_syscalls", "sys_exit"), ("sched", "sched_process_exec"))
    with LiveSource(ProbeOptions(pid=w.pid, tracepoints=no_enter)) as src:
        assert len(src.prog_fds()) == 2
        src.sample()
        w.go()
        w.wait()
        s = src.sample()
    assert (s.bytes, s.writes, s.sizes.total) == (21_000, 30, 30)
    assert s.latency.total == 0 and s.skipped.no_entry == 0  # nothing invented, nothing miscounted
    assert any(n.startswith("latency: unavailable") for n in s.notes)


@pytest.mark.parametrize("fetch", [True, False], ids=["cells in place", "cells read"])
def test_key_by_key_reads_when_batches_are_refused(spawn, monkeypatch, fetch):
    monkeypatch.setattr(bpfsys, "force_no_batch", True)
    ws = [spawn(b"k-nobatch", 100, 5 + i) for i in range(20)]
    with LiveSource(ProbeOptions(comm="k-nobatch", fetch=fetch)) as src:
        src.sample()
        run_to_end(ws)
        s = src.sample()
        src.sample()  # read again idle, then freed one by one
        assert not any(src.has_entry(w.pid)[0] for w in ws)
    assert {p.pid: p.writes for p in s.processes} == {w.pid: 5 + i for i, w in enumerate(ws)}
    assert "maps: read key by key, this kernel has no batch map operations" in s.notes


@pytest.mark.parametrize("batch", [True, False], ids=["batch", "key by key"])
def test_delete_each_says_which_keys_were_there(monkeypatch, batch):
    """A sweep deletes its keys in one call where the kernel can; a key already gone is said,
    and the keys after it are still deleted."""
    monkeypatch.setattr(bpfsys, "force_no_batch", not batch)
    with LiveSource(ProbeOptions(comm="k-nobody")) as src:
        fd = src.kernel.map_fd("wtop_procs")
        keys = [FD_KEY.pack(4_000_000 + i, 3, 4_000_000 + i, 0, b"k-nobody") for i in range(4)]
        for i in (0, 2, 3):
            bpfsys.update(fd, ct.create_string_buffer(keys[i], len(keys[i])), ct.c_uint32(i))
        raw = ct.create_string_buffer(b"".join(keys), 4 * FD_KEY.size)
        assert bpfsys.delete_each(fd, raw, FD_KEY.size, 4) == [True, False, True, True]
        assert not any(bpfsys.lookup(fd, ct.create_string_buffer(k, len(k)), ct.c_uint32()) for k in keys)


@pytest.mark.parametrize("stats", ["1", "0"], ids=["bpf_stats on", "bpf_stats off"])
def test_disks_misses_are_read_apart_from_the_others(tmp_path, stats):
    """A disk request completes in an interrupt, and the kernel skips a perf tracepoint's
    program then if another runs on that CPU, or if a bpf(2) call there is copying a map (as
    every sample does): the block tracepoints' programs' misses are Skipped.disk_missed, the
    write calls' figures are not touched by them, and every other program's are recursion."""
    before = open(STATS).read().strip()
    with open(STATS, "w") as f:
        f.write(stats)
    try:
        with LiveSource(ProbeOptions()) as src:
            check_fdinfo_reads(src, tmp_path)
    finally:
        with open(STATS, "w") as f:
            f.write(before)


def check_fdinfo_reads(src, tmp_path) -> None:
    """Fake fdinfo files for every program: each field read, summed and split as it should be."""
    k = src.kernel
    tps = dict(zip(k._progs, k.opts.tracepoints, strict=False))  # the tail-called ones have none
    for fd in k._progs:
        misses = 7 if tps.get(fd) in BLOCK else 3
        info = f"prog_type:\t26\nrun_time_ns:\t100\nrun_cnt:\t2\nrecursion_misses:\t{misses}\n"
        (tmp_path / str(fd)).write_text(info)
    disks = sum(tp in BLOCK for tp in tps.values())
    assert disks == len(BLOCK) == 2
    n = len(k._progs)
    stats = k.fdinfo_stats(str(tmp_path))
    assert (stats.misses, stats.disk_misses) == (3 * (n - 2), 7 * 2)
    assert src.recursion_misses(str(tmp_path)) == 3 * (n - 2) + 14
    on = open(STATS).read().strip() == "1"
    assert stats.runs == ((100 * n, 2 * n) if on else None)
    # each attached program's own figures, by its tracepoint, as bpftop lists them
    assert stats.programs == (tuple((tp[1], 100, 2) for tp in k.opts.tracepoints) if on else None)
    (tmp_path / str(k._progs[0])).write_text("prog_type:\t26\n")  # an older kernel's
    stats = k.fdinfo_stats(str(tmp_path))
    assert stats.misses is None and stats.disk_misses == 14 and stats.runs is None and stats.programs is None
    assert src.recursion_misses(str(tmp_path)) is None


def test_recursion_stats_missing_from_fdinfo(tmp_path):
    with LiveSource(ProbeOptions()) as src:
        for fd in src.prog_fds():
            (tmp_path / str(fd)).write_text("pos:\t0\nflags:\t02000002\nprog_type:\t5\n")
        assert src.recursion_misses(str(tmp_path)) is None
        assert src.recursion_misses() == 0


def test_tracepoints_are_found_in_tracefs(tmp_path):
    for cat, event in TRACEPOINTS[1:2]:
        (tmp_path / "events" / cat / event).mkdir(parents=True)
        (tmp_path / "events" / cat / event / "format").write_text("name: x\n")
    assert available_tracepoints(str(tmp_path)) == (("raw_syscalls", "sys_exit"),)
    # this kernel has them all, but io_uring's submit and writeback's dirtying under their old names
    assert set(available_tracepoints(bpfsys.tracefs())) == set(TRACEPOINTS) - {URING_SUBMIT_OLD, DIRTY_OLD}


def test_without_both_block_tracepoints_the_disks_view_says_why(spawn):
    w = spawn(b"k-noblock", 100, 10)
    half = tuple(tp for tp in TRACEPOINTS if tp != ("block", "block_rq_complete"))
    with LiveSource(ProbeOptions(pid=w.pid, tracepoints=half)) as src:
        # an issue without its completion would only fill the in-flight slots: neither is attached
        assert not any(tp[0] == "block" for tp in src.opts.tracepoints)
        assert len(src.prog_fds()) == len(TRACEPOINTS) - 4  # no block, no old io_uring submit or dirtying
        src.sample()
        w.go()
        w.wait()
        s = src.sample()
    assert (s.bytes, s.writes) == (1000, 10) and s.disks == ()
    assert any(n.startswith("disks: unavailable") for n in s.notes)


def test_without_io_uring_tracepoints_the_rest_works_and_says_why(spawn):
    w = spawn(b"k-nouring", 100, 10)
    no_uring = tuple(tp for tp in TRACEPOINTS if tp[0] != "io_uring" or tp[1] == "io_uring_submit_req")
    with LiveSource(ProbeOptions(pid=w.pid, tracepoints=no_uring)) as src:
        # a submit without its completion would only fill the in-flight table: neither is attached
        assert not any(tp[0] == "io_uring" for tp in src.opts.tracepoints)
        src.sample()
        w.go()
        w.wait()
        s = src.sample()
    assert (s.bytes, s.writes) == (1000, 10)
    assert any(n.startswith("io_uring: not traced") for n in s.notes)


def test_names_are_read_as_asked_one_by_one_then_all_at_once(spawn, monkeypatch):
    """The rows' names come from the kernel's names map as the sampler asks: a lookup each
    for the first few (here 3), then one read of the whole map; the same names either way."""
    from probes.kernel import Names

    monkeypatch.setattr(Names, "ONE_BY_ONE", 3)
    ws = [spawn(f"k-name{i}".encode(), 10, 1) for i in range(5)]
    with LiveSource(ProbeOptions()) as src:
        src.sample()
        run_to_end(ws)
        k = src.kernel
        every = k.read_names()
        assert all(k.read_name(w.pid) == every[w.pid] for w in ws) and k.read_name(2**22 + 1) is None
        s = src.sample()  # 5 rows or more: 3 looked up, then the whole map
    assert {p.pid: p.comm for p in s.processes if p.comm.startswith("k-name")} == {
        w.pid: f"k-name{i}" for i, w in enumerate(ws)
    }


@pytest.mark.parametrize(("name", "kind"), [("wtop_procs", 1), ("wtop_cells", 2), ("wtop_dirty", 1)])
def test_the_big_maps_memory_does_not_grow_with_the_cpus(name, kind):
    """One value an entry, whatever the number of CPUs: per CPU, the process map took 152 bytes
    x CPUs an entry of the kernel's per-CPU memory (640 MB at 64 CPUs), as much again in the
    dashboard, and every read copied it all. The kernel's own accounting of each map (its
    fdinfo) says so."""
    with LiveSource(ProbeOptions()) as src:
        info = fdinfo_of(src.kernel._maps[name])
    assert int(info["map_type"]) == kind  # BPF_MAP_TYPE_HASH or ARRAY, not PERCPU_HASH (5) or _ARRAY (6)
    per_entry = int(info["memlock"]) / int(info["max_entries"])
    assert per_entry < int(info["key_size"]) + int(info["value_size"]) + 128, per_entry
