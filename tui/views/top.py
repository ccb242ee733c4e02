"""The top writers view: rows keyed by process, cursor and scroll preserved across refreshes."""

from __future__ import annotations

from dataclasses import replace

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical

from probes import procfs, units, writers
from tui.lines import Column, RowTable
from tui.render import name_text
from tui.views.history import MIN_HEIGHT, SPANS, HistoryPlot, span_label

# (key, title, right-aligned, width). Fixed widths: columns never jump between refreshes.
# (Textual's DataTable measured every cell of a column on each update: 5 s a refresh at
# 1,000 rows; and re-rendered every visible cell through Rich: 4% of a core under load.)
# Figures never exceed these widths ("999.9 MiB/s"); a longer name (an escaped hostile
# name can be 60 characters) is cut with an ellipsis here and shown whole in the summary.
COLUMNS = (
    ("pid", "PID", True, 7),
    ("comm", "COMMAND", False, 16, 36),
    ("user", "USER", False, 8),
    ("bytes_s", "BYTES/S", True, 11),
    ("writes_s", "WRITES/S", True, 9),
    ("avg_size", "AVG SIZE", True, 9),
    ("total_bytes", "TOTAL", True, 9, 0, 130),
    ("dirtied_s", "DIRTY/S", True, 11, 0, 112),
    ("syncs_s", "SYNCS/S", True, 8, 0, 100),
    ("to", "TO", False, 9, 0, 90),
)
"""(key, title, right-aligned, width[, grow to[, shown from]]). 76 columns with padding: the whole table fits an
80-column terminal, sort marker included; on a wider one COMMAND takes up to 36 cells, room
for a 15-byte name with five escaped bytes (a longer one ends in an ellipsis here and is
shown whole in the summary, --batch and --json). TO (or VIA, key t) shows from 90 columns,
SYNCS/S (fsync and its kin) from 100, DIRTY/S (bytes made dirty in the page cache, iotop's DISK
WRITE) from 112. TOTAL (since wtop started) at any width in accumulated mode (a) or sorted by
it, else from 130: a writer's total changes every second, which cost about 1 KiB/s over SSH
for a screenful of steady writers whose rates did not change (iotop shows rates too, and
totals on its a)."""


def writes_rate(v: float) -> str:
    """'4.0', '1,024', '123.4k': at most 8 characters."""
    if v < 9.95:
        return f"{v:.1f}"
    if v < 99_999.5:
        return f"{v:,.0f}"
    return units.human_count(v)


class TopTable(RowTable):
    """Top writers of the last interval."""

    BINDINGS = [Binding("enter", "select", "Process")]

    def __init__(self, **kw) -> None:
        self.sort_key = "bytes_s"
        self.group = False
        self.accumulated = False
        self.show_calls = False
        """The last column: where the bytes went (TO: file, sock...) or how (VIA: write, pwrite64...)."""
        super().__init__(self._columns(), **kw)

    def _columns(self) -> list[Column]:
        cols = [Column(c[0], self._label(c[0]), c[3], c[2], *c[4:]) for c in COLUMNS]
        if self.accumulated or self.sort_key == "total_bytes":
            cols = [replace(c, show_from=0) if c.key == "total_bytes" else c for c in cols]
        return cols

    def _label(self, key: str) -> str:
        title = next(c[1] for c in COLUMNS if c[0] == key)
        if key == "to" and self.show_calls:
            title = "VIA"
        if key == "pid" and self.group:
            title = "PROCS"
        return title + ("*" if key == self.sort_key else "")

    FILTER = ("comm",)

    def set_mode(self, sort_key: str, group: bool, show_calls: bool = False, accumulated: bool = False) -> None:
        self.sort_key, self.group = sort_key, group
        self.show_calls = show_calls
        self.accumulated = accumulated
        self.set_columns(self._columns())

    def cells(self, r: writers.Row) -> tuple[Text, ...]:
        if r.thread:  # htop's H: a thread under its process, its tid in the PID column
            comm = name_text("  " + r.comm, style="dim")
        elif r.exited:  # accumulated mode: gone, its total kept
            comm = name_text(r.comm, style="dim strike")
        else:
            comm = name_text(r.comm)
        return (
            Text(str(r.processes if r.pid is None else r.pid), style="dim" if r.thread else ""),
            comm,
            name_text("" if r.thread else procfs.user_name(r.uid)),
            Text(units.human_rate(r.bytes_s)),
            Text(writes_rate(r.writes_s)),
            Text(units.human_bytes(r.avg_size)),
            Text(units.human_bytes(r.total_bytes)),
            Text(units.human_rate(r.dirtied_s) if r.dirtied_s else ""),
            Text(writes_rate(r.syncs_s) if r.syncs_s else ""),
            Text(r.call if self.show_calls else r.kind),
        )


class TopView(Vertical):
    """The top writers, and under them what the machine wrote over time (where there is room).
    The view owns its modes (sort, group, accumulated, threads, last column, span) and keys."""

    BINDINGS = [
        Binding("s", "sort", "Sort", id="sort"),
        Binding("g", "group", "Group", id="group"),
        Binding("a", "accumulated", "Accum", show=False, id="accumulated"),
        Binding("H", "threads", "Threads", show=False, id="threads"),
        Binding("t", "to_via", "To/via", show=False, id="to_via"),
        Binding("m", "span", "Span", show=False, id="span"),
    ]
    DEFAULT_CSS = """
    TopView > TopTable { height: 1fr; }
    """

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.sort_key = "bytes_s"
        self.group = False
        """g: by the writing thread's name (the seed's @[comm]), not by process."""
        self.show_calls = False
        self.accumulated = False
        """a (iotop's): every process seen since start, sorted by TOTAL."""
        self.threads = False
        """H (htop's): each process's threads under it."""
        self.span = SPANS[1]
        """m: seconds of history in the graph (1, 5, 15, 60 minutes)."""
        self._ctx = None

    def compose(self) -> ComposeResult:
        yield TopTable(id="top-table")
        yield HistoryPlot(span_key=True, id="top-history")

    def draw(self, ctx) -> None:
        self._ctx = ctx
        table = self.query_one(TopTable)
        limit = None if ctx.needle else table.MAX_ROWS  # a / filter looks at every row
        rows = writers.rows(ctx.state, self.group, self.sort_key, self.accumulated, self.threads, limit)
        table.show(ctx.keep(rows, table.FILTER))
        plot = self.query_one(HistoryPlot)
        plot.display = ctx.height >= MIN_HEIGHT
        if plot.display:
            plot.set_data(ctx.timeline or ctx.state.history, self.span, ctx.marker)

    def _mode(self, message: str | None) -> None:
        self.query_one(TopTable).set_mode(self.sort_key, self.group, self.show_calls, self.accumulated)
        if message:
            self.notify(message, timeout=1.5)
        if self._ctx is not None:
            self.draw(self._ctx)

    def action_sort(self) -> None:
        keys = writers.SORT_KEYS
        self.sort_key = keys[(keys.index(self.sort_key) + 1) % len(keys)]
        self._mode(f"sorted by {writers.SORT_TITLES[self.sort_key]}")

    def action_group(self) -> None:
        self.group = not self.group
        self._mode("grouped by the writing thread's name" if self.group else "one row per PID")

    def action_accumulated(self, quiet: bool = False) -> None:
        self.accumulated = not self.accumulated
        if self.accumulated and self.sort_key == "bytes_s":
            self.sort_key = "total_bytes"  # what a process wrote since start, idle or gone
        elif not self.accumulated and self.sort_key == "total_bytes":
            self.sort_key = "bytes_s"
        self._mode(
            None
            if quiet
            else "accumulated: every process since start (gone ones struck through)"
            if self.accumulated
            else "the last interval's writers"
        )

    def action_threads(self) -> None:
        self.threads = not self.threads
        self._mode("threads under each process (by their names when they wrote)" if self.threads else "processes")

    def action_to_via(self) -> None:
        self.show_calls = not self.show_calls
        self._mode("last column: write calls by type" if self.show_calls else "last column: kind of target")

    def action_span(self) -> None:
        self.span = SPANS[(SPANS.index(self.span) + 1) % len(SPANS)]
        self._mode(f"history: the last {span_label(self.span)}")
