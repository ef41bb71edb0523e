"""A layer's loss terms (`kerasette.layers.base.Layer` inherits them): the regularization of
its weights, and the terms and functions that `add_loss` adds, as Keras 1, 2 and 3 define them.
"""

from __future__ import annotations

import numpy as np

from kerasette.backend import ops, symbolic
from kerasette.backend.config import floatx
from kerasette.backend.tensor import Tensor


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
        terms = [fn(var) for var, fn in self._regularizers]
        terms.extend(own.get("_call_losses", ()))
        terms.extend(_scalar_loss(self, fn()) for fn in own.get("_loss_functions", ()))
        for layer in self._tracked_layers():
            terms.extend(layer.losses)
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
                own.setdefault("_loss_functions", []).append(term)
            elif symbolic.is_symbolic(term):
                raise ValueError(
                    f"{type(self).__name__} '{self.name}': add_loss received a symbolic tensor "
                    f"({getattr(term, 'name', term)!r}): a loss computed from a model's symbolic tensors (Keras "
                    "2's model.add_loss(K.mean(...)) after building a functional model) is not supported; "
                    "call self.add_loss(...) inside a layer's call() instead, where the tensors are values")
            else:
                own.setdefault("_call_losses", []).append(_scalar_loss(self, term))

    def _clear_call_losses(self) -> None:
        """Forgets the `add_loss` terms of the previous call, here and in the layers inside."""
        if self.__dict__.get("_call_losses"):
            self._call_losses = []
        for layer in self._tracked_layers():
            layer._clear_call_losses()


def _scalar_loss(layer, term) -> Tensor:
    """A loss term as a scalar Tensor (the sum of a tensor's values, as Keras 3 aggregates)."""
    if not isinstance(term, Tensor):
        try:
            term = Tensor(np.asarray(term, dtype=floatx()))
        except (TypeError, ValueError):
            raise ValueError(f"{type(layer).__name__} '{layer.name}': add_loss takes a tensor, a number or a "
                             f"zero-argument function; received {term!r:.80}") from None
    return term if term.ndim == 0 else ops.sum(term)
