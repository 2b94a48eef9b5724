"""torch_npu's MoE functions on the CPU, under torch_npu's names, argument names, order and defaults.

Code written for Ascend can run on the CPU by importing this module in place of torch_npu::

    from moeroute import torch_npu
    expanded_x, expanded_row_idx, tokens, scale = torch_npu.npu_moe_init_routing_v2(
        x, topk_ids, active_num=x.shape[0] * k, expert_num=E, expert_tokens_num_type=1,
        expert_tokens_num_flag=True, quant_mode=-1, active_expert_range=[0, E])

Every function takes CPU torch tensors (read in place where the layout allows) or numpy arrays and returns
the same kind. Each is the operator of the same name documented in docs/operators/; functions torch_npu has
that moeroute does not implement yet are absent (AttributeError), never faked.
"""

from ._combine import npu_moe_finalize_routing, npu_moe_token_unpermute
from ._distribute import npu_moe_distribute_combine_v2, npu_moe_distribute_dispatch_v2
from ._distribute import npu_moe_distribute_combine, npu_moe_distribute_dispatch
from ._gmm import npu_grouped_matmul, npu_grouped_matmul_swiglu_quant
from ._gating import npu_moe_gating_top_k, npu_moe_gating_top_k_softmax, npu_moe_gating_top_k_softmax_v2
from ._mlp import npu_dequant_swiglu_quant, npu_dynamic_quant, npu_swiglu
from ._re_routing import npu_moe_re_routing
from ._routing import npu_moe_init_routing
from ._routing_family import (npu_moe_compute_expert_tokens, npu_moe_init_routing_quant, npu_moe_init_routing_v2,
                              npu_moe_token_permute)

__all__ = [
    "npu_dequant_swiglu_quant",
    "npu_dynamic_quant",
    "npu_grouped_matmul",
    "npu_grouped_matmul_swiglu_quant",
    "npu_moe_compute_expert_tokens",
    "npu_moe_distribute_combine",
    "npu_moe_distribute_combine_v2",
    "npu_moe_distribute_dispatch",
    "npu_moe_distribute_dispatch_v2",
    "npu_moe_finalize_routing",
    "npu_moe_gating_top_k",
    "npu_moe_gating_top_k_softmax",
    "npu_moe_gating_top_k_softmax_v2",
    "npu_moe_init_routing",
    "npu_moe_init_routing_quant",
    "npu_moe_init_routing_v2",
    "npu_moe_re_routing",
    "npu_moe_token_permute",
    "npu_moe_token_unpermute",
    "npu_swiglu",
]
