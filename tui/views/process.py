"""Drill-down: one process's page (Enter on a process). Its write calls by type, its files,
and its own size and latency histograms, which the kernel counts for this process alone
while the page is open (probes.snapshot.FocusWrites)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen

from outlets.text import latency_summary, timed_share
from probes import procfs, runstate, snapshot, tables, units
from probes.procfs import cmdline
from tui.lines import Column, DiffLines, RowTable
from tui.render import name_text
from tui.views.files import COLUMNS as FILE_COLUMNS
from tui.views.files import FilesTable
from tui.views.history import PROCESS_BYTES, PROCESS_P99, SPANS, HistoryPlot
from tui.views.top import writes_rate
from tui.widgets import HistPlot, KeyBar, StatusBar

CALL_COLUMNS = [
    Column("call", "CALL", 9),
    Column("writes_s", "WRITES/S", 9, True),
    Column("bytes_s", "BYTES/S", 11, True),
    Column("share", "SHARE", 6, True),
    Column("total_writes", "WRITES", 9, True),
    Column("total_bytes", "BYTES", 9, True),
]
"""WRITES and BYTES: since the page was opened."""


class CallsTable(RowTable, can_focus=False):
    """Five fixed rows, no cursor."""

    DEFAULT_CSS = """
    CallsTable { height: 6; }
    """

    SHOW_CURSOR = False

    def __init__(self, **kw) -> None:
        super().__init__(CALL_COLUMNS, **kw)

    @staticmethod
    def cells(r: tables.CallRow) -> tuple[Text, ...]:
        return (
            Text(r.call),
            Text(writes_rate(r.writes_s)),
            Text("-" if r.bytes_s is None else units.human_rate(r.bytes_s)),
            Text("-" if r.share is None else f"{100 * r.share:.0f}%"),
            Text("-" if r.total_writes is None else units.human_count(r.total_writes)),
            Text("-" if r.total_bytes is None else units.human_bytes(r.total_bytes)),
        )


class PageFilesTable(FilesTable):
    """The process's own files: no PID and COMMAND (they are the page's), and Enter has nowhere
    further to go."""

    BINDINGS = [
        Binding("enter", "select", "Open", show=False),
        # its few files need no paging: page keys scroll the page, to its graphs
        Binding("pagedown", "screen.scroll_body(1)", "Page down", show=False),
        Binding("pageup", "screen.scroll_body(-1)", "Page up", show=False),
    ]

    def __init__(self, **kw) -> None:
        RowTable.__init__(
            self, [replace(c, show_from=10_000) if c.key in ("pid", "comm") else c for c in FILE_COLUMNS], **kw
        )


class ProcessScreen(Screen):
    """The page of one process; escape goes back to the dashboard."""

    BINDINGS = [
        Binding("escape,backspace", "back", "Back"),
        Binding("c", "period", "Period"),
        Binding("q", "app.quit", "Quit"),
    ]
    DEFAULT_CSS = """
    ProcessScreen { layout: vertical; }
    ProcessScreen #process-head { padding: 0 1; }
    ProcessScreen #process-body { height: 1fr; }
    ProcessScreen #process-files { height: 3; }
    ProcessScreen .plots { height: auto; }
    """

    def __init__(
        self,
        pid: int,
        status: StatusBar,
        live: bool,
        cgroup_name: Callable[[int], tuple[str, str]] = lambda c: ("", ""),
    ) -> None:
        super().__init__()
        self.pid = pid
        self.cgroup_name = cgroup_name
        self._shown: tuple | None = None
        """The last show()'s arguments: the page redraws itself when its period changes."""
        self.live = live
        self.replay = None
        """In a replay, its navigator (tui/replay.py): the history graphs show the whole
        recording, with a marker at the replay's position."""
        self.cmd = cmdline(pid) if live else ""
        self.period = "open"
        """'open': since the page was opened; 'interval': the last interval."""
        self._status_args = (status.interval, status.filters, status.host)
        self._seen: dict[str, tables.FileRow] = {}
        """Its files seen while the page is open: one idle for an interval stays listed, at 0 B/s."""

    def compose(self) -> ComposeResult:
        interval, filters, host = self._status_args
        yield StatusBar(interval, filters, host=host, id="process-status")
        yield DiffLines(4, id="process-head")
        with VerticalScroll(id="process-body"):
            yield CallsTable(id="process-calls")
            yield PageFilesTable(id="process-files")
            with Horizontal(classes="plots"):
                yield HistPlot(label=units.bucket_label, id="process-sizes")
                yield HistPlot(label=units.ns_bucket_label, id="process-latency")
            # over time, under its histograms (scroll down where they are tall)
            yield HistoryPlot(PROCESS_BYTES, id="process-history")
            yield HistoryPlot(PROCESS_P99, id="process-p99")
        yield KeyBar()

    def on_mount(self) -> None:
        self.set_focus(self.query_one(FilesTable))

    def action_back(self) -> None:
        self.dismiss()

    def action_scroll_body(self, step: int) -> None:
        body = self.query_one("#process-body", VerticalScroll)
        body.scroll_page_down(animate=False) if step > 0 else body.scroll_page_up(animate=False)

    def action_period(self) -> None:
        self.period = "interval" if self.period == "open" else "open"
        self.notify("histograms: last interval" if self.period == "interval" else "histograms: while open", timeout=1.5)
        if self._shown is not None:
            self.show(*self._shown)

    SEEN_MAX = 200

    def _files(self, state: runstate.RunState) -> list[tables.FileRow]:
        """Its files of the last interval, then those seen earlier while the page is open (idle
        now: 0 B/s, with their totals), so the list does not flicker with the writes."""
        now = {r.key: r for r in tables.file_rows(state) if r.pid == self.pid}
        seen = self._seen
        for key, r in now.items():
            seen.pop(key, None)
            seen[key] = r  # most recent last
        while len(seen) > self.SEEN_MAX:
            del seen[next(iter(seen))]
        rows = [
            now.get(key)
            or replace(r, bytes_s=0.0, writes_s=0.0, total_bytes=state.file_totals.get((r.pid, r.fd), r.total_bytes))
            for key, r in seen.items()
        ]
        rows.sort(key=lambda r: (-r.bytes_s, -r.total_bytes, r.fd))
        return rows

    def alive(self) -> bool:
        return os.path.exists(f"/proc/{self.pid}") if self.live else True

    def show(self, state: runstate.RunState, paused: bool, view: str, clock) -> None:
        self._shown = (state, paused, view, clock)
        self.query_one("#process-status", StatusBar).show(state, paused, view, clock)
        snap = state.last
        if snap is None:
            return
        pid = self.pid
        p = next((p for p in snap.processes if p.pid == pid), None)
        t = state.totals.get(pid)
        focus = snap.focus if snap.focus is not None and snap.focus.pid == pid else None
        run = state.focus.get(pid)
        self.query_one("#process-head", DiffLines).set_texts(self._head(state, p, t, focus, run))
        self.query_one(CallsTable).show(tables.process_calls(state, pid))
        files = self._files(state)
        table = self.query_one(FilesTable)
        table.styles.height = max(2, min(len(files) + 1, 9))
        table.show(files)
        h = run if self.period == "open" else focus
        when = "while open" if self.period == "open" else f"last {snap.elapsed:.1f}s"
        empty = snapshot.Log2Histogram()
        self.query_one("#process-sizes", HistPlot).set_data(h.sizes if h else empty, f"sizes, {when}")
        self.query_one("#process-latency", HistPlot).set_data(h.latency if h else empty, f"latency, {when}")
        if self.replay is not None:
            pts, marker = self.replay.process_points(pid), self.replay.marker
        else:
            pts, marker = runstate.process_points(state, pid), None
        span = next((s for s in SPANS if pts and pts[-1].time - pts[0].time <= s), SPANS[-1])
        self.query_one("#process-history", HistoryPlot).set_data(pts, span, marker)
        p99 = self.query_one("#process-p99", HistoryPlot)
        p99.display = any(q.p99_ns is not None for q in pts)  # counted only while its page is open
        if p99.display:
            p99.set_data(pts, span, marker)

    def _head(self, state, p, t, focus, run) -> list[Text]:
        snap = state.last
        comm = p.comm if p else (t.comm if t else "?")
        uid = p.uid if p else (t.uid if t else -1)
        line1 = Text(no_wrap=True, overflow="ellipsis")
        line1.append(f"PID {self.pid}  ", style="bold")
        line1.append_text(name_text(comm, "bold"))
        line1.append("  user ")
        line1.append_text(name_text(procfs.user_name(uid)))
        cgroup = p.cgroup if p else 0
        if cgroup:
            line1.append("  cgroup ")
            line1.append_text(name_text(self.cgroup_name(cgroup)[0]))
        if not self.alive():
            line1.append("  exited", style="bold yellow")
        line2 = Text(no_wrap=True, overflow="ellipsis")
        if self.cmd:
            line2.append_text(name_text(self.cmd, "dim"))
        line3 = Text(no_wrap=True, overflow="ellipsis")
        el = snap.elapsed
        nbytes = p.bytes if p else 0
        nwrites = p.writes if p else 0
        line3.append("now ", style="bold")
        line3.append(f"{units.human_rate(units.rate(nbytes, el))}  {writes_rate(units.rate(nwrites, el))} writes/s")
        if nwrites:
            line3.append(f"  avg {units.human_bytes(nbytes / nwrites)}")
        if p and p.errors:
            line3.append(f"  errors {p.errors}", style="yellow")
        line3.append("   run ", style="bold")
        line3.append(units.human_bytes(t.bytes if t else 0))
        dirtied = p.dirtied_self if p else 0
        run_dirtied = t.dirtied - t.dirtied_children if t else 0
        if dirtied or run_dirtied:  # iotop's DISK WRITE: what it left for the disk
            line3.append("   dirtied ", style="bold")
            line3.append(f"{units.human_rate(units.rate(dirtied, el))}, run {units.human_bytes(run_dirtied)}")
        if t and t.dirtied_children:  # as /proc/PID/io counts it: the children it reaped
            line3.append(f" (+{units.human_bytes(t.dirtied_children)} its children's)", style="dim")
        if p and p.syncs or (t and t.syncs):
            line3.append("   syncs ", style="bold")
            line3.append(f"{writes_rate(units.rate(p.syncs if p else 0, el))}/s, run {t.syncs if t else 0:,}")
        line4 = Text(no_wrap=True, overflow="ellipsis")
        if run is not None:
            line4.append("while open ", style="bold")
            line4.append(f"{units.human_bytes(run.bytes)} in {units.human_count(run.writes)} writes")
            if run.errors:
                line4.append(f", {run.errors} errors", style="yellow")
            if run.latency.total:
                summary = latency_summary(run.latency, run.latency_max_ns, snap.sla_ns, run.sla_missed, True)
                for name, value in summary[:4]:
                    line4.append(f"  {name} ", style="dim")
                    line4.append(value)
                write = next((f for f in run.families if f.name == "write"), None)
                share = timed_share(run.latency.total, write.calls) if write is not None else ""
                if share:  # a storm's timing paced (see the latency view)
                    line4.append(f"  {share}", style="yellow")
        elif focus is None and self.live:
            line4.append("counting its own histograms from the next interval...", style="dim")
        else:
            line4.append("no histograms of this process here: recorded without its page open", style="dim")
        return [line1, line2, line3, line4]
