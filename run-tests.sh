#!/usr/bin/env bash
# Install what the tests need and run them all (real BPF probes included: run as root).
#   ./run-tests.sh [pytest args]      (as root, or it asks sudo)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
if [ "$(id -u)" != 0 ]; then  # the BPF tests load real probes: root, or sudo to become it
    command -v sudo >/dev/null || { echo "run-tests.sh: run it as root (the BPF tests load real probes)" >&2; exit 1; }
    exec sudo -- "$0" "$@"
fi
./install.sh --no-start
export DEBIAN_FRONTEND=noninteractive
# tmux drives the real dashboard in the end-to-end tests; bpftool checks nothing is left
# loaded; gcc builds the test helpers and the benchmark's writer; util-linux (losetup,
# fsfreeze) and e2fsprogs (mkfs.ext4) give the disk tests block devices of their own;
# bpftrace is the ground truth of the seed's @[comm] map (and a peer in the benchmark);
# prometheus brings promtool, which checks and unit-tests contrib/prometheus's rules;
# fio is the ground truth of the io_uring and libaio tests (its own report of what it wrote).
apt-get install -y -q -o Dpkg::Use-Pty=0 tmux bpftool gcc util-linux e2fsprogs bpftrace fio >/tmp/wtop-apt-tests.log 2>&1 \
    || { tail -20 /tmp/wtop-apt-tests.log >&2; exit 1; }
if ! command -v promtool >/dev/null; then
    # Only promtool is needed: where systemd runs, installing the package would also start a
    # Prometheus server (and enable it at boot). policy-rc.d keeps it from starting meanwhile.
    prc=/usr/sbin/policy-rc.d
    made=0
    if [ ! -e "$prc" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$prc"
        chmod 755 "$prc"
        made=1
    fi
    status=0
    apt-get install -y -q -o Dpkg::Use-Pty=0 --no-install-recommends prometheus >>/tmp/wtop-apt-tests.log 2>&1 || status=$?
    if [ "$made" = 1 ]; then rm -f "$prc"; fi
    if [ "$status" != 0 ]; then tail -20 /tmp/wtop-apt-tests.log >&2; exit 1; fi
    if [ -d /run/systemd/system ]; then systemctl disable --now prometheus >/dev/null 2>&1 || true; fi
fi
.venv/bin/pip install -q --disable-pip-version-check -e ".[test]" >/tmp/wtop-pip-tests.log 2>&1 \
    || { tail -20 /tmp/wtop-pip-tests.log >&2; exit 1; }
.venv/bin/ruff check .
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"
