"""The recurrent modules were split along their seams; every name they offered stays importable
from where it was (users, tests and Keras 1 paths import them there), as the very object the
new module defines, and the layers still import with no cycle between the new modules."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

#: (old module, name, module that defines it now)
MOVED = [
    ("kerasette.layers.recurrent.cells", "StackedRNNCells", "kerasette.layers.recurrent.stacked"),
    ("kerasette.layers.recurrent.cells", "DropoutRNNCell", "kerasette.layers.recurrent.cell_base"),
    ("kerasette.layers.recurrent.cells", "RECURRENT_KERAS1", "kerasette.layers.recurrent.cell_base"),
    ("kerasette.layers.recurrent.cells", "fusable_name", "kerasette.layers.recurrent.cell_base"),
    ("kerasette.layers.recurrent.cells", "serialize_nested", "kerasette.layers.recurrent.nesting"),
    ("kerasette.layers.recurrent.cells", "deserialize_nested", "kerasette.layers.recurrent.nesting"),
    ("kerasette.layers.recurrent.cells", "call_cell", "kerasette.layers.recurrent.nesting"),
    ("kerasette.layers.recurrent.cells", "takes_constants", "kerasette.layers.recurrent.nesting"),
    ("kerasette.layers.recurrent.conv_lstm", "ConvLSTMCell", "kerasette.layers.recurrent.conv_lstm_cell"),
    ("kerasette.layers.recurrent.conv_lstm", "conv_lstm_sequence", "kerasette.layers.recurrent.conv_lstm_steps"),
    ("kerasette.layers.recurrent.conv_lstm", "conv_nd", "kerasette.layers.recurrent.conv_lstm_steps"),
    ("kerasette.layers.recurrent.conv_lstm", "lstm_gates", "kerasette.layers.recurrent.conv_lstm_steps"),
    ("kerasette.layers.recurrent.conv_lstm", "recurrent_conv", "kerasette.layers.recurrent.conv_lstm_steps"),
    ("kerasette.layers.recurrent.conv_lstm", "GATES", "kerasette.layers.recurrent.conv_lstm_steps"),
    ("kerasette.backend.ops.recurrent", "Recurrence", "kerasette.backend.ops.recurrence_op"),
    ("kerasette.backend.ops.recurrent", "ACTIVATION_CODES", "kerasette.backend.ops.recurrence_op"),
    ("kerasette.backend.ops.recurrent", "KINDS", "kerasette.backend.ops.recurrence_op"),
    ("kerasette.backend.ops.recurrent", "activation_code", "kerasette.backend.ops.recurrence_op"),
    ("kerasette.backend.ops.recurrent", "pack_lstm_recurrent", "kerasette.backend.ops.recurrence_op"),
    ("kerasette.backend.ops.recurrent", "Embedding", "kerasette.backend.ops.embedding"),
    ("kerasette.backend.ops.recurrent", "embedding", "kerasette.backend.ops.embedding"),
    ("kerasette.backend.ops.recurrent", "embedding_of", "kerasette.backend.ops.embedding"),
    ("kerasette.backend.ops.recurrent", "gathered_rows", "kerasette.backend.ops.embedding"),
    ("kerasette.backend.ops.recurrent", "GatheredRows", "kerasette.backend.ops.embedding"),
    ("kerasette.backend.ops.recurrent", "LazyTensor", "kerasette.backend.ops.embedding"),
    ("kerasette.backend.ops.recurrent", "FoldedProjections", "kerasette.backend.ops.folded_projections"),
    ("kerasette.backend.ops.recurrent", "records_gradient", "kerasette.backend.ops.recording"),
]

#: names that stayed where they were
STAYED = [
    ("kerasette.layers.recurrent.cells", ("SimpleRNNCell", "LSTMCell", "GRUCell")),
    ("kerasette.layers.recurrent.conv_lstm", ("ConvLSTM", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D", "CONV_LSTM_KERAS1")),
    ("kerasette.layers.recurrent.layers", ("SimpleRNN", "LSTM", "GRU", "CuDNNLSTM", "CuDNNGRU")),
    ("kerasette.layers.recurrent.rnn", ("RNN",)),
    ("kerasette.backend.ops.recurrent", ("recurrence", "simple_rnn", "lstm", "gru")),
]


@pytest.mark.parametrize("old, name, new", MOVED, ids=[f"{o.rsplit('.', 1)[1]}.{n}" for o, n, _ in MOVED])
def test_a_moved_name_is_the_new_modules_object(old, name, new):
    assert getattr(importlib.import_module(old), name) is getattr(importlib.import_module(new), name)


@pytest.mark.parametrize("module, names", STAYED, ids=[m.rsplit(".", 1)[1] for m, _ in STAYED])
def test_the_names_that_stayed_are_defined_there(module, names):
    found = importlib.import_module(module)
    for name in names:
        value = getattr(found, name)
        assert getattr(value, "__module__", module) == module, name


def test_the_layer_package_and_keras_paths_give_the_same_classes():
    from kerasette import layers
    from kerasette.layers import recurrent

    for name in recurrent.__all__:
        assert getattr(layers, name) is getattr(recurrent, name)


@pytest.mark.parametrize("module", ["kerasette.layers.recurrent.conv_lstm", "kerasette.layers.recurrent.layers",
                                   "kerasette.layers.recurrent.cells", "kerasette.backend.ops.recurrent"])
def test_each_module_imports_first_in_a_fresh_interpreter(module):
    """A module imported before anything else of the package still imports (an import cycle
    between the split modules would fail here, whichever side is imported first)."""
    done = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
