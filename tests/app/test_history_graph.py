"""The history graph over SSH: its time axis stays still while the data grow into it, and
a redraw sends the terminal only the cells that changed (a scrolling graph sent every cell
it drew: about 1 KiB a second of the 2.3 KiB/s wtop sent under load, bench part 4)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from textual.app import App
from textual.geometry import Region

from tui.views.history import HistoryPlot, nice_top, window


@dataclass(frozen=True)
class Point:
    time: float
    bytes_s: float
    disk_s: float = 0.0
    sla_missed: int = 0
    skipped: int = 0


class GraphApp(App):
    def compose(self):
        yield HistoryPlot(span_key=True)


def lines(app) -> list[str]:
    return ["".join(seg.text for seg in strip) for strip in app.screen._compositor.render_strips()]


async def test_a_new_point_repaints_the_newest_columns_not_the_graph():
    t0 = 1_700_000_000.0
    run = [Point(t0 + i, 400_000 + 40_000 * (i % 5), 100_000 * (i % 7 == 0)) for i in range(200)]
    app = GraphApp()
    async with app.run_test(size=(120, 12)) as pilot:
        plot = app.query_one(HistoryPlot)
        plot.set_data(run[:150], 300)
        await pilot.pause()
        before = lines(app)
        painted = []
        refresh = plot.refresh
        whole = Region(0, 0, *plot.size)
        plot.refresh = lambda *regions, **kw: painted.extend(regions or [whole]) or refresh(*regions, **kw)
        plot.set_data(run[:160], 300)  # 10 s more: past a column's step (300 s / 108 columns)
        await pilot.pause()
        after = lines(app)
        assert painted, "the new points were not drawn"
        cells = sum(r.area for r in painted)
        assert cells < 0.1 * plot.size.area, f"{cells} of {plot.size.area} cells repainted"
        assert after[-3:] == before[-3:]  # the time axis did not move
        assert after != before
        # what is on screen is what a fresh graph of the same points draws
        fresh = GraphApp()
        async with fresh.run_test(size=(120, 12)) as p2:
            fresh.query_one(HistoryPlot).set_data(run[:160], 300)
            await p2.pause()
            assert lines(fresh) == after


async def test_a_young_run_fills_the_span_from_the_left_right_of_the_legend():
    t0 = time.time()
    app = GraphApp()
    async with app.run_test(size=(120, 12)) as pilot:
        plot = app.query_one(HistoryPlot)
        plot.set_data([Point(t0 + i, 400_000) for i in range(20)], 300)
        await pilot.pause()
        screen = lines(app)
        row = next(ln for ln in screen if "write() B/s" in ln)
        legend_end = row.index("write() B/s") + len("write() B/s")
        drawn = [ln for ln in screen[2:8] if any("\u2800" < ch <= "\u28ff" for ch in ln[legend_end:])]
        assert drawn, "\n".join(screen)  # the line is visible, not under the legend
        assert time.strftime("%H:%M:%S", time.localtime(t0 + 19)) not in screen[-3]  # the axis is the span's


def test_the_axis_moves_by_quarters_once_the_run_is_longer_than_the_span():
    assert window(100.0, 110.0, 300.0) == 400.0
    assert window(100.0, 110.0, 300.0, lead=60.0) == 340.0
    ends = {window(0.0, t, 300.0) for t in range(301, 375)}
    assert ends == {375.0}  # still for a quarter of the span
    assert window(0.0, 376.0, 300.0) == 450.0
    assert window(0.0, 1000.0, 300.0, marker=500.0) == 575.0  # a replay's cursor, a quarter from the end


def test_the_y_axis_top_is_a_round_figure():
    assert nice_top(0) == 1.0
    assert nice_top(7) == 8
    assert nice_top(99) == 100
    assert nice_top(100) == 100
    assert nice_top(400 * 1024, 1024) == 400 * 1024  # 400 KiB/s: 0, 200 KiB/s, 400 KiB/s
    assert nice_top(412 * 1024, 1024) == 500 * 1024
    assert nice_top(3 * 2**20, 1024) == 3 * 2**20
    tops = {nice_top(v, 1024) for v in range(400 * 1024, 500 * 1024, 1000)}
    assert len(tops) == 2  # a new maximum moves the axis only when it crosses a step
