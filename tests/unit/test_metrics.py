"""The Prometheus endpoint, scraped over real HTTP and parsed with the library's parser."""

from __future__ import annotations

import socket
import urllib.request
from dataclasses import replace

import pytest
from prometheus_client.parser import text_string_to_metric_families

from outlets.metrics import MAX_LABELS, Metrics, parse_listen, serve
from probes.snapshot import Cost, Skipped
from tests.conftest import hist, snap


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port: int) -> dict:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


@pytest.fixture
def endpoint():
    m = Metrics()
    port = free_port()
    server = serve(m, str(port))
    yield m, port, server
    server.shutdown()


def test_scrape_matches_the_snapshots(endpoint):
    m, port, server = endpoint
    m(
        snap(
            1,
            [(1, "nginx", 0, 4096, 1), (2, "nginx", 0, 100, 2), (3, "[/bold]\\x1b", 0, 1, 1)],
            sizes=hist(b1=1, b7=2, b13=1),
            latency=hist(b9=3, b25=1),
            sla_missed=1,
            skipped=Skipped(2, 1, 0),
        )
    )
    m(snap(2, [(1, "nginx", 0, 4096, 1)], sizes=hist(b13=1)))
    got = scrape(port)
    assert got[("wtop_write_bytes_total", (("comm", "nginx"),))] == 8292
    assert got[("wtop_writes_total", (("comm", "nginx"),))] == 4
    assert got[("wtop_write_bytes_total", (("comm", "[/bold]\\x1b"),))] == 1  # a safe name, escaped by the library
    assert got[("wtop_skipped_events_total", (("reason", "map_full"),))] == 2
    assert got[("wtop_skipped_events_total", (("reason", "no_entry"),))] == 1
    assert got[("wtop_sla_missed_total", ())] == 1
    assert got[("wtop_intervals_total", ())] == 2
    # histogram: 4096-byte writes are in le=4095? no: in le=8191, and every value <= le is counted
    assert got[("wtop_write_size_bytes_bucket", (("le", "4095.0"),))] == 3
    assert got[("wtop_write_size_bytes_bucket", (("le", "8191.0"),))] == 5
    assert got[("wtop_write_size_bytes_bucket", (("le", "+Inf"),))] == 5
    assert got[("wtop_write_size_bytes_count", ())] == 5
    assert got[("wtop_write_size_bytes_sum", ())] == 4096 + 100 + 1 + 4096
    assert got[("wtop_write_latency_seconds_count", ())] == 4


def test_process_name_labels_are_bounded_and_sticky(endpoint):
    m, port, server = endpoint
    m(snap(1, [(i, f"n{i:02d}", 0, 100 + i, 1) for i in range(MAX_LABELS + 5)]))
    m(snap(2, [(24, "n24", 0, 10, 1), (999, "late", 0, 7, 1)]))
    got = scrape(port)
    comms = {dict(k[1])["comm"] for k in got if k[0] == "wtop_write_bytes_total"}
    # the 20 biggest writers of the first interval got labels (n05..n24), the rest is "other"
    assert len(comms) == MAX_LABELS + 1 and "other" in comms and "late" not in comms and "n01" not in comms
    assert got[("wtop_write_bytes_total", (("comm", "n24"),))] == 134
    assert got[("wtop_write_bytes_total", (("comm", "other"),))] == sum(100 + i for i in range(5)) + 7
    total = sum(v for k, v in got.items() if k[0] == "wtop_write_bytes_total")
    assert total == sum(100 + i for i in range(MAX_LABELS + 5)) + 17  # nothing lost to the bound


def test_binds_loopback_unless_told():
    assert parse_listen("9100") == ("127.0.0.1", 9100)
    assert parse_listen("0.0.0.0:9100") == ("0.0.0.0", 9100)
    assert parse_listen("[::1]:9100") == ("::1", 9100)
    with pytest.raises(ValueError):
        parse_listen("localhost:http")
    m = Metrics()
    server = serve(m, str(free_port()))
    try:
        assert server.server_address[0] == "127.0.0.1"
    finally:
        server.shutdown()


def test_calls_by_system_call(endpoint):
    m, port, server = endpoint
    m(replace(snap(1, [(1, "pg", 0, 700, 3)]), call_writes=(1, 2, 0, 0, 0), call_bytes=(100, 600, 0, 0, 0)))
    got = scrape(port)
    assert got[("wtop_call_writes_total", (("call", "pwrite64"),))] == 2
    assert got[("wtop_call_bytes_total", (("call", "write"),))] == 100


def test_disks_by_device(endpoint):
    from probes.snapshot import DiskWrites

    m, port, server = endpoint
    d1 = DiskWrites("254:0", "vda", 8192, 2, 0, 1, hist(b18=2), 200_000, 300_000)
    d2 = DiskWrites("254:0", "vda", 4096, 1, 1, 0, hist(b21=1), 1_500_000, 1_500_000)
    m(replace(snap(1, []), disks=(d1,), skipped=Skipped(0, 0, 0, 3, disk_missed=4)))
    m(replace(snap(2, []), disks=(d2,)))
    got = scrape(port)
    dev = (("device", "vda"),)
    assert got[("wtop_disk_written_bytes_total", dev)] == 12288
    assert got[("wtop_disk_write_requests_total", dev)] == 3
    assert got[("wtop_disk_write_errors_total", dev)] == 1
    assert got[("wtop_disk_flushes_total", dev)] == 1
    assert got[("wtop_disk_write_latency_seconds_count", dev)] == 3
    assert got[("wtop_disk_write_latency_seconds_sum", dev)] == pytest.approx(1.8e-3)
    # [131072, 262143] ns: both of the first interval's, none of the 1.5 ms one
    assert got[("wtop_disk_write_latency_seconds_bucket", (("device", "vda"), ("le", "0.000262143")))] == 2
    assert got[("wtop_skipped_events_total", (("reason", "disk_no_issue"),))] == 3
    assert got[("wtop_skipped_events_total", (("reason", "disk_missed"),))] == 4


def test_dirtied_bytes_by_name_and_by_device(endpoint):
    from probes.snapshot import DiskWrites, ProcessWrites

    m, port, server = endpoint
    mapper = ProcessWrites(77, "mapper", 0, 0, 0, dirtied=8192)
    dd = ProcessWrites(78, "dd", 0, 4096, 1, dirtied=4096)
    vda = DiskWrites("254:0", "vda", 0, 0, dirtied=12288, dirtied_by=((77, "mapper", 8192), (78, "dd", 4096)))
    m(replace(snap(1, []), processes=(mapper, dd), disks=(vda,), skipped=Skipped(exits_lost=2)))
    m(replace(snap(2, []), processes=(mapper._replace(dirtied=4096),)))
    got = scrape(port)
    assert got[("wtop_dirtied_bytes_total", (("comm", "mapper"),))] == 12288
    assert got[("wtop_dirtied_bytes_total", (("comm", "dd"),))] == 4096
    assert got[("wtop_disk_dirtied_bytes_total", (("device", "vda"),))] == 12288
    assert got[("wtop_skipped_events_total", (("reason", "exits_lost"),))] == 2


def test_what_each_probe_cost_by_tracepoint(endpoint):
    m, port, server = endpoint
    progs = (("sys_exit", 3_000_000, 20_000), ("sys_enter", 2_000_000, 20_000))
    m(replace(snap(1, []), cost=Cost(0.01, 5_000_000, 40_000, progs)))
    m(replace(snap(2, []), cost=Cost(0.01, 1_000_000, 5_000, (("sys_exit", 1_000_000, 5_000),))))
    m(replace(snap(3, []), cost=Cost(0.01)))  # bpf_stats turned off meanwhile
    got = scrape(port)
    assert got[("wtop_probe_run_seconds_total", ())] == pytest.approx(0.006)
    assert got[("wtop_probe_runs_total", ())] == 45_000
    assert got[("wtop_probe_program_run_seconds_total", (("tracepoint", "sys_exit"),))] == pytest.approx(0.004)
    assert got[("wtop_probe_program_runs_total", (("tracepoint", "sys_exit"),))] == 25_000
    assert got[("wtop_probe_program_runs_total", (("tracepoint", "sys_enter"),))] == 20_000
    assert got[("wtop_self_cpu_seconds_total", ())] == pytest.approx(0.03)
