"""The private-API hooks: each checks that what it patches exists, and does its job."""

from __future__ import annotations

import io
import threading

import pytest

from tui import compat


class DeadTerminal(io.StringIO):
    """A terminal that went away with the SSH session: every write raises EIO."""

    def write(self, text):
        raise OSError(5, "Input/output error")


def test_the_writer_thread_survives_a_vanished_terminal():
    from textual.drivers._writer_thread import MAX_QUEUED_WRITES, WriterThread

    compat.survive_a_vanished_terminal()
    compat.survive_a_vanished_terminal()  # idempotent
    w = WriterThread(DeadTerminal())
    w.start()
    done = threading.Event()

    def shutdown():  # more writes than the queue holds, then stop(): what Textual does on exit
        for _ in range(MAX_QUEUED_WRITES * 3):
            w.write("x" * 100)
        w.stop()
        done.set()

    threading.Thread(target=shutdown, daemon=True).start()
    assert done.wait(10), "the shutdown blocked on a dead output thread's full queue"


def test_a_changed_textual_is_one_clear_line(monkeypatch):
    from textual.drivers import _writer_thread

    monkeypatch.delattr(_writer_thread, "WriterThread")
    with pytest.raises(compat.CompatError, match="WriterThread has changed"):
        compat.survive_a_vanished_terminal()


def test_a_changed_bcc_is_one_clear_line():
    from probes.compat import CompatError, unattached_bpf

    class OldBPF:
        def _trace_autoload(self):
            raise AssertionError("attached")

    unattached_bpf(OldBPF)()._trace_autoload()  # the hook is replaced: nothing attached

    class NewBPF:
        pass

    with pytest.raises(CompatError, match="_trace_autoload"):
        unattached_bpf(NewBPF)
