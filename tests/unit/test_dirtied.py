"""The arithmetic of dirtied bytes (probes/dirtied.py), the exit records' wire format
(probes/taskstats.py) and the sharing between devices (the sampler), from made-up figures."""

from __future__ import annotations

import struct

from probes import taskstats
from probes.dirtied import DirtyTracker
from probes.sampler import Reading, Sampler
from tests.unit.test_sampler import cpu as _cpu


class Machine:
    """Threads by process and their write_bytes, as /proc would show them."""

    def __init__(self) -> None:
        self.threads: dict[int, dict[int, int]] = {}
        self.ignoring: set[int] = {2}  # kthreadd: its kernel threads are reaped by no one

    def tracker(self) -> DirtyTracker:
        return DirtyTracker(
            threads=lambda tgid: list(self.threads.get(tgid, {})),
            value=lambda tgid, tid: self.threads.get(tgid, {}).get(tid),
            exists=lambda tid: any(tid in t for t in self.threads.values()),
            all_processes=lambda: list(self.threads),
            ignores_children=lambda pid: pid in self.ignoring,
            whole=self.whole,
        )

    def whole(self, tgid: int) -> int | None:
        """/proc/PID/io of a process (here only its living threads': a change is all the
        tracker looks for)."""
        return sum(self.threads[tgid].values()) if tgid in self.threads else None

    def exit(self, tgid: int, tid: int, last: bool = False, keep: bool = False) -> tuple:
        """The thread's exit record (its figure rounded down to a KiB, as the kernel sends it);
        keep: it stays listed (a zombie leader)."""
        v = self.threads[tgid][tid] if keep else self.threads[tgid].pop(tid)
        if last and not keep:
            del self.threads[tgid]
        return (tid, tgid, v & ~1023, b"w", 0, 1, last)


def test_what_a_process_did_before_wtop_is_not_counted_and_what_it_does_after_is():
    m = Machine()
    m.threads = {100: {100: 5 << 20}, 200: {200: 0, 201: 4096}}
    t = m.tracker()
    m.threads[100][100] += 8192
    m.threads[200][201] += 4096
    out, _, gone = t.step([], [100, 200])
    assert out == {100: 8192, 200: 4096} and gone == set()
    out, _, _ = t.step([], [100, 200])  # nothing new
    assert out == {}


def test_a_process_born_and_gone_within_an_interval_counts_whole_from_its_exit_record():
    m = Machine()
    t = m.tracker()
    m.threads[300] = {300: 20 << 20, 301: 12288}
    records = [m.exit(300, 301), m.exit(300, 300, last=True)]
    out, _, gone = t.step(records, [300])
    assert out == {300: (20 << 20) + 12288} and gone == {300}


def test_a_thread_read_then_exited_counts_only_what_it_did_since():
    m = Machine()
    m.threads = {400: {400: 0, 401: 0}}
    t = m.tracker()
    m.threads[400][401] = 8192
    assert t.step([], [400])[0] == {400: 8192}
    m.threads[400][401] = 8192 + 4096
    out, _, _ = t.step([m.exit(400, 401)], [400])
    assert out == {400: 4096}
    assert 401 not in t.base


def test_a_zombie_leader_still_listed_is_not_counted_twice_and_gives_back_the_rounding():
    m = Machine()
    m.threads = {500: {500: 0}}
    t = m.tracker()
    m.threads[500][500] = 3 * 512  # direct I/O of odd sizes: the record says 1 KiB
    rec = m.exit(500, 500, last=True, keep=True)
    out, _, _ = t.step([rec], [500])  # the record, then its zombie read exactly
    assert out == {500: 1536}
    assert t.step([], [500])[0] == {}


def test_a_record_naming_no_process_is_counted_as_unknown():
    t = Machine().tracker()
    out, _, _ = t.step([(77, 0, 4096, b"x", 0, 1, False)], [])
    assert out == {} and t.unknown == 1


def _attr(kind: int, payload: bytes) -> bytes:
    raw = struct.pack("<HH", 4 + len(payload), kind) + payload
    return raw + b"\0" * (-len(raw) % 4)


def test_exit_records_are_parsed_from_the_kernels_wire_format():
    stats = bytearray(416)
    struct.pack_into("<H", stats, 0, 13)
    stats[8] = taskstats.AGROUP
    struct.pack_into("<I", stats, 120, 1000)  # ac_uid
    struct.pack_into("<I", stats, 132, 4000)  # ac_ppid
    stats[80:84] = b"dd\0\0"
    struct.pack_into("<Q", stats, 256, 20 << 20)  # write_bytes
    struct.pack_into("<I", stats, 368, 4242)  # ac_tgid
    tid = _attr(taskstats.TASKSTATS_TYPE_PID, struct.pack("<I", 4243))

    def message(*attrs: bytes) -> bytes:
        body = struct.pack("<BBH", taskstats.TASKSTATS_CMD_NEW, 1, 0) + _attr(
            taskstats.TASKSTATS_TYPE_AGGR_PID, b"".join(attrs)
        )
        return struct.pack("<IHHII", 16 + len(body), 27, 0, 0, 0) + body

    record = (4243, 4242, 20 << 20, b"dd", 1000, 4000, True)
    msg = message(tid, _attr(taskstats.TASKSTATS_TYPE_STATS, bytes(stats)))  # as the kernel lays it out
    assert taskstats._usual(msg, 0, len(msg), 27) == record
    # a read of two messages, or another family's, is parse()'s to read
    assert taskstats._usual(msg + msg, 0, 2 * len(msg), 27) is None and taskstats._usual(msg, 0, len(msg), 28) is None
    assert taskstats.parse(msg + msg, 27) == [record] * 2
    assert taskstats.parse(msg, 28) == []  # another family's message
    assert taskstats.parse(msg[:40], 27) == []  # cut short: nothing made up
    # laid out otherwise (the stats first), or older (version 11: no tgid, no last thread):
    # read attribute by attribute
    other = message(_attr(taskstats.TASKSTATS_TYPE_STATS, bytes(stats)), tid)
    assert taskstats._usual(other, 0, len(other), 27) is None and taskstats.parse(other, 27) == [record]
    struct.pack_into("<H", stats, 0, 11)
    old = message(tid, _attr(taskstats.TASKSTATS_TYPE_STATS, bytes(stats)))
    assert taskstats._usual(old, 0, len(old), 27) is None
    assert taskstats.parse(old, 27) == [(4243, 0, 20 << 20, b"dd", 1000, 4000, False)]


def test_the_sampler_shares_each_processs_bytes_between_its_devices_by_folios():
    first = Reading(cpu=_cpu(), procs={}, dirty={(1, b"254:0\0\0\0"): 10})
    dirtied = {1: 40960, 2: 8192}
    s = Sampler(
        first,
        10_000_000,
        [],
        alive=lambda pid: True,
        disk_name=lambda ma, mi: f"d{ma}-{mi}",
        dirtied=lambda pids: ({p: dirtied[p] for p in pids if p in dirtied}, {}, {2: (b"mmapper", 0)}, None),
        bdi_disk=lambda bdi: bdi.rstrip(b"\0").decode(),
    )
    r = Reading(
        cpu=_cpu(),
        procs={},
        dirty={(1, b"254:0\0\0\0"): 13, (1, b"8:16\0\0\0\0"): 1, (2, b"8:16\0\0\0\0"): 5},
        names={1: (b"dd", 0, 0)},
    )
    snap, _, _ = s.step(r)
    procs = {p.pid: p for p in snap.processes}
    assert (procs[1].comm, procs[1].dirtied, procs[1].bytes) == ("dd", 40960, 0)
    assert (procs[2].comm, procs[2].dirtied) == ("mmapper", 8192)  # its name from its exit record
    disks = {d.dev: d for d in snap.disks}
    assert disks["254:0"].dirtied == 40960 * 3 // 4 and disks["254:0"].dirtied_by == ((1, "dd", 30720),)
    assert disks["8:16"].dirtied == 10240 + 8192
    assert disks["8:16"].dirtied_by == ((1, "dd", 10240), (2, "mmapper", 8192))
    assert snap.dirtied == 40960 + 8192


def test_a_process_that_ends_passes_what_it_dirtied_to_its_parent_as_the_kernel_does():
    m = Machine()
    m.threads = {10: {10: 0}}  # a shell
    t = m.tracker()
    m.threads[20] = {20: 8192}  # its child, and the child's own child
    m.threads[30] = {30: 4096}
    grandchild = (30, 30, 4096, b"g", 0, 20, True)
    del m.threads[30]
    own, children, gone = t.step([grandchild], [20])
    assert own == {30: 4096, 20: 8192} and children == {20: 4096} and gone == {30}
    del m.threads[20]
    own, children, _ = t.step([(20, 20, 8192, b"c", 0, 10, True)], [])
    assert own == {} and children == {10: 8192 + 4096}  # the child's own and its child's
    m.threads[40] = {40: 4096}  # a kernel thread: kthreadd ignores SIGCHLD, the kernel adds nothing
    own, children, _ = t.step([(40, 40, 4096, b"kworker", 0, 2, True)], [40])
    assert own == {40: 4096} and children == {}


def test_beyond_the_reads_of_an_interval_the_rest_are_read_later_and_nothing_is_lost(monkeypatch):
    from probes import dirtied

    monkeypatch.setattr(dirtied, "READ_MAX", 2)
    m = Machine()
    m.threads = {p: {p: 0} for p in (1, 2, 3, 4)}
    t = m.tracker()
    for p in (1, 2, 3, 4):
        m.threads[p][p] = 4096 * p
    own, _, _ = t.step([], [4, 3, 2, 1])  # the likeliest first
    assert own == {4: 16384, 3: 12288}
    own, _, _ = t.step([], [])
    assert own == {2: 8192, 1: 4096}  # their turn came
    m.threads[1][1] += 4096
    rec = m.exit(1, 1, last=True)
    own, _, _ = t.step([rec], [])
    assert own == {1: 4096}


def test_filtered_exit_records_count_only_for_processes_the_probes_saw():
    m = Machine()
    t = DirtyTracker(
        threads=lambda tgid: list(m.threads.get(tgid, {})),
        value=lambda tgid, tid: m.threads.get(tgid, {}).get(tid),
        exists=lambda tid: True,
        all_processes=lambda: [],
        ignores_children=lambda pid: False,
        filtered=True,
        whole=lambda tgid: sum(m.threads[tgid].values()) if tgid in m.threads else None,
    )
    m.threads = {5: {5: 8192}, 6: {6: 4096}}
    own, _, _ = t.step([], [5])
    assert own == {5: 8192}
    own, children, _ = t.step([m.exit(6, 6, last=True), m.exit(5, 5, last=True)], [])
    assert own == {} and children == {}  # 6 was never seen; 5 dirtied nothing since its read


def test_a_process_whose_io_did_not_move_is_not_walked():
    m = Machine()
    m.threads = {9: {9: 0, 10: 0}}
    walks = []
    t = m.tracker()
    t._threads = lambda tgid: walks.append(tgid) or list(m.threads.get(tgid, {}))
    t.step([], [9])
    assert walks == []  # nothing moved since the start
    m.threads[9][10] = 4096
    assert t.step([], [9])[0] == {9: 4096} and walks == [9]


def test_records_name_a_process_s_last_thread_from_linux_5_19_on():
    assert taskstats.names_last_thread("5.19.0-1-amd64") and taskstats.names_last_thread("6.18.0")
    assert not taskstats.names_last_thread("5.18.19") and not taskstats.names_last_thread("4.19.0-27-amd64")
    assert not taskstats.names_last_thread("unknown")
