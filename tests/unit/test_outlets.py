"""One fan-out for every mode: a failing outlet is reported, closed and dropped; the rest go on."""

from __future__ import annotations

import io
import json
import os
import threading

from outlets import Fanout
from outlets.batch import emit
from probes.schedule import samples
from tests.conftest import snap


class Sink:
    def __init__(self, fail_at: int | None = None):
        self.seen, self.closed, self.fail_at = [], False, fail_at

    def __call__(self, s):
        if s.seq == self.fail_at:
            raise OSError("No space left on device")
        self.seen.append(s.seq)

    def close(self):
        self.closed = True


def test_a_failing_sink_is_reported_once_closed_and_dropped():
    good, bad, told = Sink(), Sink(fail_at=2), []
    fan = Fanout([bad, good], told.append)
    for i in range(1, 5):
        fan(snap(i))
    assert good.seen == [1, 2, 3, 4] and bad.seen == [1]
    assert bad.closed and not good.closed
    assert told == ["sink stopped: No space left on device"]
    fan.close()
    assert good.closed


def test_batch_goes_on_when_an_outlet_fails():
    bad, told, out = Sink(fail_at=1), [], io.StringIO()
    assert emit([snap(1), snap(2)], "json", 0, out, Fanout([bad], told.append)) == 0
    assert len(out.getvalue().splitlines()) == 2 and told and bad.closed


class Counting:
    def __init__(self, n):
        self.n, self.calls = n, 0

    def sample(self):
        self.calls += 1
        return snap(self.calls) if self.calls <= self.n else None


def test_the_one_sampling_loop_stops_on_count_on_the_source_and_on_stop():
    stop = threading.Event()
    assert [s.seq for s in samples(Counting(9), 0.01, stop, count=3)] == [1, 2, 3]
    assert [s.seq for s in samples(Counting(2), 0.01, stop)] == [1, 2]  # the source ended
    stop.set()
    assert [s.seq for s in samples(Counting(9), 0.01, stop, final=True)] == [1]  # the partial interval
    assert list(samples(Counting(9), 0.01, stop)) == []


def test_json_lines_leave_whole_when_the_pipe_takes_them_in_pieces(monkeypatch):
    """A pipe whose reader is slow takes a long line in pieces (and a signal can end a
    blocked write after some of them): every byte of every line still arrives, in order."""
    r, w = os.pipe()
    pieces: list[int] = []
    real_write = os.write

    def stingy(fd, data):  # at most 1,000 bytes a call, as a nearly full pipe does
        n = real_write(fd, bytes(data[:1000]))
        pieces.append(n)
        return n

    got = bytearray()
    reader = threading.Thread(target=lambda: got.extend(iter_read(r)))
    reader.start()
    monkeypatch.setattr(os, "write", stingy)
    with open(w, "w") as out:
        big = [snap(i, [(1000 + p, f"p{p}", 0, 4096, 1) for p in range(60)]) for i in (1, 2)]
        assert emit(big, "json", 0, out) == 0
    monkeypatch.undo()
    reader.join()
    lines = got.decode().splitlines()
    assert [json.loads(x)["seq"] for x in lines] == [1, 2]
    assert len(pieces) > 2 * len(lines) and all(n <= 1000 for n in pieces)  # written in pieces


def iter_read(fd: int):
    with open(fd, "rb") as f:
        while chunk := f.read(4096):
            yield from chunk
