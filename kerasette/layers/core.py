"""Dense, Activation, Flatten, Reshape, Permute, Identity, ActivityRegularization and InputLayer
(Keras 1 and 2 scripts import the Dropout family and Lambda from here too: they are re-exported)."""

from __future__ import annotations

import functools

import numpy as np

from kerasette import activations, constraints, initializers, regularizers
from kerasette.backend import ops
from kerasette.backend.config import normalize_data_format
from kerasette.backend.symbolic import KerasTensor
from kerasette.backend.tensor import Tensor
from kerasette.layers.base import Layer, unique_name
from kerasette.layers.folding import folded_kernel_and_bias
from kerasette.layers.input_spec import InputSpec
from kerasette.layers.legacy import WEIGHT_KERAS1, keras_layer
from kerasette.utils.validation import check_positive_int, shape_str


class WeightPenalties:
    """The regularizer and constraint arguments shared by Dense and Conv2D, and activity
    regularization as Keras 3 computes it: the regularizer of the layer's output divided by the
    batch size, added to `losses` (from the layer's latest call)."""

    def _init_penalties(self, kernel_regularizer, bias_regularizer, activity_regularizer,
                        kernel_constraint, bias_constraint) -> None:
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self._activity_losses: list = []

    def _penalized_output(self, outputs):
        """Records the activity penalty of ``outputs`` (a Tensor) and returns them."""
        if self.activity_regularizer is not None and isinstance(outputs, Tensor):
            penalty = self.activity_regularizer(outputs)
            if outputs.ndim > 0 and outputs.shape[0]:
                penalty = ops.divide(penalty, float(outputs.shape[0]))
            self._activity_losses = [penalty]
        return outputs

    @property
    def losses(self) -> list:
        return [*Layer.losses.fget(self), *self._activity_losses]

    def penalty_config(self) -> dict:
        """The five arguments as Keras writes them in a config."""
        return {"kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer),
                "activity_regularizer": regularizers.serialize(self.activity_regularizer),
                "kernel_constraint": constraints.serialize(self.kernel_constraint),
                "bias_constraint": constraints.serialize(self.bias_constraint)}


@keras_layer(keras1={**WEIGHT_KERAS1, "output_dim": "units"})
class Dense(WeightPenalties, Layer):
    """Densely connected layer: ``activation(inputs @ kernel + bias)``.

    Args:
        units: the output dimension (Keras 1: ``output_dim``).
        activation: name or callable; None is linear.
        use_bias: whether to add a bias (Keras 1: ``bias``).
        kernel_initializer: initializer of the (in, units) kernel (Keras 1: ``init``).
        bias_initializer: initializer of the bias.
        kernel_regularizer, bias_regularizer: penalties on the weights, added to the training
            loss (Keras 1: ``W_regularizer``, ``b_regularizer``); see `kerasette.regularizers`.
        activity_regularizer: penalty on the output, divided by the batch size (Keras 3).
        kernel_constraint, bias_constraint: projections applied after each update (Keras 1:
            ``W_constraint``, ``b_constraint``); see `kerasette.constraints`.

    Input shape: (batch, ..., in). Output shape: (batch, ..., units).

    Example:
        >>> Dense(10, activation='softmax', input_dim=64).compute_output_shape((None, 64))
        (None, 10)
    """

    supports_masking = True  # Keras 3: passes its input's mask on

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.units = check_positive_int(units, "units", f"Dense '{self.name}'")
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self._init_penalties(kernel_regularizer, bias_regularizer, activity_regularizer, kernel_constraint,
                             bias_constraint)
        self.input_spec = InputSpec(min_ndim=2)

    def build(self, input_shape):
        if input_shape[-1] is None:
            raise ValueError(f"Dense '{self.name}': the last axis of the input must be known; "
                             f"received input shape {shape_str(input_shape)}")
        self.kernel = self.add_weight(name="kernel", shape=(input_shape[-1], self.units),
                                      initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        self.bias = (self.add_weight(name="bias", shape=(self.units,), initializer=self.bias_initializer,
                                     regularizer=self.bias_regularizer, constraint=self.bias_constraint)
                     if self.use_bias else None)
        self.input_spec = InputSpec(min_ndim=2, axes={-1: input_shape[-1]},
                                    axis_names={-1: "inputs with last axis"})
        self.built = True

    def call(self, inputs):
        if self.activation is activations.relu:
            return self._penalized_output(ops.dense(inputs, self.kernel, self.bias, relu=True))
        return self._penalized_output(self.activation(ops.dense(inputs, self.kernel, self.bias)))

    def fuses(self, activation) -> bool:
        return (activation is activations.relu and self.activation is activations.linear
                and self.activity_regularizer is None)

    def call_with_activation(self, inputs, activation, training=False, mask=None):
        return ops.dense(inputs, self.kernel, self.bias, relu=True)

    def output_affine_folder(self, axis: int, ndim: int):
        """How to fold a per-unit ``output * scale + shift`` along output ``axis`` (of ``ndim``)
        into the kernel and bias (see `Conv2D.output_affine_folder`); None unless ``axis`` is
        the last and the layer has no activation or activity regularizer of its own."""
        if axis != ndim - 1 or self.activation is not activations.linear or self.activity_regularizer is not None:
            return None
        return functools.partial(folded_kernel_and_bias, self)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer), **self.penalty_config()}


@keras_layer()
class Activation(Layer):
    """Applies an activation function by name or callable.

    Example:
        >>> Activation('relu').compute_output_shape((None, 3))
        (None, 3)
    """

    supports_masking = True  # Keras 3: passes its input's mask on

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call(self, inputs):
        return self.activation(inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    @property
    def standalone_activation(self):
        return self.activation

    def layout_free(self) -> bool:
        return bool(getattr(self.activation, "elementwise", False))

    def get_config(self):
        return {**super().get_config(), "activation": activations.serialize(self.activation)}


@keras_layer()
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

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = normalize_data_format(data_format)

    def call(self, inputs):
        if self.data_format == "channels_first" and inputs.ndim > 2:
            inputs = ops.transpose(inputs, (0,) + tuple(range(2, inputs.ndim)) + (1,))
        return ops.reshape(inputs, (inputs.shape[0], -1))

    def runs_channels_last(self) -> bool:
        # a channels-first Flatten flattens in (rows, cols, channels) order: the channels-last
        # tensor's own order
        return self.data_format == "channels_first"

    def call_channels_last(self, x, training=False, activation=None):
        return ops.reshape(x, (x.shape[0], -1))

    @classmethod
    def translate_config(cls, config: dict) -> dict:
        config = super().translate_config(config)
        if config.get("data_format") is None:
            config["data_format"] = "channels_last"  # Keras 1 and <= 2.1 flatten in the tensor's own order
        return config

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


@keras_layer()
class Reshape(Layer):
    """Reshapes each sample to ``target_shape`` (batch axis kept; one entry may be -1).

    Example:
        >>> Reshape((2, -1)).compute_output_shape((None, 3, 4))
        (None, 2, 6)
    """

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(int(d) for d in target_shape)
        if sum(d == -1 for d in self.target_shape) > 1 or any(d == 0 or d < -1 for d in self.target_shape):
            raise ValueError(f"Reshape '{self.name}': target_shape must hold positive sizes and at most one -1; "
                             f"received target_shape={target_shape!r}")

    def compute_output_shape(self, input_shape):
        size = None if any(d is None for d in input_shape[1:]) else int(np.prod(input_shape[1:]))
        known = int(np.prod([d for d in self.target_shape if d != -1]))
        if size is not None and (size % known or (-1 not in self.target_shape and size != known)):
            raise ValueError(f"Reshape '{self.name}': cannot reshape {size} values per sample into "
                             f"{self.target_shape}; received input shape {shape_str(input_shape)}")
        missing = None if size is None else size // known
        return (input_shape[0],) + tuple(missing if d == -1 else d for d in self.target_shape)

    def call(self, inputs):
        return ops.reshape(inputs, (inputs.shape[0],) + self.target_shape)

    def get_config(self):
        return {**super().get_config(), "target_shape": list(self.target_shape)}


@keras_layer()
class Permute(Layer):
    """Permutes the axes of each sample: ``dims`` numbers them from 1 (the batch axis stays).

    Example:
        >>> Permute((2, 1)).compute_output_shape((None, 3, 4))
        (None, 4, 3)
    """

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        self.dims = tuple(int(d) for d in dims)
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ValueError(f"Permute '{self.name}': dims must be a permutation of 1..{len(self.dims)}; "
                             f"received dims={dims!r}")
        self.input_spec = InputSpec(ndim=len(self.dims) + 1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def call(self, inputs):
        return ops.transpose(inputs, (0,) + self.dims)

    def get_config(self):
        return {**super().get_config(), "dims": list(self.dims)}


@keras_layer()
class Identity(Layer):
    """Returns its input unchanged (a placeholder in a model's structure)."""

    supports_masking = True  # Keras 3: passes its input's mask on

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def layout_free(self) -> bool:
        return True


@keras_layer()
class ActivityRegularization(WeightPenalties, Layer):
    """Adds ``l1 * sum(|x|) + l2 * sum(x ** 2)`` of its input (divided by the batch size, as Keras
    3 does) to the training loss, and returns the input unchanged."""

    supports_masking = True  # Keras 3: passes its input's mask on

    def __init__(self, l1=0.0, l2=0.0, **kwargs):
        super().__init__(**kwargs)
        self.l1, self.l2 = float(l1), float(l2)
        self._init_penalties(None, None, regularizers.L1L2(l1=self.l1, l2=self.l2), None, None)

    def call(self, inputs):
        return self._penalized_output(inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "l1": self.l1, "l2": self.l2}


@keras_layer(keras1={"input_dtype": "dtype"})
class InputLayer(Layer):
    """Declares a model's input shape: ``InputLayer(input_shape=(28, 28, 1))``."""

    #: a file may declare integer inputs (token ids for an Embedding: Keras 3's ``int32``)
    takes_integer_dtype = True

    def __init__(self, input_shape=None, batch_size=None, dtype=None, batch_input_shape=None,
                 name=None, sparse=False, shape=None, batch_shape=None, ragged=False, optional=False, **kwargs):
        kwargs.pop("input_tensor", None)
        for key, value in (("sparse", sparse), ("ragged", ragged), ("optional", optional)):
            if value:
                raise ValueError(f"InputLayer: {key} inputs are not supported; received {key}={value!r}")
        if shape is not None and input_shape is None:
            input_shape = shape
        if batch_shape is not None and batch_input_shape is None:
            batch_input_shape = batch_shape
        if input_shape is None and batch_input_shape is None:
            raise ValueError("InputLayer: give `input_shape` (or `batch_input_shape`)")
        super().__init__(name=name or unique_name("input"), input_shape=input_shape,
                         batch_input_shape=batch_input_shape, batch_size=batch_size, dtype=dtype, **kwargs)
        self.built = True
        self.input_shape = self.output_shape = self.batch_input_shape

    def get_config(self):
        return {"batch_input_shape": list(self.batch_input_shape), "dtype": self.dtype,
                "sparse": False, "name": self.name}


def reject_unsupported(layer, **arguments):
    """Refuses Keras arguments kerasette does not implement yet, unless they hold None."""
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
    if getattr(layer, "output_tensor", None) is None:
        out = KerasTensor(layer.batch_input_shape, layer.dtype, name=layer.name)
        out._keras_history = (layer, 0, 0)
        layer._inbound_nodes.append([])
        layer.output_tensor = out
    return layer.output_tensor


# Keras 1 and 2 scripts import the Dropout family and Lambda from the core layers' module
# (``keras.layers.core``).
from kerasette.layers.dropout import (  # noqa: E402,F401 - dropout imports nothing from here
    Dropout,
    SpatialDropout1D,
    SpatialDropout2D,
    SpatialDropout3D,
    check_noise_shape,
    concrete_noise_shape,
    keep_mask,
)
from kerasette.layers.lambda_layer import Lambda  # noqa: E402,F401 - lambda_layer imports nothing from here
