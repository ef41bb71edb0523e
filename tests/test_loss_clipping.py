"""Keras 3's clipping of probabilities in the cross-entropies computed from probabilities (not
logits): a confidently wrong sample's loss is capped at -log(1e-7), as functions, as classes and
when the model ends in a softmax or sigmoid, and the clipped probabilities pass no gradient.

Golden values: tests/losses_golden/clipping_golden.json, made by make_clipping_golden.py there
with Keras 3.15.1 on torch (per-sample values, reduced class values, and models' ``evaluate``
and ``train_on_batch`` losses with the weights after one SGD step).
"""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest

from kerasette import backend as K
from kerasette import losses
from kerasette.backend import autograd, ops
from kerasette.backend.tensor import Tensor, Variable, enable_grad
from kerasette.layers import Dense
from kerasette.models import Sequential
from kerasette.optimizers import SGD
from tests.helpers import check_gradients

GOLDEN = json.loads((pathlib.Path(__file__).parent / "losses_golden" / "clipping_golden.json").read_text())
INPUTS = {k: np.asarray(v) for k, v in GOLDEN["inputs"].items()}
CAP = -np.log(1e-7)  # what Keras 3 charges a confidently wrong sample


def _array(name):
    value = INPUTS[name]
    return value.astype("float32") if value.dtype.kind == "f" else value


@pytest.mark.parametrize("name", sorted(GOLDEN["functions"]))
def test_functions_cap_confidently_wrong_samples_as_keras3(name):
    spec = GOLDEN["functions"][name]
    got = getattr(losses, name)(_array(spec["y_true"]), _array(spec["y_pred"])).data
    np.testing.assert_allclose(got, spec["value"], rtol=1e-5, atol=1e-6)
    if name != "binary_crossentropy":
        assert got[0] == pytest.approx(CAP, rel=1e-6) and got[1] == pytest.approx(CAP, rel=1e-6)


@pytest.mark.parametrize("case", GOLDEN["classes"], ids=lambda c: f"{c['class']}-{c['reduction']}")
def test_classes_cap_confidently_wrong_samples_as_keras3(case):
    loss = getattr(losses, case["class"])(reduction=case["reduction"], **case["options"])
    weight = None if case["sample_weight"] is None else _array(case["sample_weight"])
    got = loss(_array(case["y_true"]), _array(case["y_pred"]), sample_weight=weight).data
    np.testing.assert_allclose(got, case["value"], rtol=1e-5, atol=1e-6)


def _model(spec):
    model = Sequential([Dense(4, activation=spec["activation"], input_dim=5)])
    model.set_weights([_array("kernel"), _array("bias")])
    loss = losses.CategoricalCrossentropy(label_smoothing=0.1) if spec["loss"].startswith("Categorical") else spec["loss"]
    model.compile(SGD(learning_rate=0.1), loss)
    return model


@pytest.mark.parametrize("name", sorted(GOLDEN["models"]))
def test_a_model_ending_in_softmax_or_sigmoid_reports_and_trains_as_keras3(name):
    spec = GOLDEN["models"][name]
    x, y = _array("x"), _array(spec["y_true"])
    model = _model(spec)
    np.testing.assert_allclose(model.predict(x, verbose=0), spec["probabilities"], rtol=1e-5, atol=1e-7)
    assert model.evaluate(x, y, batch_size=len(x), verbose=0) == pytest.approx(spec["evaluate"], rel=1e-5)
    assert model.train_on_batch(x, y) == pytest.approx(spec["train_on_batch"], rel=1e-5)
    for got, want in zip(model.get_weights(), spec["weights_after_step"], strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)  # the gradient through the clip, as Keras's
    # fit's printed and returned loss is the same number
    again = _model(spec)
    history = again.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0)
    assert history.history["loss"][0] == pytest.approx(spec["train_on_batch"], rel=1e-5)
    # teeth: the exact value from the logits (what kerasette used to report) is far larger
    if name != "sigmoid_binary":
        assert spec["evaluate"] < 0.5 * float(ops.softmax_cross_entropy(
            Tensor(x @ _array("kernel") + _array("bias")), Tensor(_one_hot(y))).data.mean())


def _one_hot(y):
    return np.eye(4, dtype="float32")[y] if y.ndim == 1 else y


def _logit_gradient(loss_fn, logits, y, activation):
    z = Variable(np.asarray(logits, "float64"))
    with enable_grad():
        out = ops.softmax(z) if activation == "softmax" else ops.sigmoid(z)
        total = ops.sum(loss_fn(Tensor(np.asarray(y, "float64")), out))
    return autograd.gradients_or_none(total, [z])[0]


def test_a_clipped_probability_passes_no_gradient_and_the_others_do():
    """Keras 3 differentiates through its clip: a confidently wrong sample (one-hot target) gets
    no gradient at all; an ordinary one gets softmax - target."""
    logits = np.array([[-30.0, 10.0, 0.0], [0.5, -0.25, 0.1]])
    y = np.eye(3)[[0, 0]]
    grad = np.asarray(_logit_gradient(losses.categorical_crossentropy, logits, y, "softmax"))
    np.testing.assert_array_equal(grad[0], 0.0)
    p = np.exp(logits[1]) / np.exp(logits[1]).sum()
    np.testing.assert_allclose(grad[1], p - y[1], rtol=1e-6)
    sparse = np.asarray(_logit_gradient(lambda t, o: losses.sparse_categorical_crossentropy(
        np.array([0, 0]), o), logits, y, "softmax"))
    np.testing.assert_allclose(sparse, grad, rtol=1e-12)
    binary = np.asarray(_logit_gradient(losses.binary_crossentropy, [[-30.0, 0.3]], [[1.0, 1.0]], "sigmoid"))
    assert binary[0, 0] == 0.0 and binary[0, 1] == pytest.approx((1 / (1 + np.exp(-0.3)) - 1) / 2, rel=1e-6)


CLASS_PROBS = np.array([[0.2, 0.3, 0.5], [0.6, 0.1, 0.3]])
SOFT_TARGETS = np.array([[0.1, 0.7, 0.2], [1.0, 0.0, 0.0]])


@pytest.mark.parametrize("name, fn, inputs", [
    ("categorical", lambda t, p: losses.categorical_crossentropy(t, p), [SOFT_TARGETS, CLASS_PROBS * 1.5]),
    ("categorical_smoothed", lambda t, p: losses.categorical_crossentropy(t, p, label_smoothing=0.2),
     [SOFT_TARGETS, CLASS_PROBS]),
    ("sparse", lambda p: losses.sparse_categorical_crossentropy(np.array([2, 0]), p), [CLASS_PROBS]),
    ("binary", lambda t, p: losses.binary_crossentropy(t, p), [SOFT_TARGETS, CLASS_PROBS]),
    ("categorical_through_softmax", lambda t, z: losses.categorical_crossentropy(t, ops.softmax(z)),
     [SOFT_TARGETS, CLASS_PROBS * 4]),
    ("binary_through_sigmoid", lambda t, z: losses.binary_crossentropy(t, ops.sigmoid(z)),
     [SOFT_TARGETS, CLASS_PROBS * 4 - 2]),
])
def test_gradients_float64(name, fn, inputs):
    check_gradients(fn, inputs, wrt=[len(inputs) - 1])


@pytest.mark.parametrize("fn", [losses.categorical_crossentropy, losses.binary_crossentropy])
def test_gradients_in_the_targets_float64(fn):
    probs = np.array([[0.2, 0.3, 0.5], [0.6, 1e-9, 0.4 - 1e-9]])  # one clipped value
    check_gradients(lambda t, p: fn(t, p), [SOFT_TARGETS, probs], wrt=[0])


def test_the_cap_follows_the_backend_epsilon():
    previous = K.epsilon()
    K.set_epsilon(1e-4)
    try:
        value = losses.categorical_crossentropy(np.eye(3, dtype="float32")[[0]], np.array([[0.0, 0.5, 0.5]], "float32"))
    finally:
        K.set_epsilon(previous)
    assert float(value.data[0]) == pytest.approx(-np.log(1e-4), rel=1e-5)


def test_from_logits_stays_exact():
    """With ``from_logits=True`` nothing is clipped: the exact cross-entropy, however large."""
    value = losses.CategoricalCrossentropy(from_logits=True, reduction="none")(
        np.eye(2, dtype="float32")[[0]], np.array([[-40.0, 0.0]], "float32"))
    assert float(value.data[0]) == pytest.approx(40.0, rel=1e-6)
    sparse = losses.sparse_categorical_crossentropy(np.array([0]), np.array([[-40.0, 0.0]], "float32"),
                                                    from_logits=True)
    binary = losses.binary_crossentropy(np.array([[1.0]], "float32"), np.array([[-40.0]], "float32"),
                                        from_logits=True)
    assert float(sparse.data[0]) == pytest.approx(40.0, rel=1e-6)
    assert float(binary.data[0]) == pytest.approx(40.0, rel=1e-6)


def test_sparse_labels_are_checked():
    with pytest.raises(ValueError, match=r"sparse_categorical_crossentropy: `target` labels must be in \[0, 3\); "
                                         r"received labels from 0 to 3 \(the output has 3 classes\)"):
        losses.sparse_categorical_crossentropy(np.array([0, 3]), CLASS_PROBS.astype("float32"))
    with pytest.raises(ValueError, match=r"sparse_categorical_crossentropy: `target` has shape \(3,\), expected "
                                         r"\(2,\)"):
        losses.sparse_categorical_crossentropy(np.array([0, 1, 2]), CLASS_PROBS.astype("float32"))
    with pytest.raises(ValueError, match=r"categorical_crossentropy: only axis=-1 \(classes on the last axis\) is "
                                         r"supported; received axis=0"):
        losses.categorical_crossentropy(SOFT_TARGETS, CLASS_PROBS, axis=0)
