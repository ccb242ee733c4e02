#!/usr/bin/env bash
# wtop set-up on Debian or Ubuntu: system packages, kernel headers, the Python environment,
# the `wtop` command on root's PATH; then it starts the dashboard (unless --no-start or no terminal).
#   ./install.sh            install everything and start wtop (as root, or it asks sudo)
#   ./install.sh --no-start install only
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
start=1
[ "${1:-}" = "--no-start" ] && start=0
say() { printf 'install.sh: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# As root (a minimal Debian has no sudo), or as a user with sudo: then it asks for it.
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || die "run it as root (there is no sudo here)"
    exec sudo -- "$0" "$@"
fi
command -v apt-get >/dev/null || die "this script knows Debian and Ubuntu (apt-get); elsewhere install BCC's python bindings (python3-bcc on Fedora/RHEL, python-bcc on Arch) and kernel headers, then: python3 -m venv --system-site-packages .venv && .venv/bin/pip install -e ."

export DEBIAN_FRONTEND=noninteractive
release="$(uname -r)"
arch="$(dpkg --print-architecture)"
pkgs=(python3 python3-venv python3-bpfcc sudo)
apt_quiet() { apt-get -q -o Dpkg::Use-Pty=0 "$@" >/tmp/wtop-apt.log 2>&1 || { tail -20 /tmp/wtop-apt.log >&2; die "apt-get $* failed (log: /tmp/wtop-apt.log)"; }; }

say "updating the package lists"
apt_quiet update
say "installing ${pkgs[*]}"
apt_quiet install -y "${pkgs[@]}"

# Kernel headers: BCC compiles its C against /lib/modules/$(uname -r)/build. Prefer the
# exact package; when the running kernel has none (custom or cloud kernels), fall back to
# the distribution's generic headers: wtop uses only tracepoints and BPF helpers and reads
# no kernel structs, so a mismatched minor version does not change what it counts.
moddir="/lib/modules/$release"
if [ -e "$moddir/build/include" ] || [ -e "$moddir/source/include" ]; then
    say "kernel headers for $release: present"
elif apt-cache show "linux-headers-$release" >/dev/null 2>&1; then
    say "installing linux-headers-$release"
    apt_quiet install -y "linux-headers-$release"
else
    if grep -qi ubuntu /etc/os-release; then meta="linux-headers-generic"; else meta="linux-headers-$arch"; fi
    say "WARNING: no headers package for kernel $release; falling back to $meta"
    apt_quiet install -y "$meta"
    hdr="$(ls -d /usr/src/linux-headers-*-"$arch" /usr/src/linux-headers-*-generic 2>/dev/null | sort -V | tail -1 || true)"
    [ -n "$hdr" ] || die "no headers found under /usr/src after installing $meta"
    common="${hdr%-*}-common"
    mkdir -p "$moddir"
    ln -sfn "$hdr" "$moddir/build"
    if [ -d "$common" ]; then ln -sfn "$common" "$moddir/source"; else ln -sfn "$hdr" "$moddir/source"; fi
    say "WARNING: linked $moddir/build -> $hdr (headers of another kernel; fine for wtop, which reads no kernel structs)"
fi

# tracefs: minimal systems may not mount it.
if [ ! -e /sys/kernel/tracing/events ] && [ ! -e /sys/kernel/debug/tracing/events ]; then
    say "mounting tracefs on /sys/kernel/tracing"
    mount -t tracefs nodev /sys/kernel/tracing || die "could not mount tracefs on /sys/kernel/tracing"
fi

# The Python environment: Debian's interpreter (the only one BCC's bindings import in),
# with the system site-packages so that `import bcc` works inside the venv.
py=/usr/bin/python3
[ -x "$py" ] || die "$py is missing"
if [ ! -x "$here/.venv/bin/python" ] || ! "$here/.venv/bin/python" -c "import bcc" 2>/dev/null; then
    say "creating the Python environment in $here/.venv"
    rm -rf "$here/.venv"
    "$py" -m venv --system-site-packages "$here/.venv"
fi
say "installing wtop into it"
"$here/.venv/bin/pip" install -q --disable-pip-version-check -e "$here" >/tmp/wtop-pip.log 2>&1 \
    || { tail -20 /tmp/wtop-pip.log >&2; die "pip install failed (log: /tmp/wtop-pip.log)"; }
"$here/.venv/bin/python" -c "import bcc, textual, plotext, numpy" || die "the environment cannot import bcc, textual, plotext and numpy"
# wtop's own modules compiled to bytecode now (pip compiles the packages it installs, not an
# editable project's): a start that compiles them from source takes 0.1 s more (0.48-0.52
# against 0.36-0.38 s to the first figures here), and one whose environment has
# PYTHONDONTWRITEBYTECODE set would do it at every start.
"$here/.venv/bin/python" -m compileall -q "$here/probes" "$here/tui" "$here/outlets" >/dev/null \
    || die "could not compile wtop's modules to bytecode"
ln -sfn "$here/.venv/bin/wtop" /usr/local/bin/wtop
# The first start compiles the probes with BCC (1-2 s); every start after it loads what the
# compile cache kept (/var/cache/wtop, probes/progcache.py) in about 0.15 s. Compile them now,
# with one short interval, so that the user's first `sudo wtop` is as quick as the next (and
# the first `sudo wtop --no-latency` or `--time-every-call`, whose programs differ).
if "$here/.venv/bin/wtop" --json 0.1 1 >/dev/null 2>/tmp/wtop-prepare.log \
    && "$here/.venv/bin/wtop" --json --no-latency 0.1 1 >/dev/null 2>>/tmp/wtop-prepare.log \
    && "$here/.venv/bin/wtop" --json --time-every-call 0.1 1 >/dev/null 2>>/tmp/wtop-prepare.log; then
    say "probes compiled and cached: the first start is as quick as the next"
else
    say "WARNING: the probes could not be loaded now (log: /tmp/wtop-prepare.log): the first start will say why"
fi
say "done: \`sudo wtop\` works from any directory ($(/usr/local/bin/wtop --version))"

if [ "$start" = 1 ] && [ -t 0 ] && [ -t 1 ]; then
    exec /usr/local/bin/wtop
fi
