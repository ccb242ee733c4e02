"""Replaying a recording in the dashboard: keys to pause, step and jump; exact figures."""

from __future__ import annotations

from tests.app.conftest import FIXED_TIME
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
        for _ in range(40):  # it plays on its own: wait for it (at most 4 s), not for a rate
            await pilot.pause(0.1)
            if app.replay_pos > 3:
                break
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
