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

from .codec import from_record, to_record
from .snapshot import Snapshot

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


def read(path: str) -> Replay:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise RecordingError(f"cannot read {path}: {exc.strerror}") from None
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = bytearray()
    problem = None
    step = 256  # small steps: what decompresses before damaged bytes is kept
    for i in range(0, len(data), step):
        try:
            out += d.decompress(data[i : i + step])
        except zlib.error:
            problem = f"damaged compressed data near byte {i:,}"
            break
        if d.eof:
            break
    if problem is None and not d.eof:
        problem = "the file ends early (wtop did not close it: a crash or a copy in progress)"
    lines = bytes(out).split(b"\n")
    if len(lines) < 2:  # not even a complete header line
        if data[:2] != b"\x1f\x8b":
            raise RecordingError(f"{path} is not a wtop recording (not gzip data)")
        raise RecordingError(f"{path} cannot be replayed: {problem or 'it holds no header'}")
    try:
        header = json.loads(lines[0])
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise RecordingError(f"{path} is not a wtop recording")
    if header.get("version") != VERSION:
        raise RecordingError(
            f"{path} is a version {header.get('version')} recording; this wtop reads version {VERSION}"
        )
    rep = Replay(header=header)
    body = lines[1:]
    complete = body[:-1]  # the text after the last newline is an incomplete line (or empty)
    if body and body[-1] and problem is None:
        problem = "the last line is incomplete"
    for n, line in enumerate(complete, start=2):
        try:
            rep.snapshots.append(from_record(json.loads(line)))
        except (ValueError, KeyError, TypeError):
            problem = f"line {n} is damaged"
            break
    if problem:
        rep.problem = f"{problem}; replaying the {len(rep.snapshots)} intervals before it"
    return rep
