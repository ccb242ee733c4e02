"""The plain-text outlets: --batch text blocks and the exit summary, disks included."""

from __future__ import annotations

from dataclasses import replace

from outlets.batch import text_block
from outlets.summary import summary
from probes import runstate
from probes.snapshot import DiskWrites, FileWrites, Skipped
from tests.conftest import hist, snap


def disk_snap(seq: int):
    s = snap(seq, [(10, "pg", 0, 8192, 2)], skipped=Skipped(0, 0, 0, 1))
    return replace(
        s,
        files=(FileWrites(10, 3, "/data/base/1", "file", 8192, 2, "8:0"),),
        disks=(DiskWrites("8:0", "sda", 4096, 1, 0, 2, hist(b17=1), 100_000, 100_000),),
    )


def test_batch_text_has_a_line_per_disk():
    s = disk_snap(1)
    text = text_block(s, runstate.merge([s]), 10)
    line = next(ln for ln in text.splitlines() if ln.startswith("disk "))
    assert line.startswith("disk sda (8:0): 4.0 KiB/s 1.0 IOPS (4,096 bytes in 1 requests)")
    assert "max 100.0us" in line and "flushes 2" in line and "write() to its files 8.0 KiB/s" in line
    assert "disk 1, exits lost 0, disk missed 0)" in text.splitlines()[0]  # the skipped counter names the disk reason


def test_summary_lists_the_disks_with_write_next_to_them():
    state = runstate.merge([disk_snap(1), disk_snap(2)])
    text = summary(state)
    row = next(ln for ln in text.splitlines() if ln.startswith("sda"))
    # written 2 x 4 KiB in 2 requests, 4 flushes; p50 estimated in [65.5us, 131us) capped at the max
    assert row.split() == ["sda", "8.0", "KiB", "2", "4", "82.8us", "100.0us", "16.0", "KiB", "0", "B"]
    assert text.splitlines()[-2].split()[0] == "DISK"
    assert "disk 2, exits lost 0, disk missed 0)" in text


def test_without_latency_the_reports_say_so_instead_of_empty_figures():
    """--no-latency (or a kernel without sys_enter): the batch line and the summary say why
    there is no latency, rather than percentiles of nothing and empty histograms."""
    from probes.program import NO_LATENCY_NOTE
    from probes.snapshot import Family

    sync = Family("sync", calls=2, sla_ns=10_000_000)
    s = replace(snap(1, [(10, "pg", 0, 8192, 2)], sizes=hist(b13=2)), notes=(NO_LATENCY_NOTE,), families=(sync,))
    s = replace(s, sync_calls=(2, 0, 0, 0, 0, 0))
    lines = text_block(s, runstate.merge([s]), 10).splitlines()
    assert "latency " + NO_LATENCY_NOTE.split(": ", 1)[1] in lines
    assert next(ln for ln in lines if ln.startswith("syncs ")) == "syncs fsync 2"  # no latency of nothing
    text = summary(runstate.merge([s]))
    assert "@latency: off (--no-latency): calls are counted at their exit alone" in text
    assert "@latency[" not in text and "p50" not in text
    assert "[4K, 8K)" in text  # the sizes are whole
    timed = summary(runstate.merge([replace(s, notes=())]))
    assert "@latency:\n" in timed and "p50" in timed


def test_paced_latency_says_how_many_calls_were_timed():
    """A storm's timing paced: the batch line and the summary say whose figures the latency's
    are (the timed calls, of all that were made); with every call timed they say nothing more."""
    from probes.program import PACE_NOTE
    from probes.snapshot import Family

    write = Family("write", calls=1000, latency=hist(b10=200), sla_ns=10_000_000)
    send = Family("send", calls=8, latency=hist(b12=8), sla_ns=10_000_000)
    s = replace(
        snap(1, [(10, "pg", 0, 64_000, 1000)], latency=hist(b10=200)), notes=(PACE_NOTE,), families=(write, send)
    )
    lines = text_block(s, runstate.merge([s]), 10).splitlines()
    line = next(ln for ln in lines if ln.startswith("latency "))
    assert line.endswith("(timed 200 of 1,000 calls)") and "p50" in line
    assert "note: " + PACE_NOTE in lines
    text = summary(runstate.merge([s, replace(s, seq=2)]))
    assert "@latency (timed 400 of 2,000 calls):" in text
    assert "@latency[send]:" in text  # every send was timed: nothing to say
    whole = replace(s, families=(replace(write, latency=hist(b10=1000)), send), latency=hist(b10=1000))
    assert "timed" not in next(
        ln for ln in text_block(whole, runstate.merge([whole]), 10).splitlines() if ln.startswith("latency ")
    )
