"""The private APIs of Textual's that wtop relies on, each applied explicitly, with a check that
it still exists (textual is pinned in pyproject.toml; re-check on an upgrade).

NO_COLOR means no colour: Textual's own monochrome filter still emits 256-colour greys, so
no_color() puts Textual's NoColor filter (bold, reverse and the like only) in the app's
private filter list.

When an SSH session drops, writing to the terminal raises OSError (EIO). Textual's output
thread (textual.drivers._writer_thread.WriterThread) dies on it; its bounded queue then fills,
and the main thread blocks for ever in the shutdown's last writes: wtop hung with its probes
attached (seen with tmux kill-server). Draining, and discarding, what is left keeps the
shutdown moving. tests/unit/test_compat.py provokes exactly that.
"""

from __future__ import annotations


class CompatError(RuntimeError):
    """What Textual no longer has; the message is for the user."""


def survive_a_vanished_terminal() -> None:
    """Patch WriterThread.run to drain its queue after an OSError. Idempotent."""
    try:
        from textual.drivers import _writer_thread
    except ImportError as exc:
        raise CompatError(f"this Textual has no drivers._writer_thread ({exc}): wtop pins textual==8.2.8") from exc
    cls = getattr(_writer_thread, "WriterThread", None)
    if cls is None or not callable(getattr(cls, "run", None)):
        raise CompatError("this Textual's WriterThread has changed: wtop pins textual==8.2.8")
    if getattr(cls, "_wtop_patched", False):
        return
    original = cls.run

    def run(self) -> None:
        try:
            original(self)
        except OSError:
            queue = getattr(self, "_queue", None)
            if queue is None:  # nothing to drain: the shutdown cannot block on it
                return
            while queue.get() is not None:
                pass

    cls.run = run
    cls._wtop_patched = True


def no_color(app) -> None:
    """Drop every colour from what the app draws (NO_COLOR)."""
    from textual.filter import NoColor

    filters = getattr(app, "_filters", None)
    if not isinstance(filters, list):
        raise CompatError("this Textual's App has no _filters list: NO_COLOR cannot be honoured (pins textual==8.2.8)")
    filters.append(NoColor())
