"""`CellLayer`: an `RNN` whose cell is made from the layer's own arguments, the common ground of
`SimpleRNN`, `LSTM`, `GRU` (`kerasette.layers.recurrent.layers`) and the ConvLSTM layers
(`kerasette.layers.recurrent.conv_lstm`).

Such a layer takes its cell's arguments and `RNN`'s in one call, names the layer the user made
(not its cell) in the cell's argument errors, reads the cell's attributes through
(``layer.units``, ``layer.kernel``, ...), writes one flat config (the RNN's options, then the
cell's, then ``activity_regularizer``, as Keras does), and adds Keras's ``activity_regularizer``
penalty on the output (divided by the batch size).
"""

from __future__ import annotations

from kerasette import regularizers
from kerasette.backend import ops
from kerasette.layers.base import snake_case, unique_name
from kerasette.layers.recurrent.rnn import RNN

#: the arguments of every layer (`kerasette.layers.base.Layer`) that a cell layer keeps for itself
LAYER_ARGUMENTS = ("name", "trainable", "input_shape", "batch_input_shape", "batch_size", "dtype", "weights")


class CellLayer(RNN):
    """An `RNN` over a cell made from the layer's arguments (see the module docstring).

    A subclass calls `_split_arguments` then `_start` from its ``__init__``, and lists in
    ``cell_attributes`` what the layer reads through to its cell.
    """

    #: the cell's attributes read through the layer (Keras 3's properties of these layers)
    cell_attributes: tuple = ()

    def _split_arguments(self, kwargs: dict, rnn_arguments: tuple) -> tuple[dict, dict]:
        """Takes `RNN`'s arguments (among ``rnn_arguments``) and `LAYER_ARGUMENTS` out of
        ``kwargs`` (left with the cell's): ``(rnn_kwargs, layer_kwargs)``, the latter with the
        layer's name (a new unique one when none is given)."""
        rnn_kwargs = {k: kwargs.pop(k) for k in rnn_arguments if k in kwargs}
        layer_kwargs = {k: kwargs.pop(k) for k in LAYER_ARGUMENTS if k in kwargs}
        layer_kwargs["name"] = layer_kwargs.get("name") or unique_name(snake_case(type(self).__name__))
        return rnn_kwargs, layer_kwargs

    def _as_layer_error(self, exc: ValueError, cell_label: str, name: str) -> ValueError:
        """The cell's argument error ``exc`` naming the layer the user made (``Type 'name'``)
        where it names the cell (``cell_label``)."""
        return ValueError(str(exc).replace(cell_label, f"{type(self).__name__} '{name}'"))

    def _start(self, make_cell, cell_label: str, rnn_kwargs: dict, layer_kwargs: dict, activity_regularizer) -> None:
        """Makes the cell (``make_cell()``; its ValueErrors name the layer instead of
        ``cell_label``), then the `RNN` over it and the activity penalty."""
        try:
            cell = make_cell()
        except ValueError as exc:  # the cell checked the arguments: name the layer the user made
            raise self._as_layer_error(exc, cell_label, layer_kwargs["name"]) from None
        super().__init__(cell, **rnn_kwargs, **layer_kwargs)
        self.activity_regularizer = regularizers.get(activity_regularizer)

    def __getattr__(self, name):
        if name in type(self).cell_attributes and "cell" in self.__dict__:
            return getattr(self.__dict__["cell"], name)
        raise AttributeError(f"{type(self).__name__!s} object has no attribute {name!r}")

    def _penalize_activity(self, out) -> None:
        """Keeps the activity penalty of the output ``out`` (the first output with
        ``return_state``) for `losses`."""
        if self.activity_regularizer is not None:
            self._activity_losses = [ops.divide(self.activity_regularizer(out), float(out.shape[0]))]

    @property
    def losses(self) -> list:
        return [*RNN.losses.fget(self), *self.__dict__.get("_activity_losses", [])]

    def _with_cell_config(self, base: dict) -> dict:
        """``base`` (the layer's and RNN's options), then the cell's arguments, then
        ``activity_regularizer``: the flat config Keras writes for these layers."""
        cell = self.cell.get_config()
        for key in ("name", "trainable", "dtype"):
            cell.pop(key, None)
        return {**base, **cell, "activity_regularizer": regularizers.serialize(self.activity_regularizer)}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)
