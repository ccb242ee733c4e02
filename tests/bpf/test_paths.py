"""Every way a process writes (copies, sendfile, splice, sockets) and every sync call, exact
against the kernel's own accounting (/proc/PID/io) and the payload real programs sent."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter

import pytest

from probes.kernel import FOREIGN
from probes.live import LiveSource
from probes.program import CALLS, SYNCS, ProbeOptions
from probes.sampler import unpack_counts
from probes.snapshot import Log2Histogram
from tests.conftest import writes_skipped

pytestmark = pytest.mark.bpf

PATH_BYTES = {
    "copy_file_range": 10000,
    "sendfile": 2 * 9000,
    "splice": 3 * 4096,
    "vmsplice": 5 * 1000,
    "tee": 800,
    "sendto": 7 * 100,
    "sendmsg": 3 * 120,
    "sendmmsg": 2 * 4 * 30,
    "write": 800 + 5,
}
PATH_CALLS = {
    "copy_file_range": 1,
    "sendfile": 2,
    "splice": 3,
    "vmsplice": 5,
    "tee": 1,
    "sendto": 7,
    "sendmsg": 3,
    "sendmmsg": 2,
    "write": 2,
}
SYNC_CALLS = {"fsync": 3, "fdatasync": 2, "sync_file_range": 1, "msync": 1, "syncfs": 1, "sync": 1}
KERNEL_COUNTS = ("write", "pwrite64", "writev", "pwritev", "pwritev2", "copy_file_range", "sendfile")
"""The calls /proc/PID/io's wchar and syscw count (Linux 6.18, measured with tests/helpers/
paths.c): splice, vmsplice, tee and the socket sends are not in them."""


def io_of(pid: int) -> dict[str, int]:
    with open(f"/proc/{pid}/io") as f:
        return {k: int(v) for k, v in (line.split(":") for line in f)}


def zombie(p: subprocess.Popen, timeout: float = 60.0, poll: float = 0.01) -> dict[str, int]:
    """Wait for the process to end without reaping it (WNOWAIT): its /proc/PID/io still holds
    the whole process's totals. The caller reaps it with p.wait(). poll: how often to look (a
    caller that times the process's run looks more often)."""
    deadline = time.monotonic() + timeout
    while True:
        info = os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOWAIT | os.WNOHANG)
        if info is not None:
            assert info.si_status == 0, f"{p.args}: exit status {info.si_status}"
            return io_of(p.pid)
        assert time.monotonic() < deadline, f"{p.args} did not end"
        time.sleep(poll)


def row(snaps, pid):
    """A process's figures summed over several snapshots."""
    rows = [r for s in snaps for r in s.processes if r.pid == pid]
    assert rows, f"pid {pid} not seen"
    calls = [sum(r.calls[i] for r in rows if i < len(r.calls)) for i in range(len(CALLS))]
    return sum(r.bytes for r in rows), sum(r.writes for r in rows), dict(zip(CALLS, calls, strict=True))


@pytest.mark.parametrize("latency", [True, False], ids=["timed", "no-latency"])
def test_every_path_and_every_sync_call_exactly(helper_bins, tmp_path, latency):
    """latency False (--no-latency): no sys_enter program; each call is counted at its exit
    from its registers alone, and its descriptor (the third argument of copy_file_range and
    splice, the second of tee) is still the one it wrote to."""
    p = subprocess.Popen(
        [helper_bins["paths"], "wtop-paths", str(tmp_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        with LiveSource(ProbeOptions(pid=p.pid, latency=latency)) as src:
            src.sample()
            before = io_of(p.pid)
            p.stdin.write(b"g")
            p.stdin.flush()
            assert p.stdout.readline() == b"done\n"  # every call made, each one checked
            after = io_of(p.pid)
            s = src.sample()
    finally:
        p.kill()
        p.wait()
    nbytes, writes, calls = row([s], p.pid)
    assert {c: n for c, n in calls.items() if n} == PATH_CALLS
    assert {c: b for c, b in zip(CALLS, s.call_bytes, strict=True) if b} == PATH_BYTES
    assert nbytes == sum(PATH_BYTES.values()) and writes == sum(PATH_CALLS.values())
    # the kernel's own accounting, plus the payload of the calls it does not count
    uncounted = {c: b for c, b in PATH_BYTES.items() if c not in KERNEL_COUNTS}
    assert nbytes == after["wchar"] - before["wchar"] + sum(uncounted.values())
    assert sum(n for c, n in calls.items() if c in KERNEL_COUNTS) == after["syscw"] - before["syscw"]
    # each family has its own histograms: copies, sends; the write family keeps its own
    fam = {f.name: f for f in s.families}
    assert (fam["copy"].calls, fam["copy"].bytes) == (12, 10000 + 18000 + 12288 + 5000 + 800)
    assert (fam["send"].calls, fam["send"].bytes) == (12, 700 + 360 + 240)
    timed = 1 if latency else 0
    assert fam["send"].sizes.total == 12 and fam["send"].latency.total == 12 * timed
    assert (fam["write"].calls, fam["write"].bytes) == (2, 805) and s.sizes.total == 2
    # the syncs: counted by type and by process, timed in their own histogram, no bytes
    assert dict(zip(SYNCS, s.sync_calls, strict=True)) == SYNC_CALLS
    assert next(r for r in s.processes if r.pid == p.pid).syncs == sum(SYNC_CALLS.values())
    assert (fam["sync"].calls, fam["sync"].bytes, fam["sync"].latency.total) == (9, 0, 9 * timed)
    dst = [f for f in s.files if f.pid == p.pid and f.path.endswith("/dst.bin")]
    assert sum(f.syncs for f in dst) == 3 + 2 + 1 + 1  # fsync, fdatasync, sync_file_range, syncfs
    # each call's bytes on the descriptor it wrote to, whichever argument names it
    assert sum(f.bytes for f in dst) >= 10000  # copy_file_range's (its third argument)
    (none,) = [f for f in s.files if f.pid == p.pid and f.fd < 0]  # msync and sync name no descriptor
    assert (none.path, none.syncs, none.bytes) == ("(no descriptor: msync, sync)", 2, 0)
    assert writes_skipped(s) == 0
    assert s.latency.total == 2 * timed and s.sla_missed == 0
    assert any(n.startswith("latency: off") for n in s.notes) is not latency


def watch(run, timeout: float = 120.0):
    """Snapshots while run() starts a process and it ends: (snapshots, its pid, its /proc/PID/io)."""
    with LiveSource(ProbeOptions()) as src:
        src.sample()
        p = run()
        try:
            io = zombie(p, timeout)
            snaps = [src.sample()]
        finally:
            p.wait()
    return snaps, p.pid, io


def test_cp_copies_with_copy_file_range_and_wtop_sees_every_byte(tmp_path):
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(20_000_000))
    snaps, pid, io = watch(lambda: subprocess.Popen(["cp", str(src), str(tmp_path / "copy.bin")]))
    nbytes, writes, calls = row(snaps, pid)
    assert calls["copy_file_range"] >= 1
    assert (nbytes, writes) == (io["wchar"], io["syscw"]) and nbytes >= 20_000_000


def test_python_copyfile_uses_sendfile_and_wtop_sees_every_byte(tmp_path):
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(5_000_000))
    code = f"import shutil; shutil.copyfile({str(src)!r}, {str(tmp_path / 'copy.bin')!r})"
    snaps, pid, io = watch(lambda: subprocess.Popen([sys.executable, "-c", code]))
    nbytes, writes, calls = row(snaps, pid)
    assert calls["sendfile"] >= 1
    assert (nbytes, writes) == (io["wchar"], io["syscw"]) and nbytes >= 5_000_000


def test_a_tcp_client_s_payload_is_counted_exactly(tmp_path):
    """A real client (Python's socket module) sends 3 MB with send(), sendall() and sendmsg();
    the kernel's accounting counts none of it: the receiver's count is the ground truth."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    code = (
        "import socket\n"
        f"c = socket.create_connection(('127.0.0.1', {port}))\n"
        "blob = b'x' * 1_000_000\n"
        "c.sendall(blob)\n"
        "n = 0\n"
        "while n < len(blob): n += c.send(blob[n:])\n"
        "n = 0\n"
        "while n < len(blob): n += c.sendmsg([blob[n:]])\n"
        "c.close()\n"
    )
    received = 0

    def run():
        p = subprocess.Popen([sys.executable, "-c", code])
        conn, _ = server.accept()
        nonlocal received
        while chunk := conn.recv(1 << 20):
            received += len(chunk)
        conn.close()
        return p

    snaps, pid, io = watch(run)
    server.close()
    nbytes, writes, calls = row(snaps, pid)
    assert received == 3_000_000
    assert calls["sendto"] >= 1 and calls["sendmsg"] >= 1
    assert nbytes == io["wchar"] + received  # its writes (none, or a few) plus the payload


@pytest.mark.parametrize("engine,call", [("io_uring", "io_uring"), ("libaio", "libaio")])
def test_fio_async_engines_are_counted_at_completion_exactly(tmp_path, engine, call):
    """fio's own report is the ground truth: the bytes its job wrote, in requests of 4 KiB,
    counted when each completed, for the process that submitted them (fio's job process)."""
    if shutil.which("fio") is None:
        pytest.fail("fio is needed (run-tests.sh installs it)")
    target = tmp_path / "fio.dat"
    cmd = ["fio", f"--name={engine}", f"--ioengine={engine}", "--rw=write", "--bs=4k", "--size=4M"]
    cmd += ["--iodepth=32", f"--filename={target}", "--output-format=json"]  # many completions a call
    with LiveSource(ProbeOptions(comm="fio")) as src:
        src.sample()
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=120).stdout
        s = src.sample()
        entries = src.kernel.read_procs()
    report = json.loads(out[out.index("{") :])
    written = report["jobs"][0]["write"]["io_bytes"]
    assert written == 4 * 1024 * 1024
    got = {c: (w, b) for c, w, b in zip(CALLS, s.call_writes, s.call_bytes, strict=True) if w}
    assert got[call] == (written // 4096, written)
    job = [p for p in s.processes if len(p.calls) > CALLS.index(call) and p.calls[CALLS.index(call)]]
    assert len(job) == 1 and job[0].comm == "fio"  # charged to the job's own process
    # in entries of their own, apart from the thread's own calls: a completion runs anywhere,
    # and only those entries are added to atomically (writes.c)
    by_pad = Counter()
    for key, packed in entries.items():
        if key[0] == job[0].pid:
            by_pad[key[3]] += unpack_counts(packed)[3 + CALLS.index(call)]
    assert +by_pad == {FOREIGN: written // 4096}
    fam = s.family("io_uring" if engine == "io_uring" else "aio")
    assert (fam.calls, fam.bytes, fam.latency.total) == (1024, written, 1024)
    assert fam.sizes.counts[Log2Histogram.bucket_of(4096)] == 1024
    assert writes_skipped(s) == 0


@pytest.mark.parametrize("modern", [True, False], ids=["bpf_loop", "unrolled"])
def test_libaio_calls_of_hundreds_of_requests_are_counted_whole_or_shown_as_skipped(tmp_path, modern):
    """fio submitting and reaping 256 requests a call. With bpf_loop (Linux 5.17) each call's
    requests are walked to the end: every one counted, nothing skipped. Without it, the walk
    stops at 32 a call, and the rest is shown as skipped, never silently lost."""
    if shutil.which("fio") is None:
        pytest.fail("fio is needed (run-tests.sh installs it)")
    if modern and not os.path.exists("/sys/kernel/btf/vmlinux"):
        pytest.skip("this kernel has no BTF")
    cmd = ["fio", "--name=batches", "--ioengine=libaio", "--rw=write", "--bs=4k", "--size=8M", "--iodepth=256"]
    cmd += ["--iodepth_batch_submit=256", "--iodepth_batch_complete_min=256", f"--filename={tmp_path / 'fio.dat'}"]
    with LiveSource(ProbeOptions(comm="fio", modern=modern)) as src:
        assert src.opts.modern == modern
        src.sample()
        out = subprocess.run([*cmd, "--output-format=json"], capture_output=True, text=True, check=True, timeout=120)
        s = src.sample()
    written = json.loads(out.stdout[out.stdout.index("{") :])["jobs"][0]["write"]["io_bytes"]
    assert written == 8 * 1024 * 1024
    writes, nbytes = s.call_writes[CALLS.index("libaio")], s.call_bytes[CALLS.index("libaio")]
    if modern:
        assert (writes, nbytes, s.skipped.total) == (written // 4096, written, 0)
    else:
        assert 0 < writes < written // 4096 and nbytes == writes * 4096
        # every write not counted was beyond 32 at its submit or at its reap, and counted there
        assert s.skipped.no_entry >= written // 4096 - writes
