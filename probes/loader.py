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
from dataclasses import asdict, replace
from pathlib import Path

from . import progcache
from .program import CALLBACKS, MAPS, RAW, SOURCE, TAILS, ProbeOptions, cflags, prog_name


class ProbeError(RuntimeError):
    """The probes could not be loaded or attached; the message is for the user."""

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.details = details
        """What the compiler printed, if anything (several lines)."""


COMPILE_FAILED = "could not compile or load the BPF program"


def prog_names(opts: ProbeOptions) -> list[str]:
    return [prog_name(tp) for tp in opts.tracepoints] + list(TAILS)


def load(opts: ProbeOptions, timeout: float = 60.0) -> tuple[list[int], dict[str, int], str, ProbeOptions]:
    """(program fds, map fds by name, "cache" or "compiled", the options they were made
    with): from the cache of what BCC compiled before (probes/progcache.py), else compiled and
    loaded in a child, which also writes the cache. BTF programs (opts.modern) come only through
    the cache (BCC cannot load them); if this kernel refuses them, the plain raw tracepoints
    are loaded instead, and the options returned say so."""
    names = prog_names(opts)
    try:
        cached = progcache.load(opts, names, opts.self_tgid)
        if cached is not None:
            return (*cached, "cache", opts)
        # compile for the cache (wtop's own id as a placeholder), then load from it; if that
        # fails, compile again and take what BCC loaded
        try:
            _run_child(replace(opts, self_tgid=progcache.SELF), "cache", 0, timeout)
        except ProbeError as exc:
            if opts.modern and str(exc).startswith(COMPILE_FAILED):  # not a timeout: it would again
                progcache.refuse(opts, str(exc))
        cached = progcache.load(opts, names, opts.self_tgid)
        if cached is not None:
            return (*cached, "compiled", opts)
    except progcache.Refused:  # only ever of lean programs: the plain ones are never refused
        pass
    if opts.modern:  # refused, or not loaded from the cache: BCC itself cannot load them
        return load(replace(opts, modern=False), timeout)
    fds = _run_child(opts, "fds", len(names) + len(MAPS), timeout)
    progs = fds[: len(names)]
    return progs, dict(zip(MAPS, fds[len(names) :], strict=True)), "compiled", opts


def _run_child(opts: ProbeOptions, mode: str, nfds: int, timeout: float) -> list[int]:
    """Run the loader child: mode "fds" hands over the program and map fds; mode "cache"
    writes the cache entry (probes/progcache.py) and hands over nothing."""
    parent, child = socket.socketpair()
    env = {**os.environ, "WTOP_LOADER_FD": str(child.fileno()), "WTOP_CACHE_DIR": progcache.DIR}
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.Popen(
        [sys.executable, "-m", "probes.loader", json.dumps(asdict(opts)), mode],
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
        msg, fds, _flags, _addr = socket.recv_fds(parent, 65536, max(nfds, 1))
    except TimeoutError:
        proc.kill()
        msg, fds = b"", []
    finally:
        parent.close()
    _out, err = proc.communicate()
    details = err.decode(errors="replace").strip()
    info = json.loads(msg) if msg else {"error": "the BPF loader ended without an answer"}
    if "error" in info or len(fds) != nfds:
        for fd in fds:
            os.close(fd)
        raise ProbeError(info.get("error", "the BPF loader sent the wrong number of fds"), details)
    return fds


def child(sock_fd: int, opts_json: str, mode: str = "fds") -> int:
    sock = socket.socket(fileno=sock_fd)
    try:
        from bcc import BPF
    except ImportError as exc:
        sock.sendall(json.dumps({"error": f"BCC is not installed: {exc}"}).encode())
        return 1

    from .compat import unattached_bpf

    opts = ProbeOptions(**json.loads(opts_json))
    names = prog_names(opts)
    try:
        b = unattached_bpf(BPF)(src_file=str(SOURCE).encode(), cflags=cflags(opts))
        maps = {name: b[name.encode()].map_fd for name in MAPS}
        if mode == "cache":  # the bytecode only: the parent loads it from the cache
            funcs = [(name, b.dump_func(name.encode())) for name in CALLBACKS] if opts.modern else []
            progcache.store(opts, [(name, b.dump_func(name.encode())) for name in names], maps, funcs)
            sock.sendall(json.dumps({"cached": True}).encode())
            return 0
        kinds = [BPF.RAW_TRACEPOINT if tp in RAW else BPF.TRACEPOINT for tp in opts.tracepoints]
        kinds += [BPF.RAW_TRACEPOINT] * len(TAILS)
        fds = [b.load_func(name.encode(), kind).fd for name, kind in zip(names, kinds, strict=True)]
    except Exception as exc:
        sock.sendall(json.dumps({"error": f"{COMPILE_FAILED}: {exc}"}).encode())
        return 1
    socket.send_fds(sock, [json.dumps({"progs": len(names), "maps": len(MAPS)}).encode()], fds + list(maps.values()))
    sock.close()
    return 0


def main() -> int:
    fd = int(os.environ["WTOP_LOADER_FD"])
    try:
        return child(fd, sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "fds")
    except Exception as exc:  # anything else: one line for the user, not a traceback
        try:
            socket.socket(fileno=fd).sendall(json.dumps({"error": f"the BPF loader failed: {exc}"}).encode())
        except OSError:
            pass
        return 1


if __name__ == "__main__":
    sys.exit(main())
