"""A deterministic app: no worker, fixed clock and host, snapshots posted by the test."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from probes.snapshot import DiskWrites, FileWrites, FocusWrites, Skipped
from tests.conftest import hist, snap
from tui.app import AppConfig, WtopApp

FIXED_TIME = 1_700_000_000.0


async def until(pilot, done, timeout: float = 10.0) -> None:
    """Let the app run until done() says so, or timeout seconds: a signal to wait for, not a
    time a loaded machine may need more of. The caller asserts what it waited for."""
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        await pilot.pause(0.05)


def make_app(source=None, **config) -> WtopApp:
    cfg = {"interval": 1.0, "start_worker": False, "host": "testhost", **config}
    return WtopApp(source, AppConfig(**cfg), clock=lambda: FIXED_TIME)


def workload(seq: int = 1):
    """A fixed interval: three writers, one with a hostile name, some skipped events."""
    return snap(
        seq,
        [
            (4242, "postgres", 0, 8 * 1024 * 1024, 1024),
            (1717, "nginx", 65534, 512 * 1024, 4096),
            (999, "[/bold]\\x1b[2J", 0, 1000, 10),
            (1718, "nginx", 65534, 256 * 1024, 2048),
        ],
        sizes=hist(b7=6144, b10=10, b14=1024),
        latency=hist(b9=5000, b12=2000, b17=150, b24=24),
        latency_max_ns=12_345_678,
        sla_missed=3,
        skipped=Skipped(map_full=2, no_entry=1, recursion_misses=0),
    )


def workload_disks(seq: int = 1):
    """workload() plus its files, two disks, and postgres's own figures (its page is open)."""
    s = workload(seq)
    mib = 1024 * 1024
    return replace(
        s,
        processes=tuple(
            p._replace(calls=(0, p.writes, 0, 0, 0) if p.pid == 4242 else (p.writes, 0, 0, 0, 0)) for p in s.processes
        ),
        files=(
            FileWrites(4242, 7, "/var/lib/postgresql/16/main/base/5/16384", "file", 6 * mib, 768, "259:0"),
            FileWrites(
                4242, 9, "/var/lib/postgresql/16/main/pg_wal/000000010000000000000001", "file", 2 * mib, 256, "259:0"
            ),
            FileWrites(1717, 4, "socket:[31337]", "socket", 512 * 1024, 4096),
            FileWrites(999, 1, "/dev/pts/3", "terminal", 1000, 10),
            FileWrites(1718, 5, "/var/log/nginx/access.log", "file", 256 * 1024, 2048, "254:0"),
        ),
        disks=(
            DiskWrites("259:0", "nvme0n1", 3 * mib, 96, 0, 12, hist(b15=40, b16=50, b19=6), 402_000, 4_000_000),
            DiskWrites("254:0", "vda", 512 * 1024, 8, 0, 0, hist(b18=8), 250_000, 1_600_000),
        ),
        focus=FocusWrites(
            4242,
            8 * mib,
            1024,
            0,
            hist(b14=1024),
            hist(b12=900, b14=100, b17=24),
            120_000,
            9_000_000,
            0,
            0,
            (0, 1024, 0, 0, 0),
            (0, 8 * mib, 0, 0, 0),
        ),
    )


@pytest.fixture(autouse=True)
def _no_env_surprises(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("WTOP_ASCII", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
