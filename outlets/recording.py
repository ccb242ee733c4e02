"""Recordings: gzip'd JSON lines, one snapshot a line, written so that a crash keeps all but
the last interval.

Each snapshot is written, then the gzip stream is sync-flushed (every byte so far can be
decompressed without the end of the stream) and the file fsync'd. A file cut anywhere
replays up to its last complete line; reading says where and why it stopped.

Line 1 is a header: {"format": "wtop-recording", "version": 1, "host", "started", "interval",
"sla_ns", "filters"}; then codec.to_record() objects.
"""

from __future__ import annotations

import gzip
import json
import os
import zlib
from dataclasses import dataclass, field

from probes.names import scrub
from probes.snapshot import Snapshot

from . import trust
from .codec import from_record, to_record

FORMAT = "wtop-recording"
VERSION = 1


class RecordingError(Exception):
    """The file cannot be replayed at all; the message is for the user."""


class Recorder:
    """Append snapshots to a new file (never overwrites: a recording is evidence)."""

    def __init__(self, path: str, header: dict) -> None:
        try:
            self._raw = open(path, "xb")  # noqa: SIM115 - closed in close()
        except FileExistsError:
            raise RecordingError(f"{path} exists: wtop never overwrites a recording, choose another name") from None
        except OSError as exc:
            raise RecordingError(f"cannot create {path}: {exc.strerror}") from None
        self.path = path
        self._gz = gzip.GzipFile(fileobj=self._raw, mode="wb", mtime=0)
        self._line({"format": FORMAT, "version": VERSION, **header})

    def _line(self, obj: dict) -> None:
        self._gz.write(json.dumps(obj, separators=(",", ":")).encode() + b"\n")
        self._gz.flush()  # Z_SYNC_FLUSH: decodable up to here
        self._raw.flush()
        os.fsync(self._raw.fileno())

    def __call__(self, snap: Snapshot) -> None:
        self._line(to_record(snap))

    def close(self) -> None:
        if not self._raw.closed:
            self._gz.close()
            self._raw.close()


@dataclass
class Replay:
    header: dict
    snapshots: list[Snapshot] = field(default_factory=list)
    problem: str | None = None
    """Why reading stopped early (truncated or damaged), None when the file is whole."""


MAX_LINE = 8 * 1024 * 1024
"""The longest line read (an interval of 10,000 processes and 2,000 files is about 1 MB)."""
MAX_ROWS = 1_000_000
"""Rows (processes, files, disks) kept in memory for a replay, about 350 MB at most: an hour of
250 writers at one interval a second. A longer recording replays its first part, and says so."""
INTERVAL_ROWS = 8
"""What an interval itself costs in that budget (its histograms): 125,000 intervals at most."""
MAX_TEXT = 2 * 1024**3
"""The most text read from one file (about a day of a busy machine at one interval a second)."""
CHUNK = 64 * 1024
STEP = 256
"""Compressed bytes fed at a time: what decompresses before damaged bytes is kept."""


def _lines(f, problems: list[str]):
    """The complete lines of a gzip stream, decompressed a chunk at a time and never more
    than MAX_LINE ahead, so a small file that inflates to gigabytes costs neither the memory
    nor the time. Why it stopped early, if it did, is appended to problems."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    buf = bytearray()
    total = 0
    pos = 0
    n = 0  # complete lines so far
    while True:
        block = f.read(CHUNK)
        if not block:
            problems.append("the file ends early (wtop did not close it: a crash or a copy in progress)")
            return
        for i in range(0, len(block), STEP):
            data = block[i : i + STEP]
            while data:
                try:
                    out = d.decompress(data, CHUNK)
                except zlib.error:
                    problems.append(f"damaged compressed data near byte {pos:,}")
                    return
                pos += len(data) - len(d.unconsumed_tail)
                data = d.unconsumed_tail
                total += len(out)
                if total > MAX_TEXT:
                    problems.append(f"it holds more than {MAX_TEXT >> 30} GiB of text, more than wtop reads")
                    return
                buf += out
                if b"\n" in out:
                    *whole, tail = buf.split(b"\n")
                    buf = bytearray(tail)
                    n += len(whole)
                    yield from whole
                if len(buf) > MAX_LINE:
                    problems.append(f"line {n + 1} is longer than {MAX_LINE >> 20} MiB, longer than wtop writes")
                    return
                if d.eof:
                    if buf:
                        problems.append("the last line is incomplete")
                    return


def read(path: str) -> Replay:
    """Read a recording, checking every line (outlets.trust). What comes before damage, a cut,
    or a line that fails a check is kept; Replay.problem says where and why it stopped."""
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise RecordingError(f"cannot read {path}: {exc.strerror}") from None
    with f:
        if f.read(2) != b"\x1f\x8b":
            raise RecordingError(f"{path} is not a wtop recording (not gzip data)")
        f.seek(0)
        problems: list[str] = []
        lines = _lines(f, problems)
        first = next(lines, None)
        if first is None:
            raise RecordingError(f"{path} cannot be replayed: {problems[0] if problems else 'it holds no header'}")
        header = None
        if len(first) <= 65536 and trust.depth_ok(first, 2):
            try:
                header = json.loads(first)
            except ValueError:
                pass
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise RecordingError(f"{path} is not a wtop recording")
        if header.get("version") != VERSION:
            v = header.get("version")
            shown = scrub(str(v)[:20]) if isinstance(v, (int, str)) else "unknown"
            raise RecordingError(f"{path} is a version {shown} recording; this wtop reads version {VERSION}")
        try:
            rep = Replay(header=trust.header(header))
        except trust.RecordError as exc:
            raise RecordingError(f"{path} has a damaged header: {exc}") from None
        rows = 0
        for n, line in enumerate(lines, start=2):
            why = _check(line)
            if why is None:
                try:
                    snap = from_record(json.loads(line))
                    rows += INTERVAL_ROWS + len(snap.processes) + len(snap.files) + len(snap.disks)
                    if rows > MAX_ROWS:
                        problems.append(f"it holds more than {MAX_ROWS:,} rows, more than wtop keeps in memory")
                        break
                    rep.snapshots.append(snap)
                    continue
                except trust.RecordError as exc:
                    why = str(exc)
                except (ValueError, RecursionError):
                    why = "not valid JSON"
            problems.append(f"line {n} is damaged ({why})")
            break
        lines.close()
    if problems:
        rep.problem = f"{problems[0]}; replaying the {len(rep.snapshots)} intervals before it"
    return rep


def _check(line: bytes) -> str | None:
    """Why a line cannot even be parsed safely, None if it can."""
    if not trust.depth_ok(line):
        return f"nested deeper than {trust.MAX_DEPTH} levels"
    return None
