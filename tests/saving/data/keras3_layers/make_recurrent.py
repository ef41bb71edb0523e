"""Writes this folder's recurrent fixtures with real Keras 3 (not kerasette): small sequence
models with Embedding, Masking, SimpleRNN, LSTM, GRU (reset after and before), Bidirectional and
TimeDistributed, with and without masks, trained a few steps; and, in ``../keras3_stateful/``,
a stateful LSTM with Keras's predictions for two consecutive batches.

    KERAS_BACKEND=torch /work/kerasenv/bin/python tests/saving/data/keras3_layers/make_recurrent.py

For each model NAME: ``NAME.h5`` (legacy full model, ``model.save``) and ``NAME.npz`` (inputs
``x`` or ``x_0``, ``x_1``, ... and Keras's inference predictions ``y``).
"""

from __future__ import annotations

import pathlib

import keras
import numpy as np
from keras import layers

HERE = pathlib.Path(__file__).resolve().parent
STATEFUL = HERE.parent / "keras3_stateful"


def _padded_indices(rng, n, steps, vocab):
    x = rng.integers(1, vocab, (n, steps))
    for i in range(n):  # padding at the end (post) and at the start (pre) of some sequences
        cut = int(rng.integers(1, steps))
        if i % 2:
            x[i, cut:] = 0
        else:
            x[i, :steps - cut] = 0
    return x


def embedding_masked_model():
    """Embedding(mask_zero) -> LSTM(return_sequences) -> GRU: the mask skips the padding."""
    return keras.Sequential([
        keras.Input((7,)),
        layers.Embedding(20, 5, mask_zero=True),
        layers.LSTM(4, return_sequences=True),
        layers.GRU(3),
        layers.Dense(2),
    ])


def unmasked_model():
    """SimpleRNN backwards, LSTM with hard sigmoid, GRU reset before, no mask."""
    return keras.Sequential([
        keras.Input((6, 3)),
        layers.SimpleRNN(4, return_sequences=True, go_backwards=True),
        layers.LSTM(3, return_sequences=True, recurrent_activation="hard_sigmoid", unit_forget_bias=False,
                    bias_initializer="random_normal"),
        layers.GRU(3, reset_after=False, bias_initializer="random_normal"),
        layers.Dense(2),
    ])


def bidirectional_model():
    """Masking, then Bidirectional LSTM (sequences, concat) and Bidirectional GRU (sum)."""
    return keras.Sequential([
        keras.Input((5, 4)),
        layers.Masking(0.0),
        layers.Bidirectional(layers.LSTM(3, return_sequences=True)),
        layers.Bidirectional(layers.GRU(2, bias_initializer="random_normal"), merge_mode="sum"),
        layers.Dense(2),
    ])


def time_distributed_model():
    """TimeDistributed Conv2D and Flatten over a sequence of small images, then an LSTM and a
    TimeDistributed Dense over its sequence."""
    return keras.Sequential([
        keras.Input((3, 5, 5, 2)),
        layers.TimeDistributed(layers.Conv2D(3, 3)),
        layers.TimeDistributed(layers.Flatten()),
        layers.LSTM(4, return_sequences=True, go_backwards=True),
        layers.TimeDistributed(layers.Dense(2)),
    ])


def states_model():
    """Functional: an LSTM's return_state outputs merged, a GRU reading from initial states."""
    inp = keras.Input((6, 3))
    out, h, c = layers.LSTM(4, return_state=True)(inp)
    merged = layers.Concatenate()([out, h, c])
    return keras.Model(inp, layers.Dense(2)(merged))


def stateful_model():
    return keras.Sequential([
        keras.Input(batch_shape=(4, 5, 3)),
        layers.LSTM(3, stateful=True, return_sequences=True, bias_initializer="random_normal"),
        layers.GRU(2, stateful=True, bias_initializer="random_normal"),
        layers.Dense(2),
    ])


def _train(model, x, y):
    model.compile(keras.optimizers.Adam(0.05), "mse")
    model.fit(x, y, batch_size=8, epochs=3, verbose=0)


def main() -> None:
    keras.utils.set_random_seed(5)
    rng = np.random.default_rng(5)
    masked_seq = rng.standard_normal((16, 5, 4)).astype("float32")
    for i in range(16):
        masked_seq[i, rng.integers(0, 5, 2)] = 0.0  # two masked steps per sequence
    cases = [
        ("recurrent_embedding_masked", embedding_masked_model, _padded_indices(rng, 16, 7, 20)),
        ("recurrent_unmasked", unmasked_model, rng.standard_normal((16, 6, 3)).astype("float32")),
        ("recurrent_bidirectional_masked", bidirectional_model, masked_seq),
        ("recurrent_time_distributed", time_distributed_model, rng.standard_normal((16, 3, 5, 5, 2)).astype("float32")),
        ("recurrent_states", states_model, rng.standard_normal((16, 6, 3)).astype("float32")),
    ]
    for name, make, x in cases:
        model = make()
        y = rng.standard_normal((16, *model.output_shape[1:])).astype("float32")
        _train(model, x, y)
        model.save(HERE / f"{name}.h5")
        np.savez(HERE / f"{name}.npz", x=x[:5], y=model.predict(x[:5], verbose=0))
        print(name, "written")
    STATEFUL.mkdir(exist_ok=True)
    model = stateful_model()
    x = rng.standard_normal((8, 5, 3)).astype("float32")
    # not trained: Keras's torch backend fails to train a stateful GRU (an in-place state update);
    # the random initial weights and biases are not special values
    model.compile(keras.optimizers.Adam(0.05), "mse")
    model.save(STATEFUL / "stateful.h5")
    first = model.predict_on_batch(x[:4])
    second = model.predict_on_batch(x[4:])  # starts from the states the first batch left
    np.savez(STATEFUL / "stateful.npz", x_first=x[:4], x_second=x[4:], y_first=first, y_second=second)
    print("stateful written")


if __name__ == "__main__":
    main()
