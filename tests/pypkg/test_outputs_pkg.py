"""out= arguments and the output pool (python/moeroute/_outputs.py) of every operator of the package.

The reference is each function's own functional form (compared with the numpy golden models byte for byte
by the other files of tests/pypkg) and, for one case, the golden model directly. Run by CTest as part of
`python_package`; by hand:
    MOEROUTE_LIB=build/src/libmoeroute.so PYTHONPATH=python python3 -m pytest -q tests/pypkg/test_outputs_pkg.py
"""

import os
import subprocess
import sys

import numpy as np
import pytest

# pkgtest first: it puts python/ (when moeroute is not installed) and tests/python on sys.path
from pkgtest import ROOT
import moeroute  # noqa: E402
import moe_golden as golden  # noqa: E402

from moeroute import _outputs  # noqa: E402

SEED = int(os.environ.get("MOEROUTE_TEST_SEED", "20261201"))
print("test_outputs_pkg seed", SEED)


def routing_case(n=37, k=4, h=19, experts=7, dtype=np.float16, seed=SEED):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h)).astype(dtype)
    e = rng.integers(0, experts, size=(n, k)).astype(np.int32)
    return x, e


def like(outputs, fill):
    """Arrays of the outputs' shapes and dtypes holding `fill` (None stays None)."""
    return tuple(None if o is None else np.full(o.shape, fill, dtype=o.dtype) for o in outputs)


def same(a, b):
    assert len(a) == len(b)
    for u, v in zip(a, b):
        assert (u is None) == (v is None)
        if u is not None:
            assert u.dtype == v.dtype and u.shape == v.shape and u.tobytes() == v.tobytes()


# Every tuple-returning function: (name, call(out) -> outputs). Each call's outputs are all written by the
# operator (no undefined parts), so a given array ends up equal to the new one.
def _calls():
    x, e = routing_case()
    n, k = e.shape
    xs, es = routing_case(n=8, k=2, h=4, experts=3, dtype=np.float32)
    perm, sidx = moeroute.npu_moe_token_permute(xs, es)
    probs = np.random.default_rng(SEED).random((8, 2)).astype(np.float32)
    return [
        ("npu_moe_init_routing", lambda out=None: moeroute.npu_moe_init_routing(x, None, e, 30, out=out)),
        ("moe_init_routing_quant",
         lambda out=None: moeroute.moe_init_routing_quant(x, None, e, n, 7.5, 0.25, out=out)),
        ("npu_moe_init_routing_quant",
         lambda out=None: moeroute.npu_moe_init_routing_quant(x, e, expert_num=7, expert_tokens_num_mode=2,
                                                              active_num=0, out=out)),
        ("moe_init_routing_v2",
         lambda out=None: moeroute.moe_init_routing_v2(x, e, expert_num=7, expert_capacity=5, drop_pad_mode=1,
                                                       expert_tokens_before_capacity_flag=True, out=out)),
        ("npu_moe_init_routing_v2",
         lambda out=None: moeroute.npu_moe_init_routing_v2(x, e, expert_num=7, expert_tokens_num_type=1,
                                                           expert_tokens_num_flag=True, quant_mode=1, out=out)),
        ("npu_moe_token_permute", lambda out=None: moeroute.npu_moe_token_permute(xs, es, out=out)),
        ("npu_moe_compute_expert_tokens",
         lambda out=None: (moeroute.npu_moe_compute_expert_tokens(np.sort(e.reshape(-1)), 7, out=out[0] if out
                                                                  else None),)),
        ("npu_moe_token_unpermute",
         lambda out=None: (moeroute.npu_moe_token_unpermute(perm * 2, sidx, probs, out=out[0] if out else None),)),
        ("npu_moe_finalize_routing",
         lambda out=None: (moeroute.npu_moe_finalize_routing(perm, xs, None, None, probs, sidx, None,
                                                             drop_pad_mode=2, out=out[0] if out else None),)),
    ]


CALLS = _calls()


@pytest.mark.parametrize("name,call", CALLS, ids=[c[0] for c in CALLS])
def test_out_is_written_and_returned(name, call):
    want = call()
    out = like(want, 0x5A)
    got = call(out)
    same(got, want)
    for g, o in zip(got, out):
        assert g is o  # the caller's arrays themselves
    # None entries are allocated; the others are used
    partial = tuple(None if i == 0 else o for i, o in enumerate(like(want, 0x11)))
    if len(partial) > 1:
        got = call(partial)
        same(got, want)
        assert got[0] is not None and all(g is p for g, p in zip(got[1:], partial[1:]))


def test_matches_golden_model():
    x, e = routing_case(dtype=np.float32)
    n, k = e.shape
    want = golden.init_routing_quant(x, golden.canonical_row_idx(n, k), e, n, 3.0, 0.5, "f32")
    out = (np.empty((n * k, x.shape[1]), np.int8), np.empty(n * k, np.int32), np.empty(n * k, np.int32))
    got = moeroute.moe_init_routing_quant(x, None, e, n, 3.0, 0.5, out=out)
    same(got, want)


@pytest.mark.parametrize("name,call", CALLS, ids=[c[0] for c in CALLS])
def test_out_checks(name, call):
    want = call()
    first = want[0]
    wrong_dtype = np.dtype(np.float64) if first.dtype != np.float64 else np.dtype(np.int8)
    cases = [
        # (replacement for out[0], exception)
        (np.empty(first.shape, wrong_dtype), TypeError),
        (np.empty((first.shape[0] + 1,) + first.shape[1:], first.dtype), ValueError),
        (bytearray(first.nbytes), TypeError),
    ]
    if first.ndim == 2 and first.shape[0] > 1 and first.shape[1] > 1:
        cases.append((np.empty(first.shape[::-1], first.dtype).T, ValueError))  # Fortran order
    ro = np.empty(first.shape, first.dtype)
    ro.flags.writeable = False
    cases.append((ro, ValueError))
    for bad, exc in cases:
        out = like(want, 7)
        keep = [o.copy() if o is not None else None for o in out]
        with pytest.raises(exc) as ei:
            call((bad,) + out[1:])
        assert isinstance(ei.value, moeroute.MoerouteError), ei.value
        same(out, keep)  # nothing written
    if len(want) > 1:
        with pytest.raises(ValueError, match="out must hold %d entries" % len(want)):
            call(like(want, 0)[:-1])


def test_array_for_an_absent_output_is_refused():
    x, e = routing_case()
    want = moeroute.npu_moe_init_routing_quant(x, e, expert_num=7, active_num=0)
    assert want[2] is None
    out = list(like(want, 0))
    out[2] = np.empty(7, np.int32)
    with pytest.raises(ValueError, match=r"out\[2\]: this call returns no such output"):
        moeroute.npu_moe_init_routing_quant(x, e, expert_num=7, active_num=0, out=tuple(out))


def test_refused_call_leaves_out_untouched():
    x, e = routing_case()
    n, k = e.shape
    row = np.arange(n * k, dtype=np.int32).reshape(n, k)
    row[3, 1] = row[0, 0]  # not a permutation: refused by the library
    out = (np.full((n * k, x.shape[1]), 9, np.int8), np.full(n * k, -7, np.int32), np.full(n * k, -7, np.int32))
    with pytest.raises(ValueError, match="permutation"):
        moeroute.moe_init_routing_quant(x, row, e, n, 1.0, 0.0, out=out)
    assert (out[0] == 9).all() and (out[1] == -7).all() and (out[2] == -7).all()


def test_v3_out_keeps_undefined_parts_new_outputs_zero_them():
    x, e = routing_case(n=16, k=2, experts=4)
    kw = dict(expert_num=4, active_expert_range=[1, 3], expert_tokens_num_type=1, expert_tokens_num_flag=True,
              quant_mode=-1)
    ex, er, cnt, es = moeroute.npu_moe_init_routing_v2(x, e, **kw)
    v = int(cnt.sum())
    assert v < 32 and not ex[v:].view(np.uint16).any() and not es[v:].any()
    out = like((ex, er, cnt, es), 3)
    got = moeroute.npu_moe_init_routing_v2(x, e, out=out, **kw)
    assert got[0][:v].tobytes() == ex[:v].tobytes() and got[1].tobytes() == er.tobytes()
    assert (got[0][v:].view(np.uint16) == np.float16(3).view(np.uint16)).all()  # left as it was


# ---- the pool --------------------------------------------------------------------------------------------

BIG = dict(n=512, k=8, h=1024, experts=64)  # expanded_x 4 MiB: from the pool


def pooled(a):
    """Whether the array's memory is a pool buffer (its base chain ends at a memoryview)."""
    while isinstance(a, np.ndarray):
        a = a.base
    return isinstance(a, memoryview)


def test_pool_reuses_aligned_buffers_and_keeps_live_ones():
    prev = moeroute.set_output_pool(True)
    try:
        x, e = routing_case(**BIG)
        n, k = e.shape
        a = moeroute.moe_init_routing_quant(x, None, e, n, 2.0, 0.0)
        assert pooled(a[0])
        addr = a[0].ctypes.data
        assert addr % (2 << 20) == 0
        first = a[0].copy()
        del a
        b = moeroute.moe_init_routing_quant(x, None, e, n, 2.0, 0.0)
        assert b[0].ctypes.data == addr  # the returned buffer, reused
        assert b[0].tobytes() == first.tobytes()
        view = b[0][5:9]  # a view keeps the buffer: the next call gets another one
        del b
        c = moeroute.moe_init_routing_quant(x * 2, None, e, n, 2.0, 0.0)
        assert c[0].ctypes.data != addr
        assert view.tobytes() == first[5:9].tobytes()
        # small outputs are numpy's own
        assert not pooled(c[1]) and c[1].nbytes < _outputs.POOL_MIN_BYTES
    finally:
        moeroute.set_output_pool(*prev)


def test_pool_buffers_are_rezeroed_where_outputs_start_as_zeros():
    prev = moeroute.set_output_pool(True)
    try:
        x, e = routing_case(**BIG)
        kw = dict(expert_num=64, expert_tokens_num_type=1, expert_tokens_num_flag=True, quant_mode=1)
        full = moeroute.npu_moe_init_routing_v2(x, e, **kw)
        addr = full[0].ctypes.data
        assert full[0].any()
        del full
        part = moeroute.npu_moe_init_routing_v2(x, e, active_expert_range=[0, 8], **kw)
        assert part[0].ctypes.data == addr  # the dirty buffer of the first call
        v = int(part[2].sum())
        assert v < part[0].shape[0] and not part[0][v:].any()
    finally:
        moeroute.set_output_pool(*prev)


def test_pool_switch():
    prev = moeroute.set_output_pool(False)
    try:
        x, e = routing_case(**BIG)
        a = moeroute.moe_init_routing_quant(x, None, e, 512, 2.0, 0.0)
        assert not pooled(a[0]) and a[0].flags.owndata
    finally:
        assert moeroute.set_output_pool(*prev) == (False, prev[1])
    code = ("import numpy as np, moeroute\n"
            "a = moeroute.npu_moe_token_permute(np.ones((512, 1024), np.float32), np.zeros((512, 2), np.int32))\n"
            "b = a[0]\n"
            "while isinstance(b, np.ndarray): b = b.base\n"
            "print(type(b).__name__)\n")
    env = dict(os.environ, MOEROUTE_OUTPUT_POOL="0", PYTHONPATH=os.path.join(ROOT, "python"))
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() != "memoryview"
