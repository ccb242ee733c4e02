"""Writes grouped by cgroup, and the --cgroup filter, with a real cgroup v2 directory."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from probes.cgroups import CgroupNames, cgroup2_root, inode_of
from probes.live import LiveSource
from probes.program import ProbeOptions

pytestmark = pytest.mark.bpf


@pytest.fixture
def cgroup_dir():
    root = cgroup2_root()
    if root is None:
        pytest.fail("no cgroup2 mount on this machine")
    d = os.path.join(root, f"wtop-test-{os.getpid()}.scope")
    os.mkdir(d)
    yield d
    for _ in range(50):  # the kernel frees the cgroup once its processes are reaped
        try:
            os.rmdir(d)
            return
        except OSError:
            time.sleep(0.1)


def test_cgroup_filter_and_names(writer_bin, cgroup_dir):
    def join():
        with open(os.path.join(cgroup_dir, "cgroup.procs"), "w") as f:
            f.write("0")  # this process, before it execs the writer

    inside = subprocess.Popen(
        [writer_bin, "cg-inside", "100", "5", "/dev/null"], stdin=subprocess.PIPE, preexec_fn=join
    )
    outside = subprocess.Popen([writer_bin, "cg-outside", "100", "7", "/dev/null"], stdin=subprocess.PIPE)
    cgid = os.stat(cgroup_dir).st_ino
    try:
        assert inode_of(os.path.basename(cgroup_dir)) == cgid  # a path relative to the cgroup2 root
        with LiveSource(ProbeOptions(cgroup=cgid)) as src:
            src.sample()
            for p in (inside, outside):
                p.stdin.close()
                p.wait(10)
            s = src.sample()
    finally:
        for p in (inside, outside):
            p.kill()
            p.wait()
    assert [(p.pid, p.writes, p.cgroup) for p in s.processes] == [(inside.pid, 5, cgid)]
    label, path = CgroupNames().name(cgid)
    assert label == os.path.basename(cgroup_dir) and path == "/" + os.path.basename(cgroup_dir)


def test_processes_carry_their_cgroup_without_a_filter(spawn):
    w = spawn(b"cg-any", 10, 3)
    with LiveSource(ProbeOptions(pid=w.pid)) as src:
        src.sample()
        w.go()
        w.wait()
        (p,) = src.sample().processes
    with open("/proc/self/cgroup") as f:
        v2 = next(line.split(":", 2)[2].strip() for line in f if line.startswith("0::"))
    root = cgroup2_root()
    assert p.cgroup == os.stat(os.path.join(root, v2.lstrip("/"))).st_ino  # the writer is where we are
