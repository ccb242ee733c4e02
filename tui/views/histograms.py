"""The write sizes and write latency views: interval and whole run, side by side or one."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Static

from outlets.text import latency_summary
from probes import runstate, units
from tui.views.history import MIN_HEIGHT, SLA_SHARE, SPANS, HistoryPlot
from tui.widgets import HistPlot

PERIODS = ("both", "interval", "run")
WIDE = 110
"""Below this many columns the periods are shown one at a time (c toggles) unless chosen."""


class HistogramView(VerticalScroll):
    """kind is 'sizes' or 'latency'."""

    DEFAULT_CSS = """
    HistogramView { height: 1fr; }
    HistogramView .plots { height: auto; }
    HistogramView .facts { height: auto; padding: 0 1; }
    HistogramView.period-interval .run-plot { display: none; }
    HistogramView.period-run .interval-plot { display: none; }
    """

    def __init__(self, kind: str, **kw) -> None:
        super().__init__(**kw)
        self.kind = kind
        self.period = "both"
        self.chosen = False
        self.wide = True
        """True once the user picked a period with c; until then it follows the width."""

    def compose(self) -> ComposeResult:
        label = units.bucket_label if self.kind == "sizes" else units.ns_bucket_label
        yield Static(id=f"{self.kind}-facts", classes="facts")
        with Horizontal(classes="plots"):
            yield HistPlot(label=label, id=f"{self.kind}-interval", classes="interval-plot")
            yield HistPlot(label=label, id=f"{self.kind}-run", classes="run-plot")
        if self.kind == "latency":  # the share over the SLA, interval by interval
            yield HistoryPlot(SLA_SHARE, id="latency-history")

    def on_mount(self) -> None:
        self._apply_period()

    def _apply_period(self) -> None:
        for p in PERIODS:
            self.set_class(self.period == p, f"period-{p}")

    def cycle_period(self) -> str:
        self.period = PERIODS[(PERIODS.index(self.period) + 1) % len(PERIODS)]
        self.chosen = True
        self._apply_period()
        return self.period

    def fit(self, width: int) -> None:
        """Until the user picks a period with c, the period follows the terminal's width."""
        self.wide = width >= WIDE
        if not self.chosen and self.period != (fit := "both" if self.wide else "interval"):
            self.period = fit
            self._apply_period()

    def draw(self, ctx) -> None:
        """The view's interface (tui.views.ViewContext): the whole machine's, no / filter."""
        self.fit(ctx.width)
        self.show(ctx.state)
        if self.kind == "latency":
            plot = self.query_one(HistoryPlot)
            plot.display = ctx.height >= MIN_HEIGHT
            if plot.display:
                plot.set_data(ctx.timeline or ctx.state.history, SPANS[1], ctx.marker)

    def show(self, state: runstate.RunState) -> None:
        snap = state.last
        if snap is None:
            return
        if self.kind == "sizes":
            h_int, h_run = snap.sizes, state.sizes
            what = "write() sizes, bytes"
        else:
            h_int, h_run = snap.latency, state.latency
            what = "write() latency"
        self.query_one(f"#{self.kind}-interval", HistPlot).set_data(h_int, f"{what}: last {snap.elapsed:.1f}s")
        self.query_one(f"#{self.kind}-run", HistPlot).set_data(h_run, f"{what}: whole run")
        self.query_one(f"#{self.kind}-facts", Static).update(self.facts(state))

    def facts(self, state: runstate.RunState) -> Text:
        snap = state.last
        t = Text(no_wrap=True, overflow="ellipsis")
        missing = [n.split(": ", 1)[1] for n in snap.notes if n.startswith("latency:")]
        if self.kind == "latency" and missing:  # the kernel cannot tell: say so, invent nothing
            t.append("write latency " + missing[0], style="bold yellow")
            t.append("\nsizes, bytes and the top writers are still exact", style="dim")
            return t
        if self.kind == "sizes":
            periods = (("interval", snap.sizes.total, snap.bytes), ("run", state.sizes.total, state.bytes))
            for label, count, nbytes in periods:
                avg = nbytes / count if count else 0
                t.append(f"{label}: ", style="bold")
                t.append(f"{count:,} writes, {units.human_bytes(nbytes)}, avg {units.human_bytes(avg)}   ")
            return t
        wide = self.wide
        for label, hist, mx, missed in (
            ("interval", snap.latency, snap.latency_max_ns, snap.sla_missed),
            ("run", state.latency, state.latency_max_ns, state.sla_missed),
        ):
            t.append(f"{label:<9}" if wide else f"{label[:3]} ", style="bold")
            for name, value in latency_summary(hist, mx, snap.sla_ns, missed, compact=not wide):
                style = "bold red" if name.startswith(">") and missed else ""
                t.append(f"{name} ", style="dim")
                t.append(f"{value}  ", style=style)
            t.append("\n")
        if wide:
            t.append(
                f"writes slower than {units.human_ns(snap.sla_ns)} (--sla) are counted exactly in the kernel; "
                "p50/p90/p99 are estimated within their log2 bucket (~)",
                style="dim",
            )
        else:
            t.append(f"> {units.human_ns(snap.sla_ns)} (--sla) counted exactly; ~ estimated", style="dim")
        return t
