"""A float64 numpy reference of the MoE layer of moeroute.layer (layer spec 14.1 / 14.2) and the checks of the
library's layer against it, stage by stage and end to end, with the bounds of docs/layer.md.

Independent of the library: numpy only. Gating selects in float64 with the operators' tie rule (larger score
first, equal scores by lower index: a stable sort), routing is a stable sort by expert, the matmuls, SwiGLU
and the combine are float64. Every bound is an elementwise bound on |library - reference|, built from the
operators' documented roundings (docs/numerics.md, docs/operators/grouped_matmul.md#error-bound) and carried
through the later stages to first order (plus the second-order products of the errors themselves).

`check_layer(x, w, cfg, lib, path)` returns a list of Check rows; a row fails when its error exceeds its bound.
"""

import numpy as np

U32 = 2.0 ** -24        # unit roundoff of fp32
U16 = 2.0 ** -8         # unit roundoff of bfloat16 (8 significant bits)
ETA16 = 2.0 ** -134     # half the smallest bfloat16 subnormal
TIE_TOL = 2.0 ** -20    # score gap below which the library and float64 may order two experts differently
SILU_LIP = 1.1          # |silu'(x)| <= 1.0999 for every x


def bf16(bits):
    """bfloat16 bits -> float64 (exact)."""
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32).astype(np.float64)


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def silu(v):
    with np.errstate(over="ignore"):
        return v / (1.0 + np.exp(-v))


def gmm_bound(r, S, K, u_out, eta_out, e_in=0.0):
    """grouped_matmul.md's bound for reduction size K (fp32 sums of K+1 exact terms, one rounding to the output),
    plus e_in, the inputs' own error carried through the matmul."""
    g = 1.01 * (K + 1) * U32
    return e_in + g * S + u_out * (np.abs(r) + e_in + g * S) + (K + 1) * 2.0 ** -150 + eta_out


class Check:
    def __init__(self, name, err, bound, note=""):
        err, bound = np.asarray(err, np.float64), np.asarray(bound, np.float64)
        self.name, self.note = name, note
        self.max_err = float(err.max()) if err.size else 0.0
        with np.errstate(divide="ignore", invalid="ignore"):
            use = np.where(bound > 0, err / bound, np.where(err > 0, np.inf, 0.0))
        self.use = float(use.max()) if use.size else 0.0
        self.ok = bool(np.all(err <= bound))

    def __str__(self):
        return "%-26s max |err| %-10.3g max err/bound %-8.3g %s%s" % (
            self.name, self.max_err, self.use, "ok" if self.ok else "BOUND BROKEN",
            ("  (" + self.note + ")") if self.note else "")


class Exact(Check):
    """A check that must hold bit for bit (bound 0); max_err counts the differing elements."""

    def __init__(self, name, got, want, note=""):
        diff = np.asarray(got) != np.asarray(want)
        Check.__init__(self, name, diff.astype(np.float64), np.zeros(diff.shape), note)
        self.max_err = float(diff.sum())

    def __str__(self):
        return "%-26s %-47s %s%s" % (self.name, "exact: %d element(s) differ" % self.max_err,
                                     "ok" if self.ok else "BOUND BROKEN",
                                     ("  (" + self.note + ")") if self.note else "")


# ---- gating ----------------------------------------------------------------------------------------------------

def select(logits, bias, cfg):
    """float64 gating selection: (ids [N, K] int64, s = sigmoid(logits) [N, E], b = s + bias, group scores)."""
    N, E = logits.shape
    G, P = cfg.groups, cfg.experts // cfg.groups
    s = sigmoid(logits)
    b = s + bias[None, :]
    top2 = -np.sort(-b.reshape(N, G, P), axis=2)[:, :, :2]
    gs = top2[:, :, 0] + top2[:, :, 1]
    groups = np.argsort(-gs, axis=1, kind="stable")[:, :cfg.topk_groups]
    mask = np.zeros((N, G), bool)
    np.put_along_axis(mask, groups, True, axis=1)
    cand = np.where(np.repeat(mask, P, axis=1), b, -np.inf)
    ids = np.argsort(-cand, axis=1, kind="stable")[:, :cfg.top_k]
    return ids, s, b, gs


def near_tie_rows(lib_ids, logits, bias, cfg, tol):
    """(rows whose ids differ from float64's, rows among them that are NOT explained by near ties).

    A differing row is a near tie when, on float64 scores b and group scores gs: every group the library took an
    expert from scores within tol of the topk_groups-th best group; the library's experts are in descending b
    within tol; and no expert of a group that must be chosen (gs above the topk_groups-th best by more than tol)
    that the library left out beats the library's last expert by more than tol. tol is per row."""
    ids, _, b, gs = select(logits, bias, cfg)
    P = cfg.experts // cfg.groups
    differ = np.nonzero(np.any(ids != lib_ids, axis=1))[0]
    bad = []
    for r in differ:
        t = float(np.broadcast_to(tol, (logits.shape[0],))[r])
        kth = np.sort(gs[r])[::-1][cfg.topk_groups - 1]
        li = lib_ids[r].astype(np.int64)
        ok = np.all(gs[r][li // P] >= kth - 2 * t)
        ok &= np.all(np.diff(b[r][li]) <= t)
        sure = np.nonzero(gs[r] > kth + 2 * t)[0]
        others = [e for g in sure for e in range(g * P, (g + 1) * P) if e not in set(li.tolist())]
        if others:
            ok &= np.max(b[r][others]) <= b[r][li].min() + t
        if not ok:
            bad.append(int(r))
    return differ, bad


def gating_weights(logits, e_logit, ids, cfg):
    """float64 routing weights of the experts `ids` and their bound: the library's fp32 chain (sigmoid within
    1 ulp, the k-term sum, + eps, division, * scaling: (K + 8) * 2^-24 relative) plus the logits' error carried
    through sigmoid (|sigmoid'| <= 1/4) and the normalisation."""
    s = sigmoid(np.take_along_axis(logits, ids, axis=1))
    tot = s.sum(axis=1, keepdims=True)
    w = s / (tot + 1e-20) * cfg.routed_scaling
    ds = 0.25 * np.take_along_axis(np.broadcast_to(e_logit, logits.shape), ids, axis=1)
    prop = cfg.routed_scaling * (ds / tot + s * ds.sum(axis=1, keepdims=True) / tot ** 2)
    return w, prop * 1.01 + (cfg.top_k + 8) * U32 * np.abs(w)


# ---- routing ---------------------------------------------------------------------------------------------------

def route(ids, E):
    """MoeInitRoutingV3 (rowIdxType 0) in numpy: (source token of each expanded row, expanded_row_idx, counts)."""
    N, K = ids.shape
    flat = ids.reshape(-1)
    perm = np.argsort(flat, kind="stable")
    row_idx = np.empty(N * K, np.int64)
    row_idx[perm] = np.arange(N * K)
    return perm // K, row_idx, np.bincount(flat, minlength=E)


def quant_rows_v3(xf32):
    """The init-routing dynamic int8 of init_routing_v3.md in fp32 (exact): sc = max|v| / 127, q = v / sc
    rounded half away from zero, saturated."""
    v = xf32.astype(np.float32)
    sc = (np.abs(v).max(axis=1) / np.float32(127)).astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = v / sc[:, None]
    q = np.clip(np.trunc(y + np.copysign(np.float32(0.5), y)), -128, 127)
    return np.nan_to_num(q).astype(np.int8), sc


def dynamic_quant_int8(vf32):
    """DynamicQuant's int8 values (dynamic_quant.md, exact): f = f32(127 / max|v|), q = rint(f32(v * f))."""
    v = vf32.astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = (np.float32(127) / np.abs(v).max(axis=1)).astype(np.float32)
        q = np.clip(np.rint(v * f[:, None]), -128, 127)
    return np.nan_to_num(q).astype(np.int8)


# ---- the layer, in float64 with bounds ----------------------------------------------------------------------------

def _expert_matmul(X, W, rows_expert):
    """float64 X[m] @ W[e(m)] and |X| @ |W| for rows grouped by expert (W [E, K, N] float64)."""
    out = np.zeros((X.shape[0], W.shape[2]))
    S = np.zeros_like(out)
    for e in np.unique(rows_expert):
        m = rows_expert == e
        out[m] = X[m] @ W[e]
        S[m] = np.abs(X[m]) @ np.abs(W[e])
    return out, S


def _carry(e_in, W, rows_expert):
    """|W| carried error: e_in[m] @ |W[e(m)]|."""
    if np.isscalar(e_in):
        return 0.0
    out = np.zeros((e_in.shape[0], W.shape[2]))
    for e in np.unique(rows_expert):
        m = rows_expert == e
        out[m] = e_in[m] @ np.abs(W[e])
    return out


def _swiglu_bound(a, b, ea, eb, r):
    """|silu(a')b' - silu(a)b| for |a'-a| <= ea, |b'-b| <= eb, plus the library's fp32 SiLU (1 ulp) and product."""
    return SILU_LIP * ea * (np.abs(b) + eb) + np.abs(silu(a)) * eb + 2.0 ** -20 * (np.abs(r) + np.abs(a * b))


def weights_f64(w, path):
    """The model's expert weights in float64, logical [E, H, 2I] and [E, I, H] (W8A8: int8 * scale; the gmm-bf16
    path dequantizes with the w13 scale rounded to bf16, as it passes that scale)."""
    if not w.w8a8:
        return bf16(w.w13).transpose(0, 2, 1), bf16(w.w2).transpose(0, 2, 1)
    s13 = w.w13_scale.astype(np.float64)
    if path == "gmm-bf16":
        u = w.w13_scale.astype(np.float32).view(np.uint32).astype(np.uint64)
        s13 = bf16(((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16))  # RNE to bfloat16
    w13 = w.w13_q.astype(np.float64) * s13[:, :, None]
    w2 = w.w2_q.astype(np.float64) * bf16(w.w2_scale)[:, :, None]
    return w13.transpose(0, 2, 1), w2.transpose(0, 2, 1)


def check_layer(x_bits, w, cfg, lib, path="fused", expert_parallel=False):
    """Check the library's layer outputs `lib` (moeroute.layer.run_layer) against float64. Returns
    (stage checks, layer checks, info dict). expert_parallel: `lib` is moeroute.layer.run_layer_ep's (logits,
    topk ids and weights, y); the stage checks cover the router and the gating only, and W8A8 rows are on
    dispatch's int8 grid (DynamicQuant's recipe) instead of MoeInitRoutingV3's."""
    N, H = x_bits.shape
    E, K, I = cfg.experts, cfg.top_k, cfg.inter
    x = bf16(x_bits)
    G = w.gate.astype(np.float64)
    W13, W2 = weights_f64(w, path)
    q_mode = w.w8a8
    stages, layer = [], []
    info = {}

    # router (its inputs are the layer's inputs: the staged and the end-to-end check coincide)
    logits = x @ G.T
    e_logit = gmm_bound(logits, np.abs(x) @ np.abs(G).T, H, U32, 2.0 ** -150)
    lib_logits = lib["logits"].astype(np.float64)
    stages.append(Check("router logits", np.abs(lib_logits - logits), e_logit))

    # gating: selection on the library's logits (stage) and on float64 logits (layer), then the weights
    lib_ids = lib["topk_ids"].astype(np.int64)
    bias = w.e_bias.astype(np.float64)
    differ, bad = near_tie_rows(lib_ids, lib_logits, bias, cfg, TIE_TOL)
    stages.append(Check("gating ids", np.array([len(bad)]), np.array([0]),
                        "%d row(s) differ from float64 on the library's logits, all near ties" % len(differ)
                        if not bad else "rows %s differ beyond near ties" % bad[:8]))
    tol_e2e = TIE_TOL + 0.5 * np.max(e_logit, axis=1)
    differ2, bad2 = near_tie_rows(lib_ids, logits, bias, cfg, tol_e2e)
    info["selection_differs"] = len(differ2)
    layer.append(Check("expert selection", np.array([len(bad2)]), np.array([0]),
                       "%d of %d row(s) differ from float64 selection, all near ties; the reference uses the "
                       "library's ids there" % (len(differ2), N) if not bad2 else
                       "rows %s differ beyond near ties" % bad2[:8]))
    lib_w = lib["topk_weights"].astype(np.float64)
    w_st, wb_st = gating_weights(lib_logits, 0.0, lib_ids, cfg)
    stages.append(Check("gating weights", np.abs(lib_w - w_st), wb_st))
    w_ref, e_w = gating_weights(logits, e_logit, lib_ids, cfg)

    src, row_idx, counts = route(lib_ids, E)
    rows_e = np.sort(lib_ids.reshape(-1), kind="stable")
    X_ref = x[src]
    e_X = 0.0
    if q_mode:  # rounding to the int8 grid: half a step. Dispatch (q = rint(f32(v * f32(127 / m))), scale
        # f32(1 / f)) adds the rounding of v * f (127 u32 steps) and of f * scale (u32 of m): < 2^-15 of m / 127
        step = np.abs(X_ref).max(axis=1) / 127.0
        e_X = np.broadcast_to((((0.5 + 2.0 ** -15) if expert_parallel else 0.5 * (1 + 2.0 ** -20)) *
                               step)[:, None], X_ref.shape)
    if not expert_parallel:  # routing: exact (expert parallel: dispatch routes, checked by the layer output)
        stages.append(Exact("routing row index", lib["expanded_row_idx"], row_idx))
        stages.append(Exact("routing counts", lib["counts"], counts))
        if q_mode:
            q, sc = quant_rows_v3(x.astype(np.float32)[src])
            stages.append(Exact("routing int8 rows", lib["expanded_x"], q))
            stages.append(Exact("routing row scales", lib["expanded_scale"].view(np.uint32), sc.view(np.uint32)))
            X_lib = lib["expanded_x"].astype(np.float64) * lib["expanded_scale"].astype(np.float64)[:, None]
        else:
            stages.append(Exact("routing rows", lib["expanded_x"], x_bits[src]))
            X_lib = X_ref

    # gmm1 -> act -> gmm2: `stage(inp, e_in)` gives (reference, bound) of that stage for inputs inp with
    # error bounds e_in; staged runs take the library's inputs (e_in 0), the layer run the reference's.
    def gmm1(X, e):
        r, S = _expert_matmul(X, W13, rows_e)
        ec = _carry(e, W13, rows_e)
        if not q_mode:
            return r, gmm_bound(r, S, H, U16, ETA16, ec)
        if path == "gmm-bf16":  # int sum exact, fp32 epilogue (3 roundings), bf16 store
            return r, ec + (U16 + 4 * U32) * (np.abs(r) + ec) + ETA16
        return r, ec + 4 * U32 * (np.abs(r) + ec)  # int32 out, dequantized in fp32 by the next stage

    # the int8 grid's half step, in steps of the row scale: DequantSwigluQuant (b) and DynamicQuant (a) round
    # s / sc (or s * f) once in fp32; the fused GroupedMatmulSwigluQuant rounds s * f32(1 / sc) to fp16 first (half
    # an fp16 spacing below 128: 2^-5) and f32(1 / sc) itself (u32 of |s| <= max|s|)
    half = 0.5 + (2.0 ** -5 + 2.0 ** -15 if path == "fused" else 2.0 ** -17)

    def act(h, e, sc=None):
        a, b = h[:, :I], h[:, I:]
        ea = e if np.isscalar(e) else e[:, :I]
        eb = e if np.isscalar(e) else e[:, I:]
        r = silu(a) * b
        bnd = _swiglu_bound(a, b, ea, eb, r)
        if q_mode and path == "gmm-bf16":  # SwiGlu to bf16, then DynamicQuant
            bnd = bnd + U16 * (np.abs(r) + bnd) + ETA16
        if q_mode:  # the int8 grid of the row: half a step of its scale (the library's, or max|r| / 127 bounded)
            if sc is None:
                sc = np.max(np.abs(r) + bnd, axis=1, keepdims=True) / 127.0 * (1 + 2.0 ** -20)
            return r, bnd + half * sc
        return r, bnd + U16 * (np.abs(r) + bnd) + ETA16

    def gmm2(h, e):
        r, S = _expert_matmul(h, W2, rows_e)
        ec = _carry(e, W2, rows_e)
        if not q_mode:
            return r, gmm_bound(r, S, I, U16, ETA16, ec)
        return r, ec + (U16 + 2.0 ** -21) * (np.abs(r) + ec) + ETA16

    def combine(h3, e3, wts, ew):
        r = np.zeros((N, H))
        bnd = np.zeros((N, H))
        terms = np.zeros((N, H))
        for j in range(K):
            rows = row_idx.reshape(N, K)[:, j]
            r += wts[:, j:j + 1] * h3[rows]
            terms += np.abs(wts[:, j:j + 1] * h3[rows])
            e3r = 0.0 if np.isscalar(e3) else e3[rows]
            bnd += np.abs(wts[:, j:j + 1]) * e3r + (0.0 if np.isscalar(ew) else ew[:, j:j + 1]) * (
                np.abs(h3[rows]) + e3r)
        rnd = 1.01 * (K + 1) * U32 * (terms + bnd)
        return r, bnd + rnd + U16 * (np.abs(r) + bnd + rnd) + ETA16

    y_lib = bf16(lib["y"])
    # stage by stage, on the library's own inputs (expert parallel: the MLP runs on the ranks, not checked here)
    if not expert_parallel:
        if q_mode and path != "gmm-bf16":  # int32 sums: the library's (b) exact, or numpy's (fused: not an output)
            lq = lib["expanded_x"].astype(np.int64)
            acc = np.zeros((N * K, 2 * I), np.int64)
            for e in np.unique(rows_e):
                m = rows_e == e
                acc[m] = lq[m] @ w.w13_q[e].astype(np.int64).T
            if path == "fused":
                lib = dict(lib, h1=acc)
            else:
                stages.append(Exact("gmm1 int32", lib["h1"], acc))
            h1_lib = (lib["h1"].astype(np.float64) * w.w13_scale.astype(np.float64)[rows_e] *
                      lib["expanded_scale"].astype(np.float64)[:, None])
        else:
            r1, b1 = gmm1(X_lib, 0.0)
            h1_lib = bf16(lib["h1"])
            stages.append(Check("gmm1", np.abs(h1_lib - r1), b1))
        if q_mode:
            if path == "gmm-bf16":
                a, b = h1_lib[:, :I], h1_lib[:, I:]
                r2 = silu(a) * b
                h2 = bf16(lib["h2"])
                b2 = _swiglu_bound(a, b, 0.0, 0.0, r2)
                stages.append(Check("act swiglu", np.abs(h2 - r2), b2 + U16 * (np.abs(r2) + b2) + ETA16))
                stages.append(Exact("act dynamic quant", lib["q"], dynamic_quant_int8(h2.astype(np.float32))))
            else:
                # the fp32 dequant steps (3 roundings), half a step of its own scale (`half`)
                r2, b2 = act(h1_lib, 3 * U32 * np.abs(h1_lib), lib["q_scale"].astype(np.float64)[:, None])
                q2 = lib["q"].astype(np.float64) * lib["q_scale"].astype(np.float64)[:, None]
                stages.append(Check("gmm1 + act fused" if path == "fused" else "act dequant-swiglu-quant",
                                    np.abs(q2 - r2), b2))
            h2_lib = lib["q"].astype(np.float64) * lib["q_scale"].astype(np.float64)[:, None]
        else:
            r2, b2 = act(h1_lib, 0.0)
            h2_lib = bf16(lib["h2"])
            stages.append(Check("act swiglu", np.abs(h2_lib - r2), b2))
        r3, b3 = gmm2(h2_lib, 0.0)
        h3_lib = bf16(lib["h3"])
        stages.append(Check("gmm2", np.abs(h3_lib - r3), b3))
        r4, b4 = combine(h3_lib, 0.0, lib_w, 0.0)
        stages.append(Check("combine", np.abs(y_lib - r4), b4))

    # the layer: float64 all the way (library's ids where the selection is a near tie), errors carried
    h1, e1 = gmm1(X_ref, e_X)
    h2, e2 = act(h1, e1)
    h3, e3 = gmm2(h2, e2)
    y, ey = combine(h3, e3, w_ref, e_w)
    err = np.abs(y_lib - y)
    layer.append(Check("layer output y", err, ey))
    info["y_ref"] = y
    info["max_abs_err"] = float(err.max()) if err.size else 0.0
    info["rel_err"] = float(np.linalg.norm(y_lib - y) / max(np.linalg.norm(y), 1e-300))
    info["rel_bound"] = float(np.linalg.norm(ey) / max(np.linalg.norm(y), 1e-300))
    return stages, layer, info
