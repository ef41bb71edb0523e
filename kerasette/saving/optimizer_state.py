"""The ``optimizer_weights`` group: the iteration count and the slots (momentum, ...).

Written in Keras 3's order and naming, which Keras 3's ``load_model`` restores: ``adam/iteration``,
``adam/learning_rate`` (left out when the learning rate is a schedule, as Keras 3 has no such
variable then), then the slots in the order of Keras 3's optimizer variables (the optimizer's
`get_state` order: Adam's ``momentum`` and ``velocity`` variable by variable; RMSprop's
``velocity`` of every variable, then its ``momentum``, ...), then Nadam's momentum product.
Read from Keras 1 (``[iterations] + slots``), Keras 2 (slots grouped by kind: all ``m``, then
all ``v``), tf.keras 2 and Keras 3 files as well as kerasette's own.
"""

from __future__ import annotations

import re
import warnings

import numpy as np

from kerasette.saving.errors import CheckpointError
from kerasette.saving.hdf5_io import write_str_list_attr

MAX_ITERATIONS = 2**62


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        count = seen.get(name, 0)
        seen[name] = count + 1
        out.append(name if count == 0 else f"{name}_{count}")
    return out


def optimizer_arrays(model) -> tuple[list[str], list[np.ndarray]] | None:
    """The names and arrays of ``model.optimizer``'s state in Keras 3's order (iteration, learning
    rate, slots, Nadam's product), or None for an optimizer without the state API."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not hasattr(optimizer, "get_state"):
        return None
    variables = model.trainable_weights
    iterations, state = optimizer.get_state(variables)
    prefix = re.sub(r"[^A-Za-z0-9_.-]", "_", str(getattr(optimizer, "name", "optimizer")) or "optimizer")
    names, values = [f"{prefix}/iteration"], [np.asarray(iterations, dtype=np.int64)]
    if isinstance(getattr(optimizer, "_learning_rate", 0.0), (int, float)):  # a schedule has no variable
        names.append(f"{prefix}/learning_rate")
        values.append(np.asarray(optimizer.learning_rate, dtype=np.float32))
    for key, array in state:
        var_name, _, slot = key.rpartition("/")
        var_name = var_name.replace("/", "_").replace(":", "_")
        names.append(f"{prefix}/{model.name}_{var_name}_{slot}" if var_name else f"{prefix}/{slot}")
        values.append(array)
    if getattr(optimizer, "u_product", None) is not None:  # Nadam: Keras 3's last optimizer variable
        names.append(f"{prefix}/u_product")
        values.append(np.asarray(optimizer.u_product))
    return _unique(names), values


def write_optimizer_weights(h5file, model) -> None:
    """Writes ``optimizer_weights`` for ``model.optimizer`` (nothing if it keeps no state API)."""
    arrays = optimizer_arrays(model)
    if arrays is None:
        return
    names, values = arrays
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
    unnamed = [v for n, v in scalars
               if _basename(n) not in ("learning_rate", "lr", "decay", "momentum", "u_product", "variable")]
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


def _layouts(n_vars: int, optimizer_order: list[tuple[int, str]], slot_names: list[str]):
    """The orders a file may hold the slots in, as (variable index, slot name) sequences: the
    optimizer's own (Keras 3 and kerasette), variable-major, and kind-major (Keras 1/2 Adam: every
    m, then every v)."""
    yield optimizer_order
    yield [(v, name) for v in range(n_vars) for name in slot_names]
    yield [(v, name) for name in slot_names for v in range(n_vars)]


def _ordered(slots, variables, optimizer, converters) -> list[np.ndarray] | None:
    """The slot arrays in the optimizer's `get_state` order, trying the layouts of `_layouts`
    in the file; None if none fits."""
    slot_names = list(getattr(optimizer, "slot_names", ()))
    index = {id(v): i for i, v in enumerate(variables)}
    wanted = [(index[id(var)], name) for var, name in _owners(optimizer, variables, slot_names)]
    if len(slots) != len(wanted):
        return None
    for layout in _layouts(len(variables), wanted, slot_names):
        found = {}
        for (v_index, name), (_, value) in zip(layout, slots, strict=True):
            var = variables[v_index]
            convert = converters.get(id(var))
            if convert is not None and value.shape != var.shape:
                value = convert(value)
            found[v_index, name] = value
        out = [found[key] for key in wanted]
        if all(a.shape == variables[v].shape for a, (v, _) in zip(out, wanted, strict=True)):
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
    ordered = _ordered(slots, variables, optimizer, converters)
    if ordered is None:
        warnings.warn(
            f"{path}: the optimizer state in the file ({len(slots)} arrays) does not fit "
            f"{type(optimizer).__name__} with {len(variables)} trainable weights and slots {slot_names}; "
            "the optimizer starts fresh", stacklevel=3)
        return
    count = _valid_iterations(iterations, path) if iterations is not None else 0
    optimizer.set_state(variables, count, [np.asarray(a, dtype=var.dtype) for a, var in zip(
        ordered, [var for var, _ in _owners(optimizer, variables, slot_names)], strict=True)])


def _owners(optimizer, variables, slot_names):
    """(variable, slot name) of each state array, in the optimizer's `get_state` order."""
    if hasattr(optimizer, "state_order"):
        return optimizer.state_order(variables)
    return [(var, name) for var in variables for name in slot_names]
