"""The files view: the top (process, file) pairs by bytes/s, the path resolved from the
descriptor in user space, the kind of target."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding

from probes import tables, units
from tui.lines import Column, RowTable
from tui.render import name_text
from tui.views.top import writes_rate

COLUMNS = [
    Column("pid", "PID", 7, True),
    Column("comm", "COMMAND", 15),
    Column("fd", "FD", 5, True),
    Column("kind", "KIND", 8),
    Column("path", "PATH", 18, grow_to=200, keep_end=True),
    Column("bytes_s", "BYTES/S*", 11, True),
    Column("writes_s", "WRITES/S", 9, True),
    Column("total_bytes", "TOTAL", 9, True, show_from=85),
    Column("syncs_s", "SYNCS/S", 8, True, show_from=120),
    Column("disk", "DISK", 9, show_from=110),
]


class FilesTable(RowTable):
    """(process, file) pairs of the last interval, by bytes/s."""

    BINDINGS = [Binding("enter", "select", "Process")]
    FILTER = ("comm", "path")

    def draw(self, ctx) -> None:
        """The view's interface (tui.views.ViewContext)."""
        self.show(ctx.keep(tables.file_rows(ctx.state), self.FILTER))

    def __init__(self, **kw) -> None:
        super().__init__(COLUMNS, **kw)

    @staticmethod
    def cells(r: tables.FileRow) -> tuple[Text, ...]:
        return (
            Text(str(r.pid)),
            name_text(r.comm),
            Text(str(r.fd) if r.fd >= 0 else "-"),
            Text(r.kind),
            name_text(r.path),
            Text(units.human_rate(r.bytes_s)),
            Text(writes_rate(r.writes_s)),
            Text(units.human_bytes(r.total_bytes)),
            Text(writes_rate(r.syncs_s) if r.syncs_s else ""),
            name_text(r.disk),
        )
