"""Dense, Activation, Dropout, Flatten and InputLayer."""

from __future__ import annotations

import numpy as np

from kerasette import activations, initializers
from kerasette.backend import ops
from kerasette.backend import random as krandom
from kerasette.backend.config import normalize_data_format
from kerasette.layers.base import Layer
from kerasette.layers.legacy import legacy_arguments
from kerasette.utils.validation import check_positive_int, check_rate, shape_str


class Dense(Layer):
    """Densely connected layer: ``activation(inputs @ kernel + bias)``.

    Args:
        units: the output dimension (Keras 1: ``output_dim``).
        activation: name or callable; None is linear.
        use_bias: whether to add a bias (Keras 1: ``bias``).
        kernel_initializer: initializer of the (in, units) kernel (Keras 1: ``init``).
        bias_initializer: initializer of the bias.

    Input shape: (batch, ..., in). Output shape: (batch, ..., units).

    Example:
        >>> Dense(10, activation='softmax', input_dim=64).compute_output_shape((None, 64))
        (None, 10)
    """

    @legacy_arguments("Dense")
    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.units = check_positive_int(units, "units", f"Dense '{self.name}'")
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        _reject_unsupported(self, kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
                            activity_regularizer=activity_regularizer, kernel_constraint=kernel_constraint,
                            bias_constraint=bias_constraint)

    def build(self, input_shape):
        if input_shape[-1] is None:
            raise ValueError(f"Dense '{self.name}': the last axis of the input must be known; "
                             f"received input shape {shape_str(input_shape)}")
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units), self.kernel_initializer)
        self.bias = self.add_weight("bias", (self.units,), self.bias_initializer) if self.use_bias else None
        self.built = True

    def call(self, inputs, training=False, fused_relu=False):
        if inputs.shape[-1] != self.kernel.shape[0]:
            raise ValueError(
                f"Dense '{self.name}': expected inputs with last axis {self.kernel.shape[0]}, "
                f"received input shape {shape_str((None,) + inputs.shape[1:])}"
            )
        fuse = self.activation is activations.relu or (fused_relu and self.activation is activations.linear)
        out = ops.dense(inputs, self.kernel, self.bias, relu=fuse)
        return out if fuse else self.activation(out)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer)}


class Activation(Layer):
    """Applies an activation function by name or callable.

    Example:
        >>> Activation('relu').compute_output_shape((None, 3))
        (None, 3)
    """

    @legacy_arguments("Activation")
    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call(self, inputs, training=False):
        return self.activation(inputs)

    def get_config(self):
        return {**super().get_config(), "activation": activations.serialize(self.activation)}


class Dropout(Layer):
    """Sets a fraction ``rate`` of the inputs to zero during training (Keras 1: ``p``).

    Example:
        >>> Dropout(0.5).rate
        0.5
    """

    @legacy_arguments("Dropout")
    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = check_rate(rate, "rate", f"Dropout '{self.name}'")
        if noise_shape is not None:
            raise ValueError(f"Dropout '{self.name}': noise_shape is not supported; received {noise_shape!r}")
        self.seed = seed
        self._rng = np.random.default_rng(seed) if seed is not None else None

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        return ops.dropout(inputs, self.rate, self._rng or krandom.generator())

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "noise_shape": None, "seed": self.seed}


class Flatten(Layer):
    """Flattens each sample, keeping the batch axis.

    ``data_format`` is the layout of the input, as in Keras 2.2+ and 3: a ``'channels_first'``
    input (batch, channels, ...) is moved to channels-last before flattening, so the result is in
    (rows, cols, channels) order whichever layout the model uses. When None it is the backend's
    image data format at construction time (Keras 2/3's default).

    Example:
        >>> Flatten().compute_output_shape((None, 4, 4, 8))
        (None, 128)
    """

    @legacy_arguments("Flatten")
    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = normalize_data_format(data_format)

    def call(self, inputs, training=False):
        if self.data_format == "channels_first" and inputs.ndim > 2:
            inputs = ops.transpose(inputs, (0,) + tuple(range(2, inputs.ndim)) + (1,))
        return ops.reshape(inputs, (inputs.shape[0], -1))

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        if any(d is None for d in rest):
            raise ValueError(
                f"Flatten '{self.name}': every axis but the batch axis must be known; "
                f"received input shape {shape_str(input_shape)}"
            )
        return (input_shape[0], int(np.prod(rest)))

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class InputLayer(Layer):
    """Declares a model's input shape: ``InputLayer(input_shape=(28, 28, 1))``."""

    @legacy_arguments("InputLayer")
    def __init__(self, input_shape=None, batch_size=None, dtype=None, batch_input_shape=None,
                 name=None, sparse=False, shape=None, batch_shape=None, ragged=False, **kwargs):
        kwargs.pop("input_tensor", None)
        if shape is not None and input_shape is None:
            input_shape = shape
        if batch_shape is not None and batch_input_shape is None:
            batch_input_shape = batch_shape
        if input_shape is None and batch_input_shape is None:
            raise ValueError("InputLayer: give `input_shape` (or `batch_input_shape`)")
        from kerasette.layers.base import unique_name

        super().__init__(name=name or unique_name("input"), input_shape=input_shape,
                         batch_input_shape=batch_input_shape, batch_size=batch_size, dtype=dtype, **kwargs)
        self.built = True
        self.input_shape = self.output_shape = self.batch_input_shape

    def get_config(self):
        return {"batch_input_shape": list(self.batch_input_shape), "dtype": self.dtype,
                "sparse": False, "name": self.name}


def _reject_unsupported(layer, **arguments):
    for key, value in arguments.items():
        if value is not None:
            raise ValueError(
                f"{type(layer).__name__} '{layer.name}': argument `{key}` is not supported yet; "
                f"received {key}={value!r}"
            )


def Input(shape=None, batch_size=None, name=None, dtype=None, batch_shape=None, tensor=None):  # noqa: N802
    """A symbolic input for the functional API: ``Input(shape=(28, 28, 1))``.

    Args:
        shape: the shape of one sample (no batch axis).
        batch_size: optional fixed batch size.
        name: the input layer's name (``input_1`` etc. when omitted).
        dtype: the dtype of the values that will be fed (default floatx).
        batch_shape: the shape including the batch axis, instead of ``shape``.

    Example:
        >>> Input(shape=(28, 28, 1)).shape
        (None, 28, 28, 1)
    """
    if tensor is not None:
        raise ValueError("Input: argument `tensor` is not supported")
    layer = InputLayer(input_shape=shape, batch_size=batch_size, name=name, dtype=dtype,
                       batch_input_shape=batch_shape)
    return input_tensor(layer)


def input_tensor(layer: InputLayer):
    """The symbolic tensor an InputLayer feeds (created on first use)."""
    from kerasette.backend.symbolic import KerasTensor

    if getattr(layer, "output_tensor", None) is None:
        out = KerasTensor(layer.batch_input_shape, layer.dtype, name=layer.name)
        out._keras_history = (layer, 0, 0)
        layer._inbound_nodes.append([])
        layer.output_tensor = out
    return layer.output_tensor
