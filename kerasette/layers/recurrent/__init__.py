"""Recurrent layers (Keras 1/2 path ``keras.layers.recurrent``): `RNN` over a cell, the cells
`SimpleRNNCell`, `LSTMCell`, `GRUCell`, `StackedRNNCells`, and the layers `SimpleRNN`, `LSTM`,
`GRU` (plus tf.keras's `CuDNNLSTM`/`CuDNNGRU`, read as LSTM/GRU). See `rnn` for the options and
`cells` for the computations."""

from kerasette.layers.recurrent.cells import GRUCell, LSTMCell, SimpleRNNCell, StackedRNNCells
from kerasette.layers.recurrent.conv_lstm import ConvLSTM1D, ConvLSTM2D, ConvLSTM3D
from kerasette.layers.recurrent.layers import GRU, LSTM, CuDNNGRU, CuDNNLSTM, SimpleRNN
from kerasette.layers.recurrent.rnn import RNN

__all__ = ["GRU", "LSTM", "RNN", "CuDNNGRU", "CuDNNLSTM", "GRUCell", "LSTMCell", "SimpleRNN", "SimpleRNNCell",
           "StackedRNNCells"]
__all__ += ["ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"]
