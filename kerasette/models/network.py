"""What every model has besides training: its layers, their weights, naming and summary."""

from __future__ import annotations

import json

import numpy as np

from kerasette.layers.base import unique_name
from kerasette.models.summary import format_summary
from kerasette.models.training import TrainingModel


class BaseModel(TrainingModel):
    """Weights and introspection over ``self.layers``."""

    def __init__(self, name: str | None = None):
        self.name = name or unique_name(self._name_prefix)
        self.compiled = False
        self.built = False
        self.trainable = True
        self._inbound_nodes: list = []  # when the model is used as a layer of another model
        self._node_outputs: list = []

    _name_prefix = "model"

    @property
    def weights(self):
        return _unique(w for layer in self.layers for w in layer.weights)

    @property
    def trainable_weights(self):
        """The weights training updates: none when the model itself is frozen
        (``model.trainable = False``, e.g. a pretrained part of a larger model)."""
        if not self.trainable:
            return []
        return _unique(w for layer in self.layers for w in layer.trainable_weights)

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return self.weights
        return _unique(w for layer in self.layers for w in layer.non_trainable_weights)

    def get_weights(self) -> list[np.ndarray]:
        """Copies of all weights, layer by layer in Keras's order."""
        return [w.data.copy() for w in self.weights]

    def set_weights(self, weights) -> None:
        """Sets all weights from a list like the one `get_weights` returns."""
        weights = list(weights)
        own = self.weights
        if len(weights) != len(own):
            raise ValueError(f"Model '{self.name}': set_weights expected {len(own)} arrays, received {len(weights)}")
        for var, value in zip(own, weights):
            if np.shape(value) != var.shape:
                raise ValueError(f"Model '{self.name}': weight '{var.name}' has shape {var.shape}, "
                                 f"received an array of shape {np.shape(value)}")
        for var, value in zip(own, weights):
            var.assign(np.asarray(value, dtype=var.dtype))

    def count_params(self) -> int:
        return int(sum(w.size for w in self.weights))

    def get_layer(self, name: str | None = None, index: int | None = None):
        """A layer by name or by index."""
        if index is not None:
            if not -len(self.layers) <= index < len(self.layers):
                raise ValueError(f"Model '{self.name}': no layer at index {index}; it has {len(self.layers)} layers")
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"Model '{self.name}': no layer named {name!r}; layers are "
                         f"{[layer.name for layer in self.layers]}")

    def summary(self, line_length: int | None = None, print_fn=print) -> None:
        """Prints the layers, their output shapes and parameter counts, and the totals."""
        print_fn(format_summary(self, line_length, connections=self._summary_connections))

    _summary_connections = False

    def to_json(self, **kwargs) -> str:
        """The architecture as Keras's JSON (``{'class_name', 'config'}``)."""
        from kerasette import __version__

        return json.dumps({"class_name": type(self).__name__, "config": self.get_config(),
                           "keras_version": __version__, "backend": "kerasette"}, **kwargs)

    # -- checkpoints (the format lives in kerasette.saving) ----------------------------------
    def save(self, filepath, overwrite: bool = True, include_optimizer: bool = True) -> None:
        """Saves architecture, weights, training config and optimizer state to HDF5."""
        from kerasette.saving import save_model

        save_model(self, filepath, overwrite=overwrite, include_optimizer=include_optimizer)

    def save_weights(self, filepath, overwrite: bool = True) -> None:
        """Saves the weights only, in Keras's legacy HDF5 layout."""
        from kerasette.saving import save_weights

        save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath, by_name: bool = False, skip_mismatch: bool = False,
                     flip_kernels: bool | None = None) -> None:
        """Loads weights saved by `save_weights`, `save` or Keras (legacy or ``.weights.h5``).

        ``flip_kernels`` forces (True) or skips (False) flipping Theano-trained convolution
        kernels; None decides from the file, with a warning when it flips.
        """
        from kerasette.saving import load_weights

        load_weights(self, filepath, by_name=by_name, skip_mismatch=skip_mismatch, flip_kernels=flip_kernels)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"


def _unique(items) -> list:
    seen, out = set(), []
    for item in items:
        if id(item) not in seen:
            seen.add(id(item))
            out.append(item)
    return out
