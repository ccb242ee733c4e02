"""The real probes: load (in a child, with BCC), attach, drain once per interval, detach.

Counters in the kernel are cumulative; each sample() computes the interval as the
difference from the previous read, so nothing is lost between a read and a clear. Entries
of processes that have exited are deleted after their last values were read.

This process never imports bcc: probes/loader.py compiles and loads the program in a
short-lived child and passes the fds over a Unix socket; the maps are read here with
plain bpf(2) calls (probes/bpfsys.py). That keeps LLVM's memory out of a dashboard that
may run for weeks.
"""

from __future__ import annotations

import ctypes as ct
import functools
import heapq
import json
import operator
import os
import socket
import stat
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

from . import bpfsys
from .names import safe_name
from .program import BLOCK, CALLS, MAPS, ProbeOptions, available_tracepoints, missing_notes
from .snapshot import BUCKETS, DiskWrites, FileWrites, FocusWrites, Log2Histogram, ProcessWrites, Skipped, Snapshot

NCALLS = len(CALLS)
FD_FIELDS = 3 + NCALLS  # struct fd_stats: bytes, writes, errors, calls[5]
FD_KEY = struct.Struct("<Ii")  # struct fd_key: tgid, fd
INFO = struct.Struct("<II16sQ")  # struct proc_info: uid, pad, comm, cgroup
CPU_STATS = struct.Struct(f"<{BUCKETS}Q{BUCKETS}Q9Q{NCALLS}Q{NCALLS}Q")  # struct cpu_stats
CPU_FIELDS = (
    "lat_max",
    "lat_epoch",
    "sla_missed",
    "bytes",
    "writes",
    "errors",
    "skip_map_full",
    "skip_no_entry",
    "lat_sum",
)
SWEEP = 10
CTL = struct.Struct("<QII")  # struct wtop_ctl: epoch, focus, pad
DISK_STATS = struct.Struct(f"<{BUCKETS}Q8Q")  # struct disk_stats
DISK_FIELDS = ("bytes", "ios", "errors", "flushes", "lat_sum", "lat_max", "lat_epoch", "no_issue")
OTHER_DISKS = "(other devices)"


RESOLVE_MAX = 512
"""Descriptors resolved per interval, the biggest writers first: resolving costs a readlink
(and a stat) each, and 20,000 of them took 320 ms (measured with 10,000 processes)."""
UNRESOLVED = "(not resolved: too many files this interval)"
FILES_MAX = 2000
"""(process, descriptor) pairs kept per interval, the biggest first: the files view shows the
top pairs, and 20,000 of them every second would swell JSON lines and recordings. Process
figures always count every pair."""


def resolve_fd(pid: int, fd: int, cached: tuple[str, str, str, str] | None = None) -> tuple[str, str, str, str]:
    """(path, kind, raw target, disk) of a descriptor, read from /proc/PID/fd in user space (wtop
    reads no kernel structs). It may have been closed, or reused, by the time it is resolved;
    with cached, a target that has not changed keeps its kind without a stat. disk is the
    "major:minor" of the whole disk holding a file, or written to as a device ("" if none)."""
    if fd < 0:
        return "(start of the call not seen)", "?", "", ""
    link = f"/proc/{pid}/fd/{fd}"
    try:
        target = os.readlink(link)
    except OSError:
        return "(closed)", "?", "", ""
    if cached is not None and cached[2] == target:
        return cached
    disk = ""
    if target.startswith("pipe:"):
        kind = "pipe"
    elif target.startswith("socket:"):
        kind = "socket"
    elif target.startswith(("/dev/pts/", "/dev/tty", "/dev/console")):
        kind = "terminal"
    elif target.startswith("/"):
        try:
            st = os.stat(link)
        except OSError:
            kind = "?"
        else:
            kind = "file" if stat.S_ISREG(st.st_mode) else "other"
            if kind == "file":
                disk = whole_disk(os.major(st.st_dev), os.minor(st.st_dev))
            elif stat.S_ISBLK(st.st_mode):
                disk = whole_disk(os.major(st.st_rdev), os.minor(st.st_rdev))
    else:
        kind = "other"  # anon_inode:[eventfd] and the like
    return safe_name(target), kind, target, disk


@functools.lru_cache(maxsize=1024)
def whole_disk(major: int, minor: int, sysfs: str = "/sys/dev/block", depth: int = 0) -> str:
    """The "major:minor" of the disk a block device belongs to: a partition's disk; for a
    stacked device (device-mapper, md) that sits on one disk only, as LVM on one disk does,
    that disk, where its requests are seen; the device itself otherwise. "" when it is no
    block device (tmpfs, overlay, btrfs subvolumes)."""
    base = f"{sysfs}/{major}:{minor}"
    if not os.path.exists(base):
        return ""
    me = f"{major}:{minor}"
    if os.path.exists(f"{base}/partition"):
        try:
            with open(f"{base}/../dev") as f:
                return f.read().strip()
        except OSError:
            return me
    try:
        slaves = os.listdir(f"{base}/slaves")
    except OSError:
        slaves = []
    if slaves and depth < 8:
        below = set()
        for s in slaves:
            try:
                with open(f"{base}/slaves/{s}/dev") as f:
                    smaj, smin = (int(x) for x in f.read().strip().split(":"))
            except (OSError, ValueError):
                return me
            below.add(whole_disk(smaj, smin, sysfs, depth + 1))
        if len(below) == 1 and "" not in below:
            return below.pop()
    return me


@functools.lru_cache(maxsize=1024)
def disk_name(major: int, minor: int, sysfs: str = "/sys/dev/block") -> str:
    """The kernel's name of a block device (vda, nvme0n1, loop3), made safe; major:minor if unknown."""
    try:
        return safe_name(os.path.basename(os.path.realpath(f"{sysfs}/{major}:{minor}")))
    except OSError:
        return f"{major}:{minor}"


def counts_delta(cur: dict, prev: dict) -> dict:
    """The interval's figures from two reads of a struct cpu_stats (the totals, or a focused
    process's), named as Snapshot and FocusWrites name them; lat_max is the interval's own."""
    return {
        "bytes": cur["bytes"] - prev["bytes"],
        "writes": cur["writes"] - prev["writes"],
        "errors": cur["errors"] - prev["errors"],
        "sizes": cur["sizes"] - prev["sizes"],
        "latency": cur["lat"] - prev["lat"],
        "latency_max_ns": cur["lat_max"],
        "latency_sum_ns": cur["lat_sum"] - prev["lat_sum"],
        "sla_missed": cur["sla_missed"] - prev["sla_missed"],
        "call_writes": tuple(map(operator.sub, cur["call_writes"], prev["call_writes"])),
        "call_bytes": tuple(map(operator.sub, cur["call_bytes"], prev["call_bytes"])),
    }


def _close_quietly(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


class ProbeError(RuntimeError):
    """The probes could not be loaded or attached; the message is for the user."""

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.details = details
        """What the compiler printed, if anything (several lines)."""


def load(opts: ProbeOptions, timeout: float = 60.0) -> tuple[list[int], dict[str, int]]:
    """Compile and load in a child; returns (program fds, map fds by name)."""
    programs = opts.tracepoints
    parent, child = socket.socketpair()
    env = {**os.environ, "WTOP_LOADER_FD": str(child.fileno())}
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.Popen(
        [sys.executable, "-m", "probes.loader", json.dumps(asdict(opts))],
        pass_fds=(child.fileno(),),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=root,
    )
    child.close()
    parent.settimeout(timeout)
    try:
        msg, fds, _flags, _addr = socket.recv_fds(parent, 65536, len(programs) + len(MAPS))
    except TimeoutError:
        proc.kill()
        msg, fds = b"", []
    finally:
        parent.close()
    _out, err = proc.communicate()
    details = err.decode(errors="replace").strip()
    info = json.loads(msg) if msg else {"error": "the BPF loader ended without an answer"}
    if "error" in info or len(fds) != len(programs) + len(MAPS):
        for fd in fds:
            os.close(fd)
        raise ProbeError(info.get("error", "the BPF loader sent the wrong number of fds"), details)
    progs = fds[: len(programs)]
    return progs, dict(zip(MAPS, fds[len(programs) :], strict=True))


class BccSource:
    """Real probes. Use as a context manager; sample() once per interval."""

    def __init__(self, opts: ProbeOptions, clock: Callable[[], float] = time.monotonic):
        # Start with what this kernel has: without sys_enter_write there is no latency, without
        # sched_process_exec no renames; each absence is said in a note, not a failure.
        have = set(available_tracepoints(bpfsys.tracefs()))
        wanted = tuple(tp for tp in opts.tracepoints if tp in have)
        if not all(tp in wanted for tp in BLOCK):  # the disks view needs both ends of a request
            wanted = tuple(tp for tp in wanted if tp not in BLOCK)
        if ("syscalls", "sys_exit_write") not in wanted:
            raise ProbeError("this kernel has no syscalls:sys_exit_write tracepoint (CONFIG_FTRACE_SYSCALLS)")
        opts = replace(opts, self_tgid=opts.self_tgid or os.getpid(), tracepoints=wanted)
        self.opts = opts
        self.notes: list[str] = missing_notes(wanted)
        self._clock = clock
        self._progs, self._maps = load(opts)
        self._links: list[int] = []
        self._closing: list[threading.Thread] | None = None
        self._close_lock = threading.Lock()
        try:
            for fd, (category, event) in zip(self._progs, opts.tracepoints, strict=True):
                self._links.append(bpfsys.attach_tracepoint(fd, category, event))
        except OSError as exc:
            self.close()
            raise ProbeError(f"could not attach the BPF programs: {exc}") from exc
        self.ncpu = bpfsys.possible_cpus()
        n = opts.map_size
        self._zero = ct.c_uint32(0)
        self._cpu_buf = ct.create_string_buffer(CPU_STATS.size * self.ncpu)
        self._keys = ct.create_string_buffer(n * FD_KEY.size)
        self._proc_vals = ct.create_string_buffer(n * FD_FIELDS * 8 * self.ncpu)
        self._info_keys = (ct.c_uint32 * n)()
        self._info_vals = ct.create_string_buffer(n * INFO.size)
        self._epoch_value = 0
        self._focus: int | None = None
        self._want_focus: int | None = None
        self._prev_focus: dict | None = None
        self._disk_cap = opts.disks + 1
        self._disk_keys = (ct.c_uint32 * self._disk_cap)()
        self._disk_vals = ct.create_string_buffer(self._disk_cap * DISK_STATS.size * self.ncpu)
        # the entry that counts the devices beyond opts.disks (the kernel only looks it up)
        zero = ct.create_string_buffer(DISK_STATS.size * self.ncpu)
        bpfsys.update(self._maps["wtop_disks"], ct.c_uint32(0), zero)
        self._prev_disks: dict[int, dict] = {}
        self._prev_procs: dict[tuple[int, int], tuple[int, ...]] = {}
        self._names: dict[int, tuple[str, int, int]] = {}
        self._safe: dict[bytes, str] = {}
        """safe_name results by raw comm: names repeat, and 10,000 of them cost 20 ms a second."""
        self._fd_cache: dict[tuple[int, int], tuple[str, str, str, str]] = {}
        self._alive_idle: set[int] = set()
        """Idle entries whose process was alive when last checked (re-checked every SWEEP samples)."""
        self._seq = 0
        self.last_drain_s = 0.0
        # Baselines: the first interval starts now, for the totals and for every process.
        self._prev_cpu = self._read_cpu()
        self._prev_procs = self._read_procs()
        self._prev_disks = self._read_disks()
        self._prev_misses = self.recursion_misses()
        self._t_prev = clock()
        if self._prev_misses is None:
            self.notes.append("recursion: unavailable, this kernel shows no recursion_misses in BPF fdinfo")
        if not bpfsys.batch_supported():
            self.notes.append("maps: read key by key, this kernel has no batch map operations")

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> BccSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def begin_close(self) -> None:
        """Start detaching now; close() finishes. Safe from any thread, and more than once.

        Each detach waits for kernel grace periods under a kernel-wide mutex (event_mutex:
        about 40-70 ms a tracepoint here, 13 tracepoints about 0.5 s even from threads), so
        the way out starts it the moment the user asks, and the screen's own teardown and the
        summary happen meanwhile. The maps stay readable until close().
        """
        with self._close_lock:
            if self._closing is not None:
                return
            links, self._links = self._links, []
            self._closing = [threading.Thread(target=_close_quietly, args=(fd,), daemon=True) for fd in links]
            for t in self._closing:
                t.start()

    def close(self) -> None:
        """Detach (close the perf links), then drop the programs and maps."""
        self.begin_close()
        for t in self._closing:
            t.join()
        for fd in self._progs + list(self._maps.values()):
            _close_quietly(fd)
        self._progs, self._maps = [], {}

    # -- reading ---------------------------------------------------------------------------
    def prog_fds(self) -> list[int]:
        return list(self._progs)

    def map_fd(self, name: str) -> int:
        return self._maps[name]

    def recursion_misses(self, fdinfo: str = "/proc/self/fdinfo") -> int | None:
        """Sum of the kernel's recursion_misses over wtop's programs, None if not exposed."""
        total = 0
        for fd in self._progs:
            try:
                with open(f"{fdinfo}/{fd}") as f:
                    for line in f:
                        if line.startswith("recursion_misses:"):
                            total += int(line.split()[1])
                            break
                    else:
                        return None
            except OSError:
                return None
        return total

    def _read_cpu(self, name: str = "wtop_stats", key=None) -> dict | None:
        """A struct cpu_stats summed over CPUs (the totals, or the focused process's)."""
        if not bpfsys.lookup(self._maps[name], self._zero if key is None else key, self._cpu_buf):
            return None
        sizes = [0] * BUCKETS
        lat = [0] * BUCKETS
        call_writes = [0] * NCALLS
        call_bytes = [0] * NCALLS
        acc = dict.fromkeys(CPU_FIELDS[2:], 0)
        lat_max = 0
        nf = len(CPU_FIELDS)
        for cpu in range(self.ncpu):
            v = CPU_STATS.unpack_from(self._cpu_buf, cpu * CPU_STATS.size)
            for i in range(BUCKETS):
                sizes[i] += v[i]
                lat[i] += v[BUCKETS + i]
            fields = dict(zip(CPU_FIELDS, v[2 * BUCKETS : 2 * BUCKETS + nf], strict=True))
            tail = v[2 * BUCKETS + nf :]
            for i in range(NCALLS):
                call_writes[i] += tail[i]
                call_bytes[i] += tail[NCALLS + i]
            for k in acc:
                acc[k] += fields[k]
            # the maximum of this interval: CPUs that saw a write since the epoch advanced
            if fields["lat_epoch"] == self._epoch_value:
                lat_max = max(lat_max, fields["lat_max"])
        acc["lat_max"] = lat_max
        acc["call_writes"] = tuple(call_writes)
        acc["call_bytes"] = tuple(call_bytes)
        acc["sizes"] = Log2Histogram(tuple(sizes))
        acc["lat"] = Log2Histogram(tuple(lat))
        return acc

    def _write_ctl(self) -> None:
        bpfsys.update(
            self._maps["wtop_epoch"],
            self._zero,
            ct.create_string_buffer(CTL.pack(self._epoch_value, self._focus or 0, 0)),
        )

    def _advance_epoch(self) -> None:
        self._epoch_value += 1
        self._write_ctl()

    # -- drill-down: one process counted on its own ----------------------------------------
    def set_focus(self, pid: int | None) -> None:
        """Count this process's writes on their own from the next interval on (None: stop).
        Safe from any thread: the sampling thread applies it."""
        self._want_focus = pid

    def _apply_focus(self) -> None:
        want = self._want_focus
        if want == self._focus:
            return
        old = self._focus
        fd = self._maps["wtop_focus"]
        if want:
            # the entry first, then the name: the kernel counts only into an existing entry
            zero = ct.create_string_buffer(CPU_STATS.size * self.ncpu)
            bpfsys.update(fd, ct.c_uint32(want), zero)
        self._focus = want
        self._write_ctl()
        self._prev_focus = self._read_cpu("wtop_focus", ct.c_uint32(want)) if want else None
        if old:
            bpfsys.delete(fd, ct.c_uint32(old))

    def _focus_delta(self) -> FocusWrites | None:
        pid = self._focus
        if not pid:
            return None
        cur = self._read_cpu("wtop_focus", ct.c_uint32(pid))
        prev = self._prev_focus
        if cur is None or prev is None:
            return None
        self._prev_focus = cur
        return FocusWrites(pid=pid, no_entry=cur["skip_no_entry"] - prev["skip_no_entry"], **counts_delta(cur, prev))

    # -- the disks ---------------------------------------------------------------------------
    def _read_disks(self) -> dict[int, dict]:
        """Cumulative struct disk_stats by kernel dev_t, summed over CPUs."""
        n = bpfsys.lookup_all(
            self._maps["wtop_disks"], self._disk_keys, self._disk_vals, 4, DISK_STATS.size * self.ncpu, self._disk_cap
        )
        out = {}
        raw = self._disk_vals.raw
        for i in range(n):
            lat = [0] * BUCKETS
            acc = dict.fromkeys(DISK_FIELDS, 0)
            lat_max = 0
            base = i * DISK_STATS.size * self.ncpu
            for cpu in range(self.ncpu):
                v = DISK_STATS.unpack_from(raw, base + cpu * DISK_STATS.size)
                for b in range(BUCKETS):
                    lat[b] += v[b]
                fields = dict(zip(DISK_FIELDS, v[BUCKETS:], strict=True))
                for k in DISK_FIELDS:
                    acc[k] += fields[k]
                if fields["lat_epoch"] == self._epoch_value:
                    lat_max = max(lat_max, fields["lat_max"])
            acc["lat_max"] = lat_max
            acc["lat"] = Log2Histogram(tuple(lat))
            out[self._disk_keys[i]] = acc
        return out

    def _disk_deltas(self, cur: dict[int, dict], files: list[FileWrites]) -> tuple[list[DiskWrites], int]:
        """The devices with write requests or flushes in the interval, and those that write()
        sent bytes to (through files on them) with nothing reaching them yet."""
        prev = self._prev_disks
        self._prev_disks = cur
        rows, no_issue = [], 0
        for dev, c in cur.items():
            p = prev.get(dev)
            if p is None:
                p = dict.fromkeys(DISK_FIELDS, 0)
                p["lat"] = Log2Histogram()
            d = {k: c[k] - p[k] for k in ("bytes", "ios", "errors", "flushes", "lat_sum", "no_issue")}
            no_issue += d["no_issue"]
            if not (d["ios"] or d["flushes"]):
                continue
            major, minor = dev >> 20, dev & 0xFFFFF
            rows.append(
                DiskWrites(
                    dev=f"{major}:{minor}",
                    name=disk_name(major, minor) if dev else OTHER_DISKS,
                    bytes=d["bytes"],
                    ios=d["ios"],
                    errors=d["errors"],
                    flushes=d["flushes"],
                    latency=c["lat"] - p["lat"],
                    latency_max_ns=c["lat_max"],
                    latency_sum_ns=d["lat_sum"],
                )
            )
        seen = {r.dev for r in rows}
        for f in files:
            if f.disk and f.disk not in seen:
                seen.add(f.disk)
                major, minor = (int(x) for x in f.disk.split(":"))
                rows.append(DiskWrites(dev=f.disk, name=disk_name(major, minor), bytes=0, ios=0))
        rows.sort(key=lambda r: (-r.bytes, r.dev))
        return rows, no_issue

    def _read_procs(self) -> dict[tuple[int, int], tuple[int, ...]]:
        """Cumulative (bytes, writes, errors, calls...) by (tgid, fd), summed over CPUs.

        Column by column: one strided slice per field and CPU, summed across CPUs with map(),
        so the per-entry work runs in C (20,000 entries: 52 ms entry by entry, measured).
        """
        vsize = FD_FIELDS * 8 * self.ncpu
        cap = self.opts.map_size
        n = bpfsys.lookup_all(self._maps["wtop_procs"], self._keys, self._proc_vals, FD_KEY.size, vsize, cap)
        if n == 0:
            return {}
        words = memoryview(self._proc_vals).cast("B")[: n * vsize].cast("Q")
        fields, ncpu = FD_FIELDS, self.ncpu
        per = fields * ncpu
        columns = []
        for f in range(fields):
            col = words[f::per].tolist()
            for c in range(1, ncpu):
                col = list(map(operator.add, col, words[c * fields + f :: per].tolist()))
            columns.append(col)
        keys = FD_KEY.iter_unpack(self._keys.raw[: n * FD_KEY.size])
        return dict(zip(keys, zip(*columns, strict=True), strict=True))

    def _read_names(self) -> None:
        n = bpfsys.lookup_all(
            self._maps["wtop_info"], self._info_keys, self._info_vals, 4, INFO.size, len(self._info_keys)
        )
        raw = self._info_vals.raw
        names = {}
        safe = self._safe
        if len(safe) > 65536:
            safe.clear()
        for i in range(n):
            uid, _pad, comm, cgroup = INFO.unpack_from(raw, i * INFO.size)
            name = safe.get(comm)
            if name is None:
                name = safe[comm] = safe_name(comm)
            names[self._info_keys[i]] = (name, uid, cgroup)
        self._names = names

    def _files(self, active: list) -> list[FileWrites]:
        """The interval's FILES_MAX biggest (process, descriptor) pairs; the RESOLVE_MAX biggest
        of them resolved to a path and kind."""
        focus = self._focus
        if len(active) > FILES_MAX:
            mine = [kd for kd in active if kd[0][0] == focus]  # the open page shows all of its own
            active = heapq.nlargest(FILES_MAX, active, key=lambda kd: kd[1][0])
            active += [kd for kd in mine if kd not in active]
        else:
            active.sort(key=lambda kd: -kd[1][0])
        cache = self._fd_cache
        if len(cache) > 100_000:
            cache.clear()
        files = []
        for n, ((pid, fd), delta) in enumerate(active):
            if n < RESOLVE_MAX or pid == focus:
                resolved = cache[(pid, fd)] = resolve_fd(pid, fd, cache.get((pid, fd)))
            else:
                resolved = cache.get((pid, fd), (UNRESOLVED, "?", "", ""))
            files.append(FileWrites(pid, fd, resolved[0], resolved[1], delta[0], delta[1], resolved[3]))
        return files

    def has_entry(self, pid: int) -> tuple[bool, bool]:
        """(in the process map, in the name map): for tests of the map's upkeep."""
        procs = any(k[0] == pid for k in self._read_procs())
        info = bpfsys.lookup(self._maps["wtop_info"], ct.c_uint32(pid), ct.create_string_buffer(INFO.size))
        return procs, info

    def _dead(self, idle: list[int]) -> list[int]:
        """Which idle processes have exited.

        A process that just went idle is checked at once (that is where exits show up
        during churn); one found alive before is checked again every SWEEP samples, so a
        large idle population costs little.
        """
        if self._seq % SWEEP == 0:
            self._alive_idle.clear()
        dead = []
        for pid in idle:
            if pid in self._alive_idle:
                continue
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                dead.append(pid)
            except PermissionError:
                self._alive_idle.add(pid)
            else:
                self._alive_idle.add(pid)
        return dead

    def _delete(self, keys: list[tuple[int, int]], pids: list[int]) -> None:
        for key in keys:
            bpfsys.delete(self._maps["wtop_procs"], ct.create_string_buffer(FD_KEY.pack(*key), FD_KEY.size))
        for pid in pids:
            bpfsys.delete(self._maps["wtop_info"], ct.c_uint32(pid))

    def sample(self) -> Snapshot:
        """Read the maps and return what happened since the previous sample."""
        t0 = self._clock()
        cpu = self._read_cpu()
        focus = self._focus_delta()
        disk_now = self._read_disks()
        self._advance_epoch()
        procs = self._read_procs()
        self._read_names()
        misses = self.recursion_misses()
        prev_get = self._prev_procs.get
        per_pid: dict[int, tuple[int, ...]] = {}
        pid_get = per_pid.get
        active = []
        add_active = active.append
        sub, add = operator.sub, operator.add
        for key, vals in procs.items():  # 20,000 entries in a burst: kept lean
            old = prev_get(key)
            if old is None:
                delta = vals  # a new entry: all of it is this interval's
            elif vals == old:
                continue
            else:
                delta = tuple(map(sub, vals, old))
            pid = key[0]
            acc = pid_get(pid)
            per_pid[pid] = delta if acc is None else tuple(map(add, acc, delta))
            add_active((key, delta))
        files = self._files(active)
        disks, disk_no_issue = self._disk_deltas(disk_now, files)
        self._alive_idle.difference_update(per_pid)
        names_get = self._names.get
        unknown = ("?", -1, 0)
        rows = []
        for pid, d in per_pid.items():
            comm, uid, cgroup = names_get(pid, unknown)
            rows.append(ProcessWrites(pid, comm, uid, d[0], d[1], d[2], d[3:], cgroup))
        # Processes that wrote nothing this interval and no longer exist: their final values
        # are read, so their entries can go without losing a write.
        idle = {key[0] for key in procs}.difference(per_pid)
        if idle:
            dead = set(self._dead(list(idle)))
            if dead:
                gone = [key for key in procs if key[0] in dead]
                self._delete(gone, list(dead))
                for key in gone:
                    procs.pop(key, None)
                    self._fd_cache.pop(key, None)
                self._alive_idle.difference_update(dead)
        self._prev_procs = procs
        pc = self._prev_cpu
        self._prev_cpu = cpu
        now = self._clock()
        elapsed = now - self._t_prev
        self._t_prev = now
        self._seq += 1
        skipped = Skipped(
            map_full=cpu["skip_map_full"] - pc["skip_map_full"],
            no_entry=cpu["skip_no_entry"] - pc["skip_no_entry"],
            recursion_misses=(misses - self._prev_misses)
            if misses is not None and self._prev_misses is not None
            else 0,
            disk_no_issue=disk_no_issue,
        )
        self._prev_misses = misses
        self._apply_focus()
        self.last_drain_s = now - t0
        return Snapshot(
            seq=self._seq,
            time=time.time(),
            elapsed=elapsed,
            processes=tuple(rows),
            sla_ns=self.opts.sla_ns,
            skipped=skipped,
            files=tuple(files),
            notes=tuple(self.notes),
            **counts_delta(cpu, pc),
            disks=tuple(disks),
            focus=focus,
        )
