"""The disks view: what reaches the block layer, exact against a loop device nobody else uses."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from probes import runstate, snapshot, tables
from probes.live import LiveSource
from probes.procfs import disk_name, whole_disk
from probes.program import ProbeOptions
from tests.conftest import CHUNK, WRITER, DiskWriter, ext4_on_loop, loop_device

pytestmark = pytest.mark.bpf


def diskstats(devnum: str) -> tuple[int, int]:
    """(write requests completed, bytes written) from /proc/diskstats: the kernel's own count."""
    major, minor = devnum.split(":")
    for line in Path("/proc/diskstats").read_text().splitlines():
        f = line.split()
        if f[0] == major and f[1] == minor:
            return int(f[7]), int(f[9]) * 512
    raise AssertionError(f"{devnum} not in /proc/diskstats")


def test_direct_writes_reach_the_disk_exactly(loopdev):
    path, devnum = loopdev
    w = DiskWriter(path, "direct")
    try:
        with LiveSource(ProbeOptions(pid=w.p.pid)) as src:
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
    assert d.latency.counts[snapshot.Log2Histogram.bucket_of(d.latency_max_ns)] >= 1
    # and write() sent the same bytes to that very device
    (f,) = [f for f in s.files if f.pid == w.p.pid and f.kind != "pipe"]
    assert (f.path, f.disk, f.bytes) == (path, devnum, 16 * CHUNK)
    state = runstate.merge([s])
    (row,) = [r for r in tables.disk_rows(state) if r.dev == devnum]
    assert row.total_bytes == row.total_written == 16 * CHUNK
    assert row.iops == pytest.approx(16 / s.elapsed) and row.avg_size == CHUNK


def test_the_page_cache_holds_writes_until_fsync(loopdev):
    """write() without O_DIRECT: the bytes are counted as written at once, on the device only
    when they are flushed; the view shows both, so buffering can be seen."""
    path, devnum = loopdev
    cache = Path(f"/sys/block/{os.path.basename(path)}/queue/write_cache").read_text().strip()
    w = DiskWriter(path, "buffered")
    try:
        with LiveSource(ProbeOptions(pid=w.p.pid)) as src:
            src.sample()
            w.do("write 16")
            s1 = src.sample()
            w.do("fsync")
            time.sleep(0.1)
            s2 = src.sample()
    finally:
        w.close()
    state = runstate.merge([s1])
    (r1,) = [r for r in tables.disk_rows(state) if r.dev == devnum]
    assert r1.written_s == pytest.approx(16 * CHUNK / s1.elapsed) and r1.total_written == 16 * CHUNK
    assert r1.bytes_s == 0 and r1.total_bytes == 0  # all of it still in the page cache
    runstate.fold(state, s2)
    (r2,) = [r for r in tables.disk_rows(state) if r.dev == devnum]
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
    # LVM on one disk: dm-0 on sda1 is counted on sda, where its requests are seen; a volume
    # over two disks stays itself (its bytes cannot be split between them). This kernel has no
    # device-mapper, so this part is checked on a tree shaped like sysfs.
    (fake / "8:0" / "sda1" / "dev").write_text("8:1\n")
    (fake / "8:16").mkdir()
    (fake / "8:16" / "dev").write_text("8:16\n")
    for minor, parts in ((0, ("sda1",)), (1, ("sda1", "sdb"))):
        dm = fake / f"dm-{minor}"
        (dm / "slaves").mkdir(parents=True)
        for part in parts:
            (dm / "slaves" / part).symlink_to(fake / "8:0" / "sda1" if part == "sda1" else fake / "8:16")
        (fake / f"253:{minor}").symlink_to(dm)
    assert whole_disk(253, 0, str(fake)) == "8:0"
    assert whole_disk(253, 1, str(fake)) == "253:1"


def test_a_request_issued_before_wtop_started_is_counted_without_a_latency(tmp_path):
    """A request in flight when the probes attach: its completion has no issue to match. Made
    deterministic with a loop device whose backing file is on a frozen filesystem: the
    request waits, issued, until the filesystem thaws."""
    if shutil.which("fsfreeze") is None:
        pytest.fail("this test needs fsfreeze (util-linux)")
    with ext4_on_loop(tmp_path) as (mnt, _outer), loop_device(mnt / "inner.img", 16 << 20) as (inner, devnum):
        frozen = False
        w = None
        try:
            subprocess.run(["fsfreeze", "-f", str(mnt)], check=True)
            frozen = True
            w = subprocess.Popen(
                [sys.executable, "-c", WRITER, inner, "direct"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            w.stdin.write("write 1\n")
            w.stdin.flush()
            time.sleep(0.5)  # issued to the loop device, whose worker now waits for the thaw
            assert w.poll() is None
            with LiveSource(ProbeOptions()) as src:
                src.sample()
                subprocess.run(["fsfreeze", "-u", str(mnt)], check=True)
                frozen = False
                assert w.stdout.readline().strip() == "done"
                time.sleep(0.1)
                s = src.sample()
        finally:
            if frozen:
                subprocess.run(["fsfreeze", "-u", str(mnt)], check=False)
            if w is not None:
                w.kill()
                w.wait()
    (d,) = [d for d in s.disks if d.dev == devnum]
    assert (d.ios, d.bytes) == (1, CHUNK)  # counted: it did reach the device
    assert d.latency.total == 0  # but no latency is invented for it
    assert s.skipped.disk_no_issue >= 1  # and the status bar says so (the outer disk may add its own)


def test_devices_beyond_the_map_are_counted_together(tmp_path):
    """With room for one device, a second one's requests still count, as "(other devices)"."""
    with loop_device(tmp_path / "a.img") as (loop_a, _), loop_device(tmp_path / "b.img") as (loop_b, _):
        a, b = DiskWriter(loop_a, "direct"), DiskWriter(loop_b, "direct")
        try:
            with LiveSource(ProbeOptions(disks=1)) as src:
                src.sample()
                a.do("write 4")  # the first device seen takes the one entry
                b.do("write 2")
                time.sleep(0.1)
                s = src.sample()
        finally:
            a.close()
            b.close()
    loops = [loop_a, loop_b]
    rows = {d.name: d for d in s.disks}
    assert (rows[os.path.basename(loops[0])].bytes, rows[os.path.basename(loops[0])].ios) == (4 * CHUNK, 4)
    other = rows["(other devices)"]
    assert other.dev == "0:0" and other.bytes >= 2 * CHUNK and other.ios >= 2  # b, and any other disk
    assert other.latency.total == other.ios and other.latency_max_ns > 0
    b_row = rows.get(os.path.basename(loops[1]))
    assert b_row is None or (b_row.bytes, b_row.ios) == (0, 0)  # a row only for what write() sent it


SYNCER = """
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o600)
for line in sys.stdin:
    os.write(fd, b"x" * 100)
    os.fdatasync(fd)
    print("done", flush=True)
"""


def test_small_synced_writes_show_amplification_on_the_filesystems_disk(tmp_path):
    """100-byte writes each made durable with fdatasync to a file on ext4 on a loop device:
    write() sent exactly 100 B per write to that device (placed through the file's st_dev),
    and at least a 4 KiB block reached it for each: the ratio shows the amplification."""
    with ext4_on_loop(tmp_path) as (mnt, (_loop, devnum)):
        p = subprocess.Popen(
            [sys.executable, "-c", SYNCER, str(mnt / "journal.log")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            with LiveSource(ProbeOptions(pid=p.pid)) as src:
                src.sample()
                for _ in range(10):
                    p.stdin.write("go\n")
                    p.stdin.flush()
                    assert p.stdout.readline().strip() == "done"
                s = src.sample()
        finally:
            p.kill()
            p.wait()
    (f,) = [f for f in s.files if f.kind == "file"]
    assert (f.path, f.disk, f.bytes, f.writes) == (str(mnt / "journal.log"), devnum, 1000, 10)
    (row,) = [r for r in tables.disk_rows(runstate.merge([s])) if r.dev == devnum]
    assert row.written_s == pytest.approx(1000 / s.elapsed)
    (d,) = [d for d in s.disks if d.dev == devnum]
    assert d.bytes >= 10 * 4096 and d.bytes % 512 == 0  # whole blocks, each sync its own
    assert d.bytes / 1000 > 40  # what the disks view shows as the ratio: amplification
