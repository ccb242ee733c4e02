"""Reusable widgets: the status bar and a log2 histogram drawn with plotext."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable

from rich.segment import Segment
from rich.text import Text
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets import Footer
from textual_plotext import PlotextPlot

from probes import runstate, tables, units, writers
from probes.names import safe_name, scrub
from probes.snapshot import Log2Histogram
from tui.lines import SlicedLines, changed_span


class KeyBar(Footer):
    """Textual's footer, made again only when the keys it shows change. Textual's makes its
    keys again (a widget each, styled one by one) every time the screen's bindings are
    announced: three times as the dashboard starts and twice a view switch, for the same
    keys each time."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self._shown: tuple | None = None

    def bindings_changed(self, screen) -> None:
        keys = tuple(
            (b.key, b.description, enabled, tooltip)
            for (_node, b, enabled, tooltip) in screen.active_bindings.values()
            if b.show
        )
        if keys == self._shown and self._bindings_ready:
            return
        super().bindings_changed(screen)
        if screen.app.app_focus and self.is_attached and screen is self.screen:  # made again
            self._shown = keys


class StatusBar(SlicedLines):
    """Two lines: where and when, then the skipped-events counter and totals."""

    DEFAULT_CSS = """
    StatusBar { height: 2; background: $panel; padding: 0 1; }
    """

    def __init__(self, interval: float, filters: str = "", host: str | None = None, **kw) -> None:
        super().__init__(2, **kw)
        self.interval = interval
        self.filters = scrub(filters)
        # a recording's host was made safe when it was read: escaped once, not twice
        self.host = safe_name(socket.gethostname()) if host is None else scrub(host)
        self.started = time.monotonic()

    def show(
        self, state: runstate.RunState, paused: bool, view: str, clock: Callable[[], float] = time.time, mode: str = ""
    ) -> None:
        snap = state.last
        line1 = Text(no_wrap=True, overflow="ellipsis")
        line1.append("wtop", style="bold")
        line1.append(f" {self.host}  every {self.interval:g}s  ")
        line1.append(time.strftime("%H:%M:%S", time.localtime(clock())))
        secs = int(state.seconds)
        line1.append(f"  up {secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}")
        line1.append(f"  [{view}]", style="bold")
        cost = writers.cost_text(snap)
        if cost and (self.size.width == 0 or self.size.width >= 110):
            line1.append(f"  {cost}", style="dim")
        if self.filters:
            line1.append(f"  filter: {self.filters}", style="italic")
        if paused:
            line1.append("  PAUSED", style="reverse bold")
        if mode:
            line1.append(f"  {mode}", style="reverse bold")
        line2 = Text(no_wrap=True, overflow="ellipsis")
        if snap is None:
            line2.append("waiting for the first interval...")
        else:
            # The skipped counter comes first so that no terminal width can hide it.
            sk, run = snap.skipped, state.skipped
            style = "bold reverse red" if sk.total else ("bold red" if run.total else "dim")
            wide = self.size.width == 0 or self.size.width >= 110
            detail = (
                f": map full {run.map_full}, no entry {run.no_entry}, recursion {run.recursion_misses}"
                + (f", disk {run.disk_no_issue}" if run.disk_no_issue else "")
                + (f", disk missed {run.disk_missed}" if run.disk_missed else "")
                if wide
                else ""
            )
            if wide and any(n.startswith("recursion:") for n in snap.notes):
                detail = detail.replace(f"recursion {run.recursion_misses}", "recursion n/a")
            line2.append(f"skipped {sk.total} (run {run.total}{detail})", style=style)
            line2.append("  writes ")
            line2.append(units.human_rate(units.rate(snap.bytes, snap.elapsed)), style="bold")
            line2.append(f"  {units.human_count(units.rate(snap.writes, snap.elapsed))}/s")
            line2.append(f"  run {units.human_bytes(state.bytes)}, {units.human_count(state.writes)} writes")
            if snap.errors or state.errors:
                line2.append(f"  errors {snap.errors} (run {state.errors})", style="yellow")
        self.set_texts([line1, line2])

    @property
    def plain(self) -> str:
        """The two lines as plain text."""
        return "\n".join(t.plain for t in self.texts)


def ascii_only() -> bool:
    """The Linux text console and the user's request: no braille, no block glyphs."""
    return os.environ.get("TERM", "") == "linux" or bool(os.environ.get("WTOP_ASCII"))


class DiffPlot(PlotextPlot):
    """A plotext plot that sends the terminal only what changed. Textual repaints a whole
    widget on refresh(): a 10-line graph at 120 columns is about 3 KiB a frame. Here each new
    frame is compared with the one on screen, line by line, and only the changed lines are
    repainted, each up to its last changed cell (Textual sends a region from its widget's left
    edge). Call show_plot() where PlotextPlot would call refresh()."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self._frame: list[Strip] = []
        self._frame_size = (0, 0)

    def on_mount(self) -> None:
        # a new theme changes every colour: the next paint builds the frame again
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._frame.clear())

    def _build(self, width: int, height: int) -> list[Strip]:
        text = PlotextPlot.render(self)  # plotext's frame for the current size, as Text
        assert isinstance(text, Text)
        style = self.rich_style
        console = self.app.console
        strips = [
            Strip(Segment.apply_style(line.render(console), style)).adjust_cell_length(width, style).simplify()
            for line in text.split("\n", allow_blank=True)[:height]
        ]
        strips += [Strip.blank(width, style)] * (height - len(strips))
        return strips

    def show_plot(self) -> None:
        width, height = self.size
        if not width or not height:
            self.refresh()  # not laid out yet: painted whole when it is
            return
        new = self._build(width, height)
        old, self._frame = self._frame, new
        if self._frame_size != (width, height) or len(old) != height:
            self._frame_size = (width, height)
            self.refresh()
            return
        for y, (before, after) in enumerate(zip(old, new, strict=True)):
            span = changed_span(before, after, width)
            if span is not None:
                self.refresh(Region(span[0], y, span[1] - span[0], 1))

    def render_line(self, y: int) -> Strip:
        width, height = self.size
        if self._frame_size != (width, height) or len(self._frame) != height:
            self._frame, self._frame_size = self._build(width, height), (width, height)
        return self._frame[y] if y < len(self._frame) else Strip.blank(width, self.rich_style)


NO_WRITES = "no writes in this period"
"""What an empty histogram says by default."""


class HistPlot(DiffPlot):
    """A horizontal bar chart of a log2 histogram, one row per bucket, labels like bpftrace's."""

    DEFAULT_CSS = """
    HistPlot { height: auto; min-height: 4; width: 1fr; }
    """

    def __init__(self, label: Callable[[int], str] = units.bucket_label, empty: str = NO_WRITES, **kw) -> None:
        super().__init__(**kw)
        self.title = ""
        """Drawn by replot (not a reactive: its repaint would send the whole plot again)."""
        self.label = label
        self.empty = empty
        self.hist = Log2Histogram()
        if os.environ.get("NO_COLOR"):
            self.theme = "clear"

    def set_data(self, hist: Log2Histogram, title: str) -> None:
        self.hist = hist
        self.title = title
        rng = tables.nonempty_range(hist)
        self.styles.height = max(len(rng), 1) + 3  # title, top and bottom frame
        self.replot()

    def on_resize(self) -> None:
        self.replot()  # the title is fitted to the width

    def replot(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        hist = self.hist
        rng = tables.nonempty_range(hist)
        total = hist.total
        labels = []
        if rng:
            # plotext draws the first bar at the bottom; bpftrace lists small buckets first (top).
            order = list(reversed(rng))
            labels = [
                f"{self.label(i)} {units.human_count(hist.counts[i]):>6} {100 * hist.counts[i] / total:5.1f}%"
                for i in order
            ]
        # plotext drops a title wider than the canvas (right of the labels) without a word
        room = self.size.width - max((len(s) for s in labels), default=0) - 3
        title = scrub(self.title)
        if room > 0 and len(title) > room:
            title = title[: room - 1] + "…"
        plt.title(title)
        if rng:
            counts = [hist.counts[i] for i in order]
            plt.bar(
                labels, counts, orientation="horizontal", width=1 / len(counts), marker="#" if ascii_only() else "sd"
            )
            plt.xticks([])
        else:
            plt.text(self.empty, 0, 0)
            plt.xlim(-1, 1)
            plt.ylim(-1, 1)
            plt.xticks([])
            plt.yticks([])
        self.show_plot()
