"""``K.rnn``: a step function run over the time axis, with Keras's signature and semantics.

Custom recurrent code from Keras 1 and 2 calls ``K.rnn(step_function, inputs, initial_states,
...)`` inside a layer's ``call``; this runs it step by step with ordinary ops (so gradients flow
through time through the autograd graph). kerasette's own recurrent layers use the fused kernels
of `kerasette.backend.ops.recurrent` instead.
"""

from __future__ import annotations

import numpy as np

from kerasette.backend import ops
from kerasette.backend.tensor import Tensor


def rnn(step_function, inputs, initial_states, go_backwards=False, mask=None, constants=None, unroll=False,
        input_length=None, zero_output_for_mask=False, return_all_outputs=True):
    """Iterates ``step_function`` over the steps of ``inputs``.

    Args:
        step_function: ``(inputs_t, states) -> (output_t, new_states)``; ``inputs_t`` is one step
            (batch, ...), ``states`` the list of states followed by the ``constants``.
        inputs: (batch, steps, ...).
        initial_states: the list of states before the first step.
        go_backwards: iterate from the last step to the first (the outputs are then in that
            order, as in Keras).
        mask: (batch, steps) booleans (or 0/1); at a masked step the states are kept and the
            output repeats the previous one (zeros with ``zero_output_for_mask``; zeros before
            any step was taken).
        constants: extra values passed to every step after the states.
        unroll, input_length: accepted for Keras compatibility (the loop is always unrolled).
        zero_output_for_mask: Keras 3's option (see ``mask``).
        return_all_outputs: Keras 3's option; False gives only the last output in ``outputs``.

    Returns:
        ``(last_output, outputs, new_states)``: the last step's output (batch, ...), all outputs
        (batch, steps, ...) and the final states.

    Example:
        >>> import numpy as np
        >>> step = lambda x, states: (x + states[0], [x + states[0]])
        >>> last, outs, states = rnn(step, np.ones((2, 3, 1), 'float32'), [np.zeros((2, 1), 'float32')])
        >>> last.data.ravel().tolist(), outs.shape
        ([3.0, 3.0], (2, 3, 1))
    """
    x = inputs if isinstance(inputs, Tensor) else Tensor(inputs)
    if x.ndim < 3:
        raise ValueError(f"K.rnn: inputs must be (batch, steps, ...) with at least 3 axes; received shape {x.shape}")
    states = [s if isinstance(s, Tensor) else Tensor(s) for s in (initial_states or [])]
    constants = list(constants or [])
    steps = x.shape[1]
    keep = None
    if mask is not None:
        keep = np.asarray(getattr(mask, "data", mask)).astype(bool)
        if keep.ndim == 3:
            keep = keep[..., 0]
        if keep.shape != x.shape[:2]:
            raise ValueError(f"K.rnn: the mask must have shape (batch, steps) = {x.shape[:2]}; received {keep.shape}")
    order = range(steps - 1, -1, -1) if go_backwards else range(steps)
    outputs, previous = [], None
    for t in order:
        out, new_states = step_function(ops.getitem(x, (slice(None), t)), list(states) + constants)
        out = out if isinstance(out, Tensor) else Tensor(out)
        new_states = list(new_states) if isinstance(new_states, (list, tuple)) else [new_states]
        if keep is not None:
            k = keep[:, t].reshape((-1,) + (1,) * (out.ndim - 1))
            fallback = previous if previous is not None and not zero_output_for_mask else \
                Tensor(np.zeros(out.shape, out.dtype))
            out = ops.where(k, out, fallback)
            new_states = [ops.where(keep[:, t].reshape((-1,) + (1,) * (s.ndim - 1)), n, s)
                          for n, s in zip(new_states, states)]
            if zero_output_for_mask:
                previous = ops.where(k, out, previous) if previous is not None else out
            else:
                previous = out
        else:
            previous = out
        states = new_states
        if return_all_outputs:
            outputs.append(ops.expand_dims(out, 1))
    last = previous
    all_outputs = ops.concatenate(outputs, axis=1) if return_all_outputs else ops.expand_dims(last, 1)
    return last, all_outputs, states
