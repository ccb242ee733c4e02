"""The kernel's cells (struct cell in writes.c) as arrays: what one interval's reads of them add
up to, by process, by thread and by descriptor, in numpy rather than a Python step per cell.

A cell is 24 little-endian 64-bit words: the counters (bytes, writes, errors, calls by type,
syncs), then its key (tgid and fd, tid and pad, the writing thread's comm in two words), then
the epoch of its last count. The sampler keeps the words of every cell as last read (CellState)
and each read brings some of them anew (Cells); a cell's interval is the difference of the two
while its key is the same, and all of its counters when the cell was taken by a new key.

A burst of 10,000 new processes is 20,000 cells: differenced and summed by process, by thread
and by descriptor here in 4-9 ms, where a dict of their keys and a Python step per cell took 17.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

import numpy as np

from .snapshot import CALLS

COUNTS = 4 + len(CALLS)
"""The counters of one cell: bytes, writes, errors, calls by type, syncs (struct fd_stats)."""
SYNCS_AT = 3 + len(CALLS)
WORDS = COUNTS + 5
"""A cell's words: its counters, its key (four), its epoch."""
SIZE = WORDS * 8
KEY_AT = COUNTS
"""Where the key's words begin: tgid | fd << 32, tid | pad << 32, comm (16 bytes)."""
SEEN_AT = COUNTS + 4
_LOW = np.uint64(0xFFFFFFFF)
_32 = np.uint64(32)
FD_KEY = struct.Struct("<IiII16s")  # struct fd_key: tgid, fd, tid, pad, comm
_FILE_COLUMNS = [0, 1, SYNCS_AT]  # bytes, writes, syncs
# np.unique, isin, union1d and setdiff1d are not used: the first use of any imports numpy.ma
# (7-9 ms, in every start)


class Cells(NamedTuple):
    """Some of the kernel's cells, as one read found them."""

    idx: np.ndarray
    """Which cells (ascending)."""
    words: np.ndarray
    """Their words, (len(idx), WORDS) uint64: a copy, the kernel's own go on changing."""
    high: int
    """Cells from this one on were never taken."""

    @classmethod
    def of(cls, view: np.ndarray, since: int | None = None) -> Cells:
        """The cells of a (high, WORDS) view of the kernel's: all of them, or those counted in
        epoch `since` or later (a free cell's epoch is 0), or all of them when those are most:
        one copy of them all is cheaper than a row at a time, and becomes the baseline whole
        (CellState.step)."""
        if since is not None:
            idx = np.flatnonzero(view[:, SEEN_AT] >= np.uint64(since))
            if 2 * len(idx) <= len(view):
                return cls(idx, view[idx], len(view))
        return cls(np.arange(len(view)), view.copy(), len(view))

    @classmethod
    def from_dict(cls, procs: dict[tuple, int], slots: dict[tuple, int], whole: bool) -> Cells:
        """Cells made of the (key -> packed counters) form of a read, for tests: each key keeps
        the cell it was first given in `slots`; in a whole read a known key it lacks is free."""
        for key in procs:
            if key not in slots:
                slots[key] = len(slots)
        keys = list(slots) if whole else sorted(procs, key=slots.__getitem__)  # in the cells' order
        raw = b"".join(
            procs[key].to_bytes(COUNTS * 8, "little") + FD_KEY.pack(*key) + bytes(8) if key in procs else bytes(SIZE)
            for key in keys
        )
        words = np.frombuffer(raw, np.uint64).reshape(len(keys), WORDS).copy()
        return cls(np.array([slots[key] for key in keys], np.int64), words, len(slots))

    def as_dict(self) -> dict[tuple, int]:
        """The cells in use as (tgid, fd, tid, pad, raw comm) -> packed counters (see
        sampler.pack_counts), for tests and the map's upkeep."""
        words = self.words[(self.words[:, KEY_AT] & _LOW) != 0]
        counts = np.ascontiguousarray(words[:, :COUNTS]).tobytes()
        size = COUNTS * 8
        return {
            key: int.from_bytes(counts[i * size : (i + 1) * size], "little") for i, key in enumerate(keys_of(words))
        }


def keys_of(words: np.ndarray) -> list[tuple]:
    """The (tgid, fd, tid, pad, raw comm) key of each cell of a (n, WORDS) array."""
    first, second = words[:, KEY_AT], words[:, KEY_AT + 1]
    tgid, tid, pad = (first & _LOW).tolist(), (second & _LOW).tolist(), (second >> _32).tolist()
    fd = (first >> _32).astype(np.uint32).view(np.int32).tolist()
    comm = _comms(words[:, KEY_AT + 2], words[:, KEY_AT + 3])
    return list(zip(tgid, fd, tid, pad, comm, strict=True))


def _comms(lo: np.ndarray, hi: np.ndarray) -> list[bytes]:
    """The raw 16-byte comms of two columns of words."""
    both = np.empty((len(lo), 2), np.uint64)
    both[:, 0], both[:, 1] = lo, hi
    return both.view("V16").ravel().tolist()


def _starts(*columns: np.ndarray) -> np.ndarray:
    """Where each run of equal rows of sorted columns begins."""
    n = len(columns[0])
    new = np.zeros(n, bool)
    if n:
        new[0] = True
        for c in columns:
            new[1:] |= c[1:] != c[:-1]
    return np.flatnonzero(new)


class Interval(NamedTuple):
    """What the cells read moved by, summed (Python lists: the rows are made of them)."""

    pids: list[int]
    """The processes that wrote, ascending."""
    counts: list[list[int]]
    """Each counter's column over them (COUNTS lists, in pids' order; a counter that moved in
    no cell is one list of zeros, shared)."""
    threads: tuple[list[int], list[int], list[bytes], list[int], list[int]]
    """The columns pid, tid, raw comm, bytes, writes of each thread under each name it wrote
    with, by (pid, tid)."""
    files: list[tuple[int, int, int, int, int]]
    """(pid, fd, bytes, writes, syncs): the files_max biggest pairs, then the focused process's
    others, each part the biggest first (ties by pid and fd)."""


class CellState:
    """Every cell's words as last read: the baseline of the next interval."""

    def __init__(self) -> None:
        self.words = np.zeros((0, WORDS), np.uint64)
        self.high = 0
        """Cells from this one on were never read taken (their words are 0)."""
        self.moved = np.zeros(0, np.int64)
        """The cells that moved in the last step."""

    def _moved(self, cells: Cells) -> tuple[np.ndarray, np.ndarray]:
        """(counters, key words) of the cells read that moved, by how much they moved; the cells
        read become the baseline. A cell read free (its tgid 0: perhaps counted as it was freed)
        counts nothing and is kept empty."""
        idx, new = cells.idx, cells.words
        new[(new[:, KEY_AT] & _LOW) == 0] = 0
        if len(idx) == cells.high >= self.high:  # every cell, in order: the read is the baseline
            old, known = self.words[: self.high], self.high
            self.words, self.high = new, cells.high
        else:  # some: a row each (a burst reads them all)
            if cells.high > len(self.words):
                words = np.zeros((max(cells.high, 2 * len(self.words)), WORDS), np.uint64)
                words[: self.high] = self.words[: self.high]
                self.words = words
            self.high = max(self.high, cells.high)
            old, known = self.words[idx], len(idx)
            self.words[idx] = new
        at = idx  # the cell of each row
        if known:  # only the cells that changed since, and those beyond `known` (new since)
            changed = (new[:known, :SEEN_AT] != old[:, :SEEN_AT]).any(1)
            if not changed.all():  # mostly few: a row each
                changed = np.flatnonzero(changed)
                at = np.concatenate([idx[changed], idx[known:]])
                new, old, known = np.concatenate([new[changed], new[known:]]), old[changed], len(changed)
        if known:
            delta = new[:, :COUNTS].copy()  # a cell new since: all of it
            # the same key, and no counter went back (a cell taken again, even by the same key
            # after it was freed, starts from nothing: see drop)
            now, before = delta[:known], old[:, :COUNTS]
            same = (new[:known, KEY_AT:SEEN_AT] == old[:, KEY_AT:SEEN_AT]).all(1) & (now >= before).all(1)
            np.subtract(now, before, out=now, where=same[:, None])
        else:  # every cell read is new since (a burst's): all of each, read in place
            delta = new[:, :COUNTS]
        moved = delta.any(1)
        if moved.all():
            self.moved = at
            return delta, new[:, KEY_AT:SEEN_AT]
        moved = np.flatnonzero(moved)
        self.moved = at[moved]
        return delta[moved], new[moved, KEY_AT:SEEN_AT]

    def step(self, cells: Cells, files_max: int, focus: int | None) -> Interval:
        """The interval since the last read; the cells read become the baseline."""
        delta, keys = self._moved(cells)
        if not len(delta):
            return Interval([], [[] for _ in range(COUNTS)], ([], [], [], [], []), [])
        tgid = keys[:, 0] & _LOW
        # by thread and name: sorted by (tgid, tid), then by name too where a thread has two
        by_thread = tgid << _32 | keys[:, 1] & _LOW
        order = np.argsort(by_thread, kind="stable")
        t = by_thread[order]
        lo, hi = keys[order, 2], keys[order, 3]
        starts = _starts(t, lo, hi)
        if len(starts) != len(_starts(t)):  # a thread renamed: its names' cells apart
            order = np.lexsort((keys[:, 3], keys[:, 2], by_thread))
            t, lo, hi = by_thread[order], keys[order, 2], keys[order, 3]
            starts = _starts(t, lo, hi)
        # only the counters that moved somewhere (mostly 3 or 4 of the 19) are summed
        used = np.bitwise_or.reduce(delta, axis=0) != 0
        used[:2] = True  # bytes and writes, for the threads
        used = np.flatnonzero(used)
        ordered = delta[:, used][order]
        tsums = np.add.reduceat(ordered[:, :2], starts).T.tolist()  # bytes, writes: used's first two
        tk = t[starts]
        threads = ((tk >> _32).tolist(), (tk & _LOW).tolist(), _comms(lo[starts], hi[starts]), *tsums)
        # by process: the same order, runs of one tgid
        pstarts = _starts(t >> _32)
        zeros = [0] * len(pstarts)
        counts = [zeros] * COUNTS
        for column, sums in zip(used.tolist(), np.add.reduceat(ordered, pstarts).T.tolist(), strict=True):
            counts[column] = sums
        pids = (t[pstarts] >> _32).tolist()
        return Interval(pids, counts, threads, self._files(tgid, keys, delta, files_max, focus))

    @staticmethod
    def _files(tgid, keys, delta, files_max: int, focus: int | None) -> list[tuple[int, int, int, int, int]]:
        by_fd = tgid << _32 | keys[:, 0] >> _32
        order = np.argsort(by_fd, kind="stable")
        f = by_fd[order]
        starts = _starts(f)
        sums = np.add.reduceat(delta[:, _FILE_COLUMNS][order], starts)
        f = f[starts]
        big = ~sums[:, 0]  # ascending: the biggest first
        if len(f) > files_max:
            # those at least as big as the files_max-th, in (pid, fd) order as f is, then the
            # biggest first, a tie kept in that order (argpartition took 1.2 ms where half the
            # 20,000 pairs were equal, as a burst's are)
            top = np.flatnonzero(big <= np.sort(big)[files_max - 1])
            top = top[np.argsort(big[top], kind="stable")][:files_max]
            if focus:  # the open page shows all its own
                kept = np.zeros(len(f), bool)
                kept[top] = True
                mine = np.flatnonzero((f >> _32 == np.uint64(focus)) & ~kept)
                top = np.concatenate([top, mine[np.lexsort((f[mine], big[mine]))]])
        else:
            top = np.lexsort((f, big))
        f, sums = f[top], sums[top]
        fds = (f & _LOW).astype(np.uint32).view(np.int32).tolist()
        return list(zip((f >> _32).tolist(), fds, *sums.T.tolist(), strict=True))

    def idle_pids(self) -> list[int]:
        """The processes with a cell in use that did not move in the last step (some may have
        others that did)."""
        tgid = self.words[: self.high, KEY_AT] & _LOW
        idle = tgid != 0
        idle[self.moved] = False
        tgid = np.sort(tgid[idle])
        return tgid[_starts(tgid)].tolist()

    def drop(self, pids: set[int]) -> tuple[list[tuple], Freed]:
        """The keys of these processes' cells, and the cells, which are emptied: they are about
        to be freed, and a cell taken again, even by the same key (a reused pid), starts from
        nothing."""
        if not pids:
            return [], Freed(np.zeros(0, np.int64), b"")
        tgid = self.words[: self.high, KEY_AT] & _LOW
        gone = np.sort(np.fromiter(pids, np.uint64, len(pids)))
        at = np.flatnonzero(gone[np.searchsorted(gone, tgid) % len(gone)] == tgid)
        words = self.words[at]
        self.words[at] = 0
        return keys_of(words), Freed(at, np.ascontiguousarray(words[:, KEY_AT:SEEN_AT]).tobytes())


class Freed(NamedTuple):
    """Cells to free, as the kernel's map upkeep takes them (Kernel.delete)."""

    cells: np.ndarray
    """Which cells."""
    keys: bytes
    """Their keys, as struct fd_key, end to end (the hash's keys to delete)."""
