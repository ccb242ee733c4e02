"""Pictures of each view from a fixed workload, compared with the stored SVGs.

Update after a deliberate change of the screen: pytest tests/app --snapshot-update
"""

from __future__ import annotations

import pytest

from tests.app.conftest import make_app, workload, workload_disks
from tui.messages import SnapshotReady

SIZES = [(120, 40), (80, 24)]


def before(*keys: str, data=workload):
    async def run_before(pilot) -> None:
        pilot.app.post_message(SnapshotReady(data(1)))
        pilot.app.post_message(SnapshotReady(data(2)))
        await pilot.pause()
        if keys:
            await pilot.press(*keys)
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
class TestTopWriters:
    def test_default(self, snap_compare, size):
        assert snap_compare(make_app(), terminal_size=size, run_before=before())

    def test_grouped_by_name(self, snap_compare, size):
        assert snap_compare(make_app(), terminal_size=size, run_before=before("g"))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
class TestWriteSizes:
    def test_both_periods(self, snap_compare, size):
        assert snap_compare(make_app(), terminal_size=size, run_before=before("2"))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
class TestWriteLatency:
    def test_both_periods(self, snap_compare, size):
        assert snap_compare(make_app(), terminal_size=size, run_before=before("3"))


class TestHelp:
    def test_help(self, snap_compare):
        assert snap_compare(make_app(), terminal_size=(120, 40), run_before=before("question_mark"))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
class TestDisks:
    def test_devices_and_latency(self, snap_compare, size):
        assert snap_compare(make_app(), terminal_size=size, run_before=before("6", data=workload_disks))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
class TestProcessPage:
    def test_postgres(self, snap_compare, size):
        assert snap_compare(make_app(), terminal_size=size, run_before=before("enter", data=workload_disks))
