"""Recurrent weights stored in other layouts than Keras 2/3's, read into theirs (the layers'
``regroup_stored_weights`` and ``stored_weight_converter``, see `kerasette.layers.base`):

- Keras 1's per-gate arrays (`regroup_per_gate`): ``W``, ``U``, ``b`` for each gate, the LSTM's
  (and ConvLSTM2D's) in the order i, c, f, o, the GRU's z, r, h, joined into ``kernel``,
  ``recurrent_kernel``, ``bias`` with the gates in Keras 2's order;
- tf.keras's CuDNN layers (`cudnn_converter`): each gate's input kernel re-read in Fortran
  order, each recurrent kernel transposed, the LSTM's two biases summed, the GRU's split into
  input and recurrent rows, as Keras's own loader does;
- ConvLSTM2D kernels in Theano's order, flipped when trained with Theano's true convolution
  (`theano_kernel_converter`, as for `Conv2D`, through `kerasette.layers.legacy`'s
  `theano_order` and `kernel_reader`, the decision and the conversion of any 2-D kernel).
"""

from __future__ import annotations

import numpy as np

from kerasette.layers.legacy import kernel_reader, theano_order

#: where Keras 1's stored gates go in Keras 2's order, by the number of gates
KERAS1_GATE_ORDER = {4: (0, 2, 1, 3), 3: (0, 1, 2)}  # LSTM stored i, c, f, o; GRU z, r, h


def regroup_per_gate(arrays: list, gates: int, kernel_axis: int = -1) -> list:
    """Keras 1's ``3 * gates`` per-gate arrays (``W``, ``U``, ``b`` gate after gate) as Keras 2's
    ``[kernel, recurrent_kernel, bias]``, the gates joined along ``kernel_axis`` for the kernels
    (the filters axis of the file's kernels) and along the last axis for the bias."""
    triples = [arrays[3 * g:3 * g + 3] for g in KERAS1_GATE_ORDER[gates]]
    return [np.concatenate([t[k] for t in triples], axis=kernel_axis if k < 2 else -1) for k in range(3)]


def _split_gates(value: np.ndarray, n: int) -> list[np.ndarray]:
    return np.split(value, n, axis=-1)


def cudnn_converter(layer, var, stored_shape):
    """The conversion of a CuDNN layer's stored weight into ``var``'s Keras layout."""
    gates = 4 if layer._keras_kind == "LSTM" else 3
    short = var.name.rsplit("/", 1)[-1]
    units = layer.units
    if short == "kernel":
        def kernel(value):
            return np.concatenate([g.T.reshape(g.shape, order="F") for g in _split_gates(value, gates)], axis=-1)
        return kernel
    if short == "recurrent_kernel":
        return lambda value: np.concatenate([g.T for g in _split_gates(value, gates)], axis=-1)
    if short == "bias" and stored_shape == (2 * gates * units,):
        if gates == 4:
            return lambda value: value[:4 * units] + value[4 * units:]
        return lambda value: value.reshape(2, 3 * units)
    return None


def theano_kernel_converter(layer, var, stored_shape, origin):
    """A ConvLSTM2D's kernels stored in Theano's order (4 * filters, in, rows, cols) transposed
    to (rows, cols, in, 4 * filters), and flipped in both spatial axes when they were trained
    with Theano's true convolution (see ``origin.flip_for``); None for other weights and
    shapes. The two kernels share one decision (asked once, so that the load's warning names
    the layer once)."""
    cell = layer.cell
    if var is not cell.kernel and var is not cell.recurrent_kernel:
        return None
    th_order = theano_order(var.shape, stored_shape, layer.data_format, origin)
    if th_order is None:
        return None
    if var is cell.kernel or "_stored_flip" not in layer.__dict__:
        layer._stored_flip = origin.flip_for(layer, th_order)
    flip = layer.__dict__.pop("_stored_flip") if var is cell.recurrent_kernel else layer._stored_flip
    return kernel_reader(th_order, flip)
