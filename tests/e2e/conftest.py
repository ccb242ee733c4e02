"""The real dashboard in a real terminal: tmux, send-keys, capture-pane."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest

from tests.conftest import ROOT, require_root


@pytest.fixture(autouse=True)
def _root_and_tmux():
    require_root()
    if shutil.which("tmux") is None:
        pytest.fail("tmux is needed for the end-to-end tests (run-tests.sh installs it)")


class Term:
    """One tmux server and session running wtop at a fixed size."""

    def __init__(self, cols: int, rows: int, args: list[str], env: dict[str, str] | None = None):
        self.sock = f"wtop-e2e-{uuid.uuid4().hex[:8]}"
        envs = " ".join(f"{k}={v}" for k, v in (env or {}).items())
        cmd = f"cd {ROOT} && exec env {envs} {sys.executable} -m tui.cli {' '.join(args)}"
        self.tmux("new-session", "-d", "-s", "w", "-x", str(cols), "-y", str(rows), cmd)
        self.tmux("set-option", "-t", "w", "remain-on-exit", "on")
        self.pid = int(self.tmux("display-message", "-p", "-t", "w", "#{pane_pid}").strip())

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.sock, *args], capture_output=True, text=True, check=True).stdout

    def screen(self, history: bool = False) -> str:
        """The visible pane; with history, the scrollback too (what was printed after exit)."""
        extra = ["-S", "-1000"] if history else []
        return self.tmux("capture-pane", "-p", "-t", "w", *extra)

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "w", *keys)

    def wait_for(self, text: str, timeout: float = 15.0, history: bool = False) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen(history)
            if text in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{text!r} did not appear on screen:\n{screen}")

    def wait_for_row(self, *parts: str, timeout: float = 30.0) -> str:
        """Until one line of the screen holds every part (a row with its figures): a signal,
        where sleeping for "one more interval" would be too short on a loaded machine."""
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            for line in screen.splitlines():
                if all(p in line for p in parts):
                    return line
            time.sleep(0.1)
        raise AssertionError(f"no line with {parts!r} on screen:\n{screen}")

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        # a zombie until tmux reaps it: look at its state
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] != "Z"
        except (FileNotFoundError, ProcessLookupError):  # reaped between the two looks
            return False

    def wait_exit(self, timeout: float = 3.0) -> float:
        t0 = time.monotonic()
        while self.alive():
            if time.monotonic() - t0 > timeout:
                raise AssertionError("wtop did not exit")
            time.sleep(0.02)
        return time.monotonic() - t0

    def close(self) -> None:
        """Kill the terminal (wtop gets SIGHUP, as when SSH drops); wtop must be gone soon after."""
        subprocess.run(["tmux", "-L", self.sock, "kill-server"], capture_output=True)
        deadline = time.monotonic() + 3
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.alive():
            os.kill(self.pid, 9)
            raise AssertionError("wtop outlived its terminal by 3 s (a hang on SIGHUP)")


@pytest.fixture
def term():
    made: list[Term] = []

    def make(cols: int = 120, rows: int = 40, args: list[str] | None = None, env=None) -> Term:
        t = Term(cols, rows, args or [], env)
        made.append(t)
        return t

    yield make
    for t in made:
        t.close()
