"""Embedding (Keras 1/2 path ``keras.layers.embeddings``): integer indices to dense vectors."""

from __future__ import annotations

import numpy as np

from kerasette import constraints, initializers, regularizers
from kerasette.backend import ops
from kerasette.backend import random as krandom
from kerasette.backend.ops import recurrent as rops
from kerasette.backend.tensor import Tensor
from kerasette.layers.base import Layer
from kerasette.layers.legacy import keras_layer
from kerasette.utils.validation import check_positive_int, check_rate


@keras_layer(keras1={"init": "embeddings_initializer", "W_regularizer": "embeddings_regularizer",
                     "W_constraint": "embeddings_constraint"})
class Embedding(Layer):
    """Maps each integer index in ``[0, input_dim)`` to a row of a trained table (input_dim,
    output_dim): inputs of shape (batch, ...) give outputs (batch, ..., output_dim).

    With ``mask_zero`` the index 0 is padding: the layer's mask (``compute_mask``) is False where
    the input is 0, and recurrent layers after it skip those steps (index 0 then cannot be a
    word, so ``input_dim`` is the vocabulary size + 1).

    Args:
        input_dim: the number of rows (largest index + 1).
        output_dim: the size of each vector.
        embeddings_initializer: default ``'uniform'`` (-0.05 to 0.05) (Keras 1: ``init``).
        embeddings_regularizer, activity_regularizer, embeddings_constraint: as in Keras (Keras 1:
            ``W_regularizer``, ``W_constraint``).
        mask_zero: whether 0 is a padding index (see above).
        input_length: the length of the sequences (Keras 1/2; gives the input shape when no
            other shape argument does).
        dropout: Keras 1: the fraction of the table's rows (words) dropped in training, the
            others scaled by 1 / (1 - dropout).

    Example:
        >>> Embedding(1000, 64, input_length=10).compute_output_shape((None, 10))
        (None, 10, 64)
    """

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", embeddings_regularizer=None,
                 activity_regularizer=None, embeddings_constraint=None, mask_zero=False, input_length=None,
                 dropout=0.0, sparse=False, lora_rank=None, lora_alpha=None, quantization_config=None, **kwargs):
        if input_length is not None and kwargs.get("input_shape") is None and kwargs.get("batch_input_shape") is None:
            kwargs["input_shape"] = tuple(input_length) if isinstance(input_length, (list, tuple)) else (input_length,)
        super().__init__(**kwargs)
        owner = f"Embedding '{self.name}'"
        self.input_dim = check_positive_int(input_dim, "input_dim", owner)
        self.output_dim = check_positive_int(output_dim, "output_dim", owner)
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.embeddings_constraint = constraints.get(embeddings_constraint)
        self.mask_zero = bool(mask_zero)
        self.input_length = input_length
        self.dropout = check_rate(dropout, "dropout", owner)
        for name, value in (("lora_rank", lora_rank), ("quantization_config", quantization_config)):
            if value is not None:
                raise ValueError(f"{owner}: `{name}` is not supported; received {name}={value!r}")
        self._activity_losses: list = []

    def build(self, input_shape):
        self.embeddings = self.add_weight(shape=(self.input_dim, self.output_dim), name="embeddings",
                                          initializer=self.embeddings_initializer,
                                          regularizer=self.embeddings_regularizer,
                                          constraint=self.embeddings_constraint)
        self.built = True

    def call(self, inputs, training=False):
        table = self.embeddings
        if training and self.dropout > 0:
            keep = krandom.generator().random((self.input_dim, 1)) >= self.dropout
            table = ops.multiply(table, (keep / (1.0 - self.dropout)).astype(table.dtype))
        indices = np.asarray(inputs.data if isinstance(inputs, Tensor) else inputs)
        if indices.dtype.kind == "f":
            rounded = np.rint(indices)
            indices = rounded.astype(np.int64)
        try:
            out = rops.embedding(indices, table)
        except ValueError as exc:
            raise ValueError(f"Embedding '{self.name}': {exc} (input_dim={self.input_dim})") from None
        if self.activity_regularizer is not None:
            self._activity_losses = [ops.divide(self.activity_regularizer(out), float(max(out.shape[0], 1)))]
        return out

    @property
    def losses(self) -> list:
        return [*Layer.losses.fget(self), *self._activity_losses]

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        return np.asarray(inputs.data if isinstance(inputs, Tensor) else inputs) != 0

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def check_input(self, shape) -> None:
        return None  # any shape of indices

    def get_config(self) -> dict:
        config = {**super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim,
                  "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
                  "embeddings_regularizer": regularizers.serialize(self.embeddings_regularizer),
                  "activity_regularizer": regularizers.serialize(self.activity_regularizer),
                  "embeddings_constraint": constraints.serialize(self.embeddings_constraint),
                  "mask_zero": self.mask_zero, "quantization_config": None}
        if self.dropout:
            config["dropout"] = self.dropout
        return config
