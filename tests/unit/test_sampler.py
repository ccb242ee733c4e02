"""The sampler's arithmetic, without root: cumulative readings in, interval Snapshots out."""

from __future__ import annotations

from probes.sampler import FILES_MAX, OTHER_DISKS, RESOLVE_MAX, Reading, Sampler, pack_counts
from probes.snapshot import CALLS, Log2Histogram
from tests.conftest import hist

Z = (0,) * len(CALLS)


def cpu(nbytes=0, writes=0, sizes=None, lat=None, lat_max=0, map_full=0, no_entry=0, calls=Z, call_bytes=Z):
    return {
        "bytes": nbytes,
        "writes": writes,
        "errors": 0,
        "sizes": sizes or Log2Histogram(),
        "lat": lat or Log2Histogram(),
        "lat_max": lat_max,
        "lat_sum": 0,
        "sla_missed": 0,
        "skip_map_full": map_full,
        "skip_no_entry": no_entry,
        "call_writes": calls,
        "call_bytes": call_bytes,
    }


def disk(nbytes=0, ios=0, no_issue=0, lat=None):
    return {
        "bytes": nbytes,
        "ios": ios,
        "errors": 0,
        "flushes": 0,
        "lat_sum": 0,
        "lat_max": 0,
        "no_issue": no_issue,
        "lat": lat or Log2Histogram(),
    }


def k(pid, fd, tid=None, comm=b"w\0"):
    """A key of the kernel's map: (pid, fd, tid, pad, raw comm of the writing thread)."""
    return (pid, fd, pid if tid is None else tid, 0, comm.ljust(16, b"\0"))


def fd(nbytes, writes):
    """An entry's counters as the kernel's reading packs them: bytes, writes, no errors, writes
    by write(), nothing else."""
    return pack_counts((nbytes, writes, 0, writes))


class World:
    """What the lookups see: paths of descriptors, live processes, disk names."""

    def __init__(self):
        self.alive = {100, 200}
        self.resolved = []

    def resolve(self, pid, fd, cached=None):
        self.resolved.append((pid, fd))
        return (f"/p{pid}/fd{fd}", "file", f"/p{pid}/fd{fd}", "8:0")

    def sampler(self, first: Reading) -> Sampler:
        return Sampler(first, 10_000_000, ["a note"], self.resolve, self.alive.__contains__, lambda a, b: f"d{a}:{b}")


def test_intervals_are_differences_of_cumulative_reads():
    w = World()
    names = {100: (b"writer\0", 0, 7), 200: (b"\x1b[2J", 1000, 7)}
    s = w.sampler(Reading(cpu(), {}, names, time=10.0, wall=1000.0))
    r1 = Reading(
        cpu(1500, 3, sizes=hist(b10=3), map_full=1, calls=(3, 0, 0, 0, 0)),
        {k(100, 3): fd(1000, 2), k(200, 1): fd(500, 1)},
        names,
        time=11.0,
        wall=1001.0,
    )
    snap, keys, pids = s.step(r1)
    assert (snap.seq, snap.bytes, snap.writes, snap.elapsed, snap.time) == (1, 1500, 3, 1.0, 1001.0)
    assert {p.pid: (p.comm, p.bytes, p.writes, p.cgroup) for p in snap.processes} == {
        100: ("writer", 1000, 2, 7),
        200: ("\\x1b[2J", 500, 1, 7),  # made safe
    }
    assert snap.skipped.map_full == 1 and snap.sizes == hist(b10=3) and snap.notes == ("a note",)
    assert (keys, pids) == ([], [])
    # the next interval: only what grew
    r2 = Reading(
        cpu(1600, 4, sizes=hist(b10=3, b7=1), map_full=1),
        {k(100, 3): fd(1000, 2), k(200, 1): fd(600, 2)},
        names,
        time=12.5,
        wall=1002.5,
    )
    snap, _, _ = s.step(r2)
    assert (snap.bytes, snap.writes, snap.elapsed, snap.skipped.map_full) == (100, 1, 1.5, 0)
    assert [(p.pid, p.bytes, p.writes) for p in snap.processes] == [(200, 100, 1)]  # 100 wrote nothing
    assert snap.sizes == hist(b7=1)


def test_a_process_that_exited_is_deleted_only_after_its_last_values_were_read():
    w = World()
    s = w.sampler(Reading(cpu(), {k(100, 3): fd(10, 1)}, time=0.0))
    w.alive.discard(100)
    r = Reading(cpu(20, 1), {k(100, 3): fd(20, 2), k(100, 4): fd(5, 1)}, time=1.0)
    snap, keys, pids = s.step(r)
    assert [(p.pid, p.bytes) for p in snap.processes] == [(100, 15)]  # its last writes counted
    assert (keys, pids) == ([], [])  # it wrote in this interval: not idle yet
    snap, keys, pids = s.step(Reading(cpu(20, 1), dict(r.procs), time=2.0))
    assert snap.processes == () and sorted(keys) == [k(100, 3), k(100, 4)] and pids == [100]
    assert snap.exited == (100,)
    # once deleted from the map, its entries are gone from the baseline too: a reused pid starts at 0
    snap, _, _ = s.step(Reading(cpu(27, 2), {k(100, 3): fd(7, 1)}, time=3.0))
    assert [(p.pid, p.bytes) for p in snap.processes] == [(100, 7)]


def test_disks_deltas_other_devices_and_devices_only_written_to():
    w = World()
    dev = (8 << 20) | 16
    s = w.sampler(Reading(cpu(), {}, disks={dev: disk(4096, 1)}, time=0.0))
    r = Reading(cpu(), {k(100, 3): fd(100, 1)}, disks={dev: disk(12288, 3, no_issue=1), 0: disk(512, 1)}, time=1.0)
    snap, _, _ = s.step(r)
    rows = {d.dev: d for d in snap.disks}
    assert (rows["8:16"].bytes, rows["8:16"].ios, rows["8:16"].name) == (8192, 2, "d8:16")
    assert rows["0:0"].name == OTHER_DISKS and rows["0:0"].bytes == 512
    assert rows["8:0"].bytes == 0 and rows["8:0"].name == "d8:0"  # write() sent bytes to a file on it
    assert snap.skipped.disk_no_issue == 1


def test_only_the_biggest_descriptors_are_resolved_and_kept():
    w = World()
    s = w.sampler(Reading(cpu(), {}, time=0.0))
    procs = {k(1000 + i, 3): fd(i + 1, 1) for i in range(FILES_MAX + 500)}
    snap, _, _ = s.step(Reading(cpu(), procs, time=1.0))
    assert len(snap.files) == FILES_MAX and len(snap.processes) == FILES_MAX + 500  # processes all counted
    assert snap.files[0].bytes == FILES_MAX + 500  # the biggest first
    assert len(w.resolved) == RESOLVE_MAX


def test_a_known_descriptor_is_read_again_in_turn_and_a_reused_one_is_seen():
    """Steady writers: the biggest VERIFY_TOP descriptors are read again every interval, the
    others every VERIFY_EVERY intervals; a number reused for another file (a log rotation)
    shows its new path within that many intervals."""
    from probes.sampler import VERIFY_EVERY, VERIFY_TOP

    w = World()
    paths = {}
    w.resolve = lambda pid, fd, cached=None: (  # noqa: E731
        w.resolved.append((pid, fd)) or (paths.get((pid, fd), f"/p{pid}"), "file", paths.get((pid, fd), f"/p{pid}"), "")
    )
    s = w.sampler(Reading(cpu(), {}, time=0.0))
    n = RESOLVE_MAX - 56  # all within the RESOLVE_MAX biggest
    totals = {i: 0 for i in range(n)}
    low = 2000 + n - 20  # one far below VERIFY_TOP

    def step(t):
        for i in totals:
            totals[i] += 1000 - i  # steady rates, pid 2000 the biggest
        return s.step(Reading(cpu(), {k(2000 + i, 3): fd(totals[i], t) for i in totals}, time=float(t)))[0]

    step(1)
    assert len(w.resolved) == n  # all new: all read
    w.resolved.clear()
    step(2)
    assert len(w.resolved) < VERIFY_TOP + (n - VERIFY_TOP) // VERIFY_EVERY + VERIFY_EVERY
    paths[(2000, 3)] = paths[(low, 3)] = "/var/log/app.log"  # both descriptors now lead elsewhere
    seen = {}
    for t in range(3, 3 + VERIFY_EVERY):
        snap = step(t)
        for f in snap.files:
            if f.path == "/var/log/app.log":
                seen.setdefault(f.pid, t)
    assert seen == {2000: 3, low: seen.get(low)} and seen[low] is not None  # the top one at once


def test_the_focused_process_counts_from_its_baseline():
    w = World()
    s = w.sampler(Reading(cpu(), {}, time=0.0))
    s.focus_moved(100, cpu(1000, 10))
    snap, _, _ = s.step(Reading(cpu(), {}, focus=cpu(1500, 12, no_entry=1), time=1.0))
    assert snap.focus.pid == 100 and (snap.focus.bytes, snap.focus.writes, snap.focus.no_entry) == (500, 2, 1)
    s.focus_moved(None, None)
    snap, _, _ = s.step(Reading(cpu(), {}, time=2.0))
    assert snap.focus is None


def test_threads_and_names_at_the_time_of_the_write():
    """The seed's @[comm]: bytes by the writing thread's name; a rename starts a new row."""
    w = World()
    s = w.sampler(Reading(cpu(), {}, time=0.0))
    procs = {
        k(100, 3, 101, b"logwriter"): fd(1_000_000, 10),
        k(100, 3, 102, b"flusher"): fd(500_000, 5),
        k(100, 4, 100, b"old"): fd(10, 1),
        k(100, 4, 100, b"new"): fd(20, 2),
    }
    snap, _, _ = s.step(Reading(cpu(), procs, time=1.0))
    assert [(p.pid, p.bytes, p.writes) for p in snap.processes] == [(100, 1_500_030, 18)]
    assert sorted((f.fd, f.bytes) for f in snap.files) == [(3, 1_500_000), (4, 30)]
    assert sorted((t.tid, t.comm, t.bytes, t.writes) for t in snap.threads) == [
        (100, "new", 20, 2),
        (100, "old", 10, 1),
        (101, "logwriter", 1_000_000, 10),
        (102, "flusher", 500_000, 5),
    ]


def test_an_entry_with_nothing_counted_yet_makes_no_row():
    """The kernel gives a cell its key, then counts into it; a read in between (or one that saw
    the key half written, on a CPU that orders stores loosely) finds nothing counted: no
    process, thread or file row comes of it, and its writes count when they come."""
    w = World()
    s = w.sampler(Reading(cpu(), {}, time=0.0))
    snap, _, _ = s.step(Reading(cpu(), {k(100, 3): fd(0, 0), k(100, 0, 0, b""): fd(0, 0)}, time=1.0))
    assert (snap.processes, snap.threads, snap.files) == ((), (), ())
    snap, _, _ = s.step(Reading(cpu(8, 1), {k(100, 3): fd(8, 1)}, time=2.0))
    assert [(p.pid, p.bytes, p.writes) for p in snap.processes] == [(100, 8, 1)]
    assert [(t.tid, t.bytes) for t in snap.threads] == [(100, 8)]


def test_packed_counters_keep_every_counter_apart():
    """Entries' counters as a dict reading packs them (sampler.pack_counts), through the
    cells' arithmetic: every counter must come out as tuple arithmetic gives it, the biggest
    ones included."""
    from probes.sampler import COUNTS, unpack_all, unpack_counts

    big = 2**62 + 12345  # a counter far beyond any real one: it must not carry into the next
    a0 = tuple(range(1, COUNTS + 1))
    a1 = tuple(v * 3 + (big if i in (0, COUNTS - 1) else 0) for i, v in enumerate(a0))
    b0 = tuple(7 * (i + 1) for i in range(COUNTS))
    b1 = tuple(v + i + (big if i == 2 else 0) for i, v in enumerate(b0))
    assert unpack_counts(pack_counts(a1)) == a1
    assert list(unpack_all(map(pack_counts, (a1, b0, (5,))))) == [a1, b0, (5,) + (0,) * (COUNTS - 1)]
    w = World()
    s = w.sampler(Reading(cpu(), {k(100, 3): pack_counts(a0), k(100, 4, 101, b"t2"): pack_counts(b0)}, time=0.0))
    r = Reading(cpu(), {k(100, 3): pack_counts(a1), k(100, 4, 101, b"t2"): pack_counts(b1)}, time=1.0)
    snap, _, _ = s.step(r)
    want = tuple(x1 - x0 + y1 - y0 for x0, x1, y0, y1 in zip(a0, a1, b0, b1, strict=True))
    (p,) = snap.processes
    assert (p.bytes, p.writes, p.errors, p.calls, p.syncs) == (want[0], want[1], want[2], want[3:-1], want[-1])
    files = {f.fd: (f.bytes, f.writes, f.syncs) for f in snap.files}
    assert files == {
        3: (a1[0] - a0[0], a1[1] - a0[1], a1[-1] - a0[-1]),
        4: (b1[0] - b0[0], b1[1] - b0[1], b1[-1] - b0[-1]),
    }
    assert sorted((t.tid, t.bytes, t.writes) for t in snap.threads) == [
        (100, a1[0] - a0[0], a1[1] - a0[1]),
        (101, b1[0] - b0[0], b1[1] - b0[1]),
    ]


def test_exit_records_say_who_ended_and_a_lost_one_is_found_in_turn():
    """Where the kernel's exit records name each process's last thread, an idle process is
    dead when its record came and alive otherwise: no kill(pid, 0) for each one that went idle
    (10,000 of them after a burst). One whose record was lost is found by the check each idle
    process gets once in SWEEP samples; with records that do not vouch (lost in the interval,
    or a kernel before 5.19), every one that just went idle is checked at once, as before."""
    from probes.sampler import SWEEP

    w = World()
    w.alive = {100, 201, 302, 403}
    checked = []

    def alive(pid):
        checked.append(pid)
        return pid in w.alive

    ended: list = [set()]
    s = Sampler(
        Reading(cpu(), {}, time=0.0),
        10_000_000,
        [],
        w.resolve,
        alive,
        lambda a, b: "d",
        dirtied=lambda pids: ({}, {}, {}, ended[0]),
    )
    procs = {k(pid, 3): fd(10, 1) for pid in (100, 201, 302, 403)}
    s.step(Reading(cpu(40, 4), procs, time=1.0))  # all four wrote
    # 100 ends with its record; 302 ends with its record lost; 201 and 403 live on, idle
    w.alive -= {100, 302}
    ended[0] = {100, 999}  # 999: a process wtop had no entry of
    gone = []
    for n in range(2, 2 + SWEEP):
        _, keys, pids = s.step(Reading(cpu(40, 4), dict(procs), time=float(n)))
        for key in keys:
            del procs[key]
        gone.append(pids)
        ended[0] = set()
    assert gone[0] == [100]  # at once, from its record
    assert sum(gone, []) == [100, 302]  # the lost one too, in its turn
    assert sorted(checked) == [201, 302, 403]  # each idle one checked once in SWEEP samples
    # a pid that writes after its record came is a new process: not taken for dead
    checked.clear()
    ended[0] = {201}
    procs[k(201, 4)] = fd(10, 1)
    s.step(Reading(cpu(50, 5), dict(procs), time=20.0))  # it wrote, and ended
    ended[0] = set()
    procs[k(201, 4)] = fd(20, 2)
    s.step(Reading(cpu(60, 6), dict(procs), time=20.5))  # the pid wrote again: another process
    for n in range(SWEEP):
        _, _, pids = s.step(Reading(cpu(60, 6), dict(procs), time=21.0 + n))
        assert pids == []
    assert sorted(checked) == [201, 403]
    # records that do not vouch: a process that just went idle is checked at once
    checked.clear()
    ended[0] = None
    procs[k(504, 3)] = fd(1, 1)
    s.step(Reading(cpu(70, 7), dict(procs), time=40.0))
    s.step(Reading(cpu(70, 7), dict(procs), time=41.0))
    assert 504 in checked


def test_names_are_looked_up_one_by_one_then_read_whole():
    from probes.kernel import Names

    class Kernel:
        def __init__(self):
            self.calls = []

        def read_name(self, pid):
            self.calls.append(pid)
            return (b"one", pid, 0) if pid < 100 else None

        def read_names(self):
            self.calls.append("all")
            return {pid: (b"all", pid, 0) for pid in range(100)}

    k = Kernel()
    names = Names(k)
    got = [names.get(pid) for pid in range(Names.ONE_BY_ONE)]
    assert got == [(b"one", pid, 0) for pid in range(Names.ONE_BY_ONE)] and "all" not in k.calls
    assert names.get(500) is None and names.get(7) == (b"all", 7, 0) and names.get(8) == (b"all", 8, 0)
    assert k.calls == [*range(Names.ONE_BY_ONE), "all"]  # past the first ONE_BY_ONE: one read of all
    few, many = Kernel(), Kernel()
    assert Names(few).getter(3)(7) == (b"one", 7, 0) and few.calls == [7]  # a few: one by one
    get = Names(many).getter(Names.ONE_BY_ONE + 1)  # more than that: all at once, a dict's own get
    assert many.calls == ["all"] and get(7) == (b"all", 7, 0) and get(500) is None and many.calls == ["all"]
    assert Names(Kernel()).get(500, "none") == "none" and Names(many).get(500, "none") == "none"


def test_names_wanted_in_bulk_are_read_ahead_and_waited_for():
    """The sampler says how many names it will want as soon as it knows: when that means the
    whole map, its read begins then (on a thread: Kernel.start_read_names) and the names come
    from it, not from a second read; a few wanted start nothing."""
    from probes.kernel import Names

    class Kernel:
        def __init__(self):
            self.calls = []

        def read_name(self, pid):
            self.calls.append(pid)
            return None

        def read_names(self):
            self.calls.append("all")
            return {}

        def start_read_names(self):
            self.calls.append("start")
            return lambda: self.calls.append("finish") or {7: (b"ahead", 7, 0)}

    few = Kernel()
    names = Names(few)
    names.prefetch(3)
    assert few.calls == [] and names.getter(3)(7) is None and few.calls == [7]
    many = Kernel()
    names = Names(many)
    names.prefetch(Names.ONE_BY_ONE + 1)
    assert many.calls == ["start"]
    names.prefetch(Names.ONE_BY_ONE + 1)  # asked again: the same read
    get = names.getter(Names.ONE_BY_ONE + 1)
    assert get(7) == (b"ahead", 7, 0) and names.get(8) is None and many.calls == ["start", "finish"]
    ahead = Kernel()
    names = Names(ahead)
    names.prefetch(Names.ONE_BY_ONE + 1)
    assert names.get(7) == (b"ahead", 7, 0) and ahead.calls == ["start", "finish"]  # not one by one


def test_a_partial_reading_gives_what_the_whole_one_gives():
    """A reading of only the cells counted lately (Reading.partial: the live source's Cells
    hold only those too), the others standing as last read. Interval by interval, the
    snapshots, the keys to delete and the processes gone are those of whole readings: a new
    writer, one that goes idle, one that writes again, one that ends (its keys go, and a
    reused pid starts from 0)."""
    cum = [
        {k(100, 3): fd(10, 1), k(200, 4): fd(5, 1)},
        {k(100, 3): fd(30, 3), k(200, 4): fd(5, 1), k(300, 1): fd(7, 1)},
        {k(100, 3): fd(30, 3), k(200, 4): fd(9, 2), k(300, 1): fd(7, 1), k(300, 2): fd(1, 1)},
        {k(100, 3): fd(30, 3), k(200, 4): fd(9, 2), k(300, 1): fd(7, 1), k(300, 2): fd(1, 1)},
        {k(100, 3): fd(30, 3), k(200, 4): fd(9, 2), k(300, 1): fd(4, 1)},  # 300 ended; its pid reused
    ]
    runs = []
    for partial in (False, True):
        w = World()
        w.alive = {100, 200, 300}
        s = w.sampler(Reading(cpu(), {}, time=0.0))
        prev: dict = {}
        out = []
        for n, whole in enumerate(cum, 1):
            if n == 4:
                w.alive.discard(300)
            if n == 5:  # the map as the kernel holds it after the deletes
                w.alive.add(300)
                prev = {key: v for key, v in prev.items() if key[0] != 300}
            moved = {key: v for key, v in whole.items() if prev.get(key) != v}
            assert len(moved) < len(whole) or n in (1, 5)  # partial readings do leave entries out
            r = Reading(cpu(), moved if partial else dict(whole), time=float(n), partial=partial)
            snap, keys, pids = s.step(r)
            out.append(([(p.pid, p.bytes, p.writes) for p in snap.processes], sorted(keys), pids, snap.threads))
            prev = dict(whole)
        runs.append(out)
    assert runs[0] == runs[1]
    assert runs[0][3][1:3] == ([k(300, 1), k(300, 2)], [300])  # 300 ended: its keys go
    assert runs[0][4][0] == [(300, 4, 1)]  # the reused pid's new entry, from 0
