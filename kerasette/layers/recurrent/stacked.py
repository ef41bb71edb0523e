"""`StackedRNNCells`: several cells run one after the other at each step, as one cell (what
`RNN` makes of a list of cells)."""

from __future__ import annotations

from kerasette.layers.base import Layer
from kerasette.layers.legacy import keras_layer
from kerasette.layers.recurrent.nesting import (
    call_cell,
    cell_output_size,
    cell_state_sizes,
    deserialize_nested,
    serialize_nested,
    takes_constants,
)


@keras_layer()
class StackedRNNCells(Layer):
    """Cells applied one after the other at each step, as one cell: the output of each is the
    input of the next; the states are every cell's states in order. An `RNN`'s ``constants``
    reach every cell whose ``call`` takes them (as in Keras 2), and those cells are built with
    ``[step_shape, *constant_shapes]``.

    Args:
        cells: a list of cells (objects with ``call(inputs, states)`` and ``state_size``).
    """

    def __init__(self, cells, **kwargs):
        super().__init__(**kwargs)
        for cell in cells:
            if not hasattr(cell, "call") or not hasattr(cell, "state_size"):
                raise ValueError(f"StackedRNNCells '{self.name}': every cell needs `call` and `state_size`; "
                                 f"received {cell!r}")
        self.cells = list(cells)

    @property
    def state_size(self):
        return [size for cell in self.cells for size in cell_state_sizes(cell)]

    @property
    def output_size(self):
        return cell_output_size(self.cells[-1])

    def build(self, input_shape):
        constants = []
        if isinstance(input_shape, list):  # [step shape, *constant shapes] (an RNN given constants)
            input_shape, constants = input_shape[0], [tuple(c) for c in input_shape[1:]]
        shape = tuple(input_shape)
        for cell in self.cells:
            if isinstance(cell, Layer) and not cell.built:
                cell.build([shape, *constants] if constants and takes_constants(cell) else shape)
                cell.built = True
            shape = shape[:-1] + (cell_output_size(cell),)
        self.built = True

    def _counts(self) -> list[int]:
        return [len(cell_state_sizes(c)) for c in self.cells]

    def call(self, inputs, states, training=False, constants=None):
        new_states, at = [], 0
        for cell, n in zip(self.cells, self._counts()):
            own = list(states[at:at + n])
            at += n
            given = constants if constants is not None and takes_constants(cell) else None
            inputs, own = call_cell(cell, inputs, own, training, given)
            new_states.extend(own if isinstance(own, (list, tuple)) else [own])
        return inputs, new_states

    def native_children(self) -> list:
        """(path, cell) of each cell in Keras 3's native weights file: ``cells/<class in snake
        case>``, repeats numbered ``_1``, ``_2``, ..."""
        from kerasette.layers.base import snake_case  # deferred: only files need it

        counts: dict[str, int] = {}
        out = []
        for cell in self.cells:
            base = snake_case(type(cell).__name__)
            n = counts.get(base, 0)
            counts[base] = n + 1
            out.append((f"cells/{base}" + (f"_{n}" if n else ""), cell))
        return out

    def reset_dropout_masks(self) -> None:
        for cell in self.cells:
            if hasattr(cell, "reset_dropout_masks"):
                cell.reset_dropout_masks()

    def get_config(self) -> dict:
        return {**super().get_config(), "cells": [serialize_nested(c) for c in self.cells]}

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        config["cells"] = [deserialize_nested(c) if isinstance(c, dict) else c for c in config.get("cells", [])]
        return cls(**config)
