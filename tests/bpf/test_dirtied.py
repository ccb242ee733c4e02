"""Bytes dirtied per process, exact against the kernel's own write_bytes (/proc/PID/io, read
from the zombie with WNOWAIT): real programs (dd, buffered and direct, fio, a process storing
into a shared mapping, threads that come and go), short-lived and long-lived, and the disks
view's share of them."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from probes import procfs
from probes.live import LiveSource
from probes.program import TRACEPOINTS, ProbeOptions
from tests.bpf.test_paths import io_of, zombie
from tests.conftest import start_wtop

pytestmark = pytest.mark.bpf

MMAP_WRITER = """
import mmap, sys
f = open(sys.argv[1], "w+b")
f.truncate(8 << 20)
m = mmap.mmap(f.fileno(), 8 << 20)
for i in range(0, 8 << 20, 4096):
    m[i] = 1
m.flush()
"""

THREADS = """
import os, sys, threading
d = sys.argv[1]
def write(name, n):
    with open(os.path.join(d, name), "wb") as f:
        f.write(b"x" * n)
open(os.path.join(d, "before"), "wb").write(b"b" * (5 << 20))  # before wtop: not counted
print("ready", flush=True)
for step in sys.stdin:
    step = step.strip()
    if step == "1":  # a thread writes and ends, the main thread writes
        t = threading.Thread(target=write, args=("t1", 4 << 20)); t.start(); t.join()
        write("main1", 2 << 20)
    elif step == "2":  # another thread that lives on, and stores through a mapping
        import mmap
        f = open(os.path.join(d, "mapped"), "w+b"); f.truncate(1 << 20)
        m = mmap.mmap(f.fileno(), 1 << 20)
        for i in range(0, 1 << 20, 4096):
            m[i] = 1
        m.flush()
        ev = threading.Event()
        t = threading.Thread(target=lambda: (write("t2", 3 << 20), ev.wait())); t.start()
    elif step == "3":
        ev.set(); t.join()
        break
    print("done", flush=True)
"""


@pytest.fixture()
def disk_dir():
    """A directory on a real disk: on tmpfs (the default /tmp of some systems) nothing is
    dirtied and every figure would be a vacuous 0."""
    d = tempfile.mkdtemp(prefix="wtop-dirty-", dir="/var/tmp")
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def dirtied(snaps, pid: int) -> int:
    return sum(p.dirtied for s in snaps for p in s.processes if p.pid == pid)


def test_short_lived_programs_dirty_exactly_their_write_bytes(disk_dir):
    runs = [
        ["dd", "if=/dev/zero", f"of={disk_dir}/dd.bin", "bs=1M", "count=20", "status=none"],
        ["dd", "if=/dev/zero", f"of={disk_dir}/direct.bin", "bs=4096", "count=256", "oflag=direct", "status=none"],
        [sys.executable, "-c", MMAP_WRITER, f"{disk_dir}/mapped.bin"],
        # a shell that waits for its children: its write_bytes holds theirs, as ours does
        ["sh", "-c", f"dd if=/dev/zero of={disk_dir}/a bs=64k count=30 status=none; cp {disk_dir}/a {disk_dir}/b"],
    ]
    if shutil.which("fio"):
        runs.append(
            ["fio", "--name=mm", f"--filename={disk_dir}/fio.bin", "--ioengine=mmap", "--rw=write", "--bs=64k"]
            + ["--size=8m", "--output=/dev/null"]
        )  # the job is a child process, reaped by fio, which lays the file out itself first
    with LiveSource(ProbeOptions()) as src:
        src.sample()
        snaps, io = [], {}
        for argv in runs:
            p = subprocess.Popen(argv)
            try:
                io[p.pid] = zombie(p)["write_bytes"]
            finally:
                p.wait()
            snaps.append(src.sample())  # each one gone before the interval ends
        snaps.append(src.sample())
    assert all(v > 0 for v in io.values()), io  # a real disk: something was dirtied
    assert {pid: dirtied(snaps, pid) for pid in io} == io
    sh = next(pid for pid, argv in zip(io, runs, strict=True) if argv[0] == "sh")
    mine = [p for s in snaps for p in s.processes if p.pid == sh]
    assert sum(p.dirtied_children for p in mine) == io[sh]  # all of it its children's
    # the machine's total counts each byte once: each process's own
    assert sum(s.dirtied for s in snaps) == sum(p.dirtied_self for s in snaps for p in s.processes)
    assert sum(s.skipped.exits_lost for s in snaps) == 0
    # the disks view: the device holding the directory got their bytes, by name
    st = os.stat(disk_dir)
    dev = procfs.whole_disk(os.major(st.st_dev), os.minor(st.st_dev))
    on_disk = [d for s in snaps for d in s.disks if d.dev == dev]
    dd_pid = next(iter(io))
    assert sum(d.dirtied for d in on_disk) >= io[dd_pid]
    assert any(pid == dd_pid and comm == "dd" for d in on_disk for pid, comm, _ in d.dirtied_by)


def test_a_long_lived_process_with_threads_counts_only_what_it_dirtied_while_watched(disk_dir):
    p = subprocess.Popen(
        [sys.executable, "-c", THREADS, disk_dir], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert p.stdout.readline() == "ready\n"
        start = io_of(p.pid)["write_bytes"]  # 5 MiB before wtop: waiting now
        assert start >= 5 << 20
        with LiveSource(ProbeOptions()) as src:
            src.sample()
            snaps = []
            for step in "12":
                p.stdin.write(step + "\n")
                p.stdin.flush()
                assert p.stdout.readline() == "done\n"
                snaps.append(src.sample())
            p.stdin.write("3\n")
            p.stdin.flush()
            end = zombie(p)["write_bytes"]
            snaps.append(src.sample())
    finally:
        p.kill()
        p.wait()
    assert end - start >= (4 + 2 + 1 + 3) << 20
    assert dirtied(snaps, p.pid) == end - start
    assert dirtied(snaps[:1], p.pid) >= 6 << 20  # the first step's, in its own interval


def test_wtop_json_reports_dirtied_per_process(disk_dir):
    w = start_wtop("--json", "0.3")
    try:
        p = subprocess.Popen(["dd", "if=/dev/zero", f"of={disk_dir}/j.bin", "bs=1M", "count=8", "status=none"])
        try:
            expect = zombie(p)["write_bytes"]
        finally:
            p.wait()
        ended = time.time()
        total = 0
        for line in w.stdout:
            d = json.loads(line)
            total += sum(q["dirtied"] for q in d["processes"] if q["pid"] == p.pid)
            if d["time"] > ended + 0.1:  # an interval that began after it was gone
                break
    finally:
        w.send_signal(signal.SIGTERM)
        w.communicate(timeout=30)
    assert expect >= 8 << 20 and total == expect


def test_without_the_dirtying_tracepoint_write_calls_still_count_and_a_note_says_why(disk_dir):
    no_dirty = tuple(tp for tp in TRACEPOINTS if tp[0] != "writeback")
    with LiveSource(ProbeOptions(tracepoints=no_dirty)) as src:
        src.sample()
        p = subprocess.Popen(["dd", "if=/dev/zero", f"of={disk_dir}/n.bin", "bs=1M", "count=4", "status=none"])
        try:
            expect = zombie(p)["write_bytes"]
        finally:
            p.wait()
        s = src.sample()
    assert expect >= 4 << 20 and dirtied([s], p.pid) == expect  # its write calls made it a candidate
    assert any(n.startswith("dirtied: only of processes that make write calls") for n in s.notes)


def test_the_filters_apply_to_what_exiting_processes_dirtied(disk_dir):
    other = subprocess.Popen(["sleep", "30"])
    try:
        with LiveSource(ProbeOptions(pid=other.pid)) as src:
            src.sample()
            p = subprocess.Popen(["dd", "if=/dev/zero", f"of={disk_dir}/f.bin", "bs=1M", "count=2", "status=none"])
            try:
                assert zombie(p)["write_bytes"] >= 2 << 20
            finally:
                p.wait()
            s = src.sample()
    finally:
        other.kill()
        other.wait()
    assert dirtied([s], p.pid) == 0 and s.dirtied == 0  # -p: only that process, dd's exit record too


def test_exit_records_read_fast_are_those_read_attribute_by_attribute(monkeypatch):
    """Two listeners on the exit records of 300 processes that end: one drains them as wtop
    does (a record laid out as the kernel sends it read with two unpacks), the other reads each
    message attribute by attribute. The same records, with the write_bytes the kernel counted."""
    from probes import taskstats

    ncpu = os.cpu_count() or 1
    fast, plain = taskstats.Taskstats(ncpu), taskstats.Taskstats(ncpu)
    try:
        pids = set()
        for _ in range(300):
            p = subprocess.Popen(["true"])
            p.wait()
            pids.add(p.pid)
        got: dict = {"fast": [], "plain": []}
        deadline = time.monotonic() + 30
        while not all(pids <= {r[0] for r in v} for v in got.values()):
            assert time.monotonic() < deadline, {k: len(pids - {r[0] for r in v}) for k, v in got.items()}
            got["fast"] += fast.drain()
            with monkeypatch.context() as m:
                m.setattr(taskstats, "_usual", lambda *a: None)
                while True:
                    try:
                        got["plain"] += taskstats.parse(plain._sock.recv(1 << 16), plain.family)
                    except BlockingIOError:
                        break
            time.sleep(0.01)
        mine = {k: sorted(r for r in v if r[0] in pids) for k, v in got.items()}
        assert mine["fast"] == mine["plain"] and len(mine["plain"]) == 300
        # as the processes were: `true`, our children, one thread each (the last of its process,
        # from Linux 5.19 on, where the records say so and name the process)
        last = taskstats.names_last_thread()
        want = {(pid if last else 0, b"true", os.getpid(), last) for pid in pids}
        assert {(r[1], r[3], r[5], r[6]) for r in mine["fast"]} == want
        assert fast.lost == plain.lost == 0
    finally:
        fast.close()
        plain.close()
