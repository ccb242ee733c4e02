"""wtop's outlets: everything that consumes Snapshots other than the screen (JSON and text per
interval, the exit summary, recordings and their replay, Prometheus metrics). Never imports
Textual or bcc.

A sink is any callable that takes a Snapshot (and may have close()); Fanout sends each
Snapshot to all of them, and a failing sink is reported, closed and dropped the same way in
every mode, while the others go on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from probes.snapshot import Snapshot


class Sink(Protocol):
    def __call__(self, snap: Snapshot) -> None: ...


def close_sink(sink: Sink) -> None:
    """Close a sink that can be closed; what closing raises is not the caller's problem."""
    close = getattr(sink, "close", None)
    if close is not None:
        try:
            close()
        except Exception:
            pass


class Fanout:
    """Each Snapshot to every sink; a sink that raises is closed, dropped, and reported once
    through on_fail("recorder stopped: ...")."""

    def __init__(self, sinks, on_fail: Callable[[str], None]) -> None:
        self.sinks: list[Sink] = list(sinks)
        self._on_fail = on_fail

    def __call__(self, snap: Snapshot) -> None:
        for sink in list(self.sinks):
            try:
                sink(snap)
            except Exception as exc:
                self.sinks.remove(sink)
                close_sink(sink)
                self._on_fail(f"{type(sink).__name__.lower()} stopped: {exc}")

    def close(self) -> None:
        sinks, self.sinks = self.sinks, []
        for sink in sinks:
            close_sink(sink)
