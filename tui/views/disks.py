"""The disks view: what reaches the block layer, per device, next to what write() sent to
files on it, so page-cache buffering and write amplification can be seen."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

from probes import runstate, snapshot, tables, units
from tui.lines import Column, RowTable
from tui.render import name_text
from tui.views.histograms import HistogramView
from tui.views.history import MIN_HEIGHT, SPANS, HistoryPlot, Series
from tui.views.top import writes_rate
from tui.widgets import HistPlot


def disk_series(name: str) -> Series:
    return Series(
        f"{name}: bytes/s written (x: p99 over 10 ms)",
        (("bytes/s", lambda p: p.bytes_s),),
        marked=lambda p: p.p99_ns > 10_000_000,
        mark_label="p99 over 10 ms",
    )


ROOMY = 50


def disk_iops(name: str) -> Series:
    return Series(f"{name}: write requests/s", (("IOPS", lambda p: p.iops),), yfmt=lambda v: f"{v:,.0f}")


def disk_p99(name: str) -> Series:
    return Series(
        f"{name}: write request latency p99",
        (("p99", lambda p: p.p99_ns),),
        yfmt=units.human_ns,
        marked=lambda p: p.p99_ns > 10_000_000,
        mark_label="over 10 ms",
    )


COLUMNS = [
    Column("name", "DEVICE", 9, grow_to=16),
    Column("bytes_s", "DISK B/S*", 11, True),
    Column("iops", "IOPS", 8, True),
    Column("avg_size", "AVG SIZE", 9, True),
    Column("p50", "p50~", 7, True),
    Column("p99", "p99~", 7, True, show_from=84),
    Column("max", "MAX", 7, True, show_from=92),
    Column("flushes_s", "FLUSH/S", 7, True, show_from=100),
    Column("written_s", "WRITE() B/S", 11, True),
    Column("dirtied_s", "DIRTIED/S", 11, True, show_from=106),
    Column("total_bytes", "DISK TOTAL", 10, True, show_from=112),
    Column("total_written", "WRITE() TOT", 11, True, show_from=124),
]
"""DISK: write requests completed on the device; WRITE(): bytes write() sent to files on it;
DIRTIED: bytes processes made dirty in the page cache on it (to be written back later)."""


def _ns(v: float | None) -> str:
    return "-" if v is None else units.human_ns(v)


class DisksTable(RowTable):
    def __init__(self, **kw) -> None:
        super().__init__(COLUMNS, **kw)

    @staticmethod
    def cells(r: tables.DiskRow) -> tuple[Text, ...]:
        return (
            name_text(r.name),
            Text(units.human_rate(r.bytes_s)),
            Text(writes_rate(r.iops)),
            Text(units.human_bytes(r.avg_size) if r.iops else "-"),
            Text(_ns(r.p50_ns)),
            Text(_ns(r.p99_ns)),
            Text(units.human_ns(r.max_ns) if r.iops else "-"),
            Text(writes_rate(r.flushes_s)),
            Text(units.human_rate(r.written_s)),
            Text(units.human_rate(r.dirtied_s) if r.dirtied_s else ""),
            Text(units.human_bytes(r.total_bytes)),
            Text(units.human_bytes(r.total_written)),
        )

    def cursor_moved(self) -> None:
        parent = self.parent
        if isinstance(parent, DisksView):
            parent.show_plots()


def ratio_text(disk: int, written: int) -> str:
    """'0.25x of write()' or '' when nothing was written."""
    return f"{disk / written:.2f}x" if written else ""


class DisksView(HistogramView):
    """Facts, the devices, and the disk latency histograms of the selected device."""

    HAS_FAMILIES = False

    DEFAULT_CSS = """
    DisksView DisksTable { height: 3; }
    """

    def __init__(self, **kw) -> None:
        super().__init__("disks", **kw)
        self.state: runstate.RunState | None = None

    def compose(self) -> ComposeResult:
        label = units.ns_bucket_label
        yield Static(id="disks-facts", classes="facts")
        yield DisksTable(id="disks-table")
        with Horizontal(classes="plots"):
            empty = "no disk write requests in this period"
            yield HistPlot(label=label, empty=empty, id="disks-interval", classes="interval-plot")
            yield HistPlot(label=label, empty=empty, id="disks-run", classes="run-plot")
        yield HistoryPlot(id="disks-history")
        with Horizontal(classes="plots", id="disks-io-plots"):
            yield HistoryPlot(id="disks-iops")
            yield HistoryPlot(id="disks-p99")

    FILTER = ("name",)
    tall = True
    """Room for the selected device's history graph (30 lines or more)."""
    roomy = True
    """Room for its IOPS and p99 over time as well (ROOMY lines or more)."""

    def draw(self, ctx) -> None:
        """The view's interface (tui.views.ViewContext); / filters devices by name."""
        self.state = state = ctx.state
        self.tall = ctx.height >= MIN_HEIGHT
        self.roomy = ctx.height >= ROOMY
        self.fit(ctx.width)
        if state.last is None:
            return
        rows = ctx.keep(tables.disk_rows(state), self.FILTER)
        table = self.query_one(DisksTable)
        table.styles.height = max(2, min(len(rows) + 1, 11))
        table.show(rows)
        self.query_one("#disks-facts", Static).update(self.facts(state, self.wide, bool(ctx.kernel_filters)))
        self.show_plots()

    def show_plots(self) -> None:
        state = self.state
        if state is None or state.last is None:
            return
        table = self.query_one(DisksTable)
        dev = (table.cursor_key or "disk:").removeprefix("disk:")
        now = next((d for d in state.last.disks if d.dev == dev), None)
        run = state.disks.get(dev)
        name = run.name if run else "no device"
        self.query_one("#disks-interval", HistPlot).set_data(
            now.latency if now else snapshot.Log2Histogram(),
            f"last {state.last.elapsed:.1f}s: {name} latency",
        )
        self.query_one("#disks-run", HistPlot).set_data(
            run.latency if run else snapshot.Log2Histogram(), f"whole run: {name} latency"
        )
        plot = self.query_one("#disks-history", HistoryPlot)
        plot.display = self.tall
        # IOPS and p99 over time where there is room for them too (50 lines): at 40 the view
        # is already full, and they only pushed its scrollbar in and out
        self.query_one("#disks-io-plots").display = self.roomy
        if plot.display:  # the selected device over time: bytes/s, IOPS and its p99 latency
            points = state.disk_history.get(dev, [])
            for pid, series in (("#disks-history", disk_series), ("#disks-iops", disk_iops), ("#disks-p99", disk_p99)):
                p = self.query_one(pid, HistoryPlot)
                p.series = series(name)
                p.set_data(points, SPANS[1])

    @staticmethod
    def _dirtied_line(t: Text, snap: snapshot.Snapshot, wide: bool) -> None:
        """Who made the page cache dirty on the disks in the interval (their exact write_bytes,
        shared between devices by the folios each dirtied): the bytes the flushers write later."""
        on_disks = sum(d.dirtied for d in snap.disks)
        by: dict[tuple[int, str], int] = {}
        for d in snap.disks:
            for pid, comm, b in d.dirtied_by:
                by[(pid, comm)] = by.get((pid, comm), 0) + b
        t.append("dirtied  " if wide else "dirt ", style="bold")
        t.append(f"by processes {units.human_rate(units.rate(on_disks, snap.elapsed))}")
        if by:
            t.append(": ")
            top = sorted(by.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
            for n, ((pid, comm), b) in enumerate(top):
                t.append(", " if n else "")
                t.append_text(name_text(comm))
                t.append(f"[{pid}] {units.human_bytes(b)}")
        t.append("\n")

    def facts(self, state: runstate.RunState, wide: bool = True, filtered: bool = False) -> Text:
        snap = state.last
        t = Text(no_wrap=True, overflow="ellipsis")
        missing = [n.split(": ", 1)[1] for n in snap.notes if n.startswith("disks:")]
        if missing:
            t.append("disks " + missing[0], style="bold yellow")
            return t
        written = sum(runstate.disk_written(snap).values())
        disk = sum(d.bytes for d in snap.disks)
        run_written = sum(d.written for d in state.disks.values())
        run_disk = sum(d.bytes for d in state.disks.values())
        for label, w, d, lost, el in (
            ("interval", written, disk, runstate.unplaced(snap), snap.elapsed),
            ("run", run_written, run_disk, state.unplaced, None),
        ):

            def fmt(n: float, el=el) -> str:
                return units.human_bytes(n) if el is None else units.human_rate(units.rate(n, el))

            t.append(f"{label:<9}" if wide else f"{label[:3]} ", style="bold")
            t.append(f"write() to files on disks {fmt(w)}" if wide else f"write() {fmt(w)}")
            if lost:
                t.append(f" (+{fmt(lost)} unplaced)", style="yellow")
            t.append(f"  reached the disks {fmt(d)}" if wide else f"  disks {fmt(d)}")
            # a ratio only where write() is (nearly) all placed: else it would mislead
            r = ratio_text(d, w) if lost <= 0.05 * (w + lost) else ""
            if r:
                t.append(f"  ({r})", style="bold")
            t.append("\n")
        if state.dirtied:  # what the flushers will write back later, under no process
            self._dirtied_line(t, snap, wide)
        t.append(
            "<1x: still in the page cache  >1x: amplification (journal, metadata)  "
            "unplaced: writer gone before its file was seen"
            if wide
            else "<1x: in the page cache  >1x: amplification",
            style="dim",
        )
        if filtered:
            t.append("\nthe disks are the whole machine's: the filters apply to write() only", style="dim")
        return t
