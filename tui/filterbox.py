"""The / filter box: opened by /, kept by enter, cleared by escape; says what to keep."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message
from textual.widgets import Input


class FilterBox(Input):
    @dataclass
    class Filtered(Message):
        """The rows to keep contain needle (lowercased; '' for all); done once enter kept it."""

        needle: str
        done: bool = False

    def __init__(self) -> None:
        super().__init__(placeholder="filter by name or path (enter keeps it, escape clears it)", id="filter")
        self.disabled = True

    def open(self) -> None:
        """Show it and take the focus now (a / inside it, paths have them, is text)."""
        if self.has_focus:
            self.insert_text_at_cursor("/")
            return
        self.disabled = False
        self.display = True
        # Widget.focus() is deferred: after a view switch it could land after the next key's
        # own focus change (seen in CI); keys are handled in order, so focus at once
        self.screen.set_focus(self)

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(self.Filtered(event.value.strip().lower()))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.display = bool(self.value)
        self.disabled = True
        self.post_message(self.Filtered(self.value.strip().lower(), done=True))

    def clear(self, active: bool) -> bool:
        """Escape: empty and hide it if it is open or a filter is active; whether it did."""
        if not (self.has_focus or active):
            return False
        self.value = ""
        self.display = False
        self.disabled = True
        return True
