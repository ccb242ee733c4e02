"""Make untrusted process names safe to show anywhere.

Any user can name a process (prctl(PR_SET_NAME), 15 bytes). A name must never reach a
terminal as control bytes (ESC, C1 such as 0x9b), never flip text direction, and never be
parsed as markup. Every character whose Unicode category starts with "C" (controls,
format characters such as bidi overrides, unassigned, surrogates, private use) becomes a
visible escape such as \\x1b or \\u202e, so the name stays recognisable. Markup is the
UI's concern: it renders names as Text objects, never as markup strings.
"""

from __future__ import annotations

import unicodedata


def _unsafe(ch: str) -> bool:
    """Controls, format characters (bidi overrides), unassigned, private use, surrogates, and
    the line and paragraph separators, which some terminals take as a new line."""
    cat = unicodedata.category(ch)
    return cat[0] == "C" or cat in ("Zl", "Zp")


def _escape(ch: str) -> str:
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def safe_name(raw: bytes | str) -> str:
    """A raw name (from the kernel or /proc) made safe: C* characters as escapes, and the
    backslash doubled, so that an escape in the output always stands for a real byte."""
    if isinstance(raw, bytes):
        raw = raw.split(b"\0", 1)[0].decode("utf-8", errors="replace")
    out = []
    for ch in raw:
        if ch == "\\":
            out.append("\\\\")
        elif _unsafe(ch):
            out.append(_escape(ch))
        else:
            out.append(ch)
    return "".join(out) or "?"


def scrub(text: str) -> str:
    """The second wall, for text that should already be safe (read back from a recording, or
    about to be drawn): every C* character becomes an escape, and the rest, backslashes
    included, is left as it is, so scrub(safe_name(x)) == safe_name(x). Cheap when clean."""
    if text.isprintable():
        return text
    return "".join(_escape(ch) if _unsafe(ch) else ch for ch in text)
