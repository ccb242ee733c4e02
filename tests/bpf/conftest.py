from __future__ import annotations

import os
import subprocess
import time

import pytest

from tests.conftest import require_root


@pytest.fixture(autouse=True)
def _root():
    require_root()


class Writer:
    """A started writer process, blocked until go()."""

    def __init__(
        self, writer_bin: str, name: bytes, size: int, count: int, path: str, period_ms: int = 0, threads: int = 1
    ):
        self.proc = subprocess.Popen(
            [
                writer_bin.encode(),
                name,
                str(size).encode(),
                str(count).encode(),
                path.encode(),
                str(period_ms).encode(),
                str(threads).encode(),
            ],
            stdin=subprocess.PIPE,
        )
        self.pid = self.proc.pid

    def go(self) -> None:
        self.proc.stdin.write(b"g")
        self.proc.stdin.close()

    def wait(self, timeout: float = 10) -> int:
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def spawn(writer_bin):
    started: list[Writer] = []

    def make(name: bytes, size: int, count: int, path: str = "/dev/null", **kw) -> Writer:
        w = Writer(writer_bin, name, size, count, path, **kw)
        started.append(w)
        return w

    yield make
    for w in started:
        w.kill()


def settle() -> None:
    """Let exits reach the maps before sampling (the probes count in the syscall, this is slack)."""
    time.sleep(0.05)


os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
