"""The wtop App: a probe worker posts snapshots; the visible view redraws from the folded state."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import ContentSwitcher, Footer, Static
from textual.worker import get_current_worker

from probes import model
from probes.schedule import ticks
from probes.snapshot import Snapshot
from tui.messages import SinkFailed, SnapshotReady, SourceEnded, SourceFailed
from tui.views.histograms import HistogramView
from tui.views.top import TopTable
from tui.widgets import StatusBar

VIEWS = ("top", "sizes", "latency")
FIRST_SAMPLE = 0.25
VIEW_TITLES = {"top": "top writers", "sizes": "write sizes", "latency": "write latency"}

HELP = """\
wtop: who is writing what. write(2) traced with eBPF, counted in the kernel.

Views
  1      top writers: processes by bytes/s in the last interval
  2      write sizes: log2 histogram of successful write() sizes
  3      write latency: sys_enter_write to sys_exit_write, log2 histogram,
         p50/p90/p99 (estimated in the bucket), max and SLA misses (exact)
  tab    next view (shift+tab: previous)

Keys
  s      top writers: cycle the sort column (marked *)
  g      top writers: group by process name / one row per PID
  c      histograms: both periods / last interval / whole run
  p      pause the display (the probes keep counting); in a replay, play/pause
  left right  replay: one interval back / forward; [ ] ten; < > start / end
  ?      this help (escape closes it)
  q      quit; ctrl+c, SIGTERM and SIGHUP too. A summary is printed.

Skipped: events the probes could not account for
  map full   writes not attributed to a process: the process map was
             full (--max-procs); the histograms still count them
  no entry   a sys_exit_write without its thread's start time: the
             write began before wtop started, or two threads shared
             a start-time slot; no latency is invented for it
  recursion  the kernel skipped a wtop program because another BPF
             program was running on that CPU

Not seen: pwrite64, writev, pwritev, io_uring and writes to mmap'd
memory (only write(2) is traced). wtop's own writes are left out.
"""


class Source(Protocol):
    def sample(self) -> Snapshot | None: ...


class HelpScreen(ModalScreen):
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: auto; max-width: 100%; height: auto; max-height: 100%;
                                  border: round $accent; padding: 0 1; background: $surface; }
    HelpScreen Static { width: auto; }
    """

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(HELP, markup=False)


@dataclass(frozen=True)
class AppConfig:
    interval: float = 1.0
    filters: str = ""
    start_worker: bool = True
    count: int | None = None
    """Quit after this many intervals (as top -n)."""
    host: str | None = None
    """Shown in the status bar; None for this machine's hostname."""


class WtopApp(App):
    TITLE = "wtop"
    CSS_PATH = "wtop.tcss"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [
        Binding("1", "view('top')", "Top", id="view_top"),
        Binding("2", "view('sizes')", "Sizes", id="view_sizes"),
        Binding("3", "view('latency')", "Latency", id="view_latency"),
        Binding("tab", "next_view(1)", "Next", id="next_view", priority=True),
        Binding("shift+tab", "next_view(-1)", "Prev", show=False, id="prev_view", priority=True),
        Binding("s", "sort", "Sort", id="sort"),
        Binding("g", "group", "Group", id="group"),
        Binding("c", "period", "Period", id="period"),
        Binding("p", "pause", "Pause", id="pause"),
        Binding("question_mark", "help", "Help", id="help"),
        Binding("left", "replay_step(-1)", "Back", id="replay_back"),
        Binding("right", "replay_step(1)", "Fwd", id="replay_forward"),
        Binding("left_square_bracket", "replay_step(-10)", "-10", show=False, id="replay_back10"),
        Binding("right_square_bracket", "replay_step(10)", "+10", show=False, id="replay_forward10"),
        Binding("less_than_sign", "replay_jump(0)", "Start", show=False, id="replay_start"),
        Binding("greater_than_sign", "replay_jump(-1)", "End", show=False, id="replay_end"),
        Binding("q", "quit", "Quit", id="quit"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True, id="quit_ctrl_c"),
    ]

    def __init__(
        self,
        source: Source | None,
        config: AppConfig = AppConfig(),
        clock: Callable[[], float] = time.time,
        sinks: tuple = (),
        replay: list[Snapshot] | None = None,
        replay_note: str | None = None,
    ) -> None:
        super().__init__()
        self.source = source
        self.config = config
        self.sinks = tuple(sinks)
        """Outlets called with each snapshot in the worker thread (recording, metrics)."""
        self.replay = replay
        """A recording to show instead of live probes; None when live."""
        self.replay_note = replay_note
        self.replay_pos = 0
        self._replay_cache: dict = {}
        self.state = model.RunState()
        self.view = "top"
        self.paused = False
        self.sort_key = "bytes_s"
        self.group = False
        self.error: str | None = None
        self.clock = clock
        self._stop = threading.Event()

    # -- layout ------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield StatusBar(self.config.interval, self.config.filters, host=self.config.host, id="status")
        with ContentSwitcher(initial="top", id="views"):
            yield TopTable(id="top")
            yield HistogramView("sizes", id="sizes")
            yield HistogramView("latency", id="latency")
        yield Footer()

    def on_mount(self) -> None:
        self._redraw_status()
        loop = asyncio.get_running_loop()
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGHUP):
                try:
                    loop.add_signal_handler(sig, self._on_signal, sig)
                except (RuntimeError, ValueError):  # pragma: no cover - not the main thread
                    pass
        if self.source is not None and self.config.start_worker:
            self.poll_source()
        if self.replay is not None:
            if self.replay_note:
                self.notify(self.replay_note, severity="warning", timeout=10)
            self._replay_to(min(1, len(self.replay)))
            self.set_interval(self.config.interval, self._replay_tick)

    def _on_signal(self, sig: int) -> None:
        self.exit_reason = signal.Signals(sig).name
        self._stop.set()
        self.exit()

    async def action_quit(self) -> None:
        self._stop.set()
        self.exit()

    def on_unmount(self) -> None:
        self._stop.set()

    # -- the probe worker -------------------------------------------------------------
    @work(thread=True, exclusive=True, name="probes", exit_on_error=False)
    def poll_source(self) -> None:
        """Sample once per interval on a fixed schedule (no drift), until cancelled.

        The first sample comes after at most FIRST_SAMPLE seconds, so live figures show at
        once; rates use each snapshot's measured elapsed time, so a short first interval is
        still exact. The outlets get each snapshot here, off the UI thread.
        """
        worker = get_current_worker()
        sinks = list(self.sinks)
        for n in ticks(self.config.interval, self._stop, first=FIRST_SAMPLE):
            if worker.is_cancelled:
                return
            try:
                snap = self.source.sample()
            except Exception as exc:  # the user gets one line, not a traceback
                self.post_message(SourceFailed(str(exc) or type(exc).__name__))
                return
            if snap is None:
                self.post_message(SourceEnded())
                return
            for sink in list(sinks):
                try:
                    sink(snap)
                except Exception as exc:
                    sinks.remove(sink)
                    self.post_message(SinkFailed(f"{type(sink).__name__.lower()} stopped: {exc}"))
            self.post_message(SnapshotReady(snap))
            if self.config.count and n >= self.config.count:
                self.post_message(SourceEnded())
                return

    @on(SnapshotReady)
    def _snapshot(self, message: SnapshotReady) -> None:
        model.fold(self.state, message.snapshot)
        if not self.paused:
            self.redraw()

    @on(SourceFailed)
    def _failed(self, message: SourceFailed) -> None:
        self.error = message.error
        self.exit(return_code=1)

    @on(SourceEnded)
    def _ended(self, message: SourceEnded) -> None:
        self.exit()

    @on(SinkFailed)
    def _sink_failed(self, message: SinkFailed) -> None:
        self.notify(message.error, severity="error", timeout=30)

    # -- drawing ------------------------------------------------------------------------
    def _redraw_status(self) -> None:
        bar = self.query_one(StatusBar)
        if self.replay is None:
            bar.show(self.state, self.paused, VIEW_TITLES[self.view], self.clock)
            return
        snap = self.state.last
        label = f"REPLAY {self.replay_pos}/{len(self.replay)}" + (" paused" if self.paused else "")
        bar.show(self.state, False, VIEW_TITLES[self.view], (lambda: snap.time) if snap else self.clock, label)

    # -- replay -------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action.startswith("replay_"):
            return self.replay is not None
        return True

    def _replay_to(self, pos: int) -> None:
        pos = max(0, min(pos, len(self.replay)))
        self.replay_pos = pos
        self.state = model.state_at(self.replay, pos, self._replay_cache)
        self.redraw()

    def _replay_tick(self) -> None:
        if not self.paused and self.replay_pos < len(self.replay):
            self._replay_to(self.replay_pos + 1)

    def action_replay_step(self, step: int) -> None:
        self.paused = True
        self._replay_to(self.replay_pos + step)

    def action_replay_jump(self, where: int) -> None:
        self.paused = True
        self._replay_to(len(self.replay) if where < 0 else 1)

    def redraw(self) -> None:
        """Redraw the status bar and the visible view only."""
        self._redraw_status()
        if self.state.last is None:
            return
        if self.view == "top":
            self.query_one(TopTable).show(model.rows(self.state, self.group, self.sort_key))
        else:
            self.query_one(f"#{self.view}", HistogramView).show(self.state)

    # -- actions ------------------------------------------------------------------------
    def action_view(self, name: str) -> None:
        self.view = name
        self.query_one(ContentSwitcher).current = name
        self.redraw()
        self.query_one(f"#{name}").focus()

    def action_next_view(self, step: int) -> None:
        self.action_view(VIEWS[(VIEWS.index(self.view) + step) % len(VIEWS)])

    def action_sort(self) -> None:
        keys = model.SORT_KEYS
        self.sort_key = keys[(keys.index(self.sort_key) + 1) % len(keys)]
        table = self.query_one(TopTable)
        table.set_mode(self.sort_key, self.group)
        self.notify(f"sorted by {model.SORT_TITLES[self.sort_key]}", timeout=1.5)
        self.redraw()

    def action_group(self) -> None:
        self.group = not self.group
        self.query_one(TopTable).set_mode(self.sort_key, self.group)
        self.notify("grouped by process name" if self.group else "one row per PID", timeout=1.5)
        self.redraw()

    def action_period(self) -> None:
        period = "both"
        for view in self.query(HistogramView):
            period = view.cycle_period()
        self.redraw()
        self.notify(f"histograms: {period}", timeout=1.5)

    def action_pause(self) -> None:
        self.paused = not self.paused
        if self.replay is not None:
            self._redraw_status()
            return
        self.redraw() if not self.paused else self._redraw_status()

    def action_help(self) -> None:
        self.push_screen(HelpScreen())
