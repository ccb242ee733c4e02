from __future__ import annotations

import pytest

from probes.cgroups import CgroupNames, cgroup2_root, inode_of, label

H = "3f2a9c1b7d4e" + "0" * 52


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/system.slice/nginx.service", "nginx.service"),
        ("/user.slice/user-1000.slice/session-3.scope", "session-3.scope"),
        (f"/system.slice/docker-{H}.scope", "docker 3f2a9c1b7d4e"),
        (f"/docker/{H}", "docker 3f2a9c1b7d4e"),
        (f"/machine.slice/libpod-{H}.scope", "podman 3f2a9c1b7d4e"),
        (f"/system.slice/cri-containerd-{H}.scope", "containerd 3f2a9c1b7d4e"),
        (
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1a2b3c4d_5e6f.slice/cri-containerd-x.scope",
            "k8s pod 1a2b3c4d",
        ),
        ("/process_api/270a1dc9", "/process_api/270a1dc9"),
        ("/", "/"),
        ("/evil\x1b[2J.service", "evil\\x1b[2J.service"),
    ],
)
def test_labels(path, name):
    assert label(path) == name


def test_unknown_and_gone(tmp_path):
    names = CgroupNames(root=str(tmp_path))
    assert names.name(0) == ("?", "")
    assert names.name(123456789)[0] == "?"
    sub = tmp_path / "app.service"
    sub.mkdir()
    import os

    assert CgroupNames(root=str(tmp_path)).name(os.stat(sub).st_ino) == ("app.service", "/app.service")


def test_cgroup2_root_from_mounts(tmp_path):
    m = tmp_path / "mounts"
    m.write_text("cgroup /sys/fs/cgroup/cpu cgroup rw 0 0\ncgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n")
    assert cgroup2_root(str(m)) == "/sys/fs/cgroup/unified"
    m.write_text("proc /proc proc rw 0 0\n")
    assert cgroup2_root(str(m)) is None


def test_inode_of_rejects_what_is_not_a_cgroup():
    with pytest.raises(FileNotFoundError, match="no cgroup v2 directory"):
        inode_of("no/such/cgroup-here")
