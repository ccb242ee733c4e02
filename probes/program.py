"""The BPF program and the compiler flags that select its options.

Options become -D flags for writes.c (#ifdef), never string replacement in the C text.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

SOURCE = Path(__file__).with_name("writes.c")

CALLS = ("write", "pwrite64", "writev", "pwritev", "pwritev2")
"""The write system calls traced, in the order of the kernel's per-call counters."""

BLOCK = (("block", "block_rq_issue"), ("block", "block_rq_complete"))
"""The disks view: both or neither."""
TRACEPOINTS = (
    tuple(("syscalls", f"sys_{side}_{call}") for call in CALLS for side in ("enter", "exit"))
    + (("sched", "sched_process_exec"), ("task", "task_rename"))
    + BLOCK
)
"""Every tracepoint writes.c can use; only syscalls:sys_exit_write is indispensable."""
REQUIRED = ("syscalls", "sys_exit_write")
MAPS = (
    "wtop_stats",
    "wtop_epoch",
    "wtop_procs",
    "wtop_info",
    "wtop_starts",
    "wtop_focus",
    "wtop_rq_start",
    "wtop_disks",
)
"""The maps of writes.c, in the order the loader hands them over."""

DEFAULT_MAP_SIZE = 65536
DEFAULT_SLOTS = 65536
DEFAULT_DISKS = 256


def missing_notes(have: tuple[tuple[str, str], ...]) -> list[str]:
    """What the user is told when this kernel lacks some of TRACEPOINTS."""
    notes = []
    if ("syscalls", "sys_enter_write") not in have:
        notes.append("latency: unavailable, this kernel has no syscalls:sys_enter_write tracepoint")
    for call in CALLS[1:]:
        if ("syscalls", f"sys_exit_{call}") not in have:
            notes.append(f"calls: {call} is not traced, this kernel has no syscalls:sys_exit_{call} tracepoint")
        elif ("syscalls", f"sys_enter_{call}") not in have:
            notes.append(f"calls: {call} without latency nor file, no syscalls:sys_enter_{call} tracepoint")
    if ("sched", "sched_process_exec") not in have:
        notes.append("names: not updated on exec, no sched:sched_process_exec tracepoint")
    if ("task", "task_rename") not in have:
        notes.append("names: a process's renames (prctl) not followed, no task:task_rename tracepoint")
    if not all(tp in have for tp in BLOCK):
        notes.append("disks: unavailable, this kernel has no block:block_rq_issue/block_rq_complete tracepoints")
    return notes


def available_tracepoints(tracefs: str) -> tuple[tuple[str, str], ...]:
    """The tracepoints of TRACEPOINTS that this kernel has (tracefs/events/CAT/EVENT/format)."""
    return tuple(tp for tp in TRACEPOINTS if os.path.exists(f"{tracefs}/events/{tp[0]}/{tp[1]}/format"))


@dataclass(frozen=True, slots=True)
class ProbeOptions:
    """What the probes count; every field maps to -D flags."""

    self_tgid: int = 0
    pid: int | None = None
    comm: str | None = None
    uid: int | None = None
    cgroup: int | None = None
    """A cgroup v2 id (the inode of its directory): only processes in it."""
    sla_ns: int = 10_000_000
    map_size: int = DEFAULT_MAP_SIZE
    slots: int = DEFAULT_SLOTS
    disks: int = DEFAULT_DISKS
    """Block devices with their own row (one more entry counts the rest together)."""
    tracepoints: tuple[tuple[str, str], ...] = TRACEPOINTS
    """Which tracepoints to use (LiveSource keeps those the kernel has)."""
    rename_has_pid: bool = True
    """task:task_rename carries the renamed task's pid (some kernels dropped the field)."""

    def __post_init__(self) -> None:
        if self.slots <= 0 or self.slots & (self.slots - 1):
            raise ValueError("slots must be a power of two")
        if self.map_size < 1:
            raise ValueError("map_size must be at least 1")
        if self.disks < 1:
            raise ValueError("disks must be at least 1")
        if self.comm is not None and not 0 < len(self.comm.encode()) <= 15:
            raise ValueError("a process name (comm) is 1 to 15 bytes")
        object.__setattr__(self, "tracepoints", tuple(tuple(tp) for tp in self.tracepoints))  # from JSON: lists
        if REQUIRED not in self.tracepoints:
            raise ValueError("syscalls:sys_exit_write is needed: it is where writes are counted")


def comm_words(comm: str) -> tuple[int, int]:
    """The 16-byte, NUL-padded comm as two little-endian u64 words."""
    raw = comm.encode().ljust(16, b"\0")
    return int.from_bytes(raw[:8], "little"), int.from_bytes(raw[8:], "little")


def cflags(opts: ProbeOptions) -> list[str]:
    flags = [
        f"-DWTOP_SELF_TGID={opts.self_tgid or os.getpid()}",
        f"-DWTOP_SLOTS={opts.slots}",
        f"-DWTOP_MAP_SIZE={opts.map_size}",
        f"-DWTOP_DISKS={opts.disks + 1}",
        f"-DWTOP_SLA_NS={int(opts.sla_ns)}ULL",
    ]
    for cat, event in opts.tracepoints:
        if cat == "syscalls":
            side, call = event[4:].split("_", 1)  # sys_enter_write -> enter, write
            flags.append(f"-D{side.upper()}_{call.upper()}")
    if ("sched", "sched_process_exec") in opts.tracepoints:
        flags.append("-DHAVE_EXEC")
    if ("task", "task_rename") in opts.tracepoints:
        flags.append("-DHAVE_RENAME")
        if opts.rename_has_pid:
            flags.append("-DRENAME_HAS_PID")
    if all(tp in opts.tracepoints for tp in BLOCK):
        flags.append("-DHAVE_BLOCK")
    if opts.pid is not None:
        flags.append(f"-DFILTER_TGID={opts.pid}")
    if opts.uid is not None:
        flags.append(f"-DFILTER_UID={opts.uid}")
    if opts.cgroup is not None:
        flags.append(f"-DFILTER_CGROUP={opts.cgroup}ULL")
    if opts.comm is not None:
        w0, w1 = comm_words(opts.comm)
        flags += [f"-DFILTER_COMM_0={w0:#x}ULL", f"-DFILTER_COMM_1={w1:#x}ULL"]
    return flags


def render(opts: ProbeOptions) -> str:
    """The program as BCC compiles it: the flags as #defines, then the source (`wtop --ebpf`)."""
    defines = []
    for flag in cflags(opts):
        name, _, value = flag[2:].partition("=")
        defines.append(f"#define {name} {value}".rstrip())
    return "\n".join(["// wtop BPF program, options:", *defines, "", SOURCE.read_text()])


def rename_has_pid(tracefs: str) -> bool:
    """Whether this kernel's task:task_rename has a pid field (the renamed task)."""
    try:
        with open(f"{tracefs}/events/task/task_rename/format") as f:
            return "pid_t pid;" in f.read()
    except OSError:
        return False
