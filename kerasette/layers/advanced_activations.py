"""Keras 1's module path of the activation layers (``keras.layers.advanced_activations``)."""

from kerasette.layers.activation import ELU, LeakyReLU, PReLU, ReLU, Softmax, ThresholdedReLU

__all__ = ["ELU", "LeakyReLU", "PReLU", "ReLU", "Softmax", "ThresholdedReLU"]
