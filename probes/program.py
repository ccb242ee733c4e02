"""The BPF program and the compiler flags that select its options.

Options become -D flags for writes.c (#ifdef), never string replacement in the C text.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path

SOURCE = Path(__file__).with_name("writes.c")

CALLS = (
    "write",
    "pwrite64",
    "writev",
    "pwritev",
    "pwritev2",
    "copy_file_range",
    "sendfile",
    "splice",
    "vmsplice",
    "tee",
    "sendto",
    "sendmsg",
    "sendmmsg",
    "io_uring",
    "libaio",
)
"""The data calls traced (each moves bytes out of a process), in the order of the kernel's
per-call counters; io_uring and libaio are the asynchronous writes, counted at completion."""
SYNCS = ("fsync", "fdatasync", "sync_file_range", "msync", "syncfs", "sync")
"""The durability calls traced: counted and timed, no bytes."""
FAMILIES = ("write", "copy", "send", "io_uring", "aio", "sync")
"""Families of calls, each with its own size and latency histograms."""
SYSCALL_NUMBERS = {
    "x86_64": {
        "write": 1, "pwrite64": 18, "writev": 20, "pwritev": 296, "pwritev2": 328,
        "copy_file_range": 326, "sendfile": 40, "splice": 275, "vmsplice": 278, "tee": 276,
        "sendto": 44, "sendmsg": 46, "sendmmsg": 307,
        "fsync": 74, "fdatasync": 75, "sync_file_range": 277, "msync": 26, "syncfs": 306, "sync": 162,
        "io_submit": 209, "io_getevents": 208, "io_pgetevents": 333,
    },
    "aarch64": {  # the generic table (include/uapi/asm-generic/unistd.h)
        "write": 64, "pwrite64": 68, "writev": 66, "pwritev": 70, "pwritev2": 287,
        "copy_file_range": 285, "sendfile": 71, "splice": 76, "vmsplice": 75, "tee": 77,
        "sendto": 206, "sendmsg": 211, "sendmmsg": 269,
        "fsync": 82, "fdatasync": 83, "sync_file_range": 84, "msync": 227, "syncfs": 267, "sync": 81,
        "io_submit": 2, "io_getevents": 4, "io_pgetevents": 292,
    },
}  # fmt: skip
"""System call numbers (of 64-bit processes) by architecture."""
REGISTERS = {
    # struct pt_regs is the user-visible register set (user_regs_struct): the same layout in
    # every kernel of an architecture, so these offsets are not kernel-version dependent.
    "x86_64": {
        "ARG0": 112,
        "ARG1": 104,
        "ARG2": 96,
        "ARG3": 56,
        "NR": 120,
        "MODE": 136,
        "MODE_MASK": 0xFFFF,
        "MODE_NATIVE": 0x33,
    },
    "aarch64": {
        "ARG0": 272,
        "ARG1": 8,
        "ARG2": 16,
        "ARG3": 24,
        "NR": 280,
        "MODE": 264,
        "MODE_MASK": 0x10,
        "MODE_NATIVE": 0,
    },
}
"""Offsets in struct pt_regs: the first four arguments (arm64's first in orig_x0, which the
return value does not overwrite), the call's number, and what tells a 64-bit task (x86_64:
the code segment, __USER_CS; arm64: PSR_MODE32_BIT of pstate)."""

ENTER = ("raw_syscalls", "sys_enter")
EXIT = ("raw_syscalls", "sys_exit")
EXEC = ("sched", "sched_process_exec")
RENAME = ("task", "task_rename")
NEWTASK = ("task", "task_newtask")
BLOCK = (("block", "block_rq_issue"), ("block", "block_rq_complete"))
"""The disks view: both or neither."""
URING_SUBMIT = ("io_uring", "io_uring_submit_req")
URING_SUBMIT_OLD = ("io_uring", "io_uring_submit_sqe")
"""Its name before Linux 6.3."""
URING_COMPLETE = ("io_uring", "io_uring_complete")
URING = (URING_SUBMIT, URING_SUBMIT_OLD, URING_COMPLETE)
DIRTY = ("writeback", "writeback_dirty_folio")
DIRTY_OLD = ("writeback", "writeback_dirty_page")
"""Its name before Linux 5.17 (folios)."""
TRACEPOINTS = (ENTER, EXIT, EXEC, RENAME, NEWTASK) + BLOCK + URING + (DIRTY, DIRTY_OLD)
"""Every tracepoint writes.c can use; only raw_syscalls:sys_exit is indispensable."""
RAW = (ENTER, EXIT, EXEC)
"""Attached as raw tracepoints (BPF_RAW_TRACEPOINT_OPEN): no perf event, detached at once.
The others need their formatted fields (perf tracepoints, 30-80 ms each to detach)."""
REQUIRED = EXIT
MAPS = (
    "wtop_stats",
    "wtop_epoch",
    "wtop_procs",
    "wtop_cells",
    "wtop_free",
    "wtop_next",
    "wtop_info",
    "wtop_starts",
    "wtop_focus",
    "wtop_rq_start",
    "wtop_disks",
    "wtop_tails",
    "wtop_dirty",
)
"""The maps of writes.c, in the order the loader hands them over."""
TAILS = ("raw_tail_aio_submit", "raw_tail_aio_reap", "raw_tail_exit")
"""Programs reached by tail calls (from sys_exit), in the order of their slots in wtop_tails:
loaded with the others, attached nowhere."""

DEFAULT_MAP_SIZE = 65536
DEFAULT_SLOTS = 65536
DEFAULT_DISKS = 256


FOCUS_SLOTS = 4
"""Entries of writes.c's wtop_focus, used in turn as the focus moves (a power of two)."""
PACE_GAP_NS = 2000
PACE_RUN = 64
PACE_SHIFT_MAX = 3
"""A storm has one call in 2, ... 1 << PACE_SHIFT_MAX timed at most."""
PACE_NOTE = (
    f"timing: paced in storms: a CPU that made {PACE_RUN} data calls in a row under {PACE_GAP_NS // 1000} us apart "
    f"times one in 2 to {1 << PACE_SHIFT_MAX} of the next, every call still counted (--time-every-call times them all)"
)
"""Said when the programs pace their timing (paces(); writes.c: wtop_pace, which takes
PACE_GAP_NS, PACE_RUN and PACE_SHIFT_MAX from here)."""
NO_LATENCY_NOTE = (
    "latency: off (--no-latency): calls are counted at their exit alone, not timed; libaio's writes are not seen"
)


def missing_notes(have: tuple[tuple[str, str], ...], latency: bool = True) -> list[str]:
    """What the user is told when this kernel lacks some of TRACEPOINTS (latency False: the
    user chose no sys_enter, --no-latency)."""
    notes = []
    if not latency:
        notes.append(NO_LATENCY_NOTE)
    elif ENTER not in have:
        notes.append("latency: unavailable, this kernel has no raw_syscalls:sys_enter tracepoint")
    if EXEC not in have:
        notes.append("names: not updated on exec, no sched:sched_process_exec tracepoint")
    if RENAME not in have:
        notes.append("names: a process's renames (prctl) not followed, no task:task_rename tracepoint")
    if NEWTASK not in have:
        notes.append("names: a fork that takes the id of a writer that ended may show its name, no task:task_newtask")
    if not all(tp in have for tp in BLOCK):
        notes.append("disks: unavailable, this kernel has no block:block_rq_issue/block_rq_complete tracepoints")
    if URING_COMPLETE not in have or not (URING_SUBMIT in have or URING_SUBMIT_OLD in have):
        notes.append("io_uring: not traced, this kernel has no io_uring submit and complete tracepoints with a request")
    if DIRTY not in have and DIRTY_OLD not in have:
        notes.append(
            "dirtied: only of processes that make write calls, this kernel has no writeback_dirty_folio tracepoint"
        )
    return notes


def prog_name(tp: tuple[str, str]) -> str:
    """The function BCC names after a tracepoint (RAW_TRACEPOINT_PROBE or TRACEPOINT_PROBE)."""
    return f"raw_tracepoint__{tp[1]}" if tp in RAW else f"tracepoint__{tp[0]}__{tp[1]}"


BTF_HOOKS = {prog_name(ENTER): "sys_enter", prog_name(EXIT): "sys_exit", **dict.fromkeys(TAILS, "sys_exit")}
"""With ProbeOptions.modern: the programs loaded as BTF raw tracepoints, by the tracepoint each is
for (the tail-called ones carry sys_exit's: the kernel lets a program tail-call only programs
of its own hook)."""
BTF_VMLINUX = "/sys/kernel/btf/vmlinux"
CALLBACKS = ("wtop_cb_aio_submit", "wtop_cb_aio_reap", "wtop_cb_mmsg")
"""With ProbeOptions.modern: bpf_loop's callbacks, by the number the programs name them with
(WTOP_CALLBACK in writes.c); the loader links each after the program that uses it."""
CALLBACK_MARK = 0x7EADCA11
"""The high half of a callback's marker (an ld_imm64 of 0x7EADCA11000000nn)."""


def available_tracepoints(tracefs: str) -> tuple[tuple[str, str], ...]:
    """The tracepoints of TRACEPOINTS that this kernel has (tracefs/events/CAT/EVENT/format),
    and can use: io_uring's completion must name its request (Linux 6.0 and later)."""
    out = []
    for tp in TRACEPOINTS:
        try:
            with open(f"{tracefs}/events/{tp[0]}/{tp[1]}/format") as f:
                fmt = f.read()
        except OSError:
            continue
        if tp in URING and " req;" not in fmt:
            continue
        out.append(tp)
    return tuple(out)


def usable(have: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """Of the tracepoints a kernel has, those wtop attaches: a pair that works only together
    (the block layer's, io_uring's) is kept whole or left out."""
    out = list(have)
    if not all(tp in out for tp in BLOCK):
        out = [tp for tp in out if tp not in BLOCK]
    if URING_SUBMIT in out:
        out = [tp for tp in out if tp != URING_SUBMIT_OLD]
    if URING_COMPLETE not in out or not (URING_SUBMIT in out or URING_SUBMIT_OLD in out):
        out = [tp for tp in out if tp not in URING]
    if DIRTY in out:
        out = [tp for tp in out if tp != DIRTY_OLD]
    return tuple(out)


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
    sync_sla_ns: int | None = None
    """The sync calls' SLA (None: the same as sla_ns)."""
    map_size: int = DEFAULT_MAP_SIZE
    slots: int = DEFAULT_SLOTS
    disks: int = DEFAULT_DISKS
    """Block devices with their own row (one more entry counts the rest together)."""
    tracepoints: tuple[tuple[str, str], ...] = TRACEPOINTS
    """Which tracepoints to use (LiveSource keeps those the kernel has)."""
    rename_has_pid: bool = True
    """task:task_rename carries the renamed task's pid (some kernels dropped the field)."""
    modern: bool = True
    """Programs for kernels with BTF and bpf_loop (Linux 5.17): the system calls' programs are
    BTF raw tracepoints (tp_btf), which read registers without a helper call, and the libaio
    walks are bpf_loop callbacks, which the verifier checks once instead of once per turn. Used
    when the kernel has BTF; the loader falls back to the plain programs if they do not load."""
    latency: bool = True
    """Time every traced call (sys_enter keeps its start). False (wtop --no-latency): no program
    on sys_enter at all, every call counted at its exit from its registers; no latency, and no
    libaio (its requests are read at io_submit's enter). About two thirds of what wtop adds to a
    write, paced; half of it with every call timed."""
    pace: bool = True
    """Timing paced in storms: a CPU that made PACE_RUN timed data calls in a row, each under
    PACE_GAP_NS after the last, times one in 2, 4 or 8 of those that follow (writes.c:
    wtop_pace), until they come further apart; every call is still counted in full. False
    (wtop --time-every-call): every call timed. Only the lean programs pace (modern, with
    latency)."""
    fetch: bool = True
    """The programs take fresh cells for the process map's counters with an atomic
    fetch-and-add (Linux 5.12). Without it, user space queues every cell before the programs
    start (Kernel.fill_free)."""

    def __post_init__(self) -> None:
        if self.slots <= 0 or self.slots & (self.slots - 1):
            raise ValueError("slots must be a power of two")
        if self.map_size < 1:
            raise ValueError("map_size must be at least 1")
        if self.disks < 1:
            raise ValueError("disks must be at least 1")
        if self.comm is not None and not 0 < len(self.comm.encode()) <= 15:
            raise ValueError("a process name (comm) is 1 to 15 bytes")
        tracepoints = tuple(tuple(tp) for tp in self.tracepoints)  # from JSON: lists
        if not self.latency:  # nothing on sys_enter (see latency)
            tracepoints = tuple(tp for tp in tracepoints if tp != ENTER)
        object.__setattr__(self, "tracepoints", tracepoints)
        if REQUIRED not in self.tracepoints:
            raise ValueError("raw_syscalls:sys_exit is needed: it is where calls are counted")


def paces(opts: ProbeOptions) -> bool:
    """Whether programs made with these options pace a storm's timing: only the lean ones
    (modern), and only with a sys_enter to time from."""
    return opts.pace and opts.modern and ENTER in opts.tracepoints


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
        f"-DWTOP_SYNC_SLA_NS={int(opts.sla_ns if opts.sync_sla_ns is None else opts.sync_sla_ns)}ULL",
    ]
    machine = platform.machine()
    for call, nr in SYSCALL_NUMBERS.get(machine, {}).items():
        flags.append(f"-DNR_{call.upper()}={nr}")
    regs = REGISTERS.get(machine, {})
    for reg, off in regs.items():
        flags.append(f"-DREG_{reg}={off}")
    if regs:  # the span the enter reads in one go: the arguments and the mode
        span = [regs[k] for k in ("ARG0", "ARG1", "ARG2", "ARG3", "MODE")]
        flags += [f"-DREG_LO={min(span)}", f"-DREG_WORDS={(max(span) - min(span)) // 8 + 1}"]
    if opts.modern:
        flags += ["-DWTOP_BTF", "-DWTOP_LOOP"]
    if opts.fetch:
        flags.append("-DWTOP_FETCH")
    flags.append(f"-DFOCUS_SLOTS={FOCUS_SLOTS}")
    if paces(opts):
        flags += ["-DWTOP_PACE", f"-DPACE_GAP_NS={PACE_GAP_NS}", f"-DPACE_RUN={PACE_RUN}"]
        flags.append(f"-DPACE_SHIFT_MAX={PACE_SHIFT_MAX}")
    if ENTER in opts.tracepoints:
        flags.append("-DHAVE_ENTER")
    if EXEC in opts.tracepoints:
        flags.append("-DHAVE_EXEC")
    if RENAME in opts.tracepoints:
        flags.append("-DHAVE_RENAME")
        if opts.rename_has_pid:
            flags.append("-DRENAME_HAS_PID")
    if NEWTASK in opts.tracepoints:
        flags.append("-DHAVE_NEWTASK")
    if all(tp in opts.tracepoints for tp in BLOCK):
        flags.append("-DHAVE_BLOCK")
    if URING_COMPLETE in opts.tracepoints:
        flags.append("-DHAVE_URING_COMPLETE")
        flags.append("-DHAVE_URING_SUBMIT_REQ" if URING_SUBMIT in opts.tracepoints else "-DHAVE_URING_SUBMIT_SQE")
    if DIRTY in opts.tracepoints:
        flags.append("-DHAVE_DIRTY_FOLIO")
    elif DIRTY_OLD in opts.tracepoints:
        flags.append("-DHAVE_DIRTY_PAGE")
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
