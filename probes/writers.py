"""The top writers table's rows: by process, by the writing thread's name (the seed's
@[comm]), accumulated since start (iotop's a), with threads (htop's H). Pure."""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from .runstate import RunState
from .snapshot import CALLS, ProcessWrites, Snapshot
from .units import human_count, rate


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
    exited: bool = False
    """Accumulated mode: the process is gone."""
    thread: bool = False
    """A thread of the process above it (H): pid is the thread's id."""
    syncs_s: float = 0.0
    """fsync and its kin a second (the durability calls)."""
    dirtied_s: float = 0.0
    """Bytes a second it made dirty in the page cache itself, or sent as direct I/O (iotop's DISK
    WRITE; not its children's, which have rows of their own)."""


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


SORT_KEYS = ("bytes_s", "writes_s", "avg_size", "total_bytes", "dirtied_s", "pid", "comm")
SORT_TITLES = {
    "bytes_s": "BYTES/S",
    "writes_s": "WRITES/S",
    "avg_size": "AVG SIZE",
    "total_bytes": "TOTAL",
    "dirtied_s": "DIRTY/S",
    "pid": "PID",
    "comm": "COMMAND",
}


def _process_row(p: ProcessWrites, total: int, elapsed: float, kinds: dict) -> Row:
    return Row(
        key=f"pid:{p.pid}",
        pid=p.pid,
        comm=p.comm,
        uid=p.uid,
        bytes_s=rate(p.bytes, elapsed),
        writes_s=rate(p.writes, elapsed),
        avg_size=p.bytes / p.writes if p.writes else 0.0,
        total_bytes=total,
        kind=share_text(kinds.get(p.pid, {}), SHORT_KIND),
        call=share_text(calls_of(p)),
        syncs_s=rate(p.syncs, elapsed),
        dirtied_s=rate(p.dirtied_self, elapsed),
    )


def _by_name(state: RunState, snap: Snapshot, kinds: dict, accumulated: bool = False) -> list[Row]:
    """Grouped by the writing thread's name at the time of the write, as bpftrace's @[comm]
    (by process name in a recording without threads); TO and VIA are those of the processes
    the threads belong to."""
    elapsed = snap.elapsed
    procs = {p.pid: p for p in snap.processes}
    sums: dict[str, list] = {}  # comm -> [bytes, writes, pids]
    for t in snap.threads or snap.processes:  # both carry pid, comm, bytes and writes
        g = sums.setdefault(t.comm, [0, 0, set()])
        g[0] += t.bytes
        g[1] += t.writes
        g[2].add(t.pid)
    if snap.threads:  # a process that only dirtied pages (mmap) wrote under no thread's name
        for p in snap.processes:
            if p.dirtied_self and not p.writes:
                sums.setdefault(p.comm, [0, 0, set()])[2].add(p.pid)
    if accumulated:  # every name since start: those quiet now at 0 B/s, with their totals
        for comm in state.comm_totals:
            sums.setdefault(comm, [0, 0, set()])
    out = []
    for comm, (b, w, pids) in sums.items():
        tb, tw = state.comm_totals.get(comm, (b, w))
        uids = {procs[pid].uid for pid in pids if pid in procs}
        kind_sum: dict[str, int] = {}
        call_sum: dict[str, int] = {}
        dirtied = sum(procs[pid].dirtied_self for pid in pids if pid in procs)
        for pid in pids:
            for k, v in kinds.get(pid, {}).items():
                kind_sum[k] = kind_sum.get(k, 0) + v
            if pid in procs:
                for k, v in calls_of(procs[pid]).items():
                    call_sum[k] = call_sum.get(k, 0) + v
        out.append(
            Row(
                key=f"comm:{comm}",
                pid=None,
                comm=comm,
                uid=uids.pop() if len(uids) == 1 else -2,
                bytes_s=rate(b, elapsed),
                writes_s=rate(w, elapsed),
                avg_size=b / w if w else (tb / tw if tw else 0.0),
                total_bytes=tb,
                processes=len(pids),
                kind=share_text(kind_sum, SHORT_KIND),
                call=share_text(call_sum),
                dirtied_s=rate(dirtied, elapsed),
            )
        )
    return out


def _accumulated(state: RunState, snap: Snapshot, kinds: dict) -> list[Row]:
    """Every process seen since start (iotop's a): the last interval's rates where it wrote,
    0 where it did not, its total since start; exited ones marked."""
    now = {p.pid: p for p in snap.processes}
    out = []
    for pid, t in state.totals.items():
        p = now.get(pid)
        if p is not None:
            out.append(_process_row(p, t.bytes, snap.elapsed, kinds))
        else:
            out.append(
                Row(
                    key=f"pid:{pid}",
                    pid=pid,
                    comm=t.comm,
                    uid=t.uid,
                    bytes_s=0.0,
                    writes_s=0.0,
                    avg_size=t.bytes / t.writes if t.writes else 0.0,
                    total_bytes=t.bytes,
                    exited=t.exited,
                )
            )
    return out


def _forgotten(state: RunState) -> list[Row]:
    """Accumulated mode: the processes dropped to stay within the memory bound, in one row."""
    if not state.forgotten:
        return []
    b, w = state.forgotten_bytes, state.forgotten_writes
    return [
        Row(
            key="forgotten",
            pid=None,
            comm=f"({state.forgotten:,} others)",
            uid=-2,
            bytes_s=0.0,
            writes_s=0.0,
            avg_size=b / w if w else 0.0,
            total_bytes=b,
            processes=state.forgotten,
            exited=True,
        )
    ]


def _sort(out: list[Row], sort: str) -> None:
    if sort in ("pid", "comm"):
        out.sort(key=lambda r: ((r.pid or 0) if sort == "pid" else r.comm, r.key))
    else:
        out.sort(key=lambda r: (-getattr(r, sort), r.key))


def cost_text(snap: Snapshot | None) -> str:
    """What wtop cost in the last interval, in words: its own CPU, and its probes' run time per
    event when the kernel counts it (bpftop's figure)."""
    c = snap.cost if snap is not None else None
    if c is None:
        return ""
    text = f"wtop {100 * rate(c.cpu_s, snap.elapsed):.1f}% cpu"
    per = c.ns_per_run
    if per is not None:
        return text + f", probes {per:.0f} ns/event"
    return text


def program_lines(snap: Snapshot | None) -> list[str]:
    """Each of wtop's BPF programs in the last interval, as bpftop lists them: the tracepoint
    it is attached to, its runs a second, its run time a run and its share of one CPU (the
    kernel's bpf_stats); none while they are off. The busiest first."""
    c = snap.cost if snap is not None else None
    if c is None or not c.programs:
        return []
    el = snap.elapsed
    lines = [f"{'tracepoint':<22} {'runs/s':>10} {'ns/run':>7} {'cpu':>7}"]
    for name, ns, runs in sorted(c.programs, key=lambda p: (-p[1], p[0])):
        per = f"{ns / runs:.0f}" if runs else "-"
        lines.append(f"{name[:22]:<22} {human_count(rate(runs, el)):>10} {per:>7} {100 * rate(ns / 1e9, el):>6.2f}%")
    return lines


def comm_sums(snap: Snapshot) -> list[tuple[str, int, int]]:
    """(comm, bytes, writes) by the writing thread's name, bytes descending (a recording
    without threads: by process name)."""
    sums: dict[str, list[int]] = {}
    for t in snap.threads or snap.processes:
        g = sums.setdefault(t.comm, [0, 0])
        g[0] += t.bytes
        g[1] += t.writes
    return sorted(((c, b, w) for c, (b, w) in sums.items()), key=lambda x: (-x[1], x[0]))


def thread_rows(state: RunState, pid: int) -> list[Row]:
    """A process's threads in the last interval (htop's H), under their names at write time,
    biggest first; accumulated threads that did not write show at 0 with their totals."""
    snap = state.last
    if snap is None:
        return []
    out = []
    now = {(t.tid, t.comm): t for t in snap.threads if t.pid == pid}
    for tpid, tid, comm in state.thread_totals:
        if tpid == pid:
            now.setdefault((tid, comm), None)
    for (tid, comm), t in now.items():
        b, w = (t.bytes, t.writes) if t else (0, 0)
        total, total_w = state.thread_totals.get((pid, tid, comm), (b, w))
        out.append(
            Row(
                key=f"tid:{pid}:{tid}:{comm}",
                pid=tid,
                comm=comm,
                uid=-3,
                bytes_s=rate(b, snap.elapsed),
                writes_s=rate(w, snap.elapsed),
                avg_size=b / w
                if w
                else (total / tw if (tw := state.thread_totals.get((pid, tid, comm), (0, 0))[1]) else 0.0),
                total_bytes=total,
                thread=True,
            )
        )
    out.sort(key=lambda r: (-r.bytes_s, -r.total_bytes, r.key))
    return out


def _raw_order(state: RunState, sort: str):
    """A key on a process's own figures that orders processes as _sort orders their rows
    (each figure is the row's divided by the same interval), None where there is none."""
    totals = state.totals

    def total(p: ProcessWrites) -> int:
        t = totals.get(p.pid)
        return t.bytes if t else p.bytes

    raw = {
        "bytes_s": lambda p: -p.bytes,
        "writes_s": lambda p: -p.writes,
        "avg_size": lambda p: -(p.bytes / p.writes if p.writes else 0.0),
        "total_bytes": lambda p: -total(p),
        "dirtied_s": lambda p: -p.dirtied_self,
        "syncs_s": lambda p: -p.syncs,
        "pid": lambda p: p.pid,
        "comm": lambda p: p.comm,
    }.get(sort)
    return None if raw is None else (lambda p: (raw(p), f"pid:{p.pid}"))


def rows(
    state: RunState,
    group_by_comm: bool = False,
    sort: str = "bytes_s",
    accumulated: bool = False,
    threads: bool = False,
    limit: int | None = None,
) -> list[Row]:
    """The top writers: of the last interval, or (accumulated) every process since start;
    grouped by name, or one row per process with (threads) its threads under it. Sorted,
    ties broken by key. limit: only the first that many processes are wanted (the table
    shows 100): the others are not made into rows (1,000 writers: 4.7 ms an interval)."""
    snap = state.last
    if snap is None:
        return []
    kinds = kinds_by_pid(snap)
    if group_by_comm:
        out = _by_name(state, snap, kinds, accumulated)
    elif accumulated:
        out = _accumulated(state, snap, kinds) + _forgotten(state)
    else:
        procs = snap.processes
        order = _raw_order(state, sort)
        if limit is not None and len(procs) > limit and order is not None:
            procs = heapq.nsmallest(limit, procs, key=order)
        out = [
            _process_row(p, t.bytes if (t := state.totals.get(p.pid)) else p.bytes, snap.elapsed, kinds) for p in procs
        ]
    _sort(out, sort)
    if threads and not group_by_comm:
        out = [r for row in out for r in (row, *thread_rows_now(state, row.pid, accumulated))]
    return out


def thread_rows_now(state: RunState, pid: int, accumulated: bool) -> list[Row]:
    """Its threads: those that wrote in the interval, or every one seen (accumulated)."""
    rows_ = thread_rows(state, pid)
    return rows_ if accumulated else [r for r in rows_ if r.writes_s > 0]
