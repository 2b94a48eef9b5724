"""What every tests/pypkg test file starts from: the moeroute package (the installed one, or the source tree's
python/ when it is not importable), the golden models of tests/python on sys.path, torch when it can be
imported, the refusal status codes and a byte-for-byte comparison. conftest.py loads the library for each
test file (skipping it when libmoeroute is not found and MOEROUTE_LIB is unset)."""

import os
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

try:
    import moeroute
except ImportError:  # not installed and no PYTHONPATH: use the source tree's package
    sys.path.insert(0, os.path.join(ROOT, "python"))
    import moeroute

from moeroute import _lib  # noqa: E402

GOLDEN_DIR = os.path.join(ROOT, "tests", "python")
if GOLDEN_DIR not in sys.path:
    sys.path.insert(0, GOLDEN_DIR)

try:
    import torch
except ImportError:
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not importable")

SHAPE = _lib.MOEROUTE_ERR_INVALID_SHAPE
DTYPE = _lib.MOEROUTE_ERR_INVALID_DTYPE
VALUE = _lib.MOEROUTE_ERR_INVALID_VALUE
NULLP = _lib.MOEROUTE_ERR_NULL_POINTER


def load_library():
    """The library, or a skip of the calling test module when it is not found and MOEROUTE_LIB is unset."""
    try:
        return _lib.get()
    except moeroute.MoerouteLibraryError as e:
        if os.environ.get("MOEROUTE_LIB"):
            raise
        pytest.skip("libmoeroute not found (set MOEROUTE_LIB): %s" % e)


def same_bytes(a, b):
    """The same bytes (shapes and dtypes aside: callers check those where they matter)."""
    return np.array_equal(np.asarray(a).view(np.uint8), np.asarray(b).view(np.uint8))


def strided_view(rng, a):
    """The same logical 2-D array as a contiguous, Fortran-ordered, column-strided or negatively strided view."""
    kind = int(rng.integers(4))
    if kind == 1:
        return np.asfortranarray(a)
    if kind == 2:
        big = np.zeros((a.shape[0], 2 * a.shape[1] + 1), a.dtype)
        big[:, 1::2] = a
        return big[:, 1::2]
    if kind == 3:
        return a[::-1].copy()[::-1]
    return a
