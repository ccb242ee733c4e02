"""Plain text pieces shared by the batch text, the exit summary and the screen: bpftrace's
hist() rendering and the latency line. No terminal, no markup."""

from __future__ import annotations

from probes import tables, units
from probes.snapshot import Log2Histogram


def histogram_lines(hist: Log2Histogram, label=units.bucket_label, width: int = 40) -> list[str]:
    """bpftrace's hist() rendering: '[4K, 8K)   123 |@@@@    |' for the non-empty range."""
    rng = tables.nonempty_range(hist)
    if not rng:
        return ["(no data)"]
    peak = max(hist.counts[i] for i in rng)
    labels = [label(i) for i in rng]
    lw = max(len(s) for s in labels)
    cw = max(len(str(hist.counts[i])) for i in rng)
    total = hist.total
    out = []
    for lab, i in zip(labels, rng, strict=True):
        c = hist.counts[i]
        bar = "@" * (round(width * c / peak) if peak else 0)
        out.append(f"{lab:<{lw}} {c:>{cw}} {100 * c / total:5.1f}% |{bar:<{width}}|")
    return out


def latency_unknown(notes: tuple[str, ...]) -> str | None:
    """Why there is no latency at all, from a snapshot's notes ("off (--no-latency): ...", or
    the kernel's lack), else None: figures then say so rather than show empty histograms."""
    return next((n.split(": ", 1)[1] for n in notes if n.startswith("latency:")), None)


def timed_share(timed: int, calls: int) -> str:
    """'timed 1,234 of 9,876 calls' when fewer calls were timed than were made (a storm's timing
    paced, or calls begun before the probes), else '': the latency figures are then those of
    the timed ones."""
    return f"timed {timed:,} of {calls:,} calls" if 0 <= timed < calls else ""


def latency_summary(
    hist: Log2Histogram, max_ns: int, sla_ns: int, sla_missed: int, compact: bool = False
) -> list[tuple[str, str]]:
    """(label, value) pairs: p50/p90/p99/max and the SLA line."""
    total = hist.total
    pairs = []
    for name, q in (("p50", 0.50), ("p90", 0.90), ("p99", 0.99)):
        v = tables.percentile(hist, q, max_ns)
        pairs.append((name, "-" if v is None else "~" + units.human_ns(v)))
    pairs.append(("max", units.human_ns(max_ns) if total else "-"))
    share = 100 * sla_missed / total if total else 0.0
    missed = f"{sla_missed:,} ({share:.2f}%)" if compact else f"{sla_missed:,}/{total:,} ({share:.2f}%)"
    pairs.append((f"> {units.human_ns(sla_ns)}", missed))
    return pairs
