"""What the ImageNet applications share: input preprocessing, decoding predictions, and the
checks and steps every builder makes (input shape, input tensor, weights argument, weight files).

Keras's semantics, kept here:

- ``preprocess_input(x, mode=...)``: ``'caffe'`` flips RGB to BGR and subtracts the ImageNet mean
  pixel (103.939, 116.779, 123.68 in BGR order), without scaling (VGG, ResNet); ``'tf'`` maps
  [0, 255] to [-1, 1] (MobileNets); ``'torch'`` scales to [0, 1] and normalises each channel by
  the ImageNet mean and standard deviation. A floating point numpy array is changed in place
  (and returned); an integer array is converted to ``floatx()`` first. A symbolic batch of
  images (from ``Input``) gets a frozen 1x1 convolution doing the same in the graph.
- ``decode_predictions(preds, top)``: for each row of a ``(samples, 1000)`` array, the ``top``
  classes as ``(wordnet_id, name, score)``, best first, read from Keras's
  ``imagenet_class_index.json`` (downloaded once into ``~/.keras/models``).
"""

from __future__ import annotations

import json
import os
import warnings

import numpy as np

import kerasette.backend as K
from kerasette import activations
from kerasette.backend import symbolic
from kerasette.layers import Conv2D, Input
from kerasette.utils import data_utils

CLASS_INDEX_PATH = "https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json"
CLASS_INDEX_HASH = "c2c37ea517e94d9795004a39431a14cb"  # md5, as Keras checks it
CLASS_INDEX = None  # the parsed class index, read once

_MEANS = {"caffe": (103.939, 116.779, 123.68), "torch": (0.485, 0.456, 0.406)}
_STDS = {"torch": (0.229, 0.224, 0.225)}


def preprocess_input(x, data_format=None, mode="caffe"):
    """Prepares a batch of RGB images (values in [0, 255]) for an ImageNet model.

    Args:
        x: a numpy array (3D: one image, or 4D: a batch) with 3 colour channels, or a
            symbolic tensor. A floating point numpy array is overwritten with the result.
        data_format: ``'channels_last'`` or ``'channels_first'``; None takes
            ``backend.image_data_format()``.
        mode: ``'caffe'``, ``'tf'`` or ``'torch'`` (see the module's docstring).

    Returns:
        The preprocessed array (``floatx()`` for integer input), or a symbolic tensor.

    Raises:
        ValueError: an unknown ``mode`` or ``data_format``.
    """
    if mode not in ("caffe", "tf", "torch"):
        raise ValueError(f"preprocess_input: mode must be 'caffe', 'tf' or 'torch'; received mode={mode!r}")
    if data_format is None:
        data_format = K.image_data_format()
    elif data_format not in ("channels_first", "channels_last"):
        raise ValueError("preprocess_input: data_format must be 'channels_first' or 'channels_last'; "
                         f"received data_format={data_format!r}")
    if isinstance(x, symbolic.KerasTensor):
        return _preprocess_symbolic(x, data_format, mode)
    if not isinstance(x, np.ndarray):
        x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(K.floatx())
    if mode == "tf":
        x /= 127.5
        x -= 1.0
        return x
    axis = _channel_axis(x.ndim, data_format)
    if mode == "torch":
        x /= 255.0
    else:  # caffe: RGB -> BGR
        flip = [slice(None)] * x.ndim
        flip[axis] = slice(None, None, -1)
        x = x[tuple(flip)]
    shape = [1] * x.ndim
    shape[axis] = 3
    x -= np.asarray(_MEANS[mode], dtype=x.dtype).reshape(shape)
    if mode in _STDS:
        x /= np.asarray(_STDS[mode], dtype=x.dtype).reshape(shape)
    return x


def _channel_axis(ndim: int, data_format: str) -> int:
    if data_format == "channels_last":
        return ndim - 1
    return 0 if ndim == 3 else 1


def _preprocess_symbolic(x, data_format, mode):
    """The preprocessing as a layer of the graph: a frozen 1x1 convolution whose kernel reorders
    or scales the channels and whose bias shifts them (exact for the channel flip)."""
    if len(x.shape) != 4:
        raise ValueError(f"preprocess_input: a symbolic input must be a batch of images (4D); received shape {x.shape}")
    kernel = np.zeros((1, 1, 3, 3), dtype=np.float32)
    if mode == "tf":
        kernel[0, 0] = np.eye(3) / 127.5
        bias = np.full(3, -1.0)
    elif mode == "torch":
        std, mean = np.asarray(_STDS[mode]), np.asarray(_MEANS[mode])
        kernel[0, 0] = np.diag(1.0 / (255.0 * std))
        bias = -mean / std
    else:
        kernel[0, 0] = np.eye(3)[::-1]  # output channel c reads input channel 2 - c: RGB -> BGR
        bias = -np.asarray(_MEANS[mode])
    layer = Conv2D(3, 1, data_format=data_format, trainable=False)
    out = layer(x)
    layer.set_weights([kernel, bias.astype(np.float32)])
    return out


def decode_predictions(preds, top=5):
    """The ``top`` ImageNet classes of each prediction, best first.

    Args:
        preds: an array of shape ``(samples, 1000)`` (a model's softmax output).
        top: how many classes to return for each sample.

    Returns:
        One list per sample of ``(class_id, class_name, score)`` tuples.

    Raises:
        ValueError: ``preds`` is not of shape ``(samples, 1000)``.
        OSError: the class index is not cached and cannot be downloaded; the message names the
            URL and where to put the file by hand.
    """
    preds = np.asarray(preds)
    if preds.ndim != 2 or preds.shape[1] != 1000:
        raise ValueError("decode_predictions: expects a batch of predictions, an array of shape "
                         f"(samples, 1000); received an array of shape {preds.shape}")
    index = _class_index()
    results = []
    for row in preds:
        best = np.argsort(row, kind="stable")[::-1][:top]
        results.append([(*index[str(i)], row[i]) for i in best])
    return results


def _class_index() -> dict:
    global CLASS_INDEX
    if CLASS_INDEX is None:
        try:
            path = data_utils.get_file("imagenet_class_index.json", CLASS_INDEX_PATH, cache_subdir="models",
                                       file_hash=CLASS_INDEX_HASH)
        except data_utils.DownloadError as e:
            raise data_utils.DownloadError(
                "decode_predictions needs ImageNet's class names (imagenet_class_index.json), which are "
                f"not in the cache and could not be downloaded: {e}") from e
        with open(path, encoding="utf-8") as f:
            CLASS_INDEX = json.load(f)
    return CLASS_INDEX


# --- what every application builder checks and does -------------------------------------------

def check_weights_argument(weights, include_top: bool, classes: int) -> None:
    """Keras's checks of ``weights`` (None, 'imagenet' or an existing file) and ``classes``."""
    if not (weights in (None, "imagenet") or (isinstance(weights, (str, os.PathLike)) and os.path.exists(weights))):
        raise ValueError("The `weights` argument should be either None (random initialization), 'imagenet' "
                         f"(pre-training on ImageNet), or the path to the weights file to be loaded; received "
                         f"weights={weights!r}")
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError("If using `weights='imagenet'` with `include_top=True`, `classes` should be 1000; "
                         f"received classes={classes}")


def obtain_input_shape(input_shape, default_size: int, min_size: int, data_format: str, require_flatten: bool,
                       weights=None) -> tuple:
    """The model's input shape (without the batch), from the user's ``input_shape`` or the default.

    With a classifier top (``require_flatten``) the shape must be static; with ImageNet weights
    and the top, it must be the default ``(default_size, default_size, 3)``; images must have 3
    dimensions, at least ``min_size`` pixels on each side, and 3 channels with ImageNet weights
    (1 or 3 channels otherwise, else a warning).
    """
    channels_first = data_format == "channels_first"
    if weights != "imagenet" and input_shape and len(input_shape) == 3:
        channels = input_shape[0] if channels_first else input_shape[-1]
        if channels not in (1, 3):
            warnings.warn(f"This model usually expects 1 or 3 input channels; received input_shape={input_shape} "
                          f"with {channels} channels.", stacklevel=3)
        default_shape = ((channels, default_size, default_size) if channels_first
                         else (default_size, default_size, channels))
    else:
        default_shape = (3, default_size, default_size) if channels_first else (default_size, default_size, 3)
    if weights == "imagenet" and require_flatten:
        if input_shape is not None and tuple(input_shape) != default_shape:
            raise ValueError("When setting `include_top=True` and loading 'imagenet' weights, `input_shape` "
                             f"should be {default_shape}; received input_shape={tuple(input_shape)}")
        return default_shape
    if input_shape:
        input_shape = tuple(input_shape)
        if len(input_shape) != 3:
            raise ValueError(f"`input_shape` must be a tuple of three integers; received input_shape={input_shape}")
        channels = input_shape[0] if channels_first else input_shape[-1]
        if channels != 3 and weights == "imagenet":
            raise ValueError(f"The input must have 3 channels with 'imagenet' weights; received "
                             f"input_shape={input_shape}")
        rows, cols = input_shape[1:] if channels_first else input_shape[:2]
        if (rows is not None and rows < min_size) or (cols is not None and cols < min_size):
            raise ValueError(f"Input size must be at least {min_size}x{min_size}; received input_shape={input_shape}")
    elif require_flatten:
        input_shape = default_shape
    else:
        input_shape = (3, None, None) if channels_first else (None, None, 3)
    if require_flatten and None in input_shape:
        raise ValueError("If `include_top` is True, you should specify a static `input_shape`; received "
                         f"input_shape={input_shape}")
    return input_shape


def image_input(input_tensor, input_shape: tuple):
    """The tensor the network starts from: ``input_tensor`` (a symbolic tensor, e.g. the output
    of other layers) or a new ``Input`` of ``input_shape``."""
    if input_tensor is None:
        return Input(shape=input_shape)
    if not K.is_keras_tensor(input_tensor):
        raise ValueError("`input_tensor` must be a symbolic tensor (from Input or a layer call); received "
                         f"{type(input_tensor).__name__}")
    return input_tensor


def model_inputs(input_tensor, img_input):
    """The model's inputs: the ``Input`` tensors ``input_tensor`` comes from, or ``img_input``."""
    if input_tensor is None:
        return img_input
    sources = [t for t in symbolic.topological_nodes([input_tensor]) if t.node is None]
    return sources[0] if len(sources) == 1 else sources


def correct_pad(shape: tuple, kernel_size) -> tuple:
    """Zero padding ((top, bottom), (left, right)) that makes a strided 'valid' convolution of
    ``kernel_size`` line up as TensorFlow's 'same' does, for an input of spatial ``shape``
    (rows, cols; None for unknown)."""
    if isinstance(kernel_size, int):
        kernel_size = (kernel_size, kernel_size)
    adjust = (1, 1) if shape[0] is None else (1 - shape[0] % 2, 1 - shape[1] % 2)
    correct = (kernel_size[0] // 2, kernel_size[1] // 2)
    return ((correct[0] - adjust[0], correct[0]), (correct[1] - adjust[1], correct[1]))


def spatial_shape(x) -> tuple:
    """(rows, cols) of a symbolic 4D image tensor in the current data format."""
    return tuple(x.shape[2:4]) if K.image_data_format() == "channels_first" else tuple(x.shape[1:3])


def validate_activation(classifier_activation, weights) -> None:
    """With pretrained weights the top's activation may only be None or softmax."""
    if weights is None:
        return
    activation = activations.get(classifier_activation)
    if activation not in (activations.get("softmax"), activations.get(None)):
        raise ValueError("Only None and 'softmax' are allowed for the `classifier_activation` argument when "
                         "using pretrained weights with `include_top=True`; received "
                         f"classifier_activation={classifier_activation!r}")


def load_weights(model, weights, file_name: str | None = None, origin: str | None = None,
                 file_hash: str | None = None) -> None:
    """Loads ``weights`` into ``model``: a local file, or for ``'imagenet'`` Keras's published
    file ``file_name`` (downloaded once from ``origin`` into ``~/.keras/models``, checked
    against ``file_hash`` when Keras publishes one). Nothing happens for None."""
    if weights is None:
        return
    if weights == "imagenet":
        weights = data_utils.get_file(file_name, origin, cache_subdir="models", file_hash=file_hash)
    model.load_weights(weights)
