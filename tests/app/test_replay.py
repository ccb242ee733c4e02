"""Replaying a recording in the dashboard: keys to pause, step and jump; exact figures."""

from __future__ import annotations

import re

from tests.app.conftest import FIXED_TIME, until
from tests.conftest import snap
from tui.app import AppConfig, WtopApp
from tui.views.top import TopTable


def recording(n=30):
    return [snap(i, [(100, "rec", 0, 1000 * i, i)]) for i in range(1, n + 1)]


def make(n=30) -> WtopApp:
    return WtopApp(None, AppConfig(interval=60, host="h"), clock=lambda: FIXED_TIME, replay=recording(n))


def top_row(app):
    return app.query_one(TopTable).row_plain(0)


async def test_replay_steps_and_jumps():
    app = make()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert app.replay_pos == 1 and top_row(app)[3] == "1.0 KiB/s"
        await pilot.press("right", "right")
        assert app.replay_pos == 3 and app.paused
        assert top_row(app)[6] == "5.9 KiB"  # 1000 + 2000 + 3000 B
        assert app.state.totals[100].bytes == 6000
        await pilot.press("right_square_bracket")
        assert app.replay_pos == 13
        await pilot.press("left")
        assert app.replay_pos == 12
        assert app.state.bytes == sum(1000 * i for i in range(1, 13))
        await pilot.press("greater_than_sign")
        assert app.replay_pos == 30 and app.state.intervals == 30
        await pilot.press("less_than_sign")
        assert app.replay_pos == 1 and app.state.bytes == 1000
        await pilot.press("left_square_bracket")
        assert app.replay_pos == 0
        assert "REPLAY 0/30 paused" in app.query_one("#status").plain


async def test_replay_plays_by_itself_and_pauses():
    app = WtopApp(None, AppConfig(interval=0.05, host="h"), replay=recording(100))
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.replay_pos > 3, 20)  # it plays on its own: wait for it, not a rate
        assert app.replay_pos > 3
        await pilot.press("p")
        pos = app.replay_pos
        await pilot.pause(0.3)
        assert app.replay_pos == pos


async def test_stepping_back_far_is_exact_with_checkpoints():
    app = make(400)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("greater_than_sign")
        for _ in range(5):
            await pilot.press("left_square_bracket")
        assert app.replay_pos == 350
        assert app.state.bytes == sum(1000 * i for i in range(1, 351))
        assert app.state.totals[100].writes == sum(range(1, 351))


async def test_live_keys_do_not_offer_replay():
    from tests.app.conftest import make_app

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("right")
        assert app.replay is None and app.check_action("replay_step", (1,)) is False


async def test_a_crafted_recording_reaches_the_screen_escaped(tmp_path):
    """A real recording with hostile strings in every string field, replayed in the dashboard:
    every view, the help and a process's page draw them escaped; nothing raw reaches the screen."""
    from outlets.recording import read
    from tests.unit.test_replay_fuzz import HOSTILE, pack, real_lines, unsafe

    ls = real_lines()
    ls[0]["host"], ls[0]["filters"] = HOSTILE[0], HOSTILE[3]
    for n, d in enumerate(ls):
        for i, p in enumerate(d.get("procs", ())):
            p[1] = HOSTILE[(i + n) % 4]
        for f in d.get("files", ()):
            f[2] = HOSTILE[1]
        for disk in d.get("disks", ()):
            disk[1] = HOSTILE[2]
        if n:
            d["notes"] = [HOSTILE[6]]
    path = tmp_path / "crafted.wtop.gz"
    path.write_bytes(pack(ls))
    rep = read(str(path))
    assert rep.problem is None and len(rep.snapshots) == len(ls) - 1
    app = WtopApp(None, AppConfig(interval=60, host=rep.header["host"]), clock=lambda: FIXED_TIME, replay=rep.snapshots)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("right", "right")
        screens = [app.export_screenshot()]
        for key in ("2", "3", "4", "5", "6", "1", "question_mark"):
            await pilot.press(key)
            await pilot.pause()
            screens.append(app.export_screenshot())
        await pilot.press("escape", "1", "enter")
        await pilot.pause()
        screens.append(app.export_screenshot())
    for svg in screens:
        assert not unsafe(svg.replace("\n", ""))
    shown = re.sub(r"<[^>]+>", "", "".join(screens)).replace("&#160;", " ")
    assert "\\x1b]0;pwned\\x07" in shown and "\\x9b31m" in shown and "\\u202eevil" in shown
    assert "wtop \\x1b]0;pwned\\x07  every" in shown  # the host, escaped once


def marker_column(app) -> int:
    """Where the replay's position is marked on the history graph (the line meets the frame)."""
    from tui.views.history import HistoryPlot

    top = str(app.query_one(HistoryPlot).render()).splitlines()[1]
    return top.index("┬")


async def test_the_history_graph_shows_the_recording_and_a_marker_at_the_position():
    snaps = [snap(i, [(100, "rec", 0, 1000 * (i % 7), i)]) for i in range(1, 61)]
    app = WtopApp(None, AppConfig(interval=60, host="h"), clock=lambda: FIXED_TIME, replay=snaps)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("less_than_sign")
        await pilot.pause()
        start = marker_column(app)
        await pilot.press("right_square_bracket", "right_square_bracket")
        await pilot.pause()
        later = marker_column(app)
        assert later > start + 20  # 20 intervals of a 5-minute span on about 110 columns
        await pilot.press("left_square_bracket")
        await pilot.pause()
        assert start < marker_column(app) < later
        await pilot.press("m")  # a 15-minute span: the same 21 intervals take fewer columns
        await pilot.pause()
        assert marker_column(app) < later
