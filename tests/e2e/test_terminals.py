"""Poor terminals: the Linux console, no colour, screen, resizing, tiny, slow links."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.e2e

COLOUR_256 = re.compile(r"\x1b\[[0-9;]*(38|48);[25];")
# a foreground or background colour; 39 and 49 (back to the default) are not colours
ANY_COLOUR = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-7]|4[0-7]|9[0-7]|10[0-7])(?:;[0-9;]*)?m")


def escapes(t) -> str:
    return t.tmux("capture-pane", "-p", "-e", "-t", "w")


def test_linux_console_gets_ascii_bars_and_16_colours(term, spawn):
    w = spawn(b"t-console", 4096, 50, period_ms=200)
    w.go()
    t = term(100, 30, env={"TERM": "linux"})
    t.wait_for("t-console")
    assert not COLOUR_256.search(escapes(t))
    t.keys("2")
    t.wait_for("write() sizes")
    screen = t.wait_for("####")  # its bars, once drawn
    assert "█" not in screen and not re.search("[\u2800-\u28ff]", screen)  # no blocks, no braille


def test_no_color_means_no_colour_at_all(term, spawn):
    w = spawn(b"t-nocolor", 100, 10, period_ms=200)
    w.go()
    t = term(100, 30, env={"NO_COLOR": "1"})
    t.wait_for("t-nocolor")
    esc = escapes(t)
    assert not ANY_COLOUR.search(esc) and not COLOUR_256.search(esc)
    assert "\x1b[7m" in esc or ";7m" in esc or "[7;" in esc  # the cursor row, in reverse video


def test_screen_and_resizing_while_running(term, spawn):
    w = spawn(b"t-resize", 100, 10, period_ms=200)
    w.go()
    t = term(120, 40, env={"TERM": "screen"})
    t.wait_for("t-resize")
    t.tmux("resize-window", "-t", "w", "-x", "80", "-y", "24")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:  # laid out again for 80 columns: every column in view
        screen = t.screen()
        header = next((ln for ln in screen.splitlines() if "COMMAND" in ln), "")
        if header.rstrip().endswith("AVG SIZE") and len(header) <= 80:
            break
        time.sleep(0.05)
    assert header.rstrip().endswith("AVG SIZE"), screen
    assert "t-resize" in screen
    t.tmux("resize-window", "-t", "w", "-x", "40", "-y", "10")
    t.wait_for("at least 60x12")
    t.tmux("resize-window", "-t", "w", "-x", "100", "-y", "30")
    t.wait_for("t-resize")
    t.keys("q")
    t.wait_exit()


def test_hostile_names_leave_title_and_clipboard_alone(term, spawn):
    ws = [
        spawn(name, 10, 5, period_ms=100)
        for name in (b"\x1b]0;pwned\x07", b"\x1b]52;c;aGk=\x07", b"\x1b[2J\x1b[Hclear")
    ]
    for w in ws:
        w.go()
    t = term(120, 40)
    t.tmux("set-option", "-g", "set-clipboard", "on")
    title = t.tmux("display-message", "-p", "-t", "w", "#{pane_title}")
    t.wait_for("clear")
    time.sleep(2)  # a few refreshes with the names on screen
    screen = t.screen()  # not the first capture: it may have caught the first frame half drawn
    assert "\\x1b]0;pwned\\x07" in screen and "\\x1b[2J\\x1b[Hclear" in screen
    assert t.tmux("display-message", "-p", "-t", "w", "#{pane_title}") == title
    assert "pwned" not in title
    buffers = subprocess.run(["tmux", "-L", t.sock, "list-buffers"], capture_output=True, text=True).stdout
    assert buffers.strip() == ""  # OSC 52 did not reach the clipboard


def test_updates_come_at_the_refresh_rate_not_faster(spawn):
    """On a slow link every redraw counts: wtop writes about once per interval."""
    w = spawn(b"t-rate", 100, 20, period_ms=50)
    w.go()
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(ROOT)
        os.execvpe(sys.executable, [sys.executable, "-m", "tui.cli"], {**os.environ, "TERM": "xterm-256color"})
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    bursts, last, start = 0, 0.0, time.monotonic()
    try:
        while time.monotonic() - start < 9:
            r, _, _ = select.select([fd], [], [], 0.05)
            if r:
                try:
                    os.read(fd, 65536)
                except OSError:
                    break
                now = time.monotonic()
                if now - start > 3 and now - last > 0.1:  # past start-up; a new burst
                    bursts += 1
                last = now
    finally:
        os.kill(pid, signal.SIGTERM)
        os.waitpid(pid, 0)
        os.close(fd)
    assert 4 <= bursts <= 8, bursts  # about one redraw per second over 6 s


def test_filter_keys_typed_in_one_burst(term, spawn):
    """/ and the text at once (a paste, a fast typist), right after a view switch: every key
    reaches the filter, in order."""
    a = spawn(b"burst-keep", 100, 10, period_ms=100)
    b = spawn(b"burst-drop", 100, 10, period_ms=100)
    a.go()
    b.go()
    t = term(100, 30)
    t.wait_for("burst-drop")
    t.keys("4", "1", "/", "k", "e", "e", "p")
    deadline = time.monotonic() + 5
    while "burst-drop" in t.screen() and time.monotonic() < deadline:
        time.sleep(0.1)
    screen = t.screen()
    assert "burst-keep" in screen and "burst-drop" not in screen and "[top writers]" in screen


def test_a_hostile_process_page_leaves_the_terminal_alone(term, spawn):
    """The page shows the command line too: argv has no 15-byte limit and is just as untrusted."""
    w = spawn(b"\x1b]0;pwned\x07", 10, 5, period_ms=100, repeats=1000)
    w.go()
    t = term(120, 40, args=["--pid", str(w.pid)])
    title = t.tmux("display-message", "-p", "-t", "w", "#{pane_title}")
    t.wait_for("pwned")
    t.keys("Enter")
    screen = t.wait_for(f"PID {w.pid}")
    time.sleep(2)  # a few refreshes of the page
    screen = t.screen()
    head = [ln for ln in screen.splitlines() if "pwned" in ln]
    assert len(head) >= 2, screen  # the name, and the command line with the same bytes
    assert all("\\x1b]0;pwned\\x07" in ln for ln in head)
    assert "\x1b]" not in escapes(t)  # no OSC sequence reached the terminal
    assert t.tmux("display-message", "-p", "-t", "w", "#{pane_title}") == title
    t.keys("Escape")
    t.wait_for("[top writers]")
