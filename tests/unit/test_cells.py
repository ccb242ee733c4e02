"""The interval of the kernel's cells in numpy (probes/cells.py) against the same arithmetic done
the plain way, key by key, on random readings: new keys, idle ones, renamed threads, cells freed
and taken again, reads of only the cells that moved, more descriptors than are kept."""

from __future__ import annotations

import random
import struct
import subprocess
import sys

import pytest

from probes.cells import COUNTS, SYNCS_AT, Cells, CellState
from probes.sampler import pack_counts, unpack_counts


def plain(prev: dict, cur: dict, files_max: int, focus: int | None):
    """(by pid, by thread, the files kept) of two readings, key by key."""
    by_pid: dict = {}
    by_thread: dict = {}
    by_fd: dict = {}
    for key, packed in cur.items():
        d = unpack_counts(packed)
        old = prev.get(key)
        if old is not None:
            d = tuple(a - b for a, b in zip(d, unpack_counts(old), strict=True))
        if not any(d):
            continue
        pid, fd, tid, _pad, comm = key
        by_pid[pid] = tuple(a + b for a, b in zip(by_pid.get(pid, (0,) * COUNTS), d, strict=True))
        t = by_thread.setdefault((pid, tid, comm), [0, 0])
        t[0] += d[0]
        t[1] += d[1]
        f = by_fd.setdefault((pid, fd), [0, 0, 0])
        f[0] += d[0]
        f[1] += d[1]
        f[2] += d[SYNCS_AT]
    files = sorted(((pid, fd, *v) for (pid, fd), v in by_fd.items()), key=lambda f: (-f[2], f[0], f[1]))
    top = files[:files_max]
    top += [f for f in files[files_max:] if f[0] == focus]
    return by_pid, {k: tuple(v) for k, v in by_thread.items()}, top


def numpy_way(iv):
    by_pid = {pid: tuple(c[i] for c in iv.counts) for i, pid in enumerate(iv.pids)}
    threads = {(p, t, c): (b, w) for p, t, c, b, w in zip(*iv.threads, strict=True)}
    return by_pid, threads, iv.files


def counters(rng: random.Random) -> tuple[int, ...]:
    out = [0] * COUNTS
    out[0], out[1] = rng.randrange(1 << 40), rng.randrange(1 << 20)
    for i in rng.sample(range(2, COUNTS), 2):
        out[i] = rng.randrange(1000)
    return tuple(out)


@pytest.mark.parametrize("seed", range(12))
def test_random_readings_give_what_key_by_key_gives(seed):
    rng = random.Random(seed)
    comms = [b"a".ljust(16, b"\0"), b"b\x1b[2J".ljust(16, b"\0"), bytes(range(1, 17))]
    files_max = rng.choice((3, 50, 10_000))
    focus = rng.choice((None, 7))
    cum: dict = {}  # the kernel's cells, as a dict
    slots: dict = {}
    state = CellState()
    prev: dict = {}
    for n in range(8):
        if n == 5 and any(key[0] == 3 for key in cum):
            # a process ends: its cells are freed, and its pid comes back with the same keys
            gone = {key for key in cum if key[0] == 3}
            keys, freed = state.drop({3})
            assert sorted(keys) == sorted(gone)
            # the cells and the hash's keys, as the kernel's upkeep takes them
            assert freed.cells.tolist() == [slots[key] for key in keys]
            assert freed.keys == b"".join(struct.pack("<IiII16s", *key) for key in keys)
            for key in gone:
                cum[key] = pack_counts((5, 1))
                prev.pop(key)
        # some keys new, some grow, some stay; a thread renamed writes under its new name too
        for _ in range(rng.randrange(1, 60)):
            pid = rng.randrange(1, 12)
            key = (pid, rng.randrange(0, 5), pid + rng.randrange(0, 3), rng.randrange(0, 2), rng.choice(comms))
            old = unpack_counts(cum[key]) if key in cum else (0,) * COUNTS
            cum[key] = pack_counts(tuple(a + b for a, b in zip(old, counters(rng), strict=True)))
        partial = n % 2 == 1
        moved = {k: v for k, v in cum.items() if prev.get(k) != v} if partial else dict(cum)
        iv = state.step(Cells.from_dict(moved, slots, whole=not partial), files_max, focus)
        assert numpy_way(iv) == plain(prev, cum, files_max, focus)
        assert iv.pids == sorted(iv.pids)
        # every process with a cell that did not move (a writer's other cells too)
        assert state.idle_pids() == sorted({k[0] for k in cum if cum[k] == prev.get(k)})
        prev = dict(cum)


def test_a_cell_taken_by_a_new_key_counts_from_nothing_and_a_free_one_not_at_all():
    """The kernel frees a cell (its tgid 0) and another key takes it; a count can land in a cell
    as it is freed: that counts nowhere."""
    state = CellState()
    a, b = (10, 1, 10, 0, b"a".ljust(16, b"\0")), (20, 1, 20, 0, b"b".ljust(16, b"\0"))
    slots = {a: 0}
    state.step(Cells.from_dict({a: pack_counts((100, 2))}, slots, True), 10, None)
    words = Cells.from_dict({a: pack_counts((150, 3))}, slots, True)
    words.words[0, COUNTS] = 0  # the tgid cleared first, then the counters
    iv = state.step(words, 10, None)
    assert iv.pids == [] and iv.files == []
    slots = {b: 0}  # the same cell, a new key
    iv = state.step(Cells.from_dict({b: pack_counts((7, 1))}, slots, True), 10, None)
    assert (iv.pids, iv.counts[0], iv.files) == ([20], [7], [(20, 1, 7, 1, 0)])


def test_counters_near_the_top_of_64_bits_stay_exact():
    state = CellState()
    key = (1, 1, 1, 0, b"big".ljust(16, b"\0"))
    slots: dict = {}
    top = (1 << 64) - 1
    state.step(Cells.from_dict({key: pack_counts((top - 10, top - 5))}, slots, True), 10, None)
    iv = state.step(Cells.from_dict({key: pack_counts((top, top))}, slots, True), 10, None)
    assert (iv.counts[0], iv.counts[1], iv.threads[3:]) == ([10], [5], ([10], [5]))


def test_the_files_kept_are_the_biggest_and_among_equals_the_first_by_pid_and_fd():
    """As in a burst, where half the pairs wrote the same: the biggest first, and at the edge
    of the files kept, the lowest (pid, fd), every interval the same."""
    procs = {
        (pid, fd, pid, 0, b"w".ljust(16, b"\0")): pack_counts((16 if fd == 1 else 1, 1))
        for pid in (9, 3, 7, 5)
        for fd in (2, 1)
    }
    state = CellState()
    iv = state.step(Cells.from_dict(procs, {}, True), 3, None)
    assert iv.files == [(3, 1, 16, 1, 0), (5, 1, 16, 1, 0), (7, 1, 16, 1, 0)]
    iv = CellState().step(Cells.from_dict(procs, {}, True), 5, 9)  # the open page's own after them
    assert [f[:2] for f in iv.files] == [(3, 1), (5, 1), (7, 1), (9, 1), (3, 2), (9, 2)]


def test_an_interval_imports_no_more_of_numpy():
    """np.unique and its kin import numpy.ma on first use in numpy 2 (7-9 ms of every start):
    an interval, its files, its idle processes and its exits import no module of numpy's that
    importing numpy did not."""
    code = """
import sys
from probes.cells import CellState, Cells
from probes.sampler import pack_counts
before = set(sys.modules)
keys = [(pid, fd, pid, 0, bytes(16)) for pid in range(1, 40) for fd in (1, 2)]
state, slots = CellState(), {}
state.step(Cells.from_dict({k: pack_counts((1, 1)) for k in keys}, slots, True), 10, 7)
state.step(Cells.from_dict({k: pack_counts((2, 2)) for k in keys[:20]}, slots, False), 10, 7)
assert state.idle_pids() and state.drop({3, 5})[0]
print(sorted(m for m in set(sys.modules) - before if m.startswith("numpy")))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
