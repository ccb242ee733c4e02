"""Prometheus / OpenMetrics: the run's counters and histograms, served over HTTP.

Served with the official prometheus_client library, bound to 127.0.0.1 unless an address
is given (wtop runs as root). Process names become a bounded label: the first MAX_LABELS
names seen get their own series and keep it (a counter must not move between series),
every other name is counted under comm="other". Names are already made safe
(probes.names), and the library escapes label values.
"""

from __future__ import annotations

import threading

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import CollectorRegistry

from probes import runstate
from probes.snapshot import CALLS, SYNCS, Log2Histogram, Snapshot

MAX_LABELS = 20
OTHER = "other"


SIZE_BUCKETS = range(0, 31)
"""le = 0 B .. 1 GiB - 1: a fixed set, as Prometheus expects of a histogram's buckets."""
LATENCY_BUCKETS = range(7, 35)
"""le = 127 ns .. about 17 s."""


def _histogram(
    name: str, doc: str, hist: Log2Histogram, total_sum: float, scale: float, ks: range
) -> HistogramMetricFamily:
    """Log2 buckets as cumulative Prometheus buckets.

    Values are integers (bytes, ns) and bucket k holds [2**(k-1), 2**k - 1], so the exact
    cumulative bound is le = 2**k - 1. (le = 2**k would leave out the values equal to it,
    such as every 4096-byte write from le="4096".)
    """
    return HistogramMetricFamily(name, doc, buckets=_cumulative(hist, scale, ks), sum_value=total_sum)


def _cumulative(hist: Log2Histogram, scale: float, ks: range) -> list[tuple[str, int]]:
    """(le, cumulative count) pairs, +Inf last."""
    buckets = []
    acc = sum(hist.counts[: ks.start])
    for k in ks:
        acc += hist.counts[k]
        buckets.append((repr((Log2Histogram.bounds(k)[1] - 1) * scale), acc))
    buckets.append(("+Inf", hist.total))
    return buckets


class Metrics:
    """A sink for snapshots and a collector for a registry (thread-safe)."""

    def __init__(self, max_labels: int = MAX_LABELS) -> None:
        self.max_labels = max_labels
        self._lock = threading.Lock()
        self.bytes: dict[str, int] = {}
        self.writes: dict[str, int] = {}
        self.errors = 0
        self.sizes = Log2Histogram()
        self.size_sum = 0
        self.latency = Log2Histogram()
        self.latency_sum_ns = 0
        reasons = ("map_full", "no_entry", "recursion", "disk_no_issue", "exits_lost", "disk_missed")
        self.skipped = dict.fromkeys(reasons, 0)
        self.sla_missed = 0
        self.sla_ns = 0
        self.intervals = 0
        self.self_cpu_s = 0.0
        self.probe_ns = 0
        self.probe_runs = 0
        self.programs: dict[str, list[int]] = {}
        """[run time ns, runs] by the tracepoint each program is attached to."""
        self.calls: dict[str, list[int]] = {}
        """writes and bytes by call type (write, pwrite64, writev, pwritev, pwritev2)."""
        self.disks: dict[str, dict] = {}
        """By device name: bytes, requests, errors, flushes, latency histogram and sum."""
        self.syncs: dict[str, int] = {}
        """Sync calls by process name (labels bounded like bytes')."""
        self.sync_calls: dict[str, int] = {}
        self.sync_latency = Log2Histogram()
        self.sync_latency_sum_ns = 0
        self.sync_sla_missed = 0
        self.sync_sla_ns = 0
        self.dirtied: dict[str, int] = {}
        """Bytes made dirty in the page cache (write_bytes) by process name."""

    def _label(self, comm: str) -> str:
        if comm in self.bytes or len(self.bytes) < self.max_labels:
            return comm
        return OTHER

    def __call__(self, snap: Snapshot) -> None:
        with self._lock:
            for p in sorted(snap.processes, key=lambda p: (-p.bytes, p.pid)):
                label = self._label(p.comm)
                self.bytes[label] = self.bytes.get(label, 0) + p.bytes
                self.writes[label] = self.writes.get(label, 0) + p.writes
                if p.syncs:
                    self.syncs[label] = self.syncs.get(label, 0) + p.syncs
                if p.dirtied_self:  # its children's are counted under their own names
                    self.dirtied[label] = self.dirtied.get(label, 0) + p.dirtied_self
            unattributed = snap.skipped.map_full
            if unattributed:
                self.writes[OTHER] = self.writes.get(OTHER, 0) + unattributed
                self.bytes.setdefault(OTHER, 0)
            self.errors += snap.errors
            self.sizes = self.sizes + snap.sizes
            write = snap.family("write")
            self.size_sum += snap.bytes if write is None else write.bytes
            sync = snap.family("sync")
            if sync is not None:
                self.sync_latency = self.sync_latency + sync.latency
                self.sync_latency_sum_ns += sync.latency_sum_ns
                self.sync_sla_missed += sync.sla_missed
                self.sync_sla_ns = sync.sla_ns
            for call, n in zip(SYNCS, snap.sync_calls, strict=False):
                self.sync_calls[call] = self.sync_calls.get(call, 0) + n
            self.latency = self.latency + snap.latency
            self.latency_sum_ns += snap.latency_sum_ns
            self.skipped["map_full"] += snap.skipped.map_full
            self.skipped["no_entry"] += snap.skipped.no_entry
            self.skipped["recursion"] += snap.skipped.recursion_misses
            self.skipped["disk_no_issue"] += snap.skipped.disk_no_issue
            self.skipped["exits_lost"] += snap.skipped.exits_lost
            self.skipped["disk_missed"] += snap.skipped.disk_missed
            written = runstate.disk_written(snap)
            for d in snap.disks:  # devices are few and named by the kernel: each its own label
                acc = self.disks.setdefault(
                    d.name,
                    {
                        "bytes": 0,
                        "ios": 0,
                        "errors": 0,
                        "flushes": 0,
                        "calls": 0,
                        "dirtied": 0,
                        "lat": Log2Histogram(),
                        "sum": 0,
                    },
                )
                acc["dirtied"] += d.dirtied
                acc["calls"] += written.get(d.dev, 0)
                acc["bytes"] += d.bytes
                acc["ios"] += d.ios
                acc["errors"] += d.errors
                acc["flushes"] += d.flushes
                acc["lat"] = acc["lat"] + d.latency
                acc["sum"] += d.latency_sum_ns
            self.sla_missed += snap.sla_missed
            self.sla_ns = snap.sla_ns
            self.intervals += 1
            if snap.cost is not None:
                self.self_cpu_s += snap.cost.cpu_s
                self.probe_ns += snap.cost.probe_ns or 0
                self.probe_runs += snap.cost.probe_runs or 0
                for name, ns, runs in snap.cost.programs:
                    acc = self.programs.setdefault(name, [0, 0])
                    acc[0] += ns
                    acc[1] += runs
            for call, w, b in zip(CALLS, snap.call_writes, snap.call_bytes, strict=False):
                acc = self.calls.setdefault(call, [0, 0])
                acc[0] += w
                acc[1] += b

    def collect(self):
        with self._lock:
            b = CounterMetricFamily("wtop_write_bytes", "Bytes written by write(2), by process name.", labels=["comm"])
            for comm, v in sorted(self.bytes.items()):
                b.add_metric([comm], v)
            w = CounterMetricFamily("wtop_writes", "write(2) calls that returned, by process name.", labels=["comm"])
            for comm, v in sorted(self.writes.items()):
                w.add_metric([comm], v)
            e = CounterMetricFamily("wtop_write_errors", "write(2) calls that returned an error.")
            e.add_metric([], self.errors)
            s = CounterMetricFamily(
                "wtop_skipped_events", "Events the probes could not account for.", labels=["reason"]
            )
            for reason, v in self.skipped.items():
                s.add_metric([reason], v)
            sla = CounterMetricFamily("wtop_sla_missed", "Timed write(2) calls slower than the --sla threshold.")
            sla.add_metric([], self.sla_missed)
            slag = GaugeMetricFamily("wtop_sla_seconds", "The --sla latency threshold.")
            slag.add_metric([], self.sla_ns / 1e9)
            bc = CounterMetricFamily(
                "wtop_call_writes", "Calls that move data out (write, copies, sends), by system call.", labels=["call"]
            )
            bb = CounterMetricFamily("wtop_call_bytes", "Bytes written, by system call.", labels=["call"])
            for call, (nw, nb) in sorted(self.calls.items()):
                bc.add_metric([call], nw)
                bb.add_metric([call], nb)
            sy = CounterMetricFamily(
                "wtop_syncs", "Sync calls (fsync and its kin) that returned, by process name.", labels=["comm"]
            )
            for comm, v in sorted(self.syncs.items()):
                sy.add_metric([comm], v)
            yield sy
            dy = CounterMetricFamily(
                "wtop_dirtied_bytes",
                "Bytes made dirty in the page cache or sent as direct I/O (/proc/PID/io write_bytes), by process name.",
                labels=["comm"],
            )
            for comm, v in sorted(self.dirtied.items()):
                dy.add_metric([comm], v)
            yield dy
            sc = CounterMetricFamily("wtop_sync_calls", "Sync calls by system call.", labels=["call"])
            for call, v in sorted(self.sync_calls.items()):
                sc.add_metric([call], v)
            yield sc
            ssla = CounterMetricFamily("wtop_sync_sla_missed", "Sync calls slower than the --sync-sla threshold.")
            ssla.add_metric([], self.sync_sla_missed)
            yield ssla
            if self.sync_sla_ns:
                ssg = GaugeMetricFamily("wtop_sync_sla_seconds", "The --sync-sla latency threshold.")
                ssg.add_metric([], self.sync_sla_ns / 1e9)
                yield ssg
            yield _histogram(
                "wtop_sync_latency_seconds",
                "Latency of sync calls (fsync, fdatasync, sync_file_range, msync, syncfs, sync).",
                self.sync_latency,
                self.sync_latency_sum_ns / 1e9,
                1e-9,
                LATENCY_BUCKETS,
            )
            n = CounterMetricFamily("wtop_intervals", "Intervals sampled since wtop started.")
            n.add_metric([], self.intervals)
            cpu = CounterMetricFamily("wtop_self_cpu_seconds", "CPU time wtop's own process used.")
            cpu.add_metric([], self.self_cpu_s)
            yield cpu
            pr = CounterMetricFamily(
                "wtop_probe_run_seconds",
                "Run time of wtop's BPF programs (kernel bpf_stats; counts only while kernel.bpf_stats_enabled=1).",
            )
            pr.add_metric([], self.probe_ns / 1e9)
            yield pr
            pn = CounterMetricFamily("wtop_probe_runs", "Runs of wtop's BPF programs (one per traced event).")
            pn.add_metric([], self.probe_runs)
            yield pn
            ps = CounterMetricFamily(
                "wtop_probe_program_run_seconds",
                "Run time of each of wtop's BPF programs, by the tracepoint it is on (bpf_stats, as bpftop has it).",
                labels=["tracepoint"],
            )
            pc = CounterMetricFamily(
                "wtop_probe_program_runs", "Runs of each of wtop's BPF programs, by tracepoint.", labels=["tracepoint"]
            )
            for name, (ns, runs) in sorted(self.programs.items()):
                ps.add_metric([name], ns / 1e9)
                pc.add_metric([name], runs)
            yield ps
            yield pc
            yield b
            yield w
            yield e
            yield s
            yield sla
            yield slag
            yield n
            yield bc
            yield bb
            yield _histogram(
                "wtop_write_size_bytes",
                "Sizes of successful write(2) calls.",
                self.sizes,
                float(self.size_sum),
                1.0,
                SIZE_BUCKETS,
            )
            yield _histogram(
                "wtop_write_latency_seconds",
                "Latency of write(2), sys_enter to sys_exit, of the timed calls (in a storm of calls, one in 2 to "
                "8 is timed unless wtop runs with --time-every-call: _count below the calls made).",
                self.latency,
                self.latency_sum_ns / 1e9,
                1e-9,
                LATENCY_BUCKETS,
            )
            families = {
                "bytes": CounterMetricFamily(
                    "wtop_disk_written_bytes", "Bytes of write requests completed, by block device.", labels=["device"]
                ),
                "ios": CounterMetricFamily(
                    "wtop_disk_write_requests", "Write requests completed, by block device.", labels=["device"]
                ),
                "errors": CounterMetricFamily(
                    "wtop_disk_write_errors", "Write requests completed with an error.", labels=["device"]
                ),
                "flushes": CounterMetricFamily(
                    "wtop_disk_flushes", "Cache flush requests issued, by block device.", labels=["device"]
                ),
                "calls": CounterMetricFamily(
                    "wtop_disk_write_call_bytes",
                    "Bytes write(2) sent to files on this block device (what reached it over this: amplification).",
                    labels=["device"],
                ),
                "dirtied": CounterMetricFamily(
                    "wtop_disk_dirtied_bytes",
                    "Bytes processes made dirty on files of this block device (written back later, under no process).",
                    labels=["device"],
                ),
            }
            lat = HistogramMetricFamily(
                "wtop_disk_write_latency_seconds",
                "Write request latency, block_rq_issue to block_rq_complete.",
                labels=["device"],
            )
            for name, acc in sorted(self.disks.items()):
                for key, fam in families.items():
                    fam.add_metric([name], acc[key])
                lat.add_metric([name], _cumulative(acc["lat"], 1e-9, LATENCY_BUCKETS), acc["sum"] / 1e9)
            yield from families.values()
            yield lat


def parse_listen(text: str) -> tuple[str, int]:
    """'9100' -> ('127.0.0.1', 9100); '0.0.0.0:9100', '[::1]:9100' as given."""
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", text
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r} is not [ADDRESS:]PORT")
    return host, int(port)


def serve(metrics: Metrics, listen: str):
    """Start the HTTP endpoint; returns an object with shutdown()."""
    from prometheus_client import start_http_server

    host, port = parse_listen(listen)
    registry = CollectorRegistry(auto_describe=True)
    registry.register(metrics)
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server
