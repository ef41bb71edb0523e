"""Putting a checkpoint's weights into a model: by order (Keras's default) or by layer name.

Every value is checked (count, shape, dtype) before any weight is overwritten, so a load that
fails leaves the model as it was. Convolution kernels in Theano's order ``(filters, in, rows,
cols)`` are transposed to ``(rows, cols, in, filters)``; kernels trained with Theano's true
convolution are also flipped in both spatial axes, with a warning (``flip_kernels`` forces or
skips the flip).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable

import numpy as np

from kerasette.saving.errors import CheckpointError
from kerasette.saving.file_content import CheckpointContent, LayerWeights


@dataclasses.dataclass
class LoadOptions:
    """How to match and convert weights.

    Attributes:
        by_name: match layers by name instead of by order.
        skip_mismatch: skip (with a warning) weights whose shape or count does not match.
        flip_kernels: None to decide from the file (Theano backend, or a Keras 1 file whose
            kernels are in Theano order) and warn; True to always flip convolution kernels in
            both spatial axes; False never to flip.
        same_model: the model was built from the file's own config (``load_model``): when the
            file's layers with weights and the model's have the same names, they are matched by
            name, which stays right whichever order an older writer listed them in.
    """

    by_name: bool = False
    skip_mismatch: bool = False
    flip_kernels: bool | None = None
    same_model: bool = False


Converter = Callable[[np.ndarray], np.ndarray]


class _Planner:
    """Checks and converts values; collects (variable, value) pairs and the flip reasons.

    It is also the ``origin`` a layer's ``stored_weight_converter`` reads: ``is_keras1``, and
    ``flip_for(layer, theano_order)`` to decide (and record) a Theano kernel flip.
    """

    def __init__(self, content: CheckpointContent, options: LoadOptions):
        self.content, self.options = content, options
        self.pairs: list[tuple] = []
        self.converters: dict[int, Converter] = {}
        self.flipped: list[str] = []
        self.skipped: list[str] = []

    @property
    def is_keras1(self) -> bool:
        return self.content.is_keras1

    def flip_for(self, layer, theano_order: bool) -> bool:
        """Whether ``layer``'s kernels were trained with Theano's true convolution (the file says
        backend 'theano', or a Keras 1 file stores them in Theano's order), unless
        ``flip_kernels`` decides."""
        flip = self.options.flip_kernels
        if flip is None:
            flip = self.content.backend == "theano" or (
                self.content.is_keras1 and self.content.backend is None and theano_order)
            if flip:
                self.flipped.append(layer.name)
        return bool(flip)

    def _mismatch(self, message: str) -> None:
        if self.options.skip_mismatch:
            self.skipped.append(message)
            return
        raise CheckpointError(message, self.content.path)

    def plan_layer(self, layer, stored: LayerWeights) -> None:
        variables = list(layer.weights)
        label = f"layer '{layer.name}' ({type(layer).__name__}; '{stored.name}' in the file)"
        regroup = getattr(layer, "regroup_stored_weights", None)  # e.g. Keras 1's per-gate LSTM arrays
        if regroup is not None and len(stored.weights) != len(variables) and all(
                value.dtype.kind == "f" for _, value in stored.weights):
            arrays = regroup([value for _, value in stored.weights])
            names = [name for name, _ in stored.weights]
            stored = dataclasses.replace(stored, weights=list(zip(names[:len(arrays)], arrays, strict=False)))
        if len(variables) != len(stored.weights):
            self._mismatch(f"{label}: the layer has {len(variables)} weights, the file holds "
                           f"{len(stored.weights)} ({[n for n, _ in stored.weights]})")
            return
        for var, (name, value) in zip(variables, stored.weights, strict=True):
            integer_variable = np.dtype(var.dtype).kind in "iu"
            if value.dtype.kind != "f" and not (integer_variable and value.dtype.kind in "iu"):
                expected = "integers" if integer_variable else "floating point numbers"
                raise CheckpointError(f"{label}: weight '{name}' has dtype {value.dtype}; expected {expected}",
                                      self.content.path)
            convert = layer.stored_weight_converter(var, value.shape, self)
            converted = convert(value) if convert is not None else value
            if converted.shape != var.shape:
                self._mismatch(f"{label}: weight '{name}' has shape {value.shape} in the file; the model's "
                               f"'{var.name}' has shape {var.shape}")
                continue
            if convert is not None:
                self.converters[id(var)] = convert
            self.pairs.append((var, converted))

    def commit(self) -> dict[int, Converter]:
        if self.flipped:
            reason = ("the file says backend 'theano'" if self.content.backend == "theano" else
                      "it is a Keras 1 file with kernels in Theano order (filters, in, rows, cols)")
            warnings.warn(
                f"{self.content.path}: flipping the convolution kernels of {', '.join(self.flipped)} in both "
                f"spatial axes because {reason}: Theano's convolution flips the kernel, so the flipped "
                "kernels give the same outputs here. Pass flip_kernels=False to load them as stored, or "
                "flip_kernels=True to force the flip.", stacklevel=4)
        for message in self.skipped:
            warnings.warn(f"{self.content.path}: skipping mismatched weights: {message}", stacklevel=4)
        for var, value in self.pairs:
            var.assign(np.asarray(value, dtype=var.dtype))
        return self.converters


def _check_built(model, path) -> None:
    if getattr(model, "built", True) is False:
        raise CheckpointError(f"model '{getattr(model, 'name', '?')}' is not built, so it has no weights to "
                              "load into yet; give its first layer input_shape=... or call model.build(shape)",
                              path)


def _describe(layers) -> str:
    names = [getattr(layer, "name", "?") for layer in layers]
    return ", ".join(names[:12]) + (f", ... ({len(names)} in all)" if len(names) > 12 else "")


def assign_weights(model, content: CheckpointContent, options: LoadOptions) -> dict[int, Converter]:
    """Loads ``content``'s weights into ``model``; returns per-variable converters for optimizer slots.

    Raises:
        CheckpointError: counts or shapes do not match (unless ``skip_mismatch``), non-float data.
    """
    _check_built(model, content.path)
    planner = _Planner(content, options)
    model_layers = [layer for layer in model.layers if layer.weights]
    if options.by_name:
        stored = {layer.name: layer for layer in content.layers}
        for layer in model_layers:
            if layer.name in stored:
                planner.plan_layer(layer, stored[layer.name])
        return planner.commit()
    file_layers = [layer for layer in content.layers if layer.weights]
    if options.same_model and sorted(layer.name for layer in model_layers) == sorted(
            layer.name for layer in file_layers):
        stored = {layer.name: layer for layer in file_layers}
        file_layers = [stored[layer.name] for layer in model_layers]
    if len(file_layers) != len(model_layers):
        raise CheckpointError(
            f"the file holds weights for {len(file_layers)} layers ({_describe(file_layers)}), but model "
            f"'{getattr(model, 'name', '?')}' has {len(model_layers)} layers with weights "
            f"({_describe(model_layers)}); load the file into the model it was saved from, or use "
            "by_name=True", content.path)
    for layer, stored_layer in zip(model_layers, file_layers, strict=True):
        planner.plan_layer(layer, stored_layer)
    return planner.commit()
