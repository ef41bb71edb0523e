"""Layer table entries for Keras 2's ``time_major`` RNN option: the table's batch axis is then
the steps axis, and with ``return_sequences`` the output keeps it first. (``constants`` take a
second input; ``tests/layers/test_rnn_constants_time_major.py`` tests them.)"""

from __future__ import annotations

import numpy as np

from kerasette import layers
from tests.layers.specs import Spec

RNN_NAMES = ("kernel", "recurrent_kernel", "bias")


def _linear_time_major_reference(x):
    """SimpleRNN(3, linear, kernel ones, recurrent zeros, no bias) over (steps, batch, features):
    each step's units are the sum of that step's features."""
    return np.repeat(x.sum(-1, keepdims=True), 3, axis=-1)


SPECS = [
    Spec("simple-rnn-time-major-linear-reference",
         lambda: layers.SimpleRNN(3, activation="linear", kernel_initializer="ones", recurrent_initializer="zeros",
                                  use_bias=False, time_major=True, return_sequences=True),
         (4, 2), 2, 15, _linear_time_major_reference, ("kernel", "recurrent_kernel")),
    Spec("lstm-time-major-sequences", lambda: layers.LSTM(4, time_major=True, return_sequences=True), (5, 3), 3, 128,
         None, RNN_NAMES),
    Spec("gru-time-major-backwards", lambda: layers.GRU(4, time_major=True, return_sequences=True,
                                                        go_backwards=True), (5, 3), 3, 108, None, RNN_NAMES),
]
