"""Names for the screen, only ever as Text.

Untrusted names are already made safe by probes.names.safe_name; here they are also
never parsed as markup: every piece is a rich Text built with Text(), never from_markup.
"""

from __future__ import annotations

from rich.text import Text


def name_text(name: str, style: str = "") -> Text:
    """A process name as a Text: never markup, never control bytes (already escaped)."""
    return Text(name, style=style, no_wrap=True, end="")
