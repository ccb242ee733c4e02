"""Compile and load writes.c in a short-lived child; hand the fds to the parent.

    python -m probes.loader   (started by load() below; not for users)

The child imports bcc, compiles (LLVM), loads the programs and maps without attaching them,
and sends the program and map fds over a Unix socket. Then it exits, taking LLVM's memory
with it; the parent (probes/kernel.py) attaches the programs itself.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

from .program import MAPS, SOURCE, ProbeOptions, cflags


class ProbeError(RuntimeError):
    """The probes could not be loaded or attached; the message is for the user."""

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.details = details
        """What the compiler printed, if anything (several lines)."""


def load(opts: ProbeOptions, timeout: float = 60.0) -> tuple[list[int], dict[str, int]]:
    """Compile and load in a child; returns (program fds, map fds by name)."""
    programs = opts.tracepoints
    parent, child = socket.socketpair()
    env = {**os.environ, "WTOP_LOADER_FD": str(child.fileno())}
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.Popen(
        [sys.executable, "-m", "probes.loader", json.dumps(asdict(opts))],
        pass_fds=(child.fileno(),),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=root,
    )
    child.close()
    parent.settimeout(timeout)
    try:
        msg, fds, _flags, _addr = socket.recv_fds(parent, 65536, len(programs) + len(MAPS))
    except TimeoutError:
        proc.kill()
        msg, fds = b"", []
    finally:
        parent.close()
    _out, err = proc.communicate()
    details = err.decode(errors="replace").strip()
    info = json.loads(msg) if msg else {"error": "the BPF loader ended without an answer"}
    if "error" in info or len(fds) != len(programs) + len(MAPS):
        for fd in fds:
            os.close(fd)
        raise ProbeError(info.get("error", "the BPF loader sent the wrong number of fds"), details)
    progs = fds[: len(programs)]
    return progs, dict(zip(MAPS, fds[len(programs) :], strict=True))


def child(sock_fd: int, opts_json: str) -> int:
    sock = socket.socket(fileno=sock_fd)
    try:
        from bcc import BPF
    except ImportError as exc:
        sock.sendall(json.dumps({"error": f"BCC is not installed: {exc}"}).encode())
        return 1

    from .compat import unattached_bpf

    opts = ProbeOptions(**json.loads(opts_json))
    try:
        b = unattached_bpf(BPF)(src_file=str(SOURCE).encode(), cflags=cflags(opts))
        fds = [
            b.load_func(f"tracepoint__{cat}__{event}".encode(), BPF.TRACEPOINT).fd for cat, event in opts.tracepoints
        ]
    except Exception as exc:
        sock.sendall(json.dumps({"error": f"could not compile or load the BPF program: {exc}"}).encode())
        return 1
    fds += [b[name.encode()].map_fd for name in MAPS]
    socket.send_fds(sock, [json.dumps({"progs": len(opts.tracepoints), "maps": len(MAPS)}).encode()], fds)
    sock.close()
    return 0


def main() -> int:
    fd = int(os.environ["WTOP_LOADER_FD"])
    try:
        return child(fd, sys.argv[1])
    except Exception as exc:  # anything else: one line for the user, not a traceback
        try:
            socket.socket(fileno=fd).sendall(json.dumps({"error": f"the BPF loader failed: {exc}"}).encode())
        except OSError:
            pass
        return 1


if __name__ == "__main__":
    sys.exit(main())
