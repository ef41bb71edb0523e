"""GlobalAveragePooling2D's eager calls under ``no_grad`` (`GlobalAveragePooling2D.run`'s array
path: the kernels without an op or `Layer.run`'s bookkeeping): the same bits as the recorded op
in every layout, with keepdims, in float32 and float64, on tensors and variables; the input check
kept; calls that record a gradient or come from a subclass take the layer's usual path."""

from __future__ import annotations

import numpy as np
import pytest

import kerasette.layers as L
from kerasette.backend import ops
from kerasette.backend.ops import pooling as pooling_ops
from kerasette.backend.tensor import Tensor, Variable, no_grad
from kerasette.layers.base import Layer


def recorded(layer, x: np.ndarray) -> np.ndarray:
    """The layer's output through the op, with a gradient recorded."""
    out = layer(Variable(x, dtype=x.dtype))
    assert out._op is not None
    return out.data


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("wrap", [Tensor, lambda x: Variable(x, dtype=x.dtype)], ids=["Tensor", "Variable"])
def test_same_bits_as_the_recorded_op(data_format, keepdims, dtype, wrap, monkeypatch):
    x = (np.random.default_rng(0).standard_normal((3, 7, 5, 4)) * 3 + 1).astype(dtype)
    layer = L.GlobalAveragePooling2D(data_format=data_format, keepdims=keepdims)
    expected = recorded(layer, x)
    calls = []
    monkeypatch.setattr(Layer, "run", lambda *args, **kwargs: calls.append(args))  # the usual path: not taken
    with no_grad():
        out = layer(wrap(x), training=False)
    assert not calls
    assert type(out) is Tensor and out.dtype == dtype and out._op is None
    np.testing.assert_array_equal(out.data, expected)
    axes = (1, 2) if data_format == "channels_last" else (2, 3)
    np.testing.assert_allclose(out.data, x.astype(np.float64).mean(axis=axes, keepdims=keepdims),
                               rtol=1e-6 if dtype == np.float32 else 1e-13)


def test_the_input_check_is_kept():
    layer = L.GlobalAveragePooling2D()
    with no_grad():
        layer(Tensor(np.zeros((2, 3, 3, 4), np.float32)))
        with pytest.raises(ValueError, match="global_average_pooling2d"):
            layer(Tensor(np.zeros((2, 3, 4), np.float32)))


def test_calls_that_record_or_come_from_a_subclass_take_the_op(monkeypatch):
    made = []
    op = pooling_ops.GlobalAvgPool2D
    monkeypatch.setattr(pooling_ops, "GlobalAvgPool2D", lambda *args: made.append(args) or op(*args))
    x = Tensor(np.ones((2, 3, 3, 4), np.float32))
    L.GlobalAveragePooling2D()(x)  # gradient mode on
    assert len(made) == 1

    class Doubled(L.GlobalAveragePooling2D):
        def reduce(self, x, axes, keepdims):
            return ops.multiply(super().reduce(x, axes, keepdims), 2.0)

    with no_grad():
        out = Doubled()(x)
    assert len(made) == 2
    np.testing.assert_array_equal(out.data, np.full((2, 4), 2.0, np.float32))
