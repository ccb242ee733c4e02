"""Hostile process names, set by real processes with prctl(PR_SET_NAME), through every outlet:
the exit summary, --batch text, --json, Prometheus labels. (The dashboard: tests/e2e.)"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request

import pytest

from probes.names import safe_name
from tests.conftest import ROOT, start_wtop
from tests.unit.test_metrics import free_port

pytestmark = pytest.mark.bpf

NAMES = [
    b"[/]x",
    b"[bold]big",
    b"[link=http://e]",
    b"\x1b[2J\x1b[Hclear",  # clear the screen
    b"\x1b]0;pwned\x07",  # set the terminal title
    b"\x1b]52;c;aGk=\x07",  # OSC 52: write the clipboard
    "\u009b31mc1".encode(),  # C1 CSI as a character
    b"\x9b31mraw",  # C1 CSI as a raw byte (invalid UTF-8)
    "rtl\u202eevil".encode(),  # bidi override
    b"\xff\xfebad",  # invalid UTF-8
    b"fifteen-bytes-x",  # the full 15 bytes
]
FORBIDDEN = [b"\x1b", b"\x07", b"\x9b", "\u009b".encode(), "\u202e".encode()]


def clean(data: bytes) -> None:
    for bad in FORBIDDEN:
        assert bad not in data, f"{bad!r} reached the output"


@pytest.fixture
def hostile(spawn):
    # 64 KiB writes: their totals rank above whatever else the machine writes meanwhile (the
    # summary lists the top 15)
    ws = [spawn(name, 65536, 5, period_ms=100) for name in NAMES]
    for w in ws:
        w.go()
    return ws


def expected(name: bytes) -> str:
    return safe_name(name[:15])


def test_json_and_batch_text_carry_no_escape(hostile):
    for fmt in ("--json", "--batch"):
        out = subprocess.run(
            [sys.executable, "-m", "tui.cli", fmt, "-n", "0", "0.5", "3"], cwd=ROOT, capture_output=True, timeout=30
        )
        assert out.returncode == 0, out.stderr
        clean(out.stdout)
        text = out.stdout.decode()
        if fmt == "--json":
            comms = {p["comm"] for line in text.splitlines() for p in json.loads(line)["processes"]}
        else:
            comms = text
        for name in NAMES:
            assert expected(name) in comms, name  # still recognisable


def test_exit_summary_carries_no_escape(hostile):
    # the dashboard needs a terminal: COUNT ends it after 3 intervals, then the summary is printed
    out = subprocess.run(
        ["script", "-qec", f"{sys.executable} -m tui.cli 0.5 3", "/dev/null"], cwd=ROOT, capture_output=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    # the summary, from its first line: what Textual writes to restore the terminal comes before
    summary = out.stdout[out.stdout.rindex(b"wtop: ") :]
    assert b"@sizes" in summary
    clean(summary)
    for name in NAMES:
        assert expected(name).encode() in summary


def test_prometheus_labels_carry_no_escape(hostile):
    port = free_port()
    p = start_wtop("--no-tui", "--prometheus", str(port), "0.3", stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        body = b""
        while time.monotonic() < deadline:
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1).read()
                if b"clear" in body:
                    break
            except OSError:
                pass
            time.sleep(0.2)
    finally:
        p.terminate()
        p.wait(5)
    clean(body)
    from prometheus_client.parser import text_string_to_metric_families

    comms = {s.labels.get("comm") for fam in text_string_to_metric_families(body.decode()) for s in fam.samples}
    assert expected(b"\x1b[2J\x1b[Hclear") in comms
