"""What the machine wrote over time: a graph under the top writers, one point an interval.

write() bytes/s and what reached the disks, on wall-clock time, with the intervals that had SLA
misses or skipped events marked. The span (1, 5, 15 or 60 minutes, key m) is cut from the
run's history (the last HISTORY intervals, probes/runstate.py); in a replay the graph is the
recording's up to the replay's position, so moving through it moves the graph.
"""

from __future__ import annotations

import os
import time

from textual_plotext import PlotextPlot

from probes import runstate, units
from probes.names import scrub
from tui.widgets import ascii_only

SPANS = (60, 300, 900, 3600)
"""Seconds of history shown; m cycles through them."""
MIN_HEIGHT = 30
"""Below this terminal height the graph gives way to the table."""


def span_label(seconds: int) -> str:
    return f"{seconds // 60} min"


class HistoryPlot(PlotextPlot):
    DEFAULT_CSS = """
    HistoryPlot { height: 10; }
    """

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.points: list[runstate.Point] = []
        self.span = SPANS[1]
        self.marker: float | None = None
        self._drawn_key: tuple | None = None
        self._drawn_at = 0.0
        if os.environ.get("NO_COLOR"):
            self.theme = "clear"

    def set_data(self, points: list[runstate.Point], span: int, marker: float | None = None) -> None:
        """Live: the last span of the run. A replay: the span around its position (marker).

        A scrolling graph changes every cell it draws, and over SSH every redraw is bytes on
        the wire (3 KiB a second at 120 columns, measured): it is redrawn only when the newest
        data would move it by at least a column (every span / width seconds: 3 s for 5 minutes
        on 120 columns), and not at all while nothing was written in the span (a still text)."""
        newest = points[-1].time if points else 0.0
        step = span / max(self.size.width - 12, 20)
        quiet = not any(p.bytes_s or p.disk_s for p in points if p.time > newest - span)
        key = (span, marker, quiet, len(points) >= 2)
        if key == self._drawn_key and (quiet or newest - self._drawn_at < step):
            self.points, self.span, self.marker = points, span, marker
            return
        self._drawn_key, self._drawn_at = key, newest
        self.points, self.span, self.marker = points, span, marker
        self.replot()

    def on_resize(self) -> None:
        self.replot()

    def replot(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        pts = self.points
        now = pts[-1].time if pts else time.time()
        if self.marker is not None:  # the marker a quarter from the right edge, where there is more
            now = min(now, max(self.marker + self.span / 4, pts[0].time + self.span))
        pts = [p for p in pts if now - self.span < p.time <= now]
        title = f"write() and the disks over the last {span_label(self.span)} (m: span)"
        plt.title(scrub(title))
        quiet = not any(p.bytes_s or p.disk_s for p in pts)
        if len(pts) < 2 or (quiet and self.marker is None):
            plt.text("the graph starts with the second interval" if len(pts) < 2 else "nothing written", 0, 0)
            plt.xlim(-1, 1)
            plt.ylim(-1, 1)
            plt.xticks([])
            plt.yticks([])
            self.refresh()
            return
        line = "*" if ascii_only() else "braille"
        xs = [p.time - now for p in pts]
        plt.plot(xs, [p.bytes_s for p in pts], marker=line, label="write() B/s")
        if any(p.disk_s for p in pts):
            plt.plot(xs, [p.disk_s for p in pts], marker="." if ascii_only() else "braille", label="disks B/s")
        marked = [(x, p.bytes_s) for x, p in zip(xs, pts, strict=True) if p.sla_missed or p.skipped]
        if marked:
            plt.scatter([m[0] for m in marked], [m[1] for m in marked], marker="x", label="SLA missed / skipped")
        if self.marker is not None:
            plt.vline(self.marker - now, "red")  # the replay's position: left and right move it
        ticks = [xs[0] + (xs[-1] - xs[0]) * i / 4 for i in range(5)]
        plt.xticks(ticks, [time.strftime("%H:%M:%S", time.localtime(now + t)) for t in ticks])
        top = max(max(p.bytes_s for p in pts), max(p.disk_s for p in pts), 1.0)
        plt.ylim(0, top * 1.1)
        yt = [top * i / 2 for i in range(3)]
        plt.yticks(yt, [units.human_rate(v) for v in yt])
        self.refresh()
