"""Layers that merge a list of tensors: Add, Subtract, Multiply, Average, Maximum, Minimum,
Concatenate, Dot; and their functional forms (``add([a, b])``, ...). Keras 1's ``merge`` function
and ``Merge`` layer, made of these, are in `kerasette.layers.merge_keras1`.

Elementwise merges broadcast as Keras 3 does: the sample axes (after the batch axis) of the
inputs are aligned on the right and a size of 1 stretches to the other input's size, as in numpy
(an input of lower rank gets axes of size 1 inserted after its batch axis). Shapes that do not
broadcast raise a ValueError naming the layer, the shapes and the axis.

Example:
    >>> from kerasette.layers import Input
    >>> a, b = Input(shape=(4, 3)), Input(shape=(3,))
    >>> add([a, b]).shape
    (None, 4, 3)
    >>> Dot(axes=(1, 2)).compute_output_shape([(None, 3, 5), (None, 4, 3)])
    (None, 5, 4)
"""

from __future__ import annotations

import functools
import math

import numpy as np

from kerasette import activations
from kerasette.backend import ops
from kerasette.layers.base import Layer
from kerasette.layers.legacy import keras_layer
from kerasette.utils.validation import shape_str

#: the lower bound of a norm in ``Dot(normalize=True)`` (Keras 3's ``backend.epsilon()``)
NORM_EPSILON = 1e-7


def shapes_list(layer, shapes, at_least: int, at_most: int | None = None) -> list[tuple]:
    """``shapes`` as a list of tuples, after checking that it is a list of ``at_least`` (to
    ``at_most``) shapes with one batch size."""
    if not (isinstance(shapes, (list, tuple)) and shapes and all(isinstance(s, (list, tuple)) for s in shapes)):
        raise ValueError(f"{type(layer).__name__} '{layer.name}': must be called on a list of tensors; received "
                         f"input shape {shapes!r}")
    shapes = [tuple(s) for s in shapes]
    if len(shapes) < at_least or (at_most is not None and len(shapes) > at_most):
        count = at_least if at_most == at_least else f"at least {at_least}"
        raise ValueError(f"{type(layer).__name__} '{layer.name}': expected a list of {count} inputs; received "
                         f"{len(shapes)}: {', '.join(shape_str(s) for s in shapes)}")
    batches = {s[0] for s in shapes if s} - {None}
    if len(batches) > 1:
        raise ValueError(f"{type(layer).__name__} '{layer.name}': cannot merge tensors with different batch sizes; "
                         f"received {', '.join(shape_str(s) for s in shapes)}")
    return shapes


class _Merge(Layer):
    """Base class: an elementwise merge of one or more tensors that broadcast together."""

    min_inputs = 1
    max_inputs: int | None = None

    def _broadcast_shape(self, input_shape) -> tuple:
        shapes = shapes_list(self, input_shape, self.min_inputs, self.max_inputs)
        out: list = []
        for shape in shapes:
            out = self._broadcast_pair(out, list(shape[1:]), shapes)
        batch = next((s[0] for s in shapes if s and s[0] is not None), None)
        return (batch, *out)

    def _broadcast_pair(self, a: list, b: list, shapes) -> list:
        if len(a) < len(b):
            a, b = b, a
        out = a[: len(a) - len(b)]
        for offset, (i, j) in enumerate(zip(a[len(a) - len(b):], b)):
            if i is None or j is None:  # an unknown size broadcasts with a known one other than 1
                known = j if i is None else i
                out.append(None if known == 1 else known)
            elif i == 1 or j == 1 or i == j:
                out.append(j if i == 1 else i)
            else:
                axis = offset - len(b)
                raise ValueError(
                    f"{type(self).__name__} '{self.name}': inputs must have the same shape; received "
                    f"{', '.join(shape_str(s) for s in shapes)}: axis {axis} has sizes {i} and {j} (sizes must "
                    "match, or one be 1 to broadcast)")
        return out

    def build(self, input_shape):
        self._broadcast_shape(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        return self._broadcast_shape(input_shape)

    def call(self, inputs, mask=None):
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"{type(self).__name__} '{self.name}': must be called on a list of tensors; "
                             f"received a {type(inputs).__name__}")
        rank = max(x.ndim for x in inputs)
        inputs = [_expand_to_rank(x, rank) for x in inputs]
        masks = _input_masks(self, inputs, mask) if mask is not None else None
        if masks is not None and hasattr(self, "merge_masked"):
            return self.merge_masked(inputs, [None if m is None else _steps_mask(m, x.shape)
                                              for x, m in zip(inputs, masks)])
        return self.merge_all(inputs)

    def merge_all(self, inputs):
        return functools.reduce(self.merge, inputs)

    def compute_mask(self, inputs, mask=None):
        """Keras 3's rule: the steps unmasked in any input (their masks or-ed), when every input
        has a mask; no mask otherwise."""
        masks = _input_masks(self, inputs, mask)
        if masks is None or any(m is None for m in masks):
            return None
        return functools.reduce(np.logical_or, masks)


def _steps_mask(mask: np.ndarray, shape: tuple) -> np.ndarray:
    """A mask (batch, steps) stretched over the input's last axis, (batch, steps, features)."""
    return np.broadcast_to(mask.reshape(mask.shape + (1,) * (len(shape) - mask.ndim)), shape)


def _input_masks(layer, inputs, mask) -> list | None:
    """The masks of a merge's inputs (arrays or None), or None when no input has one."""
    if mask is None:
        return None
    if not isinstance(mask, (list, tuple)) or not isinstance(inputs, (list, tuple)) or len(mask) != len(inputs):
        raise ValueError(f"{type(layer).__name__} '{layer.name}': the mask must be a list with one entry (or None) "
                         f"per input; received {len(inputs) if isinstance(inputs, (list, tuple)) else 1} input(s) "
                         f"and mask={mask!r:.80}")
    masks = [None if m is None else np.asarray(getattr(m, "data", m)).astype(bool) for m in mask]
    return None if all(m is None for m in masks) else masks


def _expand_to_rank(x, rank: int):
    """``x`` with axes of size 1 inserted after the batch axis until it has ``rank`` axes."""
    while x.ndim < rank:
        x = ops.expand_dims(x, 1)
    return x


@keras_layer()
class Add(_Merge):
    """Elementwise sum of the inputs: ``Add()([a, b])``. A ReLU right after it (the end of a
    residual block) runs in the same pass (`fuses`)."""

    @staticmethod
    def merge(a, b):
        return ops.add(a, b)

    def fuses(self, activation) -> bool:
        return activation is activations.relu

    def adds_inputs(self) -> bool:
        return True  # masks change no value of a sum (`_Merge.call`)

    def call_with_activation(self, inputs, activation, training=False, mask=None):
        if activation is not activations.relu or not isinstance(inputs, (list, tuple)):
            return activation(self.call(inputs))
        if len(inputs) == 2 and inputs[0].ndim == inputs[1].ndim:  # a residual block's end: nothing to expand
            return ops.add_relu(inputs[0], inputs[1])
        rank = max(x.ndim for x in inputs)
        inputs = [_expand_to_rank(x, rank) for x in inputs]
        return ops.add_relu(functools.reduce(self.merge, inputs[:-1]), inputs[-1])


@keras_layer()
class Subtract(_Merge):
    """``a - b`` for exactly two inputs: ``Subtract()([a, b])``."""

    min_inputs = max_inputs = 2

    @staticmethod
    def merge(a, b):
        return ops.subtract(a, b)


@keras_layer()
class Multiply(_Merge):
    """Elementwise product of the inputs. With masks (Keras 3's rule): an input's masked values
    count as 1; when every input has a mask, the values masked in all of them are 0."""

    @staticmethod
    def merge(a, b):
        return ops.multiply(a, b)

    def merge_masked(self, inputs, keeps):
        every = all(k is not None for k in keeps)
        output, kept = None, None
        for x, keep in zip(inputs, keeps):
            if keep is not None:
                x = ops.where(keep, x, np.ones((), x.dtype))
                kept = keep if kept is None else np.logical_or(kept, keep)
            output = x if output is None else ops.multiply(output, x)
        return ops.where(kept, output, np.zeros((), output.dtype)) if every else output


def _masked_extremum(op, inputs, keeps):
    """Maximum or minimum with masks, as Keras 3 merges them: a masked value takes the result so
    far, and the result so far where it is masked takes the new input, so masked values never win
    over unmasked ones."""
    output, kept = inputs[0], keeps[0]
    for x, keep in zip(inputs[1:], keeps[1:]):
        if keep is not None:
            x = ops.where(keep, x, output)
        if kept is not None:
            output = ops.where(kept, output, x)
        kept = np.logical_or(kept, keep) if kept is not None and keep is not None else None
        output = op(output, x)
    return output


@keras_layer()
class Maximum(_Merge):
    """Elementwise maximum of the inputs (ties send the gradient to the earlier input)."""

    @staticmethod
    def merge(a, b):
        return ops.maximum(a, b)

    def merge_masked(self, inputs, keeps):
        """Masked values do not take part (see `_masked_extremum`)."""
        return _masked_extremum(ops.maximum, inputs, keeps)


@keras_layer()
class Minimum(_Merge):
    """Elementwise minimum of the inputs (ties send the gradient to the earlier input)."""

    @staticmethod
    def merge(a, b):
        return ops.minimum(a, b)

    def merge_masked(self, inputs, keeps):
        """Masked values do not take part (see `_masked_extremum`)."""
        return _masked_extremum(ops.minimum, inputs, keeps)


@keras_layer()
class Average(_Merge):
    """Elementwise mean of the inputs."""

    def merge_all(self, inputs):
        total = functools.reduce(ops.add, inputs)
        return ops.multiply(total, np.asarray(1.0 / len(inputs), dtype=total.dtype))


@keras_layer()
class Concatenate(Layer):
    """Joins the inputs along ``axis`` (default: the last, the channels in channels-last).

    Every other axis must have the same size in every input (None matches any size).

    Args:
        axis: the axis to join along (negative counts from the end; not the batch axis).

    Example:
        >>> Concatenate().compute_output_shape([(None, 4, 4, 8), (None, 4, 4, 2)])
        (None, 4, 4, 10)
    """

    def __init__(self, axis: int = -1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise ValueError(f"Concatenate '{self.name}': argument `axis` must be an integer; received axis={axis!r}")
        self.axis = int(axis)

    def compute_output_shape(self, input_shape):
        shapes = shapes_list(self, input_shape, 1)
        rank = len(shapes[0])
        if not -rank <= self.axis < rank or self.axis % rank == 0:
            raise ValueError(f"Concatenate '{self.name}': argument `axis` must name a non-batch axis of inputs of "
                             f"rank {rank}; received axis={self.axis}")
        axis = self.axis % rank
        out = list(shapes[0])
        for shape in shapes[1:]:
            if len(shape) != rank or any(i != axis and i != 0 and a is not None and b is not None and a != b
                                         for i, (a, b) in enumerate(zip(shape, shapes[0]))):
                raise ValueError(
                    f"Concatenate '{self.name}': inputs must match except along axis {self.axis}; "
                    f"received {', '.join(shape_str(s) for s in shapes)}"
                )
            for i, size in enumerate(shape):
                if i != axis and out[i] is None:
                    out[i] = size
            out[axis] = None if out[axis] is None or shape[axis] is None else out[axis] + shape[axis]
        return tuple(out)

    def build(self, input_shape):
        self.compute_output_shape(input_shape)
        self.built = True

    def call(self, inputs):
        return ops.concatenate(list(inputs), self.axis)

    def compute_mask(self, inputs, mask=None):
        """Keras 3's rule, when any input has a mask (an input without one counts as unmasked):
        the masks are joined along ``axis`` (a mask (batch, steps) of an input (batch, steps,
        features) stands for each of its features), then a step is kept when any of its values
        is; no mask when no input has one."""
        masks = _input_masks(self, inputs, mask)
        if masks is None:
            return None
        full = []
        for x, m in zip(inputs, masks):
            shape = tuple(x.shape)
            if m is None:
                full.append(np.ones(shape, bool))
            else:
                full.append(np.broadcast_to(m.reshape(m.shape + (1,) * (len(shape) - m.ndim)), shape))
        return np.concatenate(full, axis=self.axis).any(axis=-1)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


@keras_layer()
class Dot(Layer):
    """Dot products of the samples of two tensors along one axis of each (Keras 3 semantics).

    For inputs of shapes ``(batch, *a)`` and ``(batch, *b)`` and axes ``(i, j)`` (``a[i-1] ==
    b[j-1]``), the output holds, for each sample, the sum over that axis of the products: its
    shape is ``(batch, *a without axis i, *b without axis j)``, or ``(batch, 1)`` when nothing is
    left (two vectors). With ``normalize=True`` each input is first divided by its L2 norm along
    its dot axis (at least 1e-7), so that two vectors give their cosine similarity.

    Args:
        axes: an int (the same axis of both inputs; a negative one counts from the end of each
            input's own rank) or a pair ``(axis of the first, axis of the second)``. Never the
            batch axis 0.
        normalize: L2-normalise the inputs along the dot axes first.

    Example:
        >>> Dot(axes=-1).compute_output_shape([(None, 5), (None, 5)])
        (None, 1)
    """

    supports_masking = True  # Keras 3 takes masked inputs; the product has no mask (see compute_mask)

    def compute_mask(self, inputs, mask=None):
        return None

    def __init__(self, axes, normalize: bool = False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axes, (list, tuple)):
            if len(axes) != 2 or not all(is_int(a) for a in axes):
                raise ValueError(f"Dot '{self.name}': argument `axes` must be an integer or a pair of integers; "
                                 f"received axes={list(axes)!r}")
            axes = (int(axes[0]), int(axes[1]))
        elif is_int(axes):
            axes = int(axes)
        else:
            raise ValueError(f"Dot '{self.name}': argument `axes` must be an integer or a pair of integers; "
                             f"received axes={axes!r}")
        self.axes = axes
        self.normalize = bool(normalize)

    def resolved_axes(self, ranks: tuple[int, int]) -> tuple[int, int]:
        """The two dot axes as non-negative numbers, for inputs of ``ranks``."""
        pair = (self.axes, self.axes) if isinstance(self.axes, int) else self.axes
        out = []
        for axis, rank in zip(pair, ranks):
            if not -rank <= axis < rank or axis % rank == 0:
                raise ValueError(f"Dot '{self.name}': argument `axes` must name a non-batch axis of each input "
                                 f"(ranks {ranks[0]} and {ranks[1]}); received axes={self.axes!r}")
            out.append(axis % rank)
        return out[0], out[1]

    def compute_output_shape(self, input_shape):
        first, second = shapes_list(self, input_shape, 2, 2)
        if len(first) < 2 or len(second) < 2:
            raise ValueError(f"Dot '{self.name}': inputs need a batch axis and at least one more; received "
                             f"{shape_str(first)}, {shape_str(second)}")
        i, j = self.resolved_axes((len(first), len(second)))
        if first[i] is not None and second[j] is not None and first[i] != second[j]:
            raise ValueError(f"Dot '{self.name}': the dot axes must have the same size; received axis {i} of size "
                             f"{first[i]} and axis {j} of size {second[j]} (input shapes {shape_str(first)}, "
                             f"{shape_str(second)})")
        rest = [d for k, d in enumerate(first) if k != i][1:] + [d for k, d in enumerate(second) if k != j][1:]
        return (first[0] if first[0] is not None else second[0], *(rest or [1]))

    def build(self, input_shape):
        self.compute_output_shape(input_shape)
        self.built = True

    def call(self, inputs):
        x, y = inputs
        i, j = self.resolved_axes((x.ndim, y.ndim))
        if self.normalize:
            x, y = l2_normalize(x, i), l2_normalize(y, j)
        return batch_dot(x, y, (i, j))

    def get_config(self):
        axes = list(self.axes) if isinstance(self.axes, tuple) else self.axes
        return {**super().get_config(), "axes": axes, "normalize": self.normalize}


def is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def l2_normalize(x, axis: int, epsilon: float = NORM_EPSILON):
    """``x`` divided by its L2 norm along ``axis`` (a norm below ``epsilon`` counts as ``epsilon``)."""
    norm = ops.sqrt(ops.sum(ops.square(x), axis=axis, keepdims=True))
    return ops.divide(x, ops.maximum(norm, np.asarray(epsilon, dtype=x.dtype)))


def batch_dot(x, y, axes: tuple[int, int]):
    """For each sample, the sum over axis ``axes[0]`` of ``x`` and ``axes[1]`` of ``y`` (both
    non-negative, not 0) of their products: shape ``(batch, *x's other axes, *y's other axes)``,
    or ``(batch, 1)`` when no axis is left. One batched matrix product, differentiable."""
    i, j = axes
    x_rest = [k for k in range(1, x.ndim) if k != i]
    y_rest = [k for k in range(1, y.ndim) if k != j]
    x_dims, y_dims = [x.shape[k] for k in x_rest], [y.shape[k] for k in y_rest]
    batch, depth = x.shape[0], x.shape[i]
    left = ops.reshape(ops.transpose(x, (0, *x_rest, i)), (batch, math.prod(x_dims), depth))
    right = ops.reshape(ops.transpose(y, (0, j, *y_rest)), (batch, depth, math.prod(y_dims)))
    return ops.reshape(ops.matmul(left, right), (batch, *(x_dims + y_dims or [1])))


# -- functional forms --------------------------------------------------------------------------
def add(inputs, **kwargs):
    """Functional form of `Add`: ``add([a, b])``."""
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    """Functional form of `Subtract`: ``subtract([a, b])`` is ``a - b``."""
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    """Functional form of `Multiply`."""
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    """Functional form of `Average`."""
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    """Functional form of `Maximum`."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    """Functional form of `Minimum`."""
    return Minimum(**kwargs)(inputs)


def concatenate(inputs, axis: int = -1, **kwargs):
    """Functional form of `Concatenate`."""
    return Concatenate(axis=axis, **kwargs)(inputs)


def dot(inputs, axes=-1, normalize: bool = False, **kwargs):
    """Functional form of `Dot`."""
    return Dot(axes=axes, normalize=normalize, **kwargs)(inputs)
