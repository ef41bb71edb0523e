"""SimpleRNN, LSTM and GRU: `RNN` over the built-in cells, with the cell's arguments on the layer.

Each takes its cell's arguments (units, activations, initializers, regularizers, constraints,
dropout, ...) and `RNN`'s (return_sequences, return_state, go_backwards, stateful, unroll,
zero_output_for_mask), in Keras 1, 2 and 3 spellings, and reads the cell's attributes
(``layer.units``, ``layer.kernel``, ...). Weights are the cell's, named
``<layer>/<cell>/kernel`` etc., in Keras's layout.

Files from other layouts:

- Keras 1 stored LSTM/GRU weights gate by gate (``lstm_1_W_i``, ``lstm_1_U_i``, ``lstm_1_b_i``,
  ... in the order i, c, f, o for the LSTM, z, r, h for the GRU) unless ``consume_less='gpu'``:
  `regroup_stored_weights` turns those 12 (9) arrays into Keras 2's three.
- tf.keras's ``CuDNNLSTM``/``CuDNNGRU`` (configs of those classes build an LSTM/GRU whose
  `stored_weight_converter` converts the stored kernels as Keras's own loader does: each gate's
  input kernel re-read in Fortran order, each recurrent kernel transposed, the CuDNN LSTM's two
  biases summed, the GRU's split into input and recurrent rows).
"""

from __future__ import annotations

import numpy as np

from kerasette.layers.base import snake_case, unique_name
from kerasette.layers.legacy import keras_layer
from kerasette.layers.recurrent.cells import RECURRENT_KERAS1, GRUCell, LSTMCell, SimpleRNNCell
from kerasette.layers.recurrent.rnn import RNN

_RNN_ARGUMENTS = ("return_sequences", "return_state", "go_backwards", "stateful", "unroll",
                  "zero_output_for_mask", "input_length", "time_major", "input_dim")
_LAYER_ARGUMENTS = ("name", "trainable", "input_shape", "batch_input_shape", "batch_size", "dtype", "weights")
#: what the layers read through to their cell
_CELL_ATTRIBUTES = ("units", "activation", "recurrent_activation", "use_bias", "kernel_initializer",
                    "recurrent_initializer", "bias_initializer", "unit_forget_bias", "kernel_regularizer",
                    "recurrent_regularizer", "bias_regularizer", "kernel_constraint", "recurrent_constraint",
                    "bias_constraint", "dropout", "recurrent_dropout", "reset_after", "implementation", "seed",
                    "kernel", "recurrent_kernel", "bias")


class _CellLayer(RNN):
    """An `RNN` whose cell is built from the layer's own arguments."""

    cell_class = None
    cell_name = "cell"

    def __init__(self, *args, activity_regularizer=None, **kwargs):
        rnn_kwargs = {k: kwargs.pop(k) for k in _RNN_ARGUMENTS if k in kwargs}
        layer_kwargs = {k: kwargs.pop(k) for k in _LAYER_ARGUMENTS if k in kwargs}
        layer_kwargs["name"] = layer_kwargs.get("name") or unique_name(snake_case(type(self).__name__))
        try:
            cell = self.cell_class(*args, name=self.cell_name, dtype=layer_kwargs.get("dtype"), **kwargs)
        except ValueError as exc:  # the cell checked the arguments: name the layer the user made
            cell_label = f"{self.cell_class.__name__} '{self.cell_name}'"
            raise ValueError(str(exc).replace(cell_label, f"{type(self).__name__} '{layer_kwargs['name']}'")) \
                from None
        super().__init__(cell, **rnn_kwargs, **layer_kwargs)
        from kerasette import regularizers  # deferred: only layers with an activity penalty need it

        self.activity_regularizer = regularizers.get(activity_regularizer)

    def __getattr__(self, name):
        if name in _CELL_ATTRIBUTES and "cell" in self.__dict__:
            return getattr(self.__dict__["cell"], name)
        raise AttributeError(f"{type(self).__name__!s} object has no attribute {name!r}")

    def call(self, inputs, mask=None, training=False, initial_state=None):
        out = super().call(inputs, mask=mask, training=training, initial_state=initial_state)
        if self.activity_regularizer is not None:
            from kerasette.backend import ops  # deferred: rarely used

            first = out[0] if isinstance(out, list) else out
            self._activity_losses = [ops.divide(self.activity_regularizer(first), float(first.shape[0]))]
        return out

    @property
    def losses(self) -> list:
        return [*RNN.losses.fget(self), *self.__dict__.get("_activity_losses", [])]

    def get_config(self) -> dict:
        from kerasette import regularizers  # deferred: see __init__

        cell = self.cell.get_config()
        for key in ("name", "trainable", "dtype"):
            cell.pop(key, None)
        base = RNN.get_config(self)
        base.pop("cell")
        return {**base, **cell, "activity_regularizer": regularizers.serialize(self.activity_regularizer)}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    @classmethod
    def translate_config(cls, config: dict) -> dict:
        config = super().translate_config(config)
        return cls.cell_class.translate_config(config) if cls.cell_class is GRUCell else config

    # -- weights in other layouts ----------------------------------------------------------
    def stored_weight_converter(self, var, stored_shape, origin):
        if not self.__dict__.get("_cudnn_file"):
            return None
        return _cudnn_converter(self, var, tuple(stored_shape))

    def regroup_stored_weights(self, arrays: list) -> list:
        """Keras 1's per-gate arrays (12 for an LSTM, 9 for a GRU) as Keras 2's ``[kernel,
        recurrent_kernel, bias]``; other lists are returned as they are."""
        arrays = list(arrays)
        gates = {"LSTM": 4, "GRU": 3}.get(self._keras_kind)
        if gates is None or len(arrays) != 3 * gates:
            return arrays
        # Keras 1 stores (W, U, b) per gate: LSTM in the order i, c, f, o; GRU z, r, h
        order = [0, 2, 1, 3] if gates == 4 else [0, 1, 2]
        triples = [arrays[3 * g:3 * g + 3] for g in order]
        return [np.concatenate([t[k] for t in triples], axis=-1) for k in range(3)]


def _split_gates(value: np.ndarray, n: int) -> list[np.ndarray]:
    return np.split(value, n, axis=-1)


def _cudnn_converter(layer, var, stored_shape):
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


@keras_layer(keras1=RECURRENT_KERAS1)
class SimpleRNN(_CellLayer):
    """A fully connected recurrence (`SimpleRNNCell`) through time (see `RNN`).

    Example:
        >>> SimpleRNN(4, return_sequences=True).compute_output_shape((None, 5, 3))
        (None, 5, 4)
    """

    cell_class = SimpleRNNCell
    cell_name = "simple_rnn_cell"
    _keras_kind = "SimpleRNN"


@keras_layer(keras1={**RECURRENT_KERAS1, "forget_bias_init": "unit_forget_bias"})
class LSTM(_CellLayer):
    """Keras's long short-term memory layer (`LSTMCell`) through time (see `RNN`).

    Example:
        >>> LSTM(8).compute_output_shape((None, 10, 3))
        (None, 8)
    """

    cell_class = LSTMCell
    cell_name = "lstm_cell"
    _keras_kind = "LSTM"


@keras_layer(keras1=RECURRENT_KERAS1)
class GRU(_CellLayer):
    """Keras's gated recurrent unit layer (`GRUCell`; ``reset_after`` both ways) through time.

    Example:
        >>> GRU(8, reset_after=False).compute_output_shape((None, 10, 3))
        (None, 8)
    """

    cell_class = GRUCell
    cell_name = "gru_cell"
    _keras_kind = "GRU"


def _cudnn_layer(cls, config: dict, **fixed):
    config = {k: v for k, v in config.items() if k not in ("implementation",)}
    layer = cls(**{**config, **fixed})
    layer._cudnn_file = True
    return layer


@keras_layer()
class CuDNNLSTM:
    """tf.keras's GPU-only LSTM, read as an `LSTM` (tanh, sigmoid gates): building one from a
    file's config gives an LSTM whose weights are converted from CuDNN's layout when loaded."""

    def __new__(cls, *args, **kwargs):
        return _cudnn_layer(LSTM, dict(kwargs, **dict(zip(("units",), args))), activation="tanh",
                            recurrent_activation="sigmoid")

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    @classmethod
    def translate_config(cls, config: dict) -> dict:
        return LSTM.translate_config(config)


@keras_layer()
class CuDNNGRU:
    """tf.keras's GPU-only GRU, read as a `GRU` with ``reset_after=True`` (see `CuDNNLSTM`)."""

    def __new__(cls, *args, **kwargs):
        return _cudnn_layer(GRU, dict(kwargs, **dict(zip(("units",), args))), activation="tanh",
                            recurrent_activation="sigmoid", reset_after=True)

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    @classmethod
    def translate_config(cls, config: dict) -> dict:
        return {**config, "reset_after": True}


