"""Keras 3's ``image_dataset_from_directory``: a folder of images as batches that ``fit`` takes.

Keras 3 returns a ``tf.data.Dataset``; here the result is an `ImageDataset`, a
`kerasette.utils.Sequence` of numpy batches (``fit``, ``evaluate`` and ``predict`` take it
directly, with worker threads), that also iterates (``for x, y in dataset``) and has Keras's
``class_names`` and ``file_paths``.

Example:
    >>> import os, tempfile, numpy as np
    >>> from kerasette.utils.image_utils import save_img
    >>> root = tempfile.mkdtemp()
    >>> for name in ("cat", "dog"):
    ...     os.makedirs(os.path.join(root, name))
    ...     for i in range(3):
    ...         save_img(os.path.join(root, name, f"{i}.png"), np.full((5, 4, 3), 40 * i + 10))
    >>> ds = image_dataset_from_directory(root, image_size=(8, 8), batch_size=4, seed=1, verbose=False)
    >>> ds.class_names, len(ds), ds[0][0].shape, ds[0][1].dtype
    (['cat', 'dog'], 2, (4, 8, 8, 3), dtype('int32'))
"""

from __future__ import annotations

import concurrent.futures
import os

import numpy as np

from kerasette.utils import image_utils
from kerasette.utils.sequence import Sequence

ALLOWED_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
LABEL_MODES = ("int", "categorical", "binary", None)
INTERPOLATIONS = image_utils.RESIZE_INTERPOLATIONS


class ImageDataset(Sequence):
    """Batches of images from files (see `image_dataset_from_directory`).

    Attributes:
        class_names: the class names (label ``i`` is ``class_names[i]``), or None without labels.
        file_paths: the files, in the data set's (first epoch's) order.
    """

    def __init__(self, file_paths, labels, label_mode, num_classes, class_names, batch_size, image_size,
                 color_mode, interpolation, crop_to_aspect_ratio, pad_to_aspect_ratio, shuffle, seed):
        self.file_paths = list(file_paths)
        self._labels = labels
        self.label_mode, self.num_classes, self.class_names = label_mode, num_classes, class_names
        self.batch_size, self.image_size, self.color_mode = batch_size, image_size, color_mode
        self.interpolation = interpolation
        self.crop_to_aspect_ratio, self.pad_to_aspect_ratio = crop_to_aspect_ratio, pad_to_aspect_ratio
        self.shuffle, self.seed = shuffle, seed
        self._epoch = 0
        self._order = np.arange(len(self.file_paths))

    def __len__(self) -> int:
        if self.batch_size is None:
            return len(self.file_paths)
        return -(-len(self.file_paths) // self.batch_size)

    def on_epoch_end(self) -> None:
        """Reshuffles the samples for the next epoch (when ``shuffle``), reproducibly from ``seed``."""
        self._epoch += 1
        if self.shuffle:
            self._order = np.random.default_rng([self.seed, self._epoch]).permutation(len(self.file_paths))

    def load_image(self, path: str) -> np.ndarray:
        """One file as a float32 (height, width, channels) array at ``image_size``, values 0..255."""
        x = image_utils.decode_file(path, self.color_mode)
        height, width = self.image_size
        if self.crop_to_aspect_ratio:
            left, top, right, bottom = image_utils.aspect_crop_box(x.shape[1], x.shape[0], width, height)
            x = x[top:bottom, left:right]
        elif self.pad_to_aspect_ratio:
            left, top, padded_width, padded_height = image_utils.aspect_pad_box(x.shape[1], x.shape[0], width, height)
            x = np.pad(x, ((top, padded_height - x.shape[0] - top), (left, padded_width - x.shape[1] - left), (0, 0)))
        return image_utils.resize_array(x.astype(np.float32), self.image_size, self.interpolation)

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"ImageDataset: batch {index} asked for; there are {len(self)}")
        if self.batch_size is None:
            return self._element(self._order[index : index + 1], single=True)
        return self._element(self._order[index * self.batch_size:(index + 1) * self.batch_size], single=False)

    def _element(self, positions, single: bool):
        images = [None] * len(positions)

        def read(i):
            images[i] = self.load_image(self.file_paths[positions[i]])

        if len(positions) > 1:
            # Pillow decodes without the GIL: the batch's files are read several at a time.
            with concurrent.futures.ThreadPoolExecutor(min(len(positions), os.cpu_count() or 1)) as pool:
                list(pool.map(read, range(len(positions))))
        else:
            read(0)
        x = np.stack(images)
        if self._labels is None:
            return x[0] if single else x
        labels = self._labels[positions]
        if self.label_mode == "categorical":
            y = np.zeros((len(labels), self.num_classes), np.float32)
            y[np.arange(len(labels)), labels] = 1.0
        elif self.label_mode == "binary":
            y = labels.astype(np.float32)[:, None]
        else:
            y = labels.astype(np.int32)
        return (x[0], y[0]) if single else (x, y)

    def batch(self, batch_size: int) -> ImageDataset:
        """The same samples in batches of ``batch_size`` (for a data set made with ``batch_size=None``)."""
        copy = ImageDataset(self.file_paths, self._labels, self.label_mode, self.num_classes, self.class_names,
                            _check_batch_size(batch_size), self.image_size, self.color_mode, self.interpolation,
                            self.crop_to_aspect_ratio, self.pad_to_aspect_ratio, self.shuffle, self.seed)
        copy._order = self._order.copy()
        return copy


def _check_batch_size(batch_size):
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer))
                                   or batch_size < 1):
        raise ValueError("image_dataset_from_directory: argument `batch_size` must be a positive integer or None; "
                         f"received batch_size={batch_size!r}")
    return None if batch_size is None else int(batch_size)


def index_directory(directory: str, labels, formats, class_names, follow_links: bool, owner: str):
    """(file paths, labels, class names) of the files under ``directory``, Keras 3's way: with
    ``labels='inferred'`` each subfolder is a class (sorted by name, or in ``class_names``'s
    order) and its files, found recursively, are sorted; otherwise every file under the folder,
    sorted by path."""
    if labels == "inferred":
        subdirs = sorted(d for d in os.listdir(directory) if os.path.isdir(os.path.join(directory, d)))
        if class_names is not None:
            if sorted(class_names) != subdirs:
                raise ValueError(f"{owner}: argument `class_names` must list exactly the subfolders of the "
                                 f"directory, {subdirs}; received class_names={list(class_names)!r}")
            subdirs = list(class_names)
        paths, found = [], []
        for index, name in enumerate(subdirs):
            files = _files(os.path.join(directory, name), formats, follow_links)
            paths.extend(files)
            found.extend([index] * len(files))
        return paths, np.asarray(found, np.int64), subdirs
    return _files(directory, formats, follow_links), None, None


def _files(folder: str, formats, follow_links: bool) -> list[str]:
    out = []
    for root, _, names in os.walk(folder, followlinks=follow_links):
        out.extend(os.path.join(root, n) for n in names if n.lower().endswith(formats))
    return sorted(out)


def image_dataset_from_directory(directory, labels="inferred", label_mode="int", class_names=None,
                                 color_mode="rgb", batch_size=32, image_size=(256, 256), shuffle=True, seed=None,
                                 validation_split=None, subset=None, interpolation="bilinear", follow_links=False,
                                 crop_to_aspect_ratio=False, pad_to_aspect_ratio=False, data_format=None,
                                 verbose=True):
    """A data set of image batches from a folder (Keras 3's ``keras.utils.image_dataset_from_directory``).

    With ``labels='inferred'`` the folder holds one subfolder per class (``class_names`` fixes
    their order; default sorted by name) and images anywhere below it; ``labels`` may instead be
    a list of integer labels, one per image file in the folder sorted by path, or None for
    images only. Files with the extensions bmp, gif, jpeg, jpg and png are read.

    Each element is ``(images, labels)`` (``images`` alone without labels): images float32
    (batch, height, width, channels) with values 0..255, resized to ``image_size`` with
    ``interpolation`` ('bilinear', 'nearest', 'bicubic', 'area', 'lanczos3' or 'lanczos5';
    see `kerasette.utils.image_utils.interpolation_matrix`), after
    cropping (``crop_to_aspect_ratio``) or zero-padding (``pad_to_aspect_ratio``) to the
    target's aspect ratio when asked. ``label_mode``: 'int' (int32 indices), 'categorical'
    (one-hot float32), 'binary' (float32 (batch, 1), exactly two classes) or None.

    The samples are shuffled (``shuffle``) once at the start, before the validation split, and
    again every epoch; ``seed`` makes the order reproducible and is required with
    ``validation_split`` and shuffling so that both subsets come from the same order. The last
    ``validation_split`` of the samples is the 'validation' subset, the rest 'training';
    ``subset='both'`` returns the pair ``(training, validation)``. ``batch_size=None`` yields
    single samples (`ImageDataset.batch` groups them later).

    Args:
        directory: the folder.
        color_mode: 'grayscale', 'rgb' or 'rgba' (1, 3 or 4 channels).
        follow_links: also visit folders that symbolic links point to.
        data_format: 'channels_last' (the only layout of the batches; given for Keras's signature).
        verbose: print how many files and classes were found.
    """
    owner = "image_dataset_from_directory"
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise ValueError(f"{owner}: argument `directory` must be an existing folder; received {directory!r}")
    if not (labels in ("inferred", None) or isinstance(labels, (list, tuple, np.ndarray))):
        raise ValueError(f"{owner}: argument `labels` must be 'inferred', None, or a list or tuple of integer "
                         f"labels; received labels={labels!r}")
    if class_names is not None and labels != "inferred":
        raise ValueError(f"{owner}: argument `class_names` can only be given with labels='inferred'; received "
                         f"labels={labels!r:.60}")
    if label_mode not in LABEL_MODES:
        raise ValueError(f"{owner}: argument `label_mode` must be 'int', 'categorical', 'binary' or None; received "
                         f"label_mode={label_mode!r}")
    if labels is None or label_mode is None:  # no labels either way (Keras's rule)
        labels, label_mode = None, None
    image_utils._check_color_mode(color_mode, owner)
    batch_size = _check_batch_size(batch_size)
    image_size = image_utils._check_size(image_size, "image_size", owner)
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"{owner}: argument `interpolation` must be one of {', '.join(INTERPOLATIONS)}; received "
                         f"interpolation={interpolation!r}")
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ValueError(f"{owner}: only one of `crop_to_aspect_ratio` and `pad_to_aspect_ratio` can be True")
    if data_format not in (None, "channels_last"):
        raise ValueError(f"{owner}: argument `data_format` must be 'channels_last' (or None): the batches are "
                         f"channels-last; received data_format={data_format!r}")
    if validation_split is not None and not 0 < validation_split < 1:
        raise ValueError(f"{owner}: argument `validation_split` must be between 0 and 1 (exclusive); received "
                         f"validation_split={validation_split!r}")
    if subset not in (None, "training", "validation", "both"):
        raise ValueError(f"{owner}: argument `subset` must be 'training', 'validation', 'both' or None; received "
                         f"subset={subset!r}")
    if (validation_split is None) != (subset is None):
        raise ValueError(f"{owner}: `validation_split` and `subset` must be given together; received "
                         f"validation_split={validation_split!r}, subset={subset!r}")
    if validation_split and shuffle and seed is None:
        raise ValueError(f"{owner}: with `validation_split` and shuffle=True, give a `seed`, so that the "
                         "training and validation subsets do not overlap")
    image_utils.pil_image()

    paths, found, names = index_directory(directory, labels, ALLOWED_FORMATS, class_names, follow_links, owner)
    if isinstance(labels, (list, tuple, np.ndarray)):
        found = np.asarray(labels)
        if len(found) != len(paths):
            raise ValueError(f"{owner}: argument `labels` must have one label per image file ({len(paths)} found in "
                             f"{directory!r}); received {len(found)} labels")
        if found.dtype.kind not in "iu":
            raise ValueError(f"{owner}: argument `labels` must hold integers; received values of dtype {found.dtype}")
    num_classes = 0 if found is None else (len(names) if names is not None else int(found.max()) + 1 if len(found)
                                           else 0)
    if verbose:
        print(f"Found {len(paths)} files" + (f" belonging to {num_classes} classes." if names is not None else "."))
    if label_mode == "binary" and num_classes != 2:
        raise ValueError(f"{owner}: label_mode='binary' needs exactly 2 classes; found {num_classes} "
                         f"({names if names is not None else 'from the labels'})")
    if not paths:
        raise ValueError(f"{owner}: no images found in {directory!r} (allowed extensions: "
                         f"{', '.join(ALLOWED_FORMATS)})")
    if seed is None:
        seed = int(np.random.default_rng().integers(1_000_000))
    order = np.random.default_rng(seed).permutation(len(paths)) if shuffle else np.arange(len(paths))
    paths = [paths[i] for i in order]
    found = None if found is None or label_mode is None else found[order]

    def make(part: slice, name: str | None) -> ImageDataset:
        if verbose and name is not None:
            print(f"Using {len(paths[part])} files for {name}.")
        return ImageDataset(paths[part], None if found is None else found[part], label_mode, num_classes, names,
                            batch_size, image_size, color_mode, interpolation, crop_to_aspect_ratio,
                            pad_to_aspect_ratio, shuffle, seed)

    if subset is None:
        return make(slice(None), None)
    n_val = int(validation_split * len(paths))
    training, validation = slice(0, len(paths) - n_val), slice(len(paths) - n_val, None)
    if subset == "both":
        return make(training, "training"), make(validation, "validation")
    return make(training if subset == "training" else validation, subset)
