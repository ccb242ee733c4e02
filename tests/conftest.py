"""Shared fixtures: synthetic snapshots, the compiled test writer, root/BPF gating, loop devices."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from probes.snapshot import BUCKETS, Log2Histogram, ProcessWrites, Skipped, Snapshot

ROOT = Path(__file__).resolve().parent.parent
WRITES_C = ROOT / "probes" / "writes.c"


def declared_maps() -> set[str]:
    """Every map writes.c declares (the first wtop_ name on each BPF_ line)."""
    names = set()
    for line in WRITES_C.read_text().splitlines():
        if line.startswith("BPF_") and (m := re.search(r"\b(wtop_\w+)", line)):
            names.add(m.group(1))
    return names


def _map_id(fdinfo: str) -> int | None:
    """The map id in a descriptor's fdinfo (reading it opens no map), None for another kind."""
    with open(fdinfo) as f:
        for ln in f:
            if ln.startswith("map_id:"):
                return int(ln.split()[1])
    return None


def fdinfo_of(fd: int) -> dict[str, str]:
    """This process's descriptor's fdinfo, field by field (a program's prog_type, a map's
    map_type and memlock...)."""
    lines = Path(f"/proc/self/fdinfo/{fd}").read_text().splitlines()
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)


def map_ids_of(pid: int) -> set[int]:
    """The ids of the BPF maps a process holds."""
    ids = set()
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            ids.add(_map_id(f"/proc/{pid}/fdinfo/{fd}"))
        except OSError:
            pass  # closed meanwhile
    return ids - {None}


def existing_map_ids() -> set[int]:
    """Every map id in the kernel, walked with BPF_MAP_GET_NEXT_ID, which opens no map.

    Opening one (bpftool map list does, by id) while wtop exits can make the kernel keep
    wtop_tails for good: when the last user of a prog_array goes, the kernel takes a reference
    and schedules its emptying; a second last user (bpftool's fd, opened and closed) before that
    work ran takes another reference and schedules the same work again, which does not queue
    twice, so one reference is never put (kernel/bpf/arraymap.c, prog_array_map_clear, Linux
    6.18). Polling bpftool right after a kill left the map behind in 4 of 15 runs here."""
    import ctypes as ct

    from probes import bpfsys

    class NextId(ct.Structure):
        _fields_ = [("start_id", ct.c_uint32), ("next_id", ct.c_uint32), ("open_flags", ct.c_uint32)]

    ids, attr = set(), NextId(0, 0, 0)
    while True:
        try:
            bpfsys._bpf(12, attr)  # BPF_MAP_GET_NEXT_ID
        except bpfsys.BpfError:
            return ids  # ENOENT: past the last
        ids.add(attr.next_id)
        attr.start_id = attr.next_id


def map_names(fds) -> dict[int, str]:
    """Name by id of the maps behind these descriptors of this process, as the kernel has them
    (progcache.map_info: BPF_OBJ_GET_INFO_BY_FD, no map opened again)."""
    from probes.progcache import map_info

    return {_map_id(f"/proc/self/fdinfo/{fd}"): map_info(fd)["name"] for fd in fds}


def maps_left(ids: set[int], timeout: float = 3.0) -> set[int]:
    """Which of these maps still exist once the kernel had up to `timeout` to free them (it
    frees closed maps after an RCU grace period), found without opening any."""
    deadline = time.monotonic() + timeout
    while True:
        left = ids & existing_map_ids()
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.05)


HELPERS = Path(__file__).resolve().parent / "helpers"


def writes_skipped(s: Snapshot) -> int:
    """What the interval skipped, but for the disks' programs' misses (Skipped.disk_missed): a
    disk request completes in an interrupt, and the kernel skips a tracepoint's program while
    a bpf(2) call copies a map on that CPU, as every sample does. The write calls' figures do
    not use the disks', so a test of those wants this to be 0, whatever the disk did."""
    return s.skipped.total - s.skipped.disk_missed


def hist(**buckets: int) -> Log2Histogram:
    """hist(b13=5) -> 5 writes in bucket 13 ([4K, 8K))."""
    counts = [0] * BUCKETS
    for k, v in buckets.items():
        counts[int(k[1:])] = v
    return Log2Histogram(tuple(counts))


def snap(
    seq: int = 1,
    procs=(),
    elapsed: float = 1.0,
    sizes=None,
    latency=None,
    skipped=None,
    latency_max_ns: int = 0,
    sla_missed: int = 0,
    sla_ns: int = 10_000_000,
) -> Snapshot:
    """A snapshot from (pid, comm, uid, bytes, writes) tuples; totals follow from them."""
    rows = tuple(ProcessWrites(*p) for p in procs)
    skipped = skipped or Skipped()
    sizes = sizes or Log2Histogram()
    latency = latency or Log2Histogram()
    return Snapshot(
        seq=seq,
        time=1_700_000_000.0 + seq,
        elapsed=elapsed,
        processes=rows,
        sizes=sizes,
        latency=latency,
        latency_max_ns=latency_max_ns,
        sla_ns=sla_ns,
        sla_missed=sla_missed,
        bytes=sum(r.bytes for r in rows),
        writes=sum(r.writes for r in rows),
        skipped=skipped,
    )


@pytest.fixture(scope="session")
def helper_bins():
    """The C helpers of tests/helpers, compiled once per session, runnable by any user."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.fail("a C compiler is needed to build tests/helpers/*.c (run-tests.sh installs gcc)")
    d = tempfile.mkdtemp(prefix="wtop-bin-")
    os.chmod(d, 0o755)
    bins = {}
    for src in sorted(HELPERS.glob("*.c")):
        out = Path(d) / src.stem
        subprocess.run([cc, "-O2", "-pthread", "-o", str(out), str(src)], check=True)
        bins[src.stem] = str(out)
    yield bins
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def writer_bin(helper_bins) -> str:
    """A writer with a known workload (tests/helpers/writer.c)."""
    return helper_bins["writer"]


@pytest.fixture(scope="session")
def churn_bin(helper_bins) -> str:
    """Short-lived processes by the thousand (tests/helpers/churn.c)."""
    return helper_bins["churn"]


def require_root() -> None:
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("BPF tests must run as root in CI")
        pytest.skip("needs root")


class Writer:
    """A started writer process, blocked until go()."""

    def __init__(
        self,
        writer_bin: str,
        name: bytes,
        size: int,
        count: int,
        path: str,
        period_ms: int = 0,
        threads: int = 1,
        repeats: int = 0,
    ):
        args = [name, size, count, path, period_ms, threads, repeats]
        self.proc = subprocess.Popen(
            [writer_bin.encode(), *(a if isinstance(a, bytes) else str(a).encode() for a in args)],
            stdin=subprocess.PIPE,
        )
        self.pid = self.proc.pid

    def go(self) -> None:
        self.proc.stdin.write(b"g")
        self.proc.stdin.close()

    def wait(self, timeout: float = 10) -> int:
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def spawn(writer_bin):
    started: list[Writer] = []

    def make(name: bytes, size: int, count: int, path: str = "/dev/null", **kw) -> Writer:
        w = Writer(writer_bin, name, size, count, path, **kw)
        started.append(w)
        return w

    yield make
    for w in started:
        w.kill()


# -- block devices of a test's own (the disks view) --------------------------------------

CHUNK = 64 * 1024


@contextmanager
def loop_device(image: Path, size: int = 16 << 20) -> Iterator[tuple[str, str]]:
    """A loop device over a new file: a block device of the test's own, so every request on
    it is the test's. Yields (path, "major:minor"); detached afterwards."""
    if shutil.which("losetup") is None or not os.path.exists("/dev/loop-control"):
        pytest.fail("the disk tests need losetup and /dev/loop-control (util-linux, CONFIG_BLK_DEV_LOOP)")
    with open(image, "wb") as f:
        f.truncate(size)
    out = subprocess.run(["losetup", "-f", "--show", str(image)], check=True, capture_output=True, text=True)
    path = out.stdout.strip()
    try:
        st = os.stat(path)
        time.sleep(0.2)  # udev and the partition scan read it once; reads are not counted anyway
        yield path, f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
    finally:
        subprocess.run(["losetup", "-d", path], check=False)


@contextmanager
def ext4_on_loop(tmp_path: Path) -> Iterator[tuple[Path, tuple[str, str]]]:
    """An ext4 filesystem on a 64 MiB loop device, mounted: yields (mount point, (device,
    "major:minor")); unmounted and detached afterwards."""
    for tool in ("mkfs.ext4", "mount", "umount"):
        if shutil.which(tool) is None:
            pytest.fail(f"the disk tests need {tool} (e2fsprogs, util-linux)")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    with loop_device(tmp_path / "fs.img", 64 << 20) as dev:
        subprocess.run(["mkfs.ext4", "-q", "-F", dev[0]], check=True)
        subprocess.run(["mount", dev[0], str(mnt)], check=True)
        try:
            yield mnt, dev
        finally:
            subprocess.run(["umount", str(mnt)], check=False)


@pytest.fixture
def loopdev(tmp_path):
    """A 64 MiB loop device of the test's own: (path, "major:minor")."""
    with loop_device(tmp_path / "disk.img", 64 << 20) as dev:
        yield dev


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
    """A process writing CHUNK-sized blocks to a path on command ("write N", "fsync")."""

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


# -- wtop itself, started and waited for -------------------------------------------------

READY_TIMEOUT = 180.0
"""How long wtop may take to compile and attach its probes: 0.9 s on an idle machine, 3 s on
two busy cores; generous, because a slow machine must not fail a test, only a dead wtop."""


def wtop_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "tui.cli", *args]


class Ready:
    """A socket that wtop tells READY=1 once its probes are attached (set NOTIFY_SOCKET=path in
    its environment), as systemd's Type=notify has it. Never a fixed wait."""

    def __init__(self) -> None:
        import socket

        self._dir = tempfile.mkdtemp(prefix="wtop-notify-")
        self.path = os.path.join(self._dir, "notify")
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(self.path)
        self._sock.settimeout(0.2)

    def wait(self, alive, what: str = "wtop") -> None:
        """Until READY=1; fails the test if alive() turns false first, or after READY_TIMEOUT."""
        deadline = time.monotonic() + READY_TIMEOUT
        try:
            while True:
                try:
                    if self._sock.recv(64) == b"READY=1":
                        return
                except TimeoutError:
                    pass
                if not alive():
                    pytest.fail(f"{what} ended before its probes were attached")
                if time.monotonic() > deadline:
                    pytest.fail(f"{what}: probes not attached after {READY_TIMEOUT:.0f} s")
        finally:
            self._sock.close()
            shutil.rmtree(self._dir, ignore_errors=True)


def start_wtop(*args: str, env: dict | None = None, **popen) -> subprocess.Popen:
    """Start `wtop ARGS` and return once its probes are attached and counting."""
    ready = Ready()
    popen.setdefault("stdout", subprocess.PIPE)
    popen.setdefault("stderr", subprocess.PIPE)
    proc = subprocess.Popen(
        wtop_cmd(*args), cwd=ROOT, env={**(env or os.environ), "NOTIFY_SOCKET": ready.path}, **popen
    )
    try:
        ready.wait(lambda: proc.poll() is None, f"wtop {' '.join(args)}")
    except BaseException:
        if proc.poll() is None:
            proc.kill()
        if proc.stderr:
            print(proc.stderr.read().decode(errors="replace"))
        raise
    return proc
