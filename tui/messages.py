"""Every custom message of the app, in one module."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from probes.snapshot import Snapshot


@dataclass
class SnapshotReady(Message):
    """The probe worker finished an interval."""

    snapshot: Snapshot


@dataclass
class SourceFailed(Message):
    """The probe worker stopped on an error; the text is for the user."""

    error: str


@dataclass
class SourceEnded(Message):
    """A finite source (a recording) has no more snapshots."""
