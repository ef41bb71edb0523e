"""Recurrent ops (SimpleRNN, LSTM, GRU through time) and the embedding lookup.

The recurrent ops take the input projections of every step at once, time-major: ``xp`` of shape
(steps, batch, gates * units), computed by the caller as one matrix product (``x @ kernel +
bias``). They run the recurrence with the numba kernels of
`kerasette.backend.kernels.recurrent` (one BLAS product and one fused gate pass per step, the
batch split over the thread pool) and back-propagate through time with the same kernels.

Each returns either every step's output, time-major (steps, batch, units), or only the last
state (batch, units) (``sequences=False``); the LSTM with ``with_cell=True`` appends the cell
state along the last axis (units * 2). When no gradient is being recorded (``no_grad``, as in
``predict``, or no input needs one) the LSTM keeps nothing for a backward pass: no gates and,
for the last state only, two state slots instead of every step's (`Recurrence.inference`). An
LSTM fed by `embedding` for inference can read its projections by row from a table folded
across calls (``rows``, `FoldedProjections`). Where each piece lives (every name importable
from here too):

- `kerasette.backend.ops.recurrence_op`: the op (`Recurrence`, the activation codes, the LSTM's
  packed recurrent kernel `pack_lstm_recurrent`);
- `kerasette.backend.ops.embedding`: `embedding` and its lazy inference result (`GatheredRows`,
  `gathered_rows`, `embedding_of`);
- `kerasette.backend.ops.folded_projections`: `FoldedProjections`;
- `kerasette.backend.ops.recording`: `records_gradient`;
- here: `recurrence` and the three named forms `simple_rnn`, `lstm`, `gru`.

Options common to all:

- ``mask``: (steps, batch) booleans, time-major; a False step leaves the states as they were
  (its output repeats the previous one), as Keras's masking does.
- ``recurrent_mask``: (batch, units) multiplier of the previous output before the recurrent
  product (recurrent dropout: the same mask on every step).
- ``activation``, ``recurrent_activation``: one of ``'tanh'``, ``'sigmoid'``,
  ``'hard_sigmoid'`` (Keras 3's, ``x / 6 + 0.5`` clipped), ``'relu'``, ``'linear'``.

Example:
    >>> import numpy as np
    >>> xp = np.zeros((5, 2, 12), 'float32'); h0 = np.zeros((2, 3), 'float32')
    >>> lstm(xp, h0, h0, np.zeros((3, 12), 'float32'), sequences=False).shape
    (2, 3)
"""

from __future__ import annotations

import numpy as np

from kerasette.backend.ops.base import apply
from kerasette.backend.ops.embedding import (
    Embedding,
    GatheredRows,
    LazyTensor,
    embedding,
    embedding_of,
    gathered_rows,
)
from kerasette.backend.ops.folded_projections import FoldedProjections
from kerasette.backend.ops.recording import records_gradient
from kerasette.backend.ops.recurrence_op import (
    ACTIVATION_CODES,
    KINDS,
    Recurrence,
    activation_code,
    pack_lstm_recurrent,
)

__all__ = ["ACTIVATION_CODES", "KINDS", "Embedding", "FoldedProjections", "GatheredRows", "LazyTensor", "Recurrence",
           "activation_code", "embedding", "embedding_of", "gathered_rows", "gru", "lstm", "pack_lstm_recurrent",
           "records_gradient", "recurrence", "simple_rnn"]


def recurrence(kind: str, xp, h0, *weights, mask=None, recurrent_mask=None, activation="tanh",
               recurrent_activation="sigmoid", sequences: bool = True, with_cell: bool = False,
               reset_after: bool = True, rows=None):
    """Runs a recurrence and returns ``(output tensor, op)``; the op's ``final_states()`` gives
    the last states. ``weights``: ``[c0,] recurrent_kernel[, recurrent_bias]``. ``rows``
    (steps, batch) integers (LSTM inference only): ``xp`` is a table of projections (rows, 4 *
    units) and step ``t`` of sample ``b`` reads its row ``rows[t, b]`` (`FoldedProjections`)."""
    has_rb = kind == "gru" and len(weights) == 2
    records = records_gradient(xp, h0, *weights)
    op = Recurrence(kind, mask, recurrent_mask, activation, recurrent_activation, sequences, with_cell,
                    reset_after, has_rb, inference=not records, rows=rows)
    if has_rb:
        op._rb_shape = tuple(np.shape(weights[1].data if hasattr(weights[1], "data") else weights[1]))
    return apply(op, xp, h0, *weights), op



def simple_rnn(xp, h0, recurrent_kernel, mask=None, recurrent_mask=None, activation="tanh", sequences=True):
    """``h_t = activation(xp_t + h_{t-1} @ recurrent_kernel)`` for every step (see the module)."""
    return recurrence("simple", xp, h0, recurrent_kernel, mask=mask, recurrent_mask=recurrent_mask,
                      activation=activation, sequences=sequences)[0]


def lstm(xp, h0, c0, recurrent_kernel, mask=None, recurrent_mask=None, activation="tanh",
         recurrent_activation="sigmoid", sequences=True, with_cell=False):
    """Keras's LSTM (gates i, f, c, o): ``c = f * c + i * act(x_c)``, ``h = o * act(c)``."""
    return recurrence("lstm", xp, h0, c0, recurrent_kernel, mask=mask, recurrent_mask=recurrent_mask,
                      activation=activation, recurrent_activation=recurrent_activation, sequences=sequences,
                      with_cell=with_cell)[0]


def gru(xp, h0, recurrent_kernel, recurrent_bias=None, reset_after=True, mask=None, recurrent_mask=None,
        activation="tanh", recurrent_activation="sigmoid", sequences=True):
    """Keras's GRU (gates z, r, h): ``h = z * h + (1 - z) * act(x_h + r * (h @ U_h + b_h))``
    (``reset_after``) or ``act(x_h + (r * h) @ U_h)``; ``recurrent_bias`` (3U,) only reset after."""
    weights = (recurrent_kernel,) if recurrent_bias is None else (recurrent_kernel, recurrent_bias)
    return recurrence("gru", xp, h0, *weights, mask=mask, recurrent_mask=recurrent_mask, activation=activation,
                      recurrent_activation=recurrent_activation, sequences=sequences, reset_after=reset_after)[0]
