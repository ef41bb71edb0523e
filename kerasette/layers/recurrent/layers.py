"""SimpleRNN, LSTM and GRU: `RNN` over the built-in cells, with the cell's arguments on the layer.

Each takes its cell's arguments (units, activations, initializers, regularizers, constraints,
dropout, ...) and `RNN`'s (return_sequences, return_state, go_backwards, stateful, unroll,
zero_output_for_mask), in Keras 1, 2 and 3 spellings, and reads the cell's attributes
(``layer.units``, ``layer.kernel``, ...). Weights are the cell's, named
``<layer>/<cell>/kernel`` etc., in Keras's layout.

Files from other layouts (converted by `kerasette.layers.recurrent.stored_weights`):

- Keras 1 stored LSTM/GRU weights gate by gate (``lstm_1_W_i``, ``lstm_1_U_i``, ``lstm_1_b_i``,
  ... in the order i, c, f, o for the LSTM, z, r, h for the GRU) unless ``consume_less='gpu'``:
  `regroup_stored_weights` turns those 12 (9) arrays into Keras 2's three.
- tf.keras's ``CuDNNLSTM``/``CuDNNGRU`` (configs of those classes build an LSTM/GRU whose
  `stored_weight_converter` converts the stored kernels as Keras's own loader does: each gate's
  input kernel re-read in Fortran order, each recurrent kernel transposed, the CuDNN LSTM's two
  biases summed, the GRU's split into input and recurrent rows).
"""

from __future__ import annotations

from kerasette.layers.legacy import keras_layer
from kerasette.layers.recurrent.cell_base import RECURRENT_KERAS1
from kerasette.layers.recurrent.cell_layer import CellLayer
from kerasette.layers.recurrent.cells import GRUCell, LSTMCell, SimpleRNNCell
from kerasette.layers.recurrent.rnn import RNN
from kerasette.layers.recurrent.stored_weights import cudnn_converter, regroup_per_gate

_RNN_ARGUMENTS = ("return_sequences", "return_state", "go_backwards", "stateful", "unroll",
                  "zero_output_for_mask", "input_length", "time_major", "input_dim")


class _CellLayer(CellLayer):
    """An `RNN` whose cell (``cell_class``) is built from the layer's own arguments."""

    cell_class = None
    cell_name = "cell"
    cell_attributes = ("units", "activation", "recurrent_activation", "use_bias", "kernel_initializer",
                       "recurrent_initializer", "bias_initializer", "unit_forget_bias", "kernel_regularizer",
                       "recurrent_regularizer", "bias_regularizer", "kernel_constraint", "recurrent_constraint",
                       "bias_constraint", "dropout", "recurrent_dropout", "reset_after", "implementation", "seed",
                       "kernel", "recurrent_kernel", "bias")

    def __init__(self, *args, activity_regularizer=None, **kwargs):
        rnn_kwargs, layer_kwargs = self._split_arguments(kwargs, _RNN_ARGUMENTS)
        self._start(lambda: self.cell_class(*args, name=self.cell_name, dtype=layer_kwargs.get("dtype"), **kwargs),
                    f"{self.cell_class.__name__} '{self.cell_name}'", rnn_kwargs, layer_kwargs, activity_regularizer)

    def call(self, inputs, mask=None, training=False, initial_state=None):
        out = super().call(inputs, mask=mask, training=training, initial_state=initial_state)
        self._penalize_activity(out[0] if isinstance(out, list) else out)
        return out

    def get_config(self) -> dict:
        base = RNN.get_config(self)
        base.pop("cell")
        return self._with_cell_config(base)

    @classmethod
    def translate_config(cls, config: dict) -> dict:
        config = super().translate_config(config)
        return cls.cell_class.translate_config(config) if cls.cell_class is GRUCell else config

    # -- weights in other layouts (`kerasette.layers.recurrent.stored_weights`) ------------
    def stored_weight_converter(self, var, stored_shape, origin):
        if not self.__dict__.get("_cudnn_file"):
            return None
        return cudnn_converter(self, var, tuple(stored_shape))

    def regroup_stored_weights(self, arrays: list) -> list:
        """Keras 1's per-gate arrays (12 for an LSTM, 9 for a GRU) as Keras 2's ``[kernel,
        recurrent_kernel, bias]``; other lists are returned as they are."""
        arrays = list(arrays)
        gates = {"LSTM": 4, "GRU": 3}.get(self._keras_kind)
        if gates is None or len(arrays) != 3 * gates:
            return arrays
        return regroup_per_gate(arrays, gates)


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


class _CuDNNLayer:
    """A tf.keras GPU-only layer read as the layer ``target`` with the ``fixed`` arguments (its
    config's ``implementation`` dropped): building one gives a ``target`` whose weights are
    converted from CuDNN's layout when loaded (`kerasette.layers.recurrent.stored_weights`)."""

    target = None
    fixed: dict = {}

    def __new__(cls, *args, **kwargs):
        config = {k: v for k, v in dict(kwargs, **dict(zip(("units",), args))).items() if k != "implementation"}
        layer = cls.target(**{**config, **cls.fixed})
        layer._cudnn_file = True
        return layer

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)


@keras_layer()
class CuDNNLSTM(_CuDNNLayer):
    """tf.keras's GPU-only LSTM, read as an `LSTM` (tanh, sigmoid gates): building one from a
    file's config gives an LSTM whose weights are converted from CuDNN's layout when loaded."""

    target = LSTM
    fixed = {"activation": "tanh", "recurrent_activation": "sigmoid"}

    @classmethod
    def translate_config(cls, config: dict) -> dict:
        return LSTM.translate_config(config)


@keras_layer()
class CuDNNGRU(_CuDNNLayer):
    """tf.keras's GPU-only GRU, read as a `GRU` with ``reset_after=True`` (see `CuDNNLSTM`)."""

    target = GRU
    fixed = {"activation": "tanh", "recurrent_activation": "sigmoid", "reset_after": True}

    @classmethod
    def translate_config(cls, config: dict) -> dict:
        return {**config, "reset_after": True}
