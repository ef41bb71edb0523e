"""The autograd API in one place: the op protocol and the gradients.

`Op`, `apply`, `as_tensor` and `unbroadcast` are defined with the ops
(`kerasette.backend.ops.base`); the graph walk (`backward`, `grad`, `gradients_or_none`,
`postorder`, `stream_gradients`, `topological_order`) below the tensors (`kerasette.backend.backprop`). This module
gathers them for the code on top (the trainer, ``K.gradients``).
"""

from __future__ import annotations

from kerasette.backend.backprop import (
    backward,
    grad,
    gradients_or_none,
    postorder,
    stream_gradients,
    topological_order,
)
from kerasette.backend.ops.base import Op, apply, as_tensor, floating_dtype, is_weak_scalar, unbroadcast

__all__ = ["Op", "apply", "as_tensor", "backward", "floating_dtype", "grad", "gradients_or_none",
           "is_weak_scalar", "postorder", "stream_gradients", "topological_order", "unbroadcast"]
