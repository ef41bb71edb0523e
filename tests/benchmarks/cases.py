"""The benchmark cases shared by the kerasette and PyTorch scripts (no imports beyond stdlib)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    """One benchmark configuration: the seed VGG-like convnet (``arch='vgg'``) or Keras's CIFAR-10
    ResNet-20 v1 (``arch='resnet20'``: 3x3 convolutions, BatchNormalization, ReLU, Add,
    GlobalAveragePooling2D)."""

    height: int
    width: int
    channels: int
    batch: int
    channels_last: bool
    train: bool
    default_steps: int
    functional: bool = False  # kerasette builds the model with the functional API (PyTorch: the same model)
    arch: str = "vgg"


CASES: dict[str, Case] = {
    "vgg100_cl": Case(100, 100, 3, 32, channels_last=True, train=True, default_steps=20),
    "vgg100_cf": Case(100, 100, 3, 32, channels_last=False, train=True, default_steps=20),
    "cifar32": Case(32, 32, 3, 32, channels_last=True, train=True, default_steps=100),
    "mnist28": Case(28, 28, 1, 128, channels_last=True, train=True, default_steps=100),
    "predict100": Case(100, 100, 3, 32, channels_last=True, train=False, default_steps=30),
    "vgg100_cl_fn": Case(100, 100, 3, 32, channels_last=True, train=True, default_steps=20, functional=True),
    "vgg100_cf_fn": Case(100, 100, 3, 32, channels_last=False, train=True, default_steps=20, functional=True),
    "resnet20": Case(32, 32, 3, 32, channels_last=True, train=True, default_steps=30, functional=True,
                     arch="resnet20"),
    "resnet20_predict": Case(32, 32, 3, 32, channels_last=True, train=False, default_steps=50, functional=True,
                             arch="resnet20"),
}
#: ResNet-20 v1: three stages of three residual blocks, 16, 32 and 64 filters
RESNET_STAGES = (16, 32, 64)
RESNET_BLOCKS = 3
#: BatchNormalization as Keras's defaults (PyTorch's momentum is 1 - Keras's)
BN_MOMENTUM, BN_EPSILON = 0.99, 1e-3
NUM_CLASSES = 10
