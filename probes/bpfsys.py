"""The few bpf(2) and perf_event_open(2) calls wtop needs, through ctypes.

The dashboard process uses these instead of libbcc: importing bcc costs 62 MB of resident
memory and compiling with it (LLVM) 120 MB more (measured). The program is compiled and
loaded by a short-lived child (probes/loader.py), which hands over the fds.
"""

from __future__ import annotations

import ctypes as ct
import errno
import fcntl
import functools
import os
import platform
import re

_libc = ct.CDLL(None, use_errno=True)
_libc.syscall.restype = ct.c_long

_NR = {
    "x86_64": {"bpf": 321, "perf_event_open": 298},
    "aarch64": {"bpf": 280, "perf_event_open": 241},
    "riscv64": {"bpf": 280, "perf_event_open": 241},
    "ppc64le": {"bpf": 361, "perf_event_open": 319},
    "s390x": {"bpf": 351, "perf_event_open": 331},
}

BPF_MAP_LOOKUP_ELEM = 1
BPF_MAP_UPDATE_ELEM = 2
BPF_MAP_DELETE_ELEM = 3
BPF_MAP_GET_NEXT_KEY = 4
BPF_PROG_GET_NEXT_ID = 11
BPF_PROG_GET_FD_BY_ID = 13
BPF_MAP_LOOKUP_BATCH = 24  # Linux 5.6
BPF_MAP_DELETE_BATCH = 27  # Linux 5.6
_NO_BATCH_ERRNOS = (errno.EINVAL, errno.EOPNOTSUPP, 524)  # 524: the kernel's ENOTSUPP

_batch_ok: bool | None = None
"""Whether BPF_MAP_LOOKUP_BATCH works here: None until tried."""
force_no_batch = False
"""Tests set this to run the key-by-key path on a kernel that has batches."""

PERF_TYPE_TRACEPOINT = 2
PERF_SAMPLE_RAW = 1 << 10
PERF_FLAG_FD_CLOEXEC = 1 << 3
PERF_EVENT_IOC_ENABLE = 0x2400
PERF_EVENT_IOC_SET_BPF = 0x40042408
BPF_RAW_TRACEPOINT_OPEN = 17
BPF_LINK_CREATE = 28  # Linux 5.7; perf-event links (BPF_PERF_EVENT) since 5.15
BPF_PERF_EVENT = 41


class BpfError(OSError):
    pass


@functools.cache
def _nr(name: str) -> int:
    """The system call's number here (asked of platform once: it had cost 0.3 us of each bpf()
    call, and the 30,000 calls that free the cells of 10,000 processes that ended)."""
    machine = platform.machine()
    try:
        return _NR[machine][name]
    except KeyError:
        raise BpfError(errno.ENOSYS, f"wtop does not know the {name} syscall number on {machine}") from None


class _Elem(ct.Structure):
    _fields_ = [
        ("map_fd", ct.c_uint32),
        ("pad", ct.c_uint32),
        ("key", ct.c_uint64),
        ("value", ct.c_uint64),
        ("flags", ct.c_uint64),
    ]


class _Batch(ct.Structure):
    _fields_ = [
        ("in_batch", ct.c_uint64),
        ("out_batch", ct.c_uint64),
        ("keys", ct.c_uint64),
        ("values", ct.c_uint64),
        ("count", ct.c_uint32),
        ("map_fd", ct.c_uint32),
        ("elem_flags", ct.c_uint64),
        ("flags", ct.c_uint64),
    ]


class _PerfAttr(ct.Structure):
    _fields_ = [
        ("type", ct.c_uint32),
        ("size", ct.c_uint32),
        ("config", ct.c_uint64),
        ("sample_period", ct.c_uint64),
        ("sample_type", ct.c_uint64),
        ("read_format", ct.c_uint64),
        ("flags", ct.c_uint64),
        ("wakeup_events", ct.c_uint32),
        ("bp_type", ct.c_uint32),
        ("config1", ct.c_uint64),
        ("config2", ct.c_uint64),
        ("rest", ct.c_uint8 * 64),
    ]


def _bpf(cmd: int, attr: ct.Structure) -> int:
    res = _libc.syscall(_nr("bpf"), cmd, ct.byref(attr), ct.sizeof(attr))
    if res < 0:
        err = ct.get_errno()
        raise BpfError(err, os.strerror(err))
    return res


def _found(cmd: int, attr: ct.Structure) -> int | None:
    """_bpf, or None where the kernel has no such key, element or id (ENOENT)."""
    try:
        return _bpf(cmd, attr)
    except BpfError as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise


def _addr(buf) -> int:
    return ct.addressof(buf) if buf is not None else 0


def lookup(map_fd: int, key, value) -> bool:
    """Copy the value of key into value; False when the key is absent."""
    return _found(BPF_MAP_LOOKUP_ELEM, _Elem(map_fd=map_fd, key=_addr(key), value=_addr(value))) is not None


def update(map_fd: int, key, value, flags: int = 0) -> None:
    _bpf(BPF_MAP_UPDATE_ELEM, _Elem(map_fd=map_fd, key=_addr(key), value=_addr(value), flags=flags))


def push_all(map_fd: int, values, value_size: int, count: int) -> None:
    """Push count values from one buffer into a queue map, in order (there is no batch push)."""
    attr = _Elem(map_fd=map_fd, key=0)
    call, nr, ref, size = _libc.syscall, _nr("bpf"), ct.byref(attr), ct.sizeof(attr)
    for value in range(ct.addressof(values), ct.addressof(values) + value_size * count, value_size):
        attr.value = value
        if call(nr, BPF_MAP_UPDATE_ELEM, ref, size) < 0:  # _bpf, inlined: 20,000 pushes after a burst ends
            err = ct.get_errno()
            raise BpfError(err, os.strerror(err))


def delete_each(map_fd: int, keys, key_size: int, count: int) -> list[bool]:
    """Delete count keys laid end to end in one buffer; whether each was there. In batches
    where the kernel has them (one call for all: a sweep of 10,000 keys one by one took 30-50
    ms here), else key by key."""
    done = [True] * count
    base = ct.addressof(keys)
    at = 0
    if _batch_ok is not False and not force_no_batch:
        while at < count:
            attr = _Batch(keys=base + key_size * at, count=count - at, map_fd=map_fd)
            try:
                _bpf(BPF_MAP_DELETE_BATCH, attr)
                return done
            except BpfError as exc:
                if exc.errno != errno.ENOENT:
                    if exc.errno in _NO_BATCH_ERRNOS and attr.count == 0:
                        break  # no batches here: key by key from `at`
                    raise
                at += attr.count  # deleted up to the missing key
                done[at] = False
                at += 1
        else:
            return done
    attr = _Elem(map_fd=map_fd)
    for i in range(at, count):
        attr.key = base + key_size * i
        if _found(BPF_MAP_DELETE_ELEM, attr) is None:
            done[i] = False
    return done


def delete(map_fd: int, key) -> bool:
    return _found(BPF_MAP_DELETE_ELEM, _Elem(map_fd=map_fd, key=_addr(key))) is not None


def lookup_batch(map_fd: int, keys, values, key_size: int, value_size: int, capacity: int) -> int:
    """Every entry of a hash map into preallocated buffers (BPF_MAP_LOOKUP_BATCH); the count."""
    total = 0
    token = ct.c_uint64(0)
    while total < capacity:
        attr = _Batch(
            in_batch=ct.addressof(token) if total else 0,
            out_batch=ct.addressof(token),
            keys=ct.addressof(keys) + key_size * total,
            values=ct.addressof(values) + value_size * total,
            count=capacity - total,
            map_fd=map_fd,
        )
        try:
            _bpf(BPF_MAP_LOOKUP_BATCH, attr)
        except BpfError as exc:
            total += attr.count
            if exc.errno == errno.ENOENT:
                return total
            raise
        total += attr.count
        if attr.count == 0:
            break
    return total


def batch_supported() -> bool:
    return _batch_ok is not False and not force_no_batch


def lookup_all(map_fd: int, keys, values, key_size: int, value_size: int, capacity: int) -> int:
    """Every entry of a hash map into preallocated buffers; the count.

    In batches where the kernel has them, else key by key (BPF_MAP_GET_NEXT_KEY), which
    older kernels have; the first refusal is remembered.
    """
    global _batch_ok
    if _batch_ok is not False and not force_no_batch:
        try:
            n = lookup_batch(map_fd, keys, values, key_size, value_size, capacity)
            _batch_ok = True
            return n
        except BpfError as exc:
            if exc.errno not in _NO_BATCH_ERRNOS:
                raise
            _batch_ok = False
    return _lookup_one_by_one(map_fd, keys, values, key_size, value_size, capacity)


def _lookup_one_by_one(map_fd: int, keys, values, key_size: int, value_size: int, capacity: int) -> int:
    base_k, base_v = ct.addressof(keys), ct.addressof(values)
    n = 0
    prev = 0  # NULL: start from the first key
    seen: set[bytes] = set()
    while n < capacity:
        nxt = base_k + key_size * n
        if _found(BPF_MAP_GET_NEXT_KEY, _Elem(map_fd=map_fd, key=prev, value=nxt)) is None:
            break
        raw = ct.string_at(nxt, key_size)
        if raw in seen:  # the previous key was deleted meanwhile and the walk restarted
            break
        seen.add(raw)
        if _found(BPF_MAP_LOOKUP_ELEM, _Elem(map_fd=map_fd, key=nxt, value=base_v + value_size * n)) is None:
            continue  # deleted between the two calls
        prev = nxt
        n += 1
    return n


class _Id(ct.Structure):
    _fields_ = [("id", ct.c_uint32), ("next_id", ct.c_uint32), ("open_flags", ct.c_uint32)]


def prog_ids() -> set[int]:
    """The ids of every BPF program loaded on the machine (as `bpftool prog list` shows them)."""
    ids: set[int] = set()
    attr = _Id()
    while _found(BPF_PROG_GET_NEXT_ID, attr) is not None:
        ids.add(attr.next_id)
        attr = _Id(id=attr.next_id)
    return ids


def prog_runs(ids) -> tuple[int, int]:
    """(run_time_ns, run_cnt) summed over the programs of these ids that are still loaded,
    from their fdinfo (the kernel counts them while kernel.bpf_stats_enabled is 1)."""
    t = c = 0
    for i in ids:
        fd = _found(BPF_PROG_GET_FD_BY_ID, _Id(id=i))
        if fd is None:  # unloaded meanwhile
            continue
        try:
            t1, c1 = fd_runs(fd)
        finally:
            os.close(fd)
        t += t1
        c += c1
    return t, c


def fd_runs(fd: int) -> tuple[int, int]:
    """(run_time_ns, run_cnt) of the program behind fd, from /proc/self/fdinfo."""
    t = c = 0
    with open(f"/proc/self/fdinfo/{fd}") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k == "run_time_ns":
                t = int(v)
            elif k == "run_cnt":
                c = int(v)
    return t, c


def release_at_least(major: int, minor: int, release: str | None = None) -> bool:
    """Whether the kernel's release (this one's by default) is major.minor or later."""
    m = re.match(r"(\d+)\.(\d+)", release if release is not None else os.uname().release)
    return bool(m) and (int(m[1]), int(m[2])) >= (major, minor)


def possible_cpus() -> int:
    """Per-CPU maps hold one value per possible CPU."""
    with open("/sys/devices/system/cpu/possible") as f:
        n = 0
        for part in f.read().strip().split(","):
            lo, _, hi = part.partition("-")
            n += int(hi or lo) - int(lo) + 1
    return n


def tracefs() -> str:
    for d in ("/sys/kernel/tracing", "/sys/kernel/debug/tracing"):
        if os.path.isdir(f"{d}/events"):
            return d
    raise BpfError(errno.ENOENT, "tracefs is not mounted")


class _LinkCreate(ct.Structure):
    _fields_ = [
        ("prog_fd", ct.c_uint32),
        ("target_fd", ct.c_uint32),
        ("attach_type", ct.c_uint32),
        ("flags", ct.c_uint32),
        ("bpf_cookie", ct.c_uint64),
        ("rest", ct.c_uint8 * 24),
    ]


def attach_tracepoint(prog_fd: int, category: str, event: str) -> tuple[int, int | None]:
    """Attach a loaded tracepoint program: (perf fd, link fd).

    With a BPF link (Linux 5.15), closing the link detaches the program at once; closing the
    perf event itself then waits for the kernel's grace periods (40-80 ms a tracepoint here,
    one after another under a kernel-wide mutex), which no longer keeps the program loaded.
    Without links (older kernels), the link is None and the perf fd holds the program."""
    with open(f"{tracefs()}/events/{category}/{event}/id") as f:
        tp_id = int(f.read())
    attr = _PerfAttr(
        type=PERF_TYPE_TRACEPOINT,
        size=ct.sizeof(_PerfAttr) - 64,
        config=tp_id,
        sample_period=1,
        sample_type=PERF_SAMPLE_RAW,
        wakeup_events=1,
    )
    fd = _libc.syscall(_nr("perf_event_open"), ct.byref(attr), -1, 0, -1, PERF_FLAG_FD_CLOEXEC)
    if fd < 0:
        err = ct.get_errno()
        raise BpfError(err, f"perf_event_open for {category}:{event}: {os.strerror(err)}")
    link = None
    try:
        try:
            link = _bpf(BPF_LINK_CREATE, _LinkCreate(prog_fd=prog_fd, target_fd=fd, attach_type=BPF_PERF_EVENT))
            os.set_inheritable(link, False)
        except BpfError:
            fcntl.ioctl(fd, PERF_EVENT_IOC_SET_BPF, prog_fd)
        fcntl.ioctl(fd, PERF_EVENT_IOC_ENABLE, 0)
    except OSError:
        if link is not None:
            os.close(link)
        os.close(fd)
        raise
    return fd, link


class _RawOpen(ct.Structure):
    _fields_ = [("name", ct.c_uint64), ("prog_fd", ct.c_uint32), ("pad", ct.c_uint32), ("cookie", ct.c_uint64)]


def attach_raw_tracepoint(prog_fd: int, name: str | None) -> int:
    """Attach a loaded raw tracepoint program; closing the returned fd detaches it at once.
    name None: a BTF raw tracepoint program (tp_btf), which names its tracepoint itself."""
    buf = ct.create_string_buffer(name.encode()) if name is not None else None
    try:
        fd = _bpf(BPF_RAW_TRACEPOINT_OPEN, _RawOpen(name=ct.addressof(buf) if buf else 0, prog_fd=prog_fd))
    except BpfError as exc:
        raise BpfError(exc.errno, f"raw tracepoint {name}: {exc.strerror}") from None
    os.set_inheritable(fd, False)
    return fd


def close_in_background(fds: list[int]) -> None:
    """Close perf event fds without waiting: a forked child (its own session, no terminal)
    makes the last close, which waits for the kernel's grace periods, while this process goes
    on and exits. Only for fds whose programs were already detached through links."""
    if not fds:
        return
    try:
        pid = os.fork()
    except OSError:
        pid = -1
    if pid == 0:  # the child: only async-signal-safe work, then leave
        try:
            os.setsid()
            _libc.prctl(15, b"wtop-detach", 0, 0, 0)  # PR_SET_NAME: what ps shows meanwhile
            keep = sorted(fds)
            low = 0
            for fd in keep:
                os.closerange(low, fd)
                low = fd + 1
            os.closerange(low, 65536)
            for fd in keep:
                os.close(fd)
        finally:
            os._exit(0)
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass
    if pid > 0:
        _reap_later(pid)


def _reap_later(pid: int) -> None:
    """Wait for the closing child without blocking: a daemon thread collects it (if this
    process lives that long; otherwise init does)."""
    import threading

    def wait() -> None:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass

    threading.Thread(target=wait, daemon=True, name="perf-close").start()
