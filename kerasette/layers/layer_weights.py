"""A layer's weights (`kerasette.layers.base.Layer` inherits them): making them (`add_weight`,
in Keras 1's, 2's and 3's argument forms), freezing them (``trainable``), listing them in
Keras's order (``weights``, ``trainable_weights``, ``non_trainable_weights``, Keras 1's
assignable lists), and reading and writing their values.
"""

from __future__ import annotations

import operator

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
        structure_changed()
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
        structure_changed()
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
        """The weights optimizers update: the layer's own trainable ones, then those of the layers
        inside it (none when the layer is frozen). Kept between calls (a training step asks for
        them each step: 70 us for ResNet-20's 71 layers) while `WeightsKept` finds the layer tree
        unchanged; a new list each call."""
        kept = self.__dict__.get("_trainable_kept")
        if kept is None or not kept.holds():
            kept = self.__dict__["_trainable_kept"] = WeightsKept(self, self._trainable_weights())
        return list(kept.weights)

    def _trainable_weights(self) -> list[Variable]:
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
        structure_changed()

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
        structure_changed()

    def count_params(self) -> int:
        return int(sum(w.size for w in self.weights))


#: How many times a layer tree's weight lists may have changed (`structure_changed`).
_STRUCTURE = [0]
_TRAINABLE = operator.attrgetter("trainable")


def structure_changed() -> None:
    """Notes a change that may change a layer tree's weight lists (a weight made or adopted, a
    layer frozen or unfrozen, a layer put inside another, weights set): every kept list is
    made again at its next use."""
    _STRUCTURE[0] += 1


class WeightsKept:
    """A weight list of ``layer``'s tree, and what tells whether it still holds: no
    `structure_changed` since it was made, the same number of weights in each layer's own
    list (appended to directly), of layers in each layer's nested-layer list (a Sequential's,
    appended to by ``add``), and each weight's own ``trainable`` flag as it was."""

    def __init__(self, layer, weights: list) -> None:
        self.version = _STRUCTURE[0]
        self.weights = weights
        tree = _tree(layer)
        self.own = [t.__dict__.get("_weights", ()) for t in tree]
        self.count = sum(map(len, self.own))
        # the nested-layer lists a layer keeps (not made anew at each call), and their lengths
        self.nested = [(nested, len(nested)) for nested, again in ((t._tracked_layers(), t._tracked_layers())
                                                                   for t in tree) if nested is again]
        self.every = [w for own in self.own for w in own]
        self.flags = tuple(map(_TRAINABLE, self.every))

    def holds(self) -> bool:
        return (self.version == _STRUCTURE[0] and sum(map(len, self.own)) == self.count
                and all(len(n) == size for n, size in self.nested) and tuple(map(_TRAINABLE, self.every)) == self.flags)


def _tree(layer) -> list:
    """``layer`` and every layer inside it, each once (depth first, without recursion)."""
    seen, order, stack = set(), [], [layer]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        order.append(current)
        stack.extend(reversed(current._tracked_layers()))
    return order


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
