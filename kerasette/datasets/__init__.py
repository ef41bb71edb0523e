"""Data sets: the shipped handwritten digits, and Keras's downloadable data sets (read from
Keras's cache, ``$KERAS_HOME/datasets``, downloaded there when missing)."""

from kerasette.datasets import (
    boston_housing,
    california_housing,
                                cifar10,
                                cifar100,
    digits,
    fashion_mnist,
    imdb,
    mnist,
    reuters,
)

__all__ = ["boston_housing", "california_housing", "cifar10", "cifar100", "digits", "fashion_mnist", "imdb", "mnist",
           "reuters"]
