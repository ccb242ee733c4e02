"""Names, threads and memory (issue: the seed's @[comm] exactly, iotop's a, htop's H), against
real probes, bpftrace's own map and the kernel's own accounting (/proc/PID/io)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from tests.bpf.test_paths import io_of
from tests.conftest import start_wtop

pytestmark = pytest.mark.bpf

EXPECTED = {  # what each name wrote (tests/helpers/threads.c): bytes, calls
    "logwriter": (1_000_000, 1000),
    "flusher": (500_000, 500),
    "tmain": (100, 1),
    "renamed": (200, 1),
}


def wchar(pid: int) -> int:
    return io_of(pid)["wchar"]


def bpftrace_comms(pid: int):
    """The seed's listing, run by bpftrace itself for this process: started, then read at the end."""
    if shutil.which("bpftrace") is None:
        pytest.fail("bpftrace is needed as the ground truth of @[comm] (run-tests.sh installs it)")
    script = (
        f"tracepoint:syscalls:sys_exit_write /pid == {pid} && args->ret > 0/ "
        "{ @[comm] = sum(args->ret); @n[comm] = count(); }"
    )
    p = subprocess.Popen(["bpftrace", "-f", "json", "-e", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    line = b""
    while b"attached_probes" not in line:  # bpftrace says how many probes it attached, then counts
        assert time.monotonic() < deadline and p.poll() is None, p.stderr.read()
        line = p.stdout.readline()
    return p


def test_comms_equal_bpftrace_and_the_rename_is_seen(helper_bins):
    t = subprocess.Popen([helper_bins["threads"]], stdin=subprocess.PIPE)
    bt = bpftrace_comms(t.pid)
    w = start_wtop("--json", "-p", str(t.pid), "0.5")
    try:
        t.stdin.write(b"g")
        t.stdin.flush()
        deadline = time.monotonic() + 60
        while wchar(t.pid) < 1_500_300:  # the kernel's own accounting of its writes
            assert time.monotonic() < deadline and t.poll() is None
            time.sleep(0.05)
        assert wchar(t.pid) == 1_500_300
        w.send_signal(signal.SIGTERM)  # the partial interval is printed too
        out, err = w.communicate(timeout=60)
        bt.send_signal(signal.SIGINT)
        bt_out, _ = bt.communicate(timeout=60)
    finally:
        t.stdin.close()
        t.wait(10)
        for p in (w, bt):
            if p.poll() is None:
                p.kill()
    assert w.returncode == 0, err
    lines = [json.loads(x) for x in out.splitlines()]
    comms: dict[str, list[int]] = {}
    for d in lines:
        for c in d["comms"]:
            acc = comms.setdefault(c["comm"], [0, 0])
            acc[0] += c["bytes"]
            acc[1] += c["writes"]
    assert {k: tuple(v) for k, v in comms.items()} == EXPECTED
    maps = {}
    for x in bt_out.decode().splitlines():
        if not x.startswith("{"):
            continue
        x = json.loads(x)
        if x.get("type") == "map":
            maps.update(x["data"])
    assert {k: (v, maps["@n"][k]) for k, v in maps["@"].items()} == EXPECTED  # bpftrace agrees, name by name
    procs = [p for d in lines for p in d["processes"] if p["pid"] == t.pid]
    assert sum(p["bytes"] for p in procs) == 1_500_300
    assert procs[-1]["comm"] == "renamed"  # the process row shows its current name


IDLE = (
    "import os, sys; sys.stdin.read(1); fd = os.open('/dev/null', os.O_WRONLY)\n"
    "for _ in range(50): os.write(fd, b'x' * 1000)\n"
    "sys.stdin.read()"
)


@pytest.mark.parametrize("latency", [True, False], ids=["timed", "no-latency"])
def test_threads_that_share_one_slot_keep_their_own_names(helper_bins, latency):
    """Every thread in one start-time slot (slots=1), two of them writing at once on two CPUs:
    each write is counted once, under the name of the thread that made it. A name kept in the
    slot was written by one thread while the other copied it out (without sys_enter every call
    did that); and a thread whose exit read the slot as its own just before the other's enter
    filled it cleared the other's start, whose call was then taken for one wtop does not trace
    (1 to 7 writes lost in 1,500)."""
    from probes.live import LiveSource
    from probes.program import ProbeOptions

    for _ in range(6):  # the threads meet in the slot by chance: six rounds
        t = subprocess.Popen([helper_bins["threads"]], stdin=subprocess.PIPE)
        try:
            with LiveSource(ProbeOptions(pid=t.pid, slots=1, latency=latency)) as src:
                src.sample()
                t.stdin.write(b"g")
                t.stdin.flush()
                deadline = time.monotonic() + 60
                while wchar(t.pid) < 1_500_300:
                    assert time.monotonic() < deadline and t.poll() is None
                    time.sleep(0.01)
                s = src.sample()
        finally:
            t.stdin.close()
            t.wait(10)
        got = {}
        for th in s.threads:
            b, n = got.get(th.comm, (0, 0))
            got[th.comm] = (b + th.bytes, n + th.writes)
        assert src.kernel.opts.modern  # the lean programs, as on every kernel with BTF (5.17 on)
        assert got == EXPECTED
        tids = {}
        for th in s.threads:
            tids.setdefault(th.tid, set()).add(th.comm)
        assert sorted(map(sorted, tids.values())) == [["flusher"], ["logwriter"], ["renamed", "tmain"]]


def test_an_idle_process_keeps_its_exact_total_in_accumulated_mode():
    """iotop's a: a process that wrote and went quiet (alive) stays listed with its total, which
    equals the kernel's own accounting of it."""
    idle = subprocess.Popen([sys.executable, "-c", IDLE], stdin=subprocess.PIPE)
    p = start_wtop("--batch", "-a", "-n", "0", "-p", str(idle.pid), "0.3")
    try:
        idle.stdin.write(b"g")
        idle.stdin.flush()
        deadline = time.monotonic() + 60
        while wchar(idle.pid) < 50_000:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(1.5)  # quiet for several intervals, on purpose: it must stay listed
        total = wchar(idle.pid)
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=30)
    finally:
        idle.kill()
        idle.wait()
    last = out.decode().split("wtop ")[-1]
    row = next(line for line in last.splitlines() if line.split()[:1] == [str(idle.pid)])
    assert "0 B/s" in row and f"{total:,}" in row, (row, total)


# A process that names itself, forks a child that writes 100 bytes to /dev/null and ends, and
# prints the child's pid.
OLD = """
import ctypes, os
pid = os.fork()
if pid == 0:
    ctypes.CDLL(None).prctl(15, b"wtop-old", 0, 0, 0)
    os.write(os.open("/dev/null", os.O_WRONLY), b"x" * 100)
    os._exit(0)
os.waitpid(pid, 0)
print(pid)
"""

# A process named wtop-new that forks children (no exec, no rename: each inherits its name)
# until one gets the pid argv[1], which writes 200 bytes to /dev/null; prints whether it did.
NEW = """
import ctypes, os, sys
want = int(sys.argv[1])
ctypes.CDLL(None).prctl(15, b"wtop-new", 0, 0, 0)
for _ in range(500):
    with open("/proc/sys/kernel/ns_last_pid", "w") as f:
        f.write(str(want - 1))  # the next pid given out is the one after
    pid = os.fork()
    if pid == 0:
        if os.getpid() == want:
            os.write(os.open("/dev/null", os.O_WRONLY), b"x" * 200)
        os._exit(0)
    os.waitpid(pid, 0)
    if pid == want:
        print("reused")
        break
"""


def test_a_process_that_takes_the_id_of_one_that_ended_is_named_as_itself():
    """pids wrap (pid_max is 32768 by default) and a fork takes no new name: the writes of a
    process, and of its thread, with the id of a writer that ended are shown under its own
    name, not under the name the probes kept for the dead one."""
    if not os.path.exists("/proc/sys/kernel/ns_last_pid"):
        pytest.skip("this kernel cannot choose the next pid (/proc/sys/kernel/ns_last_pid)")
    from probes.live import LiveSource
    from probes.program import ProbeOptions

    with LiveSource(ProbeOptions()) as src:
        src.sample()
        old = int(subprocess.run([sys.executable, "-c", OLD], capture_output=True, text=True, check=True).stdout)
        s = src.sample()
        assert [(t.tid, t.comm, t.bytes) for t in s.threads if t.pid == old] == [(old, "wtop-old", 100)]
        out = subprocess.run([sys.executable, "-c", NEW, str(old)], capture_output=True, text=True, check=True)
        assert out.stdout.strip() == "reused", "another process kept taking that pid"
        s = src.sample()
    assert [(p.comm, p.bytes, p.writes) for p in s.processes if p.pid == old] == [("wtop-new", 200, 1)]
    assert [(t.tid, t.comm, t.bytes) for t in s.threads if t.pid == old] == [(old, "wtop-new", 200)]


# Writes 100 bytes as root, then runs again through setpriv as nobody, the same process
# (setpriv sets the ids, then execs), and writes 200 more.
AS_NOBODY = """
import os, sys
os.write(os.open("/dev/null", os.O_WRONLY), b"x" * (200 if sys.argv[1:] else 100))
if not sys.argv[1:]:
    again = [sys.executable, "-c", os.environ["WTOP_AS_NOBODY"], "again"]
    os.execv("/usr/bin/setpriv", ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", *again])
"""


def test_a_process_that_execs_as_another_user_is_shown_as_that_user():
    """su, setpriv and daemons' wrappers set the ids and then exec: the process's row shows
    the user it is now, as ps does, not the one it first wrote as."""
    from probes.live import LiveSource
    from probes.program import ProbeOptions

    with LiveSource(ProbeOptions()) as src:
        src.sample()
        p = subprocess.Popen([sys.executable, "-c", AS_NOBODY], env={**os.environ, "WTOP_AS_NOBODY": AS_NOBODY})
        assert p.wait(30) == 0
        s = src.sample()
    assert [(r.uid, r.bytes, r.writes) for r in s.processes if r.pid == p.pid] == [(65534, 300, 2)]


# One after another on one CPU, 300 children that each write once (i % 50 + 1 bytes) and end:
# a new task mostly takes the kernel stack the last one freed there, and with it the address
# of its saved registers, by which the probes know the current task without a helper call
# (writes.c: wtop_pid_tgid).
ONE_CPU_CHILDREN = """
import os
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
fd = os.open("/dev/null", os.O_WRONLY)
for i in range(300):
    pid = os.fork()
    if pid == 0:
        os.write(fd, b"x" * (i % 50 + 1))
        os._exit(0)
    print(pid, i % 50 + 1, flush=True)
    os.waitpid(pid, 0)
"""


@pytest.mark.parametrize("pace", [True, False], ids=["paced", "every call timed"])
def test_a_task_on_the_kernel_stack_of_one_that_ended_is_counted_as_itself(pace):
    """Every child's write is its own: none is counted under the child before it, whose
    registers sat at the same address."""
    from probes.live import LiveSource
    from probes.program import ProbeOptions

    with LiveSource(ProbeOptions(pace=pace)) as src:
        src.sample()
        out = subprocess.run([sys.executable, "-c", ONE_CPU_CHILDREN], capture_output=True, text=True, check=True)
        s = src.sample()
    want = {int(pid): int(n) for pid, n in (line.split() for line in out.stdout.splitlines())}
    got = {p.pid: (p.bytes, p.writes) for p in s.processes if p.pid in want}
    assert got == {pid: (n, 1) for pid, n in want.items()}
