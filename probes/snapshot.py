"""Immutable snapshots: what the probes saw in one interval. Plain data, no bcc types.

Every consumer (the dashboard, the exit summary, batch and JSON output, recordings) reads
these and nothing else, so a recorded or synthetic source drives the whole UI.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

BUCKETS = 64


@dataclass(frozen=True, slots=True)
class Log2Histogram:
    """Counts by power of two, as BCC's bpf_log2l and bpftrace's hist() bucket them.

    Bucket 0 holds the value 0; bucket k >= 1 holds values in [2**(k-1), 2**k).
    """

    counts: tuple[int, ...] = (0,) * BUCKETS

    def __post_init__(self) -> None:
        if len(self.counts) != BUCKETS:
            raise ValueError(f"a Log2Histogram has {BUCKETS} buckets, not {len(self.counts)}")

    @property
    def total(self) -> int:
        return sum(self.counts)

    def __add__(self, other: Log2Histogram) -> Log2Histogram:
        return Log2Histogram(tuple(a + b for a, b in zip(self.counts, other.counts, strict=True)))

    def __sub__(self, other: Log2Histogram) -> Log2Histogram:
        return Log2Histogram(tuple(a - b for a, b in zip(self.counts, other.counts, strict=True)))

    @staticmethod
    def bucket_of(value: int) -> int:
        """The bucket a value falls in (the same arithmetic as bpf_log2l)."""
        return max(int(value), 1).bit_length()

    @staticmethod
    def bounds(bucket: int) -> tuple[int, int]:
        """[low, high) of a bucket."""
        if bucket == 0:
            return (0, 1)
        return (1 << (bucket - 1), 1 << bucket)


@dataclass(frozen=True, slots=True)
class Skipped:
    """Events the probes could not account for, in one interval."""

    map_full: int = 0
    """Writes not attributed to a process because the process map was full."""
    no_entry: int = 0
    """sys_exit_write with no start time of the same thread (started before wtop, or a slot collision)."""
    recursion_misses: int = 0
    """Times the kernel did not run one of wtop's programs (those on the disks apart, in
    disk_missed) because a BPF program was already running on that CPU."""
    disk_no_issue: int = 0
    """Disk write requests that completed without their issue seen (issued before wtop started,
    or too many in flight): counted, but with no latency."""
    exits_lost: int = 0
    """Threads' exit records (what a thread dirtied since last read) the kernel could not queue,
    or that named no process: the dirtied bytes of those threads are missing."""
    disk_missed: int = 0
    """Disk requests' issues or completions the kernel did not let wtop's programs see: a
    request completes in an interrupt, and the kernel skips a tracepoint's program while
    another BPF program runs on that CPU, or while a bpf(2) call there copies a map (wtop's
    own reading of its maps). A missed completion's bytes are missing from the disks'
    figures (the write calls' figures are whole); a missed issue's request is also counted
    in disk_no_issue when it completes."""

    @property
    def total(self) -> int:
        disk = self.disk_no_issue + self.disk_missed
        return self.map_full + self.no_entry + self.recursion_misses + disk + self.exits_lost

    def __add__(self, other: Skipped) -> Skipped:
        return Skipped(
            self.map_full + other.map_full,
            self.no_entry + other.no_entry,
            self.recursion_misses + other.recursion_misses,
            self.disk_no_issue + other.disk_no_issue,
            self.exits_lost + other.exits_lost,
            self.disk_missed + other.disk_missed,
        )


from .program import CALLS, FAMILIES, SYNCS  # noqa: E402  (pure constants, no bcc)

__all__ = ["CALLS", "FAMILIES", "SYNCS"]
KINDS = ("file", "pipe", "socket", "terminal", "other", "?")
"""What a descriptor points at; "?" when it was gone before it could be resolved, or the
start of the call was not seen."""


class ProcessWrites(NamedTuple):
    """One process's writes in one interval.

    The rows of a snapshot (processes, threads, files) are named tuples: as immutable as a
    frozen dataclass, and made four times faster (a frozen dataclass sets each field through
    object.__setattr__), which a burst of 10,000 processes makes 20,000 times in one drain."""

    pid: int
    comm: str
    """Already made safe to show (probes.names.safe_name)."""
    uid: int
    bytes: int
    writes: int
    errors: int = 0
    calls: tuple[int, ...] = ()
    """Calls by type, in the order of CALLS (empty when unknown)."""
    cgroup: int = 0
    """cgroup v2 id (0 when unknown); probes.cgroups names it."""
    syncs: int = 0
    """Durability calls (fsync, fdatasync, sync_file_range, msync, syncfs, sync)."""
    dirtied: int = 0
    """Bytes it made dirty in the page cache (buffered writes, stores into shared mappings)
    plus direct I/O it submitted: the kernel's write_bytes of /proc/PID/io (probes/dirtied.py),
    which, as the kernel counts it, includes the figures of the children it reaped."""
    dirtied_children: int = 0
    """The part of dirtied that its children that ended passed on to it (they have rows of their
    own): dirtied - dirtied_children is what it dirtied itself, iotop's DISK WRITE."""

    @property
    def dirtied_self(self) -> int:
        return self.dirtied - self.dirtied_children


class ThreadWrites(NamedTuple):
    """One thread's writes in one interval, under the name it had when it wrote (a thread that
    renamed itself in the interval has a row under each name): the seed's @[comm] is the sum
    of these by comm."""

    pid: int
    tid: int
    comm: str
    """The writing thread's name at the time of the write, made safe."""
    bytes: int
    writes: int


@dataclass(frozen=True, slots=True)
class Cost:
    """What wtop itself cost in one interval, as bpftop shows it for every program."""

    cpu_s: float = 0.0
    """CPU seconds wtop's own process used (user + system)."""
    probe_ns: int | None = None
    """Run time of wtop's BPF programs, from the kernel's bpf_stats; None while they are off
    (sysctl kernel.bpf_stats_enabled=1 turns them on, at about 20 ns an event)."""
    probe_runs: int | None = None
    """How many times the programs ran (each traced event runs one)."""
    programs: tuple[tuple[str, int, int], ...] = ()
    """(tracepoint, run time ns, runs) of each of wtop's programs, as bpftop lists them; ()
    while bpf_stats are off (or in a recording made before they were kept)."""

    @property
    def ns_per_run(self) -> float | None:
        return self.probe_ns / self.probe_runs if self.probe_ns is not None and self.probe_runs else None


class FileWrites(NamedTuple):
    """One (process, descriptor) pair's writes in one interval."""

    pid: int
    fd: int
    """-1 when the call names no descriptor (msync, sync). A call whose start was not seen has
    its descriptor read from its registers at its exit (recordings made before had -1)."""
    path: str
    """Resolved in user space from /proc/PID/fd/FD, made safe; "(closed)" when it was gone."""
    kind: str
    bytes: int
    writes: int
    disk: str = ""
    """The block device holding the file, or the device written to ("major:minor" of the
    whole disk); "" for anything else (pipes, sockets, tmpfs, overlay...)."""
    syncs: int = 0
    """fsync, fdatasync, sync_file_range and syncfs calls on this descriptor."""


@dataclass(frozen=True, slots=True)
class DiskWrites:
    """Write requests of one block device that completed in one interval (the whole machine,
    whatever the filters: the block layer does not know which process a request is for)."""

    dev: str
    """"major:minor" of the whole disk."""
    name: str
    """Its kernel name (vda, nvme0n1), made safe."""
    bytes: int
    ios: int
    errors: int = 0
    flushes: int = 0
    """Cache flush requests issued (fsync, journal commits)."""
    latency: Log2Histogram = field(default_factory=Log2Histogram)
    """Issue to completion, ns."""
    latency_max_ns: int = 0
    latency_sum_ns: int = 0
    dirtied: int = 0
    """Bytes that processes dirtied in the interval on files of this device, to be written
    back later (by the kernel's flusher threads, under no process): each process's exact
    figure, shared between devices by the folios it dirtied on each."""
    dirtied_by: tuple[tuple[int, str, int], ...] = ()
    """(pid, comm, bytes) of the processes that dirtied the most of it, at most DIRTIERS."""


DIRTIERS = 5


@dataclass(frozen=True, slots=True)
class Family:
    """One family of calls in one interval (write, copy, send, sync): its own histograms."""

    name: str
    calls: int = 0
    bytes: int = 0
    errors: int = 0
    sizes: Log2Histogram = field(default_factory=Log2Histogram)
    latency: Log2Histogram = field(default_factory=Log2Histogram)
    latency_max_ns: int = 0
    latency_sum_ns: int = 0
    sla_missed: int = 0
    sla_ns: int = 10_000_000


@dataclass(frozen=True, slots=True)
class FocusWrites:
    """Everything about one process's writes in one interval, counted while its page is open
    (drill-down): the kernel counts these for one process at a time."""

    pid: int
    bytes: int = 0
    writes: int = 0
    errors: int = 0
    sizes: Log2Histogram = field(default_factory=Log2Histogram)
    latency: Log2Histogram = field(default_factory=Log2Histogram)
    latency_max_ns: int = 0
    latency_sum_ns: int = 0
    sla_missed: int = 0
    no_entry: int = 0
    call_writes: tuple[int, ...] = ()
    call_bytes: tuple[int, ...] = ()
    sync_calls: tuple[int, ...] = ()
    families: tuple[Family, ...] = ()


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything the probes counted in one interval."""

    seq: int
    time: float
    """Wall-clock time (epoch seconds) at the end of the interval."""
    elapsed: float
    """Seconds the interval really lasted."""
    processes: tuple[ProcessWrites, ...] = ()
    sizes: Log2Histogram = field(default_factory=Log2Histogram)
    latency: Log2Histogram = field(default_factory=Log2Histogram)
    latency_max_ns: int = 0
    latency_sum_ns: int = 0
    """Sum of the latencies in the histogram (exact, from the kernel)."""
    sla_ns: int = 10_000_000
    sla_missed: int = 0
    bytes: int = 0
    writes: int = 0
    errors: int = 0
    skipped: Skipped = field(default_factory=Skipped)
    files: tuple[FileWrites, ...] = ()
    call_writes: tuple[int, ...] = ()
    """All calls by type, in the order of CALLS."""
    call_bytes: tuple[int, ...] = ()
    notes: tuple[str, ...] = ()
    """What the source could not do (a missing kernel feature), shown to the user."""
    disks: tuple[DiskWrites, ...] = ()
    focus: FocusWrites | None = None
    """The process whose page is open, if any."""
    threads: tuple[ThreadWrites, ...] = ()
    """By (process, thread, thread name at the time of the write); empty in old recordings."""
    exited: tuple[int, ...] = ()
    """Processes found gone in this interval (their last writes are in this or an earlier one)."""
    cost: Cost | None = None
    """What wtop cost in the interval (live only; None in tests and old recordings)."""
    sync_calls: tuple[int, ...] = ()
    """Durability calls by type, in the order of SYNCS."""
    families: tuple[Family, ...] = ()
    """Each family of calls with its own histograms, in the order of FAMILIES (empty in old
    recordings: then the top-level figures are the write family's)."""
    dirtied: int = 0
    """Bytes all processes dirtied (the sum of ProcessWrites.dirtied)."""

    def family(self, name: str) -> Family | None:
        return next((f for f in self.families if f.name == name), None)
