"""Human units and bucket labels, as top, iotop and bpftrace write them. Pure."""

from __future__ import annotations

from .snapshot import Log2Histogram


def rate(count: float, seconds: float) -> float:
    """count per second; 0 for an empty or negative period."""
    return count / seconds if seconds > 0 else 0.0


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
