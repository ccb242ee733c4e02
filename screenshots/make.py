"""Make screenshots/*.svg from a real session: real probes, real writers, the real app.

    sudo .venv/bin/python screenshots/make.py

Writers with known names and sizes run for a few seconds while the probes sample; the
snapshots they produce are then shown by the dashboard at 120x40 and saved per view.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from probes.live import LiveSource  # noqa: E402
from probes.program import ProbeOptions  # noqa: E402
from tui.app import AppConfig, WtopApp  # noqa: E402
from tui.messages import SnapshotReady  # noqa: E402

# name, size, writes per round, round period ms, threads
WORKLOAD = [
    (b"postgres", 8192, 400, 100, 1),
    (b"nginx", 512, 300, 100, 2),
    (b"rsyslogd", 180, 120, 100, 1),
    (b"backup.sh", 131072, 30, 200, 1),
    (b"[/bold]\x1b[2Jx", 64, 20, 100, 1),  # a hostile name, shown harmlessly
]
VIEWS = [
    ("top", ()),
    ("sizes", ("2",)),
    ("latency", ("3",)),
    ("files", ("4",)),
    ("disks", ("6",)),
    ("process", ("enter",)),  # the top writer's own page (its figures were counted while recording)
    ("help", ("question_mark",)),
]

# A restore streaming to a block device of its own with O_DIRECT: the disks view shows it
# reaching the device at once, next to the page-cached writes of the others.
DIRECT = """
import ctypes, mmap, os, sys, time
ctypes.CDLL(None).prctl(15, b"pg_restore", 0, 0, 0)
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_DIRECT)
buf = mmap.mmap(-1, 1 << 16)
buf.write(b"r" * (1 << 16))
while True:
    for i in range(16):
        os.pwrite(fd, buf, i << 16)
    time.sleep(0.1)
"""


def record(seconds: int) -> list:
    cc = shutil.which("cc") or shutil.which("gcc")
    tmp = Path(tempfile.mkdtemp())
    writer = tmp / "writer"
    subprocess.run([cc, "-O2", "-pthread", "-o", str(writer), str(ROOT / "tests/helpers/writer.c")], check=True)
    target = tmp / "data"
    procs = [
        subprocess.Popen(
            [str(writer), name, str(size), str(n), str(target), str(period), str(threads)], stdin=subprocess.DEVNULL
        )
        for name, size, n, period, threads in WORKLOAD
    ]
    backing = Path("/dev/shm/wtop-screenshot.img")
    with open(backing, "wb") as f:
        f.truncate(64 << 20)
    loop = subprocess.run(["losetup", "-f", "--show", str(backing)], capture_output=True, text=True, check=True)
    loop = loop.stdout.strip()
    procs.append(subprocess.Popen([sys.executable, "-c", DIRECT, loop]))
    snaps = []
    try:
        with LiveSource(ProbeOptions()) as src:
            src.set_focus(procs[0].pid)  # postgres, the top writer: its page has its own figures
            src.sample()
            for _ in range(seconds):
                time.sleep(1.0)
                snaps.append(src.sample())
    finally:
        for p in procs:
            p.kill()
            p.wait()
        subprocess.run(["losetup", "-d", loop], check=False)
        backing.unlink()
        shutil.rmtree(tmp, ignore_errors=True)
    return snaps


async def shoot(snaps: list, out: Path, size=(120, 40)) -> None:
    for name, keys in VIEWS:
        app = WtopApp(None, AppConfig(interval=1.0, start_worker=False))
        async with app.run_test(size=size) as pilot:
            for s in snaps:
                app.post_message(SnapshotReady(s))
            await pilot.pause()
            if keys:
                await pilot.press(*keys)
            await pilot.pause(0.3)
            app.save_screenshot(filename=f"{name}.svg", path=str(out))
        print(f"wrote {out / (name + '.svg')}")


def main() -> int:
    if os.geteuid() != 0:
        print("make.py: run it as root (it loads the real probes)", file=sys.stderr)
        return 1
    snaps = record(12)  # enough intervals for the history graph under the top writers
    asyncio.run(shoot(snaps, ROOT / "screenshots"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
