"""The one private API of BCC's that wtop relies on, applied explicitly, with a check.

BCC attaches every TRACEPOINT_PROBE as it loads a module (BPF._trace_autoload). wtop loads in
a short-lived child and attaches in the parent (probes/kernel.py), so the child must attach
nothing: detaching 11 tracepoints there again took 0.8 s. If a BCC release renames the hook,
wtop says so in one line instead of silently attaching twice.
"""

from __future__ import annotations


class CompatError(RuntimeError):
    """What BCC no longer has; the message is for the user."""


def unattached_bpf(bpf_class: type) -> type:
    """A subclass of BCC's BPF that loads programs without attaching them."""
    if not callable(getattr(bpf_class, "_trace_autoload", None)):
        raise CompatError(
            "this BCC has no BPF._trace_autoload (wtop was written against bcc 0.26-0.31): "
            "loading would attach every tracepoint twice"
        )

    class Unattached(bpf_class):
        def _trace_autoload(self) -> None:
            pass

    return Unattached
