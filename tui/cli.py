"""The `wtop` command: options, preflight checks with one-line errors, then the dashboard."""

from __future__ import annotations

import argparse
import os
import platform
import re
import sys
from pathlib import Path

from probes import __version__

EXAMPLES = """\
examples:
  sudo wtop                 live dashboard, refreshed every second
  sudo wtop -i 2            refresh every 2 seconds (or: sudo wtop 2)
  sudo wtop -p 1234         only process 1234 (filtered in the kernel)
  sudo wtop -c postgres     only threads named postgres
  sudo wtop -u www-data     only writes by user www-data
  sudo wtop --cgroup system.slice/nginx.service    only that service (cgroup v2)
  sudo wtop --sla 1ms       count writes slower than 1 ms
  sudo wtop --sync-sla 20ms count fsync calls slower than 20 ms
  sudo wtop --no-latency    who writes what, at about two thirds the cost a write: nothing timed
  sudo wtop --time-every-call   time every call, storms too (they are paced by default)
  sudo wtop --batch 5 12    plain text every 5 s, 12 times, no screen (as top -b)
  sudo wtop -b -a 10        every process since start, by total, every 10 s (as iotop -b -a)
  sudo wtop --json | jq .   one JSON object per interval (schema wtop/1)
  sudo wtop --record incident.wtop.gz       the dashboard, recorded as it runs
  wtop --replay incident.wtop.gz            look at it later, anywhere, without root
  wtop --replay incident.wtop.gz --json     a recording as JSON lines
  sudo wtop --no-tui --prometheus 9100      metrics on 127.0.0.1:9100/metrics, no screen
  wtop --ebpf               print the BPF program and exit

views: 1 top writers, 2 write sizes, 3 write latency, 4 files, 5 containers, 6 disks (tab cycles)
keys: enter a process's own page (escape back), s sort, g group by thread name, a accumulated,
      H threads, t to/via, c histogram period, / filter, p pause, ? help, q quit
"""

DEFAULT_SLA_NS = 10_000_000
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ns|us|µs|ms|s)\s*$")
_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000}


def duration_ns(text: str) -> int:
    m = _DURATION.match(text)
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as 500us, 10ms or 1s")
    ns = int(float(m.group(1)) * _UNITS[m.group(2)])
    if ns <= 0:
        raise argparse.ArgumentTypeError("the duration must be above zero")
    return ns


def interval(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0.1 <= v <= 3600:
        raise argparse.ArgumentTypeError("the interval is 0.1 to 3600 seconds")
    return v


def pid(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 2**22 + 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a process ID")
    return int(text)


def comm(text: str) -> str:
    if not text or len(text.encode()) > 15:
        raise argparse.ArgumentTypeError("a process name (comm) is 1 to 15 bytes, as in /proc/PID/comm")
    return text


def user(text: str) -> int:
    if text.isdigit():
        return int(text)
    import pwd

    try:
        return pwd.getpwnam(text).pw_uid
    except KeyError:
        raise argparse.ArgumentTypeError(f"no user named {text!r}") from None


def count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a count of intervals (1 or more)")
    return int(text)


def top_n(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of processes")
    return int(text)


def map_size(text: str) -> int:
    if not text.isdigit() or not 16 <= int(text) <= 1_048_576:
        raise argparse.ArgumentTypeError("--map-size is 16 to 1048576")
    return int(text)


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        self.exit(2, f"wtop: {message} (see wtop --help)\n")


def parser() -> argparse.ArgumentParser:
    from probes.program import PACE_GAP_NS, PACE_RUN, PACE_SHIFT_MAX

    p = Parser(
        prog="wtop",
        description="top for writes: who is writing what, live, traced with eBPF.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "-i", "--interval", type=interval, default=1.0, metavar="SECONDS", help="refresh interval (default 1)"
    )
    p.add_argument("-p", "--pid", type=pid, help="only this process (in the kernel)")
    p.add_argument("-c", "--comm", type=comm, metavar="NAME", help="only threads with this name (in the kernel)")
    p.add_argument("-u", "--user", type=user, metavar="USER", help="only this user, name or uid (in the kernel)")
    p.add_argument("--cgroup", metavar="PATH", help="only processes in this cgroup v2 directory (in the kernel)")
    p.add_argument(
        "--sla",
        type=duration_ns,
        default=None,  # 10ms, set in check_modes: None says it was not given
        metavar="DURATION",
        help="latency threshold: the timed calls slower than it are counted in the kernel (default 10ms)",
    )
    p.add_argument(
        "--sync-sla",
        type=duration_ns,
        default=None,
        metavar="DURATION",
        help="the same for sync calls: fsync, fdatasync, sync_file_range, msync, syncfs, sync (default: --sla)",
    )
    p.add_argument(
        "--no-latency",
        action="store_true",
        help="count every call without timing it: no program on each system call's entry, about two "
        "thirds of what wtop adds to a write; no latency views, no libaio writes",
    )
    p.add_argument(
        "--time-every-call",
        action="store_true",
        help=f"time every call, even in a storm of them (by default a CPU that made {PACE_RUN} data calls in a "
        f"row under {PACE_GAP_NS // 1000} us apart times one in 2 to {1 << PACE_SHIFT_MAX} of the next, and counts "
        "them all: the two clock reads that time a call cost about as much as the tracepoints themselves)",
    )
    p.add_argument(
        "--map-size",
        type=map_size,
        default=65536,
        metavar="N",
        help="(process, descriptor) pairs tracked at once in the kernel (default 65536)",
    )
    p.add_argument(
        "interval_pos", nargs="?", type=interval, metavar="INTERVAL", help="refresh interval in seconds (as -i)"
    )
    p.add_argument("count", nargs="?", type=count, metavar="COUNT", help="stop after this many intervals")
    out = p.add_argument_group("outlets")
    out.add_argument("-b", "--batch", action="store_true", help="plain text per interval, no screen (as top -b)")
    out.add_argument("-j", "--json", action="store_true", help="one JSON object per interval, no screen (wtop/1)")
    out.add_argument(
        "-n",
        "--top",
        type=top_n,
        default=20,
        metavar="N",
        help="processes per interval in --batch text (default 20; 0: all)",
    )
    out.add_argument(
        "-a",
        "--accumulated",
        action="store_true",
        help="every process since start, by its total, exited ones marked (as iotop -a); key a in the dashboard",
    )
    out.add_argument("--record", metavar="FILE", help="record every interval to FILE (gzip'd JSON lines)")
    out.add_argument("--replay", metavar="FILE", help="show a recording instead of live probes (no root needed)")
    out.add_argument(
        "--prometheus", metavar="[ADDR:]PORT", help="serve metrics over HTTP (binds 127.0.0.1 unless ADDR is given)"
    )
    out.add_argument("--no-tui", action="store_true", help="no screen: only --record and/or --prometheus")
    p.add_argument("--ebpf", action="store_true", help="print the BPF program and exit")
    p.add_argument("--version", action="version", version=f"wtop {__version__}")
    return p


def fail(message: str, code: int = 1) -> int:
    """One line on stderr (paths and names in it scrubbed: they may come from anywhere)."""
    from probes.names import scrub

    print(f"wtop: {scrub(message)}", file=sys.stderr)
    return code


def probe_options(args: argparse.Namespace):
    from probes.program import ProbeOptions

    return ProbeOptions(
        pid=args.pid,
        comm=args.comm,
        uid=args.user,
        cgroup=getattr(args, "cgroup_id", None),
        sla_ns=args.sla,
        sync_sla_ns=args.sync_sla,
        map_size=args.map_size,
        latency=not args.no_latency,
        pace=not args.time_every_call,
    )


TRACEFS_CANDIDATES = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")


def ensure_tracefs() -> str | None:
    """None when tracepoints are reachable (mounting tracefs if needed), else the problem."""
    for d in TRACEFS_CANDIDATES:
        if os.path.exists(f"{d}/events/syscalls/sys_exit_write"):
            return None
    if os.path.isdir("/sys/kernel/tracing") and not os.listdir("/sys/kernel/tracing"):
        os.system("mount -t tracefs nodev /sys/kernel/tracing >/dev/null 2>&1")
        if os.path.exists("/sys/kernel/tracing/events/syscalls/sys_exit_write"):
            return None
    if any(os.path.exists(f"{d}/events") for d in TRACEFS_CANDIDATES):
        return "this kernel has no syscalls:sys_exit_write tracepoint (CONFIG_FTRACE_SYSCALLS is off)"
    return "tracefs is not mounted: run `mount -t tracefs nodev /sys/kernel/tracing`"


def preflight() -> str | None:
    """The first problem that stops the probes from loading, as one line; None when all is well."""
    if os.geteuid() != 0:
        return "loading BPF programs needs root: run it as `sudo wtop`"
    import importlib.util

    # find_spec, not import: importing bcc costs 62 MB that this process never needs
    # (the program is compiled in a child, see probes/loader.py).
    if importlib.util.find_spec("bcc") is None:
        return (
            "BCC's Python bindings are missing: install python3-bpfcc (Debian/Ubuntu), "
            "python3-bcc (Fedora/RHEL) or python-bcc (Arch); the PyPI package 'bcc' is unrelated"
        )
    release = platform.release()
    mod = Path("/lib/modules") / release
    if not (mod / "build").exists() and not (mod / "source").exists():
        return (
            f"kernel headers for {release} are missing (BCC compiles against them): install "
            f"linux-headers-{release}, or run wtop's install.sh, which falls back to the distribution's headers"
        )
    return ensure_tracefs()


def check_modes(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Options that cannot go together: one line, exit 2."""
    if args.interval_pos is not None:
        if args.interval != 1.0 and args.interval != args.interval_pos:
            p.error("give the interval once: -i or INTERVAL")
        args.interval = args.interval_pos
    if args.batch and args.json:
        p.error("--batch and --json: choose one")
    if args.replay and (args.record or args.prometheus):
        p.error("--replay shows a recording: --record and --prometheus need live probes")
    if args.replay and (args.pid or args.comm or args.user is not None):
        p.error("filters act in the kernel while recording; a replay shows what was recorded")
    if args.pid == os.getpid():  # `exec wtop -p $$`: its own writes would feed what it shows
        p.error("-p names wtop itself")
    if args.replay and args.no_latency:
        p.error("--no-latency acts in the kernel while recording; a replay shows what was recorded")
    if args.replay and args.time_every_call:
        p.error("--time-every-call acts in the kernel while recording; a replay shows what was recorded")
    if args.no_latency and args.time_every_call:
        p.error("--no-latency and --time-every-call: choose one")
    if args.no_latency and (args.sla is not None or args.sync_sla is not None):
        p.error("--sla and --sync-sla count slow calls: --no-latency times none")
    if args.sla is None:
        args.sla = DEFAULT_SLA_NS
    args.cgroup_id = None
    if args.cgroup:
        from probes.cgroups import inode_of

        try:
            args.cgroup_id = inode_of(args.cgroup)
        except FileNotFoundError as exc:
            p.error(f"--cgroup: {exc}")
    if args.no_tui and not (args.record or args.prometheus):
        p.error("--no-tui needs --record or --prometheus (for text without a screen: --batch)")
    if args.prometheus:
        from outlets.metrics import parse_listen

        try:
            parse_listen(args.prometheus)
        except ValueError as exc:
            p.error(f"--prometheus: {exc}")


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    check_modes(p, args)
    if args.ebpf:
        from probes.program import render

        print(render(probe_options(args)))
        return 0
    from tui.modes import run_live, run_replay

    if args.replay:
        return run_replay(args)
    problem = preflight()
    if problem:
        return fail(problem)
    if args.pid and not os.path.exists(f"/proc/{args.pid}"):
        return fail(f"no process with PID {args.pid}")
    return run_live(args)


def entry() -> None:
    """The `wtop` command: main(), then out at once. Everything wtop must finish (the screen
    restored, the summary printed, a recording's end written, the probes detached) is done
    when main() returns; the interpreter's own teardown of Textual's modules and threads took
    170 ms more here, which a user waits for after pressing q for nothing.

    No garbage collection until the first figures are on the screen (probes/heap.py)."""
    from probes import heap

    heap.hold()
    rc = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed terminal or pipe
        pass
    os._exit(rc)


if __name__ == "__main__":  # pragma: no cover
    entry()
