"""The top writers view: a DataTable updated by row key, cursor and scroll preserved."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from probes import model
from tui.render import name_text

MAX_ROWS = 500
COLUMNS = (
    ("pid", "PID", True),
    ("comm", "COMMAND", False),
    ("user", "USER", False),
    ("bytes_s", "BYTES/S", True),
    ("writes_s", "WRITES/S", True),
    ("avg_size", "AVG SIZE", True),
    ("total_bytes", "TOTAL", True),
)


class TopTable(DataTable):
    """Top writers of the last interval."""

    DEFAULT_CSS = """
    TopTable { height: 1fr; }
    """

    def __init__(self, **kw) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kw)
        self.sort_key = "bytes_s"
        self.group = False
        self._cells: dict[str, tuple] = {}

    def on_mount(self) -> None:
        self._make_columns()

    def _make_columns(self) -> None:
        self.clear(columns=True)
        self._cells.clear()
        for key, title, right in COLUMNS:
            label = title
            if key == "pid" and self.group:
                label = "PROCS"
            if key == self.sort_key:
                label += "*"
            self.add_column(Text(label, justify="right" if right else "left"), key=key)

    def set_mode(self, sort_key: str, group: bool) -> None:
        changed_group = group != self.group
        self.sort_key, self.group = sort_key, group
        if changed_group:
            self._make_columns()
        else:
            for key, title, right in COLUMNS:
                label = "PROCS" if key == "pid" and self.group else title
                if key == self.sort_key:
                    label += "*"
                column = self.columns[key]
                column.label = Text(label, justify="right" if right else "left")
                column.content_width = max(column.content_width, column.label.cell_len)
            self._require_update_dimensions = True
            self.refresh()

    @staticmethod
    def cells(r: model.Row) -> tuple:
        right = {"justify": "right"}
        return (
            Text(str(r.processes if r.pid is None else r.pid), **right),
            name_text(r.comm),
            name_text(model.user_name(r.uid)),
            Text(model.human_rate(r.bytes_s), **right),
            Text(f"{r.writes_s:,.0f}" if r.writes_s >= 10 else f"{r.writes_s:.1f}", **right),
            Text(model.human_bytes(r.avg_size), **right),
            Text(model.human_bytes(r.total_bytes), **right),
        )

    def show(self, rows: list[model.Row]) -> None:
        rows = rows[:MAX_ROWS]
        keep_key = None
        if self.row_count:
            try:
                keep_key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
            except Exception:
                keep_key = None
        keep_index = self.cursor_row
        new = {r.key: r for r in rows}
        with self.app.batch_update():
            for key in list(self._cells):
                if key not in new:
                    self.remove_row(key)
                    del self._cells[key]
            col_keys = [c[0] for c in COLUMNS]
            for r in rows:
                cells = self.cells(r)
                old = self._cells.get(r.key)
                if old is None:
                    self.add_row(*cells, key=r.key)
                else:
                    for ck, a, b in zip(col_keys, old, cells, strict=True):
                        if a.plain != b.plain:
                            self.update_cell(r.key, ck, b, update_width=True)
                self._cells[r.key] = cells
            rank = {r.key: i for i, r in enumerate(rows)}
            ident = {(c[0].plain, c[1].plain): k for k, c in self._cells.items()}
            self.sort(key=lambda vals: rank[ident[(vals[0].plain, vals[1].plain)]])
            if keep_key in new:
                self.move_cursor(row=self.get_row_index(keep_key), animate=False, scroll=False)
            elif self.row_count:
                self.move_cursor(row=min(keep_index, self.row_count - 1), animate=False, scroll=False)
