"""How `RNN` runs its cell through a sequence, given the states before the first step: in the
fused kernels, a whole sequence per cell (`fused_run`, for the built-in cells and stacks of
them: `runs_fused`), or step by step through the cell's ``call`` (`step_run`, any cell, with
Keras 2's ``constants``), which is ``K.rnn`` (`kerasette.backend.recurrence.rnn`).

Both take the masks in the order the steps are read (``mask_tm`` (steps, batch), reversed with
``go_backwards``, None when every step is read) and return ``(output, final states)``: every
step's output (batch, steps, units) in that order with ``sequences``, else the last output; a
masked step keeps the states and repeats the previous output (zeros before the first).
"""

from __future__ import annotations

from kerasette.backend import ops
from kerasette.backend.ops import recurrent as rops
from kerasette.backend.recurrence import rnn
from kerasette.layers.recurrent.nesting import call_cell, cell_state_sizes
from kerasette.layers.recurrent.stacked import StackedRNNCells


def _fusable(cell) -> bool:
    fusable = getattr(cell, "fusable", None)
    return fusable is not None and fusable() and hasattr(cell, "_sequence")


def runs_fused(cell) -> bool:
    """Whether `fused_run` can run ``cell`` (a built-in cell whose activations the kernels
    compute, or a stack of such cells)."""
    return _fusable(cell) or (isinstance(cell, StackedRNNCells) and all(map(_fusable, cell.cells)))


def fused_run(cell, x, states, mask_tm, training, sequences: bool, go_backwards: bool, want_states: bool):
    """Each cell of ``cell`` (a stack, or one cell) over the whole sequence ``x`` (batch,
    steps, features) in the kernels (`cells._GatedCell.sequence`), time-major inside; the final
    states only ``want_states`` (else an empty list).

    An input that is an embedding's output is not transposed: for inference (no gradient
    recorded) the tokens go along time-major so that the LSTM can read folded projections and
    nothing gathers the embedding rows; when recording a gradient the rows are gathered again in
    the order of the steps."""
    order = slice(None, None, -1) if go_backwards else slice(None)
    gathered = rops.gathered_rows(x)
    if gathered is not None and gathered[1].shape == x.shape[:2]:
        # x is table[tokens] from an embedding, recording no gradient: the tokens go along
        # time-major, and x as a view made only if read (the folded LSTM does not read it:
        # then nothing gathers the embedding rows)
        table, tokens = gathered
        gathered = (table, tokens, tokens.T[order])
        x_tm = rops.LazyTensor(lambda: x.data.transpose(1, 0, 2)[order], (x.shape[1], x.shape[0]) + x.shape[2:],
                               x.dtype)
    else:
        gathered = None
        embedded = rops.embedding_of(x)
        if embedded is not None and embedded[1].shape == x.shape[:2]:
            # x is table[tokens] recording a gradient: the rows gathered again in the order of
            # the steps, instead of x transposed (and its gradient transposed back)
            x_tm = rops.embedding(embedded[1].T[order], embedded[0])
        else:
            x_tm = ops.transpose(x, (1, 0, 2))
            if go_backwards:
                x_tm = ops.getitem(x_tm, order)
    cells = cell.cells if isinstance(cell, StackedRNNCells) else [cell]
    final, at = [], 0
    out = x_tm
    for index, one in enumerate(cells):
        n = len(cell_state_sizes(one))
        last = index == len(cells) - 1
        out, cell_final, _ = one.sequence(out, states[at:at + n], mask_tm, training, sequences or not last,
                                          want_states, gathered if index == 0 else None)
        at += n
        if want_states:
            final.extend(cell_final)
    if sequences:
        out = ops.transpose(out, (1, 0, 2))
    return out, final


def step_run(cell, x, states, mask_tm, training, sequences: bool, go_backwards: bool, constants=None):
    """``cell.call`` step by step over ``x`` (batch, steps, ...) through ``K.rnn``, with
    ``constants`` given to every step when not None; dropout masks drawn afresh for the
    sequence (and dropped after it)."""
    reset = getattr(cell, "reset_dropout_masks", None)
    if reset is not None:
        reset()
    mask = None if mask_tm is None else (mask_tm[::-1] if go_backwards else mask_tm).T  # (batch, steps), as x

    def step(x_t, step_states):
        return call_cell(cell, x_t, step_states, training, constants)

    last, outputs, final = rnn(step, x, states, go_backwards=go_backwards, mask=mask, return_all_outputs=sequences)
    if reset is not None:
        reset()
    return (outputs if sequences else last), list(final)
