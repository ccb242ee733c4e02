"""The live source: the kernel's counters (probes/kernel.py) read once an interval and turned
into Snapshots (probes/sampler.py). Every consumer reads the Snapshots, never this.

    with LiveSource(ProbeOptions()) as source:
        snap = source.sample()
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from . import heap, procfs
from .dirtied import DirtyTracker
from .kernel import Kernel
from .loader import ProbeError
from .program import ProbeOptions
from .sampler import Dirtied, Reading, Sampler
from .snapshot import Snapshot
from .taskstats import Taskstats, TaskstatsError

__all__ = ["LiveSource", "ProbeError"]

FULL_EVERY = 10
"""Every cell is read once in this many intervals; in between only those counted lately."""


class LiveSource:
    """Real probes. Use as a context manager; sample() once per interval."""

    def __init__(self, opts: ProbeOptions, clock: Callable[[], float] = time.monotonic):
        self.kernel = Kernel(opts, os.getpid())
        self.opts = self.kernel.opts
        self.notes = self.kernel.notes
        self._clock = clock
        self._focus: int | None = None
        self._want_focus: int | None = None
        self.last_drain_s = 0.0
        self._reads = 0
        # What threads dirtied comes from the kernel's accounting: exit records from now on,
        # then every thread's figure so far (what they did before wtop is not counted).
        self._exits: Taskstats | None = None
        try:
            self._exits = Taskstats(self.kernel.ncpu)
        except TaskstatsError as exc:
            self.notes.append(f"dirtied: a process that exits between two reads is missed ({exc.strerror})")
        o = self.opts
        self.dirty = DirtyTracker(filtered=any(v is not None for v in (o.pid, o.comm, o.uid, o.cgroup)))
        # the baselines: the first interval starts now, for the totals and for every process
        self.sampler = Sampler(
            self._read(),
            self.opts.sla_ns,
            self.notes,
            sync_sla_ns=self.opts.sync_sla_ns,
            dirtied=self._dirtied,
        )

    # -- lifecycle, and what the tests look at -----------------------------------------------
    def __enter__(self) -> LiveSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def begin_close(self) -> None:
        """Start detaching at once (see Kernel.begin_close); safe from any thread."""
        self.kernel.begin_close()

    def close(self) -> None:
        if self._exits is not None:
            self._exits.close()
        self.kernel.close()

    @property
    def ncpu(self) -> int:
        return self.kernel.ncpu

    def prog_fds(self) -> list[int]:
        return self.kernel.prog_fds()

    def map_fd(self, name: str) -> int:
        return self.kernel.map_fd(name)

    def recursion_misses(self, fdinfo: str = "/proc/self/fdinfo") -> int | None:
        return self.kernel.recursion_misses(fdinfo)

    def has_entry(self, pid: int) -> tuple[bool, bool]:
        return self.kernel.has_entry(pid)

    # -- drill-down: one process counted on its own ------------------------------------------
    def set_focus(self, pid: int | None) -> None:
        """Count this process's writes on their own from the next interval on (None: stop).
        Safe from any thread: the sampling thread applies it."""
        self._want_focus = pid

    def _apply_focus(self) -> None:
        want, old = self._want_focus, self._focus
        if want == old:
            return
        k = self.kernel
        if want:
            k.add_focus_entry(want)  # the entry first, then the name: the kernel counts only into an entry
        self._focus = want
        k.write_ctl(want)
        self.sampler.focus_moved(want, k.read_focus(want) if want else None)
        if old:
            k.delete_focus_entry(old)

    # -- one interval ------------------------------------------------------------------------
    def _read(self) -> Reading:
        """Every counter, in an order that keeps each interval whole: the totals, the focus
        and the disks with the epoch of their maxima, then a new epoch, then the rest."""
        k = self.kernel
        cpu = k.read_cpu()
        focus = k.read_focus(self._focus) if self._focus else None
        disks = k.read_disks()
        k.advance_epoch(self._focus)
        stats = k.fdinfo_stats()
        # The cells counted since the previous read, and any that a count began before that
        # read's epoch (in flight across it): two epochs back. Every FULL_EVERY reads, every
        # cell: a count in flight across a whole interval (a program preempted that long) is
        # still read then, unless its process ended and its cells were freed before.
        partial = self._reads % FULL_EVERY != 0
        self._reads += 1
        return Reading(
            cpu=cpu,
            procs=k.read_cells(since=k.epoch - 2 if partial else None),
            names=k.names(),  # read as the sampler asks
            disks=disks,
            misses=stats.misses,
            disk_misses=stats.disk_misses,
            runs=stats.runs,
            programs=stats.programs,
            self_cpu=time.process_time(),
            focus=focus,
            dirty=k.read_dirty(),
            exits_lost=(self._exits.lost if self._exits is not None else 0) + self.dirty.unknown,
            time=self._clock(),
            wall=time.time(),
        )

    def _dirtied(self, candidates: list[int]) -> Dirtied:
        """Bytes dirtied since the last interval by these processes and by any that exited
        (their own), what children that ended passed on to their parents, the names of
        processes the probes may not have named (one gone, or a parent that only waited), and
        the processes whose last thread's exit record came; None for those when the records
        cannot say that every other one lives (no taskstats, a kernel before 5.19, or records
        lost in this interval)."""
        ex = self._exits
        lost = ex.lost if ex is not None else 0
        records = ex.drain() if ex is not None else []
        own, children, gone = self.dirty.step(records, candidates)
        names = {r[1]: (r[3], r[4]) for r in records if r[1] == r[0] and r[1] in own}
        for pid in children.keys() - own.keys() - names.keys():
            names[pid] = (procfs.comm(pid), -1)
        vouched = ex is not None and ex.names_last and ex.lost == lost
        return own, children, names, gone if vouched else None

    def sample(self) -> Snapshot:
        """What happened since the previous sample."""
        t0 = self._clock()
        with heap.paused():
            snap, gone_keys, gone_pids = self.sampler.step(self._read())
        if gone_keys or gone_pids:
            self.kernel.delete(gone_keys, gone_pids, self.sampler.freed)
        self._apply_focus()
        self.last_drain_s = self._clock() - t0
        return snap
