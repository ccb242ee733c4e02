"""When Python's cyclic garbage collector runs, in a process that lives for hours.

Measured on the dashboard under load (1,000 writers a second, 120x40, Python 3.11), with the
collector's defaults (700, 10, 10): 140 young and 13 middle collections in 22 s, and a full one
that walked Textual's whole heap (tens of ms each, hundreds under load). Almost nothing it
walks is garbage: a snapshot's rows and a refresh's objects are freed by their reference
counts. So, as long-running servers do:

- hold(): no collection while starting (the imports of Textual and plotext, the first screen);
- settle(): once started, what exists stays (gc.freeze: the collector never walks it again),
  and a young collection waits for YOUNG more objects than were freed, not 700;
- paused(): none in the middle of a drain (a burst of 10,000 processes makes 100,000 objects,
  which used to set off a dozen collections that walked them all).

Garbage in cycles is still collected, only later: at most about YOUNG objects of it wait.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

YOUNG = 50_000
_settled = False


def hold() -> None:
    """No collection until settle()."""
    gc.disable()


def settle() -> None:
    """Start-up is over: freeze what exists and collect on a calmer schedule (once)."""
    global _settled
    if _settled:
        return
    _settled = True
    gc.freeze()
    gc.set_threshold(YOUNG, 20, 20)
    gc.enable()


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """No collection inside the block (one that was held stays held)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
