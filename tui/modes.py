"""The ways wtop runs once its options are checked: live (the dashboard, or batch, JSON and
headless outlets), or a recording replayed. Each ends with one line on an error, never a
traceback."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import threading
import time

from probes import __version__
from tui.cli import fail, probe_options

LAST_READ_WAIT = 1.0
"""How long the way out waits for the probe worker's last read (SIGTERM and SIGHUP end the
process within tui.exits.EXIT_DEADLINE whatever happens)."""


def no_screen_here(args: argparse.Namespace) -> str | None:
    """Why the dashboard cannot be drawn here (stdout is no terminal), None when it can."""
    if args.batch or args.json or args.no_tui or sys.stdout.isatty():
        return None
    return (
        "the dashboard needs a terminal, and stdout is not one: "
        "for a pipe, a file or cron use --batch (text) or --json (one object per interval)"
    )


def screen_compat() -> str | None:
    """Textual's private hook, applied before any screen exists; the problem as one line."""
    from tui.compat import CompatError, survive_a_vanished_terminal

    try:
        survive_a_vanished_terminal()
    except CompatError as exc:
        return str(exc)
    return None


def run_replay(args: argparse.Namespace) -> int:
    from outlets.recording import RecordingError, read

    try:
        rep = read(args.replay)
    except RecordingError as exc:
        return fail(str(exc))
    if rep.problem:
        fail(f"{args.replay}: {rep.problem}")
    if not rep.snapshots:
        return fail(f"{args.replay} holds no interval to show")
    from probes import heap

    heap.settle()
    snaps = rep.snapshots[: args.count] if args.count else rep.snapshots
    if problem := no_screen_here(args):
        return fail(problem)
    if args.batch or args.json:
        from outlets.batch import emit

        return emit(snaps, "json" if args.json else "text", args.top, sys.stdout, accumulated=args.accumulated)
    from tui.app import AppConfig, WtopApp

    if problem := screen_compat():
        return fail(problem)
    interval = args.interval if args.interval_pos or args.interval != 1.0 else rep.header.get("interval", 1.0)
    filters = rep.header.get("filters", "")
    app = WtopApp(
        None,
        AppConfig(interval=interval, filters=filters, host=rep.header.get("host"), accumulated=args.accumulated),
        replay=snaps,
        replay_note=rep.problem,
    )
    app.run()
    print_summary(app.state)
    return 0


def run_live(args: argparse.Namespace) -> int:
    import socket

    from outlets import close_sink
    from probes.live import LiveSource, ProbeError

    if problem := no_screen_here(args):
        return fail(problem)
    done = threading.Event()
    if not (args.batch or args.json or args.no_tui):
        threading.Thread(target=_loading_notice, args=(done,), daemon=True).start()
        # the screen's modules (Textual, plotext: about 0.2 s) load while the probes compile
        # in their child process, instead of after
        threading.Thread(target=importlib.import_module, args=("tui.app",), daemon=True).start()
    try:
        source = LiveSource(probe_options(args))
    except ProbeError as exc:
        if exc.details:  # what the compiler printed: worth seeing, before the screen exists
            print(exc.details, file=sys.stderr)
        return fail(str(exc))
    except KeyboardInterrupt:
        return 130
    finally:
        done.set()
    sinks: list = []
    server = None
    with source:
        try:
            if args.record:
                from outlets.recording import Recorder, RecordingError

                try:
                    sinks.append(
                        Recorder(
                            args.record,
                            {
                                "host": socket.gethostname(),
                                "started": time.time(),
                                "interval": args.interval,
                                "sla_ns": args.sla,
                                "filters": filters_text(args),
                                "wtop": __version__,
                            },
                        )
                    )
                except RecordingError as exc:
                    return fail(str(exc))
            if args.prometheus:
                from outlets.metrics import Metrics, serve

                metrics = Metrics()
                try:
                    server = serve(metrics, args.prometheus)
                except OSError as exc:
                    return fail(f"--prometheus {args.prometheus}: {exc.strerror or exc}")
                sinks.append(metrics)
            if args.batch or args.json or args.no_tui:
                from outlets.batch import run

                fmt = "json" if args.json else "text" if args.batch else ""
                return run(
                    source,
                    args.interval,
                    args.count,
                    fmt,
                    args.top,
                    sinks,
                    ready=notify_ready,
                    accumulated=args.accumulated,
                )
            return run_dashboard(args, source, sinks)
        finally:
            for sink in sinks:
                close_sink(sink)
            if server is not None:
                server.shutdown()


def notify_ready() -> None:
    """Tell systemd (Type=notify), or anyone who set NOTIFY_SOCKET, that the probes are attached
    and counting: a signal to wait for, where a fixed wait would be too short on a loaded machine."""
    import socket

    path = os.environ.get("NOTIFY_SOCKET", "")
    if not path.startswith(("/", "@")):
        return
    addr = "\0" + path[1:] if path[0] == "@" else path
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.sendto(b"READY=1", addr)
    except OSError:
        pass  # nobody listens: nothing to tell


def _loading_notice(done: threading.Event) -> None:
    if not done.wait(0.4) and sys.stderr.isatty():
        print("wtop: compiling and attaching the BPF probes...", file=sys.stderr, flush=True)


def filters_text(args: argparse.Namespace) -> str:
    from probes.names import safe_name
    from probes.procfs import user_name

    parts = []
    if args.pid:
        parts.append(f"pid {args.pid}")
    if args.comm:
        parts.append(f"comm {safe_name(args.comm)}")
    if args.user is not None:
        parts.append(f"user {user_name(args.user)}")
    if args.cgroup:
        parts.append(f"cgroup {safe_name(args.cgroup)}")
    return ", ".join(parts)


def run_dashboard(args: argparse.Namespace, source, sinks: list) -> int:
    from probes import runstate
    from tui.app import AppConfig, WtopApp

    if problem := screen_compat():
        return fail(problem)
    app = WtopApp(
        source,
        AppConfig(interval=args.interval, filters=filters_text(args), count=args.count, accumulated=args.accumulated),
        sinks=tuple(sinks),
        ready=notify_ready,
        first=first_interval(source),
    )
    try:
        app.run()
    except KeyboardInterrupt:
        pass
    # the interval under way when the user quit: into the outlets (closed after this) and the
    # summary, once the worker has read it (a few ms; a drain of a burst, tens)
    if app.worker_started and app.worker_done.wait(LAST_READ_WAIT):
        for snap in app.last_read:
            runstate.fold(app.state, snap)
    if app.error:
        return fail(app.error)
    print_summary(app.state)
    return 0


def first_interval(source):
    """The first interval's figures, read before the screen starts, so that its first frame
    already shows them (one frame painted, not an empty one and then another: 30-60 ms of a
    start here); None on an error, which the probe worker's next read reports in one line."""
    try:
        return source.sample()
    except Exception:  # noqa: BLE001 (said by the worker, where every read's error is)
        return None


def print_summary(state) -> None:
    """The exit summary on stdout, as bpftrace prints its maps when it ends."""
    from outlets.batch import write_all
    from outlets.summary import summary

    try:
        write_all(sys.stdout, summary(state))  # whole, also into a slow pipe that a signal interrupts
    except OSError:  # the terminal is gone (SIGHUP): the summary has nowhere to go
        pass
