"""Moving through a recording: where the replay is, and the run's state at that point."""

from __future__ import annotations

from probes import runstate
from probes.snapshot import Snapshot


class ReplayNav:
    """A position in a list of Snapshots (0 to len), and the state after the first pos of them;
    checkpoints make stepping back and forth through a long recording cheap."""

    def __init__(self, snaps: list[Snapshot]) -> None:
        self.snaps = snaps
        self.pos = 0
        self._cache: dict[int, runstate.RunState] = {}
        self._timeline: list[runstate.Point] | None = None
        self._proc_timelines: dict[int, list[runstate.ProcPoint]] = {}

    def __len__(self) -> int:
        return len(self.snaps)

    def to(self, pos: int) -> runstate.RunState:
        self.pos = max(0, min(pos, len(self.snaps)))
        return runstate.state_at(self.snaps, self.pos, self._cache)

    def step(self, n: int) -> runstate.RunState:
        return self.to(self.pos + n)

    def jump(self, where: int) -> runstate.RunState:
        """where < 0: the end; else the first interval."""
        return self.to(len(self.snaps) if where < 0 else 1)

    @property
    def at_end(self) -> bool:
        return self.pos >= len(self.snaps)

    def timeline(self) -> list[runstate.Point]:
        """The whole recording as history points (made once): the graph shows all of it, with
        a marker at the replay's position."""
        if self._timeline is None:
            self._timeline = [runstate.point_of(s) for s in self.snaps]
        return self._timeline

    def process_points(self, pid: int) -> list[runstate.ProcPoint]:
        """One process over the whole recording, as its page's history graphs draw it."""
        if pid not in self._proc_timelines:
            state = runstate.RunState()
            state.history = self.timeline()
            state.last = self.snaps[-1] if self.snaps else None
            for s in self.snaps:
                runstate.fold_proc_history(state, s)
            self._proc_timelines = {pid: runstate.process_points(state, pid)}  # the page open: one
        return self._proc_timelines[pid]

    @property
    def marker(self) -> float | None:
        """The wall-clock time of the replay's position, None before the first interval."""
        return self.snaps[self.pos - 1].time if self.pos else None

    def label(self, paused: bool) -> str:
        return f"REPLAY {self.pos}/{len(self.snaps)}" + (" paused" if paused else "")
