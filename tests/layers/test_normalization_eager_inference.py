"""BatchNormalization's eager inference without a recorded graph (`BatchNormalization.run`'s
no-op path): the same bits as the recorded op, and every case it must leave to the general path."""

from __future__ import annotations

import numpy as np
import pytest

from kerasette import activations, layers
from kerasette.backend.tensor import Tensor, Variable, no_grad


def _layer_and_input(shape, axis=-1, dtype="float32", **kwargs):
    rng = np.random.default_rng(0)
    bn = layers.BatchNormalization(axis=axis, dtype=dtype, **kwargs)
    x = Tensor(rng.standard_normal(shape).astype(dtype))  # a constant keeps its dtype (a Variable: floatx)
    bn.build_for((None,) + shape[1:])
    weights = [(rng.standard_normal(w.shape) * 0.5 + (1.5 if "variance" in w.name else 0.0)).astype(w.dtype)
               for w in bn.weights]
    bn.set_weights([np.abs(w) if i == len(weights) - 1 else w for i, w in enumerate(weights)])
    return bn, x


def _recorded(bn, x, **kwargs):
    """The output of the recorded path (gradient mode on: an op in the graph)."""
    y = bn(x, **kwargs)
    assert y.requires_grad  # the general path ran
    return y.data


@pytest.mark.parametrize("shape, axis, dtype, kwargs", [
    ((4, 8, 8, 64), -1, "float32", {}),  # rows, split over the threads
    ((2, 3, 3, 16), -1, "float32", {}),  # rows widened for 16 channels
    ((4, 16, 8, 8), 1, "float32", {}),  # channels-first: planes
    ((5, 6), -1, "float64", {}),
    ((4, 8, 8, 64), -1, "float64", {}),
    ((3, 4, 4, 8), -1, "float32", {"center": False}),
    ((3, 4, 4, 8), -1, "float32", {"scale": False}),
    ((3, 4, 5, 6), [1, 2], "float32", {}),  # several kept axes
])
def test_no_grad_inference_equals_the_recorded_op_bit_for_bit(shape, axis, dtype, kwargs):
    bn, x = _layer_and_input(shape, axis, dtype, **kwargs)
    expected = _recorded(bn, x, training=False)
    with no_grad():
        y = bn(x, training=False)
        default = bn(x)
    assert type(y) is Tensor and not y.requires_grad and y.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(y.data, expected)
    np.testing.assert_array_equal(default.data, expected)


def test_a_variable_input_takes_the_same_path_with_the_same_bits(monkeypatch):
    """A Variable (layers_bench's input, a user's trainable input) records nothing under no_grad
    either: it goes the same way as a plain Tensor."""
    bn, x = _layer_and_input((4, 8, 8, 64))
    expected = _recorded(bn, x, training=False)
    x = Variable(x.data)
    general = []
    monkeypatch.setattr(layers.Layer, "run", lambda *a, **k: general.append(1))
    with no_grad():
        y = bn(x, training=False)
    assert not general and type(y) is Tensor and not y.requires_grad
    np.testing.assert_array_equal(y.data, expected)


def test_float32_input_on_float64_weights_matches_the_recorded_op():
    bn, x = _layer_and_input((4, 8, 8, 64), dtype="float64")
    x = Tensor(x.data.astype("float32"))
    expected = _recorded(bn, x, training=False)
    with no_grad():
        y = bn(x, training=False)
    assert y.dtype == expected.dtype
    np.testing.assert_array_equal(y.data, expected)


def test_frozen_layer_in_training_runs_inference_with_the_same_bits():
    bn, x = _layer_and_input((4, 8, 8, 64))
    bn.trainable = False
    x = Variable(x.data)  # frozen weights take no gradient: the input's records the op
    expected = _recorded(bn, x, training=True)
    moving = [w.copy() for w in bn.get_weights()]
    with no_grad():
        y = bn(x, training=True)
    np.testing.assert_array_equal(y.data, expected)
    for before, after in zip(moving, bn.get_weights()):
        np.testing.assert_array_equal(before, after)  # the statistics stay


def test_training_call_under_no_grad_still_moves_the_statistics():
    bn, x = _layer_and_input((4, 8, 8, 64))
    before = bn.moving_mean.data.copy()
    with no_grad():
        bn(x, training=True)
    assert not np.array_equal(before, bn.moving_mean.data)


def test_weights_written_in_place_are_read_at_the_next_call():
    bn, x = _layer_and_input((4, 8, 8, 64))
    with no_grad():
        first = bn(x, training=False).data
        bn.moving_variance.data[...] *= 4.0  # nothing kept from the last call
        bn.gamma.data[:3] = 0.0
        second = bn(x, training=False).data
    np.testing.assert_array_equal(second, _recorded(bn, x, training=False))
    assert not np.array_equal(first, second)


def test_fused_relu_and_channels_last_entry_points_match_the_recorded_op():
    bn, x = _layer_and_input((4, 8, 8, 64))
    expected = bn.call_with_activation(x, activations.relu, training=False).data
    with no_grad():
        y = bn.call_with_activation(x, activations.relu, training=False).data
        rows = bn.call_channels_last(x, training=False).data
    np.testing.assert_array_equal(y, expected)
    np.testing.assert_array_equal(rows, _recorded(bn, x, training=False))


def test_a_bad_mask_is_still_rejected_in_inference():
    bn, x = _layer_and_input((2, 3, 4))
    with no_grad(), pytest.raises(ValueError, match="the mask must have the input's shape"):
        bn(x, training=False, mask=np.ones((2, 4), bool))


def test_a_subclass_with_its_own_call_is_called():
    class Shifted(layers.BatchNormalization):
        def call(self, inputs, training=None, mask=None):
            return super().call(inputs, training=training, mask=mask) + 1.0

    bn = Shifted()
    x = Variable(np.ones((2, 8), "float32"))
    with no_grad():
        y = bn(x, training=False)
    np.testing.assert_allclose(y.data, np.full((2, 8), 1.0 + 1.0 / np.sqrt(1.0 + 1e-3), "float32"), rtol=1e-6)


def test_a_wrong_input_shape_is_still_rejected():
    bn, x = _layer_and_input((2, 3, 8))
    with no_grad(), pytest.raises(ValueError):
        bn(Variable(np.ones((2, 3, 5), "float32")), training=False)
