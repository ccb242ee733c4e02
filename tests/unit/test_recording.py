from __future__ import annotations

import gzip

import pytest

from outlets.recording import Recorder, RecordingError, read
from tests.conftest import hist, snap


def snaps(n=5):
    return [snap(i, [(100 + i, f"p{i}", 0, 1000 * i, i)], sizes=hist(b10=i)) for i in range(1, n + 1)]


def record(path, items):
    r = Recorder(str(path), {"host": "h", "interval": 1.0})
    for s in items:
        r(s)
    return r


def test_round_trip(tmp_path):
    path = tmp_path / "r.wtop.gz"
    record(path, snaps()).close()
    rep = read(str(path))
    assert rep.snapshots == snaps() and rep.problem is None
    assert rep.header["host"] == "h" and rep.header["format"] == "wtop-recording"


def test_every_interval_is_on_disk_before_close(tmp_path):
    """A crash (no close) keeps every interval written so far."""
    path = tmp_path / "r.wtop.gz"
    r = record(path, snaps(3))
    rep = read(str(path))  # read while the recorder is still open, as after a crash
    assert rep.snapshots == snaps(3)
    assert "ends early" in rep.problem
    r.close()


def test_a_file_cut_anywhere_replays_what_it_can(tmp_path):
    path = tmp_path / "r.wtop.gz"
    record(path, snaps(20)).close()
    data = path.read_bytes()
    seen = set()
    for cut in range(40, len(data), 7):
        part = tmp_path / "cut.gz"
        part.write_bytes(data[:cut])
        try:
            rep = read(str(part))
        except RecordingError as exc:
            assert "cannot be replayed" in str(exc)
            continue
        assert rep.snapshots == snaps(20)[: len(rep.snapshots)]
        assert rep.problem and f"the {len(rep.snapshots)} intervals before it" in rep.problem
        seen.add(len(rep.snapshots))
    assert len(seen) > 10  # the cuts really landed all over the file


def test_damaged_bytes_stop_the_replay_there(tmp_path):
    path = tmp_path / "r.wtop.gz"
    record(path, snaps(20)).close()
    data = bytearray(path.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 8] = b"\xff" * 8
    path.write_bytes(bytes(data))
    rep = read(str(path))
    assert 0 < len(rep.snapshots) < 20 and rep.problem
    assert rep.snapshots == snaps(20)[: len(rep.snapshots)]


def test_never_overwrites_and_rejects_other_files(tmp_path):
    path = tmp_path / "r.wtop.gz"
    path.write_bytes(b"precious")
    with pytest.raises(RecordingError, match="never overwrites"):
        Recorder(str(path), {})
    assert path.read_bytes() == b"precious"
    with pytest.raises(RecordingError, match="not gzip"):
        read(str(path))
    other = tmp_path / "other.gz"
    other.write_bytes(gzip.compress(b'{"hello": 1}\n'))
    with pytest.raises(RecordingError, match="not a wtop recording"):
        read(str(other))
    with pytest.raises(RecordingError, match="cannot read"):
        read(str(tmp_path / "missing"))
