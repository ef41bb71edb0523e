"""Layer table entries: the convolutional LSTMs (ConvLSTM1D, ConvLSTM2D, ConvLSTM3D).

Their values against numpy step loops with random weights, masks, dropout, states, errors and
config forms are tested in ``tests/layers/test_conv_recurrent_layers.py``; here one entry has a
reference with constant weights (kernel ones, no recurrence, no bias).
"""

from __future__ import annotations

import numpy as np

from kerasette import layers
from tests.backend.conv_recurrent_op_cases import conv_lstm_reference
from tests.layers.specs import Spec

NAMES = ("kernel", "recurrent_kernel", "bias")


def _ones_kernel_reference(x):
    """ConvLSTM2D(2, 2, kernel ones, recurrent zeros, no bias, sequences, backwards)."""
    batch, _, rows, cols, channels = x.shape
    state = np.zeros((batch, rows - 1, cols - 1, 2))
    out, _, _ = conv_lstm_reference(x, state, state, np.ones((2, 2, channels, 8)), np.zeros((2, 2, 2, 8)),
                                    go_backwards=True)
    return out


SPECS = [
    Spec("conv-lstm2d", lambda: layers.ConvLSTM2D(3, 2), (4, 6, 6, 2), 3, 96 + 144 + 12, None, NAMES),
    Spec("conv-lstm2d-same-sequences-channels-first",
         lambda: layers.ConvLSTM2D(2, 3, padding="same", data_format="channels_first", return_sequences=True),
         (3, 2, 5, 5), 3, 144 + 144 + 8, None, NAMES),
    Spec("conv-lstm2d-ones-kernel-reference",
         lambda: layers.ConvLSTM2D(2, 2, kernel_initializer="ones", recurrent_initializer="zeros", use_bias=False,
                                   return_sequences=True, go_backwards=True),
         (3, 4, 5, 2), 2, 64 + 64, _ones_kernel_reference, NAMES[:2]),
    Spec("conv-lstm2d-strided-hard-sigmoid",
         lambda: layers.ConvLSTM2D(2, (3, 2), strides=(2, 1), recurrent_activation="hard_sigmoid",
                                   unit_forget_bias=False),
         (3, 7, 5, 1), 3, 48 + 96 + 8, None, NAMES),
    Spec("conv-lstm1d", lambda: layers.ConvLSTM1D(3, 3, strides=2), (4, 9, 2), 3, 72 + 108 + 12, None, NAMES),
    Spec("conv-lstm3d", lambda: layers.ConvLSTM3D(2, 2, padding="same"), (3, 3, 4, 3, 1), 3, 64 + 128 + 8, None,
         NAMES),
]
