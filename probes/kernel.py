"""The kernel side: attach the programs, read the maps' raw cumulative values, write the control
word, delete the entries of processes that are gone, detach.

Everything here is a thin layer over bpf(2) and perf_event_open (probes/bpfsys.py); the
programs themselves were compiled and loaded by a short-lived child (probes/loader.py), so
this process never imports bcc. What the values mean over an interval is the sampler's job
(probes/sampler.py), which is pure and tested without root.
"""

from __future__ import annotations

import ctypes as ct
import mmap
import operator
import os
import platform
import struct
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import NamedTuple

import numpy as np

from . import bpfsys
from .cells import FD_KEY, KEY_AT, WORDS, Cells, Freed
from .cells import SIZE as CELL_SIZE  # struct cell: its counters, its key, its epoch
from .loader import ProbeError, load
from .program import (
    BLOCK,
    BTF_HOOKS,
    BTF_VMLINUX,
    CALLS,
    FAMILIES,
    FOCUS_SLOTS,
    PACE_NOTE,
    RAW,
    REGISTERS,
    REQUIRED,
    SYNCS,
    TAILS,
    ProbeOptions,
    available_tracepoints,
    missing_notes,
    paces,
    prog_name,
    rename_has_pid,
    usable,
)
from .snapshot import BUCKETS, Log2Histogram

NCALLS = len(CALLS)
NTYPES = len(CALLS) + len(SYNCS)
FOREIGN = 1
"""fd_key's pad for writes that completed apart from their thread (writes.c)."""
DIRTY_KEY = struct.Struct("<II8s")  # struct dirty_key: tgid, pad, the bdi's name's first 8 bytes
DIRTY_MAX = 16384  # WTOP_DIRTY in writes.c
INFO = struct.Struct("<II16sQ")  # struct proc_info: uid, pad, comm, cgroup
_NAME = operator.itemgetter(2, 0, 3)  # (comm, uid, cgroup) of an unpacked proc_info
FAM_FIELDS = ("lat_sum", "lat_max", "lat_epoch", "sla_missed", "calls", "bytes", "errors")
FAM_WORDS = 2 * BUCKETS + len(FAM_FIELDS)  # struct fam_stats
CPU_FIELDS = ("bytes", "writes", "errors", "skip_map_full", "skip_no_entry")
CPU_STATS = struct.Struct(f"<{len(FAMILIES) * FAM_WORDS + len(CPU_FIELDS) + 2 * NTYPES}Q")  # struct cpu_stats
CTL = struct.Struct("<QII")  # struct wtop_ctl: epoch, focus, slot
FOCUS_STATS = CPU_STATS.size + 8  # struct focus_stats: a struct cpu_stats, then the tgid it counts and a pad
FOCUS_TGID = struct.Struct("<II")
DISK_STATS = struct.Struct(f"<{BUCKETS}Q8Q")  # struct disk_stats
DISK_FIELDS = ("bytes", "ios", "errors", "flushes", "lat_sum", "lat_max", "lat_epoch", "no_issue")


def _close_quietly(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


class ProgStats(NamedTuple):
    """What the kernel says of wtop's programs (Kernel.fdinfo_stats), cumulative."""

    misses: int | None
    """recursion_misses of the programs not on the block tracepoints; None where not shown."""
    disk_misses: int | None
    """recursion_misses of the disks' programs."""
    runs: tuple[int, int] | None
    """(run_time_ns, run_cnt) of all of them; None while kernel.bpf_stats_enabled is 0."""
    programs: tuple[tuple[str, int, int], ...] | None
    """(tracepoint, run_time_ns, run_cnt) of each attached program, as bpftop lists them."""


class Names:
    """The kernel's names (Kernel.read_names) as the sampler asks for them, by pid, after the
    interval's other reads: one lookup for each of the first ONE_BY_ONE asked, then the whole
    map at once. An interval's rows need the names of the processes that wrote in it, mostly a
    few; the map holds every process that wrote and lives, and reading 10,000 of them took
    5-8 ms an interval."""

    ONE_BY_ONE = 64

    def __init__(self, kernel: Kernel) -> None:
        self._kernel = kernel
        self._asked = 0
        self._all: dict[int, tuple[bytes, int, int]] | None = None
        self._pending: Callable[[], dict[int, tuple[bytes, int, int]]] | None = None

    def _read_all(self) -> dict[int, tuple[bytes, int, int]]:
        pending, self._pending = self._pending, None
        return pending() if pending is not None else self._kernel.read_names()

    def prefetch(self, wanted: int) -> None:
        """About `wanted` names will be asked for: if that means the whole map, its read starts
        now, on a thread (see Kernel.start_read_names), and get() or getter() waits for it."""
        if self._all is None and self._pending is None and self._asked + wanted > self.ONE_BY_ONE:
            self._pending = self._kernel.start_read_names()

    def get(self, pid: int, default: tuple[bytes, int, int] | None = None) -> tuple[bytes, int, int] | None:
        if self._all is None:
            if self._asked < self.ONE_BY_ONE and self._pending is None:
                self._asked += 1
                got = self._kernel.read_name(pid)
                return default if got is None else got
            self._all = self._read_all()
        return self._all.get(pid, default)

    def getter(self, wanted: int) -> Callable[[int], tuple[bytes, int, int] | None]:
        """get, for about `wanted` names to come: the whole map's own dict.get, read now, when
        they are more than the lookups one by one left (a burst's 10,000 rows then make no
        Python call each)."""
        if self._all is None and (self._pending is not None or self._asked + wanted > self.ONE_BY_ONE):
            self._all = self._read_all()
        return self.get if self._all is None else self._all.get


class Kernel:
    """wtop's programs and maps in the kernel. Use as a context manager."""

    def __init__(self, opts: ProbeOptions, self_tgid: int):
        # Start with what this kernel has: without sys_enter_write there is no latency, without
        # sched_process_exec no renames; each absence is said in a note, not a failure.
        have = set(available_tracepoints(bpfsys.tracefs()))
        wanted = usable(tuple(tp for tp in opts.tracepoints if tp in have))
        if REQUIRED not in wanted:
            raise ProbeError("this kernel has no raw_syscalls:sys_exit tracepoint (CONFIG_FTRACE_SYSCALLS)")
        if platform.machine() not in REGISTERS:
            raise ProbeError(f"wtop knows the system calls of {' and '.join(REGISTERS)}, not {platform.machine()}")
        opts = replace(
            opts,
            self_tgid=opts.self_tgid or self_tgid,
            tracepoints=wanted,
            rename_has_pid=rename_has_pid(bpfsys.tracefs()),
            modern=opts.modern and os.path.exists(BTF_VMLINUX),
            fetch=opts.fetch and bpfsys.release_at_least(5, 12),
        )
        self.notes: list[str] = missing_notes(wanted, opts.latency)
        self._progs, self._maps, self.loaded_from, opts = load(opts)
        self.opts = opts
        if paces(opts):
            self.notes.append(PACE_NOTE)
        if not opts.modern:
            self.notes.append(
                "probes: the plain programs (the lean ones need BTF and Linux 5.17): about 50 ns more a "
                "call, and libaio walked up to 32 requests a call"
            )
        if not opts.fetch:
            self.fill_free()
        self._cells_mm: mmap.mmap | None = None
        """The cells in place (with opts.fetch: a BPF_F_MMAPABLE array), else read into _cells."""
        self._links: list[tuple[int | None, int | None]] = []
        """(perf event fd or None, BPF link or raw tracepoint fd or None) per attached program."""
        self._perf_left: list[int] = []
        """Perf events whose programs were detached (their links closed), still to close."""
        self._closing: list[threading.Thread] | None = None
        self._close_lock = threading.Lock()
        self._names_thread: threading.Thread | None = None
        """A names read begun by start_read_names, until it is waited for."""
        try:
            tails = self._progs[len(opts.tracepoints) :]
            for slot, fd in enumerate(tails):  # before any program that calls them is attached
                bpfsys.update(self._maps["wtop_tails"], ct.c_uint32(slot), ct.c_uint32(fd))
            for fd, (category, event) in zip(self._progs[: len(opts.tracepoints)], opts.tracepoints, strict=True):
                if opts.modern and prog_name((category, event)) in BTF_HOOKS:  # by the type it was loaded for
                    self._links.append((None, bpfsys.attach_raw_tracepoint(fd, None)))
                elif (category, event) in RAW:
                    self._links.append((None, bpfsys.attach_raw_tracepoint(fd, event)))
                else:
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
        self._focus_buf = ct.create_string_buffer(FOCUS_STATS * self.ncpu)
        self._focus_slot = 0
        """The entry of wtop_focus named last (they are used in turn)."""
        self._focus_slots: dict[int, int] = {}
        """The entry of wtop_focus that counts each focused process."""
        if opts.fetch:
            size = -(-n * CELL_SIZE // mmap.PAGESIZE) * mmap.PAGESIZE
            rw = mmap.PROT_READ | mmap.PROT_WRITE
            self._cells_mm = mmap.mmap(self._maps["wtop_cells"], size, mmap.MAP_SHARED, rw)
            self._cells = None
        else:  # what only a copying read and a freeing write need
            self._cells = ct.create_string_buffer(n * CELL_SIZE)
            self._cell_idx = (ct.c_uint32 * n)()
            self._empty_cell = ct.create_string_buffer(CELL_SIZE)
        self._dirty_keys = ct.create_string_buffer(DIRTY_MAX * DIRTY_KEY.size)
        self._dirty_vals = ct.create_string_buffer(DIRTY_MAX * 8)
        self._name_buf = ct.create_string_buffer(INFO.size)
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
        """Start detaching every program now; close() finishes. Safe from any thread, and
        more than once.

        The system calls' programs are on raw tracepoints: closing one detaches it at once. A
        perf tracepoint's program (renames, the block layer, io_uring, dirtied folios) detaches
        when its BPF link is closed, after a kernel grace period of about 30 ms: each link is
        closed on a thread of its own, and the waits overlap (6 links: 200 ms one after another,
        58 ms side by side here). Closing the perf event itself waits again, for nothing wtop
        needs: close() leaves it to a child. Without links (older kernels) the perf event holds
        the program and is closed on its thread. Emptying wtop_tails (20-30 ms, the kernel
        patches the callers' jumps) overlaps too. The maps stay readable until close().
        """
        with self._close_lock:
            if self._closing is not None:
                return
            links, self._links = self._links, []
            slow = []
            for perf, link in links:
                if link is not None and perf is None:
                    _close_quietly(link)  # a raw tracepoint: sys_exit calls no libaio walk now
                elif link is not None:
                    slow.append(link)
                    self._perf_left.append(perf)
                else:
                    slow.append(perf)
            tails = self._maps.get("wtop_tails")

            def empty_tails() -> None:
                # the kernel empties it too when the last fd closes; done here, no exit can
                # leave it behind (a self-calling walk once did, Linux 6.18)
                for slot in range(len(TAILS)):
                    try:
                        bpfsys.delete(tails, ct.c_uint32(slot))
                    except OSError:
                        pass

            self._closing = [
                threading.Thread(target=_close_quietly, args=(fd,), daemon=True, name="detach") for fd in slow
            ]
            if tails is not None:
                self._closing.append(threading.Thread(target=empty_tails, daemon=True, name="detach-tails"))
            for t in self._closing:
                t.start()

    def close(self) -> None:
        """Detach, drop the programs and maps, and leave the idle perf events to a child."""
        self.begin_close()
        for t in self._closing:
            t.join()
        self._names_done()
        mm, self._cells_mm = self._cells_mm, None
        if mm is not None:
            try:
                mm.close()
            except BufferError:  # a read still going on the worker's thread (the screen does not
                pass  # wait for it): unmapped when that read lets go
        for fd in self._progs + list(self._maps.values()):
            _close_quietly(fd)
        self._progs, self._maps = [], {}
        perf, self._perf_left = self._perf_left, []
        bpfsys.close_in_background(perf)

    def prog_fds(self) -> list[int]:
        """The attached programs, in the order of opts.tracepoints (the tail-called ones not)."""
        return self._progs[: len(self.opts.tracepoints)]

    def map_fd(self, name: str) -> int:
        return self._maps[name]

    # -- raw cumulative readers --------------------------------------------------------------
    def _fdinfo_each(self, fields: tuple[str, ...], fdinfo: str) -> list[dict[str, int]] | None:
        """Each of wtop's programs' fields (those its fdinfo shows: an older kernel shows fewer),
        in the order of self._progs, one read of each file; None if a file cannot be read."""
        out = []
        for fd in self._progs:
            d: dict[str, int] = {}
            try:
                with open(f"{fdinfo}/{fd}") as f:
                    for line in f:
                        key, _, value = line.partition(":")
                        if key in fields:
                            d[key] = int(value)
            except OSError:
                return None
            out.append(d)
        return out

    def _on_disks(self) -> list[bool]:
        """Which of self._progs are on the block tracepoints (the tail-called ones are not)."""
        tps = self.opts.tracepoints
        return [i < len(tps) and tps[i] in BLOCK for i in range(len(self._progs))]

    @staticmethod
    def _total(each: list[dict[str, int]] | None, field: str, which: list[bool]) -> int | None:
        """A field summed over the programs chosen; None where one of them does not show it."""
        if each is None:
            return None
        vals = [d.get(field) for d, w in zip(each, which, strict=True) if w]
        return None if None in vals else sum(vals)

    def recursion_misses(self, fdinfo: str = "/proc/self/fdinfo") -> int | None:
        """Sum of the kernel's recursion_misses over wtop's programs, None if not exposed."""
        s = self.fdinfo_stats(fdinfo)
        return None if s.misses is None or s.disk_misses is None else s.misses + s.disk_misses

    def fdinfo_stats(self, fdinfo: str = "/proc/self/fdinfo") -> ProgStats:
        """The kernel's own figures of wtop's programs, in one read of each program's fdinfo.

        The disks' misses are apart because they have a cause of their own: a request completes
        in an interrupt, and the kernel skips a perf tracepoint's program while another one runs
        on that CPU, or while a bpf(2) call there copies a map (wtop's own reading of its maps,
        every interval). The run figures are the kernel's own accounting of what the programs
        cost; it counts only while kernel.bpf_stats_enabled is 1, and they are None otherwise."""
        each = self._fdinfo_each(("recursion_misses", "run_time_ns", "run_cnt"), fdinfo)
        disks = self._on_disks()
        rest = [not d for d in disks]
        try:
            with open("/proc/sys/kernel/bpf_stats_enabled") as f:
                stats_on = f.read().strip() == "1"
        except OSError:
            stats_on = False
        everyone = [True] * len(self._progs)
        ns, cnt = self._total(each, "run_time_ns", everyone), self._total(each, "run_cnt", everyone)
        runs = programs = None
        if stats_on and each is not None and ns is not None and cnt is not None:
            runs = (ns, cnt)
            # by the tracepoint each is attached to (a tail-called program's runs are its caller's)
            programs = tuple(
                (event, d["run_time_ns"], d["run_cnt"])
                for d, (_category, event) in zip(each, self.opts.tracepoints, strict=False)
            )
        return ProgStats(
            self._total(each, "recursion_misses", rest), self._total(each, "recursion_misses", disks), runs, programs
        )

    def read_cpu(self, name: str = "wtop_stats", key=None, stride: int = CPU_STATS.size) -> dict | None:
        """A struct cpu_stats summed over CPUs (the totals, or the focused process's: stride
        FOCUS_STATS, each CPU's copy with the process's tgid after it).

        "families" holds each family's histograms and counts by name; the write family's are
        also at the top level (sizes, lat, lat_max, sla_missed, lat_sum: the seed's figures).
        lat_max is the largest of the CPUs that saw a call in the current epoch."""
        buf = self._cpu_buf if stride == CPU_STATS.size else self._focus_buf
        if not bpfsys.lookup(self._maps[name], self._zero if key is None else key, buf):
            return None
        words = [0] * (CPU_STATS.size // 8)
        lat_max = [0] * len(FAMILIES)
        for cpu in range(self.ncpu):
            v = CPU_STATS.unpack_from(buf, cpu * stride)
            words = list(map(operator.add, words, v))
            for f in range(len(FAMILIES)):
                base = f * FAM_WORDS + 2 * BUCKETS
                if v[base + 2] == self.epoch:  # lat_epoch
                    lat_max[f] = max(lat_max[f], v[base + 1])
        families = {}
        for f, fam in enumerate(FAMILIES):
            base = f * FAM_WORDS
            d = dict(zip(FAM_FIELDS, words[base + 2 * BUCKETS : base + FAM_WORDS], strict=True))
            d["lat_max"] = lat_max[f]
            del d["lat_epoch"]
            d["sizes"] = Log2Histogram(tuple(words[base : base + BUCKETS]))
            d["lat"] = Log2Histogram(tuple(words[base + BUCKETS : base + 2 * BUCKETS]))
            families[fam] = d
        tail = words[len(FAMILIES) * FAM_WORDS :]
        acc = dict(zip(CPU_FIELDS, tail, strict=False))
        types = tail[len(CPU_FIELDS) :]
        write = families[FAMILIES[0]]
        acc.update(
            sizes=write["sizes"],
            lat=write["lat"],
            lat_max=write["lat_max"],
            lat_sum=write["lat_sum"],
            sla_missed=write["sla_missed"],
            call_writes=tuple(types[:NCALLS]),
            call_bytes=tuple(types[NTYPES : NTYPES + NCALLS]),
            sync_calls=tuple(types[NCALLS:NTYPES]),
            families=families,
        )
        return acc

    def read_focus(self, pid: int) -> dict | None:
        """The focused process's own counters (add_focus_entry), None if it has no entry."""
        slot = self._focus_slots.get(pid)
        return None if slot is None else self.read_cpu("wtop_focus", ct.c_uint32(slot), FOCUS_STATS)

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

    def read_cells(self, since: int | None = None) -> Cells:
        """The cells below the highest taken, as numpy arrays (cells.Cells): all of them, or
        only those counted in epoch `since` or later (a cell keeps the epoch of its last count),
        the others being as an earlier read found them. Read in place, or copied in one read."""
        high = min(self.cells_taken(), self.opts.map_size)
        if high and self._cells_mm is None:
            high = bpfsys.lookup_all(self._maps["wtop_cells"], self._cell_idx, self._cells, 4, CELL_SIZE, high)
        view = np.frombuffer(self._cells_mm if self._cells_mm is not None else self._cells, np.uint64, high * WORDS)
        return Cells.of(view.reshape(high, WORDS), since)  # a copy: the view goes with this frame

    def read_procs(self, since: int | None = None) -> dict[tuple, int]:
        """read_cells, the cells in use as a dict: packed counters (sampler.pack_counts: the
        struct's bytes as one little-endian int) by (tgid, fd, tid, pad, raw comm). pad is
        FOREIGN for writes that completed apart from their thread (io_uring, libaio)."""
        return self.read_cells(since).as_dict()

    def cells_taken(self) -> int:
        """How many cells the programs took fresh (wtop_next): the others were never used."""
        buf = ct.c_uint64()
        bpfsys.lookup(self._maps["wtop_next"], self._zero, buf)
        return buf.value

    def fill_free(self) -> None:
        """Queue every cell, in order, for programs that cannot take fresh ones themselves
        (without opts.fetch): before they start, so that wtop_next counts the cells taken."""
        n = self.opts.map_size
        bpfsys.push_all(self._maps["wtop_free"], (ct.c_uint32 * n)(*range(n)), 4, n)

    def read_dirty(self) -> dict[tuple[int, bytes], int]:
        """Cumulative folios dirtied by (tgid, the first 8 bytes of the backing device's name)."""
        keys, vals = self._dirty_keys, self._dirty_vals
        n = bpfsys.lookup_all(self._maps["wtop_dirty"], keys, vals, DIRTY_KEY.size, 8, DIRTY_MAX)
        if n == 0:
            return {}
        counts = memoryview(vals).cast("B")[: n * 8].cast("Q").tolist()
        pairs = DIRTY_KEY.iter_unpack(memoryview(keys)[: n * DIRTY_KEY.size])  # not .raw: a copy of the whole buffer
        return {(tgid, bdi): c for (tgid, _pad, bdi), c in zip(pairs, counts, strict=True)}

    def read_names(self) -> dict[int, tuple[bytes, int, int]]:
        """(raw comm, uid, cgroup id) by process, as the kernel saw them."""
        return self._names_from(self._lookup_names())

    def _lookup_names(self) -> int:
        return bpfsys.lookup_all(
            self._maps["wtop_info"], self._info_keys, self._info_vals, 4, INFO.size, len(self._info_keys)
        )

    def start_read_names(self) -> Callable[[], dict[int, tuple[bytes, int, int]]]:
        """read_names, begun now: the map's batch read on a thread of its own, while the
        sampler goes on (ctypes lets go of the GIL for the system call, in which the kernel
        walks the hash's every bucket: 3.2 ms of a 10,000-process burst's drain here). The
        callable returned waits for it and unpacks; it must be called (close() waits too)."""
        self._names_done()
        got: list = []

        def lookup() -> None:
            try:
                got.append(self._lookup_names())
            except BaseException as exc:  # handed to the caller
                got.append(exc)

        thread = threading.Thread(target=lookup, daemon=True, name="wtop-names")
        self._names_thread = thread
        thread.start()

        def finish() -> dict[int, tuple[bytes, int, int]]:
            self._names_done()
            if isinstance(got[0], BaseException):
                raise got[0]
            return self._names_from(got[0])

        return finish

    def _names_done(self) -> None:
        """Wait for a names read begun by start_read_names (its buffers are shared)."""
        thread, self._names_thread = self._names_thread, None
        if thread is not None:
            thread.join()

    def _names_from(self, n: int) -> dict[int, tuple[bytes, int, int]]:
        if n == 0:
            return {}
        # whole buffers at once: indexing a ctypes array entry by entry cost 2.7 ms an
        # interval for 2,000 processes
        pids = memoryview(self._info_keys).cast("B")[: n * 4].cast("I").tolist()
        rows = INFO.iter_unpack(memoryview(self._info_vals)[: n * INFO.size])
        return dict(zip(pids, map(_NAME, rows), strict=True))  # in C: a comprehension took twice as long

    def read_name(self, pid: int) -> tuple[bytes, int, int] | None:
        """One process's entry of read_names, None when it has none."""
        buf = self._name_buf
        if not bpfsys.lookup(self._maps["wtop_info"], ct.c_uint32(pid), buf):
            return None
        uid, _pad, comm, cgroup = INFO.unpack(buf.raw)
        return comm, uid, cgroup

    def names(self) -> Names:
        """read_names, read when first asked (see Names)."""
        return Names(self)

    def has_entry(self, pid: int) -> tuple[bool, bool]:
        """(in the process map, in the name map): for tests of the map's upkeep."""
        return any(k[0] == pid for k in self.read_procs()), self.read_name(pid) is not None

    # -- control and upkeep ------------------------------------------------------------------
    def write_ctl(self, focus: int | None) -> None:
        slot = self._focus_slots.get(focus, 0) if focus else 0
        bpfsys.update(
            self._maps["wtop_epoch"], self._zero, ct.create_string_buffer(CTL.pack(self.epoch, focus or 0, slot))
        )

    def advance_epoch(self, focus: int | None) -> None:
        self.epoch += 1
        self.write_ctl(focus)

    def _name_focus_entry(self, slot: int, pid: int) -> None:
        """Entry `slot` of wtop_focus zeroed, naming pid (0: nobody) in every CPU's copy."""
        buf = ct.create_string_buffer(FOCUS_STATS * self.ncpu)
        for cpu in range(self.ncpu):
            FOCUS_TGID.pack_into(buf, cpu * FOCUS_STATS + CPU_STATS.size, pid, 0)
        bpfsys.update(self._maps["wtop_focus"], ct.c_uint32(slot), buf)

    def add_focus_entry(self, pid: int) -> None:
        """The next entry of wtop_focus, zeroed, for a process about to be focused (the kernel
        counts only into the entry that names the process, so the entry comes before the name
        in the control word)."""
        self._focus_slot = (self._focus_slot + 1) % FOCUS_SLOTS
        self._name_focus_entry(self._focus_slot, pid)
        self._focus_slots[pid] = self._focus_slot

    def delete_focus_entry(self, pid: int) -> None:
        """The entry of a process no longer focused names nobody: a call of it in flight counts
        nowhere."""
        slot = self._focus_slots.pop(pid, None)
        if slot is not None:
            self._name_focus_entry(slot, 0)

    def focus_names(self) -> list[int]:
        """The process each entry of wtop_focus names (0: nobody), as CPU 0's copy says: for tests."""
        out = []
        for slot in range(FOCUS_SLOTS):
            bpfsys.lookup(self._maps["wtop_focus"], ct.c_uint32(slot), self._focus_buf)
            out.append(FOCUS_TGID.unpack_from(self._focus_buf, CPU_STATS.size)[0])
        return out

    def delete(self, keys: list[tuple], pids: list[int], freed: Freed | None) -> None:
        """Drop the entries of processes that are gone (their last values were read), as
        Sampler.step gave them: the keys of wtop_dirty (two fields) among keys, the names of
        pids, and the process map's entries by their cells (freed: Sampler.freed, which knows
        them; their five-field keys in keys are not looked at). A process map entry's cell is
        unmapped, emptied, then queued for the programs to take again."""
        if freed is not None:
            self._free(freed.cells, freed.keys)
        for key in keys:
            if len(key) == 2:  # (tgid, the backing device's name)
                raw = DIRTY_KEY.pack(key[0], 0, key[1])
                bpfsys.delete(self._maps["wtop_dirty"], ct.create_string_buffer(raw, len(raw)))
        if pids:  # one call (a batch where the kernel has them)
            bpfsys.delete_each(self._maps["wtop_info"], (ct.c_uint32 * len(pids))(*pids), 4, len(pids))

    def _free(self, cells: np.ndarray, keys: bytes) -> None:
        """Free these cells, whose keys (struct fd_key, end to end) the hash maps to them: the
        keys deleted in one call, the cells emptied in place (their tgid first: each reads as
        free from then on), then queued for the programs to take again."""
        if not len(cells):
            return
        buf = ct.create_string_buffer(keys, len(keys))
        deleted = bpfsys.delete_each(self._maps["wtop_procs"], buf, FD_KEY.size, len(cells))
        cells = cells[np.array(deleted, bool)].astype(np.uint32)  # not there: freed already
        mm = self._cells_mm
        if mm is not None:
            view = np.frombuffer(mm, np.uint64, self.opts.map_size * WORDS).reshape(-1, WORDS)
            view[cells, KEY_AT] = 0  # the tgid and fd, of every cell first
            view[cells] = 0
            del view  # the mmap cannot close while an array looks into it
        else:
            for i in cells.tolist():
                bpfsys.update(self._maps["wtop_cells"], ct.c_uint32(i), self._empty_cell)
        bpfsys.push_all(self._maps["wtop_free"], (ct.c_uint32 * len(cells)).from_buffer(cells), 4, len(cells))
