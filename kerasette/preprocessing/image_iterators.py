"""The iterators of Keras 2's ``keras.preprocessing.image``: `Iterator` (the base, a
`kerasette.utils.Sequence`), `NumpyArrayIterator` (``ImageDataGenerator.flow``), and the iterators
over image files, `DirectoryIterator` (``flow_from_directory``) and `DataFrameIterator`
(``flow_from_dataframe``), which decode files on a shared thread pool. Re-exported by
`kerasette.preprocessing.image`.
"""

from __future__ import annotations

import concurrent.futures
import os
import threading
import warnings

import numpy as np

from kerasette.backend import random as krandom
from kerasette.backend.config import floatx, image_data_format
from kerasette.preprocessing.image_transforms import _check_choice
from kerasette.utils import image_utils
from kerasette.utils.image_utils import IMAGE_EXTENSIONS, load_img, pil_image, save_img
from kerasette.utils.sequence import Sequence


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
