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
    """The source has no more snapshots, or COUNT intervals were shown."""


@dataclass
class SinkFailed(Message):
    """An outlet (a recording, the metrics endpoint) failed; the dashboard goes on."""

    error: str
