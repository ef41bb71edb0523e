"""The image transforms of Keras 2's ``keras.preprocessing.image``: the affine matrix of a rotation,
shift, shear and zoom (`transform_matrix`), its application to one image or a whole batch, flips,
channel and brightness shifts, the ``random_*`` functions, and the argument checks the generator
and its iterators share. Re-exported by `kerasette.preprocessing.image`.
"""

from __future__ import annotations

import threading

import numpy as np

from kerasette.backend import random as krandom

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
