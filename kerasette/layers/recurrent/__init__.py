"""Recurrent layers (Keras 1/2 paths ``keras.layers.recurrent`` and
``keras.layers.convolutional_recurrent``): `RNN` over a cell, the cells `SimpleRNNCell`,
`LSTMCell`, `GRUCell`, `StackedRNNCells`, the layers `SimpleRNN`, `LSTM`, `GRU` (plus tf.keras's
`CuDNNLSTM`/`CuDNNGRU`, read as LSTM/GRU) and `ConvLSTM1D`, `ConvLSTM2D`, `ConvLSTM3D`.

The modules, from the bottom up:

- `nesting`: a layer inside a layer (the config of a cell or wrapped layer; a cell's state and
  output sizes; calling a cell);
- `cell_base`: what the built-in cells share (Keras 1 names, dropout masks, the three weights'
  arguments, building and config, the LSTM's forget-gate bias);
- `stacked`: `StackedRNNCells`;
- `cells`: the dense cells (`SimpleRNNCell`, `LSTMCell`, `GRUCell`), one step and a whole
  sequence in the fused kernels;
- `states`: a recurrent layer's states (initial, kept by a stateful layer, ``reset_states``);
- `runs`: how `RNN` runs its cell through a sequence (the fused kernels, or step by step
  through ``K.rnn``);
- `rnn`: `RNN`, a cell through time with every option of Keras's recurrent layers;
- `cell_layer`: `CellLayer`, an `RNN` whose cell is made from the layer's own arguments;
- `stored_weights`: weights stored in other layouts (Keras 1's per-gate arrays, CuDNN's,
  Theano's kernels);
- `layers`: `SimpleRNN`, `LSTM`, `GRU`, `CuDNNLSTM`, `CuDNNGRU`;
- `conv_lstm_steps`, `conv_lstm_cell`, `conv_lstm`: the convolutional LSTM's computation as
  ops, its cell, and its layers.
"""

from kerasette.layers.recurrent.cells import GRUCell, LSTMCell, SimpleRNNCell, StackedRNNCells
from kerasette.layers.recurrent.conv_lstm import ConvLSTM1D, ConvLSTM2D, ConvLSTM3D
from kerasette.layers.recurrent.layers import GRU, LSTM, CuDNNGRU, CuDNNLSTM, SimpleRNN
from kerasette.layers.recurrent.rnn import RNN

__all__ = ["GRU", "LSTM", "RNN", "CuDNNGRU", "CuDNNLSTM", "GRUCell", "LSTMCell", "SimpleRNN", "SimpleRNNCell",
           "StackedRNNCells"]
__all__ += ["ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"]
