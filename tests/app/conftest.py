"""A deterministic app: no worker, fixed clock and host, snapshots posted by the test."""

from __future__ import annotations

import pytest

from probes.snapshot import Skipped
from tests.conftest import hist, snap
from tui.app import AppConfig, WtopApp

FIXED_TIME = 1_700_000_000.0


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


@pytest.fixture(autouse=True)
def _no_env_surprises(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("WTOP_ASCII", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
