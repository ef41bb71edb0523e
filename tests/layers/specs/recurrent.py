"""Layer table entries: the recurrent layers, their cells under RNN, Masking and the wrappers.

Embedding is not here: the table feeds float inputs drawn from a normal distribution, and an
Embedding takes indices; ``tests/layers/test_recurrent_layers.py`` tests it. Layers with
``return_state`` (a list of outputs) are tested there too.
"""

from __future__ import annotations

import numpy as np

from kerasette import layers
from tests.layers.specs import Spec

RNN_NAMES = ("kernel", "recurrent_kernel", "bias")


def _linear_rnn_reference(x):
    """SimpleRNN(3, linear, kernel ones, recurrent zeros, no bias): each unit is the sum of the
    last step's features."""
    return np.repeat(x[:, -1].sum(-1, keepdims=True), 3, axis=1)


SPECS = [
    Spec("simple-rnn", lambda: layers.SimpleRNN(4), (5, 3), 3, 32, None, RNN_NAMES),
    Spec("simple-rnn-linear-reference", lambda: layers.SimpleRNN(3, activation="linear", kernel_initializer="ones",
                                                                recurrent_initializer="zeros", use_bias=False),
         (4, 2), 2, 15, _linear_rnn_reference, ("kernel", "recurrent_kernel")),
    Spec("simple-rnn-sequences-backwards", lambda: layers.SimpleRNN(4, return_sequences=True, go_backwards=True),
         (5, 3), 3, 32, None, RNN_NAMES),
    Spec("lstm", lambda: layers.LSTM(4), (5, 3), 3, 128, None, RNN_NAMES),
    Spec("lstm-sequences", lambda: layers.LSTM(4, return_sequences=True, recurrent_activation="hard_sigmoid"),
         (5, 3), 3, 128, None, RNN_NAMES),
    Spec("lstm-no-bias-backwards", lambda: layers.LSTM(4, use_bias=False, go_backwards=True, unroll=True), (5, 3),
         2, 112, None, ("kernel", "recurrent_kernel")),
    Spec("gru", lambda: layers.GRU(4), (5, 3), 3, 108, None, RNN_NAMES),
    Spec("gru-reset-before", lambda: layers.GRU(4, reset_after=False, return_sequences=True), (5, 3), 3, 96, None,
         RNN_NAMES),
    Spec("rnn-lstm-cell", lambda: layers.RNN(layers.LSTMCell(3)), (4, 3), 3, 84, None, RNN_NAMES),
    Spec("rnn-stacked-cells", lambda: layers.RNN([layers.SimpleRNNCell(3), layers.GRUCell(2)]), (4, 3), 6, 63, None,
         RNN_NAMES * 2),
    Spec("bidirectional-lstm", lambda: layers.Bidirectional(layers.LSTM(4)), (5, 3), 6, 256, None, RNN_NAMES * 2),
    Spec("bidirectional-gru-sum-sequences", lambda: layers.Bidirectional(layers.GRU(3, return_sequences=True),
                                                                         merge_mode="sum"),
         (4, 2), 6, 2 * (6 * 3 + 3 * 9 + 2 * 9), None, RNN_NAMES * 2),
    Spec("time-distributed-dense", lambda: layers.TimeDistributed(layers.Dense(3)), (4, 5), 2, 18, None),
    Spec("masking", lambda: layers.Masking(0.0), (4, 3), 0, 0, lambda x: x),
]
