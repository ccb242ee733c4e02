"""The screens over the dashboard: help, and the one shown while the terminal is too small."""

from __future__ import annotations

import os
import sys

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.geometry import Size
from textual.screen import ModalScreen
from textual.widgets import Static

from outlets.text import latency_unknown
from probes.names import scrub

MIN_SIZE = (60, 12)

HELP = """\
wtop: who is writing what. Every call that moves data out of a
process traced with eBPF, counted in the kernel.

Views
  1    top writers: processes by bytes/s in the last interval
  2    write sizes: log2 histogram of successful write sizes
  3    write latency: sys_enter to sys_exit of each write call,
       a storm's one in 2 to 8; p50/p90/p99 estimated in the
       bucket (~), max and SLA exact; f in either: write, copies,
       sends, io_uring, libaio, syncs (--sync-sla), or all of them
  4    files: (process, file) pairs by bytes/s; the path from
       /proc/PID/fd; kind file, pipe, socket, terminal, other,
       or ? when closed before it could be read; SYNCS/S (from
       120 columns): fsync and its kin on that file
  5    containers: writes by cgroup, named as a container (docker,
       podman, containerd, k8s pod) or systemd service/scope
  6    disks: what reached each block device, next to what
       write() sent to its files and what processes dirtied on
       it (DIRTIED/S, written back later); the whole machine
  tab  next view (shift+tab: previous)

Keys
  enter  a process's own page (from top writers or files): its
       calls, files, its own size and latency histograms, and
       it over time (pgdn/pgup scroll to it); escape goes back
  s    top writers: cycle the sort column (marked *)
  g    top writers: group by the writing thread's name at the
       time of the write (the seed's @[comm]) / one row per PID
  SYNCS/S  top writers (from 100 columns): fsync, fdatasync,
       sync_file_range, msync, syncfs and sync calls a second
  DIRTY/S  top writers (from 112 columns): bytes it made dirty
       in the page cache (writes, stores to mmap'd files) or sent
       as direct I/O: the kernel's write_bytes, iotop's DISK WRITE
  a    top writers: accumulated, every process since start by
       TOTAL, idle ones at 0 B/s, gone ones struck through (as
       iotop's a) / the last interval's writers. TOTAL shows in
       this mode, sorted by it, or from 130 columns
  H    top writers: each process's threads under it, by tid and
       name (as htop's H) / processes
  t    top writers, last column: where to (TO) / which call (VIA)
  m    the history graph under the top writers (from 30 lines
       high): the last 1, 5, 15 or 60 minutes; x marks the
       intervals with SLA misses or skipped events
  c    histograms: both periods / last interval / whole run
       (on a process's page: while open / last interval)
  /    filter by name (path in files, device in disks);
       escape clears it
  p    pause the display (the probes keep counting);
       in a replay: play / pause
  left right  replay: one interval back / forward;
       [ ] ten; < > start / end
  ?    this help (escape closes it; pgdn, end scroll it)
  q    quit; also ctrl+c, SIGTERM, SIGHUP. A summary is printed.

Skipped: events the probes could not account for
  map full   calls not attributed to a process: the map of
             (process, descriptor) pairs was full (--map-size);
             the histograms still count them; or more io_uring
             or libaio writes in flight than wtop can follow
  no entry   an exit without its thread's start: the call began
             before wtop started, or two threads shared a slot;
             no latency is invented for it; or iocbs of one
             io_submit or io_getevents call beyond the 32 wtop reads
  recursion  the kernel skipped a wtop program: another BPF
             program was running on that CPU
  disk missed
             a disk request's issue or completion the kernel did
             not let wtop see, as above or while a bpf(2) call
             copied a map on that CPU (wtop's own reading of its
             maps): a missed completion's bytes are missing from
             the disks' figures; the write calls' are whole
  disk       a disk write completed whose issue wtop did not
             see (issued before it started): no latency for it
  exits lost threads' exit records the kernel could not queue:
             what they dirtied since last read is missing

Traced: write, pwrite64, writev, pwritev, pwritev2; copies:
copy_file_range, sendfile, splice, vmsplice, tee; sends: send,
sendto, sendmsg, sendmmsg; io_uring writes and sends, and libaio
writes, counted at completion; syncs: fsync, fdatasync,
sync_file_range, msync, syncfs, sync. Stores to mmap'd files are
seen only as pages dirtied. Not seen: 32-bit processes. wtop's own
calls are left out.
"""


class HelpScreen(ModalScreen):
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: auto; max-width: 100%; height: auto; max-height: 100%;
                                  border: round $accent; padding: 0 1; background: $surface; }
    HelpScreen Static { width: auto; max-width: 100%; }
    """

    def __init__(self, notes: tuple[str, ...] = (), cost: str = "", programs: list[str] | None = None) -> None:
        super().__init__()
        self.notes = notes
        self.cost = cost
        self.programs = programs or []

    def compose(self) -> ComposeResult:
        text = HELP
        if self.cost:
            text += f"\nWhat wtop cost in the last interval: {scrub(self.cost)}\n"
            if "probes" not in self.cost:
                text += (
                    "  its probes' own run time: sysctl kernel.bpf_stats_enabled=1\n"
                    "  (the kernel then counts it, at a few tens of ns an event)\n"
                )
            text += "".join(f"  {scrub(line)}\n" for line in self.programs)
            if latency_unknown(self.notes) is None:  # the calls are timed: the lever is there
                text += "  (wtop --no-latency times no call: its probes then cost about two thirds as much a write)\n"
        if self.notes:
            text += "\nHow wtop runs here:\n" + "".join(f"  {scrub(n)}\n" for n in self.notes)
        with VerticalScroll():
            yield Static(text, markup=False)

    def on_mount(self) -> None:
        # the scroll takes the keys (up, down, pgup, pgdn, home, end): unfocused, the help's
        # last lines could not be reached on a terminal shorter than it
        self.query_one(VerticalScroll).focus()


class TooSmallScreen(ModalScreen):
    """Shown while the terminal is smaller than MIN_SIZE."""

    BINDINGS = [Binding("q", "app.quit", "Quit")]
    DEFAULT_CSS = """
    TooSmallScreen { align: center middle; background: $background; }
    TooSmallScreen > Static { width: 1fr; height: auto; text-align: center; }
    """

    def __init__(self, w: int, h: int) -> None:
        super().__init__()
        self.w, self.h = w, h

    def _text(self) -> str:
        return (
            f"wtop needs a terminal of at least {MIN_SIZE[0]}x{MIN_SIZE[1]}; this one is {self.w}x{self.h}.\n"
            "Make it larger, or press q to quit."
        )

    def compose(self) -> ComposeResult:
        yield Static(self._text(), id="too-small", markup=False)

    def show_size(self, w: int, h: int) -> None:
        self.w, self.h = w, h
        if self.is_mounted:
            self.query_one("#too-small", Static).update(self._text())


def fit_to_terminal(app, size: tuple[int, int] | None = None) -> None:
    """Below MIN_SIZE nothing is readable: say how much room is needed (the probes go on).

    A screen of its own (a full repaint) rather than hidden widgets; checked on every resize
    and every redraw, so quick successive resizes cannot leave a stale answer.
    """
    w, h = size or app.size
    small = w < MIN_SIZE[0] or h < MIN_SIZE[1]
    showing = isinstance(app.screen, TooSmallScreen)
    if small and not showing:
        app.push_screen(TooSmallScreen(w, h))
    elif not small and showing:
        app.pop_screen()
    if small:
        for screen in app.screen_stack:
            if isinstance(screen, TooSmallScreen):
                screen.show_size(w, h)


def missed_resize(size: tuple[int, int]) -> Size | None:
    """The terminal's own size when it differs from size: a resize that never arrived.

    When the terminal reports resizes in band (tmux does), Textual ignores SIGWINCH; two quick
    resizes can then leave the app drawing at the old size (seen in tmux: 120x40 -> 80x24 ->
    40x10 within milliseconds). Once an interval, the app compares with TIOCGWINSZ.
    """
    for stream in (sys.__stderr__, sys.__stdout__):
        try:
            cols, rows = os.get_terminal_size(stream.fileno())
        except (OSError, AttributeError, ValueError):
            continue
        if cols and rows and (cols, rows) != tuple(size):  # 0x0: a pty nobody sized
            return Size(cols, rows)
        return None
    return None
