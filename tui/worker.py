"""The probe worker's loop: sample on the schedule, hand each snapshot to the outlets, then to
the screen as a message. Runs in a Textual thread worker; never touches a widget."""

from __future__ import annotations

import threading
from collections.abc import Callable

from outlets import Fanout
from probes.schedule import Source, samples
from tui.messages import SinkFailed, SnapshotReady, SourceEnded, SourceFailed

FIRST_SAMPLE = 0.0
"""The first figures are read as soon as the worker starts; rates use each snapshot's measured
elapsed time, so a short first interval is still exact. The first interval began when the
probes were attached, before the screen started, so it is not empty: waiting 0.25 s, and then
0.05 s, as before, only delayed the first figures (by 50 ms of a 0.7 s start, measured)."""


def probe_loop(
    source: Source,
    sinks,
    config,
    stop: threading.Event,
    post: Callable[[object], object],
    cancelled: Callable[[], bool],
) -> None:
    """Until stop, cancellation, COUNT intervals or the end of the source; one line for the user
    on an error, never a traceback."""
    fan = Fanout(sinks, lambda message: post(SinkFailed(message)))
    try:
        for snap in samples(source, config.interval, stop, config.count, FIRST_SAMPLE):
            if cancelled():
                return
            fan(snap)
            post(SnapshotReady(snap))
    except Exception as exc:
        post(SourceFailed(str(exc) or type(exc).__name__))
        return
    if not stop.is_set():  # COUNT intervals shown, or the source has no more
        post(SourceEnded())
