"""The fleet's rules (contrib/prometheus): promtool checks them and runs their unit tests, and
every metric they use is one that wtop really exports."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from outlets.metrics import Metrics
from tests.conftest import ROOT, hist, snap

RULES = ROOT / "contrib" / "prometheus"


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is needed to test the rules (run-tests.sh installs Debian's prometheus package)")
    return path


def test_rules_are_valid_and_their_unit_tests_pass():
    check = subprocess.run([promtool(), "check", "rules", "wtop-rules.yml"], cwd=RULES, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    run = subprocess.run(
        [promtool(), "test", "rules", "wtop-rules.test.yml"], cwd=RULES, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS" in run.stdout + run.stderr


def test_every_metric_the_rules_use_is_exported():
    from dataclasses import replace

    from probes.snapshot import DiskWrites, FileWrites

    m = Metrics()
    s = replace(
        snap(1, [(1, "a", 0, 100, 1)], latency=hist(b10=1)),
        disks=(DiskWrites("8:0", "sda", 4096, 1),),
        files=(FileWrites(1, 3, "/x", "file", 100, 1, "8:0"),),
    )
    m(s)
    exported = set()
    for fam in m.collect():
        for sample in fam.samples:
            exported.add(sample.name)
    used = set(re.findall(r"(?<![:\w])(wtop_[a-z_]+)(?![:\w])", (RULES / "wtop-rules.yml").read_text()))
    assert used and used <= exported, used - exported
