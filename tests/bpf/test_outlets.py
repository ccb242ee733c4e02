"""Every outlet against real probes and known writers: JSON, text, recordings, metrics."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ROOT, start_wtop
from tests.unit.test_metrics import free_port

pytestmark = pytest.mark.bpf
WTOP = [sys.executable, "-m", "tui.cli"]


def finish(p: subprocess.Popen) -> tuple[bytes, bytes]:
    """End a batch-mode wtop as a user would (SIGTERM, or Ctrl+C): it prints the last, partial
    interval too, so every write made before the signal is in its output."""
    p.send_signal(signal.SIGTERM)
    return p.communicate(timeout=60)


def test_json_lines_add_up_to_exactly_what_was_written(spawn):
    w = spawn(b"out-json", 3000, 25, period_ms=100, repeats=10)  # 750,000 bytes in 250 writes
    p = start_wtop("--json", "-c", "out-json", "0.5")
    w.go()
    w.wait(60)
    out, err = finish(p)
    assert p.returncode == 0, err
    lines = [json.loads(line) for line in out.decode().splitlines()]
    assert lines and all(d["schema"] == "wtop/1" for d in lines)
    assert [d["seq"] for d in lines] == list(range(1, len(lines) + 1))
    assert sum(d["bytes"] for d in lines) == 750_000
    assert sum(p["writes"] for d in lines for p in d["processes"] if p["pid"] == w.pid) == 250
    assert sum(d["sizes"]["buckets"][0]["count"] for d in lines if d["sizes"]["buckets"]) == 250  # [2K, 4K)
    assert all(b["low"] == 2048 for d in lines for b in d["sizes"]["buckets"])


def test_no_latency_counts_every_write_and_says_nothing_was_timed(spawn):
    """wtop --no-latency as a user runs it: the JSON adds up to exactly what was written, with
    no latency in it, and says why."""
    w = spawn(b"out-nolat", 3000, 25, period_ms=100, repeats=4)  # 300,000 bytes in 100 writes
    p = start_wtop("--json", "--no-latency", "-c", "out-nolat", "0.5")
    w.go()
    w.wait(60)
    out, err = finish(p)
    assert p.returncode == 0, err
    lines = [json.loads(line) for line in out.decode().splitlines()]
    assert sum(d["bytes"] for d in lines) == 300_000
    assert sum(p["writes"] for d in lines for p in d["processes"] if p["pid"] == w.pid) == 100
    assert sum(d["latency"]["total"] for d in lines) == 0 and sum(d["skipped"]["no_entry"] for d in lines) == 0
    assert all(any(n.startswith("latency: off (--no-latency)") for n in d["notes"]) for d in lines)


def test_batch_text_and_a_closed_pipe(spawn):
    w = spawn(b"out-text", 100, 10, period_ms=50)
    w.go()
    p = subprocess.run(
        f"{sys.executable} -m tui.cli --batch 0.3 | head -3",
        shell=True,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert p.returncode == 0
    assert p.stdout.startswith("wtop ") and "PID COMMAND" in p.stdout
    assert "Traceback" not in p.stderr and "Broken pipe" not in p.stderr
    # and the process behind the pipe ended by itself
    p2 = start_wtop("--batch", "0.2")
    assert p2.stdout.readline().startswith(b"wtop ")  # it is printing
    p2.stdout.close()  # the reader goes away
    assert p2.wait(timeout=5) == 0
    assert b"Traceback" not in p2.stderr.read()


def test_sigterm_ends_batch_mode_cleanly():
    p = start_wtop("--batch", "0.2")
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=5)
    assert p.returncode == 0 and b"Traceback" not in err and out.startswith(b"wtop ")


def test_record_then_replay_gives_the_same_intervals(spawn, tmp_path):
    rec = tmp_path / "incident.wtop.gz"
    w = spawn(b"out-rec", 512, 40, period_ms=100, repeats=10)
    p = start_wtop("--json", "--record", str(rec), "-c", "out-rec", "0.5")
    w.go()
    w.wait(60)
    live, err = finish(p)
    assert sum(d["bytes"] for d in map(json.loads, live.splitlines())) == 512 * 40 * 10
    assert p.returncode == 0, err
    shared = tempfile.mkdtemp()
    os.chmod(shared, 0o755)
    copy = shutil.copy(rec, shared)
    os.chmod(copy, 0o644)
    try:
        replay = subprocess.run(
            [*WTOP, "--replay", copy, "--json"],
            cwd=ROOT,
            capture_output=True,
            timeout=30,
            preexec_fn=lambda: (os.setgid(65534), os.setuid(65534)) and None,
        )
    finally:
        shutil.rmtree(shared)
    assert replay.returncode == 0, replay.stderr  # as nobody: no root needed to replay
    assert replay.stdout == live  # byte for byte the same intervals


def test_prometheus_headless_real_scrape(spawn):
    w = spawn(b"out-prom", 4096, 10, period_ms=100, repeats=5)  # 204,800 bytes
    port = free_port()
    p = start_wtop("--no-tui", "--prometheus", str(port), "-c", "out-prom", "0.3")
    try:
        w.go()
        w.wait()
        text = ""
        deadline = time.monotonic() + 60
        while 'wtop_writes_total{comm="out-prom"} 50.0' not in text:  # the next interval's scrape
            assert time.monotonic() < deadline, text
            time.sleep(0.1)
            text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    finally:
        p.send_signal(signal.SIGTERM)
        p.communicate(timeout=5)
    values = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }
    assert values[("wtop_write_bytes_total", (("comm", "out-prom"),))] == 204_800
    assert values[("wtop_writes_total", (("comm", "out-prom"),))] == 50
    assert values[("wtop_write_size_bytes_bucket", (("le", "4095.0"),))] == 0
    assert values[("wtop_write_size_bytes_bucket", (("le", "8191.0"),))] == 50
    assert values[("wtop_write_latency_seconds_count", ())] == 50
    assert values[("wtop_write_latency_seconds_sum", ())] > 0
    assert p.returncode == 0
