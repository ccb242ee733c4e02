"""Every write path, per call type and per target: exact against a known workload."""

from __future__ import annotations

import subprocess
import time

import pytest

from probes.live import LiveSource
from probes.program import ProbeOptions
from probes.snapshot import CALLS, Log2Histogram
from tests.bpf.test_paths import io_of
from tests.conftest import writes_skipped

pytestmark = pytest.mark.bpf

CALL_BYTES = dict.fromkeys(CALLS, 0) | {
    "write": 200 + 70 + 160 + 30,
    "pwrite64": 600,
    "writev": 440,
    "pwritev": 1500,
    "pwritev2": 2400,
}
"""What tests/helpers/calls.c writes, by call: to the file, then a pipe, a socket, /dev/null."""


def written(pid: int, calls: int = 36, timeout: float = 30.0) -> None:
    """Until the kernel's own accounting (/proc/PID/io syscw) shows all of the helper's write
    calls: a signal, not a guess at how long 36 calls take on a loaded machine."""
    deadline = time.monotonic() + timeout
    while True:
        syscw = io_of(pid)["syscw"]
        if syscw >= calls:
            assert syscw == calls
            return
        assert time.monotonic() < deadline, syscw
        time.sleep(0.01)


@pytest.mark.parametrize("latency", [True, False], ids=["timed", "no-latency"])
def test_every_write_call_and_every_kind_of_target(helper_bins, tmp_path, latency):
    """The same figures with --no-latency (latency False), where each call's descriptor comes
    from its registers at its exit, and nothing is timed."""
    target = tmp_path / "data.bin"
    p = subprocess.Popen([helper_bins["calls"], "wtop-calls", str(target)], stdin=subprocess.PIPE)
    try:
        with LiveSource(ProbeOptions(pid=p.pid, latency=latency)) as src:
            src.sample()
            p.stdin.write(b"g")
            p.stdin.flush()
            written(p.pid)  # the helper keeps its descriptors open for 3 s after
            s = src.sample()
    finally:
        p.kill()
        p.wait()
    proc = next(r for r in s.processes if r.pid == p.pid)
    calls = dict(zip(CALLS, proc.calls, strict=True))
    assert calls == dict.fromkeys(CALLS, 0) | {
        "write": 2 + 7 + 8 + 1,
        "pwrite64": 3,
        "writev": 4,
        "pwritev": 5,
        "pwritev2": 6,
    }
    assert dict(zip(CALLS, s.call_writes, strict=True)) == calls
    assert dict(zip(CALLS, s.call_bytes, strict=True)) == CALL_BYTES
    assert proc.bytes == 200 + 600 + 440 + 1500 + 2400 + 70 + 160 + 30
    # writev of 50 + 60 bytes is one call of 110 (with the two 100-byte writes in [64, 128)),
    # not two of 50 and 60: nothing lands in [32, 64)
    assert s.sizes.counts[Log2Histogram.bucket_of(110)] == 4 + 2
    assert s.sizes.counts[Log2Histogram.bucket_of(50)] == 0
    assert proc.writes == 36 and s.latency.total == (36 if latency else 0) and writes_skipped(s) == 0
    by_kind = {}
    for f in s.files:
        assert f.pid == p.pid
        by_kind.setdefault(f.kind, []).append(f)
    (data,) = by_kind["file"]
    assert data.path == str(target) and data.bytes == 5140 and data.writes == 20
    assert [(f.bytes, f.writes) for f in by_kind["pipe"]] == [(70, 7)]
    assert by_kind["pipe"][0].path.startswith("pipe:[")
    assert [(f.bytes, f.writes) for f in by_kind["socket"]] == [(160, 8)]
    assert [(f.path, f.bytes) for f in by_kind["other"]] == [("/dev/null", 30)]


def test_drill_down_counts_one_process_on_its_own(helper_bins, spawn, tmp_path):
    """The focused process's histograms and calls by type, exact, while another writes too;
    moving the focus starts the next process from zero and drops the previous entry."""
    target = tmp_path / "data.bin"
    p = subprocess.Popen([helper_bins["calls"], "wtop-focus", str(target)], stdin=subprocess.PIPE)
    other = spawn(b"wtop-other", 512, 1000)
    try:
        # every call timed: the other process's 1,000 writes are a storm, which may share a
        # CPU with the focused one's calls (tests/bpf/test_pace.py tests pacing)
        with LiveSource(ProbeOptions(pace=False)) as src:
            src.set_focus(p.pid)
            assert src.sample().focus is None  # applied at the end of this interval
            p.stdin.write(b"g")
            p.stdin.flush()
            other.go()
            assert other.wait() == 0
            written(p.pid)
            s = src.sample()
            src.set_focus(other.pid)
            s2 = src.sample()  # the focus moves at the end of this one
            s3 = src.sample()
            named = src.kernel.focus_names()
    finally:
        p.kill()
        p.wait()
    f = s.focus
    assert f is not None and f.pid == p.pid
    proc = next(r for r in s.processes if r.pid == p.pid)
    assert (f.bytes, f.writes, f.errors) == (proc.bytes, proc.writes, 0) == (5400, 36, 0)
    assert dict(zip(CALLS, f.call_writes, strict=True)) == dict(zip(CALLS, proc.calls, strict=True))
    assert dict(zip(CALLS, f.call_bytes, strict=True)) == CALL_BYTES
    assert f.sizes.total == 36 and f.latency.total == 36 and f.no_entry == 0
    assert f.sizes.counts[Log2Histogram.bucket_of(512)] == 0  # the other process's 512-byte writes
    assert s.sizes.counts[Log2Histogram.bucket_of(512)] >= 1000  # are in the totals only (machine-wide)
    assert 0 < f.latency_max_ns <= s.latency_max_ns and f.latency_sum_ns > 0
    assert s2.focus is not None and s2.focus.pid == p.pid and s2.focus.writes == 0
    assert s3.focus is not None and s3.focus.pid == other.pid and s3.focus.writes == 0
    assert p.pid not in named and other.pid in named  # the previous process's entry names nobody
