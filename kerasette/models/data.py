"""Small pure helpers for the fit loop: checking, splitting, shuffling and batching arrays."""

from __future__ import annotations

import numpy as np

from kerasette.utils.validation import shape_str


def as_list(x) -> list:
    if x is None:
        return []
    return list(x) if isinstance(x, (list, tuple)) else [x]


def check_arrays(model_name: str, kind: str, arrays: list[np.ndarray], shapes: list) -> list[np.ndarray]:
    """Converts to ndarrays and checks each against the model's declared shape."""
    if len(arrays) != len(shapes):
        raise ValueError(
            f"Model '{model_name}' expects {len(shapes)} {kind} array(s), received {len(arrays)}"
        )
    out = []
    for i, (array, shape) in enumerate(zip(arrays, shapes)):
        array = np.asarray(array)
        if shape is not None:
            expected = tuple(shape[1:])
            ok = array.ndim == len(shape) and all(e is None or e == a for e, a in zip(expected, array.shape[1:]))
            if not ok:
                which = f" {i}" if len(shapes) > 1 else ""
                raise ValueError(
                    f"Model '{model_name}': {kind}{which} has shape {shape_str(array.shape)} but the "
                    f"model expects {shape_str(shape)} (batch axis first). Check `input_shape` and "
                    "`data_format`."
                )
        out.append(array)
    return out


def check_targets(model_name: str, ys: list[np.ndarray], output_shapes: list, loss_names: list[str],
                  target_kinds: list[str | None]) -> list[np.ndarray]:
    """Makes 1-D targets (n, 1), as Keras does, and checks each against its output's shape.

    Without this, targets of shape (n,) against outputs of shape (n, 1) would broadcast to
    (n, n) inside the loss and give a wrong loss without any error. Sparse losses take integer
    labels (one fewer axis, or a last axis of 1) and custom losses may take anything, so only
    losses that declare dense targets (``target_kinds``, see `kerasette.losses`) are checked.
    """
    out = []
    for i, (y, shape, loss, kind) in enumerate(zip(ys, output_shapes, loss_names, target_kinds, strict=True)):
        if y.ndim == 1:
            y = y[:, None]
        if shape is not None and kind == "dense":
            expected = tuple(shape[1:])
            ok = y.ndim == len(shape) and all(e is None or e == a for e, a in zip(expected, y.shape[1:], strict=True))
            if not ok:
                which = f" {i}" if len(ys) > 1 else ""
                raise ValueError(
                    f"Model '{model_name}': target{which} has shape {shape_str(y.shape)} but the model's "
                    f"output has shape {shape_str(shape)} (loss '{loss}'). For integer class labels use "
                    "loss='sparse_categorical_crossentropy' or one-hot encode them with to_categorical."
                )
        out.append(y)
    return out


def check_lengths(xs: list[np.ndarray], ys: list[np.ndarray]) -> int:
    """The common number of samples, or a ValueError naming both lengths."""
    lengths = {len(a) for a in xs + ys}
    if len(lengths) > 1:
        raise ValueError(
            "x and y must have the same number of samples; received x with "
            f"{[len(a) for a in xs]} and y with {[len(a) for a in ys]} samples"
        )
    return lengths.pop() if lengths else 0


def split_validation(arrays: list[np.ndarray], fraction: float) -> tuple[list, list]:
    """Keras's ``validation_split``: the last ``fraction`` of the samples, before shuffling."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation_split must be in (0, 1); received {fraction!r}")
    n = len(arrays[0])
    cut = int(n * (1.0 - fraction))
    if cut == 0 or cut == n:
        raise ValueError(f"validation_split={fraction} leaves no samples for training or validation ({n} samples)")
    return [a[:cut] for a in arrays], [a[cut:] for a in arrays]


def batch_slices(n: int, batch_size: int) -> list[slice]:
    """Consecutive slices of ``batch_size`` covering ``range(n)`` (the last one may be short)."""
    return [slice(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]


def check_batch_size(batch_size) -> int:
    if batch_size is None:
        return 32
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive integer; received batch_size={batch_size!r}")
    return int(batch_size)


def sample_weights(sample_weight, class_weight, ys: list[np.ndarray], n: int) -> np.ndarray | None:
    """One weight per sample from ``sample_weight`` and ``class_weight`` (multiplied when both
    are given), or None for unweighted training. ``sample_weight`` may also hold one weight per
    sample and step, shape (samples, steps), for outputs with one loss value per step (Keras 2's
    ``sample_weight_mode='temporal'``; Keras 3 takes them as given).

    A class is a one-hot row's arg-max, or a label's value (integer labels, or a single column
    rounded, as Keras 3 reads binary targets); classes ``class_weight`` does not name weigh 1.

    Example:
        >>> sample_weights(None, {0: 1.0, 1: 3.0}, [np.array([[0], [1], [1]])], 3)
        array([1., 3., 3.], dtype=float32)
    """
    weights = None
    if sample_weight is not None:
        weights = np.asarray(sample_weight, dtype="float32")
        if weights.ndim == 2 and weights.shape[1] == 1:
            weights = weights[:, 0]
        if weights.ndim not in (1, 2) or weights.shape[0] != n:
            raise ValueError(f"sample_weight must hold one weight per sample, shape ({n},); received shape "
                             f"{weights.shape}")
    if class_weight is not None:
        if not isinstance(class_weight, dict):
            raise TypeError(f"class_weight must be a dict {{class: weight}}; received {type(class_weight).__name__}")
        if len(ys) != 1:
            raise ValueError(f"class_weight is supported for models with one output; this one has {len(ys)} "
                             "(give sample_weight instead)")
        y = np.asarray(ys[0])
        labels = y.argmax(axis=-1) if y.ndim > 1 and y.shape[-1] > 1 else np.rint(y.reshape(len(y))).astype(int)
        by_class = {int(k): float(v) for k, v in class_weight.items()}
        factors = np.array([by_class.get(int(c), 1.0) for c in labels], dtype="float32")
        weights = factors if weights is None else weights * factors.reshape((n,) + (1,) * (weights.ndim - 1))
    return weights
