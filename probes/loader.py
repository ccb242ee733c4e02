"""Compile and load writes.c in a short-lived child; hand the fds to the parent.

    python -m probes.loader   (started by probes.bcc_source.load(); not for users)

The child imports bcc, compiles (LLVM), loads the programs and maps, detaches what BCC
attached on its own, and sends the program and map fds over a Unix socket. Then it exits,
taking LLVM's memory with it; the parent attaches the programs itself.
"""

from __future__ import annotations

import json
import os
import socket
import sys

from .program import MAPS, SOURCE, ProbeOptions, cflags


def child(sock_fd: int, opts_json: str) -> int:
    sock = socket.socket(fileno=sock_fd)
    try:
        from bcc import BPF
    except ImportError as exc:
        sock.sendall(json.dumps({"error": f"BCC is not installed: {exc}"}).encode())
        return 1

    class Unattached(BPF):
        """BCC attaches every TRACEPOINT_PROBE as it loads the module; the parent attaches its
        own, so here nothing is attached (detaching 11 tracepoints again took 0.8 s)."""

        def _trace_autoload(self) -> None:
            pass

    opts = ProbeOptions(**json.loads(opts_json))
    try:
        b = Unattached(src_file=str(SOURCE).encode(), cflags=cflags(opts))
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
