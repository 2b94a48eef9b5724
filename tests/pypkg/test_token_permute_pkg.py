"""moeroute.npu_moe_token_permute (torch_npu's name and argument order) against a numpy model of layer spec 2.3."""
import numpy as np
import pytest

import moeroute


def model(tokens, indices, num_out):
    flat = np.asarray(indices).reshape(-1)
    L = flat.size
    n = num_out + L if num_out <= 0 else num_out
    n = min(max(n, 0), L)
    k = indices.shape[1] if np.ndim(indices) == 2 else 1
    perm = np.argsort(flat, kind="stable")
    inv = np.empty(L, np.int32)
    inv[perm] = np.arange(L, dtype=np.int32)
    return tokens[perm[:n] // k], inv


def test_doc_example():
    tokens = np.array([[0.1] * 4, [0.2] * 4, [0.3] * 4], np.float32)
    idx = np.array([[1, 2], [0, 1], [0, 2]], np.int32)
    p, s = moeroute.npu_moe_token_permute(tokens, idx)
    assert s.tolist() == [2, 4, 0, 3, 1, 5] and np.array_equal(p, tokens[[1, 2, 0, 1, 0, 2]])
    p, s = moeroute.npu_moe_token_permute(tokens, idx, num_out_tokens=-2)
    assert p.shape == (4, 4)


@pytest.mark.parametrize("seed", range(40))
def test_random(seed):
    rng = np.random.default_rng(seed)
    T, k = int(rng.integers(0, 30)), int(rng.integers(1, 5))
    trailing = tuple(int(v) for v in rng.integers(1, 5, size=int(rng.integers(1, 3))))
    dt = [np.float16, np.float32, np.int8][seed % 3]
    tokens = rng.integers(-100, 100, size=(T,) + trailing).astype(dt)
    idx = rng.integers(0, 7, size=(T, k) if k > 1 or seed % 2 else (T,)).astype([np.int32, np.int64][seed % 2])
    if seed % 5 == 0 and T > 1:
        tokens = tokens[::-1]  # negative row stride, read in place
    num_out = int(rng.choice([0, -1, max(1, T * k // 2)]))
    p, s = moeroute.npu_moe_token_permute(tokens, idx, num_out_tokens=num_out)
    wp, ws = model(tokens, idx, num_out)
    assert p.shape == wp.shape and np.array_equal(p, wp) and np.array_equal(s, ws)


def test_refusals():
    tokens = np.zeros((3, 4), np.float32)
    with pytest.raises(moeroute.MoerouteError):
        moeroute.npu_moe_token_permute(tokens, np.zeros((3, 2), np.int32), padded_mode=True)
    with pytest.raises(moeroute.MoerouteError):
        moeroute.npu_moe_token_permute(tokens, np.zeros((2, 2), np.int32))
    with pytest.raises(moeroute.MoerouteError) as e:
        moeroute.npu_moe_token_permute(tokens, np.full((3, 2), 2 ** 40, np.int64))
    assert "outside int32" in str(e.value)
    with pytest.raises(TypeError):
        moeroute.npu_moe_token_permute(tokens, np.zeros((3, 2), np.float32))


def test_torch_npu_module_names():
    """moeroute.torch_npu holds every implemented operator under its torch_npu name, and nothing else."""
    from moeroute import torch_npu
    # one line per operator issue: a new operator adds its torch_npu names here
    assert sorted(torch_npu.__all__) == sorted([
        "npu_moe_init_routing", "npu_moe_init_routing_quant", "npu_moe_init_routing_v2",
        "npu_moe_compute_expert_tokens",                                               # routing family
        "npu_moe_token_permute", "npu_moe_token_unpermute", "npu_moe_finalize_routing", "npu_moe_re_routing",
        "npu_moe_gating_top_k", "npu_moe_gating_top_k_softmax", "npu_moe_gating_top_k_softmax_v2",  # gating
        "npu_grouped_matmul", "npu_dynamic_quant", "npu_swiglu", "npu_dequant_swiglu_quant",  # expert MLP
        "npu_grouped_matmul_swiglu_quant",
        "npu_moe_distribute_dispatch_v2", "npu_moe_distribute_combine_v2",                    # expert parallelism
        "npu_moe_distribute_dispatch", "npu_moe_distribute_combine",
    ])
    for name in torch_npu.__all__:
        assert getattr(torch_npu, name) is getattr(moeroute, name)
    import inspect
    assert list(inspect.signature(torch_npu.npu_moe_token_permute).parameters)[:4] == [
        "tokens", "indices", "num_out_tokens", "padded_mode"]
