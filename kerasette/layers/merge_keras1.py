"""Keras 1's ``merge`` function and ``Merge`` layer, made of today's merge layers
(`kerasette.layers.merge`) and `Lambda`, so a model built with them saves as Keras 3 reads it.

Example:
    >>> from kerasette.layers import Input
    >>> a, b = Input(shape=(4,)), Input(shape=(4,))
    >>> merge([a, b], mode='sum').shape
    (None, 4)
"""

from __future__ import annotations

from kerasette.layers.base import Layer
from kerasette.layers.lambda_layer import Lambda, keras1_function_config, resolve_function
from kerasette.layers.legacy import keras_layer
from kerasette.layers.merge import (
    Add,
    Average,
    Concatenate,
    Dot,
    Maximum,
    Multiply,
    is_int,
    shapes_list,
)

MERGE_MODES = ("sum", "mul", "concat", "ave", "max", "dot", "cos")


def merge(inputs, mode="sum", concat_axis: int = -1, dot_axes=-1, output_shape=None, output_mask=None,
          arguments=None, name=None):
    """Keras 1's functional merge of a list of tensors, made with today's layers.

    ``mode`` ``'sum'``, ``'mul'``, ``'ave'``, ``'max'`` give `Add`, `Multiply`, `Average`,
    `Maximum`; ``'concat'`` gives ``Concatenate(axis=concat_axis)``; ``'dot'`` gives
    ``Dot(axes=dot_axes)`` and ``'cos'`` ``Dot(axes=dot_axes, normalize=True)`` (the cosine
    proximity; Keras 1 bounded the product of the two norms by 1e-7 where Keras 3 bounds each
    norm, which differs only for vectors of norm below 1e-7). A callable ``mode`` gives a
    `Lambda` that receives the list of tensors (with ``output_shape`` and ``arguments``). So a
    model built with ``merge`` saves as Keras 3 reads it.

    Example:
        >>> from kerasette.layers import Input
        >>> a, b = Input(shape=(4,)), Input(shape=(4,))
        >>> merge([a, b], mode='concat', concat_axis=1).shape
        (None, 8)
    """
    kwargs = {"name": name} if name is not None else {}
    if callable(mode):
        return Lambda(mode, output_shape=output_shape, mask=output_mask, arguments=arguments, **kwargs)(inputs)
    layer = _merge_layer(mode, concat_axis, dot_axes, kwargs, "merge")
    return layer(inputs)


def _merge_layer(mode, concat_axis, dot_axes, kwargs: dict, where: str) -> Layer:
    simple = {"sum": Add, "mul": Multiply, "ave": Average, "max": Maximum}
    if mode in simple:
        return simple[mode](**kwargs)
    if mode == "concat":
        return Concatenate(axis=concat_axis, **kwargs)
    if mode in ("dot", "cos"):
        return Dot(axes=_keras1_dot_axes(dot_axes, where), normalize=mode == "cos", **kwargs)
    raise ValueError(f"{where}: argument `mode` must be one of {', '.join(repr(m) for m in MERGE_MODES)} or a "
                     f"callable; received mode={mode!r}")


def _keras1_dot_axes(dot_axes, where: str):
    if isinstance(dot_axes, (list, tuple)) and len(dot_axes) == 1:
        dot_axes = dot_axes[0]
    if isinstance(dot_axes, (list, tuple)):
        if len(dot_axes) != 2 or not all(is_int(a) for a in dot_axes):
            raise ValueError(f"{where}: argument `dot_axes` must be an integer or a pair of integers; received "
                             f"dot_axes={dot_axes!r}")
        return tuple(int(a) for a in dot_axes)
    if not is_int(dot_axes):
        raise ValueError(f"{where}: argument `dot_axes` must be an integer or a pair of integers; received "
                         f"dot_axes={dot_axes!r}")
    return int(dot_axes)


@keras_layer()
class Merge(Layer):
    """Keras 1's ``Merge`` layer, for scripts and for Keras 1 files whose functional graph holds it.

    ``Merge(mode=...)([a, b])`` computes what `merge` describes for that mode: ``'sum'``,
    ``'mul'``, ``'ave'``, ``'max'`` (elementwise), ``'concat'`` (along ``concat_axis``), ``'dot'``
    and ``'cos'`` (along ``dot_axes``; ``'cos'`` is the dot product of the L2-normalised inputs),
    or a callable ``mode`` applied to the list of tensors (``output_shape``: a shape without the
    batch axis, or a function of the list of input shapes; ``arguments``: its keyword arguments).

    Not supported: Keras 1's ``Merge([model_a, model_b], ...)`` that merges the outputs of whole
    models as the first layer of a ``Sequential`` (build a functional model with ``merge``), and
    masks. A file whose ``mode`` (or ``output_shape``) is a lambda stores its bytecode, which is
    never run: pass the function with ``custom_objects={'<layer name>': function}``; a named
    function is found by its name in ``custom_objects``. When a ``'cos'`` merge of 2-D inputs
    is followed by other layers, Keras 1 computed a tensor with an extra axis of size 1 that its
    own shape inference did not show; kerasette computes the shape Keras 1 declared.

    Args:
        mode: one of ``'sum'``, ``'mul'``, ``'concat'``, ``'ave'``, ``'max'``, ``'dot'``,
            ``'cos'``, or a callable.
        concat_axis: the axis of ``'concat'``.
        dot_axes: the axes of ``'dot'`` and ``'cos'`` (an int or a pair).
        output_shape, output_mask, arguments: for a callable ``mode`` (the mask is stored only).
    """

    def __init__(self, layers=None, mode="sum", concat_axis: int = -1, dot_axes=-1, output_shape=None,
                 output_mask=None, arguments=None, node_indices=None, tensor_indices=None, **kwargs):
        super().__init__(**kwargs)
        if layers:
            raise ValueError(f"Merge '{self.name}': merging whole models (Keras 1's Merge([model_a, model_b]) in "
                             "a Sequential) is not supported; build a functional model and merge their outputs "
                             "with merge([a, b], mode=...) instead")
        self.mode = mode
        self.concat_axis = int(concat_axis)
        self.dot_axes = _keras1_dot_axes(dot_axes, f"Merge '{self.name}'")
        self.output_shape_arg = output_shape
        self.output_mask = output_mask
        self.arguments = dict(arguments or {})
        if callable(mode):
            self._inner = Lambda(mode, output_shape=output_shape, arguments=self.arguments, name=f"{self.name}_fn")
        else:
            self._inner = _merge_layer(mode, self.concat_axis, self.dot_axes, {"name": f"{self.name}_{mode}"},
                                       f"Merge '{self.name}'")

    def compute_output_shape(self, input_shape):
        shapes = shapes_list(self, input_shape, 2)
        return self._inner.compute_output_shape(shapes)

    def build(self, input_shape):
        self._inner.build_for(shapes_list(self, input_shape, 2))
        self.built = True

    def call(self, inputs):
        return self._inner.run(list(inputs))

    def get_config(self):
        config = {**super().get_config(), "concat_axis": self.concat_axis,
                  "dot_axes": list(self.dot_axes) if isinstance(self.dot_axes, tuple) else self.dot_axes,
                  "arguments": dict(self.arguments)}
        config.update(keras1_function_config(self.mode, "mode") if callable(self.mode) else
                      {"mode": self.mode, "mode_type": "raw"})
        shape = self.output_shape_arg
        config.update(keras1_function_config(shape, "output_shape") if callable(shape) else
                      {"output_shape": None if shape is None else list(shape), "output_shape_type": "raw"})
        return config

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        config = dict(config)
        name = config.get("name")
        where = f"Merge '{name}'"
        mode = resolve_function(config, "mode", where, name, custom_objects)
        output_shape = resolve_function(config, "output_shape", where, None, custom_objects, required=False)
        resolve_function(config, "output_mask", where, None, custom_objects, required=False)
        if isinstance(output_shape, list):
            output_shape = tuple(output_shape)
        return cls(mode=mode, output_shape=output_shape, **config)
