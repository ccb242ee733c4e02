"""The kernel's exit records of every thread (taskstats over generic netlink), and what they
say about the bytes a thread made dirty: the part of /proc/PID/io that a process takes with it
when it exits between two reads.

Registering for the exit records of every CPU needs CAP_NET_ADMIN (root). The records are
queued on a socket that wtop drains once an interval, without blocking; one that did not fit
in the socket's buffer is counted as lost (ENOBUFS), never silently dropped.

struct taskstats grows by appending, so the offsets of its fields never change; ac_tgid exists
from version 12 (Linux 5.19) on. write_bytes is rounded down to a KiB in these records
(kernel/tsacct.c, KB_MASK); a page dirtied is 4 KiB, so only direct I/O of sizes that are not
a multiple of 1 KiB can make an exiting thread's last part off, by less than 1 KiB.
"""

from __future__ import annotations

import errno
import os
import socket
import struct

from . import bpfsys

NETLINK_GENERIC = 16
GENL_ID_CTRL = 0x10
CTRL_CMD_GETFAMILY = 3
CTRL_ATTR_FAMILY_ID = 1
CTRL_ATTR_FAMILY_NAME = 2
TASKSTATS_CMD_GET = 1
TASKSTATS_CMD_NEW = 2
TASKSTATS_CMD_ATTR_REGISTER_CPUMASK = 3
TASKSTATS_TYPE_PID = 1
TASKSTATS_TYPE_STATS = 3
TASKSTATS_TYPE_AGGR_PID = 4
NLMSG_ERROR = 2
NLM_F_REQUEST = 1
NLM_F_ACK = 4
AGROUP = 0x20
"""ac_flag: the last thread of its process (Linux 5.19 and later)."""

NLMSG = struct.Struct("<IHHII")
GENL = struct.Struct("<BBH")
NLA = struct.Struct("<HH")
# offsets in struct taskstats (include/uapi/linux/taskstats.h)
VERSION_AT, FLAG_AT, UID_AT, PID_AT, PPID_AT, COMM_AT, WRITE_BYTES_AT, TGID_AT = 0, 8, 120, 128, 132, 80, 256, 368
COMM_LEN = 32
_USUAL = struct.Struct("<IHHIIBBHHHHHIHH")
"""A message's headers as the kernel lays them out: netlink, generic netlink, the process's
figures (AGGR_PID), its thread id (PID), the start of its struct taskstats (STATS)."""
_USUAL_KINDS = (TASKSTATS_CMD_NEW, TASKSTATS_TYPE_AGGR_PID, NLA.size + 4, TASKSTATS_TYPE_PID, TASKSTATS_TYPE_STATS)
_STATS = struct.Struct(
    f"<H{FLAG_AT - 2}xB{COMM_AT - FLAG_AT - 1}x{COMM_LEN}s{UID_AT - COMM_AT - COMM_LEN}xI"
    f"{PPID_AT - UID_AT - 4}xI{WRITE_BYTES_AT - PPID_AT - 4}xQ{TGID_AT - WRITE_BYTES_AT - 8}xI"
)
"""version, ac_flag, comm, uid, parent's pid, write_bytes, tgid of a struct taskstats."""
RCVBUF = 32 << 20
"""Room for about 70,000 exit records between two drains (one is about 450 bytes)."""


class TaskstatsError(OSError):
    pass


def names_last_thread(release: str | None = None) -> bool:
    """Whether this kernel's records say which thread was its process's last (AGROUP, with
    version 12: Linux 5.19 and later). Where they do, a process with no such record has not
    exited (unless records were lost)."""
    return bpfsys.release_at_least(5, 19, release)


def _possible(ncpu: int, path: str = "/sys/devices/system/cpu/possible") -> str:
    """The kernel's list of possible CPUs ("0-3,8-11"): what a listener registers for (a range
    over a hole would be refused)."""
    try:
        with open(path) as f:
            return f.read().strip() or f"0-{ncpu - 1}"
    except OSError:
        return f"0-{ncpu - 1}"


def _attr(kind: int, payload: bytes) -> bytes:
    raw = NLA.pack(NLA.size + len(payload), kind) + payload
    return raw + b"\0" * (-len(raw) % 4)


def _attrs(buf: bytes, start: int, end: int):
    """(type, payload start, payload end) of each netlink attribute in buf[start:end]."""
    while start + NLA.size <= end:
        length, kind = NLA.unpack_from(buf, start)
        if length < NLA.size:
            return
        yield kind & 0x3FFF, start + NLA.size, min(start + length, end)
        start += (length + 3) & ~3


def _messages(buf: bytes):
    """(type, sequence number, start, end) of each netlink message in one read of the socket."""
    at = 0
    while at + NLMSG.size <= len(buf):
        length, kind, _flags, seq, _pid = NLMSG.unpack_from(buf, at)
        if length < NLMSG.size:
            return
        yield kind, seq, at, min(at + length, len(buf))
        at += (length + 3) & ~3


def _usual(buf, at: int, end: int, family: int) -> tuple[int, int, int, bytes, int, int, bool] | None:
    """The record of the message at buf[at:end], when it is the family's, reaches `end` and is
    laid out as the kernel sends it (Linux 5.19 on): its process's figures first, a thread id,
    then a struct taskstats of version 12 or later; None for any other, which parse() reads
    attribute by attribute. Two unpacks each: 10,000 processes that end at once had cost 40 ms
    an interval here."""
    if end - at < _USUAL.size + _STATS.size:
        return None
    length, kind, _flags, _seq, _pid, cmd, _v, _r, _alen, akind, plen, pkind, tid, slen, skind = _USUAL.unpack_from(
        buf, at
    )
    if kind != family or length < end - at:
        return None
    if (cmd, akind & 0x3FFF, plen, pkind & 0x3FFF, skind & 0x3FFF) != _USUAL_KINDS or slen < NLA.size + _STATS.size:
        return None
    version, flag, comm, uid, ppid, write_bytes, tgid = _STATS.unpack_from(buf, at + _USUAL.size)
    if version < 12 or not tid:
        return None
    return tid, tgid, write_bytes, comm.split(b"\0", 1)[0][:16], uid, ppid, bool(flag & AGROUP)


def parse(buf: bytes, family: int) -> list[tuple[int, int, int, bytes, int, int, bool]]:
    """The exit records in one read of the socket: (tid, tgid or 0 when the kernel does not
    say, write_bytes, comm, uid, parent's pid, last thread of its process)."""
    out = []
    for kind, _seq, at, end in _messages(buf):
        if (usual := _usual(buf, at, end, family)) is not None:
            out.append(usual)
        elif kind == family and end - at >= NLMSG.size + GENL.size:
            cmd = buf[at + NLMSG.size]
            if cmd == TASKSTATS_CMD_NEW:
                for a_kind, a_start, a_end in _attrs(buf, at + NLMSG.size + GENL.size, end):
                    if a_kind != TASKSTATS_TYPE_AGGR_PID:
                        continue  # AGGR_TGID holds no I/O figures
                    tid, stats = 0, None
                    for n_kind, n_start, n_end in _attrs(buf, a_start, a_end):
                        if n_kind == TASKSTATS_TYPE_PID and n_end - n_start >= 4:
                            tid = int.from_bytes(buf[n_start : n_start + 4], "little")
                        elif n_kind == TASKSTATS_TYPE_STATS:
                            stats = buf[n_start:n_end]
                    if tid and stats is not None and len(stats) >= WRITE_BYTES_AT + 8:
                        version = int.from_bytes(stats[VERSION_AT : VERSION_AT + 2], "little")
                        tgid = (
                            int.from_bytes(stats[TGID_AT : TGID_AT + 4], "little")
                            if version >= 12 and len(stats) >= TGID_AT + 4
                            else 0
                        )
                        out.append(
                            (
                                tid,
                                tgid,
                                int.from_bytes(stats[WRITE_BYTES_AT : WRITE_BYTES_AT + 8], "little"),
                                stats[COMM_AT : COMM_AT + COMM_LEN].split(b"\0", 1)[0][:16],
                                int.from_bytes(stats[UID_AT : UID_AT + 4], "little"),
                                int.from_bytes(stats[PPID_AT : PPID_AT + 4], "little"),
                                version >= 12 and bool(stats[FLAG_AT] & AGROUP),
                            )
                        )
    return out


class Taskstats:
    """The exit record of every thread on the machine, from now on. close() when done."""

    def __init__(self, ncpu: int) -> None:
        self.lost = 0
        """Records the kernel could not queue (the socket's buffer was full)."""
        self.names_last = names_last_thread()
        """The records name each process's last thread (see names_last_thread)."""
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
        try:
            self._sock.bind((0, 0))
            try:
                self._sock.setsockopt(socket.SOL_SOCKET, 33, RCVBUF)  # SO_RCVBUFFORCE (root)
            except OSError:
                self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
            self.family = self._family_id()
            mask = _possible(ncpu).encode() + b"\0"
            self._request(self.family, TASKSTATS_CMD_GET, _attr(TASKSTATS_CMD_ATTR_REGISTER_CPUMASK, mask))
            self._sock.setblocking(False)
            self._buf = bytearray(1 << 16)
        except OSError as exc:
            self._sock.close()
            raise TaskstatsError(exc.errno or errno.EIO, f"taskstats: {exc.strerror or exc}") from exc

    def _request(self, family: int, cmd: int, payload: bytes) -> bytes:
        """Send one request and wait for its answer (an acknowledgement, or the reply)."""
        body = GENL.pack(cmd, 1, 0) + payload
        self._sock.send(NLMSG.pack(NLMSG.size + len(body), family, NLM_F_REQUEST | NLM_F_ACK, 1, 0) + body)
        self._sock.settimeout(2.0)
        while True:
            buf = self._sock.recv(65536)
            for kind, seq, at, end in _messages(buf):
                if kind == NLMSG_ERROR and seq == 1:
                    code = -struct.unpack_from("<i", buf, at + NLMSG.size)[0]
                    if code:
                        raise OSError(code, os.strerror(code))
                    return buf
                if kind == family and seq == 1:
                    return buf[at:end]

    def _family_id(self) -> int:
        reply = self._request(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, _attr(CTRL_ATTR_FAMILY_NAME, b"TASKSTATS\0"))
        for kind, start, _end in _attrs(reply, NLMSG.size + GENL.size, len(reply)):
            if kind == CTRL_ATTR_FAMILY_ID:
                return struct.unpack_from("<H", reply, start)[0]
        raise OSError(errno.ENOENT, "the kernel has no TASKSTATS netlink family")

    def fileno(self) -> int:
        return self._sock.fileno()

    def drain(self) -> list[tuple[int, int, int, bytes, int, int, bool]]:
        """Every record queued since the last drain; never blocks. Into one buffer, and a
        message holding one record as the kernel lays it out read with two unpacks: 10,000
        processes that ended in one interval had cost 32 ms here."""
        out = []
        buf, recv_into, family = self._buf, self._sock.recv_into, self.family
        while True:
            try:
                n = recv_into(buf)
            except BlockingIOError:
                return out
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:  # some were dropped; the socket goes on
                    self.lost += 1
                    continue
                return out
            if (usual := _usual(buf, 0, n, family)) is not None:  # the read, one usual message
                out.append(usual)
            else:
                out += parse(bytes(buf[:n]), family)

    def close(self) -> None:
        self._sock.close()
