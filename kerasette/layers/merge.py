"""Layers that merge a list of tensors: Add, Subtract, Multiply, Average, Maximum, Minimum,
Concatenate."""

from __future__ import annotations

import functools

import numpy as np

from kerasette.backend import ops
from kerasette.layers.base import Layer
from kerasette.layers.legacy import keras_layer
from kerasette.utils.validation import shape_str


class _Merge(Layer):
    """Base class: elementwise merge of tensors of the same shape."""

    min_inputs = 2
    max_inputs: int | None = None

    def _check_shapes(self, shapes) -> None:
        if not isinstance(shapes, list) or len(shapes) < self.min_inputs or (
                self.max_inputs is not None and len(shapes) > self.max_inputs):
            count = self.max_inputs if self.max_inputs == self.min_inputs else f"at least {self.min_inputs}"
            raise ValueError(f"{type(self).__name__} '{self.name}': expected a list of {count} inputs; "
                             f"received {shapes!r}")
        first = shapes[0]
        for shape in shapes[1:]:
            if len(shape) != len(first) or any(
                    a is not None and b is not None and a != b for a, b in zip(shape[1:], first[1:])):
                raise ValueError(
                    f"{type(self).__name__} '{self.name}': inputs must have the same shape; received "
                    f"{', '.join(shape_str(s) for s in shapes)}"
                )

    def build(self, input_shape):
        self._check_shapes(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        self._check_shapes(input_shape)
        return tuple(next((d for d in dims if d is not None), None) for dims in zip(*input_shape))

    def call(self, inputs):
        return functools.reduce(self.merge, inputs)


@keras_layer()
class Add(_Merge):
    """Sum of the inputs: ``Add()([a, b])``."""

    @staticmethod
    def merge(a, b):
        return ops.add(a, b)


@keras_layer()
class Subtract(_Merge):
    """``a - b`` for exactly two inputs."""

    max_inputs = 2

    @staticmethod
    def merge(a, b):
        return ops.subtract(a, b)


@keras_layer()
class Multiply(_Merge):
    """Elementwise product of the inputs."""

    @staticmethod
    def merge(a, b):
        return ops.multiply(a, b)


@keras_layer()
class Maximum(_Merge):
    """Elementwise maximum of the inputs."""

    @staticmethod
    def merge(a, b):
        return ops.maximum(a, b)


@keras_layer()
class Minimum(_Merge):
    """Elementwise minimum of the inputs."""

    @staticmethod
    def merge(a, b):
        return ops.minimum(a, b)


@keras_layer()
class Average(_Merge):
    """Elementwise mean of the inputs."""

    def call(self, inputs):
        total = functools.reduce(ops.add, inputs)
        return ops.multiply(total, np.asarray(1.0 / len(inputs), dtype=total.dtype))


@keras_layer()
class Concatenate(Layer):
    """Joins the inputs along ``axis`` (default: the last, the channels in channels-last).

    Example:
        >>> Concatenate().compute_output_shape([(None, 4, 4, 8), (None, 4, 4, 2)])
        (None, 4, 4, 10)
    """

    def __init__(self, axis: int = -1, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def compute_output_shape(self, input_shape):
        if not isinstance(input_shape, list) or len(input_shape) < 2:
            raise ValueError(f"Concatenate '{self.name}': expected a list of at least 2 inputs; "
                             f"received {input_shape!r}")
        rank = len(input_shape[0])
        axis = self.axis % rank
        out = list(input_shape[0])
        for shape in input_shape[1:]:
            if len(shape) != rank or any(i != axis and i != 0 and a is not None and b is not None and a != b
                                         for i, (a, b) in enumerate(zip(shape, input_shape[0]))):
                raise ValueError(
                    f"Concatenate '{self.name}': inputs must match except along axis {self.axis}; "
                    f"received {', '.join(shape_str(s) for s in input_shape)}"
                )
            out[axis] = None if out[axis] is None or shape[axis] is None else out[axis] + shape[axis]
        return tuple(out)

    def build(self, input_shape):
        self.compute_output_shape(input_shape)
        self.built = True

    def call(self, inputs):
        return ops.concatenate(inputs, self.axis)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


def add(inputs, **kwargs):
    """Functional form of `Add`."""
    return Add(**kwargs)(inputs)


def concatenate(inputs, axis: int = -1, **kwargs):
    """Functional form of `Concatenate`."""
    return Concatenate(axis=axis, **kwargs)(inputs)
