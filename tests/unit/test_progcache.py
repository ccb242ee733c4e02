"""Linking bpf_loop's callbacks into a cached program (BCC compiles each function on its own)."""

from __future__ import annotations

import pytest

from probes.progcache import INSN, LD_IMM64, PSEUDO_FUNC, _linked
from probes.program import CALLBACK_MARK

MOV, EXIT = 0xB7, 0x95


def insn(op: int, imm: int = 0, regs: int = 0) -> bytes:
    return INSN.pack(op, regs, 0, imm)


def marker(n: int, dst: int = 2) -> bytes:
    """r<dst> = 0x7EADCA11_000000nn ll, as clang emits WTOP_CALLBACK(n)."""
    return insn(LD_IMM64, n, dst) + insn(0, CALLBACK_MARK)


def test_a_callback_is_placed_after_the_program_and_its_marker_points_at_it():
    prog = bytearray(insn(MOV, 1) + marker(1) + insn(EXIT))
    cb0, cb1 = insn(MOV, 7) + insn(EXIT), insn(MOV, 9) + insn(EXIT)
    out, starts = _linked(prog, [bytearray(cb0), bytearray(cb1)])
    assert starts == [4] and bytes(out[32:]) == cb1  # only the callback it names
    op, regs, _off, imm = INSN.unpack_from(out, 8)
    assert (op, regs & 0x0F, regs >> 4) == (LD_IMM64, 2, PSEUDO_FUNC)
    assert 1 + imm + 1 == 4  # the kernel's rule: the target is the next instruction + imm
    assert INSN.unpack_from(out, 16) == (0, 0, 0, 0)
    assert bytes(out[:8]) + bytes(out[24:32]) == insn(MOV, 1) + insn(EXIT)


def test_a_callback_named_twice_is_placed_once_and_a_program_without_one_is_unchanged():
    prog = bytearray(marker(0) + marker(0, dst=3) + insn(EXIT))
    out, starts = _linked(prog, [bytearray(insn(EXIT))])
    assert starts == [5] and len(out) == 6 * 8
    assert [INSN.unpack_from(out, i * 8)[3] + i + 1 for i in (0, 2)] == [5, 5]
    plain = bytearray(insn(LD_IMM64, 5) + insn(0, 0x12345678) + insn(EXIT))  # another 64-bit constant
    assert _linked(plain, [bytearray(insn(EXIT))]) == (plain, [])


def test_a_marker_of_a_callback_that_was_not_stored_is_an_error():
    with pytest.raises(ValueError):
        _linked(bytearray(marker(3) + insn(EXIT)), [bytearray(insn(EXIT))])


def test_the_cache_keeps_the_entries_used_last(tmp_path, monkeypatch):
    """One entry a version, option set and filter (each -p PID its own): beyond KEEP, the
    least recently used go when an entry is written."""
    import os

    from probes import progcache

    monkeypatch.setattr(progcache, "DIR", str(tmp_path))
    for i in range(progcache.KEEP + 5):
        f = tmp_path / f"{i:04d}.json"
        f.write_text("{}")
        os.utime(f, ns=(10**18 + i * 10**9, 10**18 + i * 10**9))  # the later, the more recent
    (tmp_path / "0000.json.123").write_text("")  # another start's entry being written: not ours
    os.utime(tmp_path / "0001.json")  # just used (load touches what it reads)
    progcache._write(str(tmp_path / "new.json"), {"refused": "x"})
    left = sorted(p.name for p in tmp_path.iterdir())
    kept = {f"{i:04d}.json" for i in range(7, progcache.KEEP + 5)} | {"0001.json", "new.json"}
    assert set(left) == kept | {"0000.json.123"} and len(kept) == progcache.KEEP
