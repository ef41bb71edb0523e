"""Activation layers with their own arguments: ReLU, LeakyReLU, PReLU, ELU, ThresholdedReLU, Softmax.

Keras 1 imported them from ``keras.layers.advanced_activations``; that path works too. All but
PReLU (whose ``alpha`` is laid out like its input) and Softmax (whose axis is a position) act value
by value, so they are `layout_free`.
"""

from __future__ import annotations

import numpy as np

from kerasette import constraints, initializers, regularizers
from kerasette.backend import ops
from kerasette.layers.base import Layer
from kerasette.layers.legacy import keras_layer
from kerasette.utils.validation import shape_str


def _number(layer, name: str, value, rule: str, ok) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not ok(value):
        raise ValueError(f"{type(layer).__name__} '{layer.name}': `{name}` must be {rule}; "
                         f"received {name}={value!r}")
    return float(value)


class _ValueWise(Layer):
    """A layer applying a function to each value (the shape is unchanged)."""

    supports_masking = True  # Keras 3: passes its input's mask on

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def layout_free(self) -> bool:
        return True


@keras_layer()
class ReLU(_ValueWise):
    """Rectified linear unit with a cap, a slope below the threshold and a threshold.

    ``f(x) = max_value`` for ``x >= max_value``, ``x`` for ``threshold <= x < max_value``,
    ``negative_slope * (x - threshold)`` otherwise.

    Args:
        max_value: the cap (None: none), >= 0.
        negative_slope: the slope below the threshold, >= 0.
        threshold: where the slope changes.

    Example:
        >>> import numpy as np
        >>> ReLU(max_value=6.0)(np.array([[-1.0, 3.0, 9.0]], "float32")).data.tolist()
        [[0.0, 3.0, 6.0]]
    """

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        self.max_value = None if max_value is None else _number(self, "max_value", max_value, "a number >= 0",
                                                                lambda v: v >= 0)
        self.negative_slope = _number(self, "negative_slope", negative_slope, "a number >= 0", lambda v: v >= 0)
        self.threshold = _number(self, "threshold", threshold, "a number", lambda v: True)

    def call(self, inputs):
        return ops.general_relu(inputs, self.negative_slope, self.max_value, self.threshold)

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value, "negative_slope": self.negative_slope,
                "threshold": self.threshold}


@keras_layer()
class LeakyReLU(_ValueWise):
    """``x`` for ``x >= 0``, ``negative_slope * x`` otherwise.

    Args:
        negative_slope: the slope below zero, >= 0 (Keras 1 and 2: ``alpha``), default 0.3.

    Example:
        >>> import numpy as np
        >>> LeakyReLU(negative_slope=0.5)(np.array([[-2.0, 2.0]], "float32")).data.tolist()
        [[-1.0, 2.0]]
    """

    def __init__(self, negative_slope=0.3, alpha=None, **kwargs):
        super().__init__(**kwargs)
        if alpha is not None:
            negative_slope = alpha
        self.negative_slope = _number(self, "negative_slope", negative_slope, "a number >= 0", lambda v: v >= 0)

    def call(self, inputs):
        return ops.general_relu(inputs, self.negative_slope)

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


@keras_layer()
class ELU(_ValueWise):
    """``x`` for ``x > 0``, ``alpha * (exp(x) - 1)`` otherwise.

    Example:
        >>> import numpy as np
        >>> ELU(alpha=2.0)(np.array([[0.0, 1.0]], "float32")).data.tolist()
        [[0.0, 1.0]]
    """

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = _number(self, "alpha", alpha, "a number", lambda v: True)

    def call(self, inputs):
        return ops.elu(inputs, self.alpha)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


@keras_layer()
class ThresholdedReLU(_ValueWise):
    """``x`` for ``x > theta``, 0 otherwise (Keras 1 and 2; Keras 3 dropped it).

    Example:
        >>> import numpy as np
        >>> ThresholdedReLU(theta=1.0)(np.array([[0.5, 2.0]], "float32")).data.tolist()
        [[0.0, 2.0]]
    """

    def __init__(self, theta=1.0, **kwargs):
        super().__init__(**kwargs)
        self.theta = _number(self, "theta", theta, "a number >= 0", lambda v: v >= 0)

    def call(self, inputs):
        return ops.thresholded_relu(inputs, self.theta)

    def get_config(self):
        return {**super().get_config(), "theta": self.theta}


@keras_layer()
class Softmax(Layer):
    """Softmax along ``axis``.

    With a mask (``Softmax()(scores, mask=m)``, or the mask reaching it in a model), as Keras 3
    does: where the mask is False (booleans; numbers: not above 0.5) the input counts as a very
    large negative number (-1e9) and the output is 0, so the kept entries share the whole
    probability, and a slice with every entry masked gives zeros. The mask broadcasts to the
    input from the right (a size of 1 stretches). A sequence's mask (batch, steps) reaching the
    probabilities of each step (batch, steps, classes) leaves them unchanged, as in Keras 2 (Keras
    3 refuses that mask).

    Example:
        >>> import numpy as np
        >>> Softmax()(np.zeros((1, 4), "float32")).data.tolist()
        [[0.25, 0.25, 0.25, 0.25]]
    """

    supports_masking = True  # Keras 3: passes its input's mask on

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ValueError(f"Softmax '{self.name}': `axis` must be an int; received axis={axis!r}")
        self.axis = axis

    def build(self, input_shape):
        if not -len(input_shape) <= self.axis < len(input_shape) or self.axis % len(input_shape) == 0:
            raise ValueError(f"Softmax '{self.name}': axis {self.axis} must be a non-batch axis of the input; "
                             f"received input shape {shape_str(input_shape)}")
        self.built = True

    def call(self, inputs, mask=None):
        keep = None if mask is None else self._keep(inputs.shape, mask)
        if keep is None:
            return ops.softmax(inputs, axis=self.axis)
        outputs = ops.softmax(ops.where(keep, inputs, np.asarray(-1e9, inputs.dtype)), axis=self.axis)
        return ops.where(keep, outputs, np.zeros((), outputs.dtype))

    def _keep(self, shape, mask):
        """The mask as booleans broadcasting to the input, or None when it does not apply."""
        keep = np.asarray(getattr(mask, "data", mask))
        keep = keep if keep.dtype == bool else keep > 0.5
        if keep.ndim <= len(shape) and all(m in (1, i) for m, i in zip(keep.shape[::-1], shape[::-1])):
            return keep
        if keep.ndim < len(shape) and keep.shape == tuple(shape[:keep.ndim]):
            return None  # a sequence's steps mask, passed on untouched (Keras 2)
        raise ValueError(f"Softmax '{self.name}': the mask must broadcast to the input (each of its sizes, from the "
                         f"right, 1 or the input's); received mask shape {keep.shape} for input shape "
                         f"{shape_str(tuple(shape))}")

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


@keras_layer(keras1={"init": "alpha_initializer"})
class PReLU(Layer):
    """Leaky rectifier whose slope ``alpha`` below zero is learned, per value or shared along axes.

    ``f(x) = x`` for ``x >= 0``, ``alpha * x`` otherwise.

    Args:
        alpha_initializer: initializer of ``alpha`` (Keras 1: ``init``), default zeros.
        alpha_regularizer, alpha_constraint: see `kerasette.regularizers`, `kerasette.constraints`.
        shared_axes: axes (1-based, the batch being 0) along which one ``alpha`` is shared, e.g.
            ``[1, 2]`` for one slope per channel of channels-last images.

    Example:
        >>> layer = PReLU(shared_axes=[1, 2])
        >>> layer.build_for((None, 8, 8, 3)); layer.alpha.shape
        (1, 1, 3)
    """

    supports_masking = True  # Keras 3: passes its input's mask on

    def __init__(self, alpha_initializer="zeros", alpha_regularizer=None, alpha_constraint=None,
                 shared_axes=None, **kwargs):
        super().__init__(**kwargs)
        self.alpha_initializer = initializers.get(alpha_initializer)
        self.alpha_regularizer = regularizers.get(alpha_regularizer)
        self.alpha_constraint = constraints.get(alpha_constraint)
        if shared_axes is None:
            self.shared_axes = None
        else:
            axes = [shared_axes] if isinstance(shared_axes, int) else list(shared_axes)
            if not all(isinstance(a, int) and not isinstance(a, bool) and a >= 1 for a in axes):
                raise ValueError(f"PReLU '{self.name}': `shared_axes` must be axes >= 1 (0 is the batch); "
                                 f"received shared_axes={shared_axes!r}")
            self.shared_axes = axes

    def build(self, input_shape):
        shape = list(input_shape[1:])
        for a in self.shared_axes or ():
            if a >= len(input_shape):
                raise ValueError(f"PReLU '{self.name}': shared axis {a} is not an axis of the input; "
                                 f"received input shape {shape_str(input_shape)}")
            shape[a - 1] = 1
        if any(d is None for d in shape):
            raise ValueError(f"PReLU '{self.name}': every axis not in `shared_axes` must have a known size; "
                             f"received input shape {shape_str(input_shape)}")
        self.alpha = self.add_weight(name="alpha", shape=tuple(shape), initializer=self.alpha_initializer,
                                     regularizer=self.alpha_regularizer, constraint=self.alpha_constraint)
        self.built = True

    def call(self, inputs):
        return ops.add(ops.relu(inputs), ops.multiply(self.alpha, ops.minimum(inputs, 0.0)))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "alpha_initializer": initializers.serialize(self.alpha_initializer),
                "alpha_regularizer": regularizers.serialize(self.alpha_regularizer),
                "alpha_constraint": constraints.serialize(self.alpha_constraint), "shared_axes": self.shared_axes}
