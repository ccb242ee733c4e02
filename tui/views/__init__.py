"""The views, in one table (dolphie's panel table is the anchor): each view is a widget with
draw(ctx), given everything it may know in a ViewContext, so no view reaches into the App,
and the / filter is applied the same way in every view that has rows (ViewContext.keep).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from probes.runstate import RunState


@dataclass(frozen=True, slots=True)
class ViewContext:
    """What a view is drawn from."""

    state: RunState
    needle: str = ""
    """The / filter, lowercased ('' for none)."""
    cgroup_name: Callable[[int], tuple[str, str]] = lambda cgid: (str(cgid), "")
    width: int = 120
    """The terminal's width (layouts change below 110 columns)."""
    height: int = 40
    """The terminal's height (the history graph gives way to the table below 30 lines)."""
    kernel_filters: str = ""
    """The filters the probes apply (-p, -c, -u, --cgroup), '' for none."""
    timeline: list | None = None
    """A replay: the whole recording's history points (None live: the run's own history)."""
    marker: float | None = None
    """A replay: the wall-clock time of its position, marked on the graphs."""

    def keep(self, rows: list, fields: tuple[str, ...]) -> list:
        """The rows whose fields contain the / filter (case-insensitive); all when it is empty."""
        needle = self.needle
        if not needle or not fields:
            return rows
        return [r for r in rows if any(needle in getattr(r, f).lower() for f in fields)]


@dataclass(frozen=True, slots=True)
class ViewSpec:
    name: str
    key: str
    title: str
    make: Callable[[], object]
    """The view's widget, with id=name."""
    focus: str
    """The selector of what has the focus in the view."""


def _specs() -> tuple[ViewSpec, ...]:
    from tui.views.containers import ContainersTable
    from tui.views.disks import DisksView
    from tui.views.files import FilesTable
    from tui.views.histograms import HistogramView
    from tui.views.top import TopView

    return (
        ViewSpec("top", "1", "top writers", lambda: TopView(id="top"), "#top-table"),
        ViewSpec("sizes", "2", "write sizes", lambda: HistogramView("sizes", id="sizes"), "#sizes"),
        ViewSpec("latency", "3", "write latency", lambda: HistogramView("latency", id="latency"), "#latency"),
        ViewSpec("files", "4", "files", lambda: FilesTable(id="files"), "#files"),
        ViewSpec("containers", "5", "containers", lambda: ContainersTable(id="containers"), "#containers"),
        ViewSpec("disks", "6", "disks", lambda: DisksView(id="disks"), "#disks-table"),
    )


VIEWS: tuple[ViewSpec, ...] = _specs()
BY_NAME = {v.name: v for v in VIEWS}
