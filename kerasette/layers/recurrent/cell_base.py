"""What the built-in cells share (the dense cells of `kerasette.layers.recurrent.cells` and the
convolutional LSTM's cell): Keras 1's argument names, the activations the kernels compute, the
dropout masks drawn once per sequence (`DropoutRNNCell`), and the three weights ``kernel``,
``recurrent_kernel``, ``bias`` with their initializers, regularizers and constraints as
arguments, in ``build`` and in the config (`CellWeights`), the LSTM's forget-gate bias
(`_ForgetBiasInit`) included.
"""

from __future__ import annotations

import numpy as np

from kerasette import activations, constraints, initializers, regularizers
from kerasette.backend import random as krandom
from kerasette.utils.validation import check_rate

#: Keras 1 argument names shared by the recurrent cells and layers
RECURRENT_KERAS1 = {
    "output_dim": "units",
    "init": "kernel_initializer",
    "inner_init": "recurrent_initializer",
    "inner_activation": "recurrent_activation",
    "W_regularizer": "kernel_regularizer",
    "U_regularizer": "recurrent_regularizer",
    "b_regularizer": "bias_regularizer",
    "W_constraint": "kernel_constraint",
    "U_constraint": "recurrent_constraint",
    "b_constraint": "bias_constraint",
    "dropout_W": "dropout",
    "dropout_U": "recurrent_dropout",
    "consume_less": "implementation",
}

#: activations the fused kernels compute, by function
_FUSABLE = {activations.linear: "linear", activations.tanh: "tanh", activations.sigmoid: "sigmoid",
            activations.hard_sigmoid: "hard_sigmoid", activations.relu: "relu"}


def fusable_name(activation) -> str | None:
    """The kernels' name of ``activation``, or None when they cannot compute it."""
    try:
        return _FUSABLE.get(activation)
    except TypeError:  # unhashable callable
        return None


def _implementation(value) -> int:
    """Keras 1's ``consume_less`` ('cpu', 'mem', 'gpu') or Keras 2's ``implementation`` (0, 1, 2)."""
    if isinstance(value, str):
        return {"cpu": 0, "mem": 1, "gpu": 2}.get(value, 2)
    return int(value)


def forget_bias_flag(value) -> bool:
    """``unit_forget_bias`` from Keras 2/3's boolean or Keras 1's ``forget_bias_init`` ('one'
    means ones; any other initializer name, no)."""
    if isinstance(value, str):
        return value == "one"
    return bool(value)


class _ForgetBiasInit(initializers.Initializer):
    """The LSTM bias with ``unit_forget_bias``: the bias initializer's values, the forget gate's
    quarter set to ones."""

    def __init__(self, base, units):
        self.base, self.units = base, units

    def __call__(self, shape, dtype="float32"):
        u = self.units
        return np.concatenate([self.base((u,), dtype), np.ones((u,), dtype), self.base((2 * u,), dtype)])


def lstm_bias_initializer(base, units: int, unit_forget_bias: bool):
    """The initializer of an LSTM's bias (gates i, f, c, o of ``units`` each): ``base``, with the
    forget gate's quarter at ones when ``unit_forget_bias``."""
    return _ForgetBiasInit(base, units) if unit_forget_bias else base


class DropoutRNNCell:
    """Input and recurrent dropout masks drawn once per sequence (the same on every step)."""

    def _init_dropout(self, dropout, recurrent_dropout, seed) -> None:
        owner = f"{type(self).__name__} '{self.name}'"
        self.dropout = min(1.0, max(0.0, check_rate(dropout, "dropout", owner)))
        self.recurrent_dropout = check_rate(recurrent_dropout, "recurrent_dropout", owner)
        self.seed = seed
        self._rng = np.random.default_rng(seed) if seed is not None else None
        self._masks: dict = {}

    def _dropout_config(self) -> dict:
        return {"dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout, "seed": self.seed}

    def _generator(self):
        return self._rng or krandom.generator()

    def _draw(self, rate: float, shape, dtype) -> np.ndarray:
        keep = self._generator().random(shape) >= rate
        return (keep / (1.0 - rate)).astype(dtype)

    def dropout_masks(self, batch: int, features: int, dtype, training) -> tuple:
        """(input mask (batch, features) or None, recurrent mask (batch, units) or None) for one
        sequence in ``training``; the per-step ``call`` reuses them until `reset_dropout_masks`."""
        if not training:
            return None, None
        dp = self._draw(self.dropout, (batch, features), dtype) if 0 < self.dropout < 1 else None
        rdp = self._draw(self.recurrent_dropout, (batch, self.units), dtype) if 0 < self.recurrent_dropout < 1 \
            else None
        self._masks = {"input": dp, "recurrent": rdp}
        return dp, rdp

    def reset_dropout_masks(self) -> None:
        self._masks = {}

    def _step_masks(self, inputs, training):
        if not training:
            return None, None
        if not self._masks:
            self.dropout_masks(inputs.shape[0], inputs.shape[-1], inputs.dtype, training)
        return self._masks.get("input"), self._masks.get("recurrent")


class CellWeights:
    """The three weights of a built-in cell, as Keras names them: ``kernel`` (the input
    transform), ``recurrent_kernel`` (the state's) and ``bias`` (with ``use_bias``), each with
    its initializer, regularizer and constraint (arguments ``kernel_initializer``,
    ``recurrent_regularizer``, ``bias_constraint``, ...)."""

    def _init_weight_arguments(self, use_bias, kernel_initializer, recurrent_initializer, bias_initializer,
                               kernel_regularizer, recurrent_regularizer, bias_regularizer, kernel_constraint,
                               recurrent_constraint, bias_constraint) -> None:
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)

    def _add_cell_weights(self, kernel_shape: tuple, recurrent_shape: tuple, bias_shape: tuple,
                          bias_initializer) -> None:
        """Makes ``kernel``, ``recurrent_kernel`` and ``bias`` (None without ``use_bias``), in
        that order (Keras's)."""
        self.kernel = self.add_weight(shape=kernel_shape, name="kernel", initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        self.recurrent_kernel = self.add_weight(
            shape=recurrent_shape, name="recurrent_kernel", initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer, constraint=self.recurrent_constraint)
        self.bias = (self.add_weight(shape=bias_shape, name="bias", initializer=bias_initializer,
                                     regularizer=self.bias_regularizer, constraint=self.bias_constraint)
                     if self.use_bias else None)

    def _initializers_config(self) -> dict:
        return {"kernel_initializer": initializers.serialize(self.kernel_initializer),
                "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer)}

    def _penalties_config(self) -> dict:
        """The regularizers and constraints of the three weights, in Keras's order."""
        return {"kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer),
                "kernel_constraint": constraints.serialize(self.kernel_constraint),
                "recurrent_constraint": constraints.serialize(self.recurrent_constraint),
                "bias_constraint": constraints.serialize(self.bias_constraint)}
