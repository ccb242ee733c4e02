"""The Grafana dashboard's queries, asked of a real Prometheus that scrapes wtop's metrics
endpoint and loads wtop's rules: every panel must return data, not only parse."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import replace

import pytest

from outlets.metrics import Metrics, serve
from probes.snapshot import DiskWrites, Family, FileWrites
from tests.conftest import ROOT, hist, snap

DASHBOARD = ROOT / "contrib" / "grafana" / "wtop-dashboard.json"
RULES = ROOT / "contrib" / "prometheus" / "wtop-rules.yml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def interval(seq: int):
    """One busy interval: writes and copies by two names, a sync family with misses, a disk."""
    s = snap(seq, [(1, "postgres", 0, 8 << 20, 1000), (2, "backup", 0, 1 << 20, 10)], latency=hist(b14=990, b25=10))
    s = replace(
        s,
        processes=tuple(p._replace(syncs=5 if p.pid == 1 else 0, calls=(p.writes,)) for p in s.processes),
        call_writes=(1010,),
        call_bytes=(9 << 20,),
        sla_missed=10,
        disks=(DiskWrites("8:0", "sda", 12 << 20, 300, latency=hist(b20=300)),),
        files=(FileWrites(1, 3, "/var/lib/pg/x", "file", 8 << 20, 1000, "8:0"),),
        families=(Family("sync", calls=5, latency=hist(b21=4, b26=1), sla_missed=1, sla_ns=10_000_000),),
        sync_calls=(5, 0, 0, 0, 0, 0),
    )
    return s


def query(base: str, expr: str) -> list:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=5) as r:
        body = json.load(r)
    assert body["status"] == "success", body
    return body["data"]["result"]


@pytest.fixture
def prometheus(tmp_path):
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("a Prometheus server is needed (run-tests.sh installs Debian's prometheus package)")
    metrics = Metrics()
    stop = threading.Event()

    def feed():  # a live exporter: an interval every 0.2 s
        seq = 0
        while not stop.is_set():
            seq += 1
            metrics(interval(seq))
            stop.wait(0.2)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    exporter_port = free_port()
    server = serve(metrics, f"127.0.0.1:{exporter_port}")
    port = free_port()
    (tmp_path / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"rule_files: ['{RULES}']\n"
        "scrape_configs:\n"
        f"  - job_name: wtop\n    static_configs: [{{targets: ['127.0.0.1:{exporter_port}']}}]\n"
    )
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:  # ready: a signal, polled
            try:
                with urllib.request.urlopen(f"{base}/-/ready", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert proc.poll() is None, "prometheus exited"
            assert time.monotonic() < deadline, "prometheus did not become ready"
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(30)
        stop.set()
        server.shutdown()


def test_every_panel_of_the_dashboard_returns_data_from_a_real_prometheus(prometheus):
    dash = json.loads(DASHBOARD.read_text())
    exprs = {p["title"]: t["expr"].replace("$instance", ".*") for p in dash["panels"] for t in p["targets"]}
    assert len(exprs) >= 12
    missing = dict(exprs)
    deadline = time.monotonic() + 90  # rates need two scrapes; rules an evaluation after them
    while missing and time.monotonic() < deadline:
        for title, expr in list(missing.items()):
            if query(prometheus, expr):
                del missing[title]
        time.sleep(0.5)
    assert not missing, f"panels with no data: {missing}"
    # the figures are the exporter's: postgres leads the top writers, sda's amplification is 1.5x
    top = query(prometheus, exprs["Top writers by process name"])
    assert max(top, key=lambda r: float(r["value"][1]))["metric"]["comm"] == "postgres"
    amp = query(prometheus, exprs["Disk amplification (reached the disk / written to its files)"])
    assert [round(float(r["value"][1]), 2) for r in amp] == [1.5]
    variable = dash["templating"]["list"][1]["query"]["query"]
    assert variable == "label_values(wtop_intervals_total, instance)"
    assert query(prometheus, "wtop_intervals_total")
