from __future__ import annotations

import pytest

from outlets import batch
from probes import procfs, runstate, tables, units, writers
from probes.snapshot import Log2Histogram, Skipped
from tests.conftest import hist, snap


def test_fold_accumulates_totals_and_histograms():
    state = runstate.RunState()
    runstate.fold(
        state,
        snap(
            1,
            [(10, "a", 0, 1000, 10), (11, "b", 0, 50, 5)],
            sizes=hist(b10=15),
            skipped=Skipped(1, 2, 0),
            latency_max_ns=500,
        ),
    )
    runstate.fold(
        state, snap(2, [(10, "a", 0, 3000, 30)], sizes=hist(b10=30), skipped=Skipped(0, 1, 3), latency_max_ns=200)
    )
    assert state.bytes == 4050 and state.writes == 45
    assert state.totals[10].bytes == 4000 and state.totals[10].writes == 40
    assert state.totals[11].bytes == 50
    assert state.sizes.counts[10] == 45
    assert state.skipped == Skipped(1, 3, 3) and state.skipped.total == 7
    assert state.latency_max_ns == 500  # the run's max is the max of the intervals
    assert state.intervals == 2 and state.seconds == 2.0


def test_rows_by_pid_rates_and_order():
    state = runstate.merge([snap(1, [(10, "a", 0, 1000, 10), (11, "b", 0, 4000, 2)], elapsed=2.0)])
    rows = writers.rows(state)
    assert [r.pid for r in rows] == [11, 10]
    assert rows[0].bytes_s == 2000 and rows[0].writes_s == 1.0 and rows[0].avg_size == 2000
    assert writers.rows(state, sort="writes_s")[0].pid == 10
    assert [r.pid for r in writers.rows(state, sort="pid")] == [10, 11]
    assert [r.comm for r in writers.rows(state, sort="comm")] == ["a", "b"]


def test_rows_grouped_by_comm_like_the_seed_one_liner():
    state = runstate.merge(
        [
            snap(1, [(10, "nginx", 33, 100, 1), (11, "nginx", 33, 300, 3), (12, "sh", 0, 5, 1)]),
            snap(2, [(10, "nginx", 33, 100, 1), (12, "sh", 0, 5, 1)]),
        ]
    )
    rows = writers.rows(state, group_by_comm=True)
    nginx = rows[0]
    assert (nginx.comm, nginx.pid, nginx.processes, nginx.uid) == ("nginx", None, 1, 33)
    assert nginx.total_bytes == 500  # @[comm] = sum(args->ret) over the run
    first = writers.rows(runstate.merge([snap(1, [(10, "x", 1, 1, 1), (11, "x", 2, 1, 1)])]), group_by_comm=True)[0]
    assert first.processes == 2 and first.uid == -2 and procfs.user_name(first.uid) == "*"


def test_ties_are_stable_by_key():
    state = runstate.merge([snap(1, [(12, "c", 0, 10, 1), (10, "a", 0, 10, 1), (11, "b", 0, 10, 1)])])
    assert [r.pid for r in writers.rows(state)] == [10, 11, 12]


@pytest.mark.parametrize("seconds", [0.0, -1.0])
def test_rate_guards_an_empty_period(seconds):
    assert units.rate(100, seconds) == 0.0


def test_totals_are_bounded(monkeypatch):
    monkeypatch.setattr(runstate, "MAX_TRACKED", 100)
    state = runstate.RunState()
    for i in range(10):
        runstate.fold(state, snap(i, [(1000 * i + j, "p", 0, j + 1, 1) for j in range(50)]))
    assert len(state.totals) == 100
    assert state.forgotten == 400
    assert all(pid // 1000 == 9 for pid in list(state.totals)[-50:])
    # accumulated mode: the forgotten ones counted together, never lost
    rows = writers.rows(state, accumulated=True, sort="total_bytes")
    assert len(rows) == 101 and sum(r.total_bytes for r in rows) == state.bytes
    other = next(r for r in rows if r.key == "forgotten")
    assert other.comm == "(400 others)" and other.processes == 400
    text = batch.text_block(state.last, state, 0, accumulated=True)
    assert "(400 others)" in text and f"{other.total_bytes:,}" in text


def test_percentiles_interpolate_within_the_bucket():
    h = hist(b11=100)  # 100 writes in [1024, 2048)
    assert tables.percentile(h, 0.5) == pytest.approx(1536)
    assert tables.percentile(h, 0.99) == pytest.approx(1024 + 1024 * 0.99)
    # the exact max caps the top bucket
    assert tables.percentile(h, 1.0, max_value=1100) == pytest.approx(1101)
    assert tables.percentile(Log2Histogram(), 0.5) is None
    two = hist(b5=90, b20=10)
    assert 16 <= tables.percentile(two, 0.5) < 32
    assert 2**19 <= tables.percentile(two, 0.95) < 2**20


def test_exceeding_counts_whole_buckets_above():
    h = hist(b10=5, b24=3, b25=2)  # 512.., 8M.., 16M..
    assert tables.exceeding(h, 10_000_000) == 2


def test_bucket_labels_match_bpftrace():
    assert units.bucket_label(0) == "[0]"
    assert units.bucket_label(1) == "[1]"
    assert units.bucket_label(2) == "[2, 4)"
    assert units.bucket_label(13) == "[4K, 8K)"
    assert units.bucket_label(11) == "[1K, 2K)"
    assert units.bucket_label(21) == "[1M, 2M)"
    assert units.ns_bucket_label(24) == "[8.4ms, 17ms)"
    assert Log2Histogram.bucket_of(4096) == 13 and Log2Histogram.bucket_of(4095) == 12
    assert Log2Histogram.bucket_of(1) == 1 and Log2Histogram.bounds(13) == (4096, 8192)


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0 B"),
        (999, "999 B"),
        (999.7, "1.0 KiB"),
        (1000, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (1023 * 1024, "1.0 MiB"),
        (12.3 * 2**20, "12.3 MiB"),
        (2**40, "1.0 TiB"),
    ],
)
def test_human_bytes(n, text):
    assert units.human_bytes(n) == text


def test_human_units():
    assert units.human_rate(4096) == "4.0 KiB/s"
    assert units.human_ns(850) == "850ns" and units.human_ns(12_500) == "12.5us"
    assert units.human_ns(3_200_000) == "3.2ms" and units.human_ns(1_500_000_000) == "1.50s"
    assert units.human_count(999) == "999" and units.human_count(1200) == "1.2k"


def test_histogram_arithmetic_and_shape():
    a, b = hist(b3=2), hist(b3=1, b4=1)
    assert (a + b).counts[3] == 3 and (a + b - b) == a and (a + b).total == 4
    with pytest.raises(ValueError):
        Log2Histogram((1, 2))


def test_writes_rate_fits_its_column():
    from tui.views.top import writes_rate

    assert [writes_rate(v) for v in (0, 4, 9.97, 10, 1024, 99_999.4, 123_456)] == [
        "0.0",
        "4.0",
        "10",
        "10",
        "1,024",
        "99,999",
        "123.5k",
    ]


def test_every_column_fits_its_title_with_the_sort_marker_and_80_columns():
    from tui.views.top import COLUMNS

    for key, title, _right, width, *_grow in COLUMNS:
        assert len(title) + 1 <= width, key
    assert sum(c[3] + 1 for c in COLUMNS if len(c) < 6 or c[5] <= 80) <= 80  # what shows at 80 columns


def test_container_totals_count_each_byte_once():
    # two processes in cgroup 7, one in 8, over two intervals
    state = runstate.merge(
        [
            snap(1, [(10, "a", 0, 1000, 1, 0, (), 7), (11, "b", 0, 500, 1, 0, (), 7), (12, "c", 0, 30, 1, 0, (), 8)]),
            snap(2, [(10, "a", 0, 2000, 2, 0, (), 7)], elapsed=2.0),
        ]
    )
    assert state.cgroup_totals == {7: 3500, 8: 30}
    rows = tables.container_rows(state, lambda cg: (f"cg{cg}", f"/cg{cg}"))
    assert [(r.name, r.processes, r.bytes_s, r.total_bytes) for r in rows] == [("cg7", 1, 1000.0, 3500)]


def _disk_snap(seq, disks=(), files=(), focus=None, elapsed=1.0):
    from dataclasses import replace as _r

    return _r(
        snap(seq, [(10, "db", 0, sum(f.bytes for f in files), 1, 0, (0, 1, 0, 0, 0))], elapsed=elapsed),
        disks=disks,
        files=files,
        focus=focus,
    )


def test_disk_rows_keep_every_device_seen_and_compare_with_write():
    from probes.snapshot import DiskWrites, FileWrites

    a = _disk_snap(
        1,
        disks=(DiskWrites("8:0", "sda", 4096, 1, 0, 2, hist(b17=1), 90_000, 90_000),),
        files=(
            FileWrites(10, 3, "/data/x", "file", 8192, 2, "8:0"),
            FileWrites(10, 4, "(closed)", "?", 100, 1),
            FileWrites(10, 5, "/mnt/y", "file", 50, 1, "259:1"),
        ),
    )
    b = _disk_snap(2, disks=(DiskWrites("8:0", "sda", 12288, 2, 1, 0, hist(b18=2), 200_000, 300_000),), elapsed=2.0)
    state = runstate.merge([a])
    rows = {r.dev: r for r in tables.disk_rows(state)}
    assert rows["8:0"].written_s == 8192 and rows["8:0"].bytes_s == 4096 and rows["8:0"].flushes_s == 2
    assert rows["259:1"].written_s == 50 and rows["259:1"].bytes_s == 0  # write() only, nothing reached it
    assert runstate.unplaced(a) == 100 and state.unplaced == 100
    runstate.fold(state, b)
    rows = tables.disk_rows(state)
    assert [r.dev for r in rows] == ["8:0", "259:1"]  # both still listed, the busy one first
    sda = rows[0]
    assert (sda.bytes_s, sda.iops, sda.avg_size, sda.max_ns) == (6144, 1, 6144, 200_000)
    assert (sda.total_bytes, sda.total_written) == (16384, 8192)
    assert state.disks["8:0"].latency.total == 3 and state.disks["8:0"].latency_max_ns == 200_000
    assert rows[1].written_s == 0 and rows[1].total_written == 50


def test_focus_sums_while_open_and_calls_fall_back_to_counts():
    from probes.snapshot import FocusWrites

    f1 = FocusWrites(10, 100, 2, 0, hist(b7=2), hist(b10=2), 900, 1500, 0, 0, (1, 1, 0, 0, 0), (60, 40, 0, 0, 0))
    f2 = FocusWrites(10, 300, 1, 1, hist(b9=1), hist(b12=1), 3000, 3000, 1, 0, (0, 1, 0, 0, 0), (0, 300, 0, 0, 0))
    state = runstate.merge([_disk_snap(1, focus=f1), _disk_snap(2, focus=f2, elapsed=2.0)])
    run = state.focus[10]
    assert (run.bytes, run.writes, run.errors, run.sla_missed) == (400, 3, 1, 1)
    assert run.sizes.total == 3 and run.latency_max_ns == 3000 and run.call_bytes == (60, 340, 0, 0, 0)
    calls = tables.process_calls(state, 10)
    assert [c.call for c in calls] == ["write", "pwrite64", "writev", "pwritev", "pwritev2"]
    assert (calls[1].writes_s, calls[1].bytes_s, calls[1].share) == (0.5, 150.0, 1.0)
    assert (calls[1].total_writes, calls[1].total_bytes) == (2, 340)
    # without the kernel's own figures for it: the counts by call, no bytes
    bare = runstate.merge([_disk_snap(1)])
    calls = tables.process_calls(bare, 10)
    assert calls[1].writes_s == 1 and calls[1].bytes_s is None and calls[1].total_writes is None
    assert calls[1].share == 1.0


def test_per_process_history_is_bounded_and_keeps_the_biggest_writers():
    from probes import runstate

    state = runstate.RunState()
    big = snap(1, [(1, "big", 0, 10**9, 1000)])
    runstate.fold(state, big)
    for seq in range(2, 60):  # 50 short-lived processes an interval, one write each
        procs = [(seq * 100 + i, "short", 0, 10 + i, 1) for i in range(50)]
        runstate.fold(state, snap(seq, procs))
    assert len(state.proc_history) <= runstate.PROC_HISTORIES * 11 // 10
    assert 1 in state.proc_history  # the biggest writer keeps its history
    assert state.proc_points == sum(len(v) for v in state.proc_history.values())
    pts = runstate.process_points(state, 1)
    assert len(pts) == 59 and pts[0].bytes_s == 10**9 and all(p.bytes_s == 0 for p in pts[1:])


def test_a_process_history_carries_what_it_dirtied_and_the_machines_skipped_events():
    from dataclasses import replace

    from probes import runstate

    state = runstate.RunState()
    s1 = snap(1, [(7, "db", 0, 4096, 1)])
    s1 = replace(s1, processes=(s1.processes[0]._replace(dirtied=8192),), skipped=Skipped(no_entry=3))
    runstate.fold(state, s1)
    runstate.fold(state, snap(2, [(8, "other", 0, 10, 1)]))
    pts = runstate.process_points(state, 7)
    assert [(p.dirtied_s, p.skipped) for p in pts] == [(8192.0, 3), (0.0, 0)]
    from tui.views.history import PROCESS_BYTES

    assert [PROCESS_BYTES.marked(p) for p in pts] == [True, False]  # x where events were skipped


def test_top_writers_with_a_limit_are_the_head_of_the_whole_list():
    """Only the rows the table shows are made: the same rows, in the same order, for every
    sort key, ties (equal figures) included."""
    import random

    rnd = random.Random(7)
    state = runstate.RunState()
    for seq in range(1, 4):
        runstate.fold(
            state,
            snap(
                seq,
                [
                    (
                        1000 + i,
                        f"w{rnd.randrange(30)}",
                        0,
                        rnd.choice((0, 512, 4096, 4096 * rnd.randrange(9))),
                        rnd.randrange(1, 5),
                    )
                    for i in range(300)
                ],
            ),
        )
    for key in writers.SORT_KEYS:
        whole = writers.rows(state, sort=key)
        assert writers.rows(state, sort=key, limit=100) == whole[:100], key
