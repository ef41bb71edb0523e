"""Masks reach the losses and metrics as in Keras 3: an output that carries a mask (a sequence
model fed by ``Embedding(mask_zero=True)`` or ``Masking``) counts only its unmasked steps in the
loss and in the metrics built on a function (accuracy, mae, mse). Golden numbers from real Keras
3.15.1 (``masked_loss_golden/make_golden.py``)."""

import pathlib

import numpy as np
import pytest

from kerasette import layers, losses, metrics
from kerasette.backend.tensor import Tensor
from kerasette.models import Sequential

GOLDEN = np.load(pathlib.Path(__file__).parent / "masked_loss_golden" / "golden.npz")
B, T, V = GOLDEN["tokens"].shape + (7,)


def _weights(prefix):
    return [GOLDEN[f"{prefix}_w{i}"] for i in range(sum(k.startswith(prefix + "_w") for k in GOLDEN.files))]


def _tagger():
    from kerasette import optimizers

    model = Sequential([layers.Embedding(V, 3, mask_zero=True, input_shape=(T,)),
                        layers.LSTM(4, return_sequences=True),
                        layers.TimeDistributed(layers.Dense(3, activation="softmax"))])
    model.set_weights(_weights("tagger"))
    model.compile(optimizer=optimizers.SGD(learning_rate=0.5), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], weighted_metrics=["accuracy"])
    return model


def _regressor(reduction):
    from kerasette import optimizers

    model = Sequential([layers.Masking(0.0, input_shape=(T, 2)), layers.SimpleRNN(3, return_sequences=True),
                        layers.TimeDistributed(layers.Dense(1, activation="sigmoid"))])
    model.set_weights(_weights("regressor"))
    model.compile(optimizer=optimizers.SGD(learning_rate=0.5), loss=losses.BinaryCrossentropy(reduction=reduction),
                  metrics=["mae"], weighted_metrics=["mse"])
    return model


def _values(logs, names):
    return np.array([logs[n] for n in names])


TAGGER = ["loss", "accuracy", "weighted_accuracy"]


def test_tagger_predictions_match_keras():
    np.testing.assert_allclose(_tagger().predict(GOLDEN["tokens"], verbose=0), GOLDEN["tagger_predict"], atol=1e-6)


@pytest.mark.parametrize("case, kwargs", [
    ("tagger_evaluate", {}),
    ("tagger_evaluate_batches", {"batch_size": 2}),
    ("tagger_evaluate_weighted", {"sample_weight": "step_weight"}),
])
def test_masked_loss_and_metrics_match_keras_in_evaluate(case, kwargs):
    kwargs = {k: GOLDEN[v] if isinstance(v, str) else v for k, v in kwargs.items()}
    logs = _tagger().evaluate(GOLDEN["tokens"], GOLDEN["tags"], verbose=0, return_dict=True, **kwargs)
    np.testing.assert_allclose(_values(logs, TAGGER), GOLDEN[case], rtol=1e-5)


def test_masked_train_on_batch_matches_keras_logs_and_step():
    model = _tagger()
    logs = model.train_on_batch(GOLDEN["tokens"], GOLDEN["tags"], sample_weight=GOLDEN["step_weight"])
    np.testing.assert_allclose(logs, GOLDEN["tagger_train_logs"], rtol=1e-5)
    # the gradient reaches only the unmasked steps, as in Keras: the updated model predicts the same
    np.testing.assert_allclose(model.predict(GOLDEN["tokens"], verbose=0), GOLDEN["tagger_predict_after_step"],
                               atol=1e-5)


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "mean_with_sample_weight"])
def test_masked_reductions_match_keras(reduction):
    model = _regressor(reduction)
    np.testing.assert_allclose(model.predict(GOLDEN["series"], verbose=0), GOLDEN["regressor_predict"], atol=1e-6)
    names = ["loss", "mae", "mse"]
    logs = model.evaluate(GOLDEN["series"], GOLDEN["binary"], sample_weight=GOLDEN["step_weight"], verbose=0,
                          return_dict=True)
    np.testing.assert_allclose(_values(logs, names), GOLDEN[f"regressor_evaluate_{reduction}"], rtol=1e-5)
    logs = model.train_on_batch(GOLDEN["series"], GOLDEN["binary"], sample_weight=GOLDEN["step_weight"])
    np.testing.assert_allclose(logs, GOLDEN[f"regressor_train_{reduction}"], rtol=1e-5)
    np.testing.assert_allclose(model.predict(GOLDEN["series"], verbose=0),
                               GOLDEN[f"regressor_predict_after_{reduction}"], atol=1e-5)


def test_per_sample_weights_apply_to_every_step_of_their_sample():
    """Keras 3.15 fails to broadcast (batch,) weights against a (batch, steps) mask; kerasette
    applies each sample's weight to its steps (Keras 2's rule): the same as repeating it."""
    per_sample = np.array([1.0, 2.0, 0.5, 3.0, 0.0], "float32")
    a = _tagger().evaluate(GOLDEN["tokens"], GOLDEN["tags"], sample_weight=per_sample, verbose=0)
    b = _tagger().evaluate(GOLDEN["tokens"], GOLDEN["tags"], sample_weight=np.repeat(per_sample[:, None], T, 1),
                           verbose=0)
    np.testing.assert_allclose(a, b, rtol=1e-6)


def test_loss_reduction_by_hand():
    values = Tensor(np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], "float32"))
    mask = np.array([[True, True, False], [True, False, False]])
    assert float(losses.reduce_values(values, None, "sum_over_batch_size", mask).data) == pytest.approx(7 / 3)
    assert float(losses.reduce_values(values, None, "sum", mask).data) == pytest.approx(7.0)
    weight = np.array([2.0, 1.0], "float32")
    assert float(losses.reduce_values(values, weight, "sum_over_batch_size", mask).data) == pytest.approx(10 / 3)
    assert float(losses.reduce_values(values, weight, "mean_with_sample_weight", mask).data) == pytest.approx(10 / 5)
    nothing = np.zeros((2, 3), bool)
    assert float(losses.reduce_values(values, None, "sum_over_batch_size", nothing).data) == 0.0


def test_loss_object_reads_the_predictions_mask():
    y_pred = Tensor(np.array([[[0.9], [0.2]], [[0.4], [0.7]]], "float32"))
    y_pred._keras_mask = np.array([[True, False], [False, True]])
    y_true = np.array([[[1.0], [1.0]], [[0.0], [0.0]]], "float32")
    expected = (-np.log(0.9) - np.log(0.3)) / 2
    assert float(losses.BinaryCrossentropy()(y_true, y_pred).data) == pytest.approx(expected, rel=1e-5)


def test_metric_mask_and_which_metrics_apply_it():
    m = metrics.MeanMetricWrapper(lambda t, p: np.abs(t - p)[..., 0], name="err")
    y_true = np.zeros((2, 3, 1), "float32")
    y_pred = np.arange(6, dtype="float32").reshape(2, 3, 1)
    m.update_state(y_true, y_pred, np.array([1.0, 3.0]), mask=np.array([[1, 1, 0], [0, 1, 0]], bool))
    assert m.result() == pytest.approx((0 + 1 + 3 * 4) / 5)
    assert metrics.MeanMetricWrapper.applies_mask and metrics.SparseCategoricalAccuracy.applies_mask
    assert not metrics.Precision.applies_mask and not metrics.AUC.applies_mask


def test_mask_that_does_not_match_the_values_is_an_error():
    values = Tensor(np.ones((2,), "float32"))
    with pytest.raises(ValueError, match=r"The output's mask of shape \(2, 3\) does not match the loss values of "
                                         r"shape \(2,\): a mask marks samples and steps"):
        losses.reduce_values(values, None, "sum_over_batch_size", np.ones((2, 3), bool))
    m = metrics.MeanMetricWrapper(lambda t, p: np.ones(4), name="m")
    with pytest.raises(ValueError, match=r"The output's mask of shape \(2, 3\) does not match the metric values of "
                                         r"shape \(4,\)"):
        m.update_state(np.zeros(4), np.zeros(4), mask=np.ones((2, 3), bool))


def test_sample_weight_per_step_needs_the_batch_first():
    model = _tagger()
    with pytest.raises(ValueError, match=r"sample_weight must hold one weight per sample, shape \(5,\); received "
                                         r"shape \(4, 6\)"):
        model.evaluate(GOLDEN["tokens"], GOLDEN["tags"], sample_weight=np.ones((4, T)), verbose=0)


def test_unmasked_outputs_are_unchanged():
    """Without a mask on the output (the last LSTM returns only its last step), every sample counts."""
    model = Sequential([layers.Embedding(V, 3, mask_zero=True, input_shape=(T,)), layers.LSTM(4),
                        layers.Dense(3, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    labels = GOLDEN["tags"][:, 0]
    p = model.predict(GOLDEN["tokens"], verbose=0)
    expected = -np.mean(np.log(np.clip(p[np.arange(B), labels], 1e-7, 1)))
    assert model.evaluate(GOLDEN["tokens"], labels, verbose=0)[0] == pytest.approx(expected, rel=1e-5)


def test_masked_reduction_gradients_float64():
    from tests.helpers import check_gradients

    mask = np.array([[True, False, True], [False, False, True]])
    weight = np.array([[0.5, 2.0, 1.5], [1.0, 3.0, 0.25]])
    values = np.random.default_rng(3).uniform(0.1, 2.0, (2, 3))
    for reduction in ("sum_over_batch_size", "sum", "mean_with_sample_weight"):
        check_gradients(lambda v, r=reduction: losses.reduce_values(v, weight, r, mask), [values], rtol=1e-6)
        grad = check_gradients(lambda v, r=reduction: losses.reduce_values(v, None, r, mask), [values], rtol=1e-6)
        assert np.all(np.asarray(grad[0])[~mask] == 0)  # masked values get no gradient


def test_subclassed_model_outputs_carry_their_mask_to_the_loss():
    from kerasette.models import Model

    class Tagger(Model):
        def __init__(self):
            super().__init__()
            self.embed = layers.Embedding(5, 3, mask_zero=True)
            self.lstm = layers.LSTM(4, return_sequences=True)
            self.out = layers.Dense(2, activation="softmax")

        def call(self, x):
            return self.out(self.lstm(self.embed(x)))

    model = Tagger()
    model.compile("sgd", "sparse_categorical_crossentropy")
    x, y = np.array([[1, 2, 0, 0], [3, 0, 0, 0]]), np.array([[0, 1, 1, 1], [1, 0, 0, 0]])
    p = model.predict(x, verbose=0)
    per_step = -np.log(np.take_along_axis(p, y[..., None], -1)[..., 0])
    assert model.evaluate(x, y, verbose=0) == pytest.approx(per_step[x != 0].mean(), rel=1e-5)
