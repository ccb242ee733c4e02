"""The probe worker's loop: sample on the schedule, hand each snapshot to the outlets, then to
the screen as a message. Runs in a Textual thread worker; never touches a widget."""

from __future__ import annotations

import threading
from collections.abc import Callable

from outlets import Fanout
from probes.schedule import Source, samples
from probes.snapshot import Snapshot
from tui.messages import SinkFailed, SnapshotReady, SourceEnded, SourceFailed

FIRST_SAMPLE = 0.0
"""Without figures read before the screen started, the first are read as soon as the worker
starts; rates use each snapshot's measured elapsed time, so a short first interval is still
exact. The first interval began when the probes were attached, before the screen started, so
it is not empty: waiting 0.25 s, and then 0.05 s, as before, only delayed the first figures
(by 50 ms of a 0.7 s start, measured)."""


def probe_loop(
    source: Source,
    sinks,
    config,
    stop: threading.Event,
    post: Callable[[object], object],
    cancelled: Callable[[], bool],
    first: Snapshot | None = None,
    last: Callable[[Snapshot], object] | None = None,
) -> None:
    """Until stop, cancellation, COUNT intervals or the end of the source; one line for the user
    on an error, never a traceback. first: the first interval, read before the screen started
    and already shown by it: the outlets get it here, and the next is read an interval on.

    On the way out (stop), the interval under way is read too, as bpftrace prints its maps on
    Ctrl+C: the outlets get it (a recording ends with the writes up to the quit, not up to the
    last full interval) and so does last (the summary counts it), not the screen, which is
    going."""
    fan = Fanout(sinks, lambda message: post(SinkFailed(message)))
    count = config.count
    try:
        if first is not None:
            fan(first)
            if count == 1:
                post(SourceEnded())
                return
            count = count - 1 if count else None
        first_in = None if first is not None else FIRST_SAMPLE
        for snap in samples(source, config.interval, stop, count, first_in, final=True):
            if stop.is_set():  # read as the way out began: the screen will not show it
                fan(snap)
                if last is not None:
                    last(snap)
                continue
            if cancelled():
                return
            fan(snap)
            post(SnapshotReady(snap))
    except Exception as exc:
        post(SourceFailed(str(exc) or type(exc).__name__))
        return
    if not stop.is_set():  # COUNT intervals shown, or the source has no more
        post(SourceEnded())
