"""Every way out of the dashboard, in one place: q and Ctrl+C, SIGTERM, SIGHUP (the SSH session
dropped), COUNT intervals shown, the source ended."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Callable

from outlets import close_sink

EXIT_DEADLINE = 2.0
"""After SIGHUP or SIGTERM, the process ends within this many seconds whatever happens."""


class Exits:
    def __init__(self, source, sinks, exit_app: Callable[[], None]) -> None:
        self.stop = threading.Event()
        """Set on the way out: the probe worker stops sampling."""
        self.reason: str | None = None
        self._source = source
        self._sinks = sinks
        self._exit_app = exit_app

    def install(self) -> None:
        """SIGTERM and SIGHUP end the app (from the main thread's event loop only)."""
        if threading.current_thread() is not threading.main_thread():
            return
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGHUP):
            try:
                loop.add_signal_handler(sig, self._on_signal, sig)
            except (RuntimeError, ValueError):  # pragma: no cover - no signals here
                pass

    def leave(self) -> None:
        """Stop sampling and start detaching the probes at once (it takes the kernel about half
        a second), while the screen is torn down and the summary printed."""
        self.stop.set()
        begin_close = getattr(self._source, "begin_close", None)
        if begin_close is not None:
            begin_close()
        self._exit_app()

    def _on_signal(self, sig: int) -> None:
        self.reason = signal.Signals(sig).name
        threading.Thread(target=self._deadline, daemon=True, name="exit-deadline").start()
        self.leave()

    def _deadline(self) -> None:
        """A safety net: if an orderly exit has not finished in time, close the outlets (a
        recording gets its end) and leave; the kernel detaches the probes with the fds."""
        time.sleep(EXIT_DEADLINE)
        for sink in self._sinks:
            close_sink(sink)
        os._exit(0)
