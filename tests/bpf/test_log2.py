"""wtop's branchless log2 (writes.c) puts every value in the bucket BCC's bpf_log2l does, and
so where user space (Log2Histogram) expects it: run in the kernel with BPF_PROG_TEST_RUN on
values at and around every power of two and thousands of others."""

from __future__ import annotations

import ctypes as ct
import random
import re

import pytest

from probes import bpfsys
from probes.program import SOURCE
from probes.snapshot import Log2Histogram

pytestmark = pytest.mark.bpf

BPF_PROG_TEST_RUN = 10


class _TestRun(ct.Structure):
    _fields_ = [
        ("prog_fd", ct.c_uint32),
        ("retval", ct.c_uint32),
        ("data_size_in", ct.c_uint32),
        ("data_size_out", ct.c_uint32),
        ("data_in", ct.c_uint64),
        ("data_out", ct.c_uint64),
        ("repeat", ct.c_uint32),
        ("duration", ct.c_uint32),
        ("ctx_size_in", ct.c_uint32),
        ("ctx_size_out", ct.c_uint32),
        ("ctx_in", ct.c_uint64),
        ("ctx_out", ct.c_uint64),
        ("flags", ct.c_uint32),
        ("cpu", ct.c_uint32),
    ]


def bcc_log2l(v: int) -> int:
    """BCC's bpf_log2l: floor(log2(v)) + 1, and 1 for 0."""
    return max(v.bit_length(), 1)


def test_the_branchless_log2_is_bccs_for_every_value_tried():
    from bcc import BPF

    text = SOURCE.read_text()
    fn = re.search(r"static __always_inline u32 wtop_log2\(u64 v\)\n\{.*?\n\}\n", text, re.S).group(0)
    b = BPF(text=(fn + "int log2_of(struct bpf_raw_tracepoint_args *ctx) { return wtop_log2(ctx->args[0]); }").encode())
    fd = b.load_func(b"log2_of", BPF.RAW_TRACEPOINT).fd
    rng = random.Random(7)
    values = list(range(1030)) + [rng.getrandbits(rng.randint(1, 63)) for _ in range(4000)]
    values += [(1 << k) + d for k in range(1, 63) for d in (-1, 0, 1)]
    args = (ct.c_uint64 * 1)()
    wrong = []
    for v in values:
        args[0] = v
        attr = _TestRun(prog_fd=fd, ctx_in=ct.addressof(args), ctx_size_in=8)
        bpfsys._bpf(BPF_PROG_TEST_RUN, attr)
        if attr.retval != bcc_log2l(v):
            wrong.append((v, attr.retval))
    b.cleanup()
    assert wrong == []
    # and user space reads the buckets the same way
    assert all(Log2Histogram.bucket_of(v) == bcc_log2l(v) for v in values if v)
