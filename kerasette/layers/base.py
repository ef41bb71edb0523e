"""The Layer contract: validate in ``__init__``, make weights in ``build``, compute in ``call``,
infer shapes in ``compute_output_shape``, describe itself in ``get_config``."""

from __future__ import annotations

import collections
import re

import numpy as np

from kerasette import initializers
from kerasette.backend.config import floatx
from kerasette.backend.tensor import Tensor, Variable
from kerasette.utils.validation import shape_str

_name_counts: collections.Counter = collections.Counter()


def reset_names() -> None:
    """Restarts automatic layer naming (``dense_1`` again); called by ``clear_session``."""
    _name_counts.clear()


def _snake_case(name: str) -> str:
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(prefix: str) -> str:
    """``prefix_1``, ``prefix_2``, ... in Keras 2's style."""
    _name_counts[prefix] += 1
    return f"{prefix}_{_name_counts[prefix]}"


class Layer:
    """Base class of layers.

    Args:
        name: the layer's name (unique in a model); generated as ``conv2d_1`` etc. when omitted.
        trainable: whether its weights are trained.
        input_shape: shape of one sample, for the first layer of a model.
        batch_input_shape: shape including the batch size (None for any).
        input_dim: for 2-D inputs, the same as ``input_shape=(input_dim,)``.
        batch_size: fixed batch size, with ``input_shape``.
        dtype: the dtype of the weights (default floatx).
        weights: initial values of the weights, set after the layer is built (Keras 1 and 2).
    """

    def __init__(self, name=None, trainable=True, input_shape=None, batch_input_shape=None,
                 input_dim=None, batch_size=None, dtype=None, weights=None, **kwargs):
        kwargs.pop("autocast", None)
        kwargs.pop("build_config", None)
        if kwargs:
            raise TypeError(
                f"{type(self).__name__}: unexpected keyword argument(s) {sorted(kwargs)}"
            )
        self.name = name or unique_name(_snake_case(type(self).__name__))
        self.trainable = bool(trainable)
        self.dtype = (dtype if isinstance(dtype, str) else None) or floatx()
        self.built = False
        self._weights: list[Variable] = []
        self._initial_weights = weights
        self.batch_input_shape = self._declared_input_shape(
            input_shape, batch_input_shape, input_dim, batch_size
        )
        self.input_shape = None
        self.output_shape = None
        self._inbound_nodes: list = []  # input tensors of each call on symbolic tensors
        self._node_outputs: list = []  # the symbolic output of each such call

    def _declared_input_shape(self, input_shape, batch_input_shape, input_dim, batch_size):
        if batch_input_shape is not None:
            return tuple(None if d is None else int(d) for d in batch_input_shape)
        if input_shape is not None:
            if isinstance(input_shape, int):
                input_shape = (input_shape,)
            return (batch_size,) + tuple(None if d is None else int(d) for d in input_shape)
        if input_dim is not None:
            return (batch_size, int(input_dim))
        return None

    # -- the contract ------------------------------------------------------------------------
    def build(self, input_shape) -> None:
        """Creates the weights for inputs of ``input_shape`` (batch axis included)."""
        self.built = True

    def call(self, inputs, training: bool = False):
        """Computes the output from ``inputs`` (tensors)."""
        return inputs

    def compute_output_shape(self, input_shape):
        """The output shape for ``input_shape`` (batch axis included, None for unknown)."""
        return input_shape

    def get_config(self) -> dict:
        """The constructor arguments, as a JSON-serialisable dict."""
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}
        if self.batch_input_shape is not None:
            config["batch_input_shape"] = list(self.batch_input_shape)
        return config

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    # -- weights -----------------------------------------------------------------------------
    def add_weight(self, name: str, shape, initializer="glorot_uniform", trainable: bool = True,
                   dtype=None) -> Variable:
        """Creates a weight named ``<layer>/<name>`` and tracks it."""
        init = initializers.get(initializer)
        value = init(tuple(shape), dtype=dtype or self.dtype)
        # The Variable keeps only its own flag; the layer's flag is applied on top of it (see
        # `trainable`), so that a layer frozen at construction can be unfrozen later.
        var = Variable(value, dtype=dtype or self.dtype, name=f"{self.name}/{name}", trainable=trainable)
        var.requires_grad = var.trainable and self.trainable
        self._weights.append(var)
        return var

    @property
    def trainable(self) -> bool:
        """Whether the layer's weights are trained (weights made with ``trainable=False`` never are).

        Setting it freezes or unfreezes the layer's weights, as in Keras: a frozen layer's weights
        are in ``non_trainable_weights``, optimizers leave them alone and no gradient is computed
        for them.
        """
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        for var in getattr(self, "_weights", ()):
            var.requires_grad = var.trainable and self._trainable

    @property
    def weights(self) -> list[Variable]:
        """Trainable weights first, then the others, each in creation order (Keras's order)."""
        return self.trainable_weights + self.non_trainable_weights

    @property
    def trainable_weights(self) -> list[Variable]:
        return [w for w in self._weights if w.trainable] if self.trainable else []

    @property
    def non_trainable_weights(self) -> list[Variable]:
        if not self.trainable:
            return list(self._weights)
        return [w for w in self._weights if not w.trainable]

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the weights' values."""
        return [w.data.copy() for w in self.weights]

    def set_weights(self, weights) -> None:
        """Sets the weights from a list of arrays, checking count and shapes."""
        own = self.weights
        weights = list(weights)
        if len(weights) != len(own):
            raise ValueError(
                f"{type(self).__name__} '{self.name}': set_weights expected a list of "
                f"{len(own)} arrays, received {len(weights)}"
            )
        for var, value in zip(own, weights):
            value = np.asarray(value)
            if value.shape != var.shape:
                raise ValueError(
                    f"{type(self).__name__} '{self.name}': weight '{var.name}' has shape "
                    f"{var.shape}, received an array of shape {value.shape}"
                )
        for var, value in zip(own, weights):
            var.assign(np.asarray(value, dtype=var.dtype))

    def count_params(self) -> int:
        return int(sum(w.size for w in self.weights))

    # -- calling -----------------------------------------------------------------------------
    def build_for(self, input_shape) -> None:
        """Builds once for ``input_shape`` and records input and output shapes."""
        input_shape = tuple(input_shape) if not _is_shape_list(input_shape) else [tuple(s) for s in input_shape]
        if not self.built:
            self.build(input_shape)
            self.built = True
            if self._initial_weights is not None:
                self.set_weights(self._initial_weights)
                self._initial_weights = None
        self.input_shape = input_shape
        self.output_shape = self.compute_output_shape(input_shape)

    def __call__(self, inputs, training: bool = False):
        """Calls the layer on tensors or arrays (building it first when needed)."""
        from kerasette.backend import symbolic

        if symbolic.is_symbolic(inputs):
            return symbolic.call_layer(self, inputs)
        if isinstance(inputs, (list, tuple)):
            inputs = [x if isinstance(x, Tensor) else Tensor(x) for x in inputs]
            shape = [(None,) + x.shape[1:] for x in inputs]
        else:
            inputs = inputs if isinstance(inputs, Tensor) else Tensor(inputs)
            shape = (None,) + inputs.shape[1:]
        if not self.built:
            self.build_for(shape)
        return self.call(inputs, training=training)

    @property
    def input(self):
        """The symbolic input of the layer's first call (functional API and Sequential)."""
        if not self._inbound_nodes:
            raise AttributeError(f"{type(self).__name__} '{self.name}' has not been called on a symbolic "
                                 "tensor yet, so it has no `input`; use it in a model first")
        tensors = self._inbound_nodes[0]
        if not tensors and getattr(self, "output_tensor", None) is not None:  # an Input layer
            return self.output_tensor
        return tensors[0] if len(tensors) == 1 else list(tensors)

    @property
    def output(self):
        """The symbolic output of the layer's first call (functional API and Sequential)."""
        if getattr(self, "output_tensor", None) is not None:
            return self.output_tensor
        if not self._node_outputs:
            raise AttributeError(f"{type(self).__name__} '{self.name}' has not been called on a symbolic "
                                 "tensor yet, so it has no `output`; use it in a model first")
        return self._node_outputs[0]

    def describe_input_error(self, rule: str, received_shape) -> str:
        return f"{type(self).__name__} '{self.name}': {rule} (input shape {shape_str(received_shape)})"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"


def _is_shape_list(shape) -> bool:
    return isinstance(shape, list) and bool(shape) and isinstance(shape[0], (tuple, list))
