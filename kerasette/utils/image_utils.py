"""Images as files and arrays: `load_img`, `img_to_array`, `array_to_img`, `save_img` (Keras 2's
``keras.preprocessing.image`` and Keras 3's ``keras.utils`` functions), plus `resize_array`, the
numpy resize that `image_dataset_from_directory` and the ``Resizing`` layer share.

Files are decoded and encoded with Pillow, an optional extra (``pip install 'kerasette[image]'``);
everything else here is numpy. A PIL image is what `load_img` returns and `array_to_img` makes,
as in Keras.

Example:
    >>> import numpy as np
    >>> img = array_to_img(np.zeros((4, 6, 3)), scale=False)
    >>> img.size, img.mode
    ((6, 4), 'RGB')
    >>> img_to_array(img).shape
    (4, 6, 3)
"""

from __future__ import annotations

import io
import os
import pathlib
import warnings

import numpy as np

#: Pillow's resampling filters under Keras's interpolation names (the Image.Resampling members).
PIL_INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "hamming", "box", "lanczos")
COLOR_MODES = {"grayscale": 1, "rgb": 3, "rgba": 4}
#: File extensions that the image readers take (Keras 2's and Keras 3's lists, together).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff", ".gif")


def pil_image():
    """The ``PIL.Image`` module, or an ImportError saying how to install it."""
    try:
        from PIL import Image  # deferred: Pillow is an optional extra, needed only for files
    except ImportError:
        raise ImportError("Reading and writing image files needs Pillow, which is not installed. Install it with "
                          "`pip install 'kerasette[image]'` (or `pip install pillow`).") from None
    return Image


def _resample_filter(interpolation: str, owner: str):
    if interpolation not in PIL_INTERPOLATIONS:
        raise ValueError(f"{owner}: argument `interpolation` must be one of {', '.join(PIL_INTERPOLATIONS)}; "
                         f"received interpolation={interpolation!r}")
    return getattr(pil_image().Resampling, interpolation.upper())


def _check_color_mode(color_mode: str, owner: str) -> str:
    if color_mode not in COLOR_MODES:
        raise ValueError(f"{owner}: argument `color_mode` must be 'grayscale', 'rgb' or 'rgba'; received "
                         f"color_mode={color_mode!r}")
    return color_mode


def _check_size(size, name: str, owner: str) -> tuple[int, int]:
    try:
        height, width = (int(v) for v in size)
        if height < 1 or width < 1 or any(isinstance(v, bool) for v in size):
            raise ValueError
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: argument `{name}` must be (height, width), two positive integers; received "
                         f"{name}={size!r}") from None
    return height, width


def _normalize_data_format(data_format: str | None, owner: str) -> str:
    if data_format is None:
        return "channels_last"
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"{owner}: argument `data_format` must be 'channels_last' or 'channels_first'; received "
                         f"data_format={data_format!r}")
    return data_format


def aspect_crop_box(width: int, height: int, target_width: int, target_height: int) -> tuple[int, int, int, int]:
    """The centred (left, top, right, bottom) box of the largest part of a ``width`` x
    ``height`` image that has the target's aspect ratio (Keras's ``keep_aspect_ratio`` and
    ``crop_to_aspect_ratio``)."""
    crop_height = min(height, (width * target_height) // target_width)
    crop_width = min(width, (height * target_width) // target_height)
    top, left = (height - crop_height) // 2, (width - crop_width) // 2
    return left, top, left + crop_width, top + crop_height


def aspect_pad_box(width: int, height: int, target_width: int, target_height: int) -> tuple[int, int, int, int]:
    """(left, top, padded width, padded height): the smallest canvas with the target's aspect ratio
    that holds a ``width`` x ``height`` image, and where the image sits in it, centred (Keras 3's
    ``pad_to_aspect_ratio``)."""
    padded_height = max(height, int(width * target_height / target_width))
    padded_width = max(width, int(height * target_width / target_height))
    return (padded_width - width) // 2, (padded_height - height) // 2, padded_width, padded_height


def load_img(path, grayscale: bool = False, color_mode: str = "rgb", target_size=None,
             interpolation: str = "nearest", keep_aspect_ratio: bool = False):
    """Loads an image file as a PIL image.

    Keras's semantics: the image is converted to ``color_mode`` ('grayscale' gives an 8-bit 'L'
    image unless the file is already 16- or 32-bit grayscale; 'rgb'; 'rgba'), then resized to
    ``target_size`` (height, width) when it has another size, with Pillow's ``interpolation``
    filter. ``keep_aspect_ratio`` first crops the centred box with the target's aspect ratio, so
    the picture is not stretched.

    Args:
        path: a file path (str or path-like) or a binary file object (``io.BytesIO``).
        grayscale: Keras 1/2's older form of ``color_mode='grayscale'`` (deprecated).
        color_mode: 'grayscale', 'rgb' or 'rgba'.
        target_size: None (the file's size) or (height, width).
        interpolation: 'nearest', 'bilinear', 'bicubic', 'hamming', 'box' or 'lanczos'.
        keep_aspect_ratio: crop to the target's aspect ratio before resizing.
    """
    owner = "load_img"
    if grayscale:
        warnings.warn("load_img: grayscale=True is deprecated; use color_mode='grayscale'", DeprecationWarning,
                      stacklevel=2)
        color_mode = "grayscale"
    _check_color_mode(color_mode, owner)
    image_module = pil_image()
    if isinstance(path, io.BytesIO) or hasattr(path, "read"):
        img = image_module.open(path)
    elif isinstance(path, (str, os.PathLike)):
        with open(path, "rb") as f:
            img = image_module.open(io.BytesIO(f.read()))
    else:
        raise TypeError(f"{owner}: argument `path` must be a path or a binary file object; received "
                        f"{type(path).__name__}")
    if color_mode == "grayscale":
        if img.mode not in ("L", "I;16", "I"):
            img = img.convert("L")
    elif color_mode == "rgba":
        if img.mode != "RGBA":
            img = img.convert("RGBA")
    elif img.mode != "RGB":
        img = img.convert("RGB")
    if target_size is not None:
        height, width = _check_size(target_size, "target_size", owner)
        resample = _resample_filter(interpolation, owner)
        if img.size != (width, height):
            box = aspect_crop_box(img.size[0], img.size[1], width, height) if keep_aspect_ratio else None
            img = img.resize((width, height), resample, box=box)
    return img


def img_to_array(img, data_format: str | None = None, dtype: str | None = None) -> np.ndarray:
    """A PIL image (or anything ``np.asarray`` takes) as a 3-D array: (rows, cols, channels), or
    (channels, rows, cols) for ``data_format='channels_first'``; a 2-D image gets one channel.

    Args:
        img: a PIL image.
        data_format: 'channels_last' (default) or 'channels_first'.
        dtype: default 'float32'.
    """
    data_format = _normalize_data_format(data_format, "img_to_array")
    x = np.asarray(img, dtype=dtype or "float32")
    if x.ndim == 3:
        return x.transpose(2, 0, 1) if data_format == "channels_first" else x
    if x.ndim == 2:
        return x[None] if data_format == "channels_first" else x[..., None]
    raise ValueError(f"img_to_array: an image must have 2 or 3 dimensions; received an array of shape {x.shape}")


def array_to_img(x, data_format: str | None = None, scale: bool = True, dtype: str | None = None):
    """A 3-D array as a PIL image: 3 channels 'RGB', 4 'RGBA', 1 'L' (8-bit), or 'I' (32-bit
    integers) when a single channel holds values above 255.

    Args:
        x: (rows, cols, channels), or (channels, rows, cols) with ``data_format='channels_first'``.
        data_format: 'channels_last' (default) or 'channels_first'.
        scale: stretch the values to 0..255 first (minimum to 0, maximum to 255), as Keras does.
        dtype: the array's working dtype (default 'float32').
    """
    owner = "array_to_img"
    data_format = _normalize_data_format(data_format, owner)
    x = np.array(x, dtype=dtype or "float32")
    if x.ndim != 3:
        raise ValueError(f"{owner}: expected an image array of rank 3 (one image); received an array of shape "
                         f"{x.shape}")
    if data_format == "channels_first":
        x = x.transpose(1, 2, 0)
    if scale:
        x = x - np.min(x)
        top = np.max(x)
        if top != 0:
            x /= top
        x *= 255
    image_module = pil_image()
    channels = x.shape[2]
    if channels == 4:
        return image_module.fromarray(x.astype("uint8"), "RGBA")
    if channels == 3:
        return image_module.fromarray(x.astype("uint8"), "RGB")
    if channels == 1:
        if np.max(x) > 255:
            return image_module.fromarray(x[:, :, 0].astype("int32"), "I")
        return image_module.fromarray(x[:, :, 0].astype("uint8"), "L")
    raise ValueError(f"{owner}: an image must have 1, 3 or 4 channels; received {channels} (array of shape "
                     f"{x.shape}, data_format={data_format!r})")


def save_img(path, x, data_format: str | None = None, file_format: str | None = None, scale: bool = True,
             **kwargs) -> None:
    """Saves a 3-D array as an image file (through `array_to_img`).

    Args:
        path: a file path or a binary file object.
        x: the image array.
        data_format: 'channels_last' (default) or 'channels_first'.
        file_format: 'png', 'jpeg', ...; default from the path's extension.
        scale: stretch the values to 0..255 first (see `array_to_img`).
        **kwargs: passed to Pillow's ``Image.save`` (``quality=95`` for a JPEG, say).
    """
    if file_format is None and isinstance(path, (str, os.PathLike)):
        file_format = pathlib.Path(path).suffix[1:].lower() or None
    if file_format is not None and file_format.lower() == "jpg":
        file_format = "jpeg"
    img = array_to_img(x, data_format=data_format, scale=scale)
    if img.mode == "RGBA" and file_format == "jpeg":
        warnings.warn("save_img: the JPEG format does not keep an alpha channel; it is dropped", stacklevel=2)
        img = img.convert("RGB")
    img.save(path, format=file_format, **kwargs)


def decode_file(path: str, color_mode: str) -> np.ndarray:
    """An image file as a (rows, cols, channels) uint8 array in ``color_mode`` (no resizing)."""
    img = load_img(path, color_mode=color_mode)
    x = np.asarray(img)
    if x.dtype != np.uint8:
        x = x.astype(np.float32)
    return x if x.ndim == 3 else x[:, :, None]


# -- resizing in numpy ----------------------------------------------------------------------------
RESIZE_INTERPOLATIONS = ("bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5")


def _keys_cubic(t, a=-0.75):
    """Keys' cubic convolution kernel (``a = -0.75``, as PyTorch's bicubic, Keras 3's torch backend)."""
    t = np.abs(t)
    near = ((a + 2) * t - (a + 3)) * t * t + 1
    far = ((a * t - 5 * a) * t + 8 * a) * t - 4 * a
    return np.where(t <= 1, near, np.where(t < 2, far, 0.0))


def _signal_matrix(span: int, new: int, interpolation: str) -> np.ndarray:
    """(new, span) float64: the resize of a signal of ``span`` samples to ``new``.

    'bilinear', 'nearest' and 'bicubic' sample input position ``(i + 0.5) * span / new - 0.5``
    (half-pixel centres): two neighbours, the nearest pixel (``floor((i + 0.5) * span / new)``),
    or four neighbours with Keys' cubic weights, indices clamped to the edge (PyTorch's
    bicubic). 'area' averages the input over the output pixel's extent, weighting partly covered
    pixels by their overlap; 'lanczos3' / 'lanczos5' weight the pixels within 3 / 5 of the sample
    position by the Lanczos kernel, renormalised over the pixels that exist (TensorFlow's
    definitions of these three, which Keras 3 uses; no antialiasing).
    """
    out = np.zeros((new, span))
    rows = np.arange(new)
    scale = span / new
    if interpolation == "nearest":
        out[rows, np.minimum(np.floor((rows + 0.5) * scale).astype(np.intp), span - 1)] = 1.0
    elif interpolation == "bilinear":
        pos = np.clip((rows + 0.5) * scale - 0.5, 0, span - 1)
        low = np.floor(pos).astype(np.intp)
        np.add.at(out, (rows, low), 1 - (pos - low))
        np.add.at(out, (rows, np.minimum(low + 1, span - 1)), pos - low)
    elif interpolation == "bicubic":
        pos = (rows + 0.5) * scale - 0.5
        base = np.floor(pos).astype(np.intp)
        for tap in range(-1, 3):
            np.add.at(out, (rows, np.clip(base + tap, 0, span - 1)), _keys_cubic(pos - (base + tap)))
    elif interpolation == "area":
        for i in range(new):
            low, high = i * scale, (i + 1) * scale
            for k in range(int(np.floor(low)), min(int(np.ceil(high)), span)):
                out[i, k] = max(0.0, min(high, k + 1) - max(low, k))
        out /= scale
    else:  # lanczos3, lanczos5
        radius = int(interpolation[-1])
        centre = (rows + 0.5) * scale
        pixels = np.arange(span) + 0.5
        t = centre[:, None] - pixels[None, :]
        out = np.where(np.abs(t) < radius, np.sinc(t) * np.sinc(t / radius), 0.0)
        out /= out.sum(axis=1, keepdims=True)
    return out


def interpolation_matrix(size: int, new: int, interpolation: str, offset: int = 0, span: int | None = None):
    """(new, size) float64 matrix resizing a signal of ``span`` samples (default ``size``) to
    ``new`` (see `_signal_matrix`); sample ``k`` of that signal is input pixel ``k - offset`` (a
    crop has a negative offset, a padding a positive one). Columns of pixels outside the signal
    are left out, so rows that read padding sum to less than 1."""
    span = size if span is None else span
    signal = _signal_matrix(span, new, interpolation)
    out = np.zeros((new, size))
    first, last = max(0, -offset), min(size, span - offset)
    if last > first:
        out[:, first:last] = signal[:, first + offset:last + offset]
    return out


def _axis_sampling(size: int, new: int):
    """Source indices (two neighbours) and the weight of the second, for half-pixel-centred
    sampling of ``new`` points over ``size``: output ``i`` reads input ``(i + 0.5) * size / new - 0.5``."""
    pos = (np.arange(new, dtype=np.float64) + 0.5) * (size / new) - 0.5
    pos = np.clip(pos, 0.0, size - 1)
    low = np.floor(pos).astype(np.intp)
    high = np.minimum(low + 1, size - 1)
    return low, high, pos - low


def resize_array(x: np.ndarray, size: tuple[int, int], interpolation: str = "bilinear",
                 data_format: str = "channels_last") -> np.ndarray:
    """Resizes images (rows, cols, channels) or a batch (n, rows, cols, channels) to ``size``.

    The sampling is Keras 3's (half-pixel centres, no antialiasing): output pixel ``i`` reads
    input position ``(i + 0.5) * in / out - 0.5``, bilinear between its two neighbours, or for
    'nearest' the pixel ``floor((i + 0.5) * in / out)``; 'bicubic', 'area', 'lanczos3' and
    'lanczos5' apply the matrices of `interpolation_matrix`. Float inputs keep their dtype;
    others become float32.
    """
    if interpolation not in RESIZE_INTERPOLATIONS:
        raise ValueError(f"resize: argument `interpolation` must be one of {', '.join(RESIZE_INTERPOLATIONS)}; "
                         f"received interpolation={interpolation!r}")
    x = np.asarray(x)
    if x.dtype.kind != "f":
        x = x.astype(np.float32)
    rows_axis = x.ndim - (2 if data_format == "channels_first" else 3)
    height, width = int(size[0]), int(size[1])
    rows, cols = x.shape[rows_axis], x.shape[rows_axis + 1]
    if (rows, cols) == (height, width):
        return x.copy()
    if interpolation not in ("bilinear", "nearest"):
        a_rows = interpolation_matrix(rows, height, interpolation).astype(x.dtype)
        a_cols = interpolation_matrix(cols, width, interpolation).astype(x.dtype)
        y = np.moveaxis(np.tensordot(a_rows, x, axes=([1], [rows_axis])), 0, rows_axis)
        return np.moveaxis(np.tensordot(a_cols, y, axes=([1], [rows_axis + 1])), 0, rows_axis + 1)
    if interpolation == "nearest":
        r = np.minimum(np.floor((np.arange(height) + 0.5) * (rows / height)).astype(np.intp), rows - 1)
        c = np.minimum(np.floor((np.arange(width) + 0.5) * (cols / width)).astype(np.intp), cols - 1)
        return np.take(np.take(x, r, axis=rows_axis), c, axis=rows_axis + 1)
    shape = [1] * x.ndim
    r0, r1, wr = _axis_sampling(rows, height)
    shape[rows_axis] = height
    wr = wr.astype(x.dtype).reshape(shape)
    top, bottom = np.take(x, r0, axis=rows_axis), np.take(x, r1, axis=rows_axis)
    x = top + (bottom - top) * wr
    c0, c1, wc = _axis_sampling(cols, width)
    shape[rows_axis] = 1
    shape[rows_axis + 1] = width
    wc = wc.astype(x.dtype).reshape(shape)
    left, right = np.take(x, c0, axis=rows_axis + 1), np.take(x, c1, axis=rows_axis + 1)
    return left + (right - left) * wc


def smart_resize(x, size, interpolation: str = "bilinear", data_format: str = "channels_last") -> np.ndarray:
    """Resizes an image (rank 3) or a batch (rank 4) to ``size`` (height, width) without
    distorting it: the largest centred window with the target's aspect ratio is cut out first,
    then resized with `resize_array` (Keras's ``smart_resize``)."""
    x = np.asarray(x)
    if x.ndim not in (3, 4):
        raise ValueError(f"smart_resize: expected an image of rank 3 or a batch of rank 4; received an array of "
                         f"shape {x.shape}")
    height, width = _check_size(size, "size", "smart_resize")
    rows_axis = x.ndim - (2 if data_format == "channels_first" else 3)
    rows, cols = x.shape[rows_axis], x.shape[rows_axis + 1]
    left, top, right, bottom = aspect_crop_box(cols, rows, width, height)
    index = [slice(None)] * x.ndim
    index[rows_axis], index[rows_axis + 1] = slice(top, bottom), slice(left, right)
    return resize_array(x[tuple(index)], (height, width), interpolation, data_format)
