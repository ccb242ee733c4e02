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


def safe_name(raw: bytes | str) -> str:
    if isinstance(raw, bytes):
        raw = raw.split(b"\0", 1)[0].decode("utf-8", errors="replace")
    out = []
    for ch in raw:
        if unicodedata.category(ch).startswith("C") or ch == "\\":
            code = ord(ch)
            if ch == "\\":
                out.append("\\\\")
            elif code <= 0xFF:
                out.append(f"\\x{code:02x}")
            elif code <= 0xFFFF:
                out.append(f"\\u{code:04x}")
            else:
                out.append(f"\\U{code:08x}")
        else:
            out.append(ch)
    return "".join(out) or "?"
