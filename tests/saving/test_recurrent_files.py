"""A stateful recurrent model written by real Keras 3 (``data/keras3_stateful``, made by
``data/keras3_layers/make_recurrent.py``): kerasette predicts two consecutive batches as Keras
did, the second from the states the first left. (The stateless recurrent fixtures are in
``data/keras3_layers`` and checked by ``test_keras3_layers.py`` and ``test_keras_interop.py``.)"""

from __future__ import annotations

import numpy as np

from kerasette.models import load_model
from tests.saving.conftest import DATA


def test_a_keras3_stateful_model_carries_its_states_from_batch_to_batch():
    data = np.load(DATA / "keras3_stateful/stateful.npz")
    model = load_model(DATA / "keras3_stateful/stateful.h5", compile=False)
    assert all(layer.stateful for layer in model.layers[:2])
    np.testing.assert_allclose(model.predict_on_batch(data["x_first"]), data["y_first"], rtol=0, atol=1e-5)
    np.testing.assert_allclose(model.predict_on_batch(data["x_second"]), data["y_second"], rtol=0, atol=1e-5)
    for layer in model.layers[:2]:
        layer.reset_states()
    np.testing.assert_allclose(model.predict_on_batch(data["x_first"]), data["y_first"], rtol=0, atol=1e-5)


def _write_keras1_recurrent_file(path, arrays_by_layer: dict, configs: list) -> None:
    """A Keras 1.2 full-model file (Theano weight names, no training config) for ``configs``."""
    import json

    import h5py

    def names(group, key, values):
        group.attrs[key] = [v.encode("utf8") for v in values] if values else np.zeros((0,), "float64")

    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"1.2.2"
        f.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": configs}).encode("utf8")
        group = f.create_group("model_weights")
        names(group, "layer_names", list(arrays_by_layer))
        for layer, items in arrays_by_layer.items():
            g = group.create_group(layer)
            names(g, "weight_names", [name for name, _ in items])
            for name, value in items:
                g.create_dataset(name, data=value)


LSTM1 = {"name": "lstm_1", "trainable": True, "batch_input_shape": [None, 5, 3], "input_dtype": "float32",
         "output_dim": 4, "init": "glorot_uniform", "inner_init": "orthogonal", "forget_bias_init": "one",
         "activation": "tanh", "inner_activation": "sigmoid", "W_regularizer": None, "U_regularizer": None,
         "b_regularizer": None, "dropout_W": 0.0, "dropout_U": 0.0, "return_sequences": True,
         "go_backwards": False, "stateful": False, "unroll": False, "consume_less": "cpu", "input_dim": 3,
         "input_length": None}
GRU1 = {"name": "gru_1", "trainable": True, "output_dim": 2, "init": "glorot_uniform", "inner_init": "orthogonal",
        "activation": "tanh", "inner_activation": "sigmoid", "W_regularizer": None, "U_regularizer": None,
        "b_regularizer": None, "dropout_W": 0.0, "dropout_U": 0.0, "return_sequences": False,
        "go_backwards": False, "stateful": False, "unroll": False, "consume_less": "mem", "input_dim": 4,
        "input_length": None}


def test_a_keras1_file_with_per_gate_lstm_and_gru_weights_loads(tmp_path):
    from tests.backend.recurrent_op_cases import gru_reference, lstm_reference

    rng = np.random.default_rng(0)
    lstm = {g: (rng.standard_normal((3, 4)), rng.standard_normal((4, 4)), rng.standard_normal(4)) for g in "icfo"}
    gru = {g: (rng.standard_normal((4, 2)), rng.standard_normal((2, 2)), rng.standard_normal(2)) for g in "zrh"}
    arrays = {"lstm_1": [(f"lstm_1_{w}_{g}", lstm[g][k]) for g in "icfo" for k, w in enumerate("WUb")],
              "gru_1": [(f"gru_1_{w}_{g}", gru[g][k]) for g in "zrh" for k, w in enumerate("WUb")]}
    _write_keras1_recurrent_file(tmp_path / "k1.h5", arrays, [{"class_name": "LSTM", "config": LSTM1},
                                                               {"class_name": "GRU", "config": GRU1}])
    model = load_model(tmp_path / "k1.h5", compile=False)
    x = rng.standard_normal((2, 5, 3)).astype("float32")
    cat = [np.concatenate([lstm[g][k] for g in "ifco"], -1) for k in range(3)]
    h0 = np.zeros((2, 4))
    seq = lstm_reference(x.transpose(1, 0, 2) @ cat[0] + cat[2], h0, h0, cat[1])
    gcat = [np.concatenate([gru[g][k] for g in "zrh"], -1) for k in range(3)]
    expected = gru_reference(seq @ gcat[0] + gcat[2], np.zeros((2, 2)), gcat[1], None, False, sequences=False)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-4, atol=1e-5)
