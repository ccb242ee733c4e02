"""Lookups in /proc and sysfs: descriptors to paths, devices to disks, uids to names, command lines.

The kernel side reads no kernel structs; what the probes cannot know (a descriptor's path, a
device's name) is looked up here, in user space, and made safe to show (probes.names).
"""

from __future__ import annotations

import functools
import os
import stat

from .names import safe_name

UNRESOLVED = "(not resolved: too many files this interval)"


def resolve_fd(pid: int, fd: int, cached: tuple[str, str, str, str] | None = None) -> tuple[str, str, str, str]:
    """(path, kind, raw target, disk) of a descriptor, read from /proc/PID/fd in user space (wtop
    reads no kernel structs). It may have been closed, or reused, by the time it is resolved;
    with cached, a target that has not changed keeps its kind without a stat. disk is the
    "major:minor" of the whole disk holding a file, or written to as a device ("" if none)."""
    if fd < 0:  # msync and sync name no descriptor
        return "(no descriptor: msync, sync)", "?", "", ""
    link = f"/proc/{pid}/fd/{fd}"
    try:
        target = os.readlink(link)
    except OSError:
        return "(closed)", "?", "", ""
    if cached is not None and cached[2] == target:
        return cached
    disk = ""
    if target.startswith("pipe:"):
        kind = "pipe"
    elif target.startswith("socket:"):
        kind = "socket"
    elif target.startswith(("/dev/pts/", "/dev/tty", "/dev/console")):
        kind = "terminal"
    elif target.startswith("/"):
        try:
            st = os.stat(link)
        except OSError:
            kind = "?"
        else:
            kind = "file" if stat.S_ISREG(st.st_mode) else "other"
            if kind == "file":
                disk = whole_disk(os.major(st.st_dev), os.minor(st.st_dev))
            elif stat.S_ISBLK(st.st_mode):
                disk = whole_disk(os.major(st.st_rdev), os.minor(st.st_rdev))
    else:
        kind = "other"  # anon_inode:[eventfd] and the like
    return safe_name(target), kind, target, disk


@functools.lru_cache(maxsize=1024)
def whole_disk(major: int, minor: int, sysfs: str = "/sys/dev/block", depth: int = 0) -> str:
    """The "major:minor" of the disk a block device belongs to: a partition's disk; for a
    stacked device (device-mapper, md) that sits on one disk only, as LVM on one disk does,
    that disk, where its requests are seen; the device itself otherwise. "" when it is no
    block device (tmpfs, overlay, btrfs subvolumes)."""
    base = f"{sysfs}/{major}:{minor}"
    if not os.path.exists(base):
        return ""
    me = f"{major}:{minor}"
    if os.path.exists(f"{base}/partition"):
        try:
            with open(f"{base}/../dev") as f:
                return f.read().strip()
        except OSError:
            return me
    try:
        slaves = os.listdir(f"{base}/slaves")
    except OSError:
        slaves = []
    if slaves and depth < 8:
        below = set()
        for s in slaves:
            try:
                with open(f"{base}/slaves/{s}/dev") as f:
                    smaj, smin = (int(x) for x in f.read().strip().split(":"))
            except (OSError, ValueError):
                return me
            below.add(whole_disk(smaj, smin, sysfs, depth + 1))
        if len(below) == 1 and "" not in below:
            return below.pop()
    return me


@functools.lru_cache(maxsize=1024)
def bdi_disk(bdi: bytes) -> str:
    """The whole disk ("major:minor") behind a backing device named by the first 8 bytes of its
    name ("254:0"); "" for one that is no block device (a name such as "btrfs-1", "tmpfs")."""
    major, sep, minor = bdi.split(b"\0", 1)[0].partition(b":")
    if not (sep and major.isdigit() and minor.isdigit()):
        return ""
    return whole_disk(int(major), int(minor))


@functools.lru_cache(maxsize=1024)
def disk_name(major: int, minor: int, sysfs: str = "/sys/dev/block") -> str:
    """The kernel's name of a block device (vda, nvme0n1, loop3), made safe; major:minor if unknown."""
    try:
        return safe_name(os.path.basename(os.path.realpath(f"{sysfs}/{major}:{minor}")))
    except OSError:
        return f"{major}:{minor}"


def user_name(uid: int, _cache: dict[int, str] = {}) -> str:  # noqa: B006 - deliberate cache
    """Login name for a uid, the number when unknown; '*' for a group of several users."""
    if uid == -2:
        return "*"
    if uid < 0:
        return "?"
    name = _cache.get(uid)
    if name is None:
        try:
            import pwd

            name = pwd.getpwuid(uid).pw_name
        except (KeyError, ImportError):
            name = str(uid)
        _cache[uid] = name
    return name


def cmdline(pid: int, proc: str = "/proc") -> str:
    """The command line, made safe ('' when gone or a kernel thread)."""
    try:
        with open(f"{proc}/{pid}/cmdline", "rb") as f:
            raw = f.read(4096)
    except OSError:
        return ""
    return safe_name(raw.rstrip(b"\0").replace(b"\0", b" ")) if raw.strip(b"\0") else ""


def comm(pid: int, proc: str = "/proc") -> bytes:
    """A process's raw name (b"?" when gone)."""
    try:
        with open(f"{proc}/{pid}/comm", "rb") as f:
            return f.read(64).rstrip(b"\n")[:16]
    except OSError:
        return b"?"


def alive(pid: int) -> bool:
    """Whether a process exists (a zombie still does); True when we may not ask."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
