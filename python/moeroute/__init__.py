"""moeroute: CANN's MoE routing operators on the CPU, bit for bit, through ctypes.

    import numpy as np, moeroute
    expanded_x, expanded_row_idx, expanded_expert_idx = moeroute.moe_init_routing_quant(
        x, None, expert_idx, active_num=x.shape[0], scale=20.0, offset=0.0)

Also the routing family under torch_npu's names: npu_moe_init_routing_v2 (aclnnMoeInitRoutingV3),
npu_moe_init_routing_quant (aclnnMoeInitRoutingQuantV2), moe_init_routing_v2 (aclnnMoeInitRoutingV2),
npu_moe_compute_expert_tokens (aclnnMoeComputeExpertTokens) and npu_moe_token_permute (aclnnMoeTokenPermute);
and the combine operators npu_moe_token_unpermute (aclnnMoeTokenUnpermute) and npu_moe_finalize_routing
(aclnnMoeFinalizeRoutingV2); npu_moe_re_routing and moe_re_routing (aclnnMoeReRouting).

The functions take numpy arrays or CPU torch tensors (read in place through their strides, no copy) and
return the same kind. libmoeroute.so is located at the first call: $MOEROUTE_LIB, a copy bundled in this
package, ctypes.util.find_library('moeroute'), then the usual install prefixes. See README.md.
"""

from ._combine import npu_moe_finalize_routing, npu_moe_token_unpermute
from ._distribute import npu_moe_distribute_combine_v2, npu_moe_distribute_dispatch_v2
from ._distribute import npu_moe_distribute_combine, npu_moe_distribute_dispatch
from ._gmm import GroupedMatmulWeights, npu_grouped_matmul, npu_grouped_matmul_swiglu_quant
from ._gating import (moe_gating_top_k, npu_moe_gating_top_k, npu_moe_gating_top_k_softmax,
                      npu_moe_gating_top_k_softmax_v2)
from ._lib import MoerouteError, MoerouteLibraryError, MoerouteTypeError, MoerouteValueError
from ._mlp import npu_dequant_swiglu_quant, npu_dynamic_quant, npu_swiglu
from ._outputs import set_output_pool
from ._re_routing import moe_re_routing, npu_moe_re_routing
from ._routing import Context, moe_init_routing_quant, npu_moe_init_routing
from ._routing_family import (moe_init_routing_v2, npu_moe_compute_expert_tokens, npu_moe_init_routing_quant,
                              npu_moe_init_routing_v2, npu_moe_token_permute)
from ._version import __version__

__all__ = [
    "Context",
    "MoerouteError",
    "MoerouteLibraryError",
    "MoerouteTypeError",
    "MoerouteValueError",
    "__version__",
    "detected_isa",
    "library_path",
    "library_version",
    "moe_gating_top_k",
    "moe_init_routing_quant",
    "moe_init_routing_v2",
    "moe_re_routing",
    "npu_dequant_swiglu_quant",
    "npu_dynamic_quant",
    "npu_grouped_matmul",
    "GroupedMatmulWeights",
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
    "set_output_pool",
]


def library_path():
    """The path (or name) libmoeroute was loaded from; loads it if needed."""
    from . import _lib
    return _lib.get().path


def library_version():
    """moeroute_version_string() of the loaded library."""
    from . import _lib
    return _lib.get().version()


def detected_isa():
    """The best instruction set the CPU supports ("scalar", "avx2", "avx512", "neon")."""
    from . import _lib
    return _lib.ISA_NAMES.get(_lib.get().detected_isa(), "unknown")
