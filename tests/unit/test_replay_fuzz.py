"""Replay is a trust boundary: a real recording, mutated thousands of ways, never gets a raw
control character to the output, never ends in a traceback, and stops where it is damaged.

tests/data/real.wtop.gz was recorded live (`wtop --no-tui --record ... 0.5 8`) with three
writers, one named "ev<ESC>]0;x<BEL>", and dd with O_DIRECT on the root disk.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import random
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from outlets.batch import emit
from outlets.recording import RecordingError, read
from outlets.summary import summary
from probes import runstate
from tests.conftest import ROOT

REAL = Path(__file__).resolve().parent.parent / "data" / "real.wtop.gz"
HOSTILE = [
    "\x1b]0;pwned\x07",
    "\x1b[2J\x1b[H",
    "\x9b31m",
    "\u202eevil",
    "a\x00b",
    "[/bold][red]x",
    "\u2028line",
    "\ud800",
    "x" * 5000,
]
NUMBERS = [1e400, -1e400, float("nan"), -1, -(2**70), 2**64, 2**70, 1.5, True, None, "7", [], {}]


def real_lines() -> list[dict]:
    return [json.loads(line) for line in gzip.decompress(REAL.read_bytes()).splitlines()]


def pack(lines: list) -> bytes:
    text = "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines)
    return gzip.compress(text.encode("utf-8", errors="surrogatepass"))


def unsafe(text: str) -> list[str]:
    """The characters that must never reach a terminal: controls other than the newline,
    format characters (bidi overrides), line and paragraph separators, surrogates."""
    return [
        ch
        for ch in text
        if ch != "\n" and (unicodedata.category(ch)[0] == "C" or unicodedata.category(ch) in ("Zl", "Zp"))
    ]


def paths(obj, at=()):
    """Every (path, value) of a parsed JSON line."""
    yield at, obj
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from paths(v, (*at, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from paths(v, (*at, i))


def put(obj, at, value):
    for k in at[:-1]:
        obj = obj[k]
    obj[at[-1]] = value


def mutants(rng: random.Random, n: int):
    lines = real_lines()
    raw = REAL.read_bytes()
    for i in range(n):
        kind = i % 6
        if kind == 0:  # truncation of the compressed file
            yield "cut", raw[: rng.randrange(len(raw))]
        elif kind == 1:  # bytes flipped in the compressed file
            b = bytearray(raw)
            for _ in range(rng.randint(1, 4)):
                b[rng.randrange(10, len(b))] ^= 1 << rng.randrange(8)
            yield "flip", bytes(b)
        else:
            ls = json.loads(json.dumps(lines))
            li = rng.randrange(1, len(ls))
            spots = list(paths(ls[li]))[1:]
            at, value = rng.choice(spots)
            if kind == 2:  # a hostile string in a string field (or anywhere)
                put(ls[li], at, rng.choice(HOSTILE) if isinstance(value, str) or rng.random() < 0.3 else value)
            elif kind == 3:  # a huge, negative or non-finite number, or the wrong type
                put(ls[li], at, rng.choice(NUMBERS))
            elif kind == 4:  # two fields swapped
                at2, value2 = rng.choice(spots)
                if at2[: len(at)] != at and at[: len(at2)] != at2:
                    put(ls[li], at, value2)
                    put(ls[li], at2, value)
            else:  # a header or a line of another shape
                choice = rng.randrange(4)
                if choice == 0:
                    ls[0]["host"] = rng.choice(HOSTILE)
                    ls[0]["filters"] = rng.choice(HOSTILE)
                elif choice == 1:
                    ls[li] = "[" * 5000 + "]" * 5000
                elif choice == 2:
                    ls[li]["sizes"] = {str(rng.choice([64, 99, -1, 10**6])): 1}
                else:
                    ls[li]["notes"] = [rng.choice(HOSTILE)]
            # json.dumps writes NaN and Infinity, as a crafted file may
            yield f"field {kind}", pack(ls)


def replay_everywhere(path: str) -> tuple[str, str | None]:
    """What --batch, --json and the exit summary print for a recording (as the CLI does)."""
    rep = read(path)  # RecordingError is the one clean refusal
    out = io.StringIO()
    emit(rep.snapshots, "text", 0, out)
    emit(rep.snapshots, "json", 0, out)
    out.write(summary(runstate.merge(rep.snapshots)))
    return out.getvalue(), rep.problem


def test_thousands_of_mutated_recordings_replay_safely(tmp_path):
    rng = random.Random(20261129)
    path = tmp_path / "m.wtop.gz"
    outcomes = {"refused": 0, "damaged": 0, "whole": 0}
    for what, data in mutants(rng, 3000):
        path.write_bytes(data)
        try:
            text, problem = replay_everywhere(str(path))
        except RecordingError as exc:
            assert not unsafe(str(exc)), (what, str(exc))
            outcomes["refused"] += 1
            continue
        bad = unsafe(text)
        assert not bad, (what, bad[:5])
        for line in text.splitlines():
            if line.startswith("{"):
                d = json.loads(line)  # valid JSON, with no NaN or Infinity in it
                assert all(math.isfinite(v) for _, v in paths(d) if isinstance(v, float))
        outcomes["damaged" if problem else "whole"] += 1
        assert problem is None or not unsafe(problem)
    print(outcomes)
    assert outcomes["refused"] > 100 and outcomes["damaged"] > 1000  # the mutations really bit


def test_a_hostile_name_is_shown_escaped_and_recognisable(tmp_path):
    ls = real_lines()
    ls[2]["procs"][0][1] = "\x1b]0;pwned\x07\x1b[2J"
    path = tmp_path / "h.wtop.gz"
    path.write_bytes(pack(ls))
    text, problem = replay_everywhere(str(path))
    assert problem is None and not unsafe(text)
    assert "\\x1b]0;pwned\\x07\\x1b[2J" in text


@pytest.mark.parametrize(
    "change, why",
    [
        (lambda d: d.update(time=1e400), "time is out of range"),
        (lambda d: d.update(time=-5.0), "time is out of range"),
        (lambda d: d.update(elapsed=float("nan")), "elapsed is out of range"),
        (lambda d: d.update(sizes={"99": 1}), "sizes has no bucket"),
        (lambda d: d.update(sizes={"-1": 1}), "sizes has no bucket"),
        (lambda d: d.update(bytes=-1), "bytes is out of range"),
        (lambda d: d.update(bytes=2**64), "bytes is out of range"),
        (lambda d: d.update(writes="7"), "writes is not an integer"),
        (lambda d: d["procs"][0].__setitem__(1, 5), "a process's name is not a string"),
        (lambda d: d["procs"][0].__setitem__(3, -10), "a process's numbers"),
        (lambda d: d.update(files=[[1, 2, "/x", "weird", 0, 0, ""]]), "a file's kind"),
        (lambda d: d.update(disks=[["vda", "vda", 0, 0, 0, 0, {}, 0, 0]]), "major:minor"),
        (lambda d: d.update(procs=[[1]]), "a process has 1 items"),
    ],
)
def test_each_bad_field_stops_the_replay_there_and_says_why(tmp_path, change, why):
    ls = real_lines()
    change(ls[3])
    path = tmp_path / "b.wtop.gz"
    path.write_bytes(pack(ls))
    rep = read(str(path))
    assert len(rep.snapshots) == 2  # the lines before it
    assert rep.problem.startswith("line 4 is damaged (") and why in rep.problem


def test_deep_nesting_is_refused_before_parsing(tmp_path):
    ls = real_lines()
    ls[2] = "[" * 100_000 + "]" * 100_000
    path = tmp_path / "d.wtop.gz"
    path.write_bytes(pack(ls))
    rep = read(str(path))
    assert len(rep.snapshots) == 1 and "nested deeper than" in rep.problem


def wtop(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *args], cwd=ROOT, capture_output=True, timeout=60, text=True, **kw
    )


def test_the_command_line_on_mutants_exits_0_or_1_with_a_line_or_two(tmp_path):
    rng = random.Random(7)
    path = tmp_path / "c.wtop.gz"
    for i, (what, data) in enumerate(mutants(rng, 30)):
        path.write_bytes(data)
        r = wtop("--replay", str(path), "--batch" if i % 2 else "--json")
        assert r.returncode in (0, 1), (what, r.stderr)
        assert "Traceback" not in r.stderr and len(r.stderr.splitlines()) <= 2, (what, r.stderr)
        assert not unsafe(r.stdout) and not unsafe(r.stderr), what


def test_a_small_file_that_inflates_to_gigabytes_is_refused_at_once(tmp_path):
    path = tmp_path / "bomb.wtop.gz"
    z = gzip.GzipFile(path, "wb", compresslevel=9)
    z.write(b'{"format":"wtop-recording","version":1}\n{"seq":1,"procs":"')
    block = b"A" * (1 << 20)
    for _ in range(2048):  # 2 GiB of one line, about 2 MB on disk
        z.write(block)
    z.close()
    r = wtop("--replay", str(path), "--json")
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.count("\n") == 2 and "longer than 8 MiB" in r.stderr


def test_refusals_are_one_line(tmp_path):
    r = wtop("--replay", str(REAL))  # stdout is a pipe here, not a terminal
    assert r.returncode == 1 and r.stderr.startswith("wtop: the dashboard needs a terminal")
    assert len(r.stderr.splitlines()) == 1 and "--batch" in r.stderr and "--json" in r.stderr
