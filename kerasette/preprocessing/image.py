"""Keras 2's ``keras.preprocessing.image``: `ImageDataGenerator` (real-time augmentation) and its
iterators over arrays, folders and data frames, plus the image file functions of
`kerasette.utils.image_utils`.

How a batch is made. Keras 2 transforms one image at a time with scipy (one ``affine_transform``
per channel). Here the iterator draws the transform parameters of the whole batch at once,
composes rotation, shift, shear and zoom into one 2x3 matrix per image, and resamples the batch
in a single numba pass (`kerasette.backend.kernels.affine`), split over the thread pool; flips,
channel shifts and brightness are array operations over the batch. For the same parameters the
result is Keras 2's (`apply_transform` is checked against keras-preprocessing 1.1.2, the
implementation behind ``keras.preprocessing.image`` in Keras 2.0 to 2.5, in ``tests/images``).

Randomness. Each batch draws from its own generator, seeded from the iterator's ``seed`` (or a
seed drawn from kerasette's generator, `kerasette.backend.random`), the epoch and the batch's
index, so batches made by worker threads in any order are the same as when made in order, and a
seeded iterator repeats exactly.

Example:
    >>> import numpy as np
    >>> gen = ImageDataGenerator(rotation_range=20, horizontal_flip=True)
    >>> it = gen.flow(np.zeros((10, 8, 8, 3), "float32"), np.arange(10), batch_size=4, seed=1)
    >>> len(it), it[0][0].shape
    (3, (4, 8, 8, 3))
"""

from __future__ import annotations

import concurrent.futures
import os
import threading
import warnings

import numpy as np

from kerasette.backend import random as krandom
from kerasette.backend.config import floatx, image_data_format
from kerasette.utils import image_utils
from kerasette.utils.image_utils import (
    IMAGE_EXTENSIONS,
    array_to_img,
    img_to_array,
    load_img,
    pil_image,
    save_img,
    smart_resize,
)
from kerasette.utils.sequence import Sequence

__all__ = ["DataFrameIterator", "DirectoryIterator", "ImageDataGenerator", "Iterator", "NumpyArrayIterator",
           "apply_affine_transform", "apply_brightness_shift", "apply_channel_shift", "array_to_img", "flip_axis",
           "img_to_array", "load_img", "random_brightness", "random_channel_shift", "random_rotation",
           "random_shear", "random_shift", "random_zoom", "save_img", "smart_resize", "transform_matrix"]

FILL_MODES = ("constant", "nearest", "reflect", "wrap")
_GEOMETRY = ("theta", "tx", "ty", "shear", "zx", "zy")


# -- the transforms, as matrices and array operations ----------------------------------------------
def transform_matrix(theta=0.0, tx=0.0, ty=0.0, shear=0.0, zx=1.0, zy=1.0, rows: int = 1, cols: int = 1):
    """The 2x3 matrices (float64, shape ``(n, 2, 3)`` for arrays of ``n`` parameters, ``(2, 3)``
    for scalars) that map an output pixel to the input position it reads, in Keras 2's
    composition: rotation by ``theta`` degrees, then a shift of ``tx`` rows and ``ty`` columns,
    a shear by ``shear`` degrees and a zoom by ``zx`` (rows) and ``zy`` (columns), all about the
    point ``(rows / 2 + 0.5, cols / 2 + 0.5)``: keras-preprocessing's, one pixel below and right
    of the true centre, kept so that results are Keras 2's. (tf_keras, Keras 2's last release,
    turns about the centre but swaps rows and columns for the shifts and zooms: its
    ``height_shift_range`` moves images sideways; kerasette keeps keras-preprocessing's meaning.)"""
    scalar = all(np.ndim(v) == 0 for v in (theta, tx, ty, shear, zx, zy))
    theta, tx, ty, shear, zx, zy = np.broadcast_arrays(*(np.atleast_1d(np.asarray(v, np.float64))
                                                         for v in (theta, tx, ty, shear, zx, zy)))
    t, s = np.deg2rad(theta), np.deg2rad(shear)
    cos_t, sin_t = np.cos(t), np.sin(t)
    # rotation @ shift @ shear @ zoom, written out (the product of the four 3x3 matrices)
    a00 = cos_t * zx
    a01 = (-cos_t * np.sin(s) - sin_t * np.cos(s)) * zy
    a10 = sin_t * zx
    a11 = (-sin_t * np.sin(s) + cos_t * np.cos(s)) * zy
    b0 = cos_t * tx - sin_t * ty
    b1 = sin_t * tx + cos_t * ty
    o_r, o_c = rows / 2 + 0.5, cols / 2 + 0.5
    out = np.empty(theta.shape + (2, 3))
    out[:, 0, 0], out[:, 0, 1] = a00, a01
    out[:, 1, 0], out[:, 1, 1] = a10, a11
    out[:, 0, 2] = o_r + b0 - a00 * o_r - a01 * o_c
    out[:, 1, 2] = o_c + b1 - a10 * o_r - a11 * o_c
    return out[0] if scalar else out


def _is_identity(params: dict) -> bool:
    """Whether scalar transform parameters leave an image where it is."""
    defaults = {"theta": 0.0, "tx": 0.0, "ty": 0.0, "shear": 0.0, "zx": 1.0, "zy": 1.0}
    return all(params.get(key, default) == default for key, default in defaults.items())


def _resample(batch: np.ndarray, matrices: np.ndarray, order: int, fill_mode: str, cval: float) -> np.ndarray:
    """The batch resampled by the affine kernel: over the thread pool when called from the main
    thread; in the calling thread alone from any other (a data worker of ``fit``, whose
    training steps use the pool at the same time: a chunk of augmentation queued in the pool
    would hold a step's chunk up, and more busy threads than cores slow both)."""
    from kerasette.backend.kernels import affine  # deferred: numba compiles only when images are transformed

    threaded = threading.current_thread() is threading.main_thread()
    return affine.resample_batch(batch, matrices, order, fill_mode, cval, threaded=threaded)


def apply_affine_transform(x, theta=0, tx=0, ty=0, shear=0, zx=1, zy=1, row_axis=1, col_axis=2, channel_axis=0,
                           fill_mode="nearest", cval=0.0, order=1):
    """Keras 2's function: one image (3-D) rotated, shifted, sheared and zoomed (see
    `transform_matrix`); ``row_axis``, ``col_axis`` and ``channel_axis`` say where its axes are
    (Keras 2's defaults, channels first); ``order`` is the interpolation: 0 nearest, 1 bilinear,
    2 to 5 a B-spline of that order (scipy.ndimage's, as in Keras 2). Returns the image
    unchanged for the identity."""
    x = np.asarray(x)
    if x.ndim != 3:
        raise ValueError(f"apply_affine_transform: expected one image of rank 3; received shape {x.shape}")
    _check_choice(fill_mode, "fill_mode", FILL_MODES, "apply_affine_transform")
    _check_order(order, "order", "apply_affine_transform")
    if _is_identity({"theta": theta, "tx": tx, "ty": ty, "shear": shear, "zx": zx, "zy": zy}):
        return x
    last = np.transpose(x, (row_axis, col_axis, channel_axis))[None]
    m = transform_matrix(theta, tx, ty, shear, zx, zy, x.shape[row_axis], x.shape[col_axis])[None]
    out = _resample(last, m, order, fill_mode, cval)[0]
    return np.transpose(out, np.argsort((row_axis, col_axis, channel_axis)))


def apply_channel_shift(x, intensity, channel_axis=0):
    """Keras 2's channel shift: adds ``intensity`` to every value, clipped to the image's own
    range (its minimum and maximum before the shift)."""
    x = np.asarray(x)
    return np.clip(x + intensity, np.min(x), np.max(x)).astype(x.dtype, copy=False)


def apply_brightness_shift(x, brightness, scale=True):
    """Keras 2's brightness shift of one channels-last image: the image is made 8-bit (values
    truncated; stretched to 0..255 first when ``scale`` or when it has values outside 0..255),
    every value multiplied by ``brightness`` and truncated to 8 bits (Pillow's
    ``ImageEnhance.Brightness``), and returned as floats: in 0..255, or mapped back to the
    image's own range when it was stretched only because of its range and ``scale`` is False.
    An alpha channel is left as it is."""
    return _brightness_batch(np.asarray(x, np.float32)[None], np.asarray([brightness]), scale)[0]


def _brightness_batch(batch: np.ndarray, factors: np.ndarray, scale: bool = True) -> np.ndarray:
    """`apply_brightness_shift` over a channels-last batch, one factor per image (the generator
    stretches every image to 0..255 first, as keras-preprocessing does; tf_keras passes
    ``scale=False``)."""
    x = batch.astype(np.float32, copy=True)
    low = x.min(axis=(1, 2, 3), keepdims=True)
    high = x.max(axis=(1, 2, 3), keepdims=True)
    outside = (low < 0) | (high > 255)
    stretch = outside | scale
    span = high - low
    stretched = (x - low) / np.where(span != 0, span, 1) * 255
    x = np.where(stretch, stretched, x)
    x = x.astype(np.uint8).astype(np.float32)  # Pillow holds the image in 8 bits
    shifted = np.clip(np.trunc(x * np.asarray(factors, np.float32).reshape(-1, 1, 1, 1)), 0, 255)
    if x.shape[3] == 4:  # the enhancer keeps the alpha channel
        shifted[..., 3] = x[..., 3]
    if not scale:
        shifted = np.where(outside, shifted / 255 * span + low, shifted)
    return shifted


def flip_axis(x, axis):
    """``x`` reversed along ``axis`` (Keras 2's helper)."""
    return np.flip(np.asarray(x), axis)


def _uniform(low, high, size=None):
    return krandom.generator().uniform(low, high, size)


def random_rotation(x, rg, row_axis=1, col_axis=2, channel_axis=0, fill_mode="nearest", cval=0.0,
                    interpolation_order=1):
    """One image rotated by a random angle uniform in ``[-rg, rg]`` degrees (Keras 2's function;
    channels first by default)."""
    return apply_affine_transform(x, theta=_uniform(-rg, rg), row_axis=row_axis, col_axis=col_axis,
                                  channel_axis=channel_axis, fill_mode=fill_mode, cval=cval,
                                  order=interpolation_order)


def random_shift(x, wrg, hrg, row_axis=1, col_axis=2, channel_axis=0, fill_mode="nearest", cval=0.0,
                 interpolation_order=1):
    """One image shifted by random fractions of its size, uniform in ``[-hrg, hrg]`` (rows) and
    ``[-wrg, wrg]`` (columns)."""
    x = np.asarray(x)
    tx = _uniform(-hrg, hrg) * x.shape[row_axis]
    ty = _uniform(-wrg, wrg) * x.shape[col_axis]
    return apply_affine_transform(x, tx=tx, ty=ty, row_axis=row_axis, col_axis=col_axis,
                                  channel_axis=channel_axis, fill_mode=fill_mode, cval=cval,
                                  order=interpolation_order)


def random_shear(x, intensity, row_axis=1, col_axis=2, channel_axis=0, fill_mode="nearest", cval=0.0,
                 interpolation_order=1):
    """One image sheared by a random angle uniform in ``[-intensity, intensity]`` degrees."""
    return apply_affine_transform(x, shear=_uniform(-intensity, intensity), row_axis=row_axis, col_axis=col_axis,
                                  channel_axis=channel_axis, fill_mode=fill_mode, cval=cval,
                                  order=interpolation_order)


def random_zoom(x, zoom_range, row_axis=1, col_axis=2, channel_axis=0, fill_mode="nearest", cval=0.0,
                interpolation_order=1):
    """One image zoomed by random factors drawn uniformly in ``zoom_range`` (a pair), rows and
    columns independently."""
    if not isinstance(zoom_range, (list, tuple)) or len(zoom_range) != 2:
        raise ValueError(f"random_zoom: argument `zoom_range` must be a pair [low, high]; received "
                         f"zoom_range={zoom_range!r}")
    zx, zy = (1.0, 1.0) if tuple(zoom_range) == (1, 1) else _uniform(zoom_range[0], zoom_range[1], 2)
    return apply_affine_transform(x, zx=zx, zy=zy, row_axis=row_axis, col_axis=col_axis,
                                  channel_axis=channel_axis, fill_mode=fill_mode, cval=cval,
                                  order=interpolation_order)


def random_channel_shift(x, intensity_range, channel_axis=0):
    """`apply_channel_shift` by a random intensity uniform in ``[-intensity_range, intensity_range]``."""
    return apply_channel_shift(x, _uniform(-intensity_range, intensity_range), channel_axis)


def random_brightness(x, brightness_range, scale=True):
    """`apply_brightness_shift` by a random factor uniform in ``brightness_range`` (a pair)."""
    if not isinstance(brightness_range, (list, tuple)) or len(brightness_range) != 2:
        raise ValueError(f"random_brightness: argument `brightness_range` must be a pair [low, high]; received "
                         f"brightness_range={brightness_range!r}")
    return apply_brightness_shift(x, _uniform(brightness_range[0], brightness_range[1]), scale)


def _check_choice(value, name, choices, owner):
    if value not in choices:
        raise ValueError(f"{owner}: argument `{name}` must be one of {', '.join(map(repr, choices))}; received "
                         f"{name}={value!r}")


def _check_order(value, name, owner):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value <= 5:
        raise ValueError(f"{owner}: argument `{name}` must be an integer from 0 to 5 (0 nearest, 1 bilinear, 2 to 5 "
                         f"a B-spline of that order); received {name}={value!r}")


def _check_range(value, name, owner, allow_list=False):
    if allow_list and isinstance(value, (list, tuple, np.ndarray)):
        if len(value) == 0 or not all(isinstance(v, (int, float, np.number)) for v in value):
            raise ValueError(f"{owner}: argument `{name}` must be a float, an int or a list of numbers; received "
                             f"{name}={value!r}")
        return list(value)
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or value < 0:
        kind = "a non-negative float, an int or a list of numbers" if allow_list else "a non-negative number"
        raise ValueError(f"{owner}: argument `{name}` must be {kind}; received {name}={value!r}")
    return value


# -- the generator ---------------------------------------------------------------------------------
class ImageDataGenerator:
    """Makes batches of augmented, normalised images (Keras 2's ``ImageDataGenerator``).

    Augmentation (random, drawn per image): ``rotation_range`` (degrees, uniform in
    ``[-r, r]``), ``width_shift_range`` / ``height_shift_range`` (a float below 1 is a fraction of
    the width/height, 1 or more pixels, drawn uniformly in ``[-r, r]``; an int ``n`` draws a whole
    number of pixels in ``[0, n)`` with a random sign; a list draws one of its values),
    ``shear_range`` (degrees), ``zoom_range`` (a float ``z`` means ``[1 - z, 1 + z]``, or a
    ``[low, high]`` pair; rows and columns zoomed independently; a zoom above 1 shows less of
    the image), ``channel_shift_range``, ``brightness_range`` (a ``[low, high]`` pair of
    factors, applied to the image stretched to 8-bit values, as Keras 2 does: the result is
    in 0..255 whatever the input's range), ``horizontal_flip`` and
    ``vertical_flip`` (each with probability 1/2). Geometry is one resampling with
    ``interpolation_order`` 0 (nearest), 1 (bilinear) or 2 to 5 (a B-spline of that order,
    interpolating the pixels, as scipy.ndimage does for Keras 2); positions outside the input
    are filled by ``fill_mode``: 'constant' (``cval``), 'nearest', 'reflect' or 'wrap'.

    Normalisation, in this order, after augmentation: ``preprocessing_function`` (called on
    each image, rank 3), ``rescale`` (a multiplier), ``samplewise_center`` /
    ``samplewise_std_normalization`` (each image's own mean and standard deviation), then
    ``featurewise_center`` / ``featurewise_std_normalization`` (per-channel statistics) and
    ``zca_whitening`` (with ``zca_epsilon``), which need `fit` on sample data first.
    ``zca_whitening`` turns ``featurewise_center`` on and ``featurewise_std_normalization`` off;
    each std normalization turns its centering on (with a warning, as in Keras 2).

    Args:
        data_format: 'channels_last' or 'channels_first' (default: the backend's setting);
            Keras 1's ``dim_ordering='th'`` / ``'tf'`` is accepted too.
        validation_split: the fraction of images reserved for ``subset='validation'`` of
            `flow` and `flow_from_directory` (the first images of the array, of each class
            folder).
        dtype: of the batches (default floatx).
    """

    def __init__(self, featurewise_center=False, samplewise_center=False, featurewise_std_normalization=False,
                 samplewise_std_normalization=False, zca_whitening=False, zca_epsilon=1e-6, rotation_range=0,
                 width_shift_range=0.0, height_shift_range=0.0, brightness_range=None, shear_range=0.0,
                 zoom_range=0.0, channel_shift_range=0.0, fill_mode="nearest", cval=0.0, horizontal_flip=False,
                 vertical_flip=False, rescale=None, preprocessing_function=None, data_format=None,
                 validation_split=0.0, interpolation_order=1, dtype=None, dim_ordering=None):
        owner = "ImageDataGenerator"
        if dim_ordering is not None:  # Keras 1's name and values
            if data_format is not None:
                raise TypeError(f"{owner}: got both the Keras 1 argument `dim_ordering` and its Keras 2 name "
                                "`data_format`")
            warnings.warn(f"{owner}: Keras 1 argument translated (dim_ordering -> data_format); update your call "
                          "to the new name.", DeprecationWarning, stacklevel=2)
            data_format = {"th": "channels_first", "tf": "channels_last", "default": None}.get(dim_ordering,
                                                                                               dim_ordering)
        self.featurewise_center = bool(featurewise_center)
        self.samplewise_center = bool(samplewise_center)
        self.featurewise_std_normalization = bool(featurewise_std_normalization)
        self.samplewise_std_normalization = bool(samplewise_std_normalization)
        self.zca_whitening = bool(zca_whitening)
        self.zca_epsilon = float(zca_epsilon)
        self.rotation_range = _check_range(rotation_range, "rotation_range", owner)
        self.width_shift_range = _check_range(width_shift_range, "width_shift_range", owner, allow_list=True)
        self.height_shift_range = _check_range(height_shift_range, "height_shift_range", owner, allow_list=True)
        self.shear_range = _check_range(shear_range, "shear_range", owner)
        self.channel_shift_range = _check_range(channel_shift_range, "channel_shift_range", owner)
        _check_choice(fill_mode, "fill_mode", FILL_MODES, owner)
        self.fill_mode, self.cval = fill_mode, float(cval)
        self.horizontal_flip, self.vertical_flip = bool(horizontal_flip), bool(vertical_flip)
        self.rescale = rescale
        if preprocessing_function is not None and not callable(preprocessing_function):
            raise ValueError(f"{owner}: argument `preprocessing_function` must be callable; received "
                             f"{preprocessing_function!r}")
        self.preprocessing_function = preprocessing_function
        _check_order(interpolation_order, "interpolation_order", owner)
        self.interpolation_order = int(interpolation_order)
        self.dtype = dtype or floatx()
        data_format = data_format or image_data_format()
        _check_choice(data_format, "data_format", ("channels_last", "channels_first"), owner)
        self.data_format = data_format
        self.channel_axis, self.row_axis, self.col_axis = (1, 2, 3) if data_format == "channels_first" else (3, 1, 2)
        if validation_split and not 0 < validation_split < 1:
            raise ValueError(f"{owner}: argument `validation_split` must be strictly between 0 and 1; received "
                             f"validation_split={validation_split!r}")
        self._validation_split = float(validation_split or 0.0)
        self.mean = self.std = self.principal_components = None

        if isinstance(zoom_range, (int, float, np.number)) and not isinstance(zoom_range, bool):
            self.zoom_range = [1 - zoom_range, 1 + zoom_range]
        elif isinstance(zoom_range, (list, tuple)) and len(zoom_range) == 2:
            self.zoom_range = [zoom_range[0], zoom_range[1]]
        else:
            raise ValueError(f"{owner}: argument `zoom_range` must be a float or a pair [low, high]; received "
                             f"zoom_range={zoom_range!r}")
        if brightness_range is not None and (not isinstance(brightness_range, (tuple, list, np.ndarray))
                                             or len(brightness_range) != 2):
            raise ValueError(f"{owner}: argument `brightness_range` must be None or a pair [low, high]; received "
                             f"brightness_range={brightness_range!r}")
        self.brightness_range = brightness_range
        if self.zca_whitening:
            if not self.featurewise_center:
                self.featurewise_center = True
                warnings.warn("ImageDataGenerator: zca_whitening=True turns on featurewise_center", stacklevel=2)
            if self.featurewise_std_normalization:
                self.featurewise_std_normalization = False
                warnings.warn("ImageDataGenerator: zca_whitening=True overrides featurewise_std_normalization "
                              "(turned off)", stacklevel=2)
        if self.featurewise_std_normalization and not self.featurewise_center:
            self.featurewise_center = True
            warnings.warn("ImageDataGenerator: featurewise_std_normalization=True turns on featurewise_center",
                          stacklevel=2)
        if self.samplewise_std_normalization and not self.samplewise_center:
            self.samplewise_center = True
            warnings.warn("ImageDataGenerator: samplewise_std_normalization=True turns on samplewise_center",
                          stacklevel=2)

    # -- iterators -------------------------------------------------------------------------
    def flow(self, x, y=None, batch_size=32, shuffle=True, sample_weight=None, seed=None, save_to_dir=None,
             save_prefix="", save_format="png", ignore_class_split=False, subset=None):
        """An iterator (a `kerasette.utils.Sequence`) of augmented batches of the images ``x``
        (rank 4; or ``(x, misc)`` with ``misc`` an array or list of arrays passed along
        unchanged), with ``y`` and ``sample_weight`` when given: batches ``(x, y)``,
        ``(x, y, sample_weight)``, or ``x`` alone. ``save_to_dir`` also writes each augmented
        image there as ``{save_prefix}_{index}_{random}.{save_format}``. ``subset`` 'training' or
        'validation' takes the part split off by ``validation_split`` (the validation part is
        the first images; both parts must hold the same classes unless ``ignore_class_split``)."""
        return NumpyArrayIterator(x, y, self, batch_size=batch_size, shuffle=shuffle, sample_weight=sample_weight,
                                  seed=seed, data_format=self.data_format, save_to_dir=save_to_dir,
                                  save_prefix=save_prefix, save_format=save_format,
                                  ignore_class_split=ignore_class_split, subset=subset, dtype=self.dtype)

    def flow_from_directory(self, directory, target_size=(256, 256), color_mode="rgb", classes=None,
                            class_mode="categorical", batch_size=32, shuffle=True, seed=None, save_to_dir=None,
                            save_prefix="", save_format="png", follow_links=False, subset=None,
                            interpolation="nearest", keep_aspect_ratio=False):
        """An iterator of augmented batches read from ``directory``, which holds one subfolder of
        images per class (see `DirectoryIterator`)."""
        return DirectoryIterator(directory, self, target_size=target_size, color_mode=color_mode, classes=classes,
                                 class_mode=class_mode, data_format=self.data_format, batch_size=batch_size,
                                 shuffle=shuffle, seed=seed, save_to_dir=save_to_dir, save_prefix=save_prefix,
                                 save_format=save_format, follow_links=follow_links, subset=subset,
                                 interpolation=interpolation, keep_aspect_ratio=keep_aspect_ratio, dtype=self.dtype)

    def flow_from_dataframe(self, dataframe, directory=None, x_col="filename", y_col="class", weight_col=None,
                            target_size=(256, 256), color_mode="rgb", classes=None, class_mode="categorical",
                            batch_size=32, shuffle=True, seed=None, save_to_dir=None, save_prefix="",
                            save_format="png", subset=None, interpolation="nearest", validate_filenames=True,
                            keep_aspect_ratio=False):
        """An iterator of augmented batches of the image files listed in a pandas data frame
        (see `DataFrameIterator`); needs pandas."""
        return DataFrameIterator(dataframe, directory, self, x_col=x_col, y_col=y_col, weight_col=weight_col,
                                 target_size=target_size, color_mode=color_mode, classes=classes,
                                 class_mode=class_mode, data_format=self.data_format, batch_size=batch_size,
                                 shuffle=shuffle, seed=seed, save_to_dir=save_to_dir, save_prefix=save_prefix,
                                 save_format=save_format, subset=subset, interpolation=interpolation,
                                 validate_filenames=validate_filenames, keep_aspect_ratio=keep_aspect_ratio,
                                 dtype=self.dtype)

    # -- random parameters -------------------------------------------------------------------
    def _random_parameters(self, n: int, rows: int, cols: int, rng: np.random.Generator) -> dict:
        """The transform parameters of ``n`` images (arrays of ``n``), Keras 2's distributions."""
        params = {"theta": rng.uniform(-self.rotation_range, self.rotation_range, n) if self.rotation_range
                  else np.zeros(n),
                  "tx": self._shift(self.height_shift_range, rows, n, rng),
                  "ty": self._shift(self.width_shift_range, cols, n, rng),
                  "shear": rng.uniform(-self.shear_range, self.shear_range, n) if self.shear_range else np.zeros(n)}
        low, high = self.zoom_range
        if low == 1 and high == 1:
            params["zx"], params["zy"] = np.ones(n), np.ones(n)
        else:
            zoom = rng.uniform(low, high, (n, 2))
            params["zx"], params["zy"] = zoom[:, 0], zoom[:, 1]
        params["flip_horizontal"] = (rng.random(n) < 0.5) & self.horizontal_flip
        params["flip_vertical"] = (rng.random(n) < 0.5) & self.vertical_flip
        params["channel_shift_intensity"] = (rng.uniform(-self.channel_shift_range, self.channel_shift_range, n)
                                             if self.channel_shift_range != 0 else None)
        params["brightness"] = (rng.uniform(self.brightness_range[0], self.brightness_range[1], n)
                                if self.brightness_range is not None else None)
        return params

    @staticmethod
    def _shift(spec, size: int, n: int, rng) -> np.ndarray:
        if isinstance(spec, list):
            shift = rng.choice(np.asarray(spec, np.float64), n) * rng.choice([-1.0, 1.0], n)
        elif isinstance(spec, (int, np.integer)) and spec >= 1:
            shift = rng.integers(0, spec, n).astype(np.float64) * rng.choice([-1.0, 1.0], n)
        elif spec:
            shift = rng.uniform(-spec, spec, n)
        else:
            return np.zeros(n)
        return shift * size if np.max(spec) < 1 else shift

    def get_random_transform(self, img_shape, seed=None) -> dict:
        """Random transform parameters for one image of shape ``img_shape`` (rank 3, the
        generator's data format): a dict of 'theta', 'tx', 'ty', 'shear', 'zx', 'zy',
        'flip_horizontal', 'flip_vertical', 'channel_shift_intensity', 'brightness' (Keras 2's
        keys; the last two None when unused)."""
        rng = np.random.default_rng(seed) if seed is not None else krandom.generator()
        rows, cols = img_shape[self.row_axis - 1], img_shape[self.col_axis - 1]
        params = self._random_parameters(1, rows, cols, rng)
        return {key: (None if value is None else value[0].item()) for key, value in params.items()}

    def apply_transform(self, x, transform_parameters: dict) -> np.ndarray:
        """One image (rank 3, the generator's data format) transformed by explicit parameters
        (the keys of `get_random_transform`; missing ones mean no change), as Keras 2 does: the
        geometry and the flips in one resampling, then the channel shift and the brightness (the
        order of Keras 2, whose flips come after the channel shift, gives the same result)."""
        x = np.asarray(x)
        if x.ndim != 3:
            raise ValueError(f"ImageDataGenerator.apply_transform: expected one image of rank 3; received shape "
                             f"{x.shape}")
        params = {key: np.asarray([value]) for key, value in transform_parameters.items() if value is not None}
        return self._transform_batch(x[None], params)[0]

    def random_transform(self, x, seed=None) -> np.ndarray:
        """One image with a random transform applied (`get_random_transform`, `apply_transform`)."""
        return self.apply_transform(x, self.get_random_transform(np.shape(x), seed))

    def _transform_batch(self, batch: np.ndarray, params: dict) -> np.ndarray:
        """Applies per-image parameters (arrays; missing keys: unchanged) to a batch in the
        generator's data format; returns a new array (or ``batch`` when nothing applies)."""
        first = self.data_format == "channels_first"
        x = np.moveaxis(batch, 1, 3) if first else batch
        n, rows, cols = x.shape[0], x.shape[1], x.shape[2]
        geometry = {key: params[key] for key in _GEOMETRY if key in params}
        flip_cols = np.asarray(params.get("flip_horizontal", np.zeros(n)), bool).reshape(n)
        flip_rows = np.asarray(params.get("flip_vertical", np.zeros(n)), bool).reshape(n)
        moved = np.zeros(n, bool)
        for key, value in geometry.items():  # an image moves when any of its parameters is not the identity's
            moved |= np.asarray(value, np.float64).reshape(-1) != (1.0 if key in ("zx", "zy") else 0.0)
        if moved.any():
            m = transform_matrix(*(geometry.get(key, np.full(n, 1.0 if key in ("zx", "zy") else 0.0))
                                   for key in _GEOMETRY), rows=rows, cols=cols).reshape(n, 2, 3)
            # A flip of the result reads mirrored output positions: folded into the matrix, it
            # costs nothing (flips commute with the channel shift and the brightness that follow).
            for flips, axis, size in ((flip_rows, 0, rows), (flip_cols, 1, cols)):
                m[flips, :, 2] += m[flips, :, axis] * (size - 1)
                m[flips, :, axis] *= -1
            if moved.all():
                x = _resample(x, m, self.interpolation_order, self.fill_mode, self.cval)
            else:
                x = x.astype(x.dtype if x.dtype in (np.float32, np.float64) else np.float32, copy=True)
                x[moved] = _resample(x[moved], m[moved], self.interpolation_order, self.fill_mode, self.cval)
        still = ~moved
        if (flip_cols & still).any() or (flip_rows & still).any():
            x = np.array(x, copy=True)
            for flips, axis in ((flip_cols & still, 2), (flip_rows & still, 1)):
                if flips.any():
                    x[flips] = np.flip(x[flips], axis=axis)
        shift = params.get("channel_shift_intensity")
        if shift is not None:
            low = x.min(axis=(1, 2, 3), keepdims=True)
            high = x.max(axis=(1, 2, 3), keepdims=True)
            x = np.clip(x + np.asarray(shift, x.dtype).reshape(-1, 1, 1, 1), low, high)
        if params.get("brightness") is not None:
            x = _brightness_batch(x, params["brightness"])
        return np.moveaxis(x, 3, 1) if first else x

    def _augment_batch(self, batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        rows, cols = batch.shape[self.row_axis], batch.shape[self.col_axis]
        return self._transform_batch(batch, self._random_parameters(len(batch), rows, cols, rng))

    # -- normalisation -----------------------------------------------------------------------
    def standardize(self, x) -> np.ndarray:
        """The normalisation of one image (or of a batch taken as one sample, as in Keras 2),
        returned as a new array (see the class docstring for the order)."""
        x = np.array(x, dtype=self.dtype, copy=True)
        if self.preprocessing_function:  # its result may be an array of the caller's: copied before changes
            x = np.array(self.preprocessing_function(x), dtype=self.dtype, copy=True)
        return self._normalize(x, sample_axes=None)

    def _standardize_batch(self, batch: np.ndarray) -> np.ndarray:
        """The normalisation of a batch the iterator owns (made for this batch: changed in place)."""
        if self.preprocessing_function:
            batch = np.stack([np.asarray(self.preprocessing_function(image), dtype=self.dtype) for image in batch])
        return self._normalize(batch, sample_axes=tuple(range(1, batch.ndim)))

    def _normalize(self, x: np.ndarray, sample_axes) -> np.ndarray:
        """Normalises ``x``, which the caller owns: in place when it has the generator's dtype
        (one pass per option and no new array, in the batch's own precision)."""
        if x.dtype != np.dtype(self.dtype) or not x.flags.writeable:
            x = x.astype(self.dtype)
        if self.rescale:
            x *= np.asarray(self.rescale, x.dtype)
        if self.samplewise_center:
            x -= np.mean(x, axis=sample_axes, keepdims=True)
        if self.samplewise_std_normalization:
            x /= np.std(x, axis=sample_axes, keepdims=True) + np.asarray(1e-6, x.dtype)
        for flag, value, what in ((self.featurewise_center, self.mean, "featurewise_center"),
                                  (self.featurewise_std_normalization, self.std, "featurewise_std_normalization"),
                                  (self.zca_whitening, self.principal_components, "zca_whitening")):
            if flag and value is None:
                warnings.warn(f"ImageDataGenerator: {what}=True but the generator has not been fit on any data; "
                              "call .fit(x) with sample images first", stacklevel=3)
        if self.featurewise_center and self.mean is not None:
            x -= np.asarray(self.mean, x.dtype)
        if self.featurewise_std_normalization and self.std is not None:
            x /= np.asarray(self.std + 1e-6, x.dtype)
        if self.zca_whitening and self.principal_components is not None:
            flat = x.reshape(-1, self.principal_components.shape[0])
            x = (flat @ self.principal_components).reshape(x.shape)
        return x.astype(self.dtype, copy=False)

    def fit(self, x, augment=False, rounds=1, seed=None) -> None:
        """Computes the statistics that the featurewise options and ZCA whitening need from
        sample images ``x`` (rank 4), after ``rescale`` and, with ``augment``, from ``rounds``
        randomly augmented copies of them."""
        x = np.array(x, dtype=self.dtype, copy=True)
        if x.ndim != 4:
            raise ValueError(f"ImageDataGenerator.fit: expected images of rank 4; received an array of shape {x.shape}")
        if x.shape[self.channel_axis] not in (1, 3, 4):
            warnings.warn(f"ImageDataGenerator.fit: expected 1, 3 or 4 channels on axis {self.channel_axis} "
                          f"(data_format={self.data_format!r}); received an array of shape {x.shape}", stacklevel=2)
        if self.rescale:
            x *= self.rescale
        if augment:
            rounds = int(rounds)
            if rounds < 1:
                raise ValueError(f"ImageDataGenerator.fit: argument `rounds` must be a positive integer; received "
                                 f"rounds={rounds!r}")
            rng = np.random.default_rng(seed) if seed is not None else krandom.generator()
            x = np.concatenate([self._augment_batch(x, rng) for _ in range(rounds)]).astype(self.dtype)
        shape = [1, 1, 1]
        shape[self.channel_axis - 1] = x.shape[self.channel_axis]
        axes = (0, self.row_axis, self.col_axis)
        if self.featurewise_center:
            self.mean = np.mean(x, axis=axes).reshape(shape).astype(self.dtype)
            x = x - self.mean
        if self.featurewise_std_normalization:
            self.std = np.std(x, axis=axes).reshape(shape).astype(self.dtype)
            x = x / (self.std + 1e-6)
        if self.zca_whitening:
            flat = x.reshape(len(x), -1).astype(np.float64)
            sigma = flat.T @ flat / len(flat)
            u, s, _ = np.linalg.svd(sigma)
            self.principal_components = ((u / np.sqrt(s + self.zca_epsilon)) @ u.T).astype(self.dtype)


# -- iterators -------------------------------------------------------------------------------------
class Iterator(Sequence):
    """Base of the generator's iterators: ``n`` samples in batches of ``batch_size``, reshuffled
    every epoch when ``shuffle``; a `kerasette.utils.Sequence` (``fit`` and the Keras 1/2
    ``fit_generator`` take it, with worker threads) and an endless Python iterator (``next``).

    Subclasses define ``_load(index_array)``, the batch's images before augmentation, and
    ``_targets(index_array, batch_x)``, what goes with them.
    """

    white_list_formats = tuple(ext[1:] for ext in IMAGE_EXTENSIONS)

    def __init__(self, n: int, batch_size: int, shuffle: bool, seed):
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"{type(self).__name__}: argument `batch_size` must be a positive integer; received "
                             f"batch_size={batch_size!r}")
        self.n, self.batch_size, self.shuffle, self.seed = int(n), int(batch_size), bool(shuffle), seed
        self.epoch = 0
        self.batch_index = 0
        self.total_batches_seen = 0
        self._entropy = int(seed) % 2**63 if seed is not None else int(krandom.generator().integers(2**62))
        self.index_array = None

    def _set_index_array(self) -> None:
        self.index_array = np.arange(self.n)
        if self.shuffle:
            self.index_array = np.random.default_rng([self._entropy, self.epoch, 1]).permutation(self.n)

    def __len__(self) -> int:
        return (self.n + self.batch_size - 1) // self.batch_size

    def __getitem__(self, idx):
        if not 0 <= idx < len(self):
            raise IndexError(f"{type(self).__name__}: batch {idx} asked for; there are {len(self)} batches")
        if self.index_array is None:
            self._set_index_array()
        self.total_batches_seen += 1
        index_array = self.index_array[self.batch_size * idx: self.batch_size * (idx + 1)]
        return self._batch(index_array, np.random.default_rng([self._entropy, self.epoch, 2, int(idx)]))

    def on_epoch_end(self) -> None:
        """Starts a new epoch: a new order (when shuffling) and new random transforms."""
        self.epoch += 1
        self._set_index_array()

    def reset(self) -> None:
        self.batch_index = 0

    def __iter__(self):
        return self

    def __next__(self):
        return self.next()

    def next(self):
        """The next batch, endlessly (Keras 1/2 generator use): a new epoch after the last batch."""
        if self.index_array is None:
            self._set_index_array()
        batch = self[self.batch_index]
        self.batch_index += 1
        if self.batch_index >= len(self):
            self.batch_index = 0
            self.on_epoch_end()
        return batch

    # -- one batch ------------------------------------------------------------------------------
    def _batch(self, index_array: np.ndarray, rng: np.random.Generator):
        gen = self.image_data_generator
        batch_x = self._load(index_array)
        if gen is not None:
            batch_x = gen._standardize_batch(gen._augment_batch(batch_x, rng))
        batch_x = np.asarray(batch_x, dtype=self.dtype)
        if self.save_to_dir:
            for i, j in enumerate(index_array):
                name = f"{self.save_prefix}_{j}_{rng.integers(10**7)}.{self.save_format}"
                save_img(os.path.join(self.save_to_dir, name), batch_x[i], data_format=self.data_format, scale=True)
        return self._targets(index_array, batch_x)


class NumpyArrayIterator(Iterator):
    """Batches of augmented images from arrays (what `ImageDataGenerator.flow` returns)."""

    def __init__(self, x, y, image_data_generator, batch_size=32, shuffle=False, sample_weight=None, seed=None,
                 data_format=None, save_to_dir=None, save_prefix="", save_format="png", subset=None,
                 ignore_class_split=False, dtype=None):
        owner = "ImageDataGenerator.flow"
        misc = []
        if isinstance(x, (tuple, list)):
            if len(x) != 2 or not isinstance(x[1], (list, np.ndarray)):
                raise ValueError(f"{owner}: `x` must be an array of images or a pair (images, array or list of "
                                 f"arrays); received a {type(x).__name__} of length {len(x)}")
            misc = [np.asarray(a) for a in (x[1] if isinstance(x[1], list) else [x[1]])]
            x = x[0]
        x = np.asarray(x)
        if x.ndim != 4:
            raise ValueError(f"{owner}: images must be an array of rank 4; received an array of shape {x.shape}")
        for a in misc:
            if len(a) != len(x):
                raise ValueError(f"{owner}: every array in `x` must hold as many samples as the images ({len(x)}); "
                                 f"received one of length {len(a)}")
        if y is not None:
            y = np.asarray(y)
            if len(y) != len(x):
                raise ValueError(f"{owner}: `x` (images) and `y` (labels) must have the same length; received "
                                 f"{len(x)} images and {len(y)} labels")
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight)
            if len(sample_weight) != len(x):
                raise ValueError(f"{owner}: `x` (images) and `sample_weight` must have the same length; received "
                                 f"{len(x)} images and {len(sample_weight)} weights")
        if subset is not None:
            _check_choice(subset, "subset", ("training", "validation"), owner)
            split = int(len(x) * image_data_generator._validation_split)
            if (y is not None and not ignore_class_split
                    and not np.array_equal(np.unique(y[:split]), np.unique(y[split:]))):
                raise ValueError(f"{owner}: the training and validation subsets hold different classes after the "
                                 "split (the first validation_split of the images is the validation subset); "
                                 "shuffle arrays sorted by label, or pass ignore_class_split=True")
            part = slice(None, split) if subset == "validation" else slice(split, None)
            x, misc = x[part], [a[part] for a in misc]
            y = None if y is None else y[part]
            sample_weight = None if sample_weight is None else sample_weight[part]
        data_format = data_format or image_data_format()
        channel_axis = 1 if data_format == "channels_first" else 3
        if x.shape[channel_axis] not in (1, 3, 4):
            warnings.warn(f"{owner}: expected 1, 3 or 4 channels on axis {channel_axis} (data_format="
                          f"{data_format!r}); received images of shape {x.shape}", stacklevel=3)
        self.x, self.x_misc, self.y, self.sample_weight = x, misc, y, sample_weight
        self.image_data_generator, self.data_format = image_data_generator, data_format
        self.save_to_dir, self.save_prefix, self.save_format = save_to_dir, save_prefix, save_format
        self.dtype = dtype or floatx()
        super().__init__(len(x), batch_size, shuffle, seed)

    def _load(self, index_array):
        return np.take(self.x, index_array, axis=0).astype(self.dtype, copy=False)

    def _targets(self, index_array, batch_x):
        out = batch_x if not self.x_misc else [batch_x] + [a[index_array] for a in self.x_misc]
        if self.y is None:
            return out
        if self.sample_weight is None:
            return out, self.y[index_array]
        return out, self.y[index_array], self.sample_weight[index_array]


_POOL: dict = {}  # process id -> its pool: a process forked from this one makes its own
_POOL_LOCK = threading.Lock()


def _new_lock_after_fork() -> None:
    global _POOL_LOCK
    _POOL_LOCK = threading.Lock()  # another thread may have held it at the fork


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_lock_after_fork)


def _decoding_pool() -> concurrent.futures.ThreadPoolExecutor:
    """The threads that decode image files, made once per process (a child process made by
    ``fork``, a data worker of ``use_multiprocessing=True``, does not inherit working threads)."""
    pid = os.getpid()
    pool = _POOL.get(pid)
    if pool is None:
        with _POOL_LOCK:
            pool = _POOL.get(pid)
            if pool is None:
                pool = _POOL[pid] = concurrent.futures.ThreadPoolExecutor(max(1, os.cpu_count() or 1),
                                                                          thread_name_prefix="kerasette-decode")
    return pool


def _list_files(directory: str, follow_links: bool) -> list[str]:
    """Image files under ``directory`` (recursively), as paths relative to it, in Keras's order
    (folders sorted, files sorted within each)."""
    found = []
    for root, _, files in sorted(os.walk(directory, followlinks=follow_links), key=lambda entry: entry[0]):
        for name in sorted(files):
            if name.lower().endswith(IMAGE_EXTENSIONS):
                found.append(os.path.relpath(os.path.join(root, name), directory))
    return found


class _FileBatches(Iterator):
    """Shared by the directory and data frame iterators: batches decoded from files."""

    def _setup_files(self, image_data_generator, target_size, color_mode, data_format, save_to_dir, save_prefix,
                     save_format, subset, interpolation, keep_aspect_ratio, dtype, owner):
        self.image_data_generator = image_data_generator
        self.target_size = image_utils._check_size(target_size, "target_size", owner)
        self.color_mode = image_utils._check_color_mode(color_mode, owner)
        self.data_format = data_format or image_data_format()
        channels = image_utils.COLOR_MODES[color_mode]
        self.image_shape = ((channels,) + self.target_size if self.data_format == "channels_first"
                            else self.target_size + (channels,))
        self.save_to_dir, self.save_prefix, self.save_format = save_to_dir, save_prefix, save_format
        image_utils._resample_filter(interpolation, owner)  # checks the name
        self.interpolation, self.keep_aspect_ratio = interpolation, bool(keep_aspect_ratio)
        self.dtype = dtype or floatx()
        if subset is not None:
            _check_choice(subset, "subset", ("training", "validation"), owner)
            split = image_data_generator._validation_split if image_data_generator is not None else 0.0
            self.split = (0.0, split) if subset == "validation" else (split, 1.0)
        else:
            self.split = None
        self.subset = subset

    def _load_one(self, path: str, out: np.ndarray) -> None:
        """Decodes one file into ``out`` (one image of the batch), converting to the batch's
        dtype and layout in the same copy."""
        img = load_img(path, color_mode=self.color_mode, target_size=self.target_size,
                       interpolation=self.interpolation, keep_aspect_ratio=self.keep_aspect_ratio)
        pixels = np.asarray(img)
        img.close()
        if pixels.ndim == 2:
            pixels = pixels[:, :, None]
        out[...] = pixels.transpose(2, 0, 1) if self.data_format == "channels_first" else pixels

    def _load(self, index_array):
        paths = self.filepaths
        batch = np.empty((len(index_array),) + self.image_shape, self.dtype)

        def read(i):
            self._load_one(paths[index_array[i]], batch[i])

        # Pillow decodes and resizes without holding the GIL: the batch's files are read by a
        # pool of threads, as many as cores.
        if len(index_array) > 1:
            list(_decoding_pool().map(read, range(len(index_array))))
        elif len(index_array):
            read(0)
        return batch

    def _targets(self, index_array, batch_x):
        mode = self.class_mode
        if mode == "input":
            y = batch_x.copy()
        elif mode in ("binary", "sparse"):
            y = self.classes[index_array].astype(self.dtype)
        elif mode == "categorical":
            y = np.zeros((len(batch_x), len(self.class_indices)), self.dtype)
            y[np.arange(len(batch_x)), self.classes[index_array]] = 1.0
        elif mode == "multi_output":
            y = [output[index_array] for output in self._labels]
        elif mode == "raw":
            y = self._labels[index_array]
        else:
            return batch_x
        weights = getattr(self, "_sample_weight", None)
        return (batch_x, y) if weights is None else (batch_x, y, weights[index_array])

    @property
    def filepaths(self) -> list[str]:
        """The full path of every image, in sample order."""
        return self._filepaths


class DirectoryIterator(_FileBatches):
    """Batches of augmented images read from a folder with one subfolder per class (what
    `ImageDataGenerator.flow_from_directory` returns).

    Keras 2's semantics: the classes are ``classes`` or the subfolders' names in sorted order
    (``class_indices`` maps each to its index); each class's images are found recursively
    (following symbolic links with ``follow_links``) among the extensions png, jpg, jpeg, bmp,
    ppm, tif, tiff and gif, in sorted order; with ``subset``, the first ``validation_split`` of
    each class's images is the validation subset. Images are loaded with `load_img`
    (``color_mode``, ``target_size``, ``interpolation``, ``keep_aspect_ratio``), then augmented
    and normalised. ``class_mode``: 'categorical' (one-hot), 'binary' or 'sparse' (the class
    index as a float), 'input' (the images themselves, for autoencoders), or None (images
    only). ``filenames`` are relative to ``directory``; ``classes`` holds each image's class.
    """

    CLASS_MODES = ("categorical", "binary", "sparse", "input", None)

    def __init__(self, directory, image_data_generator, target_size=(256, 256), color_mode="rgb", classes=None,
                 class_mode="categorical", batch_size=32, shuffle=True, seed=None, data_format=None,
                 save_to_dir=None, save_prefix="", save_format="png", follow_links=False, subset=None,
                 interpolation="nearest", keep_aspect_ratio=False, dtype=None):
        owner = "flow_from_directory"
        pil_image()  # a clear error now rather than in the first batch
        directory = os.fspath(directory)
        if not os.path.isdir(directory):
            raise ValueError(f"{owner}: argument `directory` must be an existing folder; received {directory!r}")
        _check_choice(class_mode, "class_mode", self.CLASS_MODES, owner)
        self._setup_files(image_data_generator, target_size, color_mode, data_format, save_to_dir, save_prefix,
                          save_format, subset, interpolation, keep_aspect_ratio, dtype, owner)
        self.directory, self.class_mode = directory, class_mode
        if not classes:
            classes = sorted(d for d in os.listdir(directory) if os.path.isdir(os.path.join(directory, d)))
        self.num_classes = len(classes)
        self.class_indices = {name: i for i, name in enumerate(classes)}
        filenames, labels = [], []
        for name in classes:
            folder = os.path.join(directory, name)
            if not os.path.isdir(folder):
                raise ValueError(f"{owner}: class {name!r} has no folder {folder!r}")
            files = _list_files(folder, follow_links)
            if self.split is not None:
                files = files[int(self.split[0] * len(files)): int(self.split[1] * len(files))]
            filenames.extend(os.path.join(name, f) for f in files)
            labels.extend([self.class_indices[name]] * len(files))
        self.filenames = filenames
        self.classes = np.asarray(labels, dtype="int32")
        self.samples = len(filenames)
        self._filepaths = [os.path.join(directory, f) for f in filenames]
        print(f"Found {self.samples} images belonging to {self.num_classes} classes.")
        super().__init__(self.samples, batch_size, shuffle, seed)

    @property
    def labels(self) -> np.ndarray:
        return self.classes


class DataFrameIterator(_FileBatches):
    """Batches of augmented images whose files a pandas data frame lists (what
    `ImageDataGenerator.flow_from_dataframe` returns): ``x_col`` holds the paths (relative to
    ``directory`` when given), ``y_col`` the targets. ``class_mode``: 'categorical' (``y_col``
    holds a class name or a list of names: one-hot or multi-hot), 'binary' / 'sparse' (a class
    name: its index), 'raw' (the values of ``y_col``, one column or a list), 'multi_output'
    (one output per column of a list), 'input' or None. ``weight_col`` gives sample weights;
    with ``validate_filenames`` rows whose file is missing or not an image are dropped (with a
    warning). Needs pandas (only to read the frame)."""

    CLASS_MODES = ("binary", "categorical", "input", "multi_output", "raw", "sparse", None)

    def __init__(self, dataframe, directory=None, image_data_generator=None, x_col="filename", y_col="class",
                 weight_col=None, target_size=(256, 256), color_mode="rgb", classes=None,
                 class_mode="categorical", batch_size=32, shuffle=True, seed=None, data_format=None,
                 save_to_dir=None, save_prefix="", save_format="png", subset=None, interpolation="nearest",
                 validate_filenames=True, keep_aspect_ratio=False, dtype=None):
        owner = "flow_from_dataframe"
        try:
            import pandas  # noqa: F401  # deferred: pandas is optional and needed only here
        except ImportError:
            raise ImportError("flow_from_dataframe needs pandas, which is not installed: `pip install pandas` "
                              "(or use flow_from_directory)") from None
        pil_image()
        _check_choice(class_mode, "class_mode", self.CLASS_MODES, owner)
        self._setup_files(image_data_generator, target_size, color_mode, data_format, save_to_dir, save_prefix,
                          save_format, subset, interpolation, keep_aspect_ratio, dtype, owner)
        self.directory, self.class_mode, self.x_col = directory or "", class_mode, x_col
        columns = list(dataframe.columns)
        wanted = [x_col] + ([] if class_mode in ("input", None) else (y_col if isinstance(y_col, list) else [y_col]))
        wanted += [weight_col] if weight_col is not None else []
        missing = [c for c in wanted if c not in columns]
        if missing:
            raise ValueError(f"{owner}: the data frame has no column(s) {missing}; its columns are {columns}")
        rows = {c: list(dataframe[c]) for c in wanted}
        keep = list(range(len(rows[x_col])))
        if validate_filenames:
            def usable(name):
                path = os.path.join(self.directory, name) if isinstance(name, str) else None
                return path is not None and path.lower().endswith(IMAGE_EXTENSIONS) and os.path.isfile(path)

            keep = [i for i in keep if usable(rows[x_col][i])]
            if len(keep) < len(rows[x_col]):
                warnings.warn(f"{owner}: {len(rows[x_col]) - len(keep)} rows name a missing or non-image file and "
                              "are left out", stacklevel=3)
        if class_mode in ("categorical", "binary", "sparse"):
            values = [rows[y_col][i] for i in keep]
            if classes is None:
                names = set()
                for v in values:
                    names.update(v if isinstance(v, (list, tuple)) else [v])
                classes = sorted(names)
            keep = [i for i, v in zip(keep, values) if all(c in classes for c in (v if isinstance(v, (list, tuple))
                                                                                   else [v]))]
        if self.split is not None:
            keep = keep[int(self.split[0] * len(keep)): int(self.split[1] * len(keep))]
        self.filenames = [rows[x_col][i] for i in keep]
        self._filepaths = [os.path.join(self.directory, f) for f in self.filenames]
        self.class_indices = {name: i for i, name in enumerate(classes or [])}
        self.classes = None
        self._labels = None
        if class_mode in ("binary", "sparse"):
            self.classes = np.asarray([self.class_indices[rows[y_col][i]] for i in keep], dtype="int32")
        elif class_mode == "categorical":
            self.classes = [[self.class_indices[c] for c in (rows[y_col][i] if isinstance(rows[y_col][i], (list, tuple))
                                                             else [rows[y_col][i]])] for i in keep]
        elif class_mode == "raw":
            cols = y_col if isinstance(y_col, list) else [y_col]
            values = np.asarray([[rows[c][i] for c in cols] for i in keep])
            self._labels = values if isinstance(y_col, list) else values[:, 0]
        elif class_mode == "multi_output":
            self._labels = [np.asarray([rows[c][i] for i in keep]) for c in y_col]
        self._sample_weight = (np.asarray([rows[weight_col][i] for i in keep], dtype=self.dtype)
                               if weight_col is not None else None)
        self.samples = len(self.filenames)
        print(f"Found {self.samples} validated image filenames"
              + (f" belonging to {len(self.class_indices)} classes." if self.class_indices else "."))
        super().__init__(self.samples, batch_size, shuffle, seed)

    def _targets(self, index_array, batch_x):
        if self.class_mode == "categorical":
            y = np.zeros((len(batch_x), len(self.class_indices)), self.dtype)
            for row, i in enumerate(index_array):
                y[row, self.classes[i]] = 1.0
            return (batch_x, y) if self._sample_weight is None else (batch_x, y, self._sample_weight[index_array])
        return super()._targets(index_array, batch_x)

    @property
    def labels(self):
        return self.classes if self._labels is None else self._labels
