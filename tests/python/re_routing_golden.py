"""Independent numpy model of MoeReRouting (layer spec 4.2), shared by tests/python/test_re_routing.py and
tests/pypkg/test_re_routing_pkg.py.

It states the operator differently from the library: every row gets the key (expert, source rank) of its block
and a stable sort by that key is the output order."""

import numpy as np


def model(tokens, counts, scales):
    """(permute_tokens, permute_scales, permute_idx, expert_num) for tokens [A, H], counts [R, E] and scales [A]
    or None (then the scale output is zeros)."""
    counts = np.asarray(counts)
    R, E = counts.shape
    A = int(counts.sum())
    block_e = np.repeat(np.tile(np.arange(E), R), counts.reshape(-1))
    block_r = np.repeat(np.repeat(np.arange(R), E), counts.reshape(-1))
    order = np.argsort(block_e * R + block_r, kind="stable")
    sc = np.zeros(A, np.float32) if scales is None else np.asarray(scales)[order]
    return np.asarray(tokens)[order], sc, order.astype(np.int32), counts.sum(axis=0).astype(counts.dtype)
