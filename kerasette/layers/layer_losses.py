"""A layer's loss terms (`kerasette.layers.base.Layer` inherits them): the regularization of
its weights, and the terms and functions that `add_loss` adds, as Keras 1, 2 and 3 define them.
"""

from __future__ import annotations

import numpy as np

from kerasette.backend import ops, symbolic
from kerasette.backend.config import floatx
from kerasette.backend.tensor import Tensor
from kerasette.layers.layer_weights import _STRUCTURE


class LayerLosses:
    """`losses` and `add_loss` of a layer (which holds ``_regularizers``, a list of ``(weight,
    penalty function)``, and may hold ``_call_losses``, ``_loss_functions`` and ``_calling`` in
    its ``__dict__``; its nested layers are ``_tracked_layers()``)."""

    @property
    def losses(self) -> list:
        """The loss terms of this layer and of the layers inside it (scalar Tensors): the
        regularization of its weights (recomputed from the current weights at each access), the
        terms `add_loss` added during its latest call, and its `add_loss` functions (evaluated at
        each access). The training loop adds them all to the loss."""
        own = self.__dict__
        if not (own.get("_regularizers") or own.get("_call_losses") or own.get("_loss_functions")
                or self._tracked_layers()):
            return []  # a layer without terms or layers inside (most, asked by a layer's own `losses`)
        kept = own.get("_losses_kept")
        if kept is None or not kept.holds():
            kept = self.__dict__["_losses_kept"] = LossSources(self)
        terms = self._own_losses() if kept.own else []
        for layer in kept.sources:
            terms.extend(layer._own_losses() if type(layer).losses is _LOSSES else layer.losses)
        return terms

    def _own_losses(self) -> list:
        """This layer's terms, without those of the layers inside it."""
        own = self.__dict__
        terms = [fn(var) for var, fn in self._regularizers]
        terms.extend(own.get("_call_losses", ()))
        terms.extend(_scalar_loss(self, fn()) for fn in own.get("_loss_functions", ()))
        return terms

    def add_loss(self, losses, inputs=None) -> None:
        """Adds loss terms to the training loss, as Keras does.

        - Called inside ``call`` with a tensor (or a list of them): a term of this call, kept
          until the layer is called again (each training step computes it afresh, and its
          gradient flows into the weights it depends on). A non-scalar tensor counts as its sum.
        - Called outside ``call`` with a zero-argument function (or a list of them), such as
          ``lambda: 1e-3 * K.sum(K.square(layer.kernel))``: the function is evaluated at every
          step.
        - Called outside ``call`` with a tensor or a number: kept until the layer's next call
          (Keras 3).

        The terms appear in ``layer.losses`` and ``model.losses``, and in the logged ``loss``.

        Args:
            losses: a tensor, a number, a zero-argument function, or a list of them.
            inputs: ignored (Keras 2's conditional losses).

        Example:
            >>> import numpy as np
            >>> from kerasette.layers import Layer
            >>> class Sparse(Layer):
            ...     def call(self, inputs):
            ...         self.add_loss(ops.sum(ops.abs(inputs)) * 0.5)
            ...         return inputs
            >>> layer = Sparse()
            >>> _ = layer(np.ones((2, 3), 'float32'))
            >>> float(layer.losses[0].data)
            3.0
        """
        own = self.__dict__
        for term in losses if isinstance(losses, (list, tuple)) else [losses]:
            if callable(term) and not isinstance(term, Tensor):
                if own.get("_calling"):
                    raise ValueError(f"{type(self).__name__} '{self.name}': add_loss inside call() takes a tensor; "
                                     "a function (evaluated at every step) is added outside call()")
                if not own.get("_loss_functions"):
                    loss_sources_changed()
                own.setdefault("_loss_functions", []).append(term)
            elif symbolic.is_symbolic(term):
                raise ValueError(
                    f"{type(self).__name__} '{self.name}': add_loss received a symbolic tensor "
                    f"({getattr(term, 'name', term)!r}): a loss computed from a model's symbolic tensors (Keras "
                    "2's model.add_loss(K.mean(...)) after building a functional model) is not supported; "
                    "call self.add_loss(...) inside a layer's call() instead, where the tensors are values")
            else:
                if not own.get("_call_losses"):  # (emptied after each call)
                    loss_sources_changed()
                own.setdefault("_call_losses", []).append(_scalar_loss(self, term))

    def _clear_call_losses(self) -> None:
        """Forgets the `add_loss` terms of the previous call, here and in the layers inside."""
        if self.__dict__.get("_call_losses"):
            self._call_losses = []
        for layer in self._tracked_layers():
            layer._clear_call_losses()


#: How many times a layer may have got loss terms of a new kind (`loss_sources_changed`).
_SOURCES = [0]


def loss_sources_changed() -> None:
    """Notes that a layer may have got `add_loss` terms or functions where it had none (or an
    empty list): every kept `LossSources` is made again at its next use."""
    _SOURCES[0] += 1


class LossSources:
    """The layers inside ``layer`` whose loss terms `LayerLosses.losses` collects after the
    layer's own (``own``: whether it has any), in its order (depth first; a layer that defines its own
    ``losses`` is asked for them, with those of the layers inside it), kept between steps (a
    training step asks each step: 50 us for ResNet-20's 71 layers, none with a term) while no
    weight, nested layer or loss source changed (`layer_weights.structure_changed`,
    `loss_sources_changed`, the lengths of the penalty and nested-layer lists)."""

    def __init__(self, layer) -> None:
        self.versions = (_STRUCTURE[0], _SOURCES[0])
        self.sources, self.penalties, self.nested, self.own = [], [], [], False
        stack = [layer]
        while stack:
            current = stack.pop()
            own = current.__dict__
            penalties = own.get("_regularizers", ())
            self.penalties.append(penalties)
            opaque = current is not layer and type(current).losses is not _LOSSES
            if opaque or penalties or own.get("_call_losses") or own.get("_loss_functions"):
                if current is layer:
                    self.own = True  # (the layer itself not kept here: no reference cycle)
                else:
                    self.sources.append(current)
            if opaque:
                continue
            nested = current._tracked_layers()
            if nested is current._tracked_layers():  # a list the layer keeps: appended to in place
                self.nested.append((nested, len(nested)))
            stack.extend(reversed(nested))
        self.count = sum(map(len, self.penalties))

    def holds(self) -> bool:
        return (self.versions == (_STRUCTURE[0], _SOURCES[0]) and sum(map(len, self.penalties)) == self.count
                and all(len(n) == size for n, size in self.nested))


def _scalar_loss(layer, term) -> Tensor:
    """A loss term as a scalar Tensor (the sum of a tensor's values, as Keras 3 aggregates)."""
    if not isinstance(term, Tensor):
        try:
            term = Tensor(np.asarray(term, dtype=floatx()))
        except (TypeError, ValueError):
            raise ValueError(f"{type(layer).__name__} '{layer.name}': add_loss takes a tensor, a number or a "
                             f"zero-argument function; received {term!r:.80}") from None
    return term if term.ndim == 0 else ops.sum(term)


_LOSSES = LayerLosses.__dict__["losses"]
