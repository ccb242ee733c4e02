"""The containers view: writes grouped by cgroup, named as a container or service."""

from __future__ import annotations

from rich.text import Text

from probes import tables, units
from tui.lines import Column, RowTable
from tui.render import name_text
from tui.views.top import writes_rate

COLUMNS = [
    Column("name", "CONTAINER/SERVICE", 24, grow_to=40),
    Column("procs", "PROCS", 6, True),
    Column("bytes_s", "BYTES/S*", 11, True),
    Column("writes_s", "WRITES/S", 9, True),
    Column("total_bytes", "TOTAL", 9, True),
    Column("path", "CGROUP", 12, grow_to=200, keep_end=True),
]


class ContainersTable(RowTable):
    FILTER = ("name", "path")

    def __init__(self, **kw) -> None:
        super().__init__(COLUMNS, **kw)

    def draw(self, ctx) -> None:
        """The view's interface (tui.views.ViewContext)."""
        self.show(ctx.keep(tables.container_rows(ctx.state, ctx.cgroup_name), self.FILTER))

    @staticmethod
    def cells(r: tables.GroupRow) -> tuple[Text, ...]:
        return (
            name_text(r.name),
            Text(str(r.processes)),
            Text(units.human_rate(r.bytes_s)),
            Text(writes_rate(r.writes_s)),
            Text(units.human_bytes(r.total_bytes)),
            name_text(r.path),
        )
