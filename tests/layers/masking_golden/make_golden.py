"""Masks through the non-recurrent layers, from real Keras 3 (tests/layers/test_mask_propagation.py).

Run once in a side environment (never a kerasette dependency):

    KERAS_BACKEND=torch /work/kerasenv/bin/python tests/layers/masking_golden/make_golden.py

A functional model on two padded token inputs, each through Embedding(mask_zero=True); each
output is an LSTM reading a mask that came through other layers, so that its value says which
steps it skipped:

- ``add``: Add of the two embeddings (the masks or-ed);
- ``time``: Concatenate along the steps (the masks joined);
- ``features``: Concatenate along the features of the first embedding and Dense of the second
  (Dense passes the mask on; the masks or-ed);
- ``chain``: Dense -> Activation -> Dropout -> LayerNormalization -> LeakyReLU -> GaussianNoise
  (each passes the mask on), an LSTM returning sequences and GlobalAveragePooling1D over the
  unmasked steps;
- ``stopped``: Add of the first embedding and a Conv1D of the second (Conv1D stops the mask, so
  the sum has none and the LSTM reads every step);
- ``multiply``, ``multiply_one_masked``, ``maximum``, ``minimum``: the merges whose values depend
  on the masks (masked values count as 1 in a product; never win a maximum or minimum).

Writes ``golden.npz``: the inputs ``x_0``, ``x_1``, each layer's weights ``w_<layer>_<i>`` and the
predictions ``y_<name>``. (Not a model file: Keras 3 saves the mask computations of this graph
as extra ``NotEqual`` operation layers in its functional config.)
"""

import os
import pathlib

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers  # noqa: E402

HERE = pathlib.Path(__file__).parent
keras.utils.set_random_seed(5)
rng = np.random.default_rng(5)
B, T, V = 4, 5, 9
x0 = rng.integers(1, V, size=(B, T))
x1 = rng.integers(1, V, size=(B, T))
for row, (n0, n1) in enumerate([(5, 2), (2, 4), (3, 3), (1, 5)]):
    x0[row, n0:] = 0
    x1[row, n1:] = 0
x1[2, 0] = 0  # a masked step before unmasked ones

a = keras.Input((T,), name="a")
b = keras.Input((T,), name="b")
ea = layers.Embedding(V, 3, mask_zero=True, name="ea")(a)
eb = layers.Embedding(V, 3, mask_zero=True, name="eb")(b)
outputs = {
    "add": layers.LSTM(4, name="lstm_add")(layers.Add(name="add")([ea, eb])),
    "time": layers.LSTM(4, name="lstm_time")(layers.Concatenate(axis=1, name="cat_time")([ea, eb])),
    "features": layers.LSTM(4, name="lstm_features")(
        layers.Concatenate(name="cat_features")([ea, layers.Dense(2, name="dense_b")(eb)])),
}
h = layers.Dense(5, name="dense_chain")(ea)
h = layers.Activation("tanh", name="act")(h)
h = layers.Dropout(0.3, name="drop")(h)
h = layers.LayerNormalization(name="norm")(h)
h = layers.LeakyReLU(name="leaky")(h)
h = layers.GaussianNoise(0.1, name="noise")(h)
h = layers.LSTM(3, return_sequences=True, name="lstm_chain")(h)
outputs["chain"] = layers.GlobalAveragePooling1D(name="pool")(h)
outputs["stopped"] = layers.LSTM(4, name="lstm_stopped")(
    layers.Add(name="add_stopped")([ea, layers.Conv1D(3, 1, name="conv_b")(eb)]))
outputs["multiply"] = layers.Multiply(name="multiply")([ea, eb])  # masked values count as 1, then 0
outputs["multiply_one_masked"] = layers.Multiply(name="multiply_one")([ea, layers.Conv1D(3, 1, name="conv_m")(eb)])
outputs["maximum"] = layers.Maximum(name="maximum")([ea, eb])
outputs["minimum"] = layers.Minimum(name="minimum")([layers.Conv1D(3, 1, name="conv_n")(ea), eb])
model = keras.Model([a, b], list(outputs.values()))
for layer in model.layers:  # visible weights: biases and LayerNormalization's too
    layer.set_weights([rng.uniform(-0.7, 0.7, w.shape).astype("float32") for w in layer.get_weights()])
ys = model.predict([x0, x1], verbose=0)
weights = {f"w_{layer.name}_{i}": w for layer in model.layers for i, w in enumerate(layer.get_weights())}
np.savez(HERE / "golden.npz", x_0=x0, x_1=x1, **weights, **{f"y_{name}": y for name, y in zip(outputs, ys)})
print({name: y[0] for name, y in zip(outputs, ys)})
