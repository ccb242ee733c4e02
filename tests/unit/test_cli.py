"""The command line: options, one-line errors, no tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tui import cli


def run(*args: str, as_nobody: bool = False) -> subprocess.CompletedProcess:
    kw = {}
    if as_nobody:
        if os.geteuid() != 0:
            pytest.skip("needs root to drop to nobody")

        def drop():
            os.setgid(65534)
            os.setuid(65534)

        kw["preexec_fn"] = drop
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=30,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        **kw,
    )


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--sla", "10"], "not a duration"),
        (["--sla", "0ms"], "above zero"),
        (["-i", "0"], "0.1 to 3600"),
        (["-i", "abc"], "not a number"),
        (["-p", "x"], "not a process ID"),
        (["-c", "a-name-longer-than-15"], "1 to 15 bytes"),
        (["-u", "no-such-user-wtop"], "no user named"),
        (["--map-size", "3"], "16 to 1048576"),
        (["--bogus"], "unrecognized arguments"),
        (["--no-latency", "--sla", "1ms"], "--no-latency times none"),
        (["--no-latency", "--sla", "10ms"], "--no-latency times none"),  # the default, given: still given
        (["--no-latency", "--replay", "x.wtop.gz"], "a replay shows what was recorded"),
        (["--no-latency", "--time-every-call"], "choose one"),
        (["--time-every-call", "--replay", "x.wtop.gz"], "a replay shows what was recorded"),
    ],
)
def test_bad_options_get_one_line_and_exit_2(args, fragment):
    r = run(*args)
    assert r.returncode == 2
    assert fragment in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.stderr


def test_a_pid_filter_naming_wtop_itself_is_one_line():
    """`exec wtop -p $$`: wtop's own writes would feed what it shows."""
    r = subprocess.run(
        ["sh", "-c", f'exec "{sys.executable}" -m tui.cli -p $$ --batch'],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=30,
    )
    assert r.returncode == 2 and "-p names wtop itself" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_not_root_is_one_clear_line():
    r = run(as_nobody=True)
    assert r.returncode == 1
    assert r.stderr.strip() == "wtop: loading BPF programs needs root: run it as `sudo wtop`"


def test_ebpf_prints_the_program_with_its_options():
    r = run("--ebpf", "-p", "42", "-c", "nginx", "--sla", "1ms")
    assert r.returncode == 0
    assert "#define FILTER_TGID 42" in r.stdout
    assert "#define WTOP_SLA_NS 1000000ULL" in r.stdout
    assert "RAW_TRACEPOINT_PROBE(sys_exit)" in r.stdout and "#define NR_COPY_FILE_RANGE" in r.stdout
    assert "#define FILTER_COMM_0 0x786e69676eULL" in r.stdout  # b"nginx" as a little-endian u64
    assert "#define HAVE_ENTER" in r.stdout and "RAW_TRACEPOINT_PROBE(sys_enter)" in r.stdout
    assert {"#define WTOP_PACE", "#define PACE_RUN 64"} <= set(r.stdout.splitlines())  # storms paced
    r = run("--ebpf", "--no-latency")  # no program on sys_enter: its code is compiled out
    assert r.returncode == 0 and "#define HAVE_ENTER" not in r.stdout and "#define HAVE_EXEC" in r.stdout
    assert "#define WTOP_PACE" not in r.stdout.splitlines()  # nothing to pace
    r = run("--ebpf", "--time-every-call")
    assert r.returncode == 0 and "#define HAVE_ENTER" in r.stdout.splitlines()
    assert "#define WTOP_PACE" not in r.stdout.splitlines()


def test_help_has_examples_and_version():
    r = run("--help")
    assert r.returncode == 0 and "examples:" in r.stdout and "sudo wtop -p 1234" in r.stdout
    assert run("--version").stdout.strip().startswith("wtop ")


def test_durations():
    assert cli.duration_ns("10ms") == 10_000_000
    assert cli.duration_ns("500us") == 500_000
    assert cli.duration_ns("1.5s") == 1_500_000_000
    assert cli.duration_ns("250ns") == 250


def test_missing_bcc_names_every_distribution(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "bcc" else real(name, *a))
    msg = cli.preflight()
    assert "python3-bpfcc (Debian/Ubuntu)" in msg and "python3-bcc (Fedora/RHEL)" in msg and "python-bcc (Arch)" in msg


def test_missing_headers_say_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(cli.platform, "release", lambda: "0.0.0-nonexistent")
    msg = cli.preflight()
    assert "linux-headers-0.0.0-nonexistent" in msg and "install.sh" in msg


def free_pid() -> int:
    """A PID that no process has (checked, not guessed)."""
    pid = 4_000_000
    while os.path.exists(f"/proc/{pid}"):
        pid -= 1
    return pid


@pytest.mark.parametrize("mode", [[], ["--batch"], ["--json"], ["--no-tui", "--prometheus", "9"]])
def test_a_missing_process_is_one_line_in_every_mode(mode):
    if os.geteuid() != 0:
        pytest.skip("the probes' preflight needs root first")
    pid = free_pid()
    r = run("-p", str(pid), *mode)
    assert r.returncode == 1, r.stderr
    assert r.stderr == f"wtop: no process with PID {pid}\n"  # as top -p says, before any probe loads


def test_the_dashboard_on_a_pipe_says_to_use_batch_or_json():
    if os.geteuid() != 0:
        pytest.skip("the probes' preflight needs root first")
    r = run()  # stdout is a pipe here, as under cron or `wtop > file`
    assert r.returncode == 1 and r.stdout == ""  # no escape stream written into the pipe
    assert r.stderr.startswith("wtop: the dashboard needs a terminal, and stdout is not one")
    assert "--batch" in r.stderr and "--json" in r.stderr and len(r.stderr.splitlines()) == 1
