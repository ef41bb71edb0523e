"""The benchmark cases shared by the kerasette and PyTorch scripts (no imports beyond stdlib)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    """One benchmark configuration of the seed VGG-like convnet."""

    height: int
    width: int
    channels: int
    batch: int
    channels_last: bool
    train: bool
    default_steps: int
    functional: bool = False  # kerasette builds the model with the functional API (PyTorch: the same model)


CASES: dict[str, Case] = {
    "vgg100_cl": Case(100, 100, 3, 32, channels_last=True, train=True, default_steps=20),
    "vgg100_cf": Case(100, 100, 3, 32, channels_last=False, train=True, default_steps=20),
    "cifar32": Case(32, 32, 3, 32, channels_last=True, train=True, default_steps=100),
    "mnist28": Case(28, 28, 1, 128, channels_last=True, train=True, default_steps=100),
    "predict100": Case(100, 100, 3, 32, channels_last=True, train=False, default_steps=30),
    "vgg100_cl_fn": Case(100, 100, 3, 32, channels_last=True, train=True, default_steps=20, functional=True),
    "vgg100_cf_fn": Case(100, 100, 3, 32, channels_last=False, train=True, default_steps=20, functional=True),
}
NUM_CLASSES = 10
