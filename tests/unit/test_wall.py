"""The wall between the data side and the screen side, enforced."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    return set(out.split())


def test_probes_never_import_textual():
    mods = modules_after(
        "import probes.snapshot, probes.runstate, probes.tables, probes.units, probes.names, probes.program, "
        "probes.live, probes.sampler, probes.procfs, probes.kernel, probes.loader, probes.compat, probes.writers, "
        "probes.progcache"
    )
    assert not any(m == "textual" or m.startswith("textual.") for m in mods)
    assert not any(m == "rich" or m.startswith("rich.") for m in mods)


def test_tui_never_imports_bcc():
    mods = modules_after("import tui.app, tui.cli, tui.modes, tui.render, tui.widgets, tui.compat")
    assert "bcc" not in mods


def test_the_dashboard_process_never_imports_bcc():
    """Only the short-lived loader child imports bcc (62 MB resident, measured)."""
    mods = modules_after("import probes.live, tui.cli; tui.cli.preflight")
    assert "bcc" not in mods


def test_outlets_never_import_textual_nor_bcc():
    mods = modules_after(
        "import outlets, outlets.batch, outlets.codec, outlets.recording, outlets.metrics, outlets.summary, "
        "outlets.text, outlets.trust"
    )
    assert not any(m == "textual" or m.startswith("textual.") for m in mods)
    assert "bcc" not in mods
