"""moeroute.layer: one DeepSeek-V3-shaped MoE layer as vllm-ascend runs it on one device, on the CPU.

The call sequence is layer spec 14.1 (bf16) and 14.2 (W8A8 dynamic) through moeroute.torch_npu, the names code
written for Ascend calls (docs/layer.md):

    router    logits = f32(x) @ W_gate                 npu_grouped_matmul, one fp32 group (a plain matmul)
    gating    npu_moe_gating_top_k                     sigmoid, 8 groups, top-4 groups (sum of two best), bias,
                                                       routed scaling
    routing   npu_moe_init_routing_v2                  (aclnnMoeInitRoutingV3) quant_mode -1 (bf16) / 1 (W8A8)
    gmm1      npu_grouped_matmul x . w13               bf16 out; W8A8: int32 out (fallback (b)) or bf16 out
                                                       with the w13 scale (fallback (a)); fused: gmm1 + act in
                                                       npu_grouped_matmul_swiglu_quant (int8 out)
    act       npu_swiglu                               W8A8: npu_dequant_swiglu_quant (b) or npu_swiglu +
                                                       npu_dynamic_quant (a)
    gmm2      npu_grouped_matmul h . w2                bf16 out (W8A8: w2 scale and per-token scale)
    combine   npu_moe_token_unpermute                  the routing-weighted sum, one row per token

run_layer_ep runs the layer expert-parallel (14.3): ranks as threads of an in-process communicator, each gating its
tokens, npu_moe_distribute_dispatch_v2 -> its experts' gmm1 / act / gmm2 -> npu_moe_distribute_combine_v2.

W8A8 runs 14.2's fused gmm1 (npu_grouped_matmul_swiglu_quant, w8a8_path="fused") or one of its fallbacks.
Weights are generated deterministically (no download) by the counter-based generator `uniform`, which
examples/moe_layer.cpp implements identically, so the C++ and the Python layer see the same numbers.

Arrays are numpy: bfloat16 as raw uint16 bits (bf16=True in the operator calls).
"""

import time

import numpy as np

from . import torch_npu as _tn

# name -> (hidden H, intermediate I, experts E, top_k K, default tokens N); all: 8 groups, top-4 groups
PRESETS = {
    "small": (256, 128, 16, 4, 64),          # CI: a few milliseconds
    "mid": (1024, 512, 64, 8, 512),          # the benchmark's layer
    "deepseek-v3": (7168, 2048, 256, 8, 8),  # a real checkpoint's shapes (21 GiB of bf16 expert weights)
}
STAGES = ("router", "gating", "routing", "gmm1", "act", "gmm2", "combine")
W8A8_PATHS = ("fused", "dequant-swiglu-quant", "gmm-bf16")  # layer spec 14.2: the default, fallbacks (b) and (a)


class LayerConfig:
    """The layer's shapes and routing attributes (DeepSeek-V3: groups 8, topk_groups 4, scaling 2.5)."""

    def __init__(self, hidden, inter, experts, top_k, groups=8, topk_groups=4, routed_scaling=2.5):
        self.hidden, self.inter, self.experts, self.top_k = int(hidden), int(inter), int(experts), int(top_k)
        self.groups, self.topk_groups, self.routed_scaling = int(groups), int(topk_groups), float(routed_scaling)
        if self.experts % self.groups or self.experts // self.groups < 2:
            raise ValueError("experts must be a multiple of groups (%d) with at least 2 per group" % self.groups)
        if not 1 <= self.top_k <= self.topk_groups * self.experts // self.groups:
            raise ValueError("top_k must be in [1, topk_groups * experts / groups]")

    @classmethod
    def preset(cls, name, experts=None):
        H, I, E, K, _ = PRESETS[name]
        return cls(H, I, experts or E, K)

    def __repr__(self):
        return ("LayerConfig(hidden=%d, inter=%d, experts=%d, top_k=%d, groups=%d, topk_groups=%d, "
                "routed_scaling=%g)" % (self.hidden, self.inter, self.experts, self.top_k, self.groups,
                                        self.topk_groups, self.routed_scaling))


# ---- deterministic data --------------------------------------------------------------------------------------

def uniform(seed, stream, start, count):
    """count values in [-1, 1) with 24 random bits each (exact in fp32): element i is splitmix64 of the counter
    (seed << 56 | stream << 48) + start + i, top 24 bits. Same numbers as mr_uniform in examples/moe_layer.cpp."""
    with np.errstate(over="ignore"):
        base = np.uint64(((seed & 0xFF) << 56) | ((stream & 0xFF) << 48))
        z = np.arange(start, start + count, dtype=np.uint64) + base
        z += np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z ^= z >> np.uint64(31)
    return ((z >> np.uint64(40)).astype(np.int64) - (1 << 23)).astype(np.float64) * 2.0 ** -23


def bf16_bits(a):
    """float32 (or float64, first rounded to fp32) -> bfloat16 bits, round to nearest even (finite inputs)."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def bf16_value(bits):
    """bfloat16 bits -> float32 (exact)."""
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


class LayerWeights:
    """The layer's parameters, stored as a checkpoint stores them (vllm-ascend's layouts):
    gate float32 [E, H] and e_bias float32 [E]; bf16: w13 [E, 2I, H] and w2 [E, H, I] (bits); W8A8 (per output
    channel, symmetric): w13_q int8 [E, 2I, H] with w13_scale float32 [E, 2I], w2_q int8 [E, H, I] with w2_scale
    bfloat16 bits [E, H]. The grouped matmuls read w13 / w2 through transposed views ([E, H, 2I], [E, I, H])."""


# stream ids of the generator (shared with examples/moe_layer.cpp)
_S_X, _S_GATE, _S_BIAS, _S_W13, _S_W2 = 1, 2, 3, 4, 5


def _per_channel_int8(w, bf16_scale):
    """Symmetric per-row int8 of float64 rows w [..., K]: (q int8, scale float32 or bf16 bits)."""
    amax = np.abs(w).max(axis=-1)
    amax[amax == 0] = 1.0
    scale = (amax / 127.0).astype(np.float32)
    if bf16_scale:
        bits = bf16_bits(scale)
        sv = bf16_value(bits).astype(np.float64)
    else:
        bits, sv = scale, scale.astype(np.float64)
    q = np.clip(np.rint(w / sv[..., None]), -127, 127).astype(np.int8)
    return q, bits


def make_weights(cfg, seed=1, w8a8=False):
    """Deterministic weights of `cfg` (generated per expert, so a large preset needs no float64 copy of all)."""
    H, I, E = cfg.hidden, cfg.inter, cfg.experts
    w = LayerWeights()
    w.gate = (uniform(seed, _S_GATE, 0, E * H) * np.sqrt(3.0 / H)).astype(np.float32).reshape(E, H)
    w.e_bias = (uniform(seed, _S_BIAS, 0, E) * 0.05).astype(np.float32)
    w13 = np.empty((E, 2 * I, H), np.int8 if w8a8 else np.uint16)
    w2 = np.empty((E, H, I), np.int8 if w8a8 else np.uint16)
    if w8a8:
        w.w13_scale = np.empty((E, 2 * I), np.float32)
        w.w2_scale = np.empty((E, H), np.uint16)
    for e in range(E):
        a = bf16_bits(uniform(seed, _S_W13, e * 2 * I * H, 2 * I * H) * np.sqrt(3.0 / H)).reshape(2 * I, H)
        b = bf16_bits(uniform(seed, _S_W2, e * H * I, H * I) * np.sqrt(3.0 / I)).reshape(H, I)
        if w8a8:  # quantize the bf16 model
            w13[e], w.w13_scale[e] = _per_channel_int8(bf16_value(a).astype(np.float64), False)
            w2[e], w.w2_scale[e] = _per_channel_int8(bf16_value(b).astype(np.float64), True)
        else:
            w13[e], w2[e] = a, b
    if w8a8:
        w.w13_q, w.w2_q = w13, w2
    else:
        w.w13, w.w2 = w13, w2
    w.w8a8 = w8a8
    return w


def pack_weights(w, ctx=None, ep=1):
    """Pack the weights the layer's grouped matmuls read (bf16: w13 and w2; W8A8: w13_q, for the fused gmm1 and
    both fallbacks, and w2_q) once, as moeroute.GroupedMatmulWeights for `ctx` (the ctx later given to run_layer /
    run_layer_ep): per rank's experts when ep > 1. The layer then skips the per-call packing (the same bytes;
    docs/operators/grouped_matmul.md "Packed weights"). Returns w."""
    from . import GroupedMatmulWeights
    names = ("w13_q", "w2_q") if w.w8a8 else ("w13", "w2")
    E = getattr(w, names[0]).shape[0]
    if E % int(ep):
        raise ValueError("ep must divide the experts (%d)" % E)
    Le = E // int(ep)
    w.packed = {}
    for r in range(int(ep)):
        sl = slice(r * Le, (r + 1) * Le) if ep > 1 else slice(None)
        for name in names:
            w.packed[(name, sl.start, sl.stop)] = GroupedMatmulWeights(
                getattr(w, name)[sl].transpose(0, 2, 1), bf16=not w.w8a8, ctx=ctx)
    return w


def _gmm_weight(w, name, experts):
    """The [E, K, N] weight of a grouped matmul: packed (pack_weights) when there, else the transposed view."""
    packed = getattr(w, "packed", None) or {}
    return packed.get((name, experts.start, experts.stop), getattr(w, name)[experts].transpose(0, 2, 1))


def make_tokens(cfg, n, seed=1):
    """Deterministic hidden states x bfloat16 bits [n, H] in [-1, 1)."""
    return bf16_bits(uniform(seed, _S_X, 0, n * cfg.hidden)).reshape(n, cfg.hidden)


def checksum(bits):
    """FNV-1a (64-bit) of an array's little-endian bytes: examples/moe_layer.cpp prints the same for y."""
    h = 0xcbf29ce484222325
    a = np.asarray(bits)
    for byte in np.ascontiguousarray(a, a.dtype.newbyteorder("<")).reshape(-1).view(np.uint8).tolist():
        h = ((h ^ byte) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


# ---- the layer --------------------------------------------------------------------------------------------------

class _Clock:
    def __init__(self, times):
        self.times = times
        self.t = time.perf_counter()

    def lap(self, stage):
        t = time.perf_counter()
        if self.times is not None:
            self.times[stage] = self.times.get(stage, 0.0) + (t - self.t)
        self.t = t


def _gate(x, w, cfg, o, clock, ctx):
    """router and gating of tokens x (bfloat16 bits [N, H]) into o: logits, topk_weights, topk_ids."""
    tn = _tn
    # router: x.float() @ gate.weight.T, fp32 (a plain matmul on Ascend; here the fp32 GMM with one group)
    o["logits"] = tn.npu_grouped_matmul([bf16_value(x)], [w.gate.T[None]], split_item=2, group_type=0, ctx=ctx)[0]
    clock.lap("router")
    o["topk_weights"], o["topk_ids"], _ = tn.npu_moe_gating_top_k(
        o["logits"], cfg.top_k, bias=w.e_bias, k_group=cfg.topk_groups, group_count=cfg.groups,
        group_select_mode=1, renorm=0, norm_type=1, out_flag=False, routed_scaling_factor=cfg.routed_scaling,
        eps=1e-20, ctx=ctx)
    clock.lap("gating")


def _expert_mlp(o, w, experts, rows, row_scale, counts, w8a8_path, clock, ctx):
    """gmm1 -> act -> gmm2 of the experts `experts` (a slice of w's) on `rows` grouped by expert (`counts` rows
    each; W8A8: int8 rows with the per-row scales `row_scale`) into o: h1, h2 (bf16 and W8A8 (a)), q, q_scale
    (W8A8), h3. The fused path (npu_grouped_matmul_swiglu_quant) has no h1 and its time counts as gmm1."""
    tn = _tn
    gmm = dict(group_list=counts, group_type=0, group_list_type=1, ctx=ctx)
    if not w.w8a8:  # layer spec 14.1
        o["h1"] = tn.npu_grouped_matmul([rows], [_gmm_weight(w, "w13", experts)], split_item=2, bf16=True,
                                        **gmm)[0]
        clock.lap("gmm1")
        o["h2"] = tn.npu_swiglu(o["h1"], -1, bf16=True, ctx=ctx)
        clock.lap("act")
        o["h3"] = tn.npu_grouped_matmul([o["h2"]], [_gmm_weight(w, "w2", experts)], split_item=2, bf16=True,
                                        **gmm)[0]
    else:  # layer spec 14.2: fused, fallback (b) or (a)
        w13s = w.w13_scale[experts]
        if w8a8_path == "fused":  # 14.2's default: one call, group list as end offsets
            o["q"], o["q_scale"], _ = tn.npu_grouped_matmul_swiglu_quant(
                rows, _gmm_weight(w, "w13_q", experts), np.cumsum(counts), w13s, row_scale, ctx=ctx)
            clock.lap("gmm1")
        elif w8a8_path == "dequant-swiglu-quant":
            o["h1"] = tn.npu_grouped_matmul([rows], [_gmm_weight(w, "w13_q", experts)], split_item=3, **gmm)[0]
            clock.lap("gmm1")
            o["q"], o["q_scale"] = tn.npu_dequant_swiglu_quant(
                o["h1"], weight_scale=w13s, activation_scale=row_scale, group_index=counts, activate_left=True,
                quant_mode=1, ctx=ctx)
        else:
            o["h1"] = tn.npu_grouped_matmul([rows], [_gmm_weight(w, "w13_q", experts)], scale=[bf16_bits(w13s)],
                                            per_token_scale=[row_scale],
                                            split_item=2, bf16=True, **gmm)[0]
            clock.lap("gmm1")
            o["h2"] = tn.npu_swiglu(o["h1"], -1, bf16=True, ctx=ctx)
            o["q"], o["q_scale"] = tn.npu_dynamic_quant(o["h2"], bf16=True, ctx=ctx)
        clock.lap("act")
        o["h3"] = tn.npu_grouped_matmul([o["q"]], [_gmm_weight(w, "w2_q", experts)],
                                        scale=[w.w2_scale[experts]], per_token_scale=[o["q_scale"]], split_item=2,
                                        bf16=True, **gmm)[0]
    clock.lap("gmm2")


def _check_args(x, w, cfg, w8a8_path):
    if x.ndim != 2 or x.shape[1] != cfg.hidden:
        raise ValueError("x must be [N, %d]" % cfg.hidden)
    if w.w8a8 and w8a8_path not in W8A8_PATHS:
        raise ValueError("w8a8_path must be one of %s" % (W8A8_PATHS,))


def run_layer(x, w, cfg, w8a8_path="fused", times=None, ctx=None):
    """Run the layer on x (bfloat16 bits [N, H]) with weights `w` (make_weights); returns a dict of every stage's
    outputs (numpy): logits, topk_weights, topk_ids, expanded_x, expanded_row_idx, counts, expanded_scale, h1, h2
    (bf16; W8A8: q, q_scale, and h1 int32 or bf16), h3, y (bfloat16 bits [N, H]). `times`: a dict that receives
    seconds per stage (STAGES)."""
    tn = _tn
    _check_args(x, w, cfg, w8a8_path)
    N, E, K = x.shape[0], cfg.experts, cfg.top_k
    o = {}
    clock = _Clock(times)
    _gate(x, w, cfg, o, clock, ctx)
    o["expanded_x"], o["expanded_row_idx"], o["counts"], o["expanded_scale"] = tn.npu_moe_init_routing_v2(
        x, o["topk_ids"], active_num=N * K, expert_capacity=-1, expert_num=E, drop_pad_mode=0,
        expert_tokens_num_type=1, expert_tokens_num_flag=True, quant_mode=1 if w.w8a8 else -1,
        active_expert_range=[0, E], row_idx_type=0, bf16=True, ctx=ctx)
    clock.lap("routing")
    _expert_mlp(o, w, slice(None), o["expanded_x"], o["expanded_scale"], o["counts"], w8a8_path, clock, ctx)
    # vllm-ascend passes abs(expanded_row_idx) on A2/A3; every expert is local here, so no index is -1
    o["y"] = tn.npu_moe_token_unpermute(o["h3"], o["expanded_row_idx"], o["topk_weights"], bf16=True, ctx=ctx)
    clock.lap("combine")
    return o


def run_layer_ep(x, w, cfg, ep, w8a8_path="fused", ctx=None):
    """The layer expert-parallel over `ep` ranks (layer spec 14.3, the MC2 path; docs/layer.md): an in-process
    communicator (moeroute.hccl.comm_init_all), one Python thread per rank. Rank r takes tokens
    [r N/ep, (r+1) N/ep) and holds experts [r E/ep, (r+1) E/ep); it gates its tokens as run_layer does (per token),
    npu_moe_distribute_dispatch_v2 sends each row to the rank of its expert (quant_mode 0 for bf16, 2 for W8A8:
    DynamicQuant's int8 recipe), the rank runs its experts' gmm1 / act / gmm2 on what it received (group list =
    the expert token numbers), and npu_moe_distribute_combine_v2 sums the rows back per token with the routing
    weights. Returns a dict: logits, topk_weights, topk_ids, y (the ranks' rows concatenated, as run_layer's),
    ranks (each rank's stage outputs: expand_x, dynamic_scales, expert_token_nums, h1 ... h3, y) and seconds (wall
    time). bf16 gives run_layer's y values; W8A8 differs where the two int8 recipes round differently."""
    import threading

    from . import hccl
    tn = _tn
    _check_args(x, w, cfg, w8a8_path)
    N, E, W = x.shape[0], cfg.experts, int(ep)
    if W < 2 or E % W or N % W:
        raise ValueError("ep must be >= 2 and divide the experts (%d) and the tokens (%d)" % (E, N))
    Bs, Le = N // W, E // W
    comms = hccl.comm_init_all(W)
    ranks, errs = [None] * W, [None] * W

    def rank(c):
        r, o, clock = c.rank, {}, _Clock(None)
        xr = x[r * Bs:(r + 1) * Bs]
        _gate(xr, w, cfg, o, clock, ctx)
        o["expand_x"], o["dynamic_scales"], assist, o["expert_token_nums"], recv, _, _ = \
            tn.npu_moe_distribute_dispatch_v2(xr, o["topk_ids"], c.name, W, r, E, quant_mode=2 if w.w8a8 else 0,
                                              expert_token_nums_type=1, bf16=True)
        _expert_mlp(o, w, slice(r * Le, (r + 1) * Le), o["expand_x"], o["dynamic_scales"], o["expert_token_nums"],
                    w8a8_path, clock, ctx)
        o["y"] = tn.npu_moe_distribute_combine_v2(o["h3"], o["topk_ids"], assist, recv, o["topk_weights"], c.name, W,
                                                  r, E, bf16=True)
        return o

    def main(c):
        try:
            ranks[c.rank] = rank(c)
        except BaseException as e:  # noqa: BLE001 -- re-raised on the caller's thread
            errs[c.rank] = e

    t0 = time.perf_counter()
    threads = [threading.Thread(target=main, args=(c,)) for c in comms]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for c in comms:
            c.destroy()
    seconds = time.perf_counter() - t0
    for e in errs:
        if e is not None:
            raise e
    out = {k: np.concatenate([o[k] for o in ranks]) for k in ("logits", "topk_weights", "topk_ids", "y")}
    out["ranks"], out["seconds"] = ranks, seconds
    return out
