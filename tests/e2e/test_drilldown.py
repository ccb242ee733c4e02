"""The disks view and a process's page, in a real terminal with real probes and a real device."""

from __future__ import annotations

import os
import re
import threading
import time

import pytest

from tests.conftest import DiskWriter

pytestmark = pytest.mark.e2e


def test_disks_view_and_drill_down_on_a_loop_device(term, loopdev):
    path, devnum = loopdev
    name = os.path.basename(path)
    w = DiskWriter(path, "direct")
    try:
        t = term(130, 40, args=["--pid", str(w.p.pid)])
        t.wait_for("skipped")
        t.keys("6")
        deadline = time.monotonic() + 15
        line = ""
        while time.monotonic() < deadline and "64.0 KiB" not in line:
            w.do("write 16")  # 1 MiB in 16 direct writes of 64 KiB: 16 requests of 64 KiB
            time.sleep(0.3)
            line = next((ln for ln in t.screen().splitlines() if ln.strip().startswith(name + " ")), "")
        assert "64.0 KiB" in line, t.screen()
        screen = t.screen()
        assert "the filters apply to write() only" in screen  # --pid does not filter the disks
        # the top writers list the processes that wrote in the last interval: keep writing
        stop = threading.Event()

        def feed() -> None:
            while not stop.wait(0.2):
                w.do("write 16")

        feeder = threading.Thread(target=feed)
        feeder.start()
        try:
            t.keys("1")
            t.wait_for(str(w.p.pid))
            t.keys("enter")
            t.wait_for(f"PID {w.p.pid}")
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and not re.search(r"while open \d+\.\d MiB in", t.screen()):
                time.sleep(0.2)
            screen = t.screen()
        finally:
            stop.set()
            feeder.join()
        # its own figures, counted while the page is open: exact bytes by call, its device file
        head = next(ln for ln in screen.splitlines() if "while open" in ln)
        assert "MiB in" in head and " writes" in head
        pw = next(ln for ln in screen.splitlines() if ln.strip().startswith("pwrite64"))
        assert "100%" in pw
        assert path in screen and "[64K, 128K)" in screen, screen  # its file; its size histogram
        t.keys("escape")
        t.wait_for("[top writers]")
        t.keys("q")
        t.wait_exit()
    finally:
        w.close()


@pytest.mark.parametrize("size", [(120, 40), (80, 24)], ids=["120x40", "80x24"])
def test_a_bursting_writer_s_page_shows_it_over_time(term, spawn, size):
    """A writer that bursts every 1.5 s (three intervals of 0.5 s): its page, in a real terminal,
    draws it since wtop first saw it, under its head and files (at 80x24, pgdn scrolls to it)."""
    w = spawn(b"e2e-burst", 4096, 100, period_ms=1500, repeats=20)
    t = term(*size, args=["--pid", str(w.pid), "-i", "0.5"])
    t.wait_for("skipped")
    w.go()
    t.wait_for_row("e2e-burst")
    t.keys("enter")
    t.wait_for(f"PID {w.pid}")
    title = "its bytes/s since wtop first saw it"
    deadline = time.monotonic() + 20
    graph = ""
    while time.monotonic() < deadline:  # the graph starts with its second interval: wait for it
        lines = t.screen().splitlines()
        top = next((i for i, ln in enumerate(lines) if title in ln), None)
        graph = "\n".join(lines[top : top + 10]) if top is not None else ""
        if re.search(r"\d+(\.\d)? (KiB|MiB)/s", graph):
            break
        if top is None or top + 10 > len(lines):  # below the fold: scroll the page to it
            t.keys("pagedown")
        time.sleep(0.2)
    assert re.search(r"\d+(\.\d)? (KiB|MiB)/s", graph), graph  # its y axis: a rate, not an empty box
    assert re.search(r"\d\d:\d\d:\d\d", graph)  # wall-clock time on the x axis
    t.keys("q")
    t.wait_exit()
