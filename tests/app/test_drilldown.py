"""The disks view and a process's own page, driven with Pilot."""

from __future__ import annotations

from dataclasses import replace

from tests.app.conftest import make_app, workload, workload_disks
from tests.app.test_app import feed, header, table_rows
from tests.conftest import hist
from tui.app import AppConfig, WtopApp
from tui.lines import DiffLines
from tui.views.disks import DisksTable
from tui.views.process import CallsTable, PageFilesTable, ProcessScreen
from tui.widgets import HistPlot


class FocusSource:
    """A source that records what the app asks the kernel to focus on."""

    def __init__(self) -> None:
        self.focus: list[int | None] = []

    def sample(self):  # never called: the tests post snapshots themselves
        return None

    def set_focus(self, pid: int | None) -> None:
        self.focus.append(pid)


def rows(table) -> list[list[str]]:
    return [table.row_plain(i) for i in range(table.row_count)]


async def test_disks_view_lists_devices_and_follows_the_cursor():
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await feed(pilot, workload_disks(1), workload_disks(2))
        await pilot.press("6")
        table = app.query_one(DisksTable)
        assert app.focused is table
        got = rows(table)
        assert [r[0] for r in got] == ["nvme0n1", "vda"]
        assert got[0][1:4] == ["3.0 MiB/s", "96", "32.0 KiB"]
        assert got[0][8] == "8.0 MiB/s"  # write() to files on nvme0n1: postgres's two files
        assert got[1][8] == "256.0 KiB/s"  # nginx's log on vda
        assert got[0][9] == ""  # nothing dirtied in this workload
        assert got[0][10] == "6.0 MiB"  # two intervals of 3 MiB reached the disk
        plot = app.query_one("#disks-interval", HistPlot)
        assert plot.hist.total == 96 and "nvme0n1" in plot.title
        await pilot.press("down")
        assert plot.hist.total == 8 and "vda" in plot.title
        assert app.query_one("#disks-run", HistPlot).hist.total == 16
        facts = str(app.query_one("#disks-facts").render())
        assert "reached the disks 3.5 MiB/s" in facts and "(0.42x)" in facts  # 3.5 MiB of 8.25 MiB


async def test_enter_opens_the_process_page_and_escape_closes_it():
    src = FocusSource()
    app = make_app(src)
    async with app.run_test(size=(120, 40)) as pilot:
        await feed(pilot, workload_disks(1))
        await pilot.press("enter")  # the cursor is on the top writer: postgres, 4242
        await pilot.pause()
        page = app.screen
        assert isinstance(page, ProcessScreen) and page.pid == 4242
        assert src.focus == [4242]
        await feed(pilot, workload_disks(2))
        calls = rows(page.query_one(CallsTable))
        assert calls[1][:4] == ["pwrite64", "1,024", "8.0 MiB/s", "100%"]
        assert calls[1][4:] == ["1.0k", "8.0 MiB"]  # one interval while open (the first is before)
        files = rows(page.query_one(PageFilesTable))
        assert [f[4] for f in files] == [
            "/var/lib/postgresql/16/main/base/5/16384",
            "/var/lib/postgresql/16/main/pg_wal/000000010000000000000001",
        ]
        assert page.query_one("#process-sizes", HistPlot).hist.total == 1024
        assert page.query_one("#process-latency", HistPlot).hist.total == 1024
        head = "\n".join(t.plain for t in page.query_one("#process-head", DiffLines).texts)
        assert "PID 4242  postgres  user root" in head and "while open 8.0 MiB in 1.0k writes" in head
        await pilot.press("c")
        assert page.period == "interval"
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ProcessScreen) and app.view == "top"
        assert src.focus == [4242, None]


async def test_a_view_key_leaves_the_page_and_grouped_rows_do_not_open():
    src = FocusSource()
    app = make_app(src)
    async with app.run_test(size=(120, 40)) as pilot:
        await feed(pilot, workload_disks(1))
        await pilot.press("4", "enter")  # from the files view: the file's process
        await pilot.pause()
        assert isinstance(app.screen, ProcessScreen) and app.screen.pid == 4242
        await pilot.press("6")
        await pilot.pause()
        assert not isinstance(app.screen, ProcessScreen) and app.view == "disks"
        assert src.focus == [4242, None]
        await pilot.press("1", "g", "enter")
        await pilot.pause()
        assert not isinstance(app.screen, ProcessScreen)  # a group of processes has no page
        assert src.focus == [4242, None]


async def test_a_hostile_name_on_the_page_is_text():
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await feed(pilot, workload(1))
        await pilot.press("end", "enter")  # the last row: the hostile name (1000 B)
        await pilot.pause()
        page = app.screen
        assert isinstance(page, ProcessScreen) and page.pid == 999
        head = page.query_one("#process-head", DiffLines).texts[0]
        assert "[/bold]\\x1b[2J" in head.plain and "\x1b" not in head.plain
        # no figures of its own were recorded: it says so instead of showing empty histograms
        assert "recorded without its page open" in page.query_one("#process-head", DiffLines).texts[3].plain


async def test_replayed_pages_use_the_recorded_figures():
    snaps = [workload_disks(1), replace(workload_disks(2), focus=replace(workload_disks(2).focus, sizes=hist(b3=5)))]
    app = WtopApp(None, AppConfig(interval=60, host="h"), replay=snaps)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("greater_than_sign", "enter")
        await pilot.pause()
        page = app.screen
        assert isinstance(page, ProcessScreen)
        assert page.query_one("#process-sizes", HistPlot).hist.total == 1024 + 5


async def test_the_page_keeps_a_file_that_went_idle():
    app = make_app()
    second = workload_disks(2)
    second = replace(second, files=tuple(f for f in second.files if f.fd != 9))  # the WAL is idle now
    async with app.run_test(size=(120, 40)) as pilot:
        await feed(pilot, workload_disks(1))
        await pilot.press("enter")
        await pilot.pause()
        await feed(pilot, second)
        files = rows(app.screen.query_one(PageFilesTable))
        assert [(f[2], f[5]) for f in files] == [("7", "6.0 MiB/s"), ("9", "0 B/s")]
        assert files[1][7] == "2.0 MiB"  # its total since start


async def test_the_filter_applies_to_devices_in_the_disks_view():
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await feed(pilot, workload_disks(1))
        await pilot.press("6", "slash", "v", "d", "enter")
        await pilot.pause()
        assert [r[0] for r in rows(app.query_one(DisksTable))] == ["vda"]


async def test_the_disks_view_says_when_the_kernel_cannot_tell():
    app = make_app()
    note = "disks: unavailable, this kernel has no block:block_rq_issue/block_rq_complete tracepoints"
    async with app.run_test(size=(120, 40)) as pilot:
        await feed(pilot, replace(workload(1), notes=(note,)))
        await pilot.press("6")
        facts = str(app.query_one("#disks-facts").render())
        assert facts.startswith("disks unavailable, this kernel has no block:block_rq_issue")


async def test_the_files_view_names_the_disk_of_each_file():
    from tui.views.files import FilesTable

    app = make_app()
    async with app.run_test(size=(130, 40)) as pilot:
        await feed(pilot, workload_disks(1))
        await pilot.press("4")
        table = app.query_one("#files", FilesTable)
        got = {r[4]: r[-1] for r in rows(table)}  # DISK, the last column
        assert got["/var/lib/postgresql/16/main/base/5/16384"] == "nvme0n1"
        assert got["/var/log/nginx/access.log"] == "vda"
        assert got["socket:[31337]"] == ""  # a socket is on no disk


async def test_the_page_draws_the_process_over_time_bursts_and_idle_gaps():
    """Bursts of postgres every third interval: its page's graph has a point an interval since
    wtop first saw it, zeros in the gaps, its p99 where its page was open."""
    src = FocusSource()
    app = make_app(src)
    async with app.run_test(size=(120, 40)) as pilot:
        burst = [workload_disks(seq) for seq in range(1, 11)]
        quiet = [replace(s, processes=tuple(p for p in s.processes if p.pid != 4242), focus=None) for s in burst]
        run = [burst[i] if i % 3 == 0 else quiet[i] for i in range(10)]
        await feed(pilot, *run[:7])
        await pilot.press("home", "enter")  # the top writer: postgres, bursting now
        await pilot.pause()
        page = app.screen
        assert isinstance(page, ProcessScreen) and page.pid == 4242
        await feed(pilot, *run[7:])
        plot = page.query_one("#process-history")
        ys = [round(p.bytes_s) for p in plot.points]
        assert ys == [8 * 1024 * 1024, 0, 0] * 3 + [8 * 1024 * 1024]  # since first seen: bursts, gaps
        assert [p.p99_ns is not None for p in plot.points] == [y > 0 for y in ys]  # its own latency
        assert page.query_one("#process-p99").display


async def test_page_keys_scroll_the_page_to_its_graphs():
    app = make_app(FocusSource())
    async with app.run_test(size=(80, 24)) as pilot:
        await feed(pilot, workload_disks(1), workload_disks(2))
        await pilot.press("home", "enter")
        await pilot.pause()
        page = app.screen
        assert isinstance(page, ProcessScreen)
        body = page.query_one("#process-body")
        start = body.scroll_y  # where its focused files table is in view
        await pilot.press("pagedown")
        await pilot.pause()
        down = body.scroll_y
        assert down > start  # its histograms and history are under the fold at 80x24
        await pilot.press("pageup")
        await pilot.pause()
        assert body.scroll_y < down


def dirtied_workload(seq: int = 1):
    """workload_disks() where postgres dirtied 4 MiB on nvme0n1 and a process that only stores
    into a mapping (no write call) dirtied 1 MiB on vda."""
    mib = 1024 * 1024
    s = workload_disks(seq)
    procs = tuple(p._replace(dirtied=4 * mib) if p.pid == 4242 else p for p in s.processes)
    mapper = s.processes[0]._replace(pid=777, comm="mapper", bytes=0, writes=0, calls=(), dirtied=mib)
    disks = (
        replace(s.disks[0], dirtied=4 * mib, dirtied_by=((4242, "postgres", 4 * mib),)),
        replace(s.disks[1], dirtied=mib, dirtied_by=((777, "mapper", mib),)),
    )
    return replace(s, processes=(*procs, mapper), disks=disks, dirtied=5 * mib)


async def test_dirtied_bytes_in_the_top_writers_the_page_and_the_disks_view():
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await feed(pilot, dirtied_workload(1), dirtied_workload(2))
        assert header(app)["dirtied_s"] == "DIRTY/S"
        by_pid = {r[0]: r for r in table_rows(app)}
        assert by_pid["4242"][7] == "4.0 MiB/s" and by_pid["777"][7] == "1.0 MiB/s"
        assert by_pid["777"][3] == "0 B/s"  # a row of its own: it wrote nothing, it dirtied
        await pilot.press("s", "s", "s", "s")  # writes, avg size, total, dirtied
        assert [r[0] for r in table_rows(app)][:2] == ["4242", "777"]
        await pilot.press("6")
        got = {r[0]: r for r in rows(app.query_one(DisksTable))}
        assert got["nvme0n1"][9] == "4.0 MiB/s" and got["vda"][9] == "1.0 MiB/s"
        facts = str(app.query_one("#disks-facts").render())
        assert "dirtied  by processes 5.0 MiB/s: postgres[4242] 4.0 MiB, mapper[777] 1.0 MiB" in facts
        await pilot.press("1", "home", "enter")
        await pilot.pause()
        head = "\n".join(t.plain for t in app.screen.query_one("#process-head", DiffLines).texts)
        assert "dirtied 4.0 MiB/s, run 8.0 MiB" in head


async def test_the_page_says_how_many_of_its_calls_were_timed():
    """A storm's timing paced: the page's line of figures while open says how many of its
    write calls were timed (the latency figures are theirs)."""
    from probes.snapshot import Family

    def paced(seq):
        s = workload_disks(seq)
        write = Family("write", calls=4096, latency=s.focus.latency, sla_ns=s.sla_ns)  # 1,024 timed
        return replace(s, focus=replace(s.focus, writes=4096, families=(write,)))

    app = make_app(FocusSource())
    async with app.run_test(size=(120, 40)) as pilot:
        await feed(pilot, paced(1))
        await pilot.press("enter")
        await pilot.pause()
        await feed(pilot, paced(2))
        head = "\n".join(t.plain for t in app.screen.query_one("#process-head", DiffLines).texts)
        line = next(ln for ln in head.splitlines() if ln.startswith("while open"))
        assert "p50 ~" in line and line.endswith("timed 1,024 of 4,096 calls")
