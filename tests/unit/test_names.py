"""Hostile process names: markup, escapes, C1 controls, bidi, invalid UTF-8, full length."""

from __future__ import annotations

import unicodedata

import pytest
from rich.console import Console
from rich.text import Text

from probes.names import safe_name
from tui.render import name_text

HOSTILE = [
    b"[/bold]",
    b"[red]x",
    b"[link=http://x]y",
    b"[/]",
    b"\x1b[2J\x1b[H",  # clear screen
    b"\x1b]0;pwned\x07",  # set title
    b"\x1b]52;c;aGk=\x07",  # OSC 52 clipboard
    "\u009b31m".encode(),  # C1 CSI
    b"\x9b31m",  # raw C1 byte (invalid UTF-8)
    "a\u202eevil".encode(),  # bidi override
    b"\xff\xfe\xfdname",  # invalid UTF-8
    b"abcdefghijklmno",  # the full 15 bytes
    b"tab\there\r\n",
]


@pytest.mark.parametrize("raw", HOSTILE)
def test_safe_name_has_no_control_or_format_characters(raw):
    name = safe_name(raw)
    assert name
    assert not any(unicodedata.category(ch).startswith("C") for ch in name)


@pytest.mark.parametrize("raw", HOSTILE)
def test_names_render_literally_without_escapes(raw):
    name = safe_name(raw)
    console = Console(record=True, width=200, color_system="truecolor", force_terminal=True)
    console.print(name_text(name))
    out = console.export_text(styles=False)
    assert out.rstrip("\n") == name  # shown as written: markup is not interpreted
    raw_out = console.export_text(styles=True)
    assert "\x1b]" not in raw_out and "\x9b" not in raw_out and "\x07" not in raw_out


def test_names_stay_recognisable():
    assert safe_name(b"\x1b[2Jevil") == "\\x1b[2Jevil"
    assert safe_name("a\u202eb".encode()) == "a\\u202eb"
    assert safe_name(b"nginx\0\0\0\0") == "nginx"
    assert safe_name(b"[/bold]") == "[/bold]"
    assert safe_name(b"back\\slash") == "back\\\\slash"  # an escape cannot be forged
    assert safe_name(b"") == "?"
    assert safe_name(b"caf\xc3\xa9") == "café"


def test_markup_names_are_not_markup():
    t = name_text(safe_name(b"[red]x"))
    assert isinstance(t, Text) and t.plain == "[red]x" and not t.spans
