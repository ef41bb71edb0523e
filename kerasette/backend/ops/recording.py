"""Whether an op will be recorded for a backward pass.

Ops that can keep less when nothing will flow back (the recurrences of
`kerasette.backend.ops.recurrent`, the embedding gather of `kerasette.backend.ops.embedding`)
ask `records_gradient` before they run, with the inputs `kerasette.backend.ops.base.apply`
will see.
"""

from __future__ import annotations

from kerasette.backend import state


def records_gradient(*inputs) -> bool:
    """Whether an op on ``inputs`` would be recorded for a backward pass (gradients enabled and
    an input that requires one)."""
    return state.grad_mode.is_enabled() and any(getattr(t, "requires_grad", False) for t in inputs)
