"""wtop as a user runs it: a real terminal, real writers, every key, every way out."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time

import pytest

from tests.conftest import declared_maps, existing_map_ids, map_ids_of, maps_left

pytestmark = pytest.mark.e2e

ALPHA = b"e2e-alpha"
HOSTILE = b"e2e\x1b[31mred"  # an ESC sequence as a process name
MARKUP = b"[/bold]e2e"


def wtop_maps(t, before: set[int]) -> set[int]:
    """The maps the wtop running in t made: those that appeared since `before` (ids are never
    reused), at least one for each that writes.c declares, among them every one it holds
    (tests/bpf/test_probes.py checks their names). Some only its programs hold, so they are
    found by id, and after it exits maps_left() looks for them without opening any (see
    existing_map_ids)."""
    ids = existing_map_ids() - before
    assert len(ids) >= len(declared_maps()) and map_ids_of(t.pid) <= ids, (ids, map_ids_of(t.pid))
    return ids


def start_writers(spawn):
    """alpha: 8 rounds of 100 x 4 KiB every 250 ms (exactly 3,276,800 bytes); two hostile names."""
    ws = [
        spawn(ALPHA, 4096, 100, period_ms=250, repeats=8),
        spawn(HOSTILE, 100, 10, period_ms=200),
        spawn(MARKUP, 100, 10, period_ms=200),
    ]
    return ws


@pytest.mark.parametrize("size", [(120, 40), (80, 24)], ids=["120x40", "80x24"])
def test_live_dashboard_every_key_and_exact_summary(term, spawn, size):
    before = existing_map_ids()
    t = term(*size)
    t.wait_for("skipped")  # the first interval arrived
    ids = wtop_maps(t, before)
    writers = start_writers(spawn)
    for w in writers:
        w.go()
    screen = t.wait_for("e2e-alpha")
    line = next(ln for ln in screen.splitlines() if "e2e-alpha" in ln)
    assert str(writers[0].pid) in line and "4.0 KiB" in line  # exact average size
    # hostile names: shown literally, escaped, never interpreted by the terminal
    screen = t.wait_for("[/bold]e2e")
    assert "e2e\\x1b[31mred" in screen

    # a view is made when first shown: wait for its figures, not only its title
    t.keys("2")
    t.wait_for("[4K, 8K)")
    screen = t.wait_for("[64, 128)")
    assert "write() sizes" in screen
    t.keys("3")
    t.wait_for("write() latency")
    screen = t.wait_for("(--sla)")
    assert re.search(r"p50 ~\d", screen)
    if size[0] >= 110:  # both periods side by side by default: c shows the last interval alone
        t.wait_for("whole run")
        t.keys("c")
        deadline = time.monotonic() + 10
        while "whole run" in t.screen() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "whole run" not in t.screen()
    t.keys("c")
    t.wait_for("whole run")  # then the whole run alone
    t.keys("?")
    t.wait_for("Keys")
    t.keys("Escape")
    time.sleep(0.3)  # ESC then a key at once reads as alt+key in any terminal
    t.keys("1")
    t.keys("s")
    t.wait_for("WRITES/S*")
    t.keys("g")
    t.wait_for("PROCS")
    t.keys("p")
    t.wait_for("PAUSED")
    t.keys("p")
    writers[0].wait(15)
    t.keys("a")  # accumulated: every writer since start, with its TOTAL at any width
    t.wait_for("TOTAL")
    t.wait_for_row("e2e-alpha", "3.1 MiB")  # the interval that took alpha's last writes is shown
    t.keys("q")
    t.wait_exit(2.0)
    summary = t.wait_for("@sizes", history=True)
    alpha = next(ln for ln in summary.splitlines() if "e2e-alpha" in ln)
    assert "3.1 MiB" in alpha and re.search(r"\b800\b", alpha)  # exactly 8 x 100 writes
    assert "\x1b" not in summary
    assert maps_left(ids) == set()


@pytest.mark.parametrize("how", ["SIGTERM", "SIGHUP", "SIGINT-key", "tmux-kill"])
def test_every_way_out_detaches_and_restores(term, how):
    before = existing_map_ids()
    t = term(100, 30)
    t.wait_for("skipped")
    ids = wtop_maps(t, before)
    if how == "SIGTERM":
        os.kill(t.pid, signal.SIGTERM)
    elif how == "SIGHUP":
        os.kill(t.pid, signal.SIGHUP)
    elif how == "SIGINT-key":
        t.keys("C-c")
    else:  # the terminal goes away, as when an SSH connection drops
        subprocess.run(["tmux", "-L", t.sock, "kill-server"], check=True)
    took = t.wait_exit(3.0)
    print(f"{how}: {took:.3f}s")
    # bench part 3 measures the exit (0.15-0.26 s here: Textual's input thread polls every
    # 0.1 s); this bound catches a hang or the probes' detaching back on the way out, far
    # below the 2 s after which wtop leaves whatever happens
    assert took < 1.0, f"{how}: exit took {took:.2f}s"
    assert maps_left(ids) == set()
    if how != "tmux-kill":
        screen = t.screen(history=True)
        assert "wtop:" in screen and "@sizes" in screen  # the summary, on the normal screen


def test_sigkill_leaves_nothing_behind(term):
    before = existing_map_ids()
    t = term(100, 30)
    t.wait_for("skipped")
    ids = wtop_maps(t, before)
    os.kill(t.pid, signal.SIGKILL)
    t.wait_exit(2.0)
    assert maps_left(ids) == set()  # the kernel frees perf-event attachments with the fds


def test_filter_shows_only_that_process(term, spawn):
    a = spawn(b"e2e-only", 512, 20, period_ms=100)
    b = spawn(b"e2e-other", 512, 20, period_ms=100)
    t = term(120, 40, ["-c", "e2e-only"])
    t.wait_for("filter: comm e2e-only")
    a.go()
    b.go()
    screen = t.wait_for("e2e-only  ")
    time.sleep(1.5)
    assert "e2e-other" not in t.screen()
    t.keys("q")
    t.wait_exit()
    assert "e2e-other" not in t.screen()
    assert screen


def test_the_dashboard_records_while_it_runs(term, spawn, tmp_path):
    rec = tmp_path / "session.wtop.gz"
    w = spawn(b"e2e-rec", 1000, 10, period_ms=100, repeats=20)  # 200,000 bytes
    t = term(120, 40, ["--record", str(rec), "-c", "e2e-rec"])
    t.wait_for("skipped")
    w.go()
    w.wait(15)
    t.wait_for("run 195.3 KiB")  # all 200,000 bytes counted and shown (the filter's run), so recorded
    t.keys("q")
    t.wait_exit()
    from outlets.recording import read

    rep = read(str(rec))
    assert rep.problem is None  # closed properly on quit
    assert sum(s.bytes for s in rep.snapshots) == 200_000


@pytest.mark.parametrize("how", ["q", "SIGTERM"])
def test_quitting_keeps_the_interval_under_way(term, spawn, tmp_path, how):
    """The interval under way when the user quits goes into the recording and the summary, as
    bpftrace prints its maps on Ctrl+C: with an interval of a minute, every write comes after
    the screen's last figures, and all of them are there."""
    rec = tmp_path / "quit.wtop.gz"
    w = spawn(b"e2e-quit", 1000, 50)  # 50,000 bytes, then it exits
    t = term(120, 40, ["--record", str(rec), "-c", "e2e-quit", "-i", "60"])
    t.wait_for("skipped")  # the first figures, read before any write
    w.go()
    w.wait(15)  # each write was counted at its return, so all of them by its exit
    if how == "q":
        t.keys("q")
    else:
        os.kill(t.pid, signal.SIGTERM)
    t.wait_exit()
    from outlets.recording import read

    rep = read(str(rec))
    assert rep.problem is None
    assert sum(s.bytes for s in rep.snapshots) == 50_000
    assert sum(p.writes for s in rep.snapshots for p in s.processes if p.pid == w.pid) == 50
    summary = t.wait_for("@sizes", history=True)
    line = next(ln for ln in summary.splitlines() if "e2e-quit" in ln)
    assert "48.8 KiB" in line and re.search(r"\b50\b", line), line


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


def test_responsive_and_bounded_during_a_storm(term, spawn, churn_bin):
    flat = spawn(b"flatout", 64, 10**12, threads=2)
    t = term(120, 40)
    t.wait_for("skipped")
    flat.go()
    churn = subprocess.Popen([churn_bin, "storm", "2000", "8"], stdout=subprocess.PIPE)
    time.sleep(2)
    waits = []
    for key, text in (("2", "write() sizes"), ("3", "write() latency"), ("1", "BYTES/S*")) * 2:
        t0 = time.monotonic()
        t.keys(key)
        t.wait_for(text, timeout=5)
        waits.append(time.monotonic() - t0)
    churn.wait(30)
    flat.kill()
    # A key is answered within a fraction of a second: measured here 0.12-0.69 s with both
    # cores saturated, including tmux's own delay and this test's 0.1 s polling; in a full CI
    # run, with every system call of the storm passing wtop's raw tracepoints, up to a median of
    # 1.4 s once. Timing is for the benchmark on a shared machine (see the brief); this bound
    # only catches a stuck UI.
    waits.sort()
    assert waits[len(waits) // 2] < 2.0 and waits[-1] < 4.0, waits
    rss = rss_mb(t.pid)
    print(f"storm: keys {waits}, RSS {rss:.1f} MB")
    # A leak guard, not a budget: 16,000 processes went by, and leaking a few hundred bytes each
    # would show. Measured 94-103 MB over runs on this VM (98 MB before dirtied bytes were read).
    assert rss < 110
    t.keys("q")
    t.wait_exit()


def test_files_view_names_the_file_being_written(term, spawn, tmp_path):
    target = tmp_path / "journal.log"
    w = spawn(b"e2e-files", 700, 20, path=str(target), period_ms=100)
    w.go()
    t = term(140, 40)
    t.wait_for("e2e-files")
    t.keys("4")
    screen = t.wait_for("journal.log")
    line = next(ln for ln in screen.splitlines() if "journal.log" in ln)
    # a long path is cut at its start: the end names the file
    assert "e2e-files" in line and " file " in line and "/journal.log" in line
    t.keys("1")
    t.keys("/")
    time.sleep(0.3)  # as a person types: the box opens, then the text
    t.keys("e", "2", "e", "-", "f", "i")
    deadline = time.monotonic() + 5
    while "tmux: client" in t.screen() and time.monotonic() < deadline:
        time.sleep(0.2)
    screen = t.screen()
    assert "e2e-files" in screen and "tmux: client" not in screen  # only matching names remain
