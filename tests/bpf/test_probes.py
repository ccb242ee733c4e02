"""Real probes, real processes, exact figures. Runs as root (CI included)."""

from __future__ import annotations

import os
import subprocess
import threading
import time

import numpy as np
import pytest

from probes.live import LiveSource
from probes.program import MAPS, TRACEPOINTS, ProbeOptions
from probes.snapshot import Log2Histogram
from tests.conftest import declared_maps, existing_map_ids, map_names, maps_left, writes_skipped

pytestmark = pytest.mark.bpf


def row_of(snapshot, pid):
    rows = [p for p in snapshot.processes if p.pid == pid]
    assert len(rows) <= 1
    return rows[0] if rows else None


def test_exact_bytes_calls_and_buckets(spawn, tmp_path):
    target = tmp_path / "out.bin"
    w = spawn(b"wtop-exact", 4096, 1000, str(target))
    # every call timed, whatever the pace: 1,000 writes back to back to the page cache may be
    # a storm on a fast machine (tests/bpf/test_pace.py tests pacing)
    with LiveSource(ProbeOptions(pid=w.pid, pace=False)) as src:
        src.sample()
        w.go()
        assert w.wait() == 0
        s = src.sample()
    r = row_of(s, w.pid)
    assert (r.comm, r.bytes, r.writes, r.errors) == ("wtop-exact", 4_096_000, 1000, 0)
    assert r.uid == 0
    assert target.stat().st_size == 4_096_000
    assert s.sizes.counts[13] == 1000 and s.sizes.total == 1000  # [4K, 8K)
    assert s.latency.total == 1000
    assert (s.bytes, s.writes) == (4_096_000, 1000)
    assert writes_skipped(s) == 0


def test_comm_filter_and_mixed_sizes(spawn):
    a = spawn(b"wtopmix", 100, 7)
    b = spawn(b"wtopmix", 5000, 11)
    other = spawn(b"wtopother", 100, 50)
    with LiveSource(ProbeOptions(comm="wtopmix")) as src:
        src.sample()
        for w in (a, b, other):
            w.go()
        for w in (a, b, other):
            w.wait()
        s = src.sample()
    assert row_of(s, other.pid) is None
    assert (row_of(s, a.pid).bytes, row_of(s, a.pid).writes) == (700, 7)
    assert (row_of(s, b.pid).bytes, row_of(s, b.pid).writes) == (55_000, 11)
    assert s.sizes.counts[Log2Histogram.bucket_of(100)] == 7  # [64, 128)
    assert s.sizes.counts[Log2Histogram.bucket_of(5000)] == 11  # [4K, 8K)
    assert s.sizes.total == 18


def test_threads_sum_across_cpus(spawn):
    w = spawn(b"wtop-threads", 64, 5000, threads=4)
    with LiveSource(ProbeOptions(pid=w.pid)) as src:
        src.sample()
        w.go()
        w.wait()
        s = src.sample()
    r = row_of(s, w.pid)
    assert (r.bytes, r.writes) == (4 * 5000 * 64, 20_000)
    assert s.sizes.counts[7] == 20_000
    assert writes_skipped(s) == 0


def test_uid_filter(writer_bin):
    def as_nobody():
        os.setgid(65534)
        os.setuid(65534)

    nobody = subprocess.Popen(
        [writer_bin, "wtop-nobody", "10", "3", "/dev/null"], stdin=subprocess.PIPE, preexec_fn=as_nobody
    )
    root = subprocess.Popen([writer_bin, "wtop-root", "10", "5", "/dev/null"], stdin=subprocess.PIPE)
    try:
        with LiveSource(ProbeOptions(uid=65534)) as src:
            src.sample()
            for p in (nobody, root):
                p.stdin.close()
                p.wait(10)
            s = src.sample()
        assert row_of(s, root.pid) is None
        r = row_of(s, nobody.pid)
        assert (r.uid, r.bytes, r.writes) == (65534, 30, 3)
    finally:
        for p in (nobody, root):
            p.kill()


def test_own_writes_are_left_out(spawn):
    w = spawn(b"wtop-peer", 10, 10)
    with LiveSource(ProbeOptions()) as src:
        src.sample()
        fd = os.open("/dev/null", os.O_WRONLY)
        for _ in range(100):
            os.write(fd, b"x" * 10)
        os.close(fd)
        w.go()
        w.wait()
        s = src.sample()
    assert row_of(s, os.getpid()) is None
    assert row_of(s, w.pid).writes == 10


FETCH = pytest.mark.parametrize(
    ("fetch", "modern"), [(True, True), (False, True), (False, False)], ids=["fetch_add", "queued", "queued_plain"]
)
"""Both ways the programs take a fresh cell: an atomic fetch-and-add (Linux 5.12), or a queue
user space fills before they start (older kernels: with the plain programs, as before 5.12)."""


@FETCH
def test_map_full_is_counted_exactly(spawn, fetch, modern):
    """A deliberately tiny process map: every write of the processes that do not fit is counted."""
    writers = [spawn(b"wtopfull", 8, 3) for _ in range(40)]
    with LiveSource(ProbeOptions(comm="wtopfull", map_size=16, fetch=fetch, modern=modern)) as src:
        assert (src.opts.fetch, src.opts.modern) == (fetch, modern)
        src.sample()
        for w in writers:
            w.go()
        for w in writers:
            w.wait()
        s = src.sample()
    attributed = sum(p.writes for p in s.processes)
    assert len(s.processes) == 16
    assert attributed == 48
    assert s.skipped.map_full == (40 - 16) * 3
    assert s.writes == 120 and s.sizes.total == 120  # the histograms still see every write


@FETCH
def test_the_cells_of_processes_gone_are_taken_again(spawn, fetch, modern):
    """The counters live in a fixed number of cells (map_size). Those of processes gone are
    freed and taken again: three waves of 12 writers fit in 16 cells, every write is counted,
    and no freed cell's old counts reach its next owner."""
    with LiveSource(ProbeOptions(comm="wtopcell", map_size=16, fetch=fetch, modern=modern)) as src:
        assert (src.opts.fetch, src.opts.modern) == (fetch, modern)
        src.sample()
        for wave in range(3):
            n = 3 + wave
            ws = [spawn(b"wtopcell", 8 + wave, n) for _ in range(12)]
            for w in ws:
                w.go()
            for w in ws:
                w.wait()
            s = src.sample()
            assert {p.pid: (p.writes, p.bytes) for p in s.processes} == {w.pid: (n, n * (8 + wave)) for w in ws}
            assert s.skipped.map_full == 0 and s.writes == 12 * n
            src.sample()  # read again idle, then freed
            assert not any(src.has_entry(w.pid)[0] for w in ws)


@FETCH
def test_an_interval_reads_only_the_cells_counted_lately(spawn, fetch, modern):
    """A cell keeps the epoch of its last count, and an interval reads only those counted
    since the last read (and every cell once in FULL_EVERY). An idle writer's cell is left
    out, a busy one's read, and over the run every write of both is counted exactly once."""
    idle = spawn(b"wtoplate", 64, 3, period_ms=60_000, repeats=2)  # 3 writes, then a minute asleep
    busy = spawn(b"wtoplate", 32, 10, period_ms=20, repeats=40)  # 400 writes over a second or so
    totals = {idle.pid: [0, 0], busy.pid: [0, 0]}

    def add(snap):
        for p in snap.processes:
            if p.pid in totals:
                totals[p.pid][0] += p.bytes
                totals[p.pid][1] += p.writes

    with LiveSource(ProbeOptions(comm="wtoplate", fetch=fetch, modern=modern)) as src:
        add(src.sample())
        idle.go()
        deadline = time.monotonic() + 30
        while totals[idle.pid][1] < 3:
            assert time.monotonic() < deadline, totals
            time.sleep(0.01)
            add(src.sample())
        busy.go()
        left_out = read_whole = turns = 0
        while busy.proc.poll() is None:
            turns += 1
            assert time.monotonic() < deadline, totals
            time.sleep(0.02)
            add(src.sample())
            k = src.kernel
            lately = {key[0] for key in k.read_procs(since=k.epoch - 2)}
            left_out += idle.pid not in lately
            read_whole += idle.pid in {key[0] for key in k.read_procs()}
        add(src.sample())
        add(src.sample())
    assert totals == {idle.pid: [192, 3], busy.pid: [32 * 400, 400]}
    # left out of the reads of what was counted lately (but for the read or two right after its
    # writes), always in a whole read
    assert turns >= 5 and left_out >= turns - 2 and read_whole == turns


def test_exit_without_entry_is_counted(spawn, tmp_path):
    """A write already blocked when the probes attach ends without a start time: skipped, once."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    w = spawn(b"wtop-blocked", 256 * 1024, 1, str(fifo))
    w.go()
    time.sleep(0.3)  # the writer fills the pipe and blocks inside write()
    with LiveSource(ProbeOptions(pid=w.pid)) as src:
        src.sample()
        got = 0
        os.set_blocking(reader, True)
        while got < 256 * 1024:
            got += len(os.read(reader, 65536))
        w.wait()
        s = src.sample()
    os.close(reader)
    assert s.skipped.no_entry == 1
    assert s.latency.total == 0  # no start time, no latency: nothing invented
    r = row_of(s, w.pid)
    assert (r.bytes, r.writes) == (256 * 1024, 1)
    # its descriptor read from its registers at the exit (-1 before: none known); the writer
    # has ended, so the path is no longer there to read
    (f,) = [f for f in s.files if f.pid == w.pid]
    assert f.fd >= 3 and (f.path, f.bytes) == ("(closed)", 256 * 1024)


def test_slow_writes_hit_the_sla_counter_and_max(spawn, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    w = spawn(b"wtop-slow", 128 * 1024, 1, str(fifo))
    with LiveSource(ProbeOptions(pid=w.pid, sla_ns=20_000_000)) as src:
        src.sample()
        w.go()
        time.sleep(0.15)  # the write blocks on the full pipe for ~150 ms
        os.set_blocking(reader, True)
        got = 0
        while got < 128 * 1024:
            got += len(os.read(reader, 65536))
        w.wait()
        s = src.sample()
    os.close(reader)
    assert s.writes == 1 and s.sla_missed == 1
    assert 100_000_000 <= s.latency_max_ns <= 2_000_000_000
    assert s.latency.counts[Log2Histogram.bucket_of(s.latency_max_ns)] == 1
    assert writes_skipped(s) == 0


def test_fast_writes_do_not_miss_a_loose_sla(spawn):
    w = spawn(b"wtop-fast", 64, 500)
    with LiveSource(ProbeOptions(pid=w.pid, sla_ns=1_000_000_000)) as src:
        src.sample()
        w.go()
        w.wait()
        s = src.sample()
    assert s.writes == 500 and s.sla_missed == 0 and 0 < s.latency_max_ns < 1_000_000_000


def test_interval_max_resets_each_interval(spawn):
    w = spawn(b"wtop-max", 64, 100)
    with LiveSource(ProbeOptions(pid=w.pid)) as src:
        src.sample()
        w.go()
        w.wait()
        first = src.sample()
        second = src.sample()
    assert first.latency_max_ns > 0
    assert second.latency_max_ns == 0 and second.writes == 0


def test_exited_processes_leave_the_map(spawn):
    w = spawn(b"wtop-gone", 10, 2)
    with LiveSource(ProbeOptions(comm="wtop-gone")) as src:
        src.sample()
        w.go()
        w.wait()
        assert row_of(src.sample(), w.pid).writes == 2
        assert src.has_entry(w.pid) == (True, True)
        second = src.sample()  # idle and dead: read, then deleted
        assert row_of(second, w.pid) is None
        assert src.has_entry(w.pid) == (False, False)


def test_exec_updates_the_name(writer_bin):
    script = f"read go; printf x > /dev/null; exec {writer_bin} wtop-after 10 4 /dev/null"
    p = subprocess.Popen(["sh", "-c", script], stdin=subprocess.PIPE)
    try:
        with LiveSource(ProbeOptions(pid=p.pid)) as src:
            src.sample()
            p.stdin.write(b"go\n")
            p.stdin.close()
            p.wait(10)
            s = src.sample()
        r = row_of(s, p.pid)
        assert r.writes == 5 and r.bytes == 41
        assert r.comm == "wtop-after"  # exec, then the helper's prctl(PR_SET_NAME): both followed
    finally:
        p.kill()


def test_recursion_misses_are_read_from_fdinfo():
    with LiveSource(ProbeOptions()) as src:
        # sys_enter, sys_exit, exec, rename, 2 block, 2 io_uring, dirtying (not the old names)
        assert len(src.prog_fds()) == len(TRACEPOINTS) - 2
        assert src.recursion_misses() == 0
        for fd in src.prog_fds():
            with open(f"/proc/self/fdinfo/{fd}") as f:
                assert "recursion_misses:" in f.read()


def test_close_detaches_everything():
    before = existing_map_ids()
    src = LiveSource(ProbeOptions())
    ids = existing_map_ids() - before  # some only the programs hold
    names = map_names(src.kernel._maps.values())  # those it holds, as the kernel names them
    assert set(names.values()) == set(src.kernel._maps) and set(names) <= ids
    assert len(ids) >= len(declared_maps()) and declared_maps() >= set(names.values()) | set(MAPS)
    src.close()
    assert maps_left(ids) == set()


def test_close_during_a_read_of_the_cells_neither_fails_nor_leaves_a_map(spawn):
    """The screen does not wait for the probe worker's thread: the source may be closed while
    a read holds the process map's cells, mapped into wtop. Closing says nothing, the read
    still sees what it read, and the map goes once the read lets go."""
    before = existing_map_ids()
    src = LiveSource(ProbeOptions(comm="wtop-late"))
    ids = existing_map_ids() - before
    w = spawn(b"wtop-late", 64, 3)
    src.sample()
    w.go()
    w.wait()
    src.sample()
    assert src.kernel.opts.fetch  # cells mapped in place (Linux 5.12)
    view = np.frombuffer(src.kernel._cells_mm, np.uint64)  # what a read on the worker's thread holds
    src.close()
    assert view[0] != 0  # the first cell, taken by the writer: bytes = 3 * 64
    del view
    assert maps_left(ids) == set()


def test_two_instances_do_not_disturb_each_other(spawn):
    w = spawn(b"wtop-twice", 32, 300)
    with LiveSource(ProbeOptions(pid=w.pid)) as a, LiveSource(ProbeOptions(pid=w.pid)) as b:
        a.sample()
        b.sample()
        w.go()
        w.wait()
        sa, sb = a.sample(), b.sample()
    assert row_of(sa, w.pid).writes == row_of(sb, w.pid).writes == 300


def test_sample_is_safe_while_writes_continue(spawn):
    """Counters are cumulative and diffed: sampling during a stream loses nothing."""
    w = spawn(b"wtop-stream", 64, 200_000)
    with LiveSource(ProbeOptions(pid=w.pid)) as src:
        src.sample()
        total_writes = 0
        total_bytes = 0
        stop = threading.Event()
        w.go()
        while not stop.is_set():
            s = src.sample()
            r = row_of(s, w.pid)
            if r:
                total_writes += r.writes
                total_bytes += r.bytes
            if w.proc.poll() is not None:
                r = row_of(src.sample(), w.pid)
                if r:
                    total_writes += r.writes
                    total_bytes += r.bytes
                stop.set()
            time.sleep(0.01)
    assert (total_writes, total_bytes) == (200_000, 200_000 * 64)


def test_the_kernel_s_exit_record_says_a_process_ended_without_asking_each_one(spawn):
    """With exit records that name each process's last thread (Linux 5.19 on), a process that
    ended is dropped from the maps on its record: here the check by kill(pid, 0) is made to
    answer "alive" for everyone, and the process still goes, while a live idle one stays."""
    from probes.taskstats import names_last_thread

    w = spawn(b"wtop-ends", 10, 2)
    stay = subprocess.Popen(
        ["sh", "-c", "read go; printf x > /dev/null; echo written; read end"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        with LiveSource(ProbeOptions()) as src:
            src.sample()
            asked = []
            src.sampler._alive = lambda pid: asked.append(pid) or True
            w.go()
            stay.stdin.write("go\n")
            stay.stdin.flush()
            w.wait()
            assert stay.stdout.readline() == "written\n"
            s = src.sample()
            assert row_of(s, w.pid).writes == 2 and row_of(s, stay.pid).bytes == 1 + len("written\n")
            src.sample()  # both idle now
            assert src.has_entry(w.pid) == ((False, False) if names_last_thread() else (True, True))
            assert src.has_entry(stay.pid) == (True, True)
            assert w.pid not in asked  # no kill(pid, 0) was needed to know
    finally:
        stay.kill()
        stay.wait()
