"""Recurrence kernels: SimpleRNN, LSTM and GRU through time, forward and backward, and the
embedding's kernels; this module gathers their public names (and the building blocks the tests
read), which live in:

- `kerasette.backend.kernels.recurrent_activations`: the activations by code (`ACTIVATIONS`),
  on rows, values and float32 SIMD vectors (`_exp32`, `_sigmoid`, `_vsigmoid`, ...);
- `kerasette.backend.kernels.recurrent_products`: the per-step products (`blocked_product` with
  a packed operand, `lstm_product`, BLAS) and the helpers the recurrences share;
- `kerasette.backend.kernels.lstm`: the LSTM (`lstm_rows`, `lstm_forward`, `lstm_backward` and
  their row kernels);
- `kerasette.backend.kernels.simple_gru`: SimpleRNN and GRU;
- `kerasette.backend.kernels.embedding_rows`: the embedding gradient's scatter-add and the
  checks of the LSTM's folded input projections (`stale_rows`, `same_bits`).

Layout: everything is time-major. ``xp`` (T, B, G) holds the input projections of every step
(``x_t @ kernel + bias``, computed before the recurrence as one matrix product); the states are
kept in ``hs`` (T + 1, B, U) (and ``cs`` for the LSTM), slot 0 holding the initial state and slot
``t + 1`` the state after step ``t``. One call handles the batch rows ``[b0, b1)`` for every step,
so the recurrence of a batch splits over threads by rows. Each step is one product with the
recurrent kernel followed by one fused loop that applies the gate non-linearities and updates
the state. ``mask`` (T, B) (uint8, 1 = use the step) makes a masked step carry the previous
states over unchanged (its gradient passes through to the previous step). ``rmask`` (B, U)
multiplies the previous output before the recurrent product (recurrent dropout; the same every
step).

Gate order is Keras's: LSTM i, f, c, o; GRU z, r, h.
"""

from __future__ import annotations

from kerasette.backend.kernels.embedding_rows import same_bits, scatter_add_rows, stale_rows
from kerasette.backend.kernels.lstm import (
    lstm_backward,
    lstm_cell_row,
    lstm_cell_row_general,
    lstm_cell_row_vectors,
    lstm_forward,
    lstm_grad_row,
    lstm_grad_row_general,
    lstm_grad_row_vectors,
    lstm_rows,
)
from kerasette.backend.kernels.recurrent_activations import (
    ACTIVATIONS,
    _exp32,
    _pow2,
    activate_flat,
    activate_row,
    derivative,
    derivative_row,
)
from kerasette.backend.kernels.recurrent_products import blocked_product, lstm_product
from kerasette.backend.kernels.simple_gru import gru_backward, gru_forward, simple_backward, simple_forward

__all__ = [
    "ACTIVATIONS", "activate_flat", "activate_row", "blocked_product", "derivative", "derivative_row", "gru_backward",
    "gru_forward", "lstm_backward", "lstm_cell_row", "lstm_cell_row_general", "lstm_cell_row_vectors", "lstm_forward",
    "lstm_grad_row", "lstm_grad_row_general", "lstm_grad_row_vectors", "lstm_product", "lstm_rows", "same_bits",
    "scatter_add_rows", "simple_backward", "simple_forward", "stale_rows",
    "_exp32", "_pow2",  # building blocks the tests call
]
