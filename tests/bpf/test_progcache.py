"""Start-up without compiling: what BCC compiled is cached, loaded with bpf(2) on the next
start, and counts exactly the same; a damaged or untrusted entry is never loaded."""

from __future__ import annotations

import os

import pytest

from probes import progcache
from probes.live import LiveSource
from probes.program import ProbeOptions
from tests.bpf.conftest import settle

pytestmark = pytest.mark.bpf


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setattr(progcache, "DIR", str(d))
    return d


def counted(spawn, name: bytes) -> tuple[str, int, int, bool]:
    """Load, count a known writer, and say how the programs were loaded."""
    w = spawn(name, 1000, 200)
    with LiveSource(ProbeOptions(comm=name.decode())) as src:
        src.sample()
        own = os.open("/dev/null", os.O_WRONLY)
        os.write(own, b"wtop's own write")  # left out: wtop's process id was patched in
        os.close(own)
        w.go()
        w.wait()
        settle()
        snap = src.sample()
        row = next((p for p in snap.processes if p.pid == w.pid), None)
        self_seen = any(p.pid == os.getpid() for p in snap.processes)
        return src.kernel.loaded_from, row.bytes if row else 0, row.writes if row else 0, self_seen


def test_the_second_start_loads_from_the_cache_and_counts_the_same(spawn, cache_dir):
    # the same options each time (a -c filter is compiled in, so it is part of the key)
    assert counted(spawn, b"cache-test") == ("compiled", 200_000, 200, False)
    (entry,) = cache_dir.iterdir()
    assert (entry.stat().st_mode & 0o777) == 0o600 and (cache_dir.stat().st_mode & 0o777) == 0o700
    assert counted(spawn, b"cache-test") == ("cache", 200_000, 200, False)


def test_a_damaged_entry_is_compiled_again(spawn, cache_dir):
    counted(spawn, b"cache-test")
    (entry,) = cache_dir.iterdir()
    entry.write_text('{"maps": [], "handed": {}, "progs": [{"name": "x", "insns": "AAAA", "relocs": []}]}')
    assert counted(spawn, b"cache-test")[:3] == ("compiled", 200_000, 200)
    assert counted(spawn, b"cache-test")[0] == "cache"  # and rewritten


def test_an_entry_others_could_write_is_never_loaded(spawn, cache_dir):
    counted(spawn, b"cache-test")
    (entry,) = cache_dir.iterdir()
    entry.chmod(0o666)
    assert counted(spawn, b"cache-test")[0] == "compiled"
