"""The package in a child process made by fork (multiprocessing's default start method on Linux) after the
parent has used it with threads: the parent's worker threads do not exist in the child, so its calls must not
wait for them (src/threadpool/threadpool.c, "fork()"). The child computes npu_swiglu with a Context made before
the fork, with one of its own and with the default context, and sends the bytes back; they must be the parent's.
A hang would show as the 120 s timeout of the queue.

Run as tests/pypkg/test_package.py is:
    MOEROUTE_LIB=build/src/libmoeroute.so PYTHONPATH=python python3 -m pytest -q tests/pypkg
"""

import multiprocessing

import numpy as np
import pytest

# pkgtest first: it puts python/ (when moeroute is not installed) and tests/python on sys.path
import pkgtest  # noqa: F401
import moeroute  # noqa: E402
from moeroute import torch_npu  # noqa: E402


def _x():
    rng = np.random.default_rng(7)
    return (rng.integers(-1000, 1001, size=(256, 512)) / 128.0).astype(np.float32)


def _child(ctx, q):
    try:
        x = _x()
        with moeroute.Context(num_threads=2) as mine:
            outs = [torch_npu.npu_swiglu(x, ctx=ctx), torch_npu.npu_swiglu(x, ctx=mine), torch_npu.npu_swiglu(x)]
        q.put([o.tobytes() for o in outs])
    except Exception as e:  # reported to the parent, which fails the test with it
        q.put(repr(e))


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork on this platform")
def test_calls_in_a_forked_child():
    x = _x()
    with moeroute.Context(num_threads=2) as ctx:
        want = torch_npu.npu_swiglu(x, ctx=ctx).tobytes()
        assert torch_npu.npu_swiglu(x).tobytes() == want  # the default context: its pool now has workers
        mp = multiprocessing.get_context("fork")
        q = mp.Queue()
        p = mp.Process(target=_child, args=(ctx, q))
        p.start()
        try:
            got = q.get(timeout=120)
        finally:
            p.join(30)
            if p.is_alive():
                p.kill()
        assert not isinstance(got, str), got
        assert got == [want, want, want]
        assert p.exitcode == 0
        assert torch_npu.npu_swiglu(x, ctx=ctx).tobytes() == want  # the parent's context after the fork
