from __future__ import annotations

import os
import time

import pytest

from tests.conftest import require_root


@pytest.fixture(autouse=True)
def _root():
    require_root()


def run_to_end(writers) -> None:
    """Let every writer go, then wait for each to exit, then settle."""
    for w in writers:
        w.go()
    for w in writers:
        w.wait()
    settle()


def settle() -> None:
    """Let exits reach the maps before sampling (the probes count in the syscall, this is slack)."""
    time.sleep(0.05)


os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
