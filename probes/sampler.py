"""Pure: two reads of the kernel's cumulative counters -> what happened in between, as a Snapshot.

The kernel's counters only ever grow; each interval is the difference of two reads, so
nothing that arrives between a read and a clear is lost (bpftop's way). The entries of
processes that exited are deleted only after their last values were read: step() says which.

No map, no clock of its own, no /proc: the lookups (a descriptor's path, whether a process is
alive, a disk's name) are passed in, so the arithmetic is unit-tested from recorded readings
without root (tests/unit/test_sampler.py).
"""

from __future__ import annotations

import heapq
import itertools
import operator
import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from . import procfs
from .cells import COUNTS, SYNCS_AT, Cells, CellState, Freed
from .dirtied import READ_MAX
from .names import safe_name
from .snapshot import (
    DIRTIERS,
    Cost,
    DiskWrites,
    Family,
    FileWrites,
    FocusWrites,
    Log2Histogram,
    ProcessWrites,
    Skipped,
    Snapshot,
    ThreadWrites,
)

if TYPE_CHECKING:
    from .kernel import Names

OTHER_DISKS = "(other devices)"
_COUNTS = struct.Struct(f"<{COUNTS}Q")


def pack_counts(values: tuple[int, ...]) -> int:
    """An entry's counters as one int, 64 bits each, the first lowest: the raw bytes of the
    kernel's struct read as one little-endian number (kernel.read_procs makes them so).

    An interval is then one subtraction per entry and a process's sum one addition, where
    tuples took a map() over every counter: a burst of 10,000 processes has 20,000 entries.
    Exact, because each counter only grows: a difference never borrows from the next one,
    and a sum would need 2**64 bytes or calls to carry into it."""
    return int.from_bytes(_COUNTS.pack(*values, *(0,) * (COUNTS - len(values))), "little")


def unpack_counts(packed: int) -> tuple[int, ...]:
    return _COUNTS.unpack(packed.to_bytes(_COUNTS.size, "little"))


def unpack_all(packed: Iterable[int]) -> Iterator[tuple[int, ...]]:
    """unpack_counts of each, the conversions in C."""
    size, little = itertools.repeat(_COUNTS.size), itertools.repeat("little")
    return _COUNTS.iter_unpack(b"".join(map(int.to_bytes, packed, size, little)))


_new = tuple.__new__
"""A named tuple made from a tuple of all its fields, without its __new__'s Python frame."""


Dirtied = tuple[dict[int, int], dict[int, int], dict[int, tuple[bytes, int]], set[int] | None]
"""What Sampler's dirtied callable returns (see Sampler.__init__)."""

UNKNOWN = ("?", -1, 0)
"""(name, uid, cgroup id) of a process the kernel's names do not hold."""
UNKNOWN_RAW = (b"?", -1, 0)
"""The same, as the kernel's names would hold it."""

SWEEP = 10
"""Idle processes found alive are checked again every SWEEP samples. Where exit records say
which processes ended, a process is dead when its record came, and each idle one is checked
once in SWEEP samples, in turn, in case its record was lost: a burst of 10,000 processes that
went idle cost 10,000 kill(pid, 0) calls, 15 ms, in the next interval."""
RESOLVE_MAX = 256
"""New descriptors resolved per interval, the biggest writers first: resolving costs a
readlink (and a stat) each, and 20,000 of them took 320 ms (measured with 10,000 processes);
512 took 10 ms of a 10,000-process burst's interval. 256 is still eight times the rows a
120x40 files view shows, and 1,000 new steady writers are all resolved in 4 intervals.
Known ones among the RESOLVE_MAX biggest are read again (see VERIFY_TOP)."""
VERIFY_TOP = 64
VERIFY_EVERY = 4
"""A descriptor resolved before is read again (it may have been closed and its number reused,
as a log rotation does) every interval when it is among the VERIFY_TOP biggest (what the files
view shows first), else every VERIFY_EVERY intervals, in turn: 1,000 steady writers had cost
512 readlinks a second, 10 ms, most of the sampler under load (now 112)."""
FILES_MAX = 2000
"""(process, descriptor) pairs kept per interval, the biggest first: the files view shows the
top pairs, and 20,000 of them every second would swell JSON lines and recordings. Process
figures always count every pair."""
DISK_DELTAS = ("bytes", "ios", "errors", "flushes", "lat_sum", "no_issue")


@dataclass
class Reading:
    """One read of every cumulative counter, in the order the live source reads them."""

    cpu: dict
    """The totals (kernel.read_cpu): bytes, writes, histograms, calls, skipped counters."""
    procs: Cells | dict[tuple, int]
    """The kernel's cells read (the live source's), or the same as a dict, as tests write them:
    the counters (packed: pack_counts) by (pid, fd, tid, pad, raw comm of the writing thread)."""
    names: dict[int, tuple[bytes, int, int]] | Names = field(default_factory=dict)
    """(raw comm, uid, cgroup id) by pid. Only get() is used: the live source's are read from
    the kernel as they are asked for (kernel.Names)."""
    disks: dict[int, dict] = field(default_factory=dict)
    misses: int | None = None
    """recursion_misses over wtop's programs but the disks', None where the kernel does not say."""
    disk_misses: int | None = None
    """recursion_misses over the disks' programs (kernel.fdinfo_stats says why apart)."""
    runs: tuple[int, int] | None = None
    """(run_time_ns, run_cnt) of wtop's programs (bpf_stats), None while it is off."""
    programs: tuple[tuple[str, int, int], ...] | None = None
    """(tracepoint, run_time_ns, run_cnt) of each attached program, None while bpf_stats is off."""
    self_cpu: float = 0.0
    """CPU seconds this process (the dashboard, or batch) has used."""
    focus: dict | None = None
    """The focused process's own counters (kernel.read_cpu of its entry)."""
    dirty: dict[tuple[int, bytes], int] = field(default_factory=dict)
    """Folios dirtied by (pid, the first 8 bytes of the backing device's name), cumulative."""
    exits_lost: int = 0
    """Exit records lost so far (cumulative)."""
    time: float = 0.0
    """Monotonic seconds when read."""
    wall: float = 0.0
    """Epoch seconds when read."""
    partial: bool = False
    """procs, a dict, holds only the entries that may have moved since the previous Reading
    (the kernel's cells counted lately); the others are as that one read them. (Cells say
    which cells they hold.)"""


def families_delta(cur: dict, prev: dict, sla_ns: int, sync_sla_ns: int) -> tuple[Family, ...]:
    """Each family's figures over the interval (empty when the reads have no families)."""
    out = []
    for name, c in cur.get("families", {}).items():
        p = prev.get("families", {}).get(name)
        if p is None:
            continue
        out.append(
            Family(
                name=name,
                calls=c["calls"] - p["calls"],
                bytes=c["bytes"] - p["bytes"],
                errors=c["errors"] - p["errors"],
                sizes=c["sizes"] - p["sizes"],
                latency=c["lat"] - p["lat"],
                latency_max_ns=c["lat_max"],
                latency_sum_ns=c["lat_sum"] - p["lat_sum"],
                sla_missed=c["sla_missed"] - p["sla_missed"],
                sla_ns=sync_sla_ns if name == "sync" else sla_ns,
            )
        )
    return tuple(out)


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
        "sync_calls": tuple(map(operator.sub, cur.get("sync_calls", ()), prev.get("sync_calls", ()))),
    }


def _programs_delta(cur, prev) -> tuple[tuple[str, int, int], ...]:
    """Each program's run time and runs in the interval, by tracepoint; () unless both reads
    have them (bpf_stats on at both)."""
    if not cur or not prev or len(cur) != len(prev):
        return ()
    return tuple((name, ns - ns0, n - n0) for (name, ns, n), (_, ns0, n0) in zip(cur, prev, strict=True))


def _delta(cur: int | None, prev: int | None) -> int:
    """A cumulative counter's change, 0 where the kernel does not show it."""
    return cur - prev if cur is not None and prev is not None else 0


def _dev_name(dev: int, name: Callable[[int, int], str]) -> str:
    return name(dev >> 20, dev & 0xFFFFF) if dev else OTHER_DISKS


class Sampler:
    """Deltas between consecutive Readings, as Snapshots."""

    def __init__(
        self,
        first: Reading,
        sla_ns: int,
        notes: list[str],
        resolve: Callable = procfs.resolve_fd,
        alive: Callable[[int], bool] = procfs.alive,
        disk_name: Callable[[int, int], str] = procfs.disk_name,
        sync_sla_ns: int | None = None,
        dirtied: Callable[[list[int]], Dirtied] | None = None,
        bdi_disk: Callable[[bytes], str] = procfs.bdi_disk,
    ) -> None:
        self.sla_ns = sla_ns
        self.sync_sla_ns = sla_ns if sync_sla_ns is None else sync_sla_ns
        self.notes = notes
        self._resolve = resolve
        self._alive = alive
        self._disk_name = disk_name
        self._dirtied = dirtied
        """(bytes dirtied by each process itself, bytes its children that ended passed on to it,
        (raw comm, uid) of those the probes may not have named) of the processes given: the
        kernel's accounting (probes/dirtied.py); then the processes whose exit record came since
        the last call, or None when the records cannot vouch for the others (see
        LiveSource._dirtied). None: not counted."""
        self._bdi_disk = bdi_disk
        self._slots: dict[tuple, int] = {}
        """The cell of each key of readings made of dicts (Cells.from_dict)."""
        self._state = CellState()
        self.freed: Freed | None = None
        """The kernel's cells of the last step's keys to delete, and their keys as the kernel's
        hash holds them (None when the readings were dicts, or nothing went): Kernel.delete
        frees the process map's entries by it."""
        self._state.step(self._cells(first), 0, None)
        self._prev = replace(first, names={}, procs={})
        self._prev_focus: dict | None = None
        self._focus: int | None = None
        self._seq = 0
        self._safe: dict[bytes, str] = {}
        """safe_name results by raw comm: names repeat, and 10,000 of them cost 20 ms a second."""
        self._fd_cache: dict[tuple[int, int], tuple[str, str, str, str]] = {}
        self._alive_idle: set[int] = set()
        """Idle processes alive when last checked (re-checked every SWEEP samples)."""
        self._ended: dict[int, int] = {}
        """The sample in which each process's exit record came, for SWEEP samples."""

    def focus_moved(self, pid: int | None, baseline: dict | None) -> None:
        """The kernel now counts pid on its own, from these counters on (None: nobody)."""
        self._focus = pid
        self._prev_focus = baseline

    # -- the parts of one step ---------------------------------------------------------------
    def _cells(self, r: Reading) -> Cells:
        if isinstance(r.procs, Cells):
            return r.procs
        return Cells.from_dict(r.procs, self._slots, whole=not r.partial)

    def _safe_comm(self, comm: bytes) -> str:
        name = self._safe.get(comm)
        if name is None:
            name = self._safe[comm] = safe_name(comm)
        return name

    def _name(self, raw: tuple[bytes, int, int] | None) -> tuple[str, int, int]:
        """(name made safe, uid, cgroup id) of a process from its raw entry in the kernel's
        names, or unknown ones."""
        if raw is None:
            return UNKNOWN
        comm, uid, cgroup = raw
        return self._safe_comm(comm), uid, cgroup

    def _files(self, active: list[tuple[int, int, int, int, int]]) -> list[FileWrites]:
        """The interval's (process, descriptor) pairs as CellState.step picked them (the
        FILES_MAX biggest, the biggest first, and the open page's process's every one), each with
        a path and kind: new ones resolved, the biggest RESOLVE_MAX first; known ones read again
        in turn (see VERIFY_TOP)."""
        focus = self._focus
        cache = self._fd_cache
        if len(cache) > 100_000:
            cache.clear()
        files = []
        turn = self._seq % VERIFY_EVERY
        new = RESOLVE_MAX
        for n, (pid, fd, nbytes, writes, syncs) in enumerate(active):
            known = cache.get((pid, fd))
            if known is None and new > 0:  # the biggest new ones, up to RESOLVE_MAX
                new -= 1
                resolved = cache[(pid, fd)] = self._resolve(pid, fd, None)
            elif pid == focus or (
                known is not None and n < RESOLVE_MAX and (n < VERIFY_TOP or (pid + fd) % VERIFY_EVERY == turn)
            ):
                resolved = cache[(pid, fd)] = self._resolve(pid, fd, known)
            else:
                resolved = known or (procfs.UNRESOLVED, "?", "", "")
            files.append(
                _new(
                    FileWrites,
                    (
                        pid,
                        fd,
                        resolved[0],
                        resolved[1],
                        nbytes,
                        writes,
                        resolved[3],
                        syncs,
                    ),
                )
            )
        return files

    def _disks(self, cur: dict[int, dict], prev: dict[int, dict], files: list[FileWrites]):
        """The devices with write requests or flushes in the interval, and those that write()
        sent bytes to (through files on them) with nothing reaching them yet."""
        rows, no_issue = [], 0
        for dev, c in cur.items():
            p = prev.get(dev)
            d = {k: c[k] - (p[k] if p else 0) for k in DISK_DELTAS}
            no_issue += d["no_issue"]
            if not (d["ios"] or d["flushes"]):
                continue
            rows.append(
                DiskWrites(
                    dev=f"{dev >> 20}:{dev & 0xFFFFF}",
                    name=_dev_name(dev, self._disk_name),
                    bytes=d["bytes"],
                    ios=d["ios"],
                    errors=d["errors"],
                    flushes=d["flushes"],
                    latency=c["lat"] - (p["lat"] if p else Log2Histogram()),
                    latency_max_ns=c["lat_max"],
                    latency_sum_ns=d["lat_sum"],
                )
            )
        seen = {r.dev for r in rows}
        for f in files:
            if f.disk and f.disk not in seen:
                seen.add(f.disk)
                major, minor = (int(x) for x in f.disk.split(":"))
                rows.append(DiskWrites(dev=f.disk, name=self._disk_name(major, minor), bytes=0, ios=0))
        rows.sort(key=lambda r: (-r.bytes, r.dev))
        return rows, no_issue

    def _dirtied_disks(self, disks: list[DiskWrites], rows: list, folios: dict, files: list[FileWrites]):
        """Each device's share of what processes dirtied: a process's exact bytes shared by the
        folios it dirtied on each device (the tracepoint has no size: a large folio counts as
        one), or, with no folio seen (direct I/O), by the bytes it wrote to files on each."""
        by_pid: dict[int, dict[str, int]] = {}
        for (pid, bdi), n in folios.items():
            dev = self._bdi_disk(bdi)
            if dev:
                d = by_pid.setdefault(pid, {})
                d[dev] = d.get(dev, 0) + n
        file_disks: dict[int, dict[str, int]] = {}
        for f in files:
            if f.disk and f.bytes:
                d = file_disks.setdefault(f.pid, {})
                d[f.disk] = d.get(f.disk, 0) + f.bytes
        shares: dict[str, list[tuple[int, str, int]]] = {}
        for p in rows:
            mine = p.dirtied - p.dirtied_children  # its children's are on their own rows
            if not mine:
                continue
            parts = by_pid.get(p.pid) or file_disks.get(p.pid)
            if not parts:
                continue
            whole = sum(parts.values())
            left = mine
            for n, (dev, part) in enumerate(sorted(parts.items(), key=lambda kv: -kv[1])):
                share = left if n == len(parts) - 1 else mine * part // whole
                left -= share
                if share:
                    shares.setdefault(dev, []).append((p.pid, p.comm, share))
        if not shares:
            return disks
        for mine in shares.values():
            mine.sort(key=lambda t: (-t[2], t[0]))
        out = []
        for d in disks:
            mine = shares.pop(d.dev, None)
            if mine:
                d = replace(d, dirtied=sum(t[2] for t in mine), dirtied_by=tuple(mine[:DIRTIERS]))
            out.append(d)
        for dev, mine in sorted(shares.items()):
            major, minor = (int(x) for x in dev.split(":"))
            out.append(
                DiskWrites(
                    dev=dev,
                    name=self._disk_name(major, minor),
                    bytes=0,
                    ios=0,
                    dirtied=sum(t[2] for t in mine),
                    dirtied_by=tuple(mine[:DIRTIERS]),
                )
            )
        return out

    def _note_ended(self, ended: set[int] | None, writers: Iterable[int]) -> bool:
        """Remember this sample's exit records; whether they vouch for the processes without
        one. A process that wrote in the sample is a new one if its pid had a record before."""
        if ended is None:
            return False
        book = self._ended
        if book:
            for pid in book.keys() & writers:
                del book[pid]
            if self._seq % SWEEP == 0:
                old = self._seq - SWEEP
                for pid in [p for p, seq in book.items() if seq < old]:
                    del book[pid]
        for pid in ended:
            book[pid] = self._seq
        return True

    def _dead(self, idle: list[int], vouched: bool = False) -> set[int]:
        """Which idle processes have exited. With exit records that vouch for the rest, those
        with a record, and those found gone by the check each gets in turn. Else one that just
        went idle is checked at once (that is where exits show up during churn); one found
        alive before, every SWEEP samples."""
        if vouched:
            turn = self._seq % SWEEP
            book, alive = self._ended, self._alive
            return {pid for pid in idle if pid in book or (pid % SWEEP == turn and not alive(pid))}
        if self._seq % SWEEP == 0:
            self._alive_idle.clear()
        dead = set()
        for pid in idle:
            if pid in self._alive_idle:
                continue
            if self._alive(pid):
                self._alive_idle.add(pid)
            else:
                dead.add(pid)
        return dead

    def _focus_delta(self, cur: dict | None) -> FocusWrites | None:
        prev = self._prev_focus
        if not self._focus or cur is None or prev is None:
            return None
        self._prev_focus = cur
        return FocusWrites(
            pid=self._focus,
            no_entry=cur["skip_no_entry"] - prev["skip_no_entry"],
            families=families_delta(cur, prev, self.sla_ns, self.sync_sla_ns),
            **counts_delta(cur, prev),
        )

    # -- one step ----------------------------------------------------------------------------
    def step(self, r: Reading) -> tuple[Snapshot, list[tuple], list[int]]:
        """The Snapshot since the previous Reading, and the map entries that may now go: those
        of processes that wrote nothing and no longer exist (their final values are in)."""
        prev = self._prev
        moved = self._state.step(self._cells(r), FILES_MAX, self._focus)
        pids, columns = moved.pids, moved.counts
        per_pid = dict.fromkeys(pids)  # the processes that wrote, as a set in their order
        names = r.names
        if not isinstance(names, dict):  # the kernel's: a read of them all may start now
            names.prefetch(len(pids))
        files = self._files(moved.files)
        disks, disk_no_issue = self._disks(r.disks, prev.disks, files)
        prev_dirty = prev.dirty.get
        dirty_d = {}  # folios dirtied in the interval by (pid, device name)
        for key, n in r.dirty.items():
            if n != prev_dirty(key, 0):
                dirty_d[key] = n - prev_dirty(key, 0)
        dirty_pids = {k[0] for k in dirty_d}
        if self._dirtied is not None:
            # the likeliest first: those that dirtied the most folios, then the biggest writers
            # (direct I/O dirties no folio)
            folios: dict[int, int] = {}
            for (pid, _bdi), n in dirty_d.items():
                folios[pid] = folios.get(pid, 0) + n
            order = sorted(folios, key=lambda pid: -folios[pid])
            # a writer that dirtied no folio can only have done direct I/O, to a file or to a
            # disk: not one whose every descriptor is known to lead elsewhere (/dev/null, a
            # pipe, a socket, a terminal); unresolved or unlisted ones may have
            maybe = {f.pid for f in files if f.kind in ("file", "?") or f.disk}
            elsewhere = {f.pid for f in files} - maybe
            writers = [p for p in per_pid if p not in folios and p not in elsewhere]
            bytes_of = dict(zip(pids, columns[0], strict=True))
            if len(writers) > READ_MAX:  # only the head is read now: only the head is sorted
                head = heapq.nlargest(READ_MAX, writers, key=bytes_of.__getitem__)  # a key in C
                chosen = set(head)
                writers = head + [p for p in writers if p not in chosen]
            else:
                writers.sort(key=bytes_of.__getitem__, reverse=True)  # stable: ties keep their order
            order += writers
            dirtied, children, dirty_names, ended = self._dirtied(order)
            vouched = self._note_ended(ended, per_pid.keys())
        else:
            dirtied, children, dirty_names = {}, {}, {}
            vouched = False
        self._alive_idle.difference_update(per_pid)
        self._alive_idle.difference_update(dirty_pids)
        # names made safe only for the rows: not those of every process that ever wrote (10,000
        # idle ones cost 2 ms every interval)
        if len(self._safe) > 65536:
            self._safe.clear()
        names_get = names.get if isinstance(names, dict) else names.getter(len(per_pid))
        dirtied_get, children_get = dirtied.get, children.get
        safe_get, safe_comm = self._safe.get, self._safe_comm
        rows = []
        add_row = rows.append
        # each row made as the tuple it is (tuple.__new__, every field given): a third less
        # than a call of ProcessWrites each (and less than a map and a zip of its columns)
        calls = zip(*columns[3:SYNCS_AT], strict=True)  # each process's calls by type, as tuples made in C
        for pid, nbytes, writes, errors, by_type, syncs in zip(
            pids, columns[0], columns[1], columns[2], calls, columns[SYNCS_AT], strict=True
        ):
            comm, uid, cgroup = names_get(pid) or UNKNOWN_RAW
            comm = safe_get(comm) or safe_comm(comm)
            kids = children_get(pid, 0)
            add_row(
                _new(
                    ProcessWrites,
                    (
                        pid,
                        comm,
                        uid,
                        nbytes,
                        writes,
                        errors,
                        by_type,
                        cgroup,
                        syncs,
                        dirtied_get(pid, 0) + kids,
                        kids,
                    ),
                )
            )
        # made dirty with no write call of its own (mmap, or the call ended before), or a
        # parent whose children ended
        for pid in (dirtied.keys() | children.keys()) - per_pid.keys():
            own, kids = dirtied_get(pid, 0), children_get(pid, 0)
            if own or kids:
                comm, uid, cgroup = self._name(names_get(pid))
                if comm == "?" and pid in dirty_names:
                    comm, uid = self._safe_comm(dirty_names[pid][0]), dirty_names[pid][1]
                rows.append(
                    ProcessWrites(pid, comm, uid, 0, 0, cgroup=cgroup, dirtied=own + kids, dirtied_children=kids)
                )
        if dirtied:
            disks = self._dirtied_disks(disks, rows, dirty_d, files)
        tpids, tids, comms, tbytes, twrites = moved.threads
        tnames = list(map(safe_get, comms))  # names repeat: made safe once (below, where new)
        if None in tnames:
            tnames = [name or safe_comm(comm) for name, comm in zip(tnames, comms, strict=True)]
        threads = tuple(
            map(_new, itertools.repeat(ThreadWrites), zip(tpids, tids, tnames, tbytes, twrites, strict=True))
        )
        gone_keys: list[tuple] = []
        self.freed = None
        gone: set[int] = set()
        idle = set(self._state.idle_pids())  # and those of the writers' cells that did not move
        idle = idle.union(k[0] for k in r.dirty).difference(per_pid, dirty_pids)
        if idle:
            gone = self._dead(list(idle), vouched)
            if gone:
                gone_keys, freed = self._state.drop(gone)
                if isinstance(r.procs, Cells):  # the kernel's own cells
                    self.freed = freed
                for key in gone_keys:
                    self._fd_cache.pop((key[0], key[1]), None)
                dirty_gone = [key for key in r.dirty if key[0] in gone]
                if dirty_gone:
                    dirty = dict(r.dirty)
                    for key in dirty_gone:
                        del dirty[key]
                    r = replace(r, dirty=dirty)
                    gone_keys += dirty_gone
                self._alive_idle.difference_update(gone)
                for pid in gone:
                    self._ended.pop(pid, None)
        self._seq += 1
        skipped = Skipped(
            map_full=r.cpu["skip_map_full"] - prev.cpu["skip_map_full"],
            no_entry=r.cpu["skip_no_entry"] - prev.cpu["skip_no_entry"],
            recursion_misses=_delta(r.misses, prev.misses),
            disk_no_issue=disk_no_issue,
            exits_lost=r.exits_lost - prev.exits_lost,
            disk_missed=_delta(r.disk_misses, prev.disk_misses),
        )
        focus = self._focus_delta(r.focus)
        # kept for the next step without its names (it reads its own, and a burst's 10,000 would
        # stay for the collector to walk until then) and its cells (the state holds them)
        self._prev = replace(r, names={}, procs={})
        return (
            Snapshot(
                seq=self._seq,
                time=r.wall,
                elapsed=r.time - prev.time,
                processes=tuple(rows),
                sla_ns=self.sla_ns,
                skipped=skipped,
                files=tuple(files),
                notes=tuple(self.notes),
                **counts_delta(r.cpu, prev.cpu),
                families=families_delta(r.cpu, prev.cpu, self.sla_ns, self.sync_sla_ns),
                disks=tuple(disks),
                dirtied=sum(dirtied.values()),
                focus=focus,
                threads=threads,
                exited=tuple(sorted(gone)),
                cost=Cost(
                    cpu_s=max(0.0, r.self_cpu - prev.self_cpu),
                    probe_ns=r.runs[0] - prev.runs[0] if r.runs and prev.runs else None,
                    probe_runs=r.runs[1] - prev.runs[1] if r.runs and prev.runs else None,
                    programs=_programs_delta(r.programs, prev.programs),
                ),
            ),
            gone_keys,
            sorted(gone),
        )
