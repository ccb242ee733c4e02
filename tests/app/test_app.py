"""The dashboard driven with Pilot: keys, views, refreshes, hostile names, the worker."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest
from textual.widgets import ContentSwitcher, Static

from probes.program import NO_LATENCY_NOTE
from probes.snapshot import Cost, Family, Log2Histogram, Skipped
from tests.app.conftest import FIXED_TIME, make_app, until, workload
from tests.conftest import hist, snap
from tui.app import AppConfig, WtopApp
from tui.messages import SnapshotReady
from tui.screens import HelpScreen, TooSmallScreen
from tui.views.histograms import HistogramView
from tui.views.top import TopTable, TopView


async def feed(pilot, *snaps):
    for s in snaps:
        pilot.app.post_message(SnapshotReady(s))
    await pilot.pause()


def table_rows(app) -> list[list[str]]:
    t = app.query_one(TopTable)
    return [t.row_plain(i) for i in range(t.row_count)]


def header(app) -> dict[str, str]:
    return {c.key: c.title for c in app.query_one(TopTable).columns}


async def test_top_writers_show_exact_figures_sorted_by_bytes():
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await feed(pilot, workload())
        rows = table_rows(app)
        assert [r[0] for r in rows] == ["4242", "1717", "1718", "999"]
        assert rows[0][1:7] == ["postgres", "root", "8.0 MiB/s", "1,024", "8.0 KiB", "8.0 MiB"]
        assert rows[1][2] == "nobody"
        assert rows[3][1] == "[/bold]\\x1b[2J"  # hostile name shown literally


async def test_view_keys_and_tab():
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await feed(pilot, workload())
        switcher = app.query_one(ContentSwitcher)
        for key, view in (
            ("2", "sizes"),
            ("3", "latency"),
            ("1", "top"),
            ("tab", "sizes"),
            ("tab", "latency"),
            ("tab", "files"),
            ("tab", "containers"),
            ("tab", "disks"),
            ("tab", "top"),
            ("shift+tab", "disks"),
            ("4", "files"),
            ("5", "containers"),
            ("6", "disks"),
        ):
            await pilot.press(key)
            assert switcher.current == view == app.view


async def test_sort_key_cycles_and_marks_the_column():
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await feed(pilot, workload())
        await pilot.press("s")
        assert app.query_one(TopView).sort_key == "writes_s"
        assert header(app)["writes_s"] == "WRITES/S*"
        assert header(app)["bytes_s"] == "BYTES/S"
        assert [r[0] for r in table_rows(app)] == ["1717", "1718", "4242", "999"]
        for _ in range(4):  # avg size, total, dirtied, pid
            await pilot.press("s")
        assert app.query_one(TopView).sort_key == "pid"
        assert [r[0] for r in table_rows(app)] == ["999", "1717", "1718", "4242"]


async def test_group_by_name_sums_processes():
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await feed(pilot, workload())
        await pilot.press("g")
        rows = table_rows(app)
        nginx = next(r for r in rows if r[1] == "nginx")
        assert nginx[0] == "2" and nginx[3] == "768.0 KiB/s" and nginx[4] == "6,144"
        assert header(app)["pid"] == "PROCS"
        await pilot.press("g")
        assert len(table_rows(app)) == 4


async def test_cursor_follows_its_process_across_refreshes():
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await feed(pilot, workload(1))
        table = app.query_one(TopTable)
        await pilot.press("down", "down")  # onto 1718
        assert table_rows(app)[table.cursor_row][0] == "1718"
        # 1718 becomes the top writer: the cursor moves with it
        await feed(
            pilot,
            snap(2, [(4242, "postgres", 0, 10, 1), (1718, "nginx", 65534, 10**9, 5), (1717, "nginx", 65534, 100, 1)]),
        )
        assert table_rows(app)[0][0] == "1718"
        assert table_rows(app)[table.cursor_row][0] == "1718"
        # its row disappears: the cursor stays where it was
        await feed(pilot, snap(3, [(4242, "postgres", 0, 10, 1), (1717, "nginx", 65534, 100, 1)]))
        assert table.cursor_row <= 1


async def test_scroll_position_survives_refresh():
    app = make_app()
    procs = [(1000 + i, f"w{i}", 0, 10_000 - i, 1) for i in range(200)]
    async with app.run_test(size=(80, 24)) as pilot:
        await feed(pilot, snap(1, procs))
        table = app.query_one(TopTable)
        await pilot.press("pagedown", "pagedown")
        top, row = table.top, table.cursor_row
        assert top > 0 and row > 0
        await feed(pilot, snap(2, procs))
        assert table.top == top and table.cursor_row == row


async def test_pause_keeps_counting_but_freezes_the_screen():
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await feed(pilot, workload(1))
        await pilot.press("p")
        assert app.paused
        await feed(pilot, snap(2, [(7, "newcomer", 0, 10**9, 1)]))
        assert "7" not in [r[0] for r in table_rows(app)]
        assert app.state.intervals == 2  # still folded
        await pilot.press("p")
        assert [r[0] for r in table_rows(app)] == ["7"]


async def test_period_key_toggles_histogram_periods():
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await feed(pilot, workload())
        await pilot.press("2")
        view = app.query_one("#sizes", HistogramView)
        await pilot.press("c")
        assert view.period == "interval" and view.has_class("period-interval")
        assert not app.query_one("#sizes-run").display
        await pilot.press("c")
        assert view.period == "run" and not app.query_one("#sizes-interval").display
        await pilot.press("c")
        assert view.period == "both"


async def test_help_opens_and_closes():
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_the_help_s_last_lines_are_reached_with_its_keys(size):
    """The help is taller than a 120x40 terminal: end, pgdn and home scroll it (its scroll had
    no focus, and no key reached it). A note wider than the terminal wraps within it (the
    text was as wide as its longest line, and cut at the screen's edge)."""
    from textual.containers import VerticalScroll

    from probes.program import PACE_NOTE

    app = make_app()
    async with app.run_test(size=size) as pilot:
        await feed(pilot, replace(workload(), notes=(PACE_NOTE,)))
        await pilot.press("question_mark")
        await pilot.pause()
        scroll = app.screen.query_one(VerticalScroll)
        assert (
            len(PACE_NOTE) > size[0]
            and app.screen.query_one(Static).size.width <= scroll.scrollable_content_region.width
        )
        assert scroll.max_scroll_y > 0 and scroll.scroll_y == 0
        await pilot.press("end")
        await pilot.pause()
        assert scroll.scroll_y == scroll.max_scroll_y
        await pilot.press("home")
        await pilot.pause()
        assert scroll.scroll_y == 0
        await pilot.press("pagedown")
        await pilot.pause()
        assert 0 < scroll.scroll_y <= scroll.max_scroll_y
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


async def test_help_lists_what_each_probe_cost_as_bpftop_does():
    """The help says what wtop cost in the last interval: its CPU, its probes' run time per
    event, and each program (bpftop's list: runs a second, ns a run, share of a CPU), the
    busiest first; with bpf_stats off it says how to turn them on."""
    progs = (("sys_enter", 2_000_000, 20_000), ("sys_exit", 3_000_000, 20_000), ("block_rq_issue", 0, 0))
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await feed(pilot, replace(workload(), elapsed=0.5, cost=Cost(0.005, 5_000_000, 40_000, progs)))
        await pilot.press("question_mark")
        text = str(app.screen.query_one(Static).render())
        assert "What wtop cost in the last interval: wtop 1.0% cpu, probes 125 ns/event" in text
        table = [ln.split() for ln in text.splitlines() if ln.startswith("  sys_") or ln.startswith("  block")]
        assert table == [
            ["sys_exit", "40.0k", "150", "0.60%"],
            ["sys_enter", "40.0k", "100", "0.40%"],
            ["block_rq_issue", "0", "-", "0.00%"],
        ]
        assert "wtop --no-latency times no call" in text  # the lever, where the cost is shown
        await pilot.press("escape")
        await feed(pilot, replace(workload(2), cost=Cost(0.005), notes=(NO_LATENCY_NOTE,)))
        await pilot.press("question_mark")
        assert "wtop --no-latency times no call" not in str(app.screen.query_one(Static).render())  # already so
        await pilot.press("escape")
        await feed(pilot, replace(workload(3), cost=Cost(0.005)))
        await pilot.press("question_mark")
        text = str(app.screen.query_one(Static).render())
        assert "sysctl kernel.bpf_stats_enabled=1" in text
        assert not any(ln.startswith(("  tracepoint", "  sys_exit")) for ln in text.splitlines())


async def test_skipped_events_are_in_the_status_bar():
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await feed(pilot, workload(1), snap(2, [], skipped=Skipped(0, 4, 1)))
        text = app.query_one("#status").plain
        assert "skipped 5 (run 8: map full 2, no entry 5, recursion 1)" in text


async def test_latency_view_shows_percentiles_and_sla():
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await feed(pilot, workload())
        await pilot.press("3")
        facts = str(app.query_one("#latency-facts").render())
        assert "max 12.3ms" in facts
        assert "> 10.0ms 3/7,174 (0.04%)" in facts
        assert "p50 ~" in facts and "p99 ~" in facts


async def test_q_quits():
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("q")
    assert app.return_code == 0


class CountingSource:
    """A synthetic source for the real worker: one snapshot a call."""

    def __init__(self):
        self.calls = 0
        self.threads = set()

    def sample(self):
        self.calls += 1
        self.threads.add(threading.current_thread().name)
        return snap(self.calls, [(1, "init", 0, 100, 1)], elapsed=0.05)


async def test_worker_samples_on_schedule_and_stops_on_quit():
    source = CountingSource()
    app = make_app(source, interval=0.05, start_worker=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.state.intervals >= 5)  # 5 intervals of 0.05 s: 0.25 s idle
        assert app.state.intervals >= 5
        assert threading.main_thread().name not in source.threads
        t0 = time.monotonic()
        await pilot.press("q")
    assert time.monotonic() - t0 < 1.0
    calls = source.calls
    time.sleep(0.2)
    assert source.calls == calls  # the worker stopped


class GatedSource(CountingSource):
    """A CountingSource whose reads wait until the test opens the gate: the test's first
    look at the screen comes before any read of the worker's, however slow the machine."""

    def __init__(self):
        super().__init__()
        self.gate = threading.Event()

    def sample(self):
        self.gate.wait(30)
        return super().sample()


async def test_figures_read_before_the_screen_are_in_its_first_frame():
    """run_dashboard reads the first interval before the screen starts (a frame without
    figures and then one with them cost 30-60 ms of a start): the first frame shows it, the
    outlets get it from the worker, and the worker's own first read comes an interval on,
    counting towards --count after it."""
    source = GatedSource()
    first = snap(1, [(4242, "postgres", 0, 8192, 2)], elapsed=0.2)
    seen: list = []
    config = AppConfig(interval=0.3, start_worker=True, host="testhost", count=2)
    app = WtopApp(source, config, clock=lambda: FIXED_TIME, sinks=(seen.append,), first=first)
    async with app.run_test(size=(120, 40)) as pilot:
        assert source.calls == 0 and app.state.intervals == 1  # before the worker's first read
        (row,) = table_rows(app)
        assert row[:4] == ["4242", "postgres", "root", "40.0 KiB/s"]  # 8 KiB in 0.2 s
        assert "run 8.0 KiB, 2 writes" in app.query_one("#status").plain
        source.gate.set()
        await until(pilot, lambda: not app.is_running)  # --count 2: the first interval and the worker's one
    assert source.calls == 1 and seen == [first, snap(1, [(1, "init", 0, 100, 1)], elapsed=0.05)]
    assert app.state.intervals == 2 and app.return_code == 0


class FailingSource:
    def sample(self):
        raise OSError("the BPF map went away")


async def test_source_error_exits_with_its_message():
    app = make_app(FailingSource(), interval=0.05, start_worker=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: not app.is_running)  # the first read fails at once: it ends itself
    assert app.return_code == 1 and app.error == "the BPF map went away"


async def test_a_tiny_terminal_says_how_much_room_it_needs():
    app = make_app()
    async with app.run_test(size=(50, 10)) as pilot:
        await feed(pilot, workload())
        await pilot.pause()
        msg = str(app.screen.query_one("#too-small").render())
        assert "at least 60x12" in msg and "50x10" in msg
        assert isinstance(app.screen, TooSmallScreen)
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert not isinstance(app.screen, TooSmallScreen)
        assert app.state.intervals == 1


@pytest.mark.parametrize(
    "note",
    ["latency: unavailable, this kernel has no syscalls:sys_enter_write tracepoint", NO_LATENCY_NOTE],
    ids=["kernel", "no-latency"],
)
async def test_missing_latency_is_said_in_its_view_and_help(note):
    from dataclasses import replace

    from tui.widgets import HistPlot

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await feed(pilot, replace(workload(), notes=(note, "recursion: unavailable, no fdinfo")))
        await pilot.press("3")
        facts = str(app.query_one("#latency-facts").render())
        assert "write latency " + note.split(": ", 1)[1] in facts
        # its plots are empty because nothing was timed, not because nothing was written
        assert [p.empty for p in app.query(HistPlot) if p.id.startswith("latency-")] == ["not timed"] * 2
        assert "recursion n/a" in app.query_one("#status").plain
        await pilot.press("question_mark")
        assert note in str(app.screen.query_one(Static).render())


def with_files(seq=1):
    from dataclasses import replace

    from probes.snapshot import FileWrites

    return replace(
        workload(seq),
        files=(
            FileWrites(4242, 7, "/var/lib/pg/base/16384", "file", 8 * 1024 * 1024 - 4096, 1023),
            FileWrites(4242, 9, "socket:[991]", "socket", 4096, 1),
            FileWrites(1717, 3, "/var/log/nginx/access.log", "file", 512 * 1024, 4096),
            FileWrites(1718, 1, "pipe:[77]", "pipe", 256 * 1024, 2048),
            FileWrites(999, 2, "(closed)", "?", 1000, 10),
        ),
    )


async def test_files_view_and_the_kind_column():
    from tui.views.files import FilesTable

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await feed(pilot, with_files())
        top = {r[0]: r for r in table_rows(app)}
        assert top["4242"][-1] == "file" and top["1718"][-1] == "pipe" and top["999"][-1] == "?"
        await pilot.press("4")
        files = app.query_one(FilesTable)
        rows = [files.row_plain(i) for i in range(files.row_count)]
        assert rows[0][:5] == ["4242", "postgres", "7", "file", "/var/lib/pg/base/16384"]
        assert [r[3] for r in rows] == ["file", "file", "pipe", "socket", "?"]
        assert rows[-1][4] == "(closed)"


async def test_kind_column_hides_on_80_columns_and_t_switches_it():
    from dataclasses import replace

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await feed(pilot, with_files())
        views = list(app.query_one(TopTable).query("_ColumnView"))
        assert not views[7].display  # TO does not fit: the table stays within 80 columns
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        snap = with_files()
        snap = replace(snap, processes=tuple(p._replace(calls=(1, 0, 3, 0, 0)) for p in snap.processes))
        await feed(pilot, snap)
        await pilot.press("t")
        assert header(app)["to"] == "VIA"
        assert table_rows(app)[0][-1] == "writev 75%"
        await pilot.press("t")
        assert header(app)["to"] == "TO"


async def test_slash_filters_rows_as_you_type():
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await feed(pilot, with_files())
        await pilot.press("slash", "n", "g")
        assert [r[1] for r in table_rows(app)] == ["nginx", "nginx"]
        await pilot.press("enter")
        from textual.widgets import Input

        from tui.views.files import FilesTable

        assert app.name_filter == "ng" and app.query_one("#filter", Input).value == "ng"
        await pilot.press("4")  # the filter applies to the files view too
        files = app.query_one(FilesTable)
        assert {files.row_plain(i)[1] for i in range(files.row_count)} == {"nginx"}
        await pilot.press("escape")
        assert app.name_filter == "" and files.row_count == 5
        await pilot.press("slash", "p", "g", "enter")  # in files, the path counts too
        assert [files.row_plain(i)[4] for i in range(files.row_count)] == ["/var/lib/pg/base/16384"]


async def test_containers_view_groups_by_cgroup():
    from dataclasses import replace

    from tui.views.containers import ContainersTable

    app = make_app()
    names = {11: ("nginx.service", "/system.slice/nginx.service"), 22: ("docker 3f2a9c1b7d4e", "/docker/3f2a")}

    class Fake:
        def name(self, cgid):
            return names.get(cgid, ("?", ""))

    app.cgroups = Fake()
    snap = workload()
    groups = {4242: 22, 1717: 11, 1718: 11, 999: 0}
    snap = replace(snap, processes=tuple(p._replace(cgroup=groups[p.pid]) for p in snap.processes))
    async with app.run_test(size=(120, 40)) as pilot:
        await feed(pilot, snap)
        await pilot.press("5")
        t = app.query_one(ContainersTable)
        rows = [t.row_plain(i) for i in range(t.row_count)]
        assert [r[0] for r in rows] == ["docker 3f2a9c1b7d4e", "nginx.service", "?"]
        assert rows[1][1] == "2" and rows[1][2] == "768.0 KiB/s"


async def test_slash_inside_the_filter_is_text_and_help_ignores_it():
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await feed(pilot, with_files())
        await pilot.press("4", "slash", "slash", "v", "a", "r")
        assert app.name_filter == "/var"
        await pilot.press("escape", "question_mark", "slash")
        assert isinstance(app.screen, HelpScreen) and app.name_filter == ""


def threaded(seq, busy=True):
    """Process 500 with threads 501 "logwriter" and 502 "flusher"; process 600 only at first."""
    from probes.snapshot import ThreadWrites

    procs = [(500, "dbserver", 0, 3000 if busy else 0, 3 if busy else 0)]
    threads = [ThreadWrites(500, 501, "logwriter", 2000, 2), ThreadWrites(500, 502, "flusher", 1000, 1)]
    if seq == 1:
        procs.append((600, "oneshot", 0, 10_000, 10))
        threads.append(ThreadWrites(600, 600, "oneshot", 10_000, 10))
    s = snap(seq, [p for p in procs if p[4]])
    return replace(s, threads=tuple(t for t in threads if busy or t.pid == 600), exited=(600,) if seq == 3 else ())


async def test_g_groups_by_the_writing_threads_name():
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await feed(pilot, threaded(1))
        await pilot.press("g")
        await pilot.pause()
        rows = {r[1]: r for r in table_rows(app)}
        assert set(rows) == {"logwriter", "flusher", "oneshot"}  # not "dbserver": its threads wrote
        assert rows["logwriter"][3] == "2.0 KiB/s" and rows["flusher"][6] == "1.0 KiB"


def screen_text(app) -> str:
    return "\n".join("".join(seg.text for seg in strip) for strip in app.screen._compositor.render_strips())


@pytest.mark.parametrize(
    ("width", "keys", "shown"),
    [
        (120, (), False),
        (129, (), False),
        (130, (), True),
        (120, ("a",), True),
        (80, ("a",), True),
        (80, ("a", "a"), False),
    ],
)
async def test_total_shows_in_accumulated_mode_or_from_130_columns(width, keys, shown):
    """A steady writer's TOTAL changes every second (about 1 KiB/s over SSH for a screenful):
    rates by default, as iotop; totals on a, or where there is room to spare."""
    app = make_app()
    async with app.run_test(size=(width, 40)) as pilot:
        await feed(pilot, workload())
        for key in keys:
            await pilot.press(key)
        await pilot.pause()
        head = next(ln for ln in screen_text(app).splitlines() if "COMMAND" in ln)
        assert ("TOTAL" in head) == shown, head
        assert "BYTES/S" in head


async def test_a_shows_every_process_since_start_and_H_its_threads():
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await feed(pilot, threaded(1), threaded(2), threaded(3, busy=False))
        assert [r[0] for r in table_rows(app)] == []  # the last interval: nobody wrote
        await pilot.press("a")
        await pilot.pause()
        rows = table_rows(app)
        assert [r[0] for r in rows] == ["600", "500"]  # by TOTAL, idle and gone ones included
        assert rows[0][6] == "9.8 KiB" and rows[0][3] == "0 B/s" and rows[1][6] == "5.9 KiB"
        assert header(app)["total_bytes"] == "TOTAL*"
        await pilot.press("H")
        await pilot.pause()
        rows = table_rows(app)
        assert [(r[0], r[1].strip()) for r in rows] == [
            ("600", "oneshot"),
            ("600", "oneshot"),
            ("500", "dbserver"),
            ("501", "logwriter"),
            ("502", "flusher"),
        ]
        assert rows[3][6] == "3.9 KiB"  # logwriter's own total: 2 x 2000 B
        await pilot.press("a", "H")
        await pilot.pause()
        assert table_rows(app) == [] and header(app)["bytes_s"] == "BYTES/S*"


async def test_a_with_g_lists_every_name_since_start():
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await feed(pilot, threaded(1), threaded(2), threaded(3, busy=False))
        await pilot.press("a", "g")
        await pilot.pause()
        rows = {r[1]: r for r in table_rows(app)}
        assert set(rows) == {"logwriter", "flusher", "oneshot"}  # quiet now, totals since start
        assert (
            rows["logwriter"][3] == "0 B/s" and rows["logwriter"][6] == "3.9 KiB" and rows["logwriter"][5] == "1.0 KiB"
        )


def with_families(s):
    """A snapshot whose process also copied with sendfile and fsynced, with each family's own
    histograms: the write family keeps the seed's figures at the top level."""
    b = Log2Histogram.bucket_of
    copy = Family("copy", calls=3, bytes=3 * 65536, sizes=hist(**{f"b{b(65536)}": 3}), latency=hist(b17=3))
    sync = Family("sync", calls=4, latency=hist(b21=2, b26=2), latency_max_ns=41_000_000, sla_missed=2)
    write = Family("write", calls=s.writes, bytes=s.bytes, sizes=s.sizes, latency=s.latency)
    return replace(s, families=(write, copy, sync), sync_calls=(3, 1, 0, 0, 0, 0))


async def test_f_switches_the_histograms_between_families():
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await feed(pilot, with_families(workload()))
        await pilot.press("2")
        view = app.query_one("#sizes", HistogramView)
        seed = str(app.query_one("#sizes-facts").render())
        assert view.family == "write" and "7,178 calls" in seed  # the seed's figures by default
        await pilot.press("f")
        facts = str(app.query_one("#sizes-facts").render())
        assert view.family == "copy" and "copy (copy_file_range" in facts and "3 calls, 192.0 KiB" in facts
        await pilot.press("3", "f", "f", "f", "f", "f")  # write -> copy, send, io_uring, aio, sync
        lat = app.query_one("#latency", HistogramView)
        facts = str(app.query_one("#latency-facts").render())
        assert lat.family == "sync" and "> 10.0ms 2/4 (50.00%)" in facts and "--sync-sla" in facts
        await pilot.press("f")
        assert lat.family == "all"


async def test_a_family_this_kernel_cannot_trace_says_why():
    note = "io_uring: not traced, this kernel has no io_uring submit and complete tracepoints with a request"
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await feed(pilot, replace(with_families(workload()), notes=(note,)))
        await pilot.press("2", "f", "f", "f")  # copy, send, io_uring
        facts = str(app.query_one("#sizes-facts").render())
        assert app.query_one("#sizes", HistogramView).family == "io_uring"
        assert "io_uring not traced, this kernel has no io_uring submit" in facts
        await pilot.press("question_mark")
        assert note in str(app.screen.query_one(Static).render()) or note in app.screen.notes


async def test_the_status_bar_in_slices_shows_its_lines_whole_after_changes():
    """The status bar is drawn in slices (a change is sent from its slice's edge): what is on
    screen is its text, cell for cell, as figures grow and shrink."""
    from tui.widgets import StatusBar

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        for seq, scale in ((1, 1), (2, 1000), (3, 1)):
            s = workload(seq)
            await feed(pilot, replace(s, processes=tuple(p._replace(bytes=p.bytes * scale) for p in s.processes)))
            bar = app.query_one(StatusBar)
            lines = screen_text(app).splitlines()[:2]
            assert [ln.rstrip() for ln in lines] == [" " + t.rstrip() for t in bar.plain.splitlines()]


def column_text(table, index: int) -> list[str]:
    """What one column of a table shows, line by line, as kept for the screen."""
    from tui.lines import _ColumnView

    view = [v for v in table.query(_ColumnView) if v.index == index][0]
    return ["".join(seg.text for seg in strip) if strip else "" for strip in view._shown]


async def test_a_row_s_cells_are_made_when_drawn_and_a_cell_that_reads_the_same_is_not_made_again():
    """Under load most figures read the same from one second to the next: those cells are not
    made again, and the rows kept below the screen are made only when scrolled to."""
    procs = [(1000 + i, f"writer{i:03}", 0, (200 - i) * 1024, 10) for i in range(100)]
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(TopTable)
        made, strips = [], []
        cells, cell_strip = table.cells, table.cell_strip
        table.cells = lambda r: (made.append(r.pid), cells(r))[1]
        table.cell_strip = lambda *a: (strips.append(a), cell_strip(*a))[1]
        await feed(pilot, snap(1, procs))
        assert made == list(range(1000, 1000 + table.visible_rows))  # the rows on the screen only
        assert strips
        strips.clear()
        await feed(pilot, snap(2, procs))  # the same figures: nothing in the table changes
        assert strips == []
        assert column_text(table, 1)[1].strip() == "writer000"
        moved = [(p[0], p[1], p[2], p[3] * 2, p[4]) if p[0] == 1001 else p for p in procs]
        await feed(pilot, snap(3, moved))  # one row's figures move, and it goes first
        assert {a[1] for a in strips} == {1, 2}  # the two rows that swapped
        assert column_text(table, 1)[1].strip() == "writer001"
        await pilot.press("end")
        await pilot.pause()
        assert 1099 in made
        assert column_text(table, 1)[-1].strip() == "writer099"


async def test_keys_typed_at_once_while_a_view_is_first_mounted_are_handled_in_order(monkeypatch):
    """4 1 / keep typed at once, while the files view is mounted for the first time (slow on a
    loaded machine: here its table takes 0.3 s to mount): every key counts, in order. The 1
    used to wait for the top table, be looked up after / had moved the focus to the filter
    box, and be lost there (seen in CI)."""
    import asyncio

    from tui.views.files import FilesTable

    async def slow_mount(self) -> None:
        await asyncio.sleep(0.3)

    monkeypatch.setattr(FilesTable, "on_mount", slow_mount, raising=False)
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await feed(pilot, workload())
        await pilot.press("4", "1", "slash", "k", "e", "e", "p")
        await until(pilot, lambda: app.view == "top" and app.name_filter == "keep")
        assert (app.view, app.name_filter, app.paused) == ("top", "keep", False)


async def test_a_digit_in_the_filter_is_text_and_views_keys_wait_under_the_help():
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await feed(pilot, workload())
        await pilot.press("slash", "n", "g", "1", "2")
        await pilot.pause()
        assert (app.view, app.name_filter) == ("top", "ng12")
        await pilot.press("escape", "question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("2")
        await pilot.pause()
        assert app.view == "top" and isinstance(app.screen, HelpScreen)


async def test_tab_under_the_help_moves_no_view_and_escape_still_closes_it():
    """tab (a priority key, as the view keys) switched the view behind the help, whose focus
    went with it: escape then no longer closed the help."""
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await feed(pilot, workload())
        await pilot.press("question_mark")
        await pilot.pause()
        await pilot.press("tab", "shift+tab")
        await pilot.pause()
        assert app.view == "top" and isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen) and app.view == "top"


async def test_the_key_bar_is_made_again_only_when_its_keys_change():
    """Textual's footer makes a widget for each key every time the bindings are announced
    (three times as the dashboard starts, twice a view switch, for the same keys): the key
    bar is made once for each set of keys, and shows the keys of the view on screen."""
    from textual.widgets._footer import FooterKey

    from tui.widgets import KeyBar

    made = []
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        bar = app.screen.query_one(KeyBar)
        recompose = bar.recompose

        async def counted():
            made.append(app.view)
            await recompose()

        bar.recompose = counted
        await feed(pilot, workload())
        await pilot.pause()
        keys = {k.description for k in bar.query(FooterKey)}
        assert "Sort" in keys and made == []  # made before the count began, not again since
        await pilot.press("2")
        await pilot.pause()
        await pilot.pause()
        assert made == ["sizes"]
        assert "Sort" not in {k.description for k in bar.query(FooterKey)}
        await pilot.press("1")
        await pilot.pause()
        await pilot.pause()
        assert made == ["sizes", "top"]
        assert {k.description for k in bar.query(FooterKey)} == keys


async def test_paced_latency_says_how_many_calls_were_timed():
    """A storm's timing paced: the latency view says, for the interval and the run, how many of
    the calls were timed; the help says what pacing is, from the note."""
    from dataclasses import replace

    from probes.program import PACE_NOTE
    from probes.snapshot import Family

    s = workload()
    write = Family("write", calls=s.writes, latency=s.latency, sla_ns=s.sla_ns)  # 7,174 timed of 7,178
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await feed(pilot, replace(s, notes=(PACE_NOTE,), families=(write,)))
        await pilot.press("3")
        facts = str(app.query_one("#latency-facts").render()).splitlines()
        assert facts[0].startswith("interval") and facts[0].endswith(f"timed 7,174 of {s.writes:,} calls")
        assert facts[1].startswith("run") and facts[1].endswith(f"timed 7,174 of {s.writes:,} calls")
        await pilot.press("question_mark")
        assert PACE_NOTE in str(app.screen.query_one(Static).render())
        await pilot.press("escape")
        await feed(pilot, replace(workload(2), families=(replace(write, latency=s.latency, calls=7_174),)))
        assert "timed" not in str(app.query_one("#latency-facts").render()).splitlines()[0]
    async with make_app().run_test(size=(80, 24)) as pilot:  # narrow: the share, in one word
        await feed(pilot, replace(s, notes=(PACE_NOTE,), families=(replace(write, calls=4 * 7_174),)))
        await pilot.press("3")
        facts = str(pilot.app.query_one("#latency-facts").render()).splitlines()
        assert [ln.startswith(("int", "run")) and "timed" not in ln for ln in facts[:2]] == [True, True]
        assert facts[2].startswith("25% of the calls timed; > 10.0ms (--sla)")
