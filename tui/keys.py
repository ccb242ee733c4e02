"""The dashboard's keys, each with an id (so they can be remapped), in one table."""

from __future__ import annotations

from textual.binding import Binding

from tui.views import VIEWS

KEYS = [
    # priority: handled as each key arrives, in order. A view shown for the first time is
    # mounted while its key is handled; a key bound lower down waits for the widget that had
    # the focus, and is looked up once it is done, against the focus of that moment: 4 1 /
    # typed at once lost the 1 to the filter box that / had opened meanwhile (seen in CI)
    *(Binding(v.key, f"view('{v.name}')", v.name.capitalize(), id=f"view_{v.name}", priority=True) for v in VIEWS),
    Binding("tab", "next_view(1)", "Next", id="next_view", priority=True),
    Binding("shift+tab", "next_view(-1)", "Prev", show=False, id="prev_view", priority=True),
    Binding("c", "period", "Period", id="period"),
    # priority: handled as the key arrives, so the keys typed right after it (a paste, a
    # fast typist) are routed to the filter box, not queued to the table first
    Binding("slash", "filter", "Filter", id="filter", priority=True),
    Binding("p", "pause", "Pause", id="pause"),
    Binding("question_mark", "help", "Help", id="help"),
    Binding("left", "replay_step(-1)", "Back", id="replay_back"),
    Binding("right", "replay_step(1)", "Fwd", id="replay_forward"),
    Binding("left_square_bracket", "replay_step(-10)", "-10", show=False, id="replay_back10"),
    Binding("right_square_bracket", "replay_step(10)", "+10", show=False, id="replay_forward10"),
    Binding("less_than_sign", "replay_jump(0)", "Start", show=False, id="replay_start"),
    Binding("greater_than_sign", "replay_jump(-1)", "End", show=False, id="replay_end"),
    Binding("q", "quit", "Quit", id="quit"),
    Binding("ctrl+c", "quit", "Quit", show=False, priority=True, id="quit_ctrl_c"),
]
