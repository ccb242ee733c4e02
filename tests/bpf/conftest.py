from __future__ import annotations

import os

import pytest

from tests.conftest import require_root


@pytest.fixture(autouse=True)
def _root():
    require_root()


def run_to_end(writers) -> None:
    """Let every writer go, then wait for each to exit: every write of a process that exited
    is in the maps (counted at the call's exit, in the writing thread), and its exit record is
    queued (sent before the parent can reap it)."""
    for w in writers:
        w.go()
    for w in writers:
        w.wait()


os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
