"""Mutated copies of a checkpoint for the fuzz test: byte flips, truncations and edits made with
h5py (attributes, shapes, dtypes, groups, JSON), each edit with and without the checksum."""

from __future__ import annotations

import json
import pathlib
import shutil

import h5py
import numpy as np

DIGEST = "kerasette_digest"


def byte_mutations(base: pathlib.Path, folder: pathlib.Path, seed: int, flips: int, truncations: int,
                   max_flipped: int = 4) -> list[tuple[str, pathlib.Path]]:
    """Copies with 1 to ``max_flipped`` bytes XOR-ed (half of them in the first 4 KB, where the
    superblock and the object headers are) and copies cut short at random lengths."""
    folder.mkdir(parents=True, exist_ok=True)
    data = base.read_bytes()
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(flips):
        mutated = bytearray(data)
        span = min(4096, len(data)) if i % 2 == 0 else len(data)
        for offset in rng.choice(span, size=int(rng.integers(1, max_flipped + 1)), replace=False):
            mutated[offset] ^= int(rng.integers(1, 256))
        path = folder / f"flip{i}.h5"
        path.write_bytes(bytes(mutated))
        cases.append((f"flip{i}", path))
    for i in range(truncations):
        path = folder / f"cut{i}.h5"
        path.write_bytes(data[: int(rng.integers(0, len(data)))])
        cases.append((f"cut{i}", path))
    return cases


def flipped_offsets(base: pathlib.Path, mutated: pathlib.Path) -> list[int]:
    a, b = np.frombuffer(base.read_bytes(), np.uint8), np.frombuffer(mutated.read_bytes(), np.uint8)
    if len(a) != len(b):
        return []
    return [int(i) for i in np.nonzero(a != b)[0]]


def undetectable_regions(base: pathlib.Path) -> list[tuple[int, int]]:
    """Byte ranges where a change is a valid file with other content: weights' raw data and the
    JSON text of the configs (real Keras files carry no checksum)."""
    regions = []
    data = base.read_bytes()
    with h5py.File(base, "r") as f:
        def visit(_, obj):
            if isinstance(obj, h5py.Dataset) and obj.id.get_offset() is not None:
                regions.append((obj.id.get_offset(), obj.id.get_offset() + obj.id.get_storage_size()))
        f.visititems(visit)
        for key in ("model_config", "training_config"):
            value = f.attrs.get(key)
            text = value.encode() if isinstance(value, str) else bytes(value or b"")
            start = data.find(text) if text else -1
            if start >= 0:
                regions.append((start, start + len(text)))
    return regions


# -- edits with h5py -----------------------------------------------------------------------------
def _config(f) -> dict:
    value = f.attrs["model_config"]
    return json.loads(value.decode() if isinstance(value, bytes) else value)


def _edit_config(fn):
    def edit(f):
        config = _config(f)
        fn(config["config"]["layers"])
        f.attrs["model_config"] = json.dumps(config).encode()
    return edit


def _replace(name, data=None, **kwargs):
    def edit(f):
        del f[name]
        f.create_dataset(name, data=data, **kwargs)
    return edit


def _set_attr(where, key, value):
    def edit(f):
        f[where].attrs[key] = value
    return edit


def _delete(where, key=None):
    def edit(f):
        if key is None:
            del f[where]
        else:
            del f[where].attrs[key]
    return edit


def _set_value(name, value):
    def edit(f):
        f[name][()] = value
    return edit


def _names(model_weights) -> list[str]:
    return [n.decode() for n in model_weights.attrs["layer_names"]]


def _layer_names_edit(fn):
    def edit(f):
        group = f["model_weights"]
        group.attrs["layer_names"] = np.array([n.encode() for n in fn(_names(group))])
    return edit


def invalid_edits(conv: str, dense: str) -> dict:
    """Edits after which the file is wrong even without its checksum."""
    kernel = f"model_weights/{conv}/{conv}/kernel:0"
    return {
        "no_model_weights": _delete("model_weights"),
        "no_conv_group": _delete(f"model_weights/{conv}"),
        "no_layer_names": _delete("model_weights", "layer_names"),
        "layer_names_reversed": _layer_names_edit(lambda n: n[::-1]),
        "layer_names_without_dense": _layer_names_edit(lambda n: [x for x in n if x != dense]),
        "layer_names_ints": _set_attr("model_weights", "layer_names", np.arange(5)),
        "weight_names_swapped": _set_attr(f"model_weights/{conv}", "weight_names",
                                          np.array([f"{conv}/bias:0".encode(), f"{conv}/kernel:0".encode()])),
        "weight_names_missing": _set_attr(f"model_weights/{conv}", "weight_names",
                                          np.array([f"{conv}/kernel:0".encode(), b"nothing:0"])),
        "kernel_bigger": _replace(kernel, np.zeros((3, 3, 3, 5), "float32")),
        "kernel_int": _replace(kernel, np.zeros((3, 3, 3, 4), "int32")),
        "kernel_strings": _replace(kernel, np.array([b"x"] * 4)),
        "kernel_scalar": _replace(kernel, np.float32(1)),
        "kernel_claims_terabytes": _replace(kernel, shape=(10**6, 10**6), dtype="float32", chunks=(1, 1024)),
        "config_not_json": _set_attr("/", "model_config", b"{\"class_name\": \"Seq"),
        "config_deep": _set_attr("/", "model_config", b"[" * 50000 + b"]" * 50000),
        "config_int": _set_attr("/", "model_config", 7),
        "config_unknown_class": _edit_config(lambda layers: layers[1].update(class_name="Lambda")),
        "config_huge_units": _edit_config(lambda layers: layers[-1]["config"].update(units=10**10)),
        "config_huge_filters": _edit_config(lambda layers: layers[1]["config"].update(filters=10**9)),
        "config_huge_kernel": _edit_config(lambda layers: layers[1]["config"].update(kernel_size=[10**6, 10**6],
                                                                                      padding="same")),
        "config_bad_activation": _edit_config(lambda layers: layers[1]["config"].update(activation="os.system")),
        "config_other_filters": _edit_config(lambda layers: layers[1]["config"].update(filters=5)),
        "training_not_json": _set_attr("/", "training_config", b"{"),
        "training_unknown_loss": _set_attr("/", "training_config", json.dumps(
            {"loss": "builtins.eval", "optimizer_config": {"class_name": "SGD", "config": {}}}).encode()),
        "state_bad_generator": _set_attr("/", "kerasette_training_state",
                                         json.dumps({"random": {"bit_generator": "seed"}}).encode()),
        "state_bad_numbers": _set_attr("/", "kerasette_training_state", json.dumps(
            {"random": {"bit_generator": "PCG64", "state": {"state": -1, "inc": "x"}}}).encode()),
        "iteration_negative": _set_value("optimizer_weights/sgd/iteration", -3),
        "iteration_float_nan": _replace("optimizer_weights/sgd/iteration", np.float64("nan")),
    }


def valid_edits(conv: str) -> dict:
    """Edits after which the file is still a valid checkpoint with other content: only the
    checksum can tell."""
    return {
        "weights_changed": _set_value(f"model_weights/{conv}/{conv}/bias:0", np.ones(4, "float32")),
        "no_training_config": _delete("/", "training_config"),
        "no_optimizer_weights": _delete("optimizer_weights"),
        "no_random_state": _delete("/", "kerasette_training_state"),
        "dropout_rate": _edit_config(lambda layers: layers[3]["config"].update(rate=0.1)),
    }


def structural_mutations(base: pathlib.Path, folder: pathlib.Path) -> list[tuple[str, pathlib.Path]]:
    """Every invalid edit with and without the checksum, and every valid edit with it."""
    folder.mkdir(parents=True, exist_ok=True)
    with h5py.File(base, "r") as f:
        names = _names(f["model_weights"])
    conv, dense = names[0], names[-1]
    jobs = [(name, fn, keep) for name, fn in invalid_edits(conv, dense).items() for keep in (True, False)]
    jobs += [(name, fn, True) for name, fn in valid_edits(conv).items()]
    cases = []
    for name, fn, keep_digest in jobs:
        path = folder / f"{name}_{'digest' if keep_digest else 'nodigest'}.h5"
        shutil.copy(base, path)
        with h5py.File(path, "r+") as f:
            if not keep_digest:
                del f.attrs[DIGEST]
            fn(f)
        cases.append((f"edit_{path.stem}", path))
    return cases
