"""The trust boundary: a recording's lines become Snapshots only after every field is checked.

A recording is a file from anywhere (a colleague's laptop, a ticket, a chat) replayed without
root on the machine of whoever opens it. Every byte of it is as untrusted as a process name:

- every string (names, paths, disk names, notes, the header's host and filters) goes through
  scrub(), so no control or format character survives, whatever the file claims;
- every number has a type and a range: counts are non-negative integers below 2**64, times and
  durations finite and in range, bucket indexes inside the histogram, kinds from KINDS;
- every list has a bounded length, and a line's nesting depth is checked before the JSON parser
  can recurse into it (see depth_ok).

A value that fails is a RecordError naming the field; the reader treats it like damage: the
replay stops at that line and says where and why.
"""

from __future__ import annotations

import math
import re

from probes.names import scrub
from probes.snapshot import (
    BUCKETS,
    DIRTIERS,
    FAMILIES,
    KINDS,
    Cost,
    DiskWrites,
    Family,
    FileWrites,
    FocusWrites,
    Log2Histogram,
    ProcessWrites,
    Skipped,
    Snapshot,
    ThreadWrites,
)

U64 = 2**64
MAX_ITEMS = 1_048_576
"""Processes, files or disks in one interval (the kernel map holds at most this many)."""
MAX_CALL_TYPES = 64
MAX_NOTES = 64
MAX_DEPTH = 6
"""The deepest a record nests (record > procs > one process > its calls is 4)."""
NAME_MAX = 256
PATH_MAX = 16384
NOTE_MAX = 1024
TIME_MAX = 2**40
"""Seconds since the epoch: far beyond any real clock, within what localtime() takes."""
ELAPSED_MAX = 86_400.0
_DEV = re.compile(r"\d{1,10}:\d{1,10}")


class RecordError(ValueError):
    """One field of a recorded line is not what wtop writes; the message names it."""


def _int(v: object, what: str, lo: int = 0, hi: int = U64) -> int:
    if type(v) is not int:
        raise RecordError(f"{what} is not an integer")
    if not lo <= v < hi:
        raise RecordError(f"{what} is out of range")
    return v


def _float(v: object, what: str, lo: float, hi: float) -> float:
    if type(v) not in (int, float):
        raise RecordError(f"{what} is not a number")
    f = float(v)
    if not (math.isfinite(f) and lo <= f <= hi):
        raise RecordError(f"{what} is out of range")
    return f


def _str(v: object, what: str, limit: int = NAME_MAX) -> str:
    if type(v) is not str:
        raise RecordError(f"{what} is not a string")
    if len(v) > limit:
        raise RecordError(f"{what} is longer than {limit} characters")
    return scrub(v)


def _list(v: object, what: str, lo: int = 0, hi: int = MAX_ITEMS) -> list:
    if type(v) is not list:
        raise RecordError(f"{what} is not a list")
    if not lo <= len(v) <= hi:
        raise RecordError(f"{what} has {len(v)} items")
    return v


def _dict(v: object, what: str) -> dict:
    if type(v) is not dict:
        raise RecordError(f"{what} is not an object")
    return v


def _ints(v: object, what: str, hi: int = MAX_CALL_TYPES) -> tuple[int, ...]:
    v = _list(v, what, 0, hi)
    if not _all_ints(v):
        raise RecordError(f"{what} are not counts")
    return tuple(v)


def _hist(v: object, what: str) -> Log2Histogram:
    """A sparse histogram: {"bucket index": count}."""
    counts = [0] * BUCKETS
    for k, c in _dict(v, what).items():
        if not (k.isdigit() and len(k) <= 2 and int(k) < BUCKETS):
            raise RecordError(f"{what} has no bucket {scrub(k[:8])!r}")
        counts[int(k)] = _int(c, what)
    return Log2Histogram(tuple(counts))


def _dev(v: object, what: str, empty: bool = False) -> str:
    s = _str(v, what)
    if not (_DEV.fullmatch(s) or (empty and s == "")):
        raise RecordError(f"{what} is not a major:minor device number")
    return s


def _field(d: dict, key: str, default: object = ...) -> object:
    if key in d:
        return d[key]
    if default is ...:
        raise RecordError(f"{key} is missing")
    return default


_INT = frozenset((int,))


def _all_ints(values: list, lo: int = 0, hi: int = U64) -> bool:
    """Whether every value is an int (not a bool) in [lo, hi): the fast path of a valid row."""
    return not values or (_INT.issuperset(map(type, values)) and lo <= min(values) and max(values) < hi)


def process(p: object) -> ProcessWrites:
    p = _list(p, "a process", 5, 11)
    counts = [p[3], p[4], *p[5:6], *p[7:11]]
    calls = p[6] if len(p) > 6 else []
    if not (
        type(p[0]) is int
        and 0 <= p[0] < 2**32
        and type(p[2]) is int
        and -2 <= p[2] < 2**32
        and _all_ints(counts)
        and type(calls) is list
        and len(calls) <= MAX_CALL_TYPES
        and _all_ints(calls)
    ):
        raise RecordError("a process's numbers are not what wtop writes")
    return ProcessWrites(
        p[0],
        _str(p[1], "a process's name"),
        p[2],
        p[3],
        p[4],
        p[5] if len(p) > 5 else 0,
        tuple(calls),
        p[7] if len(p) > 7 else 0,
        p[8] if len(p) > 8 else 0,
        p[9] if len(p) > 9 else 0,
        p[10] if len(p) > 10 else 0,
    )


def cost(c: object) -> Cost | None:
    if c is None:
        return None
    c = _list(c, "cost", 3, 4)  # the programs' own since 2026-11-30
    programs = []
    for p in _list(c[3], "cost programs", 0, 64) if len(c) > 3 else []:
        p = _list(p, "a program's cost", 3, 3)
        programs.append((_str(p[0], "a program's name"), _int(p[1], "a program's run time"), _int(p[2], "runs")))
    return Cost(
        _float(c[0], "cost cpu", 0.0, ELAPSED_MAX),
        None if c[1] is None else _int(c[1], "cost probe_ns"),
        None if c[2] is None else _int(c[2], "cost probe_runs"),
        tuple(programs),
    )


def thread(t: object) -> ThreadWrites:
    t = _list(t, "a thread", 5, 5)
    if not (_all_ints([t[0], t[1]], 0, 2**32) and _all_ints([t[3], t[4]])):
        raise RecordError("a thread's numbers are not what wtop writes")
    return ThreadWrites(t[0], t[1], _str(t[2], "a thread's name"), t[3], t[4])


def file(f: object) -> FileWrites:
    f = _list(f, "a file", 6, 8)
    kind = _str(f[3], "a file's kind")
    if kind not in KINDS:
        raise RecordError("a file's kind is not one wtop knows")
    return FileWrites(
        _int(f[0], "a file's pid", 0, 2**32),
        _int(f[1], "a file's descriptor", -1, 2**31),
        _str(f[2], "a file's path", PATH_MAX),
        kind,
        _int(f[4], "a file's bytes"),
        _int(f[5], "a file's writes"),
        _dev(f[6], "a file's disk", empty=True) if len(f) > 6 else "",
        _int(f[7], "a file's syncs") if len(f) > 7 else 0,
    )


def family(f: object) -> Family:
    f = _list(f, "a family", 10, 10)
    name = _str(f[0], "a family's name")
    if name not in FAMILIES:
        raise RecordError("a family is not one wtop knows")
    return Family(
        name,
        _int(f[1], "a family's calls"),
        _int(f[2], "a family's bytes"),
        _int(f[3], "a family's errors"),
        _hist(f[4], "a family's sizes"),
        _hist(f[5], "a family's latency"),
        _int(f[6], "a family's latency max"),
        _int(f[7], "a family's latency sum"),
        _int(f[8], "a family's SLA misses"),
        _int(f[9], "a family's SLA", 1),
    )


def families(v: object) -> tuple[Family, ...]:
    out = tuple(family(f) for f in _list(v, "families", 0, len(FAMILIES)))
    if len({f.name for f in out}) != len(out):
        raise RecordError("a family is recorded twice")
    return out


def dirtier(t: object) -> tuple[int, str, int]:
    t = _list(t, "a disk's dirtier", 3, 3)
    return (_int(t[0], "a dirtier's pid", 0, 2**32), _str(t[1], "a dirtier's name"), _int(t[2], "a dirtier's bytes"))


def disk(d: object) -> DiskWrites:
    d = _list(d, "a disk", 9, 11)
    return DiskWrites(
        _dev(d[0], "a disk's device"),
        _str(d[1], "a disk's name"),
        _int(d[2], "a disk's bytes"),
        _int(d[3], "a disk's requests"),
        _int(d[4], "a disk's errors"),
        _int(d[5], "a disk's flushes"),
        _hist(d[6], "a disk's latency"),
        _int(d[7], "a disk's latency max"),
        _int(d[8], "a disk's latency sum"),
        _int(d[9], "a disk's dirtied bytes") if len(d) > 9 else 0,
        tuple(dirtier(t) for t in _list(d[10], "a disk's dirtiers", 0, DIRTIERS)) if len(d) > 10 else (),
    )


_FOCUS_INTS = ("bytes", "writes", "errors", "latency_max_ns", "latency_sum_ns", "sla_missed", "no_entry")


def focus(d: object) -> FocusWrites | None:
    if d is None:
        return None
    d = _dict(d, "focus")
    calls = _list(_field(d, "calls", [[], []]), "focus calls", 2, 2)
    return FocusWrites(
        pid=_int(_field(d, "pid"), "focus pid", 0, 2**32),
        **{k: _int(_field(d, k), f"focus {k}") for k in _FOCUS_INTS},
        sizes=_hist(_field(d, "sizes"), "focus sizes"),
        latency=_hist(_field(d, "latency"), "focus latency"),
        call_writes=_ints(calls[0], "focus calls"),
        call_bytes=_ints(calls[1], "focus calls"),
        sync_calls=_ints(_field(d, "sync_calls", []), "focus sync calls"),
        families=families(_field(d, "families", [])),
    )


def snapshot(d: object) -> Snapshot:
    """One recorded line (parsed JSON) as a Snapshot, every field checked; RecordError if not."""
    d = _dict(d, "the line")
    calls = _list(_field(d, "calls", [[], []]), "calls", 2, 2)
    skipped = _ints(_field(d, "skipped"), "skipped", 8)
    return Snapshot(
        seq=_int(_field(d, "seq"), "seq", 0, 2**63),
        time=_float(_field(d, "time"), "time", 0.0, TIME_MAX),
        elapsed=_float(_field(d, "elapsed"), "elapsed", 0.0, ELAPSED_MAX),
        processes=tuple(process(p) for p in _list(_field(d, "procs"), "procs")),
        sizes=_hist(_field(d, "sizes"), "sizes"),
        latency=_hist(_field(d, "latency"), "latency"),
        latency_max_ns=_int(_field(d, "latency_max_ns"), "latency_max_ns"),
        latency_sum_ns=_int(_field(d, "latency_sum_ns", 0), "latency_sum_ns"),
        sla_ns=_int(_field(d, "sla_ns"), "sla_ns", 1),
        sla_missed=_int(_field(d, "sla_missed"), "sla_missed"),
        bytes=_int(_field(d, "bytes"), "bytes"),
        writes=_int(_field(d, "writes"), "writes"),
        errors=_int(_field(d, "errors"), "errors"),
        skipped=Skipped(*skipped[:6]),
        files=tuple(file(f) for f in _list(_field(d, "files", []), "files")),
        disks=tuple(disk(x) for x in _list(_field(d, "disks", []), "disks")),
        focus=focus(_field(d, "focus", None)),
        call_writes=_ints(calls[0], "calls"),
        call_bytes=_ints(calls[1], "calls"),
        notes=tuple(_str(n, "a note", NOTE_MAX) for n in _list(_field(d, "notes", []), "notes", 0, MAX_NOTES)),
        threads=tuple(thread(t) for t in _list(_field(d, "threads", []), "threads")),
        cost=cost(_field(d, "cost", None)),
        exited=tuple(_int(p, "an exited pid", 0, 2**32) for p in _list(_field(d, "exited", []), "exited")),
        sync_calls=_ints(_field(d, "sync_calls", []), "sync calls"),
        families=families(_field(d, "families", [])),
        dirtied=_int(_field(d, "dirtied", 0), "dirtied"),
    )


def header(d: dict) -> dict:
    """The header's fields that wtop shows, checked and made safe; the rest are dropped."""
    out: dict = {"format": d.get("format"), "version": d.get("version")}
    for key, check in (
        ("host", lambda v: _str(v, "host")),
        ("filters", lambda v: _str(v, "filters", NOTE_MAX)),
        ("wtop", lambda v: _str(v, "wtop")),
        ("interval", lambda v: _float(v, "interval", 0.1, 3600.0)),
        ("started", lambda v: _float(v, "started", 0.0, TIME_MAX)),
        ("sla_ns", lambda v: _int(v, "sla_ns", 1)),
    ):
        if key in d:
            out[key] = check(d[key])
    return out


_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"')
_INNERMOST = re.compile(rb"\[[^\[\]{}]*\]|\{[^\[\]{}]*\}")
_BRACKETS = bytes(range(256)).translate(None, b"[]{}")


def depth_ok(line: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether a JSON line nests no deeper than limit, checked without recursion: strings are
    removed, then the innermost brackets, one level a pass (each pass in C)."""
    s = _STRINGS.sub(b"", line).translate(None, _BRACKETS)
    for _ in range(limit):
        if not s:
            return True
        s, n = _INNERMOST.subn(b"", s)
        if n == 0:
            return False  # unbalanced: the parser will say so, without recursing
    return not s
