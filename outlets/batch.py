"""Batch mode, as `top -b` and `iotop -b`: plain text or JSON per interval, no screen.

Works without a terminal (pipes, cron, systemd); a closed pipe ends it quietly; SIGTERM,
SIGHUP and SIGINT end it after the current interval.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import TextIO

from outlets import Fanout, Sink
from outlets.codec import to_json
from outlets.text import latency_summary, latency_unknown, timed_share
from probes import heap, procfs, runstate, tables, units, writers
from probes.names import scrub
from probes.schedule import samples
from probes.snapshot import CALLS, SYNCS, Snapshot


def disk_lines(snap: Snapshot) -> list[str]:
    """One line per device: what reached it, next to what write() sent to files on it."""
    el = snap.elapsed
    written = runstate.disk_written(snap)
    out = []
    for d in snap.disks:
        p50 = tables.percentile(d.latency, 0.5, d.latency_max_ns)
        lat = f"p50 ~{units.human_ns(p50)} max {units.human_ns(d.latency_max_ns)}" if p50 is not None else "-"
        out.append(
            f"disk {d.name} ({d.dev}): {units.human_rate(units.rate(d.bytes, el))} "
            f"{units.rate(d.ios, el):.1f} IOPS ({d.bytes:,} bytes in {d.ios:,} requests)  latency {lat}  "
            f"flushes {d.flushes}  write() to its files {units.human_rate(units.rate(written.get(d.dev, 0), el))}"
        )
        if d.dirtied:
            by = ", ".join(f"{comm}[{pid}] {units.human_bytes(b)}" for pid, comm, b in d.dirtied_by)
            out.append(f"disk {d.name} ({d.dev}): processes dirtied {d.dirtied:,} bytes on it: {by}")
    return out


def _row_line(
    pid: int | None, comm: str, uid: int, bytes_s: float, writes_s: float, avg: float, nbytes: int, writes: int
) -> str:
    """One process's line of --batch text (pid None: a row for several)."""
    return (
        f"{'' if pid is None else pid:>8} {comm:<16} {procfs.user_name(uid):<9} {units.human_rate(bytes_s):>12} "
        f"{writes_s:>9.1f} {units.human_bytes(avg):>9} {nbytes:>12,} {writes:>9,}"
    )


def text_block(snap: Snapshot, state: runstate.RunState, top: int, accumulated: bool = False) -> str:
    """One interval as text: a header line, the top writers (accumulated: every process since
    start, by its total, exited ones marked), the latency line."""
    el = snap.elapsed
    sk = snap.skipped
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(snap.time))
    lines = [
        f"wtop {when}  interval {el:.2f}s  writes {units.human_rate(units.rate(snap.bytes, el))} "
        f"{units.human_count(units.rate(snap.writes, el))}/s ({snap.bytes:,} bytes in {snap.writes:,} calls)  "
        f"errors {snap.errors}  skipped {sk.total} (map full {sk.map_full}, no entry {sk.no_entry}, "
        f"recursion {sk.recursion_misses}, disk {sk.disk_no_issue}, exits lost {sk.exits_lost}, "
        f"disk missed {sk.disk_missed})",
        f"{'PID':>8} {'COMMAND':<16} {'USER':<9} {'BYTES/S':>12} {'WRITES/S':>9} {'AVG SIZE':>9} "
        f"{'TOTAL' if accumulated else 'BYTES':>12} {'WRITES':>9}" + ("  (since start)" if accumulated else ""),
    ]
    if accumulated:
        rows = writers.rows(state, sort="total_bytes", accumulated=True)
        for r in rows[:top] if top else rows:
            t = state.totals.get(r.pid) if r.pid is not None else None
            b, w = (t.bytes, t.writes) if t else (state.forgotten_bytes, state.forgotten_writes)
            gone = " (exited)" if r.exited and t else ""
            lines.append(_row_line(r.pid, r.comm, r.uid, r.bytes_s, r.writes_s, r.avg_size, b, w) + gone)
        if top and len(rows) > top:
            lines.append(f"{'':>8} ({len(rows) - top} more processes since start; -n 0 shows all)")
    else:
        procs = sorted(snap.processes, key=lambda p: (-p.bytes, p.pid))
        for p in procs[:top] if top else procs:
            avg = p.bytes / p.writes if p.writes else 0
            rates = units.rate(p.bytes, el), units.rate(p.writes, el)
            lines.append(_row_line(p.pid, p.comm, p.uid, *rates, avg, p.bytes, p.writes))
        if top and len(procs) > top:
            lines.append(f"{'':>8} ({len(procs) - top} more processes wrote in this interval; -n 0 shows all)")
    unknown = latency_unknown(snap.notes)
    pairs = latency_summary(snap.latency, snap.latency_max_ns, snap.sla_ns, snap.sla_missed)
    write = snap.family("write")
    share = timed_share(snap.latency.total, write.calls) if write is not None and not unknown else ""
    lines.append("latency " + (unknown or "  ".join(f"{k} {v}" for k, v in pairs) + (f"  ({share})" if share else "")))
    by_call = [f"{c} {w:,} ({b:,} B)" for c, w, b in zip(CALLS, snap.call_writes, snap.call_bytes, strict=False) if w]
    if by_call:
        lines.append("calls " + ", ".join(by_call))
    sync = snap.family("sync")
    if sync is not None and sync.calls:
        counts = ", ".join(f"{c} {n:,}" for c, n in zip(SYNCS, snap.sync_calls, strict=False) if n)
        pairs = latency_summary(sync.latency, sync.latency_max_ns, sync.sla_ns, sync.sla_missed)
        timed = "" if unknown else "  latency " + "  ".join(f"{k} {v}" for k, v in pairs)
        lines.append(f"syncs {counts}{timed}")
        synced = sorted((p for p in snap.processes if p.syncs), key=lambda p: (-p.syncs, p.pid))
        lines.append("syncs by process " + ", ".join(f"{p.comm}[{p.pid}] {p.syncs:,}" for p in synced[: top or None]))
    if snap.dirtied:
        dirty = sorted((p for p in snap.processes if p.dirtied_self), key=lambda p: (-p.dirtied_self, p.pid))
        lines.append(
            f"dirtied {units.human_rate(units.rate(snap.dirtied, el))} ({snap.dirtied:,} bytes) by process "
            + ", ".join(f"{p.comm}[{p.pid}] {p.dirtied_self:,}" for p in dirty[: top or None])
        )
    lines += disk_lines(snap)
    lines += [f"note: {n}" for n in snap.notes]
    return "\n".join(map(scrub, lines)) + "\n\n"  # the second wall, line by line


def write_all(out: TextIO, text: str) -> None:
    """All of text to out, also when SIGTERM comes while the pipe is full.

    Python's buffered streams lose the rest of a long write then: `wtop --json` stopped while
    its reader was not reading printed the first 24,578 bytes of a 37 KB line and went on
    with the next line, in 3 of 40 runs here and once in the test suite. Without wtop, a
    Python 3.11 process writing 37 KB lines into a full pipe, its SIGTERM handler setting an
    Event, lost part of a line in 6 of 40 runs through sys.stdout and 5 of 40 through
    sys.stdout.buffer. So where out is a real file descriptor, the bytes go out with os.write
    until every one is written (a partial write is continued; one interrupted before any
    byte is retried by Python itself): 0 of 80 wtop runs and 0 of 60 of that process lost
    any."""
    try:
        fd = out.fileno()
    except (OSError, AttributeError, ValueError):  # StringIO (io.UnsupportedOperation), a test's stream
        out.write(text)
        out.flush()
        return
    out.flush()  # anything written through out before goes first
    data = memoryview(text.encode(getattr(out, "encoding", None) or "utf-8", errors="replace"))
    while data:
        data = data[os.write(fd, data) :]


def emit(
    snaps: Iterable[Snapshot], fmt: str, top: int, out: TextIO, fan: Fanout | None = None, accumulated: bool = False
) -> int:
    """Print snapshots (a recording, or a live stream) as text or JSON lines, and pass each to
    the other outlets; 0, also on a closed pipe."""
    state = runstate.RunState()
    try:
        for snap in snaps:
            runstate.fold(state, snap)
            if fan is not None:
                fan(snap)
            if fmt == "json":
                # ensure_ascii (the default) is JSON's second wall: every control, format and
                # non-ASCII character leaves as a \uXXXX escape, never as a raw byte
                write_all(out, json.dumps(to_json(snap), separators=(",", ":"), ensure_ascii=True) + "\n")
            elif fmt == "text":
                write_all(out, text_block(snap, state, top, accumulated))
    except BrokenPipeError:
        # the reader went away (`wtop --batch | head`): end quietly, and keep Python from
        # complaining when it flushes stdout at exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())
        return 0
    return 0


def run(
    source,
    interval: float,
    count: int | None,
    fmt: str,
    top: int,
    sinks: list[Sink],
    out: TextIO = sys.stdout,
    ready: Callable[[], None] = lambda: None,
    accumulated: bool = False,
) -> int:
    """Sample until count or a signal; ready() is called once a signal can end it cleanly.
    A failing outlet is reported on stderr in one line, and the others go on."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    ready()
    heap.settle()
    fan = Fanout(sinks, lambda message: print(f"wtop: {scrub(message)}", file=sys.stderr, flush=True))
    return emit(samples(source, interval, stop, count, final=True), fmt, top, out, fan, accumulated)
