"""Windows over a time series as training batches: Keras 3's `timeseries_dataset_from_array` and
Keras 2's `TimeseriesGenerator`.

Both cut windows of ``sequence_length``/``length`` steps (every ``sampling_rate``-th step) from
``data`` and pair each with a target; they differ in which target: Keras 3's function pairs the
window starting at step ``i`` with ``targets[i]`` (so ``targets=data[L:]`` predicts the step after
the window), Keras 2's generator pairs the window *ending before* step ``i`` with
``targets[i]``. A batch's windows are copied whole out of a strided view of all windows
(`window_view`), several times faster than slicing them one by one.
"""

from __future__ import annotations

import json

import numpy as np

from kerasette.utils.dataset_utils import BatchDataset
from kerasette.utils.sequence import Sequence


def window_view(array: np.ndarray, length: int, rate: int) -> np.ndarray:
    """A read-only view of every window of ``array`` (steps along axis 0): entry ``k`` is
    ``array[k : k + (length - 1) * rate + 1 : rate]``, for each ``k`` whose window fits. Taking
    a batch of windows from it (``view[starts]``) copies whole windows, several times faster than
    gathering their steps one index at a time."""
    count = max(len(array) - (length - 1) * rate, 0)
    return np.lib.stride_tricks.as_strided(array, shape=(count, length) + array.shape[1:],
                                           strides=(array.strides[0], array.strides[0] * rate) + array.strides[1:],
                                           writeable=False)


def _check_positive_below(name: str, value, length: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"timeseries_dataset_from_array: {name} must be a positive integer; received {value!r}")
    if value >= length:
        raise ValueError(f"timeseries_dataset_from_array: {name} must be lower than the length of the data; "
                         f"received {name}={value} for data of length {length}")


def timeseries_dataset_from_array(data, targets, sequence_length: int, sequence_stride: int = 1,
                                  sampling_rate: int = 1, batch_size: int | None = 128, shuffle: bool = False,
                                  seed: int | None = None, start_index: int | None = None,
                                  end_index: int | None = None,
                                  format: str = "tf") -> BatchDataset:  # noqa: A002 - Keras's argument name
    """Sliding windows over ``data`` as a data set of numpy batches (Keras 3's function).

    Window ``k`` starts at step ``s_k = start_index + k * sequence_stride`` and holds steps
    ``s_k, s_k + sampling_rate, ..., s_k + (sequence_length - 1) * sampling_rate``; its target is
    ``targets[s_k]``. Windows lie within ``data[start_index:end_index]``; with ``targets``, there
    are at most ``len(targets)`` of them (counted from ``start_index``).

    Args:
        data: an array (or array-like) of time steps along axis 0.
        targets: per-step targets, or None (batches are then windows only, for ``predict``).
        sequence_length: steps per window.
        sequence_stride: steps between the starts of consecutive windows.
        sampling_rate: steps between the steps taken within a window.
        batch_size: windows per batch; None: single windows without a batch axis.
        shuffle: shuffle the windows: the first epoch in Keras's order
            (``np.random.RandomState(seed)`` shuffles the start positions), then a new order
            every epoch.
        seed: the shuffle's seed.
        start_index, end_index: the part of ``data`` (``end_index`` exclusive) windows come from.
        format: Keras's ``"tf"`` or ``"grain"``: accepted and ignored (the result is always a
            `BatchDataset`).

    Returns:
        A `BatchDataset` of ``(windows, targets)`` batches (windows alone without targets):
        windows of shape ``(batch, sequence_length) + data.shape[1:]``.

    Example:
        >>> ds = timeseries_dataset_from_array(np.arange(10), None, sequence_length=3, batch_size=4)
        >>> [b.tolist() for b in ds][0]
        [[0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5]]
    """
    where = "timeseries_dataset_from_array"
    length = len(data)
    if start_index:
        if start_index < 0:
            raise ValueError(f"{where}: start_index must be 0 or greater; received {start_index}")
        if start_index >= length:
            raise ValueError(f"{where}: start_index must be lower than the length of the data; received "
                             f"start_index={start_index} for data of length {length}")
    if end_index:
        if start_index and end_index <= start_index:
            raise ValueError(f"{where}: end_index must be higher than start_index; received start_index="
                             f"{start_index}, end_index={end_index}")
        if end_index >= length:
            raise ValueError(f"{where}: end_index must be lower than the length of the data; received "
                             f"end_index={end_index} for data of length {length}")
        if end_index <= 0:
            raise ValueError(f"{where}: end_index must be higher than 0; received {end_index}")
    _check_positive_below("sampling_rate", sampling_rate, length)
    _check_positive_below("sequence_stride", sequence_stride, length)
    if isinstance(sequence_length, bool) or not isinstance(sequence_length, (int, np.integer)) or sequence_length < 1:
        raise ValueError(f"{where}: sequence_length must be a positive integer; received {sequence_length!r}")
    if format not in ("tf", "grain"):
        raise ValueError(f"{where}: format must be 'tf' or 'grain'; received {format!r}")
    start = start_index or 0
    end = end_index if end_index is not None else length
    n_windows = end - start - (sequence_length - 1) * sampling_rate
    if targets is not None:
        n_windows = min(n_windows, len(targets))
    starts = np.arange(0, max(n_windows, 0), sequence_stride, dtype=np.int64)
    if seed is None and shuffle:
        seed = np.random.randint(1_000_000)
    first_order = None
    if shuffle:  # Keras permutes the start positions themselves with this generator
        first_order = np.arange(len(starts))
        np.random.RandomState(seed).shuffle(first_order)
    windows_of = window_view(np.asarray(data), sequence_length, sampling_rate)
    target_array = None if targets is None else np.asarray(targets)

    def fetch(windows):
        first = start + starts[windows]
        x = windows_of[first]
        return x if target_array is None else (x, target_array[first])

    return BatchDataset(len(starts), fetch, batch_size, shuffle=shuffle, seed=seed, first_order=first_order)


class TimeseriesGenerator(Sequence):
    """Keras 2's windows over a time series, a `Sequence` of ``(samples, targets)`` batches.

    The sample for step ``i`` is ``data[i - length:i:sampling_rate]`` (the ``length`` steps before
    ``i``), its target ``targets[i]``; the steps ``i`` run from ``start_index + length`` to
    ``end_index`` (inclusive) every ``stride`` steps.

    Args:
        data: indexable time steps (a list or an array).
        targets: per-step targets, of the same length as ``data``.
        length: steps of history per sample.
        sampling_rate: take every ``sampling_rate``-th step of the history.
        stride: steps between consecutive samples.
        start_index, end_index: the first usable history step, the last target step (default
            ``len(data) - 1``).
        shuffle: each batch is ``batch_size`` steps drawn at random with replacement, from
            numpy's global generator (as Keras 2, so ``np.random.seed`` reproduces its batches).
        reverse: history steps in reverse order.
        batch_size: samples per batch.

    Example:
        >>> g = TimeseriesGenerator(np.arange(6), np.arange(6), length=2, batch_size=2)
        >>> len(g), g[0][0].tolist(), g[0][1].tolist()
        (2, [[0, 1], [1, 2]], [2, 3])
    """

    def __init__(self, data, targets, length: int, sampling_rate: int = 1, stride: int = 1, start_index: int = 0,
                 end_index: int | None = None, shuffle: bool = False, reverse: bool = False, batch_size: int = 128):
        if len(data) != len(targets):
            raise ValueError(f"TimeseriesGenerator: data and targets must have the same length; received data of "
                             f"length {len(data)} and targets of length {len(targets)}")
        for name, value in (("length", length), ("sampling_rate", sampling_rate), ("stride", stride),
                            ("batch_size", batch_size)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"TimeseriesGenerator: {name} must be a positive integer; received {value!r}")
        if start_index < 0:
            raise ValueError(f"TimeseriesGenerator: start_index must be 0 or greater; received {start_index}")
        self.data, self.targets = data, targets
        self.length, self.sampling_rate, self.stride = length, sampling_rate, stride
        self.start_index = start_index + length
        self.end_index = len(data) - 1 if end_index is None else end_index
        self.shuffle, self.reverse, self.batch_size = shuffle, reverse, batch_size
        if self.start_index > self.end_index:
            raise ValueError(f"TimeseriesGenerator: start_index + length = {self.start_index} is beyond end_index = "
                             f"{self.end_index}: no step would be left to predict")
        self._targets = np.asarray(targets)
        self._steps = -(-length // sampling_rate)  # the history slice's length, ceil(length / sampling_rate)
        self._windows = window_view(np.asarray(data), self._steps, sampling_rate)

    def __len__(self) -> int:
        span = self.batch_size * self.stride
        return (self.end_index - self.start_index + span) // span

    def _rows(self, index: int) -> np.ndarray:
        if self.shuffle:
            return np.random.randint(self.start_index, self.end_index + 1, size=self.batch_size)
        first = self.start_index + self.batch_size * self.stride * index
        return np.arange(first, min(first + self.batch_size * self.stride, self.end_index + 1), self.stride)

    def __getitem__(self, index: int):
        rows = self._rows(index)
        samples = self._windows[rows - self.length]  # data[row - length:row:sampling_rate] for each row
        targets = self._targets[rows]
        if self.reverse:
            return samples[:, ::-1, ...], targets
        return samples, targets

    def get_config(self) -> dict:
        """Keras 2's config: the data and targets as JSON strings (the stored ``start_index``
        includes ``length``, as Keras 2 stores it)."""
        def as_json(values, name):
            values = values.tolist() if isinstance(values, np.ndarray) else values
            try:
                return json.dumps(values)
            except TypeError as exc:
                raise TypeError(f"TimeseriesGenerator: {name} cannot be written as JSON") from exc
        return {"data": as_json(self.data, "data"), "targets": as_json(self.targets, "targets"),
                "length": self.length, "sampling_rate": self.sampling_rate, "stride": self.stride,
                "start_index": self.start_index, "end_index": self.end_index, "shuffle": self.shuffle,
                "reverse": self.reverse, "batch_size": self.batch_size}

    def to_json(self, **kwargs) -> str:
        """Keras 2's JSON of the generator; ``kwargs`` go to ``json.dumps``."""
        return json.dumps({"class_name": type(self).__name__, "config": self.get_config()}, **kwargs)


def timeseries_generator_from_json(json_string: str) -> TimeseriesGenerator:
    """A `TimeseriesGenerator` from its JSON (Keras 2's function, with its behaviour: the stored
    ``start_index`` already includes ``length`` and is used as the new generator's
    ``start_index``)."""
    config = dict(json.loads(json_string)["config"])
    config["data"] = json.loads(config.pop("data"))
    config["targets"] = json.loads(config.pop("targets"))
    return TimeseriesGenerator(**config)


__all__ = ["TimeseriesGenerator", "timeseries_dataset_from_array", "timeseries_generator_from_json"]
