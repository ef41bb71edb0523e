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

import warnings

import numpy as np

from kerasette.backend import random as krandom
from kerasette.backend.config import floatx, image_data_format
from kerasette.preprocessing.image_iterators import (
    DataFrameIterator,
    DirectoryIterator,
    Iterator,
    NumpyArrayIterator,
)
from kerasette.preprocessing.image_transforms import (
    _GEOMETRY,
    FILL_MODES,
    _brightness_batch,
    _check_choice,
    _check_order,
    _check_range,
    _resample,
    apply_affine_transform,
    apply_brightness_shift,
    apply_channel_shift,
    flip_axis,
    random_brightness,
    random_channel_shift,
    random_rotation,
    random_shear,
    random_shift,
    random_zoom,
    transform_matrix,
)
from kerasette.utils.image_utils import array_to_img, img_to_array, load_img, save_img, smart_resize

__all__ = ["DataFrameIterator", "DirectoryIterator", "ImageDataGenerator", "Iterator", "NumpyArrayIterator",
           "apply_affine_transform", "apply_brightness_shift", "apply_channel_shift", "array_to_img", "flip_axis",
           "img_to_array", "load_img", "random_brightness", "random_channel_shift", "random_rotation",
           "random_shear", "random_shift", "random_zoom", "save_img", "smart_resize", "transform_matrix"]


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
