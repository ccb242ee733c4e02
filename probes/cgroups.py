"""Name the cgroup a process writes from: a container, a service, or the cgroup's path.

bpf_get_current_cgroup_id() is the inode number of the process's cgroup v2 directory. User
space finds the directory with that inode under the cgroup2 mount and recognises the usual
managers from the path: systemd units (*.service, *.scope), Docker, Podman, containerd,
Kubernetes pods. Names and paths are made safe like process names.
"""

from __future__ import annotations

import os
import re

from .names import safe_name

_HEX = r"([0-9a-f]{12})[0-9a-f]{52}"
PATTERNS = [
    (re.compile(r"kubepods.*?pod([0-9a-f_-]{8})[0-9a-f_-]*"), "k8s pod {}"),
    (re.compile(rf"docker-{_HEX}\.scope$"), "docker {}"),
    (re.compile(rf"/docker/{_HEX}$"), "docker {}"),
    (re.compile(rf"libpod-{_HEX}\.scope$"), "podman {}"),
    (re.compile(rf"cri-containerd-{_HEX}\.scope$"), "containerd {}"),
    (re.compile(r"([^/]+\.(?:service|scope|slice))$"), "{}"),
]


def cgroup2_root(mounts: str = "/proc/self/mounts") -> str | None:
    """Where the cgroup v2 hierarchy is mounted (/sys/fs/cgroup, or .../unified on hybrid)."""
    try:
        with open(mounts) as f:
            for line in f:
                parts = line.split()
                if len(parts) > 2 and parts[2] == "cgroup2":
                    return parts[1]
    except OSError:
        pass
    return None


def label(path: str) -> str:
    """A short name for a cgroup path: 'nginx.service', 'docker 3f2a9c1b7d4e', or the path."""
    for pattern, fmt in PATTERNS:
        m = pattern.search(path)
        if m:
            return safe_name(fmt.format(m.group(1)))
    return safe_name(path or "/")


class CgroupNames:
    """cgroup id -> (label, path), by walking the cgroup2 tree when an id is unknown."""

    def __init__(self, root: str | None = None) -> None:
        self.root = root if root is not None else cgroup2_root()
        self._paths: dict[int, str] = {}
        self._misses: set[int] = set()

    def _scan(self) -> None:
        if not self.root:
            return
        paths = {}
        for dirpath, _dirs, _files in os.walk(self.root):
            try:
                paths[os.stat(dirpath).st_ino] = "/" + os.path.relpath(dirpath, self.root).lstrip(".")
            except OSError:
                continue
        self._paths = {k: v.replace("//", "/") if v != "/" else "/" for k, v in paths.items()}

    def path(self, cgid: int) -> str | None:
        if cgid not in self._paths and cgid not in self._misses:
            self._scan()
            if cgid not in self._paths:
                self._misses.add(cgid)  # gone already, or not v2: do not walk again for it
        return self._paths.get(cgid)

    def name(self, cgid: int) -> tuple[str, str]:
        """(label, path); ('?', '') when the id is unknown (0) or its cgroup is gone."""
        if not cgid:
            return "?", ""
        p = self.path(cgid)
        if p is None:
            return "?", f"(cgroup {cgid}, gone)"
        return label(p), safe_name(p)


def inode_of(path: str) -> int:
    """The cgroup id of a cgroup directory (--cgroup PATH): absolute, or under the cgroup2 root."""
    root = cgroup2_root()
    candidates = [path] if os.path.isabs(path) and root and path.startswith(root) else []
    if root:
        candidates.append(os.path.join(root, path.lstrip("/")))
    for c in candidates:
        if os.path.isdir(c) and os.path.exists(os.path.join(c, "cgroup.procs")):
            return os.stat(c).st_ino
    raise FileNotFoundError(f"no cgroup v2 directory {path!r}" + (f" under {root}" if root else " (no cgroup2 mount)"))
