"""Threads calling one model whose BatchNormalizations are folded into their convolutions.

The folded weights are swapped into the layer for its call (`kerasette.layers.folding`); a second
thread must neither compute with the first one's swap half undone nor take the first one's
folded weights for the layer's own (which would fold twice and keep the folded weights after).
"""

import threading

import numpy as np

from kerasette.layers import Activation, BatchNormalization, Conv2D, Dense, GlobalAveragePooling2D, Input
from kerasette.models import Model


def _model_and_data():
    rng = np.random.default_rng(0)
    inputs = Input((8, 8, 4))
    x = inputs
    for _ in range(3):
        x = Activation("relu")(BatchNormalization()(Conv2D(8, (3, 3), padding="same")(x)))
    model = Model(inputs, Dense(3)(GlobalAveragePooling2D()(x)))
    for layer in model.layers:  # statistics away from the initial 0 and 1, so a fold changes the output
        if isinstance(layer, BatchNormalization):
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights([gamma * 1.5, beta + 0.25, mean + 0.5, variance * 2.0])
    return model, rng.standard_normal((16, 8, 8, 4)).astype("float32")


def _in_threads(fn, threads=3):
    errors = []

    def run():
        try:
            fn()
        except BaseException as error:  # noqa: BLE001 - reported in the main thread
            errors.append(error)

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if errors:
        raise errors[0]


def test_threads_calling_a_folded_model_get_its_outputs_and_leave_its_weights():
    model, data = _model_and_data()
    expected = np.asarray(model(data, training=False))
    weights = model.get_weights()
    kernels = [layer.kernel for layer in model.layers if isinstance(layer, Conv2D)]
    wrong = []

    def call_many():
        for _ in range(60):
            if not np.allclose(np.asarray(model(data, training=False)), expected, rtol=1e-5, atol=1e-6):
                wrong.append(1)

    _in_threads(call_many)
    assert not wrong, f"{len(wrong)} of 180 calls gave other outputs"
    assert [layer.kernel for layer in model.layers if isinstance(layer, Conv2D)] == kernels
    for before, after in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(before, after)


def test_threads_predicting_on_a_folded_model_get_its_predictions():
    model, data = _model_and_data()
    expected = model.predict(data, verbose=0)
    wrong = []

    def predict_many():
        for _ in range(30):
            if not np.allclose(model.predict(data, verbose=0), expected, rtol=1e-5, atol=1e-6):
                wrong.append(1)

    _in_threads(predict_many)
    assert not wrong
