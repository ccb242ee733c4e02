"""Plain-text reports: the summary printed on exit (as bpftrace prints its maps)."""

from __future__ import annotations

from outlets.text import histogram_lines, latency_summary, latency_unknown, timed_share
from probes import procfs, runstate, tables, units
from probes.names import scrub
from probes.snapshot import CALLS, SYNCS


def summary(state: runstate.RunState, top: int = 15) -> str:
    lines = [f"wtop: {units.human_bytes(state.bytes)} in {state.writes:,} calls over {state.seconds:.1f}s"]
    by_call = [
        f"{c} {w:,} ({units.human_bytes(b)})"
        for c, w, b in zip(CALLS, state.call_writes, state.call_bytes, strict=False)
        if w
    ]
    by_call += [f"{c} {n:,}" for c, n in zip(SYNCS, state.sync_calls, strict=False) if n]
    if by_call:
        lines.append("calls: " + ", ".join(by_call))
    sk = state.skipped
    lines.append(
        f"skipped events: {sk.total} (map full {sk.map_full}, no entry {sk.no_entry}, "
        f"recursion {sk.recursion_misses}, disk {sk.disk_no_issue}, exits lost {sk.exits_lost}, "
        f"disk missed {sk.disk_missed})"
    )
    if state.dirtied:
        lines.append(f"dirtied: {units.human_bytes(state.dirtied)} made dirty in the page cache (write_bytes)")
    lines.append("")
    lines.append(f"{'PID':>8} {'COMMAND':<16} {'USER':<10} {'BYTES':>12} {'WRITES':>10} {'SYNCS':>8} {'DIRTIED':>12}")
    for pid, t in runstate.top_totals(state, top):
        lines.append(
            f"{pid:>8} {t.comm:<16} {procfs.user_name(t.uid):<10} {units.human_bytes(t.bytes):>12} {t.writes:>10,}"
            f" {t.syncs:>8,} {units.human_bytes(t.dirtied):>12}"
        )
    if not state.totals:
        lines.append("(no writes)")
    if state.comm_totals:
        lines.append("")
        lines.append("@[comm]: bytes by the writing thread's name (and write calls), as bpftrace prints its map:")
        by_bytes = sorted(state.comm_totals.items(), key=lambda kv: (-kv[1][0], kv[0]))
        for comm, (b, w) in by_bytes[:top]:
            lines.append(f"@[{comm}]: {b}  ({w:,} calls)")
        if len(by_bytes) > top:
            lines.append(f"({len(by_bytes) - top} more names)")
    lines.append("")
    lines.append("@sizes (bytes, the write family):")
    lines += histogram_lines(state.sizes)
    lines.append("")
    unknown = latency_unknown(state.last.notes) if state.last is not None else None
    if unknown:
        lines.append(f"@latency: {unknown}")
    else:
        write = state.families.get("write")
        share = timed_share(state.latency.total, write.calls) if write is not None else ""
        lines.append(f"@latency ({share}):" if share else "@latency:")
        lines += histogram_lines(state.latency, label=units.ns_bucket_label)
    if state.last is not None and not unknown:
        pairs = latency_summary(state.latency, state.latency_max_ns, state.last.sla_ns, state.sla_missed)
        lines.append("  ".join(f"{k} {v}" for k, v in pairs))
    for name, fam in state.families.items():
        if name == "write" or not fam.calls:
            continue
        lines.append("")
        if name != "sync":
            lines.append(f"@sizes[{name}] (bytes, {fam.calls:,} calls, {units.human_bytes(fam.bytes)}):")
            lines += histogram_lines(fam.sizes)
        if unknown:
            continue
        share = timed_share(fam.latency.total, fam.calls)
        lines.append(f"@latency[{name}] ({share}):" if share else f"@latency[{name}]:")
        lines += histogram_lines(fam.latency, label=units.ns_bucket_label)
        pairs = latency_summary(fam.latency, fam.latency_max_ns, fam.sla_ns, fam.sla_missed)
        lines.append("  ".join(f"{k} {v}" for k, v in pairs))
    if state.disks:
        lines.append("")
        lines.append(
            f"{'DISK':<12} {'WRITTEN':>12} {'REQUESTS':>10} {'FLUSHES':>8} {'P50~':>8} {'MAX':>8} {'WRITE()':>12}"
            f" {'DIRTIED':>12}"
        )
        for _dev, d in sorted(state.disks.items(), key=lambda kv: (-kv[1].bytes, kv[0])):
            p50 = tables.percentile(d.latency, 0.5, d.latency_max_ns)
            lines.append(
                f"{d.name:<12} {units.human_bytes(d.bytes):>12} {d.ios:>10,} {d.flushes:>8,} "
                f"{'-' if p50 is None else units.human_ns(p50):>8} "
                f"{units.human_ns(d.latency_max_ns) if d.ios else '-':>8} {units.human_bytes(d.written):>12}"
                f" {units.human_bytes(d.dirtied):>12}"
            )
        if state.unplaced:
            lines.append(
                f"(write() bytes not placed on a device: {units.human_bytes(state.unplaced)}, closed before seen)"
            )
    return "\n".join(map(scrub, lines)) + "\n"  # the second wall, line by line
