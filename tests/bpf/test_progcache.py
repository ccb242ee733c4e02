"""Start-up without compiling: what BCC compiled is cached, loaded with bpf(2) on the next
start, and counts exactly the same; a damaged or untrusted entry is never loaded."""

from __future__ import annotations

import json
import os

import pytest

from probes import progcache
from probes.live import LiveSource
from probes.program import ProbeOptions
from tests.conftest import fdinfo_of

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


def test_a_pid_filter_loads_the_lean_programs_from_the_cache_too(spawn, cache_dir):
    """With -p the compiler drops the comparison with wtop's own id (the filter already leaves
    wtop out): the cache loaded nothing, every -p start compiled and then fell back to the
    plain programs."""
    w = spawn(b"cache-pid", 1000, 200)
    with LiveSource(ProbeOptions(pid=w.pid)) as src:
        assert (src.kernel.loaded_from, src.kernel.opts.modern) == ("compiled", True)
    with LiveSource(ProbeOptions(pid=w.pid)) as src:  # the next start for that process
        assert (src.kernel.loaded_from, src.kernel.opts.modern) == ("cache", True)
        src.sample()
        w.go()
        w.wait()
        row = next(p for p in src.sample().processes if p.pid == w.pid)
    assert (row.bytes, row.writes) == (200_000, 200)


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


def prog_types(src: LiveSource) -> dict[str, int]:
    """The kernel's type of each loaded program, by fd (its fdinfo)."""
    return {fd: int(fdinfo_of(fd)["prog_type"]) for fd in src.prog_fds()}


TRACING, RAW_TRACEPOINT = 26, 17


def test_the_system_calls_programs_are_btf_raw_tracepoints_where_the_kernel_has_btf(spawn, cache_dir):
    """tp_btf: registers are read by plain loads, not a helper call (bench: ~85 ns a write)."""
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        pytest.skip("this kernel has no BTF")
    with LiveSource(ProbeOptions(comm="cache-test")) as src:
        assert src.opts.modern and not any(n.startswith("probes:") for n in src.notes)
        fds = src.prog_fds()
        enter_exit = [fd for fd, tp in zip(fds, src.opts.tracepoints, strict=False) if tp[0] == "raw_syscalls"]
        assert len(enter_exit) == 2 and all(prog_types(src)[fd] == TRACING for fd in enter_exit)
    # and they count exactly (the cache's own test counts with them as well)
    assert counted(spawn, b"cache-test")[1:] == (200_000, 200, False)


def test_btf_programs_the_kernel_refuses_give_way_to_raw_tracepoints_for_good(spawn, cache_dir):
    """A kernel that will not take the BTF programs (here: an entry naming the wrong BTF type)
    gets the plain raw tracepoints, which count the same, and the refusal is remembered: the
    next start loads the raw ones from the cache without compiling anything."""
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        pytest.skip("this kernel has no BTF")
    counted(spawn, b"cache-test")
    (entry,) = cache_dir.iterdir()
    data = json.loads(entry.read_text())
    data["btf"] = {hook: 1 for hook in data["btf"]}  # type 1 is no tracepoint's
    entry.write_text(json.dumps(data))
    assert counted(spawn, b"cache-test") == ("compiled", 200_000, 200, False)
    assert json.loads(entry.read_text()).get("refused")
    with LiveSource(ProbeOptions(comm="cache-test")) as src:
        assert src.kernel.loaded_from == "cache" and not src.opts.modern
        assert any(n.startswith("probes: the plain programs") for n in src.notes)
        assert set(prog_types(src).values()) >= {RAW_TRACEPOINT} and TRACING not in prog_types(src).values()
    assert counted(spawn, b"cache-test") == ("cache", 200_000, 200, False)
