"""Snapshots as plain dicts: the JSON output (schema wtop/1) and recordings share this.

Schema "wtop/1", one object per interval (`wtop --json`):

    schema        "wtop/1"
    seq           interval number, from 1
    time          end of the interval, seconds since the epoch (float)
    time_iso      the same, ISO 8601 UTC
    elapsed_s     how long the interval really lasted
    bytes, writes, errors           totals of the interval (write(2) calls that returned)
    bytes_per_s, writes_per_s       the same per second
    skipped       {map_full, no_entry, recursion_misses, disk_no_issue, exits_lost, disk_missed, total}
    dirtied, dirtied_per_s          bytes all processes made dirty in the page cache, or sent as
                  direct I/O (the kernel's write_bytes of /proc/PID/io, iotop's DISK WRITE)
    files         [{pid, fd, path, kind, bytes, writes, bytes_per_s, disk}]: (process, descriptor)
                  pairs, path from /proc/PID/fd (made safe; "(closed)" if gone), kind one of file,
                  pipe, socket, terminal, other, ?; disk the "major:minor" of the disk holding the
                  file (or written to), "" for none
    disks         [{dev, name, bytes, ios, errors, flushes, bytes_per_s, ios_per_s, written,
                    latency: {buckets: [{low_ns, high_ns, count}], total, max_ns, sum_ns}}]:
                  write requests completed on each block device (the whole machine, whatever
                  the filters), issue to completion; written is what write() sent to files on
                  that device in the interval; dirtied what processes made dirty on it, and
                  dirtied_by [{pid, comm, bytes}] the biggest of them (what the flushers write
                  back later, under no process)
    calls         {write: {writes, bytes}, pwrite64: ..., writev, pwritev, pwritev2}
    cost          {cpu_s, cpu_share, probe_ns, probe_runs, probe_ns_per_run, programs}: what wtop itself
                  cost in the interval (its process's CPU; its BPF programs' run time from the kernel's
                  bpf_stats, null while kernel.bpf_stats_enabled is 0; programs [{tracepoint, run_ns,
                  runs, ns_per_run, runs_per_s}] each program's, as bpftop lists them, [] while off);
                  null in a replay of old files
    comms         [{comm, bytes, writes}]: by the writing thread's name at the time of the write,
                  the seed's @[comm] = sum(args->ret) made safe (and its calls), by bytes descending
    processes     [{pid, comm, uid, user, bytes, writes, errors, bytes_per_s, writes_per_s,
                    calls: {write, pwrite64, writev, pwritev, pwritev2}, syncs, dirtied, dirtied_per_s,
                    dirtied_children, kinds: {file, pipe, ...: bytes}}],
                  by bytes, descending; comm is made safe (control characters as \\xNN); dirtied as
                  above, for this process (processes that only dirtied pages, through mmap, too),
                  equal to its write_bytes: as the kernel counts it, that includes what the
                  children it reaped dirtied, dirtied_children (they have their own rows)
    sizes         {buckets: [{low, high, count}] (non-empty only; value in [low, high)), total}
    latency       {buckets: [{low_ns, high_ns, count}], total, max_ns, sum_ns, p50_ns, p90_ns, p99_ns
                   (estimates within the log2 bucket), sla_ns, sla_missed, sla_missed_share}: of
                  the timed calls, as ever (a call whose start was not seen has no latency); in a
                  storm whose timing is paced (see notes), one in 2 to 8, so total is then below
                  the family's calls
    notes         [what the source could not do]

Fields are only ever added within a schema version; a change of meaning is a new version.
"""

from __future__ import annotations

import time as _time

from probes import procfs, runstate, tables, units, writers
from probes.snapshot import CALLS, SYNCS, FocusWrites, Log2Histogram, Snapshot

from . import trust

FOCUS_FIELDS = ("pid", "bytes", "writes", "errors", "latency_max_ns", "latency_sum_ns", "sla_missed", "no_entry")

SCHEMA = "wtop/1"


def _sparse(h: Log2Histogram) -> dict[str, int]:
    return {str(i): c for i, c in enumerate(h.counts) if c}


def to_record(s: Snapshot) -> dict:
    """Everything in a Snapshot, compactly (recordings): from_record(to_record(s)) == s."""
    return {
        "seq": s.seq,
        "time": s.time,
        "elapsed": s.elapsed,
        "procs": [
            [p.pid, p.comm, p.uid, p.bytes, p.writes, p.errors, list(p.calls), p.cgroup, p.syncs, p.dirtied]
            + [p.dirtied_children]
            for p in s.processes
        ],
        "files": [[f.pid, f.fd, f.path, f.kind, f.bytes, f.writes, f.disk, f.syncs] for f in s.files],
        "calls": [list(s.call_writes), list(s.call_bytes)],
        "sizes": _sparse(s.sizes),
        "latency": _sparse(s.latency),
        "latency_max_ns": s.latency_max_ns,
        "latency_sum_ns": s.latency_sum_ns,
        "sla_ns": s.sla_ns,
        "sla_missed": s.sla_missed,
        "bytes": s.bytes,
        "writes": s.writes,
        "errors": s.errors,
        "skipped": [
            s.skipped.map_full,
            s.skipped.no_entry,
            s.skipped.recursion_misses,
            s.skipped.disk_no_issue,
            s.skipped.exits_lost,
            s.skipped.disk_missed,
        ],
        "notes": list(s.notes),
        "disks": [
            [d.dev, d.name, d.bytes, d.ios, d.errors, d.flushes, _sparse(d.latency), d.latency_max_ns, d.latency_sum_ns]
            + [d.dirtied, [list(t) for t in d.dirtied_by]]
            for d in s.disks
        ],
        "focus": _focus_record(s.focus),
        "threads": [[t.pid, t.tid, t.comm, t.bytes, t.writes] for t in s.threads],
        "cost": None if s.cost is None else _cost_record(s.cost),
        "exited": list(s.exited),
        "sync_calls": list(s.sync_calls),
        "families": _families_record(s.families),
        "dirtied": s.dirtied,
    }


def _cost_record(c) -> list:
    out = [c.cpu_s, c.probe_ns, c.probe_runs]
    return out + [[list(p) for p in c.programs]] if c.programs else out


def _families_record(fams) -> list:
    return [
        [f.name, f.calls, f.bytes, f.errors, _sparse(f.sizes), _sparse(f.latency)]
        + [f.latency_max_ns, f.latency_sum_ns, f.sla_missed, f.sla_ns]
        for f in fams
    ]


def _cost(s: Snapshot) -> dict | None:
    c = s.cost
    if c is None:
        return None
    per = c.ns_per_run
    return {
        "cpu_s": round(c.cpu_s, 6),
        "cpu_share": round(units.rate(c.cpu_s, s.elapsed), 6),
        "probe_ns": c.probe_ns,
        "probe_runs": c.probe_runs,
        "probe_ns_per_run": None if per is None else round(per, 1),
        "programs": [
            {
                "tracepoint": name,
                "run_ns": ns,
                "runs": runs,
                "ns_per_run": round(ns / runs, 1) if runs else None,
                "runs_per_s": round(units.rate(runs, s.elapsed), 3),
            }
            for name, ns, runs in c.programs
        ],
    }


def _focus_record(f: FocusWrites | None) -> dict | None:
    if f is None:
        return None
    d = {k: getattr(f, k) for k in FOCUS_FIELDS}
    d.update(sizes=_sparse(f.sizes), latency=_sparse(f.latency), calls=[list(f.call_writes), list(f.call_bytes)])
    d.update(sync_calls=list(f.sync_calls), families=_families_record(f.families))
    return d


def from_record(d: object) -> Snapshot:
    """A recorded line back into a Snapshot, every field checked (outlets.trust)."""
    return trust.snapshot(d)


def _buckets(h: Log2Histogram, low: str, high: str) -> list[dict[str, int]]:
    """The non-empty buckets with their bounds: values in [low, high)."""
    out = []
    for i, c in enumerate(h.counts):
        if c:
            lo, hi = Log2Histogram.bounds(i)
            out.append({low: lo, high: hi, "count": c})
    return out


def to_json(s: Snapshot) -> dict:
    """The documented per-interval object (schema wtop/1)."""
    el = s.elapsed
    procs = sorted(s.processes, key=lambda p: (-p.bytes, p.pid))
    kinds = writers.kinds_by_pid(s)
    written = runstate.disk_written(s)

    sync = s.family("sync")

    return {
        "schema": SCHEMA,
        "seq": s.seq,
        "time": round(s.time, 6),
        "time_iso": _time.strftime("%Y-%m-%dT%H:%M:%S", _time.gmtime(s.time)) + f".{int(s.time % 1 * 1000):03d}Z",
        "elapsed_s": round(el, 6),
        "bytes": s.bytes,
        "writes": s.writes,
        "errors": s.errors,
        "bytes_per_s": round(units.rate(s.bytes, el), 3),
        "writes_per_s": round(units.rate(s.writes, el), 3),
        "skipped": {
            "map_full": s.skipped.map_full,
            "no_entry": s.skipped.no_entry,
            "recursion_misses": s.skipped.recursion_misses,
            "disk_no_issue": s.skipped.disk_no_issue,
            "exits_lost": s.skipped.exits_lost,
            "disk_missed": s.skipped.disk_missed,
            "total": s.skipped.total,
        },
        "dirtied": s.dirtied,
        "dirtied_per_s": round(units.rate(s.dirtied, el), 3),
        "processes": [
            {
                "pid": p.pid,
                "comm": p.comm,
                "uid": p.uid,
                "user": procfs.user_name(p.uid),
                "bytes": p.bytes,
                "writes": p.writes,
                "errors": p.errors,
                "bytes_per_s": round(units.rate(p.bytes, el), 3),
                "writes_per_s": round(units.rate(p.writes, el), 3),
                "calls": dict(zip(CALLS, p.calls, strict=False)),
                "syncs": p.syncs,
                "dirtied": p.dirtied,
                "dirtied_per_s": round(units.rate(p.dirtied, el), 3),
                "dirtied_children": p.dirtied_children,
                "kinds": kinds.get(p.pid, {}),
            }
            for p in procs
        ],
        "files": [
            {
                "pid": f.pid,
                "fd": f.fd,
                "path": f.path,
                "kind": f.kind,
                "bytes": f.bytes,
                "writes": f.writes,
                "bytes_per_s": round(units.rate(f.bytes, el), 3),
                "disk": f.disk,
                "syncs": f.syncs,
            }
            for f in sorted(s.files, key=lambda f: (-f.bytes, f.pid, f.fd))
        ],
        "disks": [
            {
                "dev": d.dev,
                "name": d.name,
                "bytes": d.bytes,
                "ios": d.ios,
                "errors": d.errors,
                "flushes": d.flushes,
                "bytes_per_s": round(units.rate(d.bytes, el), 3),
                "ios_per_s": round(units.rate(d.ios, el), 3),
                "written": written.get(d.dev, 0),
                "dirtied": d.dirtied,
                "dirtied_by": [{"pid": pid, "comm": comm, "bytes": b} for pid, comm, b in d.dirtied_by],
                "latency": {
                    "buckets": _buckets(d.latency, "low_ns", "high_ns"),
                    "total": d.latency.total,
                    "max_ns": d.latency_max_ns,
                    "sum_ns": d.latency_sum_ns,
                },
            }
            for d in s.disks
        ],
        "calls": {c: {"writes": w, "bytes": b} for c, w, b in zip(CALLS, s.call_writes, s.call_bytes, strict=False)},
        "comms": [{"comm": c, "bytes": b, "writes": w} for c, b, w in writers.comm_sums(s)],
        "cost": _cost(s),
        "sizes": {
            "buckets": _buckets(s.sizes, "low", "high"),
            "total": s.sizes.total,
        },
        "latency": _latency(s.latency, s.latency_max_ns, s.latency_sum_ns, s.sla_ns, s.sla_missed),
        "syncs": dict(zip(SYNCS, s.sync_calls, strict=False)),
        "sync_latency": None
        if sync is None
        else _latency(sync.latency, sync.latency_max_ns, sync.latency_sum_ns, sync.sla_ns, sync.sla_missed),
        "families": {
            f.name: {
                "calls": f.calls,
                "bytes": f.bytes,
                "errors": f.errors,
                "bytes_per_s": round(units.rate(f.bytes, el), 3),
                "calls_per_s": round(units.rate(f.calls, el), 3),
                "sizes": {"buckets": _buckets(f.sizes, "low", "high"), "total": f.sizes.total},
                "latency": _latency(f.latency, f.latency_max_ns, f.latency_sum_ns, f.sla_ns, f.sla_missed),
            }
            for f in s.families
        },
        "notes": list(s.notes),
    }


def _latency(h: Log2Histogram, max_ns: int, sum_ns: int, sla_ns: int, sla_missed: int) -> dict:
    """A latency histogram as JSON: buckets, percentiles and the SLA's share."""

    def pct(q: float):
        v = tables.percentile(h, q, max_ns)
        return None if v is None else round(v)

    total = h.total
    return {
        "buckets": _buckets(h, "low_ns", "high_ns"),
        "total": total,
        "max_ns": max_ns,
        "sum_ns": sum_ns,
        "p50_ns": pct(0.5),
        "p90_ns": pct(0.9),
        "p99_ns": pct(0.99),
        "sla_ns": sla_ns,
        "sla_missed": sla_missed,
        "sla_missed_share": round(sla_missed / total, 6) if total else 0.0,
    }
