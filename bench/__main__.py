"""Measure what wtop costs the machine it watches, against its peers in the same run.

    sudo .venv/bin/python -m bench            # everything (about 6 minutes)
    sudo .venv/bin/python -m bench --quick    # fewer, shorter runs (about 2 minutes)
    sudo .venv/bin/python -m bench write      # one part: write, dashboard, startup, terminal, scale,
                                              # disk, families, dirty

Prints figures and ratios; asserts nothing (these machines are shared and noisy).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import platform
import pty
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from probes import bpfsys

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
PY = sys.executable

# -- peers of the per-write cost ---------------------------------------------------------

# The floor: empty programs on exactly the tracepoints wtop attaches for a write(): the raw
# sys_enter and sys_exit, which every system call on the machine passes.
EMPTY = """
RAW_TRACEPOINT_PROBE(sys_enter) { return 0; }
RAW_TRACEPOINT_PROBE(sys_exit) { return 0; }
"""

# The floor with what latency cannot do without: a clock read at each end of the call
# (bpf_ktime_get_ns, kept from being optimized away). wtop can come no closer to the floor
# than this while it times every call; "x floor" of this line is that limit on this machine.
CLOCKS = """
RAW_TRACEPOINT_PROBE(sys_enter) { return bpf_ktime_get_ns() == 1; }
RAW_TRACEPOINT_PROBE(sys_exit) { return bpf_ktime_get_ns() == 1; }
"""

# One clock read, at the entry only: on the VMs wtop was measured on, the first clock read of a
# system call costs about twice the second (+75 and +34 ns by the wall clock here), so this
# alone is most of CLOCKS, and already more than half the floor.
ONE_CLOCK = """
RAW_TRACEPOINT_PROBE(sys_enter) { return bpf_ktime_get_ns() == 1; }
RAW_TRACEPOINT_PROBE(sys_exit) { return 0; }
"""

# The same on the per-call perf tracepoints wtop used before it traced every write path
# (syscalls:sys_enter_write and its kin): cheaper for the calls it does not trace, dearer
# for a write, and each one 30-80 ms to detach.
EMPTY_PER_CALL = (
    "\n".join(
        f"TRACEPOINT_PROBE({cat}, {event}) {{ return 0; }}"
        for cat, event in (
            ("syscalls", f"sys_{side}_{call}")
            for call in ("write", "pwrite64", "writev", "pwritev")
            for side in ("enter", "exit")
        )
    )
    + """
#define rwf_t u64
TRACEPOINT_PROBE(syscalls, sys_enter_pwritev2) { return 0; }
#undef rwf_t
TRACEPOINT_PROBE(syscalls, sys_exit_pwritev2) { return 0; }
"""
)

# What a first BCC attempt looks like (and what DESIGN.md measured at +1160 ns): start times
# in a hash by tid, bytes in a hash by comm with atomic adds, shared histograms.
NAIVE = r"""
struct key_t { char comm[16]; };
BPF_HASH(start, u32, u64, 65536);
BPF_HASH(bytes, struct key_t, u64, 32768);
BPF_HISTOGRAM(sizes, int, 64);
BPF_HISTOGRAM(lat, int, 64);
TRACEPOINT_PROBE(syscalls, sys_enter_write) {
    u32 tid = bpf_get_current_pid_tgid();
    u64 ts = bpf_ktime_get_ns();
    start.update(&tid, &ts);
    return 0;
}
TRACEPOINT_PROBE(syscalls, sys_exit_write) {
    u32 tid = bpf_get_current_pid_tgid();
    u64 *ts = start.lookup(&tid);
    if (ts) { lat.atomic_increment(bpf_log2l(bpf_ktime_get_ns() - *ts)); start.delete(&tid); }
    if (args->ret > 0) {
        struct key_t k = {};
        bpf_get_current_comm(&k.comm, sizeof(k.comm));
        u64 zero = 0, *v = bytes.lookup_or_try_init(&k, &zero);
        if (v) __sync_fetch_and_add(v, args->ret);
        sizes.atomic_increment(bpf_log2l(args->ret));
    }
    return 0;
}
"""

BPFTRACE = r"""
tracepoint:syscalls:sys_enter_write { @start[tid] = nsecs; }
tracepoint:syscalls:sys_exit_write /@start[tid]/ { @lat = hist(nsecs - @start[tid]); delete(@start[tid]); }
tracepoint:syscalls:sys_exit_write /args->ret > 0/ { @bytes[comm] = sum(args->ret); @sizes = hist(args->ret); }
"""


def compiler() -> str:
    """The C compiler the writers are built with; without one, bench ends with a line saying so."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        sys.exit("bench: its writers are C programs, and no C compiler is here: apt-get install gcc")
    return cc


def build(tmp: Path) -> dict[str, str]:
    cc = compiler()
    out = {}
    for name in ("writebench", "forker", "families"):
        exe = tmp / name
        subprocess.run([cc, "-O2", "-pthread", "-o", str(exe), str(HERE / f"{name}.c")], check=True)
        out[name] = str(exe)
    return out


class Bcc:
    def __init__(self, text: str):
        from bcc import BPF

        self.bpf = BPF(text=text)

    def close(self):
        self.bpf.cleanup()


class Wtop:
    """wtop's real probes, drained every second by a thread as the dashboard does."""

    def __init__(self, focus: bool = False, latency: bool = True, pace: bool = True):
        from probes.live import LiveSource
        from probes.program import ProbeOptions

        self.src = LiveSource(ProbeOptions(latency=latency, pace=pace))
        self.focus = focus
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.t = threading.Thread(target=self.loop, daemon=True)
        self.t.start()

    def loop(self):
        while not self.stop.wait(1.0):
            with self.lock:
                self.src.sample()

    def writer_started(self, pid: int) -> None:
        """With focus: the writer's page is open (its writes are counted a second time)."""
        if self.focus:
            with self.lock:
                self.src.set_focus(pid)
                self.src.sample()  # applies the focus now

    def close(self):
        self.stop.set()
        self.t.join()
        self.src.close()


class Dashboard:
    """The dashboard itself, as a user runs it: `wtop` at 120x40 on a pseudo-terminal, its
    screen redrawn every second (Pty below). The writer starts once the dashboard has shown
    its first figures and then settled (a quarter second under 10% of a core: right after
    the first figures it finishes laying out its screen, 30-40% of a core for 0.25 s)."""

    def __init__(self):
        os.chdir(ROOT)
        self.term = Pty(WTOP, 120, 40)
        deadline = time.monotonic() + 30
        while not self.term.seen(b"skipped"):
            if time.monotonic() > deadline:
                self.term.close()
                raise RuntimeError("the dashboard showed no figures in 30 s")
            time.sleep(0.01)
        cpu, t = proc_cpu_s(self.term.pid), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.25)
            cpu2, t2 = proc_cpu_s(self.term.pid), time.monotonic()
            if cpu2 - cpu < 0.1 * (t2 - t):
                break
            cpu, t = cpu2, t2

    def close(self):
        self.term.close()
        while detaching():  # its perf events closing in a child: not during the next peer
            time.sleep(0.01)


class Bpftrace:
    def __init__(self, script: str):
        self.p = subprocess.Popen(
            ["bpftrace", "-e", script],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        # bpftrace may warn first (it cannot raise RLIMIT_MEMLOCK in some sandboxes; kernels
        # since 5.11 account BPF memory to the cgroup instead, so it still loads).
        seen = []
        for line in self.p.stdout:
            seen.append(line.strip())
            if line.startswith("Attaching"):
                break
        else:
            raise RuntimeError("bpftrace did not start: " + " / ".join(seen))
        time.sleep(0.3)

    def close(self):
        """Ctrl+C; then, if it is still printing its maps after 30 s (bpftrace 0.17 once hung
        here on a loaded machine, and took the whole run with it), killed: its figures were
        already read."""
        self.p.send_signal(signal.SIGINT)
        try:
            self.p.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.p.pid, signal.SIGKILL)
            self.p.communicate()


class Nothing:
    def close(self):
        pass


CLOCKS_PEER = "floor + one clock read each (latency)"
ONE_CLOCK_PEER = "floor + one clock read at entry only"
NO_LATENCY_PEER = "wtop --no-latency (nothing timed)"
EVERY_CALL_PEER = "wtop --time-every-call"
BPFTRACE_PEER = "bpftrace (same figures)"
PEERS = {
    "none": Nothing,
    "floor (empty programs, same tracepoints)": lambda: Bcc(EMPTY),
    CLOCKS_PEER: lambda: Bcc(CLOCKS),
    ONE_CLOCK_PEER: lambda: Bcc(ONE_CLOCK),
    "empty programs, per-call tracepoints": lambda: Bcc(EMPTY_PER_CALL),
    "wtop (default probes, drained 1/s)": Wtop,
    "wtop, the writer's own page open": lambda: Wtop(focus=True),
    EVERY_CALL_PEER: lambda: Wtop(pace=False),
    NO_LATENCY_PEER: lambda: Wtop(latency=False),
    "wtop, the dashboard at 120x40": Dashboard,
    "naive BCC (hashes, atomics)": lambda: Bcc(NAIVE),
    BPFTRACE_PEER: lambda: Bpftrace(BPFTRACE),
}


def peer_names(other: bool) -> list[str]:
    """The peers that run here: bpftrace where it is installed; the clock reads' peers only
    per write (other: per getppid, where they would read the clock on a call wtop does not time)."""
    clocks = (CLOCKS_PEER, ONE_CLOCK_PEER)
    return [k for k in PEERS if (k != BPFTRACE_PEER or shutil.which("bpftrace")) and not (other and k in clocks)]


def ns_per_write(writebench: str, n: int, threads: int, peer=None, other: bool = False) -> float:
    p = subprocess.Popen(
        [writebench, str(n), str(threads), "wait", *(["other"] if other else [])],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    hook = getattr(peer, "writer_started", None)
    if hook:
        hook(p.pid)
    out, _ = p.communicate("g")
    if p.returncode:
        raise RuntimeError(f"writebench failed ({p.returncode})")
    return float(out)


def bench_write(bins, n: int, reps: int, threads: int, other: bool = False) -> dict[str, float]:
    """Median ns/write per peer (other: ns per getppid, a call wtop does not trace); the peers
    take turns each round so drift hits them alike."""
    names = peer_names(other)
    if not shutil.which("bpftrace"):
        print("  (bpftrace not installed: apt-get install bpftrace)")
    samples = {k: [] for k in names}
    for _ in range(reps):
        for name in names:
            peer = PEERS[name]()
            try:
                samples[name].append(ns_per_write(bins["writebench"], n, threads, peer, other))
            finally:
                peer.close()
    return {k: statistics.median(v) for k, v in samples.items()}


def bench_write_runtime(bins, n: int, reps: int, other: bool = False) -> None:
    """The second figure for part 1, steadier than the wall clock on a shared machine: the
    kernel's own run time of each peer's programs per write (kernel.bpf_stats_enabled), the
    programs being those that appeared with the peer. bpf_stats adds two clock reads to each
    run, so these runs are apart from the wall-clock ones. other: per getppid() instead."""
    names = [k for k in peer_names(other) if k != "none"]
    got: dict[str, list[float]] = {k: [] for k in names}
    with bpf_stats():
        for _ in range(reps):
            for name in names:
                peer, ids = with_new_programs(PEERS[name])
                try:
                    t0 = id_run_ns(ids)
                    ns_per_write(bins["writebench"], n, 1, peer, other)
                    got[name].append((id_run_ns(ids) - t0) / n)
                finally:
                    peer.close()
    med = {k: statistics.median(v) for k, v in got.items()}
    floor = med["floor (empty programs, same tracepoints)"]
    bt = None if other else med.get(BPFTRACE_PEER)  # its programs do not run on getppid
    what = "getppid" if other else "write"
    print(f"\n   the same by the kernel's own clock (bpf_stats): the programs' run time per {what}, median of {reps}")
    print(f"  {'peer':<42} {'ns/' + what:>11} {'x floor':>8} {'x bpftrace':>11}")
    for name, v in med.items():
        xb = f"{v / bt:.2f}" if bt else ""
        print(f"  {name:<42} {v:11.0f} {v / floor:8.2f} {xb:>11}")
    print(f"  (both programs of each {what}, sys_enter and sys_exit; bpf_stats adds about two clock reads a run)")
    if NO_LATENCY_PEER in med:
        print(f"  (wtop --no-latency runs one program a {what}: sys_exit)")
    if other:
        print("  (the per-call tracepoints' programs, BCC's and bpftrace's, do not run on getppid: 0)")
        return
    w = med["wtop (default probes, drained 1/s)"]
    if bt and bt > floor:
        print(
            f"  above the empty programs (their run time is mostly bpf_stats' own): wtop {w - floor:.0f} ns, "
            f"bpftrace {bt - floor:.0f} ns, {(w - floor) / (bt - floor):.2f}x"
        )


def report_write(title: str, med: dict[str, float], targets: bool = True) -> None:
    base = med["none"]
    floor = med["floor (empty programs, same tracepoints)"] - base
    bt = med.get(BPFTRACE_PEER)
    print(f"\n{title}")
    print(f"  {'peer':<42} {'ns/call':>9} {'added':>8} {'x floor':>8} {'x bpftrace':>11}")
    for name, v in med.items():
        added = v - base
        xf = f"{added / floor:.2f}" if name != "none" and floor > 0 else ""
        xb = f"{added / (bt - base):.2f}" if bt and name != "none" else ""
        print(f"  {name:<42} {v:9.0f} {added:+8.0f} {xf:>8} {xb:>11}")
    if not targets:
        return
    w = med["wtop (default probes, drained 1/s)"] - base
    print(f"  targets: wtop added <= 1.5x floor ({w / floor:.2f}x, a storm's timing paced)", end="")
    if bt:
        print(f", <= 0.3x bpftrace ({w / (bt - base):.2f}x)")
    else:
        print()
    clocks, one, every = med.get(CLOCKS_PEER), med.get(ONE_CLOCK_PEER), med.get(EVERY_CALL_PEER)
    if clocks and one:
        print(
            f"  the two clock reads that time a call, alone: {(clocks - base) / floor:.2f}x floor (the first "
            f"alone {(one - base) / floor:.2f}x)"
        )
        if every:
            print(
                f"  wtop --time-every-call: {(every - base) / floor:.2f}x floor; its work beyond the two reads: "
                f"{every - clocks:+.0f} ns"
            )
    nl = med.get(NO_LATENCY_PEER)
    if nl:
        print(f"  wtop --no-latency, which times nothing: {(nl - base) / floor:.2f}x floor (target 1.5x)")


# -- the dashboard, measured from outside --------------------------------------------------


def proc_cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_hwm_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Pty:
    """A program on a pseudo-terminal of a fixed size; counts every byte it writes there."""

    def __init__(self, argv: list[str], cols: int, rows: int, env: dict[str, str] | None = None):
        import fcntl
        import struct
        import termios

        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execvpe(argv[0], argv, {**os.environ, "TERM": "xterm-256color", **(env or {})})
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        os.kill(self.pid, signal.SIGWINCH)
        self.bytes = 0
        self.buf = bytearray()
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.t = threading.Thread(target=self.drain, daemon=True)
        self.t.start()

    def drain(self):
        while not self.stop.is_set():
            r, _, _ = select.select([self.fd], [], [], 0.1)
            if r:
                try:
                    data = os.read(self.fd, 65536)
                except OSError:
                    return
                if not data:
                    return
                with self.lock:
                    self.bytes += len(data)
                    self.buf += data
                    del self.buf[:-200_000]

    def seen(self, text: bytes) -> bool:
        with self.lock:
            return text in self.buf

    def close(self) -> float:
        """SIGTERM, then wait: the seconds until the program was gone."""
        t0 = time.monotonic()
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = t0 + 5
        while time.monotonic() < deadline:
            if os.waitpid(self.pid, os.WNOHANG)[0]:
                break
            time.sleep(0.002)
        else:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        took = time.monotonic() - t0
        self.stop.set()
        self.t.join()
        os.close(self.fd)
        return took


WTOP = [PY, "-m", "tui.cli"]


def load(bins, tmp: Path, processes: int, fast: int, files: Path | None = None) -> list[subprocess.Popen]:
    """processes writers writing once a second, plus fast ones writing as fast as they can; to
    /dev/null, or with files (a directory on a disk), 4 KiB a second each to a file of its own:
    a page dirtied a second, which iotop-c shows as DISK WRITE (a /dev/null writer it does not
    show at all, and then it redraws nothing)."""
    writer = tmp / "writer"
    subprocess.run([compiler(), "-O2", "-pthread", "-o", str(writer), str(ROOT / "tests/helpers/writer.c")], check=True)
    procs = []
    for i in range(processes):
        target = str(files / f"load{i}.log") if files else "/dev/null"
        size = "1024" if files else "512"
        procs.append(
            subprocess.Popen([str(writer), f"load{i % 50}", size, "4", target, "1000"], stdin=subprocess.DEVNULL)
        )
    for i in range(fast):
        procs.append(
            subprocess.Popen([str(writer), f"fast{i}", "64", str(10**12), "/dev/null"], stdin=subprocess.DEVNULL)
        )
    return procs


def stop(procs):
    for p in procs:
        p.kill()
    for p in procs:
        p.wait()


@contextlib.contextmanager
def loaded(bins, tmp: Path, processes: int, fast: int, to_files: bool = False):
    """Run the block while `load` runs; the writers (and their files) are gone afterwards,
    whatever happens."""
    files = Path(tempfile.mkdtemp(prefix="wtop-bench-", dir="/var/tmp")) if to_files else None
    procs = load(bins, tmp, processes, fast, files)
    try:
        yield
    finally:
        stop(procs)
        if files:
            shutil.rmtree(files, ignore_errors=True)


def bench_dashboard(seconds: float, label: str) -> tuple[float, float]:
    dash = Dashboard()  # past start-up: its first figures shown, and settled
    try:
        pid = dash.term.pid
        c0, t0 = proc_cpu_s(pid), time.monotonic()
        time.sleep(seconds)
        c1, t1 = proc_cpu_s(pid), time.monotonic()
        hwm = proc_hwm_mb(pid)
    finally:
        dash.close()
    cpu = 100 * (c1 - c0) / (t1 - t0)
    print(f"  {label:<40} CPU {cpu:5.2f}% of a core   peak RSS {hwm:6.1f} MB")
    return cpu, hwm


def detaching() -> bool:
    """Whether a wtop that ended is still closing its perf events (its child, wtop-detach)."""
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if Path(f"/proc/{d}/comm").read_text().strip() == "wtop-detach":
                    return True
            except OSError:
                pass
    return False


def bench_startup(reps: int, label: str = "") -> None:
    os.chdir(ROOT)
    times, exits = [], []
    for _ in range(reps):
        # an idle start, not one behind the last run's detaching: that child holds the kernel's
        # tracefs lock for ~160 ms, and the next start's first read of tracefs waits for it
        while detaching():
            time.sleep(0.01)
        t0 = time.monotonic()
        term = Pty(WTOP, 120, 40)
        while not term.seen(b"skipped") and time.monotonic() - t0 < 15:
            time.sleep(0.005)
        times.append(time.monotonic() - t0)
        exits.append(term.close())
    print(
        f"  {label + ': ' if label else ''}exec to first live screen: median {statistics.median(times):.2f}s "
        f"(min {min(times):.2f}, max {max(times):.2f}, {reps} runs; targets 0.5 s idle, 1.5 s loaded)\n"
        f"  {' ' * (len(label) + 2) if label else ''}SIGTERM to gone (probes detached, summary printed): "
        f"median {statistics.median(exits):.2f}s (min {min(exits):.2f}, max {max(exits):.2f})"
    )


def bench_terminal(seconds: float, label: str, target: str) -> None:
    """Bytes a second to a 120x40 terminal, wtop's and its peers', each alone; the ratio to
    `target` is the one with a target (htop idle, iotop-c loaded: it shows per-process rates
    that change every second, as wtop does), the other's is for comparison."""
    os.chdir(ROOT)
    print(f"  {label}:")
    results = {}
    peers = (("wtop", WTOP), ("htop -d 10", ["htop", "-d", "10"]), ("iotop-c -d 1", ["iotop-c", "-d", "1"]))
    for name, argv in peers:
        if not shutil.which(argv[0]) and argv[0] != PY:
            print(f"  ({argv[0]} not installed: apt-get install {argv[0]})")
            continue
        term = Pty(argv, 120, 40)
        time.sleep(4)  # past start-up
        b0, t0 = term.bytes, time.monotonic()
        time.sleep(seconds)
        b1, t1 = term.bytes, time.monotonic()
        term.close()
        results[name] = (b1 - b0) / (t1 - t0)
    for name, v in results.items():
        print(f"    {name:<12} {v / 1024:7.2f} KiB/s to a 120x40 terminal, refreshing every second")
    for peer in ("htop -d 10", "iotop-c -d 1"):
        if "wtop" in results and results.get(peer):
            what = "target <= 1" if peer == target else "for comparison"
            print(f"    wtop / {peer.split()[0]}: {results['wtop'] / results[peer]:.2f}x ({what})")


BPFTRACE_DISK = r"""
tracepoint:block:block_rq_issue /strncmp(args->rwbs, "W", 1) == 0/ { @start[args->dev, args->sector] = nsecs; }
tracepoint:block:block_rq_complete /@start[args->dev, args->sector]/ {
  @bytes[args->dev] = sum(args->nr_sector * 512);
  @lat = hist(nsecs - @start[args->dev, args->sector]);
  delete(@start[args->dev, args->sector]);
}
"""


def prog_run_ns(fds: list[int]) -> int:
    """run_time_ns summed over programs, from fdinfo (kernel.bpf_stats_enabled)."""
    return prog_runs(fds)[0]


def id_run_ns(ids: set[int]) -> int:
    """run_time_ns of the programs of these ids (bpftrace's: those that appeared with it)."""
    return bpfsys.prog_runs(ids)[0]


@contextlib.contextmanager
def bpf_stats():
    """kernel.bpf_stats_enabled on for the block (each program's run time and count), back to
    what it was afterwards, whatever happens."""
    stats = Path("/proc/sys/kernel/bpf_stats_enabled")
    was = stats.read_text().strip()
    stats.write_text("1")
    try:
        yield
    finally:
        stats.write_text(was)


def with_new_programs(make):
    """(the peer make() started, the ids of the BPF programs that appeared with it)."""
    before = bpfsys.prog_ids()
    peer = make()
    return peer, bpfsys.prog_ids() - before


def bench_disk(n: int, reps: int) -> None:
    """What the block probes cost per write request, measured by the kernel itself
    (kernel.bpf_stats_enabled: each program's run time and run count). The request's own
    time is far too noisy here to show a difference of a few hundred ns (about 30 us, +-5 us
    between runs), so the probes' time is measured directly, as `bpftool prog` shows it."""
    backing = Path("/dev/shm/wtop-bench-disk.img")
    with open(backing, "wb") as f:
        f.truncate(n * 4096)
    dev = subprocess.run(["losetup", "-f", "--show", str(backing)], capture_output=True, text=True, check=True)
    loop = dev.stdout.strip()
    dd = ["dd", "if=/dev/zero", f"of={loop}", "bs=4k", f"count={n}", "oflag=direct", "status=none"]
    results: dict[str, list[tuple[float, float]]] = {"wtop (block programs)": []}
    if shutil.which("bpftrace"):
        results["bpftrace (issue->complete hist, bytes)"] = []

    def measure(run_ns) -> tuple[float, float]:
        """(probe ns per request, wall ns per request) of one dd run; run_ns() reads the probes' time."""
        t0, a = run_ns(), time.perf_counter()
        subprocess.run(dd, check=True)
        wall = (time.perf_counter() - a) * 1e9 / n
        return (run_ns() - t0) / n, wall

    try:
        with bpf_stats():
            for _ in range(reps):
                w = Wtop()
                try:
                    fds = [
                        fd for fd, tp in zip(w.src.prog_fds(), w.src.opts.tracepoints, strict=True) if tp[0] == "block"
                    ]
                    results["wtop (block programs)"].append(measure(functools.partial(prog_run_ns, fds)))
                finally:
                    w.close()
                if "bpftrace (issue->complete hist, bytes)" in results:
                    bt, ids = with_new_programs(functools.partial(Bpftrace, BPFTRACE_DISK))
                    try:
                        results["bpftrace (issue->complete hist, bytes)"].append(
                            measure(functools.partial(id_run_ns, ids))
                        )
                    finally:
                        bt.close()
    finally:
        subprocess.run(["losetup", "-d", loop], check=False)
        backing.unlink()
    print(f"  {'peer':<42} {'probe ns/request':>17} {'request ns (wall)':>18}")
    for name, v in results.items():
        print(f"  {name:<42} {statistics.median(x[0] for x in v):17.0f} {statistics.median(x[1] for x in v):18.0f}")
    w = statistics.median(x[0] for x in results["wtop (block programs)"])
    if len(results) > 1:
        b = statistics.median(x[0] for x in results["bpftrace (issue->complete hist, bytes)"])
        print(f"  wtop / bpftrace: {w / b:.2f}x; both run on issue and on completion, off the write() path")


FAMILY_CALLS = {"send": "sendto", "copy": "copy_file_range", "sync": "fdatasync"}


def bpftrace_family(call: str, nbytes: bool = True) -> str:
    """bpftrace computing what wtop computes for one call: latency, and bytes by name and sizes."""
    script = (
        f"tracepoint:syscalls:sys_enter_{call} {{ @start[tid] = nsecs; }}\n"
        f"tracepoint:syscalls:sys_exit_{call} /@start[tid]/ {{ @lat = hist(nsecs - @start[tid]); "
        "delete(@start[tid]); @n[comm] = count(); }\n"
    )
    if nbytes:
        script += (
            f"tracepoint:syscalls:sys_exit_{call} /args->ret > 0/ "
            "{ @bytes[comm] = sum(args->ret); @sizes = hist(args->ret); }\n"
        )
    return script


def bench_families(bins, n: int, reps: int) -> None:
    """What each new family costs per call, measured by the kernel itself (bpf_stats): wtop's
    sys_enter and sys_exit programs against bpftrace on the call's own tracepoints."""

    def run(kind: str, run_ns) -> float:
        t0 = run_ns()
        subprocess.run([bins["families"], kind, str(n)], input="g", text=True, check=True)
        return (run_ns() - t0) / n

    rows = []
    with bpf_stats():
        for kind, call in FAMILY_CALLS.items():
            got: dict[str, list[float]] = {"wtop": [], "bpftrace": []}
            for _ in range(reps):
                w = Wtop()
                try:
                    fds = w.src.prog_fds()[:2]  # raw sys_enter and sys_exit
                    got["wtop"].append(run(kind, functools.partial(prog_run_ns, fds)))
                finally:
                    w.close()
                if shutil.which("bpftrace"):
                    bt, ids = with_new_programs(functools.partial(Bpftrace, bpftrace_family(call, kind != "sync")))
                    try:
                        got["bpftrace"].append(run(kind, functools.partial(id_run_ns, ids)))
                    finally:
                        bt.close()
            rows.append((kind, call, got))
    print(f"  {'family':<8} {'call':<16} {'wtop ns/call':>13} {'bpftrace ns/call':>17} {'wtop / bpftrace':>16}")
    for kind, call, got in rows:
        w = statistics.median(got["wtop"])
        b = statistics.median(got["bpftrace"]) if got["bpftrace"] else None
        ratio = f"{w / b:.2f}x" if b else "-"
        print(f"  {kind:<8} {call:<16} {w:13.0f} {b or 0:17.0f} {ratio:>16}")
    print("  (the programs' run time per call, both ends, from bpf_stats, which adds two clock reads to each run)")


BPFTRACE_DIRTY = "tracepoint:writeback:writeback_dirty_folio { @[pid, args->name] = count(); }"
"""bpftrace counting what wtop's dirtying program counts: folios by process and device."""


def prog_runs(fds: list[int]) -> tuple[int, int]:
    """(run_time_ns, run_cnt) summed over programs, from fdinfo (kernel.bpf_stats_enabled)."""
    t = c = 0
    for fd in fds:
        t1, c1 = bpfsys.fd_runs(fd)
        t += t1
        c += c1
    return t, c


def bench_dirty(n: int, reps: int) -> None:
    """What the dirtying program costs per dirtied folio (bpf_stats: its run time over its run
    count), against bpftrace counting the same, with dd writing n 4 KiB blocks to a new file on
    the disk (each run a fresh file: every block dirties a page, or a large folio once)."""
    path = Path(tempfile.mkdtemp(prefix="wtop-bench-", dir="/var/tmp")) / "dirty.bin"
    dd = ["dd", "if=/dev/zero", f"of={path}", "bs=4k", f"count={n}", "status=none"]

    def run(runs) -> float:
        t0, c0 = runs()
        subprocess.run(dd, check=True)
        t1, c1 = runs()
        path.unlink()
        return (t1 - t0) / max(1, c1 - c0)

    got: dict[str, list[float]] = {"wtop (dirty folio program)": [], "bpftrace (@[pid, bdi] = count())": []}
    try:
        with bpf_stats():
            for _ in range(reps):
                w = Wtop()
                try:
                    fds = [
                        fd
                        for fd, tp in zip(w.src.prog_fds(), w.src.opts.tracepoints, strict=True)
                        if tp[0] == "writeback"
                    ]
                    got["wtop (dirty folio program)"].append(run(functools.partial(prog_runs, fds)))
                finally:
                    w.close()
                if shutil.which("bpftrace"):
                    bt, ids = with_new_programs(functools.partial(Bpftrace, BPFTRACE_DIRTY))
                    try:
                        got["bpftrace (@[pid, bdi] = count())"].append(run(functools.partial(bpfsys.prog_runs, ids)))
                    finally:
                        bt.close()
    finally:
        shutil.rmtree(path.parent, ignore_errors=True)
    print(f"  {'peer':<36} {'ns per dirtied folio':>21}")
    for name, v in got.items():
        if v:
            print(f"  {name:<36} {statistics.median(v):21.0f}")
    w, b = got["wtop (dirty folio program)"], got["bpftrace (@[pid, bdi] = count())"]
    if w and b:
        print(
            f"  wtop / bpftrace: {statistics.median(w) / statistics.median(b):.2f}x (off the write() path to /dev/null)"
        )


def bench_scale(bins, n: int, reps: int) -> None:
    """reps bursts of n new processes writing in one interval, each with a fresh wtop and a
    fresh forker: the drain of one burst swings by a third between runs here."""
    runs = [_burst(bins, n) for _ in range(reps)]
    children, skipped, full = runs[-1][:3]
    print(f"  {n:,} processes writing in one interval: {children:,} seen, skipped {skipped} (map full {full})")
    drains, idles, lates, ends = (sorted(r[i] * 1000 for r in runs) for i in (3, 4, 5, 6))
    print(
        f"  drain: {statistics.median(drains):.1f} ms for that interval, {statistics.median(idles):.1f} ms for the "
        f"next, {statistics.median(lates):.1f} ms for the one after (all idle, alive), median of {reps}; "
        "target < 50 ms"
    )
    print(
        f"    bursts {', '.join(f'{d:.1f}' for d in drains)} ms; next {', '.join(f'{d:.1f}' for d in idles)} ms; "
        f"after {', '.join(f'{d:.1f}' for d in lates)} ms"
    )
    print("    (the next interval reads every cell again: a call in flight across a read is read in the one after)")
    print(
        f"  then all of them end: {statistics.median(ends):.1f} ms for the interval that frees them "
        f"({', '.join(f'{d:.1f}' for d in ends)} ms; {runs[-1][7]:,} processes seen to end in the last)"
    )


def _burst(bins, n: int) -> tuple[int, int, int, float, float, float, float, int]:
    """(children seen with both writes, skipped, map full, the burst's drain s, the next's s,
    the one after's s, the drain s of the interval in which they all ended, how many it saw end)."""
    from probes.live import LiveSource
    from probes.program import ProbeOptions

    forker = subprocess.Popen(
        [bins["forker"], str(n)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert forker.stdout.readline().strip() == "ready"
        with LiveSource(ProbeOptions()) as src:
            src.sample()
            before = src.kernel.read_cpu()["writes"]
            forker.stdin.write("g")
            forker.stdin.flush()
            assert forker.stdout.readline().strip() == "done"
            # "done" comes once the parent read every child's byte, and a child's write is
            # counted at its call's exit, just after: until the kernel's total holds them all
            deadline = time.monotonic() + 10
            while src.kernel.read_cpu()["writes"] < before + 2 * n and time.monotonic() < deadline:
                time.sleep(0.001)
            t0 = time.perf_counter()
            snap = src.sample()
            took = [time.perf_counter() - t0]
            for _ in range(2):  # then idle, all alive
                t0 = time.perf_counter()
                src.sample()
                took.append(time.perf_counter() - t0)
            forker.stdin.close()
            forker.wait(60)  # it ends its children and waits for every one: their exit records are in
            t0 = time.perf_counter()
            ended = src.sample()
            took.append(time.perf_counter() - t0)
        children = sum(1 for p in snap.processes if p.comm == "forker" and p.writes == 2)
        return children, snap.skipped.total, snap.skipped.map_full, *took, len(ended.exited)
    finally:
        if not forker.stdin.closed:
            forker.stdin.close()
        forker.wait(60)


def cpu_model() -> str:
    """The CPU's model as /proc/cpuinfo names it (figures differ between CPUs of one kind of
    machine), else the architecture."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.machine()


def main() -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "parts",
        nargs="*",
        default=["write", "dashboard", "startup", "terminal", "scale", "disk", "families", "dirty"],
    )
    ap.add_argument("--quick", action="store_true", help="fewer and shorter runs")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench: run it as root (it loads BPF programs): sudo .venv/bin/python -m bench", file=sys.stderr)
        return 1
    sys.path.insert(0, str(ROOT))
    q = args.quick
    print(
        f"wtop benchmark on {platform.node()}: Linux {platform.release()}, {os.cpu_count()} CPUs ({cpu_model()}), "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB; "
        f"{'quick' if q else 'full'} run, {time.strftime('%Y-%m-%d %H:%M')}"
    )
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        bins = build(tmp)
        if "write" in args.parts:
            n, reps = (500_000, 3) if q else (2_000_000, 5)
            med = bench_write(bins, n, reps, 1)
            report_write(f"1. cost per 64-byte write() to /dev/null, median of {reps} x {n:,}, one writer", med)
            bench_write_runtime(bins, n, reps)
            ncpu = os.cpu_count() or 1
            med = bench_write(bins, n // 2, reps, ncpu)
            report_write(f"   the same with {ncpu} writer threads (one per core), ns per write per thread", med)
            med = bench_write(bins, n, reps, 1, other=True)
            report_write(
                f"   the tax on a call wtop does not trace: getppid(), median of {reps} x {n:,}, one caller",
                med,
                targets=False,
            )
            bench_write_runtime(bins, n, reps, other=True)
        if "dashboard" in args.parts:
            secs = 15 if q else 60
            print(f"\n2. the dashboard's own cost over {secs}s at 120x40 (from /proc/<pid>/stat and status)")
            bench_dashboard(secs, "idle system")
            with loaded(bins, tmp, 1000, 2):
                bench_dashboard(secs, "1,000 writers/s + 2 flat out")
            print("  targets: CPU <= 1% idle, <= 3% loaded; RSS <= 150 MB")
        if "startup" in args.parts:
            print("\n3. start-up")
            bench_startup(3 if q else 7, "idle system")
            with loaded(bins, tmp, 0, 4):
                bench_startup(3 if q else 7, "4 processes writing flat out")
        if "terminal" in args.parts:
            secs = 10 if q else 30
            print(f"\n4. terminal traffic over {secs}s, each measured alone, the same load for all")
            bench_terminal(secs, "idle system", "htop -d 10")
            with loaded(bins, tmp, 100, 0, to_files=True):
                bench_terminal(secs, "100 writers each appending 4 KiB a second to a file", "iotop-c -d 1")
        if "scale" in args.parts:
            print("\n5. scale")
            bench_scale(bins, 10_000, 3 if q else 7)
        if "disk" in args.parts:
            n, reps = (5_000, 3) if q else (20_000, 5)
            print(f"\n6. cost per disk write request: {n:,} O_DIRECT 4 KiB writes to a loop device, median of {reps}")
            bench_disk(n, reps)
        if "families" in args.parts:
            n, reps = (100_000, 3) if q else (500_000, 5)
            print(f"\n7. cost per call of the other families (bpf_stats), {n:,} calls each, median of {reps}")
            bench_families(bins, n, reps)
        if "dirty" in args.parts:
            n, reps = (20_000, 3) if q else (100_000, 5)
            print(f"\n8. cost per dirtied folio (bpf_stats): dd of {n:,} 4 KiB blocks to a new file, median of {reps}")
            bench_dirty(n, reps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
