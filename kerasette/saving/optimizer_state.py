"""The ``optimizer_weights`` group: the iteration count and the slots (momentum, ...).

Written in Keras 3's order and naming (``sgd/iteration``, ``sgd/learning_rate``, then each
trainable variable's slots, variable by variable), which Keras 3's ``load_model`` restores.
Read from Keras 1 (``[iterations] + slots``), Keras 2 (slots grouped by kind: all ``m``, then
all ``v``), tf.keras 2 and Keras 3 files as well as kerasette's own.
"""

from __future__ import annotations

import re
import warnings

import numpy as np

from kerasette.saving.errors import CheckpointError
from kerasette.saving.hdf5_io import write_str_list_attr

# kerasette slot name -> Keras 3's name for the same state.
KERAS3_SLOT_NAMES = {"momentum": "momentum", "m": "momentum", "v": "velocity", "rms": "velocity"}
MAX_ITERATIONS = 2**62


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        count = seen.get(name, 0)
        seen[name] = count + 1
        out.append(name if count == 0 else f"{name}_{count}")
    return out


def write_optimizer_weights(h5file, model) -> None:
    """Writes ``optimizer_weights`` for ``model.optimizer`` (nothing if it keeps no state API)."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not hasattr(optimizer, "get_state"):
        return
    variables = model.trainable_weights
    iterations, state = optimizer.get_state(variables)
    prefix = re.sub(r"[^A-Za-z0-9_.-]", "_", str(getattr(optimizer, "name", "optimizer")) or "optimizer")
    slot_names = list(getattr(optimizer, "slot_names", ()))
    names = [f"{prefix}/iteration", f"{prefix}/learning_rate"]
    values = [np.asarray(iterations, dtype=np.int64),
              np.asarray(getattr(optimizer, "learning_rate", 0.0), dtype=np.float32)]
    if len(state) == len(variables) * len(slot_names):
        for i, (_, array) in enumerate(state):
            var, slot = variables[i // len(slot_names)], slot_names[i % len(slot_names)]
            var_name = var.name.replace("/", "_").replace(":", "_")
            names.append(f"{prefix}/{model.name}_{var_name}_{KERAS3_SLOT_NAMES.get(slot, slot)}")
            values.append(array)
    else:
        names.extend(f"{prefix}/{name.replace('/', '_')}" for name, _ in state)
        values.extend(array for _, array in state)
    names = _unique(names)
    group = h5file.create_group("optimizer_weights")
    write_str_list_attr(group, "weight_names", names)
    for name, value in zip(names, values, strict=True):
        group.create_dataset(name, data=value)


def _basename(name: str) -> str:
    return name.rsplit("/", 1)[-1].split(":", 1)[0].lower()


def _split(arrays: list[tuple[str, np.ndarray]]) -> tuple[int | None, list[tuple[str, np.ndarray]]]:
    """(iterations or None, the slot arrays): scalars are counters and learning rates."""
    iterations, slots, scalars = None, [], []
    for name, value in arrays:
        if value.ndim == 0:
            scalars.append((name, value))
        else:
            slots.append((name, value))
    named = [v for n, v in scalars if _basename(n) in ("iteration", "iterations")]
    unnamed = [v for n, v in scalars if _basename(n) not in ("learning_rate", "lr", "decay", "momentum")]
    chosen = named[0] if named else (unnamed[0] if unnamed else None)
    if chosen is not None:
        iterations = chosen.item()
    return iterations, slots


def _valid_iterations(value, path) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise CheckpointError(f"optimizer_weights: the iteration count {value!r} is not a number", path) from None
    if not np.isfinite(number) or number < 0 or number > MAX_ITERATIONS or number != int(number):
        raise CheckpointError(f"optimizer_weights: the iteration count {value!r} is not a count", path)
    return int(number)


def _ordered(slots, variables, slot_names, converters) -> list[np.ndarray] | None:
    """The slot arrays in kerasette's order (variable-major), trying variable-major then
    kind-major (Keras 1/2 Adam: every m, then every v) in the file; None if neither fits."""
    n_vars, n_kinds = len(variables), len(slot_names)
    if len(slots) != n_vars * n_kinds:
        return None
    for kind_major in (False, True):
        out = []
        for v_index, var in enumerate(variables):
            for k_index in range(n_kinds):
                index = k_index * n_vars + v_index if kind_major else v_index * n_kinds + k_index
                value = slots[index][1]
                convert = converters.get(id(var))
                if convert is not None and value.shape != var.shape:
                    value = convert(value)
                out.append(value)
        if all(a.shape == v.shape for a, v in zip(out, (var for var in variables for _ in range(n_kinds)), strict=True)):
            return out
    return None


def restore_optimizer_state(model, arrays, converters: dict, path) -> None:
    """Sets ``model.optimizer``'s iterations and slots from the file's ``optimizer_weights``.

    A state that does not fit the optimizer (another optimizer, other variables) is skipped with a
    warning, as Keras does: the weights are loaded and the optimizer starts fresh.
    """
    optimizer = model.optimizer
    if not hasattr(optimizer, "set_state"):
        return
    iterations, slots = _split(arrays)
    variables = model.trainable_weights
    slot_names = list(getattr(optimizer, "slot_names", ()))
    if any(a.dtype.kind != "f" for _, a in slots):
        raise CheckpointError("optimizer_weights: slot arrays should hold floating point numbers", path)
    ordered = _ordered(slots, variables, slot_names, converters)
    if ordered is None:
        warnings.warn(
            f"{path}: the optimizer state in the file ({len(slots)} arrays) does not fit "
            f"{type(optimizer).__name__} with {len(variables)} trainable weights and slots {slot_names}; "
            "the optimizer starts fresh", stacklevel=3)
        return
    count = _valid_iterations(iterations, path) if iterations is not None else 0
    optimizer.set_state(variables, count, [np.asarray(a, dtype=v.dtype) for a, v in
                                           zip(ordered, (v for v in variables for _ in slot_names), strict=True)])
