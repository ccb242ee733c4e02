from __future__ import annotations

import json
from dataclasses import replace

from outlets.codec import SCHEMA, from_record, to_json, to_record
from probes import tables
from probes.snapshot import Cost, DiskWrites, FileWrites, FocusWrites, Skipped
from tests.conftest import hist, snap


def sample():
    s = snap(
        7,
        [(10, "a\\x1b", 0, 4096, 1), (11, "b", 65534, 100, 4)],
        elapsed=0.5,
        sizes=hist(b5=4, b13=1),
        latency=hist(b9=3, b20=2),
        latency_max_ns=700_000,
        sla_missed=2,
        sla_ns=500_000,
        skipped=Skipped(1, 2, 3, 4, 0, 5),
    )
    return replace(
        s,
        files=(
            FileWrites(10, 3, "/var/log/x", "file", 4096, 1, "254:0"),
            FileWrites(11, 1, "pipe:[9]", "pipe", 100, 4),
        ),
        disks=(DiskWrites("254:0", "vda", 8192, 2, 0, 1, hist(b18=2), 200_000, 300_000),),
        focus=FocusWrites(
            10, 4096, 1, 0, hist(b13=1), hist(b12=1), 3000, 3000, 0, 0, (1, 0, 0, 0, 0), (4096, 0, 0, 0, 0)
        ),
    )


def test_records_round_trip_exactly():
    s = sample()
    assert from_record(json.loads(json.dumps(to_record(s)))) == s
    s = replace(s, cost=Cost(0.01, 9_000, 60, (("sys_exit", 6_000, 30), ("sys_enter", 3_000, 30))))
    assert from_record(json.loads(json.dumps(to_record(s)))) == s


def test_each_program_s_cost_in_json_and_from_recordings_of_every_age():
    """What each BPF program cost (bpftop's list) is in JSON and in recordings; a recording
    made before it was kept still replays, and a name in one is only ever shown made safe."""
    s = replace(sample(), cost=Cost(0.01, 9_000, 60, (("sys_exit", 6_000, 30), ("block_rq_complete", 0, 0))))
    c = to_json(s)["cost"]
    assert (c["probe_ns"], c["probe_runs"], c["probe_ns_per_run"]) == (9_000, 60, 150.0)
    assert c["programs"] == [
        {"tracepoint": "sys_exit", "run_ns": 6_000, "runs": 30, "ns_per_run": 200.0, "runs_per_s": 60.0},
        {"tracepoint": "block_rq_complete", "run_ns": 0, "runs": 0, "ns_per_run": None, "runs_per_s": 0.0},
    ]
    rec = to_record(s)
    old = dict(rec, cost=rec["cost"][:3])  # before 2026-11-30: no programs
    assert from_record(old).cost == Cost(0.01, 9_000, 60)
    hostile = dict(rec, cost=rec["cost"][:3] + [[["\x1b]0;owned\x07[bold]x", 1, 1]]])
    assert from_record(hostile).cost.programs == (("\\x1b]0;owned\\x07[bold]x", 1, 1),)


def test_json_schema_fields_and_figures():
    d = to_json(sample())
    assert d["schema"] == SCHEMA == "wtop/1"
    assert (d["seq"], d["bytes"], d["writes"], d["elapsed_s"]) == (7, 4196, 5, 0.5)
    assert d["bytes_per_s"] == 8392.0 and d["writes_per_s"] == 10.0
    assert d["skipped"] == {
        "map_full": 1,
        "no_entry": 2,
        "recursion_misses": 3,
        "disk_no_issue": 4,
        "exits_lost": 0,
        "disk_missed": 5,
        "total": 15,
    }
    (disk,) = d["disks"]
    assert (disk["dev"], disk["name"], disk["bytes"], disk["ios"], disk["flushes"]) == ("254:0", "vda", 8192, 2, 1)
    assert disk["bytes_per_s"] == 16384.0 and disk["ios_per_s"] == 4.0
    assert disk["written"] == 4096  # write() to /var/log/x, a file on vda
    assert disk["latency"]["buckets"] == [{"low_ns": 131072, "high_ns": 262144, "count": 2}]
    assert [f["disk"] for f in d["files"]] == ["254:0", ""]
    assert [p["pid"] for p in d["processes"]] == [10, 11]
    assert d["processes"][0]["comm"] == "a\\x1b" and d["processes"][1]["user"] == "nobody"
    assert d["sizes"]["buckets"] == [{"low": 16, "high": 32, "count": 4}, {"low": 4096, "high": 8192, "count": 1}]
    lat = d["latency"]
    assert lat["total"] == 5 and lat["max_ns"] == 700_000 and lat["sla_missed"] == 2
    assert lat["sla_missed_share"] == 0.4
    assert lat["p50_ns"] == round(tables.percentile(sample().latency, 0.5, 700_000))
    assert d["time_iso"].endswith("Z") and "T" in d["time_iso"]
    json.dumps(d)  # serialisable as is
