"""Shared fixtures: synthetic snapshots, the compiled test writer, root/BPF gating."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from probes.snapshot import BUCKETS, Log2Histogram, ProcessWrites, Skipped, Snapshot

ROOT = Path(__file__).resolve().parent.parent
HELPERS = Path(__file__).resolve().parent / "helpers"


def hist(**buckets: int) -> Log2Histogram:
    """hist(b13=5) -> 5 writes in bucket 13 ([4K, 8K))."""
    counts = [0] * BUCKETS
    for k, v in buckets.items():
        counts[int(k[1:])] = v
    return Log2Histogram(tuple(counts))


def snap(
    seq: int = 1,
    procs=(),
    elapsed: float = 1.0,
    sizes=None,
    latency=None,
    skipped=None,
    latency_max_ns: int = 0,
    sla_missed: int = 0,
    sla_ns: int = 10_000_000,
) -> Snapshot:
    """A snapshot from (pid, comm, uid, bytes, writes) tuples; totals follow from them."""
    rows = tuple(ProcessWrites(*p) for p in procs)
    skipped = skipped or Skipped()
    sizes = sizes or Log2Histogram()
    latency = latency or Log2Histogram()
    return Snapshot(
        seq=seq,
        time=1_700_000_000.0 + seq,
        elapsed=elapsed,
        processes=rows,
        sizes=sizes,
        latency=latency,
        latency_max_ns=latency_max_ns,
        sla_ns=sla_ns,
        sla_missed=sla_missed,
        bytes=sum(r.bytes for r in rows),
        writes=sum(r.writes for r in rows),
        skipped=skipped,
    )


@pytest.fixture(scope="session")
def helper_bins():
    """The C helpers of tests/helpers, compiled once per session, runnable by any user."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.fail("a C compiler is needed to build tests/helpers/*.c (run-tests.sh installs gcc)")
    d = tempfile.mkdtemp(prefix="wtop-bin-")
    os.chmod(d, 0o755)
    bins = {}
    for src in sorted(HELPERS.glob("*.c")):
        out = Path(d) / src.stem
        subprocess.run([cc, "-O2", "-pthread", "-o", str(out), str(src)], check=True)
        bins[src.stem] = str(out)
    yield bins
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def writer_bin(helper_bins) -> str:
    """A writer with a known workload (tests/helpers/writer.c)."""
    return helper_bins["writer"]


@pytest.fixture(scope="session")
def churn_bin(helper_bins) -> str:
    """Short-lived processes by the thousand (tests/helpers/churn.c)."""
    return helper_bins["churn"]


def require_root() -> None:
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("BPF tests must run as root in CI")
        pytest.skip("needs root")


class Writer:
    """A started writer process, blocked until go()."""

    def __init__(
        self,
        writer_bin: str,
        name: bytes,
        size: int,
        count: int,
        path: str,
        period_ms: int = 0,
        threads: int = 1,
        repeats: int = 0,
    ):
        args = [name, size, count, path, period_ms, threads, repeats]
        self.proc = subprocess.Popen(
            [writer_bin.encode(), *(a if isinstance(a, bytes) else str(a).encode() for a in args)],
            stdin=subprocess.PIPE,
        )
        self.pid = self.proc.pid

    def go(self) -> None:
        self.proc.stdin.write(b"g")
        self.proc.stdin.close()

    def wait(self, timeout: float = 10) -> int:
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def spawn(writer_bin):
    started: list[Writer] = []

    def make(name: bytes, size: int, count: int, path: str = "/dev/null", **kw) -> Writer:
        w = Writer(writer_bin, name, size, count, path, **kw)
        started.append(w)
        return w

    yield make
    for w in started:
        w.kill()
