"""Data sets: the shipped handwritten digits."""

from kerasette.datasets import digits

__all__ = ["digits"]
