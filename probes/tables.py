"""What each table shows: row types built from the run's state, and percentiles of log2
histograms. Pure: no I/O and no clocks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .runstate import RunState, disk_written
from .snapshot import CALLS, SYNCS, Log2Histogram, ProcessWrites
from .units import rate


@dataclass(frozen=True, slots=True)
class FileRow:
    key: str
    pid: int
    comm: str
    fd: int
    kind: str
    path: str
    bytes_s: float
    writes_s: float
    total_bytes: int
    disk: str = ""
    """The name of the disk holding the file ("" for none)."""
    syncs_s: float = 0.0
    """fsync, fdatasync, sync_file_range and syncfs calls on it a second."""


def file_rows(state: RunState) -> list[FileRow]:
    """The (process, file) pairs of the last interval by bytes/s, with totals since start."""
    snap = state.last
    if snap is None:
        return []
    names = {p.pid: p.comm for p in snap.processes}
    out = [
        FileRow(
            key=f"fd:{f.pid}:{f.fd}",
            pid=f.pid,
            comm=names.get(f.pid, "?"),
            fd=f.fd,
            kind=f.kind,
            path=f.path,
            bytes_s=rate(f.bytes, snap.elapsed),
            writes_s=rate(f.writes, snap.elapsed),
            total_bytes=state.file_totals.get((f.pid, f.fd), f.bytes),
            disk=state.disks[f.disk].name if f.disk in state.disks else "",
            syncs_s=rate(f.syncs, snap.elapsed),
        )
        for f in snap.files
    ]
    out.sort(key=lambda r: (-r.bytes_s, r.pid, r.fd))
    return out


@dataclass(frozen=True, slots=True)
class GroupRow:
    key: str
    name: str
    path: str
    processes: int
    bytes_s: float
    writes_s: float
    total_bytes: int


def container_rows(state: RunState, resolve: Callable[[int], tuple[str, str]]) -> list[GroupRow]:
    """Writes of the last interval by cgroup; resolve(id) -> (label, path) names them."""
    snap = state.last
    if snap is None:
        return []
    groups: dict[int, list[ProcessWrites]] = {}
    for p in snap.processes:
        groups.setdefault(p.cgroup, []).append(p)
    out = []
    for cgid, procs in groups.items():
        name, path = resolve(cgid)
        b = sum(p.bytes for p in procs)
        out.append(
            GroupRow(
                key=f"cg:{cgid}",
                name=name,
                path=path,
                processes=len(procs),
                bytes_s=rate(b, snap.elapsed),
                writes_s=rate(sum(p.writes for p in procs), snap.elapsed),
                total_bytes=state.cgroup_totals.get(cgid, b),
            )
        )
    out.sort(key=lambda r: (-r.bytes_s, r.key))
    return out


@dataclass(frozen=True, slots=True)
class DiskRow:
    key: str
    dev: str
    name: str
    bytes_s: float
    """Written to the device per second (write requests completed)."""
    iops: float
    avg_size: float
    flushes_s: float
    p50_ns: float | None
    p99_ns: float | None
    max_ns: int
    written_s: float
    """write() bytes per second to files on this device."""
    total_bytes: int
    total_written: int
    dirtied_s: float = 0.0
    """Bytes per second processes made dirty on it."""


def disk_rows(state: RunState) -> list[DiskRow]:
    """Every device seen in the run: the last interval's rates, the run's totals."""
    snap = state.last
    if snap is None:
        return []
    el = snap.elapsed
    now = {d.dev: d for d in snap.disks}
    written = disk_written(snap)
    out = []
    for dev, t in state.disks.items():
        d = now.get(dev)
        hist = d.latency if d else Log2Histogram()
        mx = d.latency_max_ns if d else 0
        out.append(
            DiskRow(
                key=f"disk:{dev}",
                dev=dev,
                name=d.name if d else t.name,
                bytes_s=rate(d.bytes, el) if d else 0.0,
                iops=rate(d.ios, el) if d else 0.0,
                avg_size=d.bytes / d.ios if d and d.ios else 0.0,
                flushes_s=rate(d.flushes, el) if d else 0.0,
                p50_ns=percentile(hist, 0.5, mx),
                p99_ns=percentile(hist, 0.99, mx),
                max_ns=mx,
                written_s=rate(written.get(dev, 0), el),
                total_bytes=t.bytes,
                total_written=t.written,
                dirtied_s=rate(d.dirtied, el) if d else 0.0,
            )
        )
    out.sort(key=lambda r: (-r.bytes_s, -r.written_s, -r.total_bytes, r.dev))
    return out


@dataclass(frozen=True, slots=True)
class CallRow:
    key: str
    call: str
    writes_s: float
    bytes_s: float | None
    """None when only the counts are known (the page just opened, or a recording without it)."""
    share: float | None
    """Of the process's bytes in the interval (of its calls when bytes are unknown), 0..1."""
    total_writes: int | None
    total_bytes: int | None
    """Since the page was opened; None when nothing was counted for it yet."""


def process_calls(state: RunState, pid: int) -> list[CallRow]:
    """A process's calls by type, in CALLS order: the write family's always (a fixed, short
    table), every other call (copies, sends) once it made one, then its sync calls.

    From the drill-down counts when the kernel has them for this process, else from its
    per-descriptor counts (calls only, no bytes)."""
    snap = state.last
    if snap is None:
        return []
    el = snap.elapsed
    f = snap.focus if snap.focus is not None and snap.focus.pid == pid else None
    p = next((p for p in snap.processes if p.pid == pid), None)
    run = state.focus.get(pid)
    writes = f.call_writes if f else (p.calls if p and p.calls else (0,) * len(CALLS))
    nbytes = f.call_bytes if f else None
    base = nbytes if nbytes is not None else writes
    whole = sum(base)
    out = []
    for i, call in enumerate(CALLS):
        w = writes[i] if i < len(writes) else 0
        b = nbytes[i] if nbytes is not None and i < len(nbytes) else None
        ever = run.call_writes[i] if run and i < len(run.call_writes) else 0
        if i >= ALWAYS and not (w or ever):
            continue
        out.append(
            CallRow(
                key=f"call:{call}",
                call=call,
                writes_s=rate(w, el),
                bytes_s=None if b is None else rate(b, el),
                share=(base[i] / whole if whole else 0.0) if i < len(base) else None,
                total_writes=run.call_writes[i] if run and i < len(run.call_writes) else None,
                total_bytes=run.call_bytes[i] if run and i < len(run.call_bytes) else None,
            )
        )
    syncs = f.sync_calls if f else ()
    ever = run.sync_calls if run else ()
    for i, call in enumerate(SYNCS):
        w = syncs[i] if i < len(syncs) else 0
        total = ever[i] if i < len(ever) else None
        if not (w or total):
            continue
        out.append(CallRow(f"call:{call}", call, rate(w, el), None, None, total, None))
    return out


ALWAYS = 5
"""The write family's calls: always in a process's table of calls."""


def percentile(hist: Log2Histogram, q: float, max_value: int | None = None) -> float | None:
    """Estimate the q-quantile (0..1) from log2 buckets by linear interpolation in the bucket.

    The estimate lies in the right bucket, so it is within a factor of 2 of the truth; with
    max_value (the exact maximum) the top bucket is capped there.
    """
    total = hist.total
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for i, c in enumerate(hist.counts):
        if c == 0:
            continue
        if seen + c >= rank:
            lo, hi = Log2Histogram.bounds(i)
            if max_value is not None and lo <= max_value < hi:
                hi = max_value + 1
            frac = (rank - seen) / c
            return lo + (hi - lo) * frac
        seen += c
    return float(max_value) if max_value is not None else None


def exceeding(hist: Log2Histogram, threshold: int) -> int:
    """Writes in buckets wholly above threshold (a lower bound; the kernel counts exactly)."""
    return sum(c for i, c in enumerate(hist.counts) if Log2Histogram.bounds(i)[0] > threshold)


def nonempty_range(hist: Log2Histogram) -> range:
    idx = [i for i, c in enumerate(hist.counts) if c]
    if not idx:
        return range(0)
    return range(idx[0], idx[-1] + 1)
