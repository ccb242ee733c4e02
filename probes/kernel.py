"""The kernel side: attach the programs, read the maps' raw cumulative values, write the control
word, delete the entries of processes that are gone, detach.

Everything here is a thin layer over bpf(2) and perf_event_open (probes/bpfsys.py); the
programs themselves were compiled and loaded by a short-lived child (probes/loader.py), so
this process never imports bcc. What the values mean over an interval is the sampler's job
(probes/sampler.py), which is pure and tested without root.
"""

from __future__ import annotations

import ctypes as ct
import operator
import os
import struct
import threading
from dataclasses import replace

from . import bpfsys
from .loader import ProbeError, load
from .program import BLOCK, CALLS, ProbeOptions, available_tracepoints, missing_notes, rename_has_pid
from .snapshot import BUCKETS, Log2Histogram

NCALLS = len(CALLS)
FD_FIELDS = 3 + NCALLS  # struct fd_stats: bytes, writes, errors, calls[5]
FD_KEY = struct.Struct("<IiII16s")  # struct fd_key: tgid, fd, tid, pad, comm
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
CTL = struct.Struct("<QII")  # struct wtop_ctl: epoch, focus, pad
DISK_STATS = struct.Struct(f"<{BUCKETS}Q8Q")  # struct disk_stats
DISK_FIELDS = ("bytes", "ios", "errors", "flushes", "lat_sum", "lat_max", "lat_epoch", "no_issue")


def _close_quietly(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


class Kernel:
    """wtop's programs and maps in the kernel. Use as a context manager."""

    def __init__(self, opts: ProbeOptions, self_tgid: int):
        # Start with what this kernel has: without sys_enter_write there is no latency, without
        # sched_process_exec no renames; each absence is said in a note, not a failure.
        have = set(available_tracepoints(bpfsys.tracefs()))
        wanted = tuple(tp for tp in opts.tracepoints if tp in have)
        if not all(tp in wanted for tp in BLOCK):  # the disks view needs both ends of a request
            wanted = tuple(tp for tp in wanted if tp not in BLOCK)
        if ("syscalls", "sys_exit_write") not in wanted:
            raise ProbeError("this kernel has no syscalls:sys_exit_write tracepoint (CONFIG_FTRACE_SYSCALLS)")
        opts = replace(
            opts,
            self_tgid=opts.self_tgid or self_tgid,
            tracepoints=wanted,
            rename_has_pid=rename_has_pid(bpfsys.tracefs()),
        )
        self.opts = opts
        self.notes: list[str] = missing_notes(wanted)
        self._progs, self._maps, self.loaded_from = load(opts)
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
        self.epoch = 0
        """The interval number the kernel stamps maxima with; advanced after each read."""
        self._zero = ct.c_uint32(0)
        self._cpu_buf = ct.create_string_buffer(CPU_STATS.size * self.ncpu)
        self._keys = ct.create_string_buffer(n * FD_KEY.size)
        self._proc_vals = ct.create_string_buffer(n * FD_FIELDS * 8 * self.ncpu)
        self._info_keys = (ct.c_uint32 * n)()
        self._info_vals = ct.create_string_buffer(n * INFO.size)
        self._disk_cap = opts.disks + 1
        self._disk_keys = (ct.c_uint32 * self._disk_cap)()
        self._disk_vals = ct.create_string_buffer(self._disk_cap * DISK_STATS.size * self.ncpu)
        # the entry that counts the devices beyond opts.disks (the kernel only looks it up)
        bpfsys.update(self._maps["wtop_disks"], ct.c_uint32(0), ct.create_string_buffer(DISK_STATS.size * self.ncpu))
        if self.recursion_misses() is None:
            self.notes.append("recursion: unavailable, this kernel shows no recursion_misses in BPF fdinfo")
        if not bpfsys.batch_supported():
            self.notes.append("maps: read key by key, this kernel has no batch map operations")

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> Kernel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def begin_close(self) -> None:
        """Start detaching now; close() finishes. Safe from any thread, and more than once.

        Each detach waits for kernel grace periods under a kernel-wide mutex (event_mutex:
        about 40-70 ms a tracepoint here, 13 tracepoints about 0.5 s even from threads), so
        every way out starts it the moment the user asks, and the screen's own teardown and
        the summary happen meanwhile. The maps stay readable until close().
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

    def prog_fds(self) -> list[int]:
        return list(self._progs)

    def map_fd(self, name: str) -> int:
        return self._maps[name]

    # -- raw cumulative readers --------------------------------------------------------------
    def _fdinfo_sums(self, fields: tuple[str, ...], fdinfo: str) -> dict[str, int | None]:
        """Each field summed over wtop's programs' fdinfo, one read of each file; a field that
        some program does not show (an older kernel), or an unreadable file, gives None."""
        sums: dict[str, int] = dict.fromkeys(fields, 0)
        seen: dict[str, int] = dict.fromkeys(fields, 0)
        for fd in self._progs:
            try:
                with open(f"{fdinfo}/{fd}") as f:
                    for line in f:
                        key, _, value = line.partition(":")
                        if key in sums:
                            sums[key] += int(value)
                            seen[key] += 1
            except OSError:
                return dict.fromkeys(fields)
        return {k: (v if seen[k] == len(self._progs) else None) for k, v in sums.items()}

    def recursion_misses(self, fdinfo: str = "/proc/self/fdinfo") -> int | None:
        """Sum of the kernel's recursion_misses over wtop's programs, None if not exposed."""
        return self._fdinfo_sums(("recursion_misses",), fdinfo)["recursion_misses"]

    def fdinfo_stats(self, fdinfo: str = "/proc/self/fdinfo") -> tuple[int | None, tuple[int, int] | None]:
        """(recursion_misses, (run_time_ns, run_cnt)) in one read of each program's fdinfo. The
        run figures are the kernel's own accounting of what the programs cost; it counts only
        while kernel.bpf_stats_enabled is 1, and they are None otherwise."""
        d = self._fdinfo_sums(("recursion_misses", "run_time_ns", "run_cnt"), fdinfo)
        try:
            with open("/proc/sys/kernel/bpf_stats_enabled") as f:
                stats_on = f.read().strip() == "1"
        except OSError:
            stats_on = False
        ns, runs = d["run_time_ns"], d["run_cnt"]
        return d["recursion_misses"], ((ns, runs) if stats_on and ns is not None and runs is not None else None)

    def read_cpu(self, name: str = "wtop_stats", key=None) -> dict | None:
        """A struct cpu_stats summed over CPUs (the totals, or the focused process's); lat_max
        is the largest of the CPUs that saw a write in the current epoch."""
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
            if fields["lat_epoch"] == self.epoch:
                lat_max = max(lat_max, fields["lat_max"])
        acc["lat_max"] = lat_max
        acc["call_writes"] = tuple(call_writes)
        acc["call_bytes"] = tuple(call_bytes)
        acc["sizes"] = Log2Histogram(tuple(sizes))
        acc["lat"] = Log2Histogram(tuple(lat))
        return acc

    def read_focus(self, pid: int) -> dict | None:
        return self.read_cpu("wtop_focus", ct.c_uint32(pid))

    def read_disks(self) -> dict[int, dict]:
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
                if fields["lat_epoch"] == self.epoch:
                    lat_max = max(lat_max, fields["lat_max"])
            acc["lat_max"] = lat_max
            acc["lat"] = Log2Histogram(tuple(lat))
            out[self._disk_keys[i]] = acc
        return out

    def read_procs(self) -> dict[tuple, tuple[int, ...]]:
        """Cumulative (bytes, writes, errors, calls...) by (tgid, fd, tid, pad, raw comm),
        summed over CPUs.

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

    def read_names(self) -> dict[int, tuple[bytes, int, int]]:
        """(raw comm, uid, cgroup id) by process, as the kernel saw them."""
        n = bpfsys.lookup_all(
            self._maps["wtop_info"], self._info_keys, self._info_vals, 4, INFO.size, len(self._info_keys)
        )
        raw = self._info_vals.raw
        out = {}
        for i in range(n):
            uid, _pad, comm, cgroup = INFO.unpack_from(raw, i * INFO.size)
            out[self._info_keys[i]] = (comm, uid, cgroup)
        return out

    def has_entry(self, pid: int) -> tuple[bool, bool]:
        """(in the process map, in the name map): for tests of the map's upkeep."""
        procs = any(k[0] == pid for k in self.read_procs())
        info = bpfsys.lookup(self._maps["wtop_info"], ct.c_uint32(pid), ct.create_string_buffer(INFO.size))
        return procs, info

    # -- control and upkeep ------------------------------------------------------------------
    def write_ctl(self, focus: int | None) -> None:
        bpfsys.update(
            self._maps["wtop_epoch"], self._zero, ct.create_string_buffer(CTL.pack(self.epoch, focus or 0, 0))
        )

    def advance_epoch(self, focus: int | None) -> None:
        self.epoch += 1
        self.write_ctl(focus)

    def add_focus_entry(self, pid: int) -> None:
        """A zeroed entry for a process about to be focused (the kernel only counts into an
        existing entry, so the entry comes before the name in the control word)."""
        bpfsys.update(self._maps["wtop_focus"], ct.c_uint32(pid), ct.create_string_buffer(CPU_STATS.size * self.ncpu))

    def delete_focus_entry(self, pid: int) -> None:
        bpfsys.delete(self._maps["wtop_focus"], ct.c_uint32(pid))

    def delete(self, keys: list[tuple], pids: list[int]) -> None:
        """Drop the entries of processes that are gone (their last values were read)."""
        for key in keys:
            bpfsys.delete(self._maps["wtop_procs"], ct.create_string_buffer(FD_KEY.pack(*key), FD_KEY.size))
        for pid in pids:
            bpfsys.delete(self._maps["wtop_info"], ct.c_uint32(pid))
