"""A layer's weights (`kerasette.layers.base.Layer` inherits them): making them (`add_weight`,
in Keras 1's, 2's and 3's argument forms), freezing them (``trainable``), listing them in
Keras's order (``weights``, ``trainable_weights``, ``non_trainable_weights``, Keras 1's
assignable lists), and reading and writing their values.
"""

from __future__ import annotations

import numpy as np

from kerasette import initializers
from kerasette.backend.tensor import Variable
from kerasette.layers.weight_arguments import weight_arguments


class LayerWeights:
    """The weights of a layer (which holds them in ``_weights``, its penalties in
    ``_regularizers``, its frozen flag in ``_trainable``, and its nested layers as
    ``_tracked_layers()``)."""

    # -- weights -----------------------------------------------------------------------------
    def add_weight(self, *args, **kwargs) -> Variable:
        """Creates a weight, tracks it and returns it.

        Accepts Keras 3's keywords ``add_weight(shape=..., initializer=..., name=None, dtype=None,
        trainable=True, regularizer=None, constraint=None)``, Keras 2's positional form
        ``add_weight(name, shape, dtype, initializer, regularizer, trainable, constraint)`` and
        Keras 1's ``add_weight(shape, initializer, name, trainable, regularizer, constraint)``.
        """
        a = weight_arguments(self, args, kwargs)
        init = initializers.get(a["initializer"] if a["initializer"] is not None else "glorot_uniform")
        dtype = dtype_name(a["dtype"]) or self.dtype
        name = a["name"] or f"weight_{len(self._weights)}"
        value = init(tuple(int(d) for d in a["shape"]), dtype=dtype)
        # The Variable keeps only its own flag; the layer's flag is applied on top of it (see
        # `trainable`), so that a layer frozen at construction can be unfrozen later.
        var = Variable(value, dtype=dtype, name=f"{self.name}/{name}", trainable=bool(a["trainable"]))
        var.requires_grad = var.trainable and self.trainable
        var.constraint = a["constraint"]
        self._weights.append(var)
        if a["regularizer"] is not None:
            self._regularizers.append((var, a["regularizer"]))
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
        for var in self.__dict__.get("_weights", ()):
            var.requires_grad = var.trainable and self._trainable

    @property
    def weights(self) -> list[Variable]:
        """The layer's own weights (trainable first, then the others, each in creation order,
        as Keras orders them), then those of the layers inside it, layer by layer."""
        own = list(self.__dict__.get("_weights", ()))
        if self.trainable:
            own = [w for w in own if w.trainable] + [w for w in own if not w.trainable]
        return _unique(own + [w for layer in self._tracked_layers() for w in layer.weights])

    @property
    def trainable_weights(self) -> list[Variable]:
        if not self.trainable:
            return []
        own = [w for w in self.__dict__.get("_weights", ()) if w.trainable]
        return _unique(own + [w for layer in self._tracked_layers() for w in layer.trainable_weights])

    @trainable_weights.setter
    def trainable_weights(self, variables) -> None:
        """Keras 1's ``self.trainable_weights = [W, b]``: these are the layer's trained weights."""
        self._adopt(variables, trainable=True)

    @property
    def non_trainable_weights(self) -> list[Variable]:
        own = self.__dict__.get("_weights", ())
        nested = [w for layer in self._tracked_layers() for w in layer.weights]
        if not self.trainable:
            return _unique(list(own) + nested)
        nested = [w for layer in self._tracked_layers() for w in layer.non_trainable_weights]
        return _unique([w for w in own if not w.trainable] + nested)

    @non_trainable_weights.setter
    def non_trainable_weights(self, variables) -> None:
        """Keras 1's ``self.non_trainable_weights = [...]``."""
        self._adopt(variables, trainable=False)

    def _adopt(self, variables, trainable: bool) -> None:
        weights = self.__dict__.setdefault("_weights", [])
        for var in variables:
            if not isinstance(var, Variable):
                raise TypeError(f"{type(self).__name__} '{getattr(self, 'name', '?')}': weights must be "
                                f"variables (K.variable or add_weight); received {type(var).__name__}")
            var.trainable = trainable
            var.requires_grad = trainable and self.__dict__.get("_trainable", True)
            if all(var is not w for w in weights):
                weights.append(var)

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


def dtype_name(dtype) -> str | None:
    if dtype is None:
        return None
    if isinstance(dtype, dict):  # Keras 3's DTypePolicy config
        dtype = (dtype.get("config") or {}).get("name")
    try:
        return np.dtype(dtype).name
    except TypeError:
        return None


def _unique(items) -> list:
    seen, out = set(), []
    for item in items:
        if id(item) not in seen:
            seen.add(id(item))
            out.append(item)
    return out
