"""The only module that imports bcc: compile, attach, drain once per interval, detach.

Counters in the kernel are cumulative; each sample() computes the interval as the
difference from the previous read, so nothing is lost between a read and a clear. Entries
of processes that have exited are deleted after their last values were read.
"""

from __future__ import annotations

import ctypes as ct
import errno
import os
import struct
import time
from collections.abc import Callable

from .names import safe_name
from .program import SOURCE, ProbeOptions, cflags
from .snapshot import BUCKETS, Log2Histogram, ProcessWrites, Skipped, Snapshot

PROC_FIELDS = 3  # bytes, writes, errors (struct proc_stats)
INFO = struct.Struct("<II16s")  # struct proc_info
SWEEP = 10


def _possible_cpus() -> int:
    from bcc.utils import get_possible_cpus

    return len(get_possible_cpus())


class ProbeError(RuntimeError):
    """The probes could not be compiled or attached; the message is for the user."""


class BccSource:
    """Real probes. Use as a context manager; sample() once per interval."""

    def __init__(self, opts: ProbeOptions, clock: Callable[[], float] = time.monotonic):
        try:
            from bcc import BPF
            from bcc.libbcc import lib
        except ImportError as exc:  # pragma: no cover - checked by the CLI preflight
            raise ProbeError(f"BCC is not installed: {exc}") from exc
        self._lib = lib
        self.opts = opts
        self._clock = clock
        try:
            self.bpf = BPF(src_file=str(SOURCE).encode(), cflags=cflags(opts))
        except Exception as exc:
            raise ProbeError(f"could not compile or attach the BPF program: {exc}") from exc
        self.ncpu = _possible_cpus()
        self._stats = self.bpf[b"wtop_stats"]
        self._procs = self.bpf[b"wtop_procs"]
        self._info = self.bpf[b"wtop_info"]
        self._epoch = self.bpf[b"wtop_epoch"]
        self._epoch_value = 0
        n = opts.max_procs
        self._keys = (ct.c_uint32 * n)()
        self._proc_vals = ct.create_string_buffer(n * PROC_FIELDS * 8 * self.ncpu)
        self._info_keys = (ct.c_uint32 * n)()
        self._info_vals = ct.create_string_buffer(n * INFO.size)
        self._prev_procs: dict[int, tuple[int, int, int]] = {}
        self._prev_cpu = self._read_cpu()
        self._prev_misses = self.recursion_misses()
        self._names: dict[int, tuple[str, int]] = {}
        self._safe: dict[bytes, str] = {}
        """safe_name results by raw comm: names repeat, and 10,000 of them cost 20 ms a second."""
        self._alive_idle: set[int] = set()
        """Idle entries whose process was alive when last checked (re-checked every SWEEP samples)."""
        self._seq = 0
        self._t_prev = clock()
        self.notes: list[str] = []
        self.last_drain_s = 0.0
        if self._prev_misses is None:
            self.notes.append("recursion misses unavailable (no recursion_misses in BPF fdinfo)")

    # -- lifecycle -------------------------------------------------------------
    def __enter__(self) -> BccSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        bpf = getattr(self, "bpf", None)
        if bpf is not None:
            self.bpf = None
            bpf.cleanup()

    # -- reading ---------------------------------------------------------------
    def prog_fds(self) -> list[int]:
        return [fn.fd for fn in self.bpf.funcs.values()]

    def recursion_misses(self) -> int | None:
        """Sum of the kernel's recursion_misses over wtop's programs, None if not exposed."""
        total = 0
        for fd in self.prog_fds():
            try:
                with open(f"/proc/self/fdinfo/{fd}") as f:
                    for line in f:
                        if line.startswith("recursion_misses:"):
                            total += int(line.split()[1])
                            break
                    else:
                        return None
            except OSError:
                return None
        return total

    def _read_cpu(self) -> dict:
        per_cpu = self._stats.getvalue(0)
        sizes = [0] * BUCKETS
        lat = [0] * BUCKETS
        acc = {"sla_missed": 0, "bytes": 0, "writes": 0, "errors": 0, "skip_map_full": 0, "skip_no_entry": 0}
        for cs in per_cpu:
            for i in range(BUCKETS):
                sizes[i] += cs.sizes[i]
                lat[i] += cs.lat[i]
            for k in acc:
                acc[k] += getattr(cs, k)
        # The maximum of this interval: CPUs that saw a write since the epoch advanced.
        acc["lat_max"] = max((cs.lat_max for cs in per_cpu if cs.lat_epoch == self._epoch_value), default=0)
        acc["sizes"] = Log2Histogram(tuple(sizes))
        acc["lat"] = Log2Histogram(tuple(lat))
        return acc

    def _batch(self, fd: int, keys, vals, vsize: int) -> int:
        """BPF_MAP_LOOKUP_BATCH over the whole map into preallocated buffers; returns the count."""
        lib = self._lib
        cap = len(keys)
        total = 0
        out = ct.c_uint32(0)
        count = ct.c_uint32(0)
        while total < cap:
            count.value = cap - total
            res = lib.bpf_lookup_batch(
                fd,
                ct.byref(out) if total else None,
                ct.byref(out),
                ct.byref(keys, 4 * total),
                ct.byref(vals, vsize * total),
                ct.byref(count),
            )
            err = ct.get_errno()
            total += count.value
            if res != 0:
                if err == errno.ENOENT:
                    break
                raise ProbeError(f"reading a BPF map failed: {os.strerror(err)}")
            if count.value == 0:
                break
        return total

    def _read_procs(self) -> dict[int, tuple[int, int, int]]:
        vsize = PROC_FIELDS * 8 * self.ncpu
        n = self._batch(self._procs.map_fd, self._keys, self._proc_vals, vsize)
        words = memoryview(self._proc_vals).cast("B")[: n * vsize].cast("Q")
        out = {}
        step = PROC_FIELDS
        per = PROC_FIELDS * self.ncpu
        keys = self._keys
        for i in range(n):
            base = i * per
            chunk = words[base : base + per]
            out[keys[i]] = (sum(chunk[0::step]), sum(chunk[1::step]), sum(chunk[2::step]))
        return out

    def _read_names(self) -> None:
        n = self._batch(self._info.map_fd, self._info_keys, self._info_vals, INFO.size)
        raw = self._info_vals.raw
        names = {}
        safe = self._safe
        if len(safe) > 65536:
            safe.clear()
        for i in range(n):
            uid, _pad, comm = INFO.unpack_from(raw, i * INFO.size)
            name = safe.get(comm)
            if name is None:
                name = safe[comm] = safe_name(comm)
            names[self._info_keys[i]] = (name, uid)
        self._names = names

    def _dead(self, idle: list[int]) -> list[int]:
        """Which idle entries belong to processes that have exited.

        A process that just went idle is checked at once (that is where exits show up
        during churn); one found alive before is checked again every SWEEP samples, so a
        large idle population costs little.
        """
        if self._seq % SWEEP == 0:
            self._alive_idle.clear()
        dead = []
        for pid in idle:
            if pid in self._alive_idle:
                continue
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                dead.append(pid)
            except PermissionError:
                self._alive_idle.add(pid)
            else:
                self._alive_idle.add(pid)
        return dead

    def _delete(self, fd: int, pids: list[int]) -> None:
        for pid in pids:
            key = ct.c_uint32(pid)
            self._lib.bpf_delete_elem(fd, ct.byref(key))

    def sample(self) -> Snapshot:
        """Read the maps and return what happened since the previous sample."""
        t0 = self._clock()
        cpu = self._read_cpu()
        self._epoch_value += 1
        self._epoch[ct.c_int(0)] = ct.c_uint64(self._epoch_value)
        procs = self._read_procs()
        self._read_names()
        misses = self.recursion_misses()
        prev = self._prev_procs
        rows = []
        idle = []
        for pid, (b, w, e) in procs.items():
            pb, pw, pe = prev.get(pid, (0, 0, 0))
            if w == pw and b == pb and e == pe:
                idle.append(pid)
                continue
            self._alive_idle.discard(pid)
            comm, uid = self._names.get(pid, ("?", -1))
            rows.append(ProcessWrites(pid, comm, uid, b - pb, w - pw, e - pe))
        # Processes that wrote nothing this interval and no longer exist: their final values
        # are read, so their entries can go without losing a write.
        if idle:
            dead = self._dead(idle)
            if dead:
                self._delete(self._procs.map_fd, dead)
                self._delete(self._info.map_fd, dead)
                for pid in dead:
                    procs.pop(pid, None)
                    self._alive_idle.discard(pid)
        self._prev_procs = procs
        pc = self._prev_cpu
        self._prev_cpu = cpu
        now = self._clock()
        elapsed = now - self._t_prev
        self._t_prev = now
        self._seq += 1
        skipped = Skipped(
            map_full=cpu["skip_map_full"] - pc["skip_map_full"],
            no_entry=cpu["skip_no_entry"] - pc["skip_no_entry"],
            recursion_misses=(misses - self._prev_misses)
            if misses is not None and self._prev_misses is not None
            else 0,
        )
        self._prev_misses = misses
        self.last_drain_s = now - t0
        return Snapshot(
            seq=self._seq,
            time=time.time(),
            elapsed=elapsed,
            processes=tuple(rows),
            sizes=cpu["sizes"] - pc["sizes"],
            latency=cpu["lat"] - pc["lat"],
            latency_max_ns=cpu["lat_max"],
            sla_ns=self.opts.sla_ns,
            sla_missed=cpu["sla_missed"] - pc["sla_missed"],
            bytes=cpu["bytes"] - pc["bytes"],
            writes=cpu["writes"] - pc["writes"],
            errors=cpu["errors"] - pc["errors"],
            skipped=skipped,
            notes=tuple(self.notes),
        )
