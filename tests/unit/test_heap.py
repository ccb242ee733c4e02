"""probes/heap.py: when the garbage collector runs. Each check runs in a fresh interpreter,
because settle() changes the collector of the whole process for good."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.conftest import ROOT


def run(code: str) -> None:
    subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, check=True, timeout=60)


def test_held_until_settled_and_a_drain_never_wakes_it():
    run(
        """
        import gc
        from probes import heap
        heap.hold()
        assert not gc.isenabled()
        with heap.paused():
            assert not gc.isenabled()
        assert not gc.isenabled(), "a drain during start-up turned the collector on"
        heap.settle()
        assert gc.isenabled() and gc.get_threshold()[0] == heap.YOUNG
        assert gc.get_freeze_count() > 1000, gc.get_freeze_count()
        with heap.paused():
            assert not gc.isenabled()
        assert gc.isenabled()
        gc.set_threshold(700)
        heap.settle()  # once only
        assert gc.get_threshold()[0] == 700
        """
    )


def test_garbage_in_cycles_is_still_collected_once_settled():
    run(
        """
        import gc, weakref
        from probes import heap
        heap.hold()
        heap.settle()
        class Node:
            pass
        a, b = Node(), Node()
        a.other, b.other = b, a
        gone = weakref.ref(a)
        del a, b
        keep = []
        for i in range(3 * heap.YOUNG):
            keep.append([i])  # objects that stay: the count the collector waits for
            if gone() is None:
                break
        assert gone() is None, "a cycle was never collected"
        assert len(keep) > heap.YOUNG // 2, len(keep)
        """
    )
