"""Pure functions over snapshots: fold into run totals, rank, group, percentiles, units.

No I/O and no clocks: everything here is unit-tested with hand-made snapshots.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from .snapshot import CALLS, FocusWrites, Log2Histogram, ProcessWrites, Skipped, Snapshot

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
    forgotten: int = 0
    history: list[float] = field(default_factory=list)
    """Bytes/s of the last intervals, newest last (at most HISTORY)."""


HISTORY = 120


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
        call_writes=tuple(x + y for x, y in zip(a.call_writes or (0,) * len(CALLS), b.call_writes, strict=False)),
        call_bytes=tuple(x + y for x, y in zip(a.call_bytes or (0,) * len(CALLS), b.call_bytes, strict=False)),
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
    totals = state.totals
    for p in snap.processes:
        t = totals.get(p.pid)
        if t is None:
            totals[p.pid] = Totals(p.bytes, p.writes, p.comm, p.uid)
        else:
            totals[p.pid] = Totals(t.bytes + p.bytes, t.writes + p.writes, p.comm, p.uid)
    if len(totals) > MAX_TRACKED:
        active = {p.pid for p in snap.processes}
        idle = sorted((t.bytes, pid) for pid, t in totals.items() if pid not in active)
        for _, pid in idle[: len(totals) - MAX_TRACKED]:
            del totals[pid]
            state.forgotten += 1
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
        )
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
    state.history.append(rate(snap.bytes, snap.elapsed))
    del state.history[:-HISTORY]
    return state


def rate(count: float, seconds: float) -> float:
    """count per second; 0 for an empty or negative period."""
    return count / seconds if seconds > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the top writers table."""

    key: str
    pid: int | None
    """None when grouped by name."""
    comm: str
    uid: int
    bytes_s: float
    writes_s: float
    avg_size: float
    total_bytes: int
    processes: int = 1
    kind: str = ""
    """Where the bytes went: 'file', 'sock 97%', ... ('' when unknown)."""
    call: str = ""
    """How: 'write', 'pwrite64 80%', ... ('' when unknown)."""


def kinds_by_pid(snap: Snapshot) -> dict[int, dict[str, int]]:
    """Bytes of each process by kind of target, from the interval's (process, fd) pairs."""
    out: dict[int, dict[str, int]] = {}
    for f in snap.files:
        d = out.setdefault(f.pid, {})
        d[f.kind] = d.get(f.kind, 0) + f.bytes
    return out


SHORT_KIND = {"file": "file", "pipe": "pipe", "socket": "sock", "terminal": "tty", "other": "other", "?": "?"}


def share_text(parts: dict[str, int], short: dict[str, str] | None = None) -> str:
    """The main part and its share: 'file', 'sock 97%', '' when there is nothing."""
    total = sum(parts.values())
    if total <= 0:
        return ""
    name, v = max(parts.items(), key=lambda kv: (kv[1], kv[0]))
    label = short.get(name, name) if short else name
    share = v / total
    return label if share >= 0.995 else f"{label} {share * 100:.0f}%"


def calls_of(p: ProcessWrites) -> dict[str, int]:
    return {c: n for c, n in zip(CALLS, p.calls, strict=False) if n}


SORT_KEYS = ("bytes_s", "writes_s", "avg_size", "total_bytes", "pid", "comm")
SORT_TITLES = {
    "bytes_s": "BYTES/S",
    "writes_s": "WRITES/S",
    "avg_size": "AVG SIZE",
    "total_bytes": "TOTAL",
    "pid": "PID",
    "comm": "COMMAND",
}


def rows(state: RunState, group_by_comm: bool = False, sort: str = "bytes_s") -> list[Row]:
    """The top writers of the last interval, grouped and sorted; ties broken by key."""
    snap = state.last
    if snap is None:
        return []
    elapsed = snap.elapsed
    out: list[Row] = []
    kinds = kinds_by_pid(snap)
    if not group_by_comm:
        for p in snap.processes:
            total = state.totals.get(p.pid)
            out.append(
                Row(
                    key=f"pid:{p.pid}",
                    pid=p.pid,
                    comm=p.comm,
                    uid=p.uid,
                    bytes_s=rate(p.bytes, elapsed),
                    writes_s=rate(p.writes, elapsed),
                    avg_size=p.bytes / p.writes if p.writes else 0.0,
                    total_bytes=total.bytes if total else p.bytes,
                    kind=share_text(kinds.get(p.pid, {}), SHORT_KIND),
                    call=share_text(calls_of(p)),
                )
            )
    else:
        groups: dict[str, list[ProcessWrites]] = {}
        for p in snap.processes:
            groups.setdefault(p.comm, []).append(p)
        run_by_comm: dict[str, int] = {}
        for t in state.totals.values():
            if t.comm in groups:
                run_by_comm[t.comm] = run_by_comm.get(t.comm, 0) + t.bytes
        for comm, procs in groups.items():
            b = sum(p.bytes for p in procs)
            w = sum(p.writes for p in procs)
            uids = {p.uid for p in procs}
            kind_sum: dict[str, int] = {}
            call_sum: dict[str, int] = {}
            for p in procs:
                for k, v in kinds.get(p.pid, {}).items():
                    kind_sum[k] = kind_sum.get(k, 0) + v
                for k, v in calls_of(p).items():
                    call_sum[k] = call_sum.get(k, 0) + v
            out.append(
                Row(
                    key=f"comm:{comm}",
                    pid=None,
                    comm=comm,
                    uid=uids.pop() if len(uids) == 1 else -2,
                    bytes_s=rate(b, elapsed),
                    writes_s=rate(w, elapsed),
                    avg_size=b / w if w else 0.0,
                    total_bytes=run_by_comm.get(comm, b),
                    processes=len(procs),
                    kind=share_text(kind_sum, SHORT_KIND),
                    call=share_text(call_sum),
                )
            )
    if sort in ("pid", "comm"):
        out.sort(key=lambda r: ((r.pid or 0) if sort == "pid" else r.comm, r.key))
    else:
        out.sort(key=lambda r: (-getattr(r, sort), r.key))
    return out


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
    """A process's write calls by type: every call, in CALLS order (a fixed, short table).

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
    return out


def top_totals(state: RunState, n: int = 20) -> list[tuple[int, Totals]]:
    """Processes with the most bytes since start (the exit summary)."""
    items = sorted(state.totals.items(), key=lambda kv: (-kv[1].bytes, kv[0]))
    return items[:n]


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


# -- units -------------------------------------------------------------------------------

_BIN = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def human_bytes(n: float) -> str:
    """1536 -> '1.5 KiB'; under 1000 B as plain bytes.

    The unit steps up at 1000 (so 1000 B shows as '1.0 KiB'): a figure never needs four
    integer digits, which keeps every column of the table within its width.
    """
    n = float(n)
    for unit in _BIN:
        if unit == "B" and abs(n) < 999.5:
            return f"{n:.0f} B"
        if unit != "B" and (abs(n) < 999.95 or unit == _BIN[-1]):
            return f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError  # pragma: no cover


def human_rate(n: float) -> str:
    return human_bytes(n) + "/s"


def human_count(n: float) -> str:
    """Counts: 999, 1.2k, 3.4M."""
    n = float(n)
    for unit in ("", "k", "M", "G", "T"):
        if abs(n) < 1000 or unit == "T":
            return f"{n:.0f}" if unit == "" else f"{n:.1f}{unit}"
        n /= 1000
    raise AssertionError  # pragma: no cover


def human_ns(ns: float) -> str:
    """Durations: 850ns, 12.5us, 3.2ms, 1.50s."""
    ns = float(ns)
    if ns < 1000:
        return f"{ns:.0f}ns"
    if ns < 1_000_000:
        return f"{ns / 1000:.1f}us"
    if ns < 1_000_000_000:
        return f"{ns / 1_000_000:.1f}ms"
    return f"{ns / 1_000_000_000:.2f}s"


def pow2_label(v: int, unit: str = "") -> str:
    """bpftrace's bucket bound labels: 0, 1, 512, 1K, 4M, 2G..."""
    for suffix in ("", "K", "M", "G", "T", "P"):
        if v < 1024 or suffix == "P":
            return f"{v}{suffix}{unit}"
        v //= 1024
    raise AssertionError  # pragma: no cover


def bucket_label(i: int) -> str:
    """bpftrace's hist() label for bucket i: '[4K, 8K)'."""
    lo, hi = Log2Histogram.bounds(i)
    if i == 0:
        return "[0]"
    if hi - lo == 1:
        return f"[{lo}]"
    return f"[{pow2_label(lo)}, {pow2_label(hi)})"


def ns_bucket_label(i: int) -> str:
    """Latency bucket labels in time units: '[4us, 8us)'."""
    lo, hi = Log2Histogram.bounds(i)
    return f"[{human_ns_pow2(lo)}, {human_ns_pow2(hi)})"


def human_ns_pow2(ns: int) -> str:
    for unit, div in (("s", 1_000_000_000), ("ms", 1_000_000), ("us", 1000)):
        if ns >= div:
            v = ns / div
            return f"{v:.0f}{unit}" if v >= 10 or v == int(v) else f"{v:.1f}{unit}"
    return f"{ns}ns"


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


def user_name(uid: int, _cache: dict[int, str] = {}) -> str:  # noqa: B006 - deliberate cache
    """Login name for a uid, the number when unknown; '*' for a group of several users."""
    if uid == -2:
        return "*"
    if uid < 0:
        return "?"
    name = _cache.get(uid)
    if name is None:
        try:
            import pwd

            name = pwd.getpwuid(uid).pw_name
        except (KeyError, ImportError):
            name = str(uid)
        _cache[uid] = name
    return name


__all__ = ["RunState", "Row", "fold", "rows", "percentile", "replace"]
