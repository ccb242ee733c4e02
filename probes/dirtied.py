"""Bytes each process made dirty in the page cache (and direct I/O it submitted): the kernel's
own write_bytes of /proc/PID/io, what iotop shows as DISK WRITE, by interval.

No tracepoint carries the size of a dirtied folio, and wtop reads no kernel structs, so the
figures come from the kernel's accounting itself:
- for a living thread, /proc/PID/task/TID/io, read when its process may have dirtied something
  (the probes saw it dirty a folio, or make a write call: direct I/O dirties nothing);
- for a thread that exited, its taskstats exit record (probes/taskstats.py).
Each thread's figure is the difference from what was counted of it before: the value read at
start (threads that were there before wtop), at its last read, or 0 for a thread born since.
Threads, not processes, because a process's /proc/PID/io includes its dead threads while their
exit records arrive one by one. A thread that exited is remembered a few intervals (its
process may be a zombie still listed, or its record may arrive before its last read).

A process's write_bytes also grows by the whole figure of each child it reaps (the kernel adds
a reaped child's accounting to its parent's, as it does CPU times): when a process's last
thread exits, what it dirtied while watched, its own and its children's, is passed on to its
parent (the exit record names it), as the kernel will when the parent waits for it. So a
process's figure is its own plus its children's, each kept apart.

Where it can be off (README says so): a thread's exit record is rounded down to a KiB (direct
I/O of odd sizes only), records lost when more threads exit in one interval than the socket
holds (counted), and a thread whose exit record names no process (kernels before 5.19, for
a thread born after the start and never read), and a parent that stops ignoring SIGCHLD
between its child's exit and its reaping, or the reverse (wtop asks at the child's exit).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

DEAD_KEEP = 3
"""Intervals an exited thread's figure is kept (see the module's docstring)."""
PRUNE_EVERY = 120
"""Intervals between sweeps for threads whose exit record never came."""
READ_MAX = 256
"""Processes read per interval, the likeliest first (those that dirtied the most folios, then
the biggest writers): a burst of 10,000 writers to /dev/null took 250 ms to read. The rest wait
their turn in later intervals; their bytes are not lost, only counted later (or at their exit,
whose record holds everything since their last read)."""


def read_write_bytes(path: str) -> int | None:
    """write_bytes of a /proc io file, None when it is gone or unreadable."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        raw = os.read(fd, 512)
    except OSError:
        return None
    finally:
        os.close(fd)
    at = raw.find(b"\nwrite_bytes: ")
    if at < 0:
        return None
    end = raw.find(b"\n", at + 14)
    return int(raw[at + 14 : end if end > 0 else None])


def ignores_sigchld(pid: int, proc: str = "/proc") -> bool:
    """Whether a process ignores SIGCHLD: its children are then reaped by no one (kthreadd's
    kernel threads, daemons that set SIG_IGN), and the kernel adds their figures to no parent.
    pid 0 counts as ignoring; a parent already gone as not (it waited for the child first, as
    shells and fio do, and then ended itself within the interval)."""
    if pid <= 0:
        return True
    try:
        with open(f"{proc}/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"SigIgn:"):
                    return bool(int(line.split()[1], 16) & (1 << 16))  # SIGCHLD is 17
    except (OSError, ValueError):
        return False
    return False


def list_threads(tgid: int, proc: str = "/proc") -> list[int]:
    try:
        return [int(t) for t in os.listdir(f"{proc}/{tgid}/task")]
    except (OSError, ValueError):
        return []


class DirtyTracker:
    """Per-thread figures in, per-process bytes dirtied per interval out."""

    def __init__(
        self,
        threads: Callable[[int], list[int]] = list_threads,
        value: Callable[[int, int], int | None] = lambda tgid, tid: read_write_bytes(f"/proc/{tgid}/task/{tid}/io"),
        exists: Callable[[int], bool] = lambda tid: os.path.exists(f"/proc/{tid}"),
        ignores_children: Callable[[int], bool] = lambda pid: ignores_sigchld(pid),
        all_processes: Callable[[], Iterable[int]] | None = None,
        filtered: bool = False,
        whole: Callable[[int], int | None] = lambda tgid: read_write_bytes(f"/proc/{tgid}/io"),
    ) -> None:
        self._whole = whole
        self.wholes: dict[int, int] = {}
        """Each read process's /proc/PID/io write_bytes at its last read: while it has not
        moved, none of its threads has (one read instead of a walk of its threads; with 1,000
        writers to /dev/null an interval, the walks were most of the dashboard's CPU)."""
        self._threads = threads
        self._value = value
        self._exists = exists
        self._ignores_children = ignores_children
        self.base: dict[int, tuple[int, int]] = {}
        """(tgid, write_bytes counted so far) of each living thread by tid."""
        self.dead: dict[int, tuple[int, int, int]] = {}
        """(tgid, write_bytes counted, step) of threads whose exit record came lately."""
        self.total: dict[int, int] = {}
        """What each living process dirtied while watched, its own and its reaped children's:
        passed on to its parent when it exits."""
        self.filtered = filtered
        """The probes are filtered (-p, -c, -u, --cgroup): exit records count only for processes
        the probes saw (candidates, now or before); else every exit record counts."""
        self.known: set[int] = set()
        """Processes that were candidates, while they live (filtered only)."""
        self.pending: dict[int, None] = {}
        """Candidates beyond READ_MAX, in the order they came: read in later intervals."""
        self.unknown = 0
        """Exit records with bytes that named no process wtop knew (old kernels)."""
        self._step = 0
        if all_processes is None:
            all_processes = _all_pids
        for tgid in all_processes():  # the threads already there: what they wrote before is not ours
            self.read(tgid, {})

    def read(self, tgid: int, out: dict[int, int]) -> None:
        """Read the living threads of tgid; what they dirtied since counted goes into out."""
        whole = self._whole(tgid)
        if whole is None or whole == self.wholes.get(tgid):
            return  # gone (its exit records will say), or nothing moved
        self.wholes[tgid] = whole
        for tid in self._threads(tgid):
            v = self._value(tgid, tid)
            if v is None:
                continue
            dead = self.dead.get(tid)
            if dead is not None and dead[0] == tgid:  # exited, still listed (a zombie)
                if v > dead[1]:
                    out[tgid] = out.get(tgid, 0) + v - dead[1]
                    self.dead[tid] = (tgid, v, dead[2])
                continue
            seen = self.base.get(tid)
            before = seen[1] if seen is not None and seen[0] == tgid else 0
            self._count(out, tgid, v - before)
            self.base[tid] = (tgid, max(v, before))

    def _count(self, out: dict[int, int], tgid: int, n: int) -> None:
        """What a thread dirtied since it was last counted, into its process's interval and into
        what the process will pass on to its parent."""
        if n > 0:
            out[tgid] = out.get(tgid, 0) + n
            self.total[tgid] = self.total.get(tgid, 0) + n

    def exited(self, records: Iterable[tuple], out: dict[int, int], children: dict[int, int]) -> set[int]:
        """Fold exit records (tid, tgid, write_bytes, comm, uid, parent, last of its process)
        into out, and what processes that ended pass on to their parents into children; the
        processes that are now wholly gone."""
        gone = set()
        total = self.total
        for tid, tgid, value, _comm, _uid, parent, last in records:
            seen = self.base.pop(tid, None)
            if not tgid:
                if seen is None:
                    self.unknown += 1 if value else 0
                    continue
                tgid = seen[0]
            before = seen[1] if seen is not None and seen[0] == tgid else 0
            self._count(out, tgid, value - before)
            if value or before:  # a thread that dirtied nothing needs no memory of it (storms)
                self.dead[tid] = (tgid, max(value, before), self._step)
            if last:
                gone.add(tgid)
                self.wholes.pop(tgid, None)
                passed = total.pop(tgid, 0)
                if passed and parent and not self._ignores_children(parent):
                    children[parent] = children.get(parent, 0) + passed
                    total[parent] = total.get(parent, 0) + passed
        return gone

    def step(self, records: Iterable[tuple], candidates: list[int]) -> tuple[dict[int, int], dict[int, int], set[int]]:
        """One interval: the exit records drained first, then the living threads of the
        candidates (the likeliest first, at most READ_MAX with those left from before).
        Returns (bytes each process dirtied itself, bytes its children that ended passed on to
        it, processes wholly gone)."""
        self._step += 1
        out: dict[int, int] = {}
        children: dict[int, int] = {}
        if self.filtered:
            self.known.update(candidates)
        gone = self.exited(records, out, children)
        now = candidates[:READ_MAX]
        pending = self.pending
        pending.update(dict.fromkeys(candidates[READ_MAX:]))  # in C: 9,744 in a burst
        for tgid in now:
            pending.pop(tgid, None)
        while len(now) < READ_MAX and pending:
            tgid = next(iter(pending))
            del pending[tgid]
            now.append(tgid)
        for tgid in now:
            self.read(tgid, out)  # a zombie's leader too: its exact figure, not the record's KiBs
        if self.filtered:
            out = {p: n for p, n in out.items() if p in self.known}
            children = {p: n for p, n in children.items() if p in self.known}
            self.known.difference_update(gone)
        for tgid in gone:
            pending.pop(tgid, None)
        if self.dead:
            old = self._step - DEAD_KEEP
            self.dead = {t: d for t, d in self.dead.items() if d[2] > old}
        if self._step % PRUNE_EVERY == 0:
            self.base = {t: b for t, b in self.base.items() if self._exists(t)}
            self.total = {p: n for p, n in self.total.items() if self._exists(p)}
            self.known = {p for p in self.known if self._exists(p)}
            self.wholes = {p: n for p, n in self.wholes.items() if self._exists(p)}
        return out, children, gone


def _all_pids(proc: str = "/proc") -> list[int]:
    return [int(p) for p in os.listdir(proc) if p.isdigit()]
