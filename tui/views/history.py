"""What the machine wrote over time: a graph under the top writers, one point an interval.

write() bytes/s and what reached the disks, on wall-clock time, with the intervals that had SLA
misses or skipped events marked. The span (1, 5, 15 or 60 minutes, key m) is cut from the
run's history (the last HISTORY intervals, probes/runstate.py); in a replay the graph is the
recording's up to the replay's position, so moving through it moves the graph.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from probes import units
from probes.names import scrub
from tui.widgets import DiffPlot, ascii_only

SPANS = (60, 300, 900, 3600)
"""Seconds of history shown; m cycles through them."""
MIN_HEIGHT = 30
"""Below this terminal height the graph gives way to the table."""


def span_label(seconds: int) -> str:
    return f"{seconds // 60} min"


STEPS = (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10)


def nice_top(v: float, base: int = 10) -> float:
    """The y axis's top: the smallest round figure (STEPS times a power of base) at or above v,
    so that it moves only when the data cross a step, not with every new maximum. base 1024
    for bytes: 400 KiB/s gives 512 KiB/s, labelled 0, 256 KiB/s, 512 KiB/s."""
    if v <= 0:
        return 1.0
    scale = base ** math.floor(math.log(v, base))
    if base != 10 and v >= 1:  # within a binary unit, decimal steps: 300 KiB is 3 x 100 KiB
        scale *= 10 ** math.floor(math.log10(v / scale))
    for s in STEPS:
        if v <= s * scale * (1 + 1e-9):
            return s * scale
    return 10 * scale


def window(first: float, newest: float, span: float, marker: float | None = None, lead: float = 0.0) -> float:
    """The right end of the graph's time axis. The axis stays still while the data grow into
    it, so each redraw changes only the newest column (a scrolling graph changes every cell it
    draws, and over SSH every cell is bytes). A run shorter than the span fills it from `lead`
    seconds after the left edge (where the legend is drawn); a longer one shows the last span
    up to the next quarter of it on the wall clock, and the axis moves on by a quarter when the
    data reach its end. A replay's cursor is kept a quarter from the right edge (a replay
    redraws as the cursor moves, and its axis is the recording's points)."""
    if marker is not None:
        return min(newest, max(marker + span / 4, first + span))
    if newest - first <= span - lead:
        return first + span - lead
    quarter = span / 4
    return math.ceil(newest / quarter) * quarter


@dataclass(frozen=True)
class Series:
    """What a history graph draws from each point: named lines, how to label the y axis,
    which points to mark with an x, and the title."""

    title: str
    lines: tuple[tuple[str, Callable[[object], float]], ...]
    yfmt: Callable[[float], str] = units.human_rate
    base: int = 1024
    """The y axis's round figures: powers of 1024 for bytes, of 10 for the rest."""
    marked: Callable[[object], bool] = lambda p: False
    mark_label: str = "SLA missed / skipped"


MACHINE = Series(
    "write() and the disks",
    (("write() B/s", lambda p: p.bytes_s), ("disks B/s", lambda p: p.disk_s)),
    marked=lambda p: bool(p.sla_missed or p.skipped),
)
SLA_SHARE = Series(
    "write() calls over the SLA",
    (("% over the SLA", lambda p: 100 * p.sla_missed / p.timed if p.timed else 0.0),),
    yfmt=lambda v: f"{v:.3g}%",
    base=10,
)


PROCESS_BYTES = Series(
    "its bytes/s since wtop first saw it",
    (("B/s", lambda p: p.bytes_s), ("dirtied B/s", lambda p: p.dirtied_s)),
    marked=lambda p: bool(p.skipped) or (p.p99_ns is not None and p.sla_ns and p.p99_ns > p.sla_ns),
    mark_label="p99 over the SLA / skipped",
)
PROCESS_P99 = Series(
    "its write latency p99 (counted while its page is open)",
    (("p99", lambda p: p.p99_ns or 0.0),),
    yfmt=units.human_ns,
    base=10,
)


class HistoryPlot(DiffPlot):
    DEFAULT_CSS = """
    HistoryPlot { height: 10; }
    """

    def __init__(self, series: Series = MACHINE, span_key: bool = False, **kw) -> None:
        super().__init__(**kw)
        self.series = series
        self.span_key = span_key
        """Whether m changes this graph's span (the top writers' graph): said in its title."""
        self.points: list = []
        self.span = SPANS[1]
        self.marker: float | None = None
        self._drawn_key: tuple | None = None
        self._drawn_at = 0.0
        if os.environ.get("NO_COLOR"):
            self.theme = "clear"

    def _quiet(self, points) -> bool:
        return not any(f(p) for p in points for _, f in self.series.lines)

    def set_data(self, points: list, span: int, marker: float | None = None) -> None:
        """Live: the last span of the run. A replay: the span around its position (marker).

        Redrawn only when the newest data would move by at least a column (every span / width
        seconds: 3 s for 5 minutes on 120 columns), and not at all while its span is all zero
        (a still text). The axis stays still between those (see window), and only the lines
        that changed are sent (see DiffPlot)."""
        newest = points[-1].time if points else 0.0
        step = span / max(self.size.width - 12, 20)
        quiet = self._quiet([p for p in points if p.time > newest - span])
        key = (span, marker, quiet, len(points) >= 2, self.series.title)
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
        sr = self.series
        pts = self.points
        newest = pts[-1].time if pts else time.time()
        # the legend covers the top left: a young run's points start right of it
        legend = max((len(label) for label, _ in sr.lines), default=0) + 4
        lead = self.span * min(0.4, legend / max(self.size.width - 12, 20))
        end = window(pts[0].time if pts else newest, newest, self.span, self.marker, lead)
        pts = [p for p in pts if end - self.span <= p.time <= end]
        plt.title(scrub(f"{sr.title} over the last {span_label(self.span)}" + (" (m: span)" if self.span_key else "")))
        quiet = self._quiet(pts)
        if len(pts) < 2 or (quiet and self.marker is None):
            plt.text("the graph starts with the second interval" if len(pts) < 2 else "nothing to draw", 0, 0)
            plt.xlim(-1, 1)
            plt.ylim(-1, 1)
            plt.xticks([])
            plt.yticks([])
            self.show_plot()
            return
        xs = [p.time - end for p in pts]
        top = 0.0
        for n, (label, f) in enumerate(sr.lines):
            ys = [f(p) for p in pts]
            if n and not any(ys):  # a second line with nothing to show (no disk requests)
                continue
            top = max(top, *ys)
            plt.plot(xs, ys, marker=("*" if n == 0 else ".") if ascii_only() else "braille", label=label)
        marked = [(x, sr.lines[0][1](p)) for x, p in zip(xs, pts, strict=True) if sr.marked(p)]
        if marked:
            plt.scatter([m[0] for m in marked], [m[1] for m in marked], marker="x", label=sr.mark_label)
        if self.marker is not None:
            plt.vline(self.marker - end, "red")  # the replay's position: left and right move it
        if self.marker is None:  # live: the axis stays still (see window)
            plt.xlim(-self.span, 0)
            ticks = [-self.span + self.span * i / 4 for i in range(5)]
        else:  # a replay: the recording's points fill the width, however short it is
            ticks = [xs[0] + (xs[-1] - xs[0]) * i / 4 for i in range(5)]
        plt.xticks(ticks, [time.strftime("%H:%M:%S", time.localtime(end + t)) for t in ticks])
        top = nice_top(top, sr.base)
        plt.ylim(0, top)
        yt = [top * i / 2 for i in range(3)]
        plt.yticks(yt, [sr.yfmt(v) for v in yt])
        self.show_plot()
