"""The write sizes and write latency views: interval and whole run, side by side or one."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Static

from outlets.text import latency_summary, latency_unknown, timed_share
from probes import runstate, units
from probes.snapshot import FAMILIES, Family
from tui.views.history import MIN_HEIGHT, SLA_SHARE, SPANS, HistoryPlot
from tui.widgets import NO_WRITES, HistPlot

PERIODS = ("both", "interval", "run")
FAMILY_CHOICES = (*FAMILIES, "all")
"""What f cycles through: each family of calls, then all of them together."""
FAMILY_WHAT = {
    "write": "write()",
    "copy": "copy (copy_file_range, sendfile, splice, vmsplice, tee)",
    "send": "send (sendto, sendmsg, sendmmsg)",
    "io_uring": "io_uring (writes and sends, at completion)",
    "aio": "libaio (io_submit writes, at completion)",
    "sync": "sync (fsync, fdatasync, sync_file_range, msync, syncfs, sync)",
    "all": "all calls",
}
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

    BINDINGS = [Binding("f", "family", "Family")]
    HAS_FAMILIES = True
    """Whether f applies (the disks view, built on this one, has none)."""

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self.HAS_FAMILIES if action == "family" else True

    def __init__(self, kind: str, **kw) -> None:
        super().__init__(**kw)
        self.kind = kind
        self.family = "write"
        """Which family of calls the histograms show (f cycles): the write family first."""
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

    def action_family(self) -> None:
        self.family = FAMILY_CHOICES[(FAMILY_CHOICES.index(self.family) + 1) % len(FAMILY_CHOICES)]
        self.app.redraw()
        self.notify(f"{self.kind}: {FAMILY_WHAT[self.family]}", timeout=1.5)

    def chosen_families(self, state: runstate.RunState) -> tuple[Family, Family] | None:
        """(interval, run) of the chosen family; None for the write family (the top-level
        figures, which old recordings have too)."""
        snap = state.last
        if self.family == "write":
            return None
        names = FAMILIES if self.family == "all" else (self.family,)
        cur = run = None
        for name in names:
            f = snap.family(name)
            if f is not None:
                cur = runstate.add_family(cur, f)
            r = state.families.get(name)
            if r is not None:
                run = runstate.add_family(run, r)
        empty = Family(self.family, sla_ns=snap.sla_ns)
        return cur or empty, run or empty

    def show(self, state: runstate.RunState) -> None:
        snap = state.last
        if snap is None:
            return
        fams = self.chosen_families(state)
        label = FAMILY_WHAT[self.family]
        if fams is not None:
            cur, run = fams
            h_int, h_run = (cur.sizes, run.sizes) if self.kind == "sizes" else (cur.latency, run.latency)
            what = f"{label} sizes, bytes" if self.kind == "sizes" else f"{label} latency"
        elif self.kind == "sizes":
            h_int, h_run = snap.sizes, state.sizes
            what = "write() sizes, bytes"
        else:
            h_int, h_run = snap.latency, state.latency
            what = "write() latency"
        plots = self.query_one(f"#{self.kind}-interval", HistPlot), self.query_one(f"#{self.kind}-run", HistPlot)
        if self.kind == "latency":  # empty because nothing was timed, not because nothing was written
            empty = "not timed" if latency_unknown(snap.notes) else NO_WRITES
            for plot in plots:
                plot.empty = empty
        plots[0].set_data(h_int, f"{what}: last {snap.elapsed:.1f}s")
        plots[1].set_data(h_run, f"{what}: whole run")
        self.query_one(f"#{self.kind}-facts", Static).update(self.facts(state, fams))

    def facts(self, state: runstate.RunState, fams: tuple[Family, Family] | None = None) -> Text:
        snap = state.last
        t = Text(no_wrap=True, overflow="ellipsis")
        missing = latency_unknown(snap.notes)
        if self.kind == "latency" and missing:  # nothing was timed: say so, invent nothing
            t.append("write latency " + missing, style="bold yellow")
            t.append("\nsizes, bytes and the top writers are still exact", style="dim")
            return t
        if fams is not None:
            cur, run = fams
            t.append(f"{FAMILY_WHAT[self.family]}  (f: next family)\n", style="bold cyan")
            unseen = [n.split(": ", 1)[1] for n in snap.notes if n.startswith(f"{self.family}:")]
            if unseen:  # this kernel cannot trace the family: say so, invent nothing
                t.append(f"{self.family} {unseen[0]}\n", style="bold yellow")
        if self.kind == "sizes":
            if fams is not None:
                periods = (("interval", cur.sizes.total, cur.bytes), ("run", run.sizes.total, run.bytes))
            else:
                write_i, write_r = snap.family("write"), state.families.get("write")
                periods = (
                    ("interval", snap.sizes.total, write_i.bytes if write_i else snap.bytes),
                    ("run", state.sizes.total, write_r.bytes if write_r else state.bytes),
                )
            for label, count, nbytes in periods:
                avg = nbytes / count if count else 0
                t.append(f"{label}: ", style="bold")
                t.append(f"{count:,} calls, {units.human_bytes(nbytes)}, avg {units.human_bytes(avg)}   ")
            return t
        wide = self.wide
        if fams is not None:
            rows = (
                ("interval", cur.latency, cur.latency_max_ns, cur.sla_missed, cur.sla_ns, cur.calls),
                ("run", run.latency, run.latency_max_ns, run.sla_missed, cur.sla_ns, run.calls),
            )
        else:
            calls_i, calls_r = (f.calls if f else None for f in (snap.family("write"), state.families.get("write")))
            rows = (
                ("interval", snap.latency, snap.latency_max_ns, snap.sla_missed, snap.sla_ns, calls_i),
                ("run", state.latency, state.latency_max_ns, state.sla_missed, snap.sla_ns, calls_r),
            )
        for label, hist, mx, missed, sla_ns, calls in rows:
            t.append(f"{label:<9}" if wide else f"{label[:3]} ", style="bold")
            for name, value in latency_summary(hist, mx, sla_ns, missed, compact=not wide):
                style = "bold red" if name.startswith(">") and missed else ""
                t.append(f"{name} ", style="dim")
                t.append(f"{value}  ", style=style)
            share = timed_share(hist.total, calls) if calls and wide else ""
            if share:  # a storm paced, or calls begun before the probes: say whose figures these are
                t.append(share, style="yellow")
            t.append("\n")
        sla_ns, flag = (rows[0][4], "--sync-sla") if self.family == "sync" else (snap.sla_ns, "--sla")
        hist, calls = rows[0][1], rows[0][5]
        if not wide and calls and timed_share(hist.total, calls):  # no room on the rows: the interval's share here
            t.append(f"{100 * hist.total / calls:.0f}% of the calls timed; ", style="yellow")
        if wide:
            t.append(
                f"timed calls over {units.human_ns(sla_ns)} ({flag}) counted exactly in the kernel; "
                "p50/p90/p99 estimated within their log2 bucket (~); f: next family",
                style="dim",
            )
        else:
            t.append(f"> {units.human_ns(sla_ns)} ({flag}) counted exactly; ~ estimated", style="dim")
        return t
