"""Widgets drawn line by line that repaint only the cells that changed.

A 1 Hz dashboard over SSH should send the terminal what changed and nothing more, as
htop does. Textual repaints whole widgets on refresh(); these widgets keep the strips on
screen, compare each new line cell by cell, and mark only the changed span of each line
dirty, so the compositor sends just those spans. Building a line is plain string work
(fixed widths, no Rich layout), which also keeps the CPU cost of a refresh low.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from probes.names import scrub


def changed_span(old: Strip | None, new: Strip, width: int) -> tuple[int, int] | None:
    """[x0, x1) of the cells that differ between two lines, None when they are the same."""
    if old is None:
        return (0, width)
    if old == new:
        return None
    a = [(ch, seg.style) for seg in old for ch in seg.text]
    b = [(ch, seg.style) for seg in new for ch in seg.text]
    n = max(len(a), len(b))
    a += [None] * (n - len(a))
    b += [None] * (n - len(b))
    x0 = next((i for i in range(n) if a[i] != b[i]), None)
    if x0 is None:
        return None
    x1 = next(i for i in range(n, 0, -1) if a[i - 1] != b[i - 1])
    return (x0, x1)


def text_strip(text: Text, width: int, style: Style) -> Strip:
    """One line of Text as a Strip of exactly width cells (cropped or padded)."""
    parts = []
    for span_text, span_style in _spans(text):
        parts.append(Segment(span_text, style + span_style if span_style else style))
    return Strip(parts).adjust_cell_length(width, style).simplify()


def as_style(style: str | Style | None) -> Style:
    """A Text's style as a Style object (style names such as 'bold red' are parsed)."""
    if not style:
        return Style()
    return Style.parse(style) if isinstance(style, str) else style


def _spans(text: Text):
    """(text, Style) pieces of a one-line Text, styles resolved (no markup involved)."""
    plain = text.plain.replace("\n", " ")
    if not text.spans and not text.style:
        yield scrub(plain), None  # the second wall: no control character reaches the terminal
        return
    base = as_style(text.style)
    cuts = sorted({0, len(plain), *(s.start for s in text.spans), *(s.end for s in text.spans)})
    for a, b in zip(cuts, cuts[1:], strict=False):
        if a >= b:
            continue
        st = base
        for sp in text.spans:
            if sp.start <= a and sp.end >= b:
                st = st + as_style(sp.style)
        yield scrub(plain[a:b]), st


class _LineView(Widget):
    """Lines kept as they are on screen. publish() makes each line again and repaints a
    changed one from its first to its last changed cell (Textual sends a region from the left
    edge of its widget, so narrow widgets send less). A subclass says how to make line y
    (_line), how many lines there are (_count) and what else, besides the width, makes the
    kept lines stale (_layout)."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self._shown: list[Strip | None] = []
        self._key: tuple = ()

    def _line(self, y: int, width: int) -> Strip:
        raise NotImplementedError

    def _count(self) -> int:
        return self.size.height

    def _layout(self) -> tuple:
        return ()

    def _blank_style(self) -> Style | None:
        return None

    def _fresh(self) -> None:
        """Forget the kept lines if the width, the layout or the number of lines changed."""
        key = (self.size.width, self._count(), *self._layout())
        if key != self._key:
            self._key = key
            self._shown = [None] * key[1]

    def publish(self) -> None:
        width = self.size.width
        if width == 0:
            return
        self._fresh()
        for y in range(len(self._shown)):
            new = self._line(y, width)
            old = self._shown[y]
            if new is not old and new != old:
                self._shown[y] = new
                span = changed_span(old, new, width)
                if span is not None:
                    self.refresh(Region(span[0], y, span[1] - span[0], 1))

    def render_line(self, y: int) -> Strip:
        self._fresh()
        if y >= len(self._shown):
            return Strip.blank(self.size.width, self._blank_style())
        strip = self._shown[y]
        if strip is None:
            strip = self._shown[y] = self._line(y, self.size.width)
        return strip

    def on_resize(self) -> None:
        self._key = ()
        self.refresh()


class DiffLines(_LineView):
    """A fixed number of lines of Text; repaints only the cells that changed."""

    DEFAULT_CSS = """
    DiffLines { height: auto; }
    """

    def __init__(self, lines: int, **kw) -> None:
        super().__init__(**kw)
        self.n = lines
        self.texts: list[Text] = [Text() for _ in range(lines)]

    def get_content_height(self, container, viewport, width: int) -> int:
        return self.n

    def set_texts(self, texts: Sequence[Text]) -> None:
        self.texts = list(texts)[: self.n] + [Text()] * (self.n - len(texts))
        self.publish()

    def _count(self) -> int:
        return self.n

    def _blank_style(self) -> Style:
        return self.rich_style

    def _line(self, y: int, width: int) -> Strip:
        return text_strip(self.texts[y], width, self.rich_style)


class _Slice(_LineView):
    """A few columns of a SlicedLines. Textual sends a changed region from the left edge of its
    widget to its last changed cell: cut in slices, a status line whose clock and totals
    change each second sends those figures, not the line up to them (0.2 KiB/s a line)."""

    DEFAULT_CSS = """
    _Slice { height: 1fr; }
    """

    def __init__(self, owner: SlicedLines) -> None:
        super().__init__()
        self.owner = owner

    @property
    def x0(self) -> int:
        """Where this slice starts in the line, as laid out."""
        return self.region.x - self.owner.content_region.x

    def _count(self) -> int:
        return self.owner.n

    def _layout(self) -> tuple:
        return (self.x0,)

    def _blank_style(self) -> Style:
        return self.owner.rich_style

    def _line(self, y: int, width: int) -> Strip:
        x0 = self.x0
        return self.owner.full(y).crop(x0, x0 + width).adjust_cell_length(width, self.owner.style_now)


class SlicedLines(DiffLines):
    """DiffLines for a wide line whose figures change every second (the status bar): drawn
    in SLICES side by side, so a change is sent from its slice's edge, not the line's."""

    SLICES = 8

    DEFAULT_CSS = """
    SlicedLines { height: auto; layout: horizontal; }
    """

    def __init__(self, lines: int, **kw) -> None:
        super().__init__(lines, **kw)
        self._full: list[Strip | None] = [None] * lines
        self._full_width = 0
        self._style_now: Style | None = None

    def compose(self):
        for _ in range(self.SLICES):
            yield _Slice(self)

    def render_line(self, y: int) -> Strip:
        return Strip.blank(self.size.width, self.rich_style)  # under the slices

    def full(self, y: int) -> Strip:
        """Line y at the whole width, made once a publish."""
        width = self.size.width
        if width != self._full_width:
            self._full_width = width
            self._full = [None] * self.n
        strip = self._full[y]
        if strip is None:
            strip = self._full[y] = text_strip(self.texts[y], width, self.style_now)
        return strip

    @property
    def style_now(self) -> Style:
        """The widget's style, worked out once a publish (Textual's rich_style blends the
        colours of every ancestor each time it is read)."""
        if self._style_now is None:
            return self.rich_style
        return self._style_now

    def publish(self) -> None:
        if self.size.width == 0:
            return
        self._full = [None] * self.n
        self._style_now = self.rich_style
        try:
            for piece in self.query(_Slice):
                piece.publish()
        finally:
            self._style_now = None

    def on_resize(self) -> None:
        width = self.size.width
        self._full_width = 0
        for i, piece in enumerate(self.query(_Slice)):
            w = width // self.SLICES + (1 if i < width % self.SLICES else 0)
            piece.styles.width = max(w, 0)
            piece.styles.height = self.n
            piece.display = w > 0
        self.refresh()


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    width: int
    right: bool = False
    grow_to: int = 0
    """A column that takes the spare width of the table, up to this many cells."""
    show_from: int = 0
    """Shown only when the table is at least this many cells wide."""
    keep_end: bool = False
    """Cut a long value at its start ('…/dir/file.log'): the end of a path says the most."""


class LazyCells(Sequence):
    """The cells of rows, each row's made when first asked for (then kept)."""

    def __init__(self, rows: Sequence, make) -> None:
        self._rows = rows
        self._make = make
        self._made: dict[int, tuple[Text, ...]] = {}

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, i: int) -> tuple[Text, ...]:  # rows are read one at a time
        cells = self._made.get(i)
        if cells is None:
            cells = self._made[i] = self._make(self._rows[i])
        return cells


class _ColumnView(_LineView):
    """One column of a RowTable. Each column is its own widget because Textual repaints
    whole widget-lines: narrow widgets make a changed figure cost its own cells only
    ("  24.0 KiB" -> "  28.0 KiB" sends "  2")."""

    DEFAULT_CSS = """
    _ColumnView { height: 1fr; }
    """

    def __init__(self, table: RowTable, index: int | None, width: int | None) -> None:
        super().__init__()
        self.table = table
        self.index = index  # None: the filler to the right of the last column
        if width is not None:
            self.styles.width = width
        else:
            self.styles.width = "1fr"

        self._made: dict[int, tuple[tuple, Strip]] = {}
        """Each line's strip, by what it was made from (RowTable.cell_inputs): under load most
        cells read the same from one second to the next, and are not made again."""

    def render_lines(self, crop: Region) -> list[Strip]:
        """Lines made while the screen is drawn (the first frame, a resize) work out each kind
        of row's style once, as a publish does: one widget's lines share the same styles."""
        table = self.table
        if table._styles is not None:
            return super().render_lines(crop)
        table._styles = {}
        try:
            return super().render_lines(crop)
        finally:
            table._styles = None

    def _line(self, y: int, width: int) -> Strip:
        inputs = self.table.cell_inputs(self.index, y, width)
        made = self._made.get(y)
        if made is not None and made[0] == inputs:
            return made[1]
        strip = self.table.cell_strip(self.index, y, width)
        self._made[y] = (inputs, strip)
        return strip


class RowTable(Widget, can_focus=True):
    """A keyed table with a fixed header, drawn column by column, line by line.

    set_rows() takes the rows in display order; the cursor stays on its row's key (or its
    position, when that row is gone) and the scroll position stays where it was. Only the
    cells that changed are sent to the terminal.
    """

    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "jump(0)", "First", show=False),
        Binding("end", "jump(-1)", "Last", show=False),
        Binding("enter", "select", "Open", show=False),
    ]
    COMPONENT_CLASSES = {"rowtable--header", "rowtable--cursor", "rowtable--odd"}
    DEFAULT_CSS = """
    RowTable { height: 1fr; layout: horizontal; background: $surface; }
    RowTable > .rowtable--header { background: $panel; text-style: bold; }
    RowTable > .rowtable--cursor { background: $accent 40%; text-style: bold; }
    RowTable:focus > .rowtable--cursor { background: $accent; }
    RowTable > .rowtable--odd { background: $surface-lighten-1; }
    """

    def __init__(self, columns: Sequence[Column], **kw) -> None:
        super().__init__(**kw)
        self.columns = list(columns)
        self.keys: list[str] = []
        self.row_cells: Sequence[tuple[Text, ...]] = []
        self.cursor_row = 0
        self.top = 0
        """The first row shown (the scroll position, in rows)."""
        self._styles: dict[tuple[bool, int, bool], Style] | None = None
        """Row styles worked out once a publish (see _style); None outside one."""

    def compose(self):
        for i, col in enumerate(self.columns):
            yield _ColumnView(self, i, col.width + 1)
        yield _ColumnView(self, None, None)

    def widths(self, total: int) -> list[int]:
        """Column widths for a table total cells wide (0: hidden); growing columns take the spare."""
        widths = [c.width if total >= c.show_from else 0 for c in self.columns]
        spare = total - sum(w + 1 for w in widths if w) - 1
        for i, c in enumerate(self.columns):
            if c.grow_to and spare > 0 and widths[i]:
                extra = min(spare, c.grow_to - c.width)
                widths[i] += extra
                spare -= extra
        return widths

    # -- data --------------------------------------------------------------------------
    @property
    def row_count(self) -> int:
        return len(self.keys)

    @property
    def cursor_key(self) -> str | None:
        return self.keys[self.cursor_row] if self.keys else None

    @property
    def visible_rows(self) -> int:
        return max(1, self.size.height - 1)

    MAX_ROWS = 100
    SHOW_CURSOR = True
    """False for a fixed table with nothing to select."""
    """Rows kept (the table scrolls); the status bar counts everything that wrote."""

    def cells(self, row) -> tuple[Text, ...]:
        """The cells of one row, as Text (never markup): each table says how."""
        raise NotImplementedError

    def show(self, rows: Sequence) -> None:
        """Show rows (objects with a .key) in order; cursor and scroll are kept. A row's cells
        are made when they are first drawn or read: of 100 rows kept, a screen shows 30."""
        rows = rows[: self.MAX_ROWS]
        self.set_rows([r.key for r in rows], LazyCells(rows, self.cells))

    def set_columns(self, columns: Sequence[Column]) -> None:
        """New titles, or columns shown from another width (same keys and widths)."""
        self.columns = list(columns)
        if self.size.width:
            self._lay_out()
        self._publish()

    def set_rows(self, keys: Sequence[str], cells: Sequence[tuple[Text, ...]]) -> None:
        keep = self.cursor_key
        self.keys = list(keys)
        self.row_cells = cells if isinstance(cells, LazyCells) else list(cells)
        if keep in self.keys:
            self.cursor_row = self.keys.index(keep)
        self.cursor_row = max(0, min(self.cursor_row, len(self.keys) - 1))
        self.top = max(0, min(self.top, len(self.keys) - self.visible_rows))
        self._publish()

    # -- drawing -----------------------------------------------------------------------
    def _style(self, row: int) -> Style:
        """-1 is the header. Within a publish each kind of row's style is worked out once:
        Textual's rich_style walks the widget's ancestors and blends their colours, and doing
        that for every cell was most of the dashboard's own CPU (0.1 ms a cell)."""
        cache = self._styles
        if cache is None:
            return self._work_out_style(row)
        key = (row == -1, row % 2, row == self.cursor_row)
        style = cache.get(key)
        if style is None:
            style = cache[key] = self._work_out_style(row)
        return style

    def _work_out_style(self, row: int) -> Style:
        if row == -1:
            return self.get_component_rich_style("rowtable--header")
        base = self.rich_style
        if row == -2:  # below the last row
            return base
        if row % 2:
            base = base + self.get_component_rich_style("rowtable--odd")
        if row == self.cursor_row and self.SHOW_CURSOR:
            base = base + self.get_component_rich_style("rowtable--cursor")
            if self.app.no_color:  # without colour, a background cannot mark the cursor
                base = base + Style(reverse=True)
        return base

    def cell_inputs(self, index: int | None, y: int, width: int) -> tuple:
        """What cell_strip(index, y, width) is made from: equal inputs, equal strips."""
        row = -1 if y == 0 else self.top + y - 1
        if row >= len(self.keys):
            return (width, self._style(-2))
        style = self._style(row)
        if index is None:
            return (width, style, y == 0 and (self.top, len(self.keys), self.visible_rows))
        col = self.columns[index]
        if row == -1:
            return (width, style, col)
        cell = self.row_cells[row][index]
        return (width, style, col, cell.plain, cell.style, tuple(cell.spans))

    def cell_strip(self, index: int | None, y: int, width: int) -> Strip:
        """Line y (0: the header) of one column, exactly width cells."""
        row = -1 if y == 0 else self.top + y - 1
        if row >= len(self.keys):
            return Strip.blank(width, self._style(-2))
        style = self._style(row)
        if index is None:  # the filler; its header tells where the view is
            text = ""
            if y == 0 and len(self.keys) > self.visible_rows:
                last = min(len(self.keys), self.top + self.visible_rows)
                text = f"{self.top + 1}-{last} of {len(self.keys)} "
            return Strip([Segment(text.rjust(width)[-width:] if width else "", style)]).adjust_cell_length(width, style)
        col = self.columns[index]
        cw = width - 1  # this column's width as laid out (growing columns vary)
        cell = Text(col.title) if row == -1 else self.row_cells[row][index]
        plain = cell.plain
        if cell_len(plain) > cw:
            if col.keep_end:
                plain = "…" + plain[-(cw - 1) :] if cw > 1 else "…"
                plain = set_cell_size(plain, cw)
            else:
                plain = set_cell_size(plain, cw - 1) + "…"
        pad = cw - cell_len(plain)
        text = (" " * pad + plain) if col.right else (plain + " " * pad)
        segments = [Segment(" ", style), Segment(text, style + as_style(cell.style))]
        return Strip(segments).adjust_cell_length(width, style).simplify()

    def _publish(self) -> None:
        self._styles = {}
        try:
            for view in self.query(_ColumnView):
                view.publish()
        finally:
            self._styles = None

    def on_resize(self) -> None:
        self.top = max(0, min(self.top, len(self.keys) - self.visible_rows))
        self._lay_out()

    def _lay_out(self) -> None:
        views = list(self.query(_ColumnView))
        for view, w in zip(views, self.widths(self.size.width), strict=False):
            view.display = w > 0
            if w and (view.styles.width is None or view.styles.width.value != w + 1):
                view.styles.width = w + 1

    # -- cursor and scrolling ----------------------------------------------------------
    def _move_to(self, row: int) -> None:
        if not self.keys:
            return
        self.cursor_row = max(0, min(row, len(self.keys) - 1))
        if self.cursor_row < self.top:
            self.top = self.cursor_row
        elif self.cursor_row >= self.top + self.visible_rows:
            self.top = self.cursor_row - self.visible_rows + 1
        self._publish()
        self.cursor_moved()

    def scroll_rows(self, step: int) -> None:
        self.top = max(0, min(self.top + step, len(self.keys) - self.visible_rows))
        self.cursor_row = max(self.top, min(self.cursor_row, self.top + self.visible_rows - 1))
        self._publish()
        self.cursor_moved()

    def cursor_moved(self) -> None:
        """Called after the user moved the cursor (a view showing the selected row's details)."""

    class Selected(Message):
        """Enter on a row."""

        def __init__(self, table: RowTable, key: str) -> None:
            super().__init__()
            self.table = table
            self.key = key

    def action_select(self) -> None:
        if self.cursor_key is not None:
            self.post_message(self.Selected(self, self.cursor_key))

    def action_cursor(self, step: int) -> None:
        self._move_to(self.cursor_row + step)

    def action_page(self, step: int) -> None:
        self._move_to(self.cursor_row + step * max(1, self.visible_rows - 1))

    def action_jump(self, where: int) -> None:
        self._move_to(len(self.keys) - 1 if where < 0 else 0)

    def on_mouse_scroll_down(self, event) -> None:
        self.scroll_rows(3)
        event.stop()

    def on_mouse_scroll_up(self, event) -> None:
        self.scroll_rows(-3)
        event.stop()

    def on_click(self, event) -> None:
        y = event.screen_y - self.region.y
        if y >= 1:
            self._move_to(self.top + y - 1)

    def row_plain(self, row: int) -> list[str]:
        return [c.plain for c in self.row_cells[row]]
