"""A cache of what BCC compiled, so that most starts load the programs without compiling.

Compiling writes.c with BCC (LLVM, in a child) takes most of wtop's start-up. What it makes is
plain BPF bytecode whose map references are file descriptors (ld_imm64, BPF_PSEUDO_MAP_FD).
The loader child records, for each program, its instructions with each map reference replaced
by the map's place, and for each map its definition (type, key and value sizes, entries,
flags, name). A later start creates the maps, patches the instructions and loads them with
bpf(2): the kernel's verifier checks them exactly as it checked BCC's.

With ProbeOptions.modern, two more things happen here, where BCC cannot help:
- the programs for BTF raw tracepoints are loaded as BPF_PROG_TYPE_TRACING with the BTF id of
  the tracepoint's type in vmlinux (btf_trace_sys_exit), which the child looks up once with
  libbpf and records in the entry (the key holds the kernel's build, and so the id);
- bpf_loop's callbacks, compiled by BCC as functions of their own, are linked after each
  program that names them, with the least BTF the kernel asks of a program with a callback.
An entry whose programs the kernel refused is kept as a refusal, so that the next starts go to
the plain programs without compiling again.

The key is a hash of everything that shapes the bytecode: writes.c, the -D flags (options and
the tracepoints this kernel has), the kernel (release and build), and the BCC installed. A
miss, a damaged file or a program the kernel refuses falls back to compiling (and rewrites
the entry). The directory is root's own (0700), and a file another user could have written is
never loaded: it is bytecode a root process would load.
"""

from __future__ import annotations

import base64
import ctypes as ct
import ctypes.util as ctypes_util
import errno
import hashlib
import importlib.util
import json
import os
import struct
import threading
from dataclasses import replace

from . import bpfsys
from .program import (
    BTF_HOOKS,
    BTF_VMLINUX,
    CALLBACK_MARK,
    CALLBACKS,
    REQUIRED,
    SOURCE,
    ProbeOptions,
    cflags,
    prog_name,
)

DIR = os.environ.get("WTOP_CACHE_DIR", "/var/cache/wtop")
VERSION = 4
SELF = 0x7EADBEEF
"""Compiled in place of wtop's own process id (which changes every start); every immediate
equal to it is patched with the real one at load. The load refuses an entry with none."""
BPF_MAP_CREATE = 0
BPF_PROG_LOAD = 5
BPF_BTF_LOAD = 18
BPF_OBJ_GET_INFO_BY_FD = 15
BPF_PROG_TYPE_TRACEPOINT = 5
BPF_PROG_TYPE_RAW_TRACEPOINT = 17
BPF_PROG_TYPE_TRACING = 26
BPF_TRACE_RAW_TP = 23
LD_IMM64 = 0x18
PSEUDO_MAP_FD = 1
PSEUDO_FUNC = 4
INSN = struct.Struct("<BBhi")  # code, dst:4|src:4, off, imm


class _MapCreate(ct.Structure):
    _fields_ = [
        ("map_type", ct.c_uint32),
        ("key_size", ct.c_uint32),
        ("value_size", ct.c_uint32),
        ("max_entries", ct.c_uint32),
        ("map_flags", ct.c_uint32),
        ("inner_map_fd", ct.c_uint32),
        ("numa_node", ct.c_uint32),
        ("map_name", ct.c_char * 16),
    ]


class _ProgLoad(ct.Structure):
    _fields_ = [
        ("prog_type", ct.c_uint32),
        ("insn_cnt", ct.c_uint32),
        ("insns", ct.c_uint64),
        ("license", ct.c_uint64),
        ("log_level", ct.c_uint32),
        ("log_size", ct.c_uint32),
        ("log_buf", ct.c_uint64),
        ("kern_version", ct.c_uint32),
        ("prog_flags", ct.c_uint32),
        ("prog_name", ct.c_char * 16),
        ("prog_ifindex", ct.c_uint32),
        ("expected_attach_type", ct.c_uint32),
        ("prog_btf_fd", ct.c_uint32),
        ("func_info_rec_size", ct.c_uint32),
        ("func_info", ct.c_uint64),
        ("func_info_cnt", ct.c_uint32),
        ("line_info_rec_size", ct.c_uint32),
        ("line_info", ct.c_uint64),
        ("line_info_cnt", ct.c_uint32),
        ("attach_btf_id", ct.c_uint32),
        ("attach_btf_obj_fd", ct.c_uint32),
    ]


class _InfoByFd(ct.Structure):
    _fields_ = [("bpf_fd", ct.c_uint32), ("info_len", ct.c_uint32), ("info", ct.c_uint64)]


class _MapInfo(ct.Structure):
    _fields_ = [
        ("type", ct.c_uint32),
        ("id", ct.c_uint32),
        ("key_size", ct.c_uint32),
        ("value_size", ct.c_uint32),
        ("max_entries", ct.c_uint32),
        ("map_flags", ct.c_uint32),
        ("name", ct.c_char * 16),
    ]


def key(opts: ProbeOptions) -> str:
    """What the bytecode depends on, hashed."""
    h = hashlib.sha256()
    h.update(SOURCE.read_bytes())
    h.update(json.dumps([cflags(replace(opts, self_tgid=SELF)), list(map(list, opts.tracepoints))]).encode())
    u = os.uname()
    h.update(f"{u.release}\0{u.version}\0{u.machine}".encode())
    spec = importlib.util.find_spec("bcc")
    if spec is not None and spec.origin:
        st = os.stat(spec.origin)
        h.update(f"{spec.origin}\0{st.st_mtime_ns}\0{st.st_size}".encode())
    h.update(str(VERSION).encode())
    return h.hexdigest()


def _path(opts: ProbeOptions) -> str:
    return os.path.join(DIR, f"{key(opts)}.json")


def map_info(fd: int) -> dict:
    info = _MapInfo()
    bpfsys._bpf(BPF_OBJ_GET_INFO_BY_FD, _InfoByFd(bpf_fd=fd, info_len=ct.sizeof(info), info=ct.addressof(info)))
    return {
        "type": info.type,
        "key_size": info.key_size,
        "value_size": info.value_size,
        "max_entries": info.max_entries,
        "flags": info.map_flags,
        "name": info.name.decode(),
    }


def btf_ids(hooks: set[str]) -> dict[str, int]:
    """The vmlinux BTF id of each raw tracepoint's type (btf_trace_<name>), by libbpf (which
    BCC brings); those it cannot find are left out."""
    try:
        lib = ct.CDLL(ctypes_util.find_library("bpf") or "libbpf.so.1")
        find = lib.libbpf_find_vmlinux_btf_id
    except (OSError, AttributeError):
        return {}
    find.argtypes = [ct.c_char_p, ct.c_int]
    find.restype = ct.c_int
    ids = {hook: find(hook.encode(), BPF_TRACE_RAW_TP) for hook in sorted(hooks)}
    return {hook: i for hook, i in ids.items() if i > 0}


def store(
    opts: ProbeOptions,
    progs: list[tuple[str, bytes]],
    maps: dict[str, int],
    funcs: list[tuple[str, bytes]] = (),
) -> None:
    """Record what the child compiled: (name, instructions) of each program in order, the
    handed-over maps by name, and bpf_loop's callbacks in the order of CALLBACKS. Failing to
    store is never an error (the next start compiles)."""
    try:
        fd_place: dict[int, int] = {}
        defs: list[dict] = []

        def place(fd: int) -> int:
            if fd not in fd_place:
                fd_place[fd] = len(defs)
                defs.append(map_info(fd))
            return fd_place[fd]

        handed = {name: place(fd) for name, fd in maps.items()}

        def code(name: str, insns: bytes) -> dict:
            relocs = []
            for i in range(len(insns) // 8):
                op, regs, _off, imm = INSN.unpack_from(insns, i * 8)
                if op == LD_IMM64 and regs >> 4 == PSEUDO_MAP_FD:
                    relocs.append([i, place(imm)])
            return {"name": name, "insns": base64.b64encode(insns).decode(), "relocs": relocs}

        entry: dict = {
            "maps": defs,
            "handed": handed,
            "progs": [code(name, insns) for name, insns in progs],
            "funcs": [code(name, insns) for name, insns in funcs],
        }
        if opts.modern:
            entry["btf"] = btf_ids({BTF_HOOKS[name] for name, _insns in progs if name in BTF_HOOKS})
        _write(_path(opts), entry)
    except (OSError, ValueError, struct.error):
        pass


KEEP = 32
"""Entries kept, the most recently used: one is made for each version of wtop, set of options
and filter (each -p PID its own), and without a bound they would pile up for good."""


def _write(path: str, entry: dict) -> None:
    """An entry, whole or not at all: root's own file in root's own directory; then the least
    recently used beyond KEEP go."""
    os.makedirs(DIR, mode=0o700, exist_ok=True)
    tmp = path + f".{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(entry, f)
    os.replace(tmp, path)
    _prune()


def _prune() -> None:
    """Remove the entries beyond the KEEP most recently used (load touches what it reads)."""
    try:
        entries = [e for e in os.scandir(DIR) if e.name.endswith(".json") and e.is_file(follow_symlinks=False)]
        if len(entries) <= KEEP:
            return
        entries.sort(key=lambda e: e.stat(follow_symlinks=False).st_mtime_ns, reverse=True)
    except OSError:
        return
    for e in entries[KEEP:]:
        try:
            os.unlink(e.path)
        except OSError:
            pass


def _trusted(path: str) -> bool:
    """Root's own file in root's own directory, writable by nobody else."""
    try:
        d, f = os.stat(os.path.dirname(path)), os.stat(path)
    except OSError:
        return False
    return d.st_uid == 0 and f.st_uid == 0 and not (d.st_mode | f.st_mode) & 0o022


def _load_all(attrs: list, created: list[int]) -> list[int]:
    """BPF_PROG_LOAD each program, on as many threads as there are CPUs: the kernel's verifier
    is most of a start (sys_exit about 250 ms, libaio's reaping walk about 180 ms here) and, for
    root, checks programs in parallel. The fds in order; every one made goes into created."""
    fds: list[int | None] = [None] * len(attrs)
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            fds[i] = bpfsys._bpf(BPF_PROG_LOAD, attrs[i])
        except BaseException as exc:  # noqa: BLE001 - handed to the caller below
            errors.append(exc)

    # one queue, the biggest first: a thread takes the next program when it is done with one
    # (the time of a check is not the size of a program: a loop is checked once per turn)
    queue = sorted(range(len(attrs)), key=lambda i: attrs[i].insn_cnt)
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                if not queue:
                    return
                i = queue.pop()
            one(i)

    workers = max(1, min(len(attrs), os.cpu_count() or 1))
    threads = [threading.Thread(target=work) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    created += [fd for fd in fds if fd is not None]
    if errors:
        raise errors[0]
    return fds


def _patched(code: dict, map_fds: list[int], self_tgid: int) -> tuple[bytearray, int]:
    """A stored program's (or callback's) instructions with the maps' fds and wtop's own
    process id in place, and how many of the latter there were."""
    insns = bytearray(base64.b64decode(code["insns"]))
    for i, m in code["relocs"]:
        op, regs, off, _imm = INSN.unpack_from(insns, i * 8)
        INSN.pack_into(insns, i * 8, op, regs, off, map_fds[m])
    selves = 0
    for i in range(len(insns) // 8):
        op, regs, off, imm = INSN.unpack_from(insns, i * 8)
        if imm == SELF:
            INSN.pack_into(insns, i * 8, op, regs, off, self_tgid)
            selves += 1
    return insns, selves


def _linked(insns: bytearray, funcs: list[bytearray]) -> tuple[bytearray, list[int]]:
    """The program with each bpf_loop callback it names placed after its code, once, and the
    name (an ld_imm64 of CALLBACK_MARK << 32 | n) made a reference to it (BPF_PSEUDO_FUNC,
    whose immediate is the callback's place counted from the next instruction). Also where
    each callback placed starts."""
    out = bytearray(insns)
    starts: dict[int, int] = {}
    for i in range(len(insns) // 8 - 1):
        op, regs, off, lo = INSN.unpack_from(insns, i * 8)
        if op != LD_IMM64 or regs >> 4 or INSN.unpack_from(insns, (i + 1) * 8)[3] != CALLBACK_MARK:
            continue
        if not 0 <= lo < len(funcs):
            raise ValueError(f"a callback that was not stored: {lo}")
        if lo not in starts:
            starts[lo] = len(out) // 8
            out += funcs[lo]
        INSN.pack_into(out, i * 8, op, (regs & 0x0F) | PSEUDO_FUNC << 4, off, starts[lo] - i - 1)
        INSN.pack_into(out, (i + 1) * 8, 0, 0, 0, 0)
    return out, sorted(starts.values())


class _BtfLoad(ct.Structure):
    _fields_ = [
        ("btf", ct.c_uint64),
        ("btf_log_buf", ct.c_uint64),
        ("btf_size", ct.c_uint32),
        ("btf_log_size", ct.c_uint32),
        ("btf_log_level", ct.c_uint32),
    ]


def _callback_btf() -> int:
    """The BTF the kernel asks of a program with a bpf_loop callback (it checks the callback's
    call against the callback's type): BCC gives none, so it is made here, the least that
    describes `int main(void *ctx)` (type 4) and `int callback(int i, void *ctx)` (type 6).
    An fd of BPF_BTF_LOAD."""
    names = b"\0int\0ctx\0i\0wtop_main\0wtop_callback\0"

    def at(name: bytes) -> int:
        return names.index(b"\0" + name + b"\0") + 1

    def kind(k: int, vlen: int = 0) -> int:
        return k << 24 | vlen

    INT, PTR, FUNC, FUNC_PROTO = 1, 2, 12, 13
    types = b"".join(
        [
            struct.pack("<IIII", at(b"int"), kind(INT), 4, 1 << 24 | 32),  # 1: int (signed, 32 bits)
            struct.pack("<III", 0, kind(PTR), 0),  # 2: void *
            struct.pack("<IIIII", 0, kind(FUNC_PROTO, 1), 1, at(b"ctx"), 2),  # 3: int (void *ctx)
            struct.pack("<III", at(b"wtop_main"), kind(FUNC, 1), 3),  # 4: global
            struct.pack("<IIIIIII", 0, kind(FUNC_PROTO, 2), 1, at(b"i"), 1, at(b"ctx"), 2),  # 5
            struct.pack("<III", at(b"wtop_callback"), kind(FUNC, 0), 5),  # 6: static
        ]
    )
    blob = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types), len(names)) + types + names
    buf = ct.create_string_buffer(blob, len(blob))
    return bpfsys._bpf(BPF_BTF_LOAD, _BtfLoad(btf=ct.addressof(buf), btf_size=len(blob)))


class Refused(Exception):
    """These lean programs (ProbeOptions.modern) cannot be had here: the kernel's verifier
    refused them, or their compile failed, now or at an earlier start (not a damaged or stale
    entry, which is compiled again)."""


REFUSALS = (errno.EINVAL, errno.EACCES, errno.EOPNOTSUPP, 524)  # 524: ENOTSUPP, the kernel's own
"""Errors of BPF_PROG_LOAD that say the kernel will not take these programs (other errors, such
as ENOMEM or EPERM, may pass, and are not remembered)."""


def refuse(opts: ProbeOptions, why: str) -> None:
    """Keep a refusal in place of the entry: the next loads raise Refused without compiling."""
    try:
        _write(_path(opts), {"refused": why})
    except OSError:
        pass


def load(opts: ProbeOptions, names: list[str], self_tgid: int) -> tuple[list[int], dict[str, int]] | None:
    """(program fds, map fds by name) from the cache, None on a miss or any failure (an entry
    that fails is removed, so the compile that follows rewrites it). Refused for a refusal, or
    for lean programs the kernel refuses now (the entry then becomes a refusal)."""
    path = _path(opts)
    if not _trusted(path):
        return None
    created: list[int] = []
    try:
        with open(path) as f:
            entry = json.load(f)
        os.utime(path)  # used: the last to go (see KEEP)
        if isinstance(entry, dict) and entry.get("refused"):
            raise Refused(entry["refused"])
        map_fds = []
        for m in entry["maps"]:
            attr = _MapCreate(
                map_type=m["type"],
                key_size=m["key_size"],
                value_size=m["value_size"],
                max_entries=m["max_entries"],
                map_flags=m["flags"],
                map_name=m["name"].encode()[:15],
            )
            map_fds.append(bpfsys._bpf(BPF_MAP_CREATE, attr))
            created.append(map_fds[-1])
        if [p["name"] for p in entry["progs"]] != names:
            raise ValueError("programs differ")
        license = ct.create_string_buffer(b"GPL")
        attrs = []
        btf_fd = None
        funcs = [_patched(f, map_fds, self_tgid)[0] for f in entry.get("funcs", [])]
        if opts.modern and [f["name"] for f in entry.get("funcs", [])] != list(CALLBACKS):
            raise ValueError("callbacks differ")
        for p in entry["progs"]:
            insns, selves = _patched(p, map_fds, self_tgid)
            if p["name"] == prog_name(REQUIRED) and not selves:
                raise ValueError("wtop's own process id was not found in the bytecode")
            insns, callbacks = _linked(insns, funcs)
            buf = (ct.c_char * len(insns)).from_buffer(insns)
            attr = _ProgLoad(
                prog_type=BPF_PROG_TYPE_RAW_TRACEPOINT if p["name"].startswith("raw_") else BPF_PROG_TYPE_TRACEPOINT,
                insn_cnt=len(insns) // 8,
                insns=ct.addressof(buf),
                license=ct.addressof(license),
                prog_name=p["name"].encode()[:15],
            )
            if opts.modern and p["name"] in BTF_HOOKS:
                btf_id = entry["btf"].get(BTF_HOOKS[p["name"]])
                if not btf_id:
                    raise Refused(f"no BTF type for {BTF_HOOKS[p['name']]} in {BTF_VMLINUX}")
                attr.prog_type = BPF_PROG_TYPE_TRACING
                attr.expected_attach_type = BPF_TRACE_RAW_TP
                attr.attach_btf_id = btf_id
            info = None
            if callbacks:  # the functions' types: the program (type 4), then its callbacks (6)
                if btf_fd is None:
                    btf_fd = _callback_btf()
                    created.append(btf_fd)
                info = (ct.c_uint32 * (2 + 2 * len(callbacks)))(0, 4, *(x for s in callbacks for x in (s, 6)))
                attr.prog_btf_fd = btf_fd
                attr.func_info_rec_size = 8
                attr.func_info = ct.addressof(info)
                attr.func_info_cnt = 1 + len(callbacks)
            attrs.append((attr, buf, info))
        try:
            prog_fds = _load_all([a for a, _buf, _info in attrs], created)
        except OSError as exc:
            if opts.modern and exc.errno in REFUSALS:
                raise Refused(f"BPF_PROG_LOAD: {exc.strerror}") from exc
            raise
        if btf_fd is not None:  # the programs hold it
            os.close(btf_fd)
        maps = {name: map_fds[i] for name, i in entry["handed"].items()}
        for fd in set(map_fds) - set(maps.values()):  # referenced by programs only: they hold them
            os.close(fd)
        return prog_fds, maps
    except (OSError, ValueError, KeyError, TypeError, AttributeError, struct.error, Refused) as exc:
        for fd in created:
            try:
                os.close(fd)
            except OSError:
                pass
        if isinstance(exc, Refused):
            if created:  # refused just now (reading a refusal back creates nothing first)
                refuse(opts, str(exc))
            raise
        try:
            os.unlink(path)
        except OSError:
            pass
        return None
