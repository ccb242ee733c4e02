"""The run's state: every snapshot folded into totals since start, and checkpoints for replay.

Pure: no I/O and no clocks (unit-tested with hand-made snapshots). Only the UI thread (or a
batch loop) folds, so nothing here is shared between threads.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from .snapshot import Family, FocusWrites, Log2Histogram, Skipped, Snapshot
from .units import rate

# Totals are kept for at most this many processes; beyond it, the smallest totals of
# processes not seen in the last interval are forgotten, so a long run with churn stays
# bounded in memory.
MAX_TRACKED = 20_000


@dataclass(frozen=True, slots=True)
class Totals:
    bytes: int = 0
    writes: int = 0
    comm: str = "?"
    uid: int = -1
    exited: bool = False
    """The process was found gone (accumulated mode marks it)."""
    syncs: int = 0
    dirtied: int = 0
    """As the kernel counts write_bytes: its own and its reaped children's."""
    dirtied_children: int = 0


@dataclass(slots=True)
class RunState:
    """Everything the views show: the last interval plus totals since start."""

    last: Snapshot | None = None
    intervals: int = 0
    seconds: float = 0.0
    bytes: int = 0
    writes: int = 0
    errors: int = 0
    sizes: Log2Histogram = field(default_factory=Log2Histogram)
    latency: Log2Histogram = field(default_factory=Log2Histogram)
    latency_max_ns: int = 0
    latency_sum_ns: int = 0
    sla_missed: int = 0
    skipped: Skipped = field(default_factory=Skipped)
    totals: dict[int, Totals] = field(default_factory=dict)
    file_totals: dict[tuple[int, int], int] = field(default_factory=dict)
    """Bytes since start by (pid, fd), bounded like totals."""
    cgroup_totals: dict[int, int] = field(default_factory=dict)
    """Bytes since start by cgroup id (as many as there are cgroups: small)."""
    disks: dict[str, DiskTotals] = field(default_factory=dict)
    """Since start, by device ("major:minor"): what reached it, and what write() sent to files on it."""
    focus: dict[int, FocusWrites] = field(default_factory=dict)
    """Drill-down figures summed since each process's page was opened (a few processes)."""
    unplaced: int = 0
    """write() bytes since start that could not be placed on a device (see unplaced())."""
    dirtied: int = 0
    """Bytes processes made dirty since start (their write_bytes)."""
    forgotten: int = 0
    """Processes whose totals were dropped to stay within MAX_TRACKED (the smallest idle ones)."""
    forgotten_bytes: int = 0
    forgotten_writes: int = 0
    """What those processes wrote: counted together, never lost."""
    history: list[Point] = field(default_factory=list)
    """One point an interval, newest last: the last HISTORY intervals (an hour at 1 s)."""
    disk_history: dict[str, list[DiskPoint]] = field(default_factory=dict)
    """By device: one point an interval since it was first seen (at most HISTORY each)."""
    comm_totals: dict[str, tuple[int, int]] = field(default_factory=dict)
    """(bytes, writes) since start by the writing thread's name (the seed's @[comm]), bounded."""
    thread_totals: dict[tuple[int, int, str], tuple[int, int]] = field(default_factory=dict)
    """(bytes, writes) since start by (pid, tid, thread name), bounded like totals."""
    families: dict[str, Family] = field(default_factory=dict)
    """Each family of calls since start (its histograms), by name."""
    sync_calls: tuple[int, ...] = ()
    """Durability calls since start, by type (SYNCS order)."""
    call_writes: tuple[int, ...] = ()
    call_bytes: tuple[int, ...] = ()
    """Data calls and their bytes since start, by type (CALLS order)."""
    proc_history: dict[int, list[tuple[float, int, int, float, float | None]]] = field(default_factory=dict)
    """By process, the intervals it wrote in since wtop first saw it: (time, bytes, writes,
    elapsed, p99 latency in ns while its page was open, else None); idle intervals are not
    kept (they are zeros). At most PROC_HISTORIES processes and PROC_POINTS points in all, the
    smallest writers and the oldest intervals (beyond HISTORY) dropped first."""
    proc_points: int = 0


HISTORY = 3600
PROC_HISTORIES = 2000
"""Processes with a history of their own: the biggest writers since start (a storm of 2,000
short-lived processes a second would otherwise keep 16,000 one-point histories)."""
PROC_POINTS = 200_000
"""Points of per-process history kept in all (about 20 MB): an hour of 55 processes writing
every second, or a day's bursts of many more."""


class DiskPoint(NamedTuple):
    """What one device did in one interval, for its history graph."""

    time: float
    bytes_s: float
    iops: float
    p99_ns: float


class Point(NamedTuple):
    """What the machine wrote in one interval, for the history graph."""

    time: float
    """Wall-clock end of the interval."""
    bytes_s: float
    writes_s: float
    disk_s: float
    """What reached the disks (write requests completed), bytes/s."""
    sla_missed: int
    skipped: int
    timed: int = 0
    """Writes with a latency in the interval (the SLA share's denominator)."""


@dataclass(frozen=True, slots=True)
class DiskTotals:
    name: str = "?"
    bytes: int = 0
    """Written to the device (write requests completed)."""
    ios: int = 0
    flushes: int = 0
    latency: Log2Histogram = field(default_factory=Log2Histogram)
    latency_max_ns: int = 0
    written: int = 0
    """Bytes write() sent to files on this device (or to the device itself)."""
    dirtied: int = 0
    """Bytes processes made dirty on it (its share of their write_bytes)."""


def unplaced(snap: Snapshot) -> int:
    """Bytes write() sent that cannot be placed on a device: the descriptor was closed before
    it could be resolved (a short-lived writer), was not resolved, or was not known."""
    return sum(f.bytes for f in snap.files if f.kind == "?")


def disk_written(snap: Snapshot) -> dict[str, int]:
    """Bytes write() sent in the interval to files on each disk (from the resolved descriptors)."""
    out: dict[str, int] = {}
    for f in snap.files:
        if f.disk:
            out[f.disk] = out.get(f.disk, 0) + f.bytes
    return out


def add_family(a: Family | None, b: Family) -> Family:
    """Two periods of one family, summed (b the later one)."""
    if a is None:
        return b
    return Family(
        name=b.name,
        calls=a.calls + b.calls,
        bytes=a.bytes + b.bytes,
        errors=a.errors + b.errors,
        sizes=a.sizes + b.sizes,
        latency=a.latency + b.latency,
        latency_max_ns=max(a.latency_max_ns, b.latency_max_ns),
        latency_sum_ns=a.latency_sum_ns + b.latency_sum_ns,
        sla_missed=a.sla_missed + b.sla_missed,
        sla_ns=b.sla_ns,
    )


def add_counts(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """Two tuples of counts, summed; the shorter one counts as zeros."""
    n = max(len(a), len(b))
    return tuple((a[i] if i < len(a) else 0) + (b[i] if i < len(b) else 0) for i in range(n))


def add_focus(a: FocusWrites, b: FocusWrites) -> FocusWrites:
    """Two periods of the same process's drill-down figures, summed (b the later one)."""
    return FocusWrites(
        pid=b.pid,
        bytes=a.bytes + b.bytes,
        writes=a.writes + b.writes,
        errors=a.errors + b.errors,
        sizes=a.sizes + b.sizes,
        latency=a.latency + b.latency,
        latency_max_ns=max(a.latency_max_ns, b.latency_max_ns),
        latency_sum_ns=a.latency_sum_ns + b.latency_sum_ns,
        sla_missed=a.sla_missed + b.sla_missed,
        no_entry=a.no_entry + b.no_entry,
        call_writes=add_counts(a.call_writes, b.call_writes),
        call_bytes=add_counts(a.call_bytes, b.call_bytes),
        sync_calls=add_counts(a.sync_calls, b.sync_calls),
        families=tuple(add_family(next((x for x in a.families if x.name == f.name), None), f) for f in b.families),
    )


def fold(state: RunState, snap: Snapshot) -> RunState:
    """Add one snapshot to the run. Mutates and returns state (only the UI thread calls it)."""
    state.last = snap
    state.intervals += 1
    state.seconds += snap.elapsed
    state.bytes += snap.bytes
    state.writes += snap.writes
    state.errors += snap.errors
    state.sizes = state.sizes + snap.sizes
    state.latency = state.latency + snap.latency
    state.latency_max_ns = max(state.latency_max_ns, snap.latency_max_ns)
    state.latency_sum_ns += snap.latency_sum_ns
    state.sla_missed += snap.sla_missed
    state.skipped = state.skipped + snap.skipped
    state.dirtied += snap.dirtied
    for f in snap.families:
        state.families[f.name] = add_family(state.families.get(f.name), f)
    if snap.sync_calls:
        state.sync_calls = add_counts(state.sync_calls, snap.sync_calls)
    state.call_writes = add_counts(state.call_writes, snap.call_writes)
    state.call_bytes = add_counts(state.call_bytes, snap.call_bytes)
    totals = state.totals
    for p in snap.processes:
        t = totals.get(p.pid)
        if t is None:
            totals[p.pid] = Totals(
                p.bytes, p.writes, p.comm, p.uid, syncs=p.syncs, dirtied=p.dirtied, dirtied_children=p.dirtied_children
            )
        else:
            totals[p.pid] = Totals(
                t.bytes + p.bytes,
                t.writes + p.writes,
                p.comm,
                p.uid,
                syncs=t.syncs + p.syncs,
                dirtied=t.dirtied + p.dirtied,
                dirtied_children=t.dirtied_children + p.dirtied_children,
            )
    for pid in snap.exited:
        t = totals.get(pid)
        if t is not None and not t.exited:
            totals[pid] = replace(t, exited=True)
    _fold_threads(state, snap)
    if len(totals) > MAX_TRACKED:
        active = {p.pid for p in snap.processes}
        idle = sorted((t.bytes, pid) for pid, t in totals.items() if pid not in active)
        for _, pid in idle[: len(totals) - MAX_TRACKED]:
            gone = totals.pop(pid)
            state.forgotten += 1
            state.forgotten_bytes += gone.bytes
            state.forgotten_writes += gone.writes
    ct = state.cgroup_totals
    for p in snap.processes:
        ct[p.cgroup] = ct.get(p.cgroup, 0) + p.bytes
    ft = state.file_totals
    for f in snap.files:
        ft[(f.pid, f.fd)] = ft.get((f.pid, f.fd), 0) + f.bytes
    if len(ft) > MAX_TRACKED:
        active = {(f.pid, f.fd) for f in snap.files}
        for _, key in sorted((v, k) for k, v in ft.items() if k not in active)[: len(ft) - MAX_TRACKED]:
            del ft[key]
    disks = state.disks
    for d in snap.disks:
        t = disks.get(d.dev, DiskTotals())
        disks[d.dev] = DiskTotals(
            d.name,
            t.bytes + d.bytes,
            t.ios + d.ios,
            t.flushes + d.flushes,
            t.latency + d.latency,
            max(t.latency_max_ns, d.latency_max_ns),
            t.written,
            t.dirtied + d.dirtied,
        )
    _fold_disk_history(state, snap)
    state.unplaced += unplaced(snap)
    for dev, n in disk_written(snap).items():
        t = disks.get(dev, DiskTotals(name=dev))
        disks[dev] = replace(t, written=t.written + n)
    if snap.focus is not None:
        f = snap.focus
        old = state.focus.get(f.pid)
        state.focus[f.pid] = f if old is None else add_focus(old, f)
        if len(state.focus) > 64:  # pages opened over a long run: keep the latest
            del state.focus[next(iter(state.focus))]
    state.history.append(point_of(snap))
    if len(state.history) > HISTORY + 60:  # trimmed in steps: no list copy every interval
        del state.history[:-HISTORY]
    fold_proc_history(state, snap)
    return state


class ProcPoint(NamedTuple):
    """What one process wrote in one interval, for its page's history graphs."""

    time: float
    bytes_s: float
    writes_s: float
    p99_ns: float | None
    """Its write latency's p99 in the interval, where its page was open (counted), else None."""
    sla_ns: int = 0
    skipped: int = 0
    """Events the probes could not account for in the interval, on the whole machine (they
    have no process): marked on its graph, so a gap in its figures can be told from idleness."""
    dirtied_s: float = 0.0
    """Bytes a second it made dirty in the page cache."""


def fold_proc_history(state: RunState, snap: Snapshot) -> None:
    """One interval into the per-process history (bounded: see RunState.proc_history)."""
    from .tables import percentile  # tables builds on this module

    hist = state.proc_history
    f = snap.focus
    p99 = percentile(f.latency, 0.99, f.latency_max_ns) if f is not None and f.latency.total else None
    for p in snap.processes:
        if p.bytes or p.writes or p.dirtied_self or (f is not None and f.pid == p.pid):
            hist.setdefault(p.pid, []).append(
                (
                    snap.time,
                    p.bytes,
                    p.writes,
                    snap.elapsed,
                    p99 if f is not None and f.pid == p.pid else None,
                    p.dirtied_self,
                )
            )
            state.proc_points += 1
    if len(hist) > PROC_HISTORIES * 11 // 10:  # many processes (a storm of short ones): keep the biggest
        totals = state.totals
        order = sorted(hist, key=lambda pid: totals[pid].bytes if pid in totals else 0)
        for pid in order[: len(hist) - PROC_HISTORIES]:
            state.proc_points -= len(hist.pop(pid))
    if state.proc_points <= PROC_POINTS:
        return
    oldest = state.history[0].time if state.history else snap.time
    for pid in list(hist):  # first the intervals older than the machine's history
        pts = hist[pid]
        keep = [q for q in pts if q[0] >= oldest]
        state.proc_points -= len(pts) - len(keep)
        if keep:
            hist[pid] = keep
        else:
            del hist[pid]
    if state.proc_points > PROC_POINTS:  # then the smallest writers, gone ones first
        present = {p.pid for p in snap.processes}  # once: in the key it was made once per process
        order = sorted(hist, key=lambda pid: (pid in present, sum(q[1] for q in hist[pid])))
        for pid in order:
            if state.proc_points <= PROC_POINTS * 9 // 10:
                break
            state.proc_points -= len(hist.pop(pid))


def process_points(state: RunState, pid: int) -> list[ProcPoint]:
    """One point an interval for this process since wtop first saw it (within the machine's
    history): its own figures where it wrote, zeros where it was idle."""
    pts = state.proc_history.get(pid)
    if not pts:
        return []
    mine = {q[0]: q for q in pts}
    first = pts[0][0]
    sla = state.last.sla_ns if state.last is not None else 0
    out = []
    for m in state.history:
        if m.time < first:
            continue
        q = mine.get(m.time)
        if q is None:
            out.append(ProcPoint(m.time, 0.0, 0.0, None, sla, m.skipped))
        else:
            out.append(ProcPoint(m.time, rate(q[1], q[3]), rate(q[2], q[3]), q[4], sla, m.skipped, rate(q[5], q[3])))
    return out


def point_of(snap: Snapshot) -> Point:
    """One interval as a point of the history graph."""
    el = snap.elapsed
    return Point(
        snap.time,
        rate(snap.bytes, el),
        rate(snap.writes, el),
        rate(sum(d.bytes for d in snap.disks), el),
        snap.sla_missed,
        snap.skipped.total,
        snap.latency.total,
    )


def _fold_disk_history(state: RunState, snap: Snapshot) -> None:
    """A point for every device seen so far: its figures, or zero when it was idle."""
    from .tables import percentile  # tables builds on this module

    now = {d.dev: d for d in snap.disks}
    hist = state.disk_history
    for dev in now.keys() | hist.keys():
        d = now.get(dev)
        p99 = percentile(d.latency, 0.99, d.latency_max_ns) if d else None
        pts = hist.setdefault(dev, [])
        pts.append(
            DiskPoint(
                snap.time,
                rate(d.bytes, snap.elapsed) if d else 0.0,
                rate(d.ios, snap.elapsed) if d else 0.0,
                p99 or 0.0,
            )
        )
        if len(pts) > HISTORY + 60:
            del pts[:-HISTORY]


def _bounded_add(d: dict, key, b: int, w: int) -> None:
    old = d.get(key)
    d[key] = (b, w) if old is None else (old[0] + b, old[1] + w)


def _fold_threads(state: RunState, snap: Snapshot) -> None:
    """Thread and name totals; a recording without threads counts processes by their name."""
    ct, tt = state.comm_totals, state.thread_totals
    if snap.threads:
        for t in snap.threads:
            _bounded_add(ct, t.comm, t.bytes, t.writes)
            _bounded_add(tt, (t.pid, t.tid, t.comm), t.bytes, t.writes)
    else:
        for p in snap.processes:
            _bounded_add(ct, p.comm, p.bytes, p.writes)
    for d in (ct, tt):
        if len(d) > MAX_TRACKED:  # forget the smallest: a long run with churn stays bounded
            for _, key in sorted((v[0], k) for k, v in d.items())[: len(d) - MAX_TRACKED]:
                del d[key]


def top_totals(state: RunState, n: int = 20) -> list[tuple[int, Totals]]:
    """Processes with the most bytes since start (the exit summary), written or dirtied."""
    items = sorted(state.totals.items(), key=lambda kv: (-max(kv[1].bytes, kv[1].dirtied), kv[0]))
    return items[:n]


def copy_state(state: RunState) -> RunState:
    """An independent copy (the mutable parts are the totals dict and the history list)."""
    return replace(
        state,
        totals=dict(state.totals),
        file_totals=dict(state.file_totals),
        cgroup_totals=dict(state.cgroup_totals),
        disks=dict(state.disks),
        focus=dict(state.focus),
        history=list(state.history),
        comm_totals=dict(state.comm_totals),
        disk_history={k: list(v) for k, v in state.disk_history.items()},
        thread_totals=dict(state.thread_totals),
    )


CHECKPOINT = 50


def state_at(snaps: list[Snapshot], pos: int, cache: dict[int, RunState]) -> RunState:
    """The state after the first pos snapshots; cache keeps a copy every CHECKPOINT, so
    stepping back and forth through a long recording costs at most CHECKPOINT folds."""
    base = max((k for k in cache if k <= pos), default=0)
    state = copy_state(cache[base]) if base else RunState()
    for i in range(base, pos):
        fold(state, snaps[i])
        if (i + 1) % CHECKPOINT == 0 and (i + 1) not in cache:
            cache[i + 1] = copy_state(state)
    return state


def merge(snaps: Iterable[Snapshot]) -> RunState:
    """Fold many snapshots into a fresh state (summaries, tests)."""
    state = RunState()
    for s in snaps:
        fold(state, s)
    return state
