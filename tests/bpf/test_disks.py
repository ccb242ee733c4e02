"""The disks view: what reaches the block layer, exact against a loop device nobody else uses."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from probes import model
from probes.bcc_source import BccSource, disk_name, whole_disk
from probes.program import ProbeOptions

pytestmark = pytest.mark.bpf

CHUNK = 64 * 1024


@pytest.fixture
def loopdev(tmp_path):
    """A 64 MiB loop device over a file: a block device of its own, so every request on it is
    the test's. Yields (path, "major:minor")."""
    if shutil.which("losetup") is None or not os.path.exists("/dev/loop-control"):
        pytest.fail("the disk tests need losetup and /dev/loop-control (util-linux, CONFIG_BLK_DEV_LOOP)")
    backing = tmp_path / "disk.img"
    with open(backing, "wb") as f:
        f.truncate(64 << 20)
    dev = subprocess.run(["losetup", "-f", "--show", str(backing)], check=True, capture_output=True, text=True)
    path = dev.stdout.strip()
    st = os.stat(path)
    try:
        time.sleep(0.2)  # udev and the partition scan read it once; reads are not counted anyway
        yield path, f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
    finally:
        subprocess.run(["losetup", "-d", path], check=False)


def diskstats(devnum: str) -> tuple[int, int]:
    """(write requests completed, bytes written) from /proc/diskstats: the kernel's own count."""
    major, minor = devnum.split(":")
    for line in Path("/proc/diskstats").read_text().splitlines():
        f = line.split()
        if f[0] == major and f[1] == minor:
            return int(f[7]), int(f[9]) * 512
    raise AssertionError(f"{devnum} not in /proc/diskstats")


WRITER = f"""
import mmap, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | (os.O_DIRECT if sys.argv[2] == "direct" else 0))
buf = mmap.mmap(-1, {CHUNK})  # page-aligned, as O_DIRECT wants
buf.write(b"w" * {CHUNK})
for line in sys.stdin:
    if line.startswith("write"):
        n = int(line.split()[1])
        for i in range(n):
            os.pwrite(fd, buf, i * {CHUNK})
    elif line.startswith("fsync"):
        os.fsync(fd)
    print("done", flush=True)
"""


class DiskWriter:
    def __init__(self, path: str, mode: str):
        self.p = subprocess.Popen(
            [sys.executable, "-c", WRITER, path, mode], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def do(self, command: str) -> None:
        self.p.stdin.write(command + "\n")
        self.p.stdin.flush()
        assert self.p.stdout.readline().strip() == "done"

    def close(self) -> None:
        self.p.kill()
        self.p.wait()


def test_direct_writes_reach_the_disk_exactly(loopdev):
    path, devnum = loopdev
    w = DiskWriter(path, "direct")
    try:
        with BccSource(ProbeOptions(pid=w.p.pid)) as src:
            src.sample()
            ios0, bytes0 = diskstats(devnum)
            w.do("write 16")
            time.sleep(0.1)
            s = src.sample()
            ios1, bytes1 = diskstats(devnum)
    finally:
        w.close()
    (d,) = [d for d in s.disks if d.dev == devnum]
    assert d.name == os.path.basename(path)
    assert d.bytes == 16 * CHUNK == bytes1 - bytes0  # the kernel's own accounting agrees
    assert d.ios == 16 == ios1 - ios0  # each synchronous O_DIRECT write is one request here
    assert d.errors == 0 and d.latency.total == 16 and s.skipped.disk_no_issue == 0
    assert 0 < d.latency_max_ns and d.latency_sum_ns >= d.latency_max_ns
    assert d.latency.counts[model.Log2Histogram.bucket_of(d.latency_max_ns)] >= 1
    # and write() sent the same bytes to that very device
    (f,) = [f for f in s.files if f.pid == w.p.pid and f.kind != "pipe"]
    assert (f.path, f.disk, f.bytes) == (path, devnum, 16 * CHUNK)
    state = model.merge([s])
    (row,) = [r for r in model.disk_rows(state) if r.dev == devnum]
    assert row.total_bytes == row.total_written == 16 * CHUNK
    assert row.iops == pytest.approx(16 / s.elapsed) and row.avg_size == CHUNK


def test_the_page_cache_holds_writes_until_fsync(loopdev):
    """write() without O_DIRECT: the bytes are counted as written at once, on the device only
    when they are flushed; the view shows both, so buffering can be seen."""
    path, devnum = loopdev
    cache = Path(f"/sys/block/{os.path.basename(path)}/queue/write_cache").read_text().strip()
    w = DiskWriter(path, "buffered")
    try:
        with BccSource(ProbeOptions(pid=w.p.pid)) as src:
            src.sample()
            w.do("write 16")
            s1 = src.sample()
            w.do("fsync")
            time.sleep(0.1)
            s2 = src.sample()
    finally:
        w.close()
    state = model.merge([s1])
    (r1,) = [r for r in model.disk_rows(state) if r.dev == devnum]
    assert r1.written_s == pytest.approx(16 * CHUNK / s1.elapsed) and r1.total_written == 16 * CHUNK
    assert r1.bytes_s == 0 and r1.total_bytes == 0  # all of it still in the page cache
    model.fold(state, s2)
    (r2,) = [r for r in model.disk_rows(state) if r.dev == devnum]
    assert r2.total_bytes == 16 * CHUNK and r2.written_s == 0  # fsync wrote it out, nothing new
    (d2,) = [d for d in s2.disks if d.dev == devnum]
    assert d2.ios >= 1 and d2.latency.total == d2.ios
    if cache == "write back":  # a volatile cache: fsync must also flush it
        assert d2.flushes >= 1
    else:
        assert d2.flushes == 0


def test_names_and_whole_disks_come_from_sysfs(tmp_path, loopdev):
    path, devnum = loopdev
    major, minor = (int(x) for x in devnum.split(":"))
    assert disk_name(major, minor) == os.path.basename(path)
    assert whole_disk(major, minor) == devnum
    # a file on tmpfs or overlay has no disk; a file on a real disk's partition has its disk
    st = os.stat("/proc/self/status")
    assert whole_disk(os.major(st.st_dev), os.minor(st.st_dev)) == ""
    fake = tmp_path / "sys"
    (fake / "8:0").mkdir(parents=True)
    (fake / "8:0" / "dev").write_text("8:0\n")
    (fake / "8:0" / "sda1").mkdir()
    (fake / "8:1").symlink_to(fake / "8:0" / "sda1")
    (fake / "8:0" / "sda1" / "partition").write_text("1\n")
    assert whole_disk(8, 1, str(fake)) == "8:0" and whole_disk(8, 0, str(fake)) == "8:0"


def test_stale_requests_are_swept(loopdev):
    """An issue whose completion never matched must not stay in the map for ever."""
    path, devnum = loopdev
    w = DiskWriter(path, "direct")
    try:
        with BccSource(ProbeOptions(pid=w.p.pid)) as src:
            w.do("write 4")
            assert src._sweep_requests(max_age_ns=0) == 0  # all four matched their completion
            import ctypes as ct

            from probes import bpfsys

            major, minor = (int(x) for x in devnum.split(":"))
            key = ct.create_string_buffer(
                ((major << 20 | minor).to_bytes(4, "little") + bytes(4) + (7).to_bytes(8, "little")), 16
            )
            bpfsys.update(src.map_fd("wtop_rq_start"), key, ct.c_uint64(time.monotonic_ns() - 120 * 10**9))
            assert src._sweep_requests() == 1 and src._sweep_requests() == 0
    finally:
        w.close()
