"""The merge layers (several inputs, so outside the one-input layer table): values against numpy,
Keras 3's broadcasting and shape rules, Dot's axes and normalisation, configs, training, the
functional helpers, Keras 1's ``merge`` and ``Merge`` (scripts and a Keras 1 functional file), and
every error message."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from kerasette import layers
from kerasette.layers import Dense, Input
from kerasette.layers.lambda_layer import Lambda
from kerasette.layers.merge import (
    Add,
    Average,
    Concatenate,
    Dot,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
    add,
    average,
    concatenate,
    dot,
    maximum,
    minimum,
    multiply,
    subtract,
)
from kerasette.layers.merge_keras1 import Merge, merge
from kerasette.models import Model, load_model
from kerasette.optimizers import SGD


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def _unit(x, axis):
    return x / np.maximum(np.sqrt((x.astype("float64") ** 2).sum(axis, keepdims=True)), 1e-7)


ELEMENTWISE = [
    (Add, lambda xs: sum(xs)),
    (Subtract, lambda xs: xs[0] - xs[1]),
    (Multiply, lambda xs: np.prod(np.broadcast_arrays(*xs), axis=0)),
    (Average, lambda xs: sum(xs) / len(xs)),
    (Maximum, lambda xs: np.maximum.reduce(np.broadcast_arrays(*xs))),
    (Minimum, lambda xs: np.minimum.reduce(np.broadcast_arrays(*xs))),
]


@pytest.mark.parametrize("cls,reference", ELEMENTWISE, ids=lambda v: getattr(v, "__name__", ""))
@pytest.mark.parametrize("shapes", [[(4, 3), (4, 3)], [(4, 3), (1, 3)], [(2, 4, 3), (4, 1)], [(3,), (2, 1, 3)]],
                         ids=["same", "size-1", "lower-rank", "lower-rank-first"])
def test_elementwise_merges_broadcast_as_keras3(cls, reference, shapes):
    xs = [_rand(2, *s, seed=i) for i, s in enumerate(shapes)]
    layer = cls()
    y = layer(xs).data
    # Keras 3 inserts axes of size 1 after the batch axis of a lower-rank input
    rank = max(x.ndim for x in xs)
    expanded = [x.reshape(x.shape[:1] + (1,) * (rank - x.ndim) + x.shape[1:]) for x in xs]
    np.testing.assert_allclose(y, reference(expanded), rtol=1e-6, atol=1e-6)
    assert layer.compute_output_shape([(None, *s) for s in shapes]) == (None, *y.shape[1:])


@pytest.mark.parametrize("cls", [Add, Multiply, Average, Maximum, Minimum])
def test_elementwise_merges_of_three_inputs(cls):
    xs = [_rand(2, 5, seed=i) for i in range(3)]
    reference = dict(ELEMENTWISE)[cls]
    np.testing.assert_allclose(cls()(xs).data, reference(xs), rtol=1e-6, atol=1e-6)


def test_merge_output_shape_keeps_known_sizes():
    assert Add().compute_output_shape([(None, None, 3), (None, 4, 1)]) == (None, 4, 3)
    assert Add().compute_output_shape([(None, 1, 3), (None, None, 3)]) == (None, None, 3)
    assert Add().compute_output_shape([(8, 3), (None, 3)]) == (8, 3)
    assert Concatenate(axis=1).compute_output_shape([(None, None, 3), (None, 4, 3)]) == (None, None, 3)
    assert Concatenate().compute_output_shape([(None, None, 3), (None, 4, 2)]) == (None, 4, 5)


def test_merge_shape_errors():
    with pytest.raises(ValueError, match=r"Add 'ad': inputs must have the same shape; received \(None, 4, 3\), "
                                         r"\(None, 2, 3\): axis -2 has sizes 4 and 2 \(sizes must match, or one be "
                                         r"1 to broadcast\)"):
        Add(name="ad").compute_output_shape([(None, 4, 3), (None, 2, 3)])
    with pytest.raises(ValueError, match=r"Multiply 'mu': cannot merge tensors with different batch sizes; "
                                         r"received \(2, 3\), \(4, 3\)"):
        Multiply(name="mu").compute_output_shape([(2, 3), (4, 3)])
    with pytest.raises(ValueError, match=r"Subtract 'su': expected a list of 2 inputs; received 3: \(None, 3\), "
                                         r"\(None, 3\), \(None, 3\)"):
        Subtract(name="su").compute_output_shape([(None, 3)] * 3)
    with pytest.raises(ValueError, match=r"Maximum 'mx': must be called on a list of tensors; received input "
                                         r"shape \(None, 3\)"):
        Maximum(name="mx").compute_output_shape((None, 3))
    with pytest.raises(ValueError, match=r"Concatenate 'cc': inputs must match except along axis -1; received "
                                         r"\(None, 3, 2\), \(None, 4, 2\)"):
        Concatenate(name="cc").compute_output_shape([(None, 3, 2), (None, 4, 2)])
    with pytest.raises(ValueError, match=r"Concatenate 'cc0': argument `axis` must name a non-batch axis of inputs "
                                         r"of rank 2; received axis=0"):
        Concatenate(axis=0, name="cc0").compute_output_shape([(None, 3), (None, 3)])
    with pytest.raises(ValueError, match=r"Concatenate 'cc1': argument `axis` must be an integer; received "
                                         r"axis='last'"):
        Concatenate(axis="last", name="cc1")


# -- Dot -----------------------------------------------------------------------------------------
DOT_CASES = [
    # (shapes without batch, axes, einsum of the samples)
    ([(5,), (5,)], 1, "bi,bi->b"),
    ([(5,), (5,)], -1, "bi,bi->b"),
    ([(3, 5), (4, 3)], (1, 2), "bki,bjk->bij"),
    ([(3, 4), (4,)], -1, "bik,bk->bi"),
    ([(3, 4), (3, 5, 2)], (1, 1), "bki,bkjl->bijl"),
    ([(2, 3, 4), (4, 3)], (-1, 1), "bijk,bkl->bijl"),
    ([(2, 3), (3, 2)], (-1, -2), "bik,bkj->bij"),
]


@pytest.mark.parametrize("normalize", [False, True], ids=["plain", "normalize"])
@pytest.mark.parametrize("shapes,axes,spec", DOT_CASES, ids=[str(c[1]) + "-" + c[2] for c in DOT_CASES])
def test_dot_matches_numpy(shapes, axes, spec, normalize):
    x, y = _rand(3, *shapes[0], seed=1), _rand(3, *shapes[1], seed=2)
    layer = Dot(axes=axes, normalize=normalize)
    out = layer([x, y]).data
    if normalize:
        i, j = layer.resolved_axes((x.ndim, y.ndim))
        x, y = _unit(x, i), _unit(y, j)
    expected = np.einsum(spec, x, y)
    if expected.ndim == 1:
        expected = expected[:, None]
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    assert layer.compute_output_shape([(None, *shapes[0]), (None, *shapes[1])]) == (None, *expected.shape[1:])


def test_dot_normalize_is_the_cosine_proximity():
    a, b = _rand(4, 6, seed=3), _rand(4, 6, seed=4)
    cos = Dot(axes=1, normalize=True)([a, b]).data[:, 0]
    expected = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    np.testing.assert_allclose(cos, expected, rtol=1e-5)
    same = Dot(axes=1, normalize=True)([a, a]).data
    np.testing.assert_allclose(same, 1.0, rtol=1e-6)


def test_dot_config_round_trip_keras2_and_keras3_forms():
    layer = Dot(axes=(1, -1), normalize=True, name="d")
    config = layer.get_config()
    assert config["axes"] == [1, -1] and config["normalize"] is True
    assert Dot.from_config(json.loads(json.dumps(config))).get_config() == config
    keras3 = {"name": "d3", "trainable": True, "dtype": {"module": "keras", "class_name": "DTypePolicy",
                                                         "config": {"name": "float32"}, "registered_name": None},
              "axes": 2, "normalize": False}
    from kerasette.saving.layer_config import layer_from_spec

    loaded = layer_from_spec({"class_name": "Dot", "config": keras3})
    assert loaded.axes == 2 and loaded.normalize is False and loaded.dtype == "float32"
    assert layers.deserialize({"class_name": "Dot", "config": {"name": "d2", "axes": [1, 1]}}).axes == (1, 1)


def test_dot_errors():
    with pytest.raises(ValueError, match=r"Dot 'd1': argument `axes` must be an integer or a pair of integers; "
                                         r"received axes=\[1, 2, 3\]"):
        Dot(axes=[1, 2, 3], name="d1")
    with pytest.raises(ValueError, match=r"Dot 'd2': argument `axes` must be an integer or a pair of integers; "
                                         r"received axes='last'"):
        Dot(axes="last", name="d2")
    with pytest.raises(ValueError, match=r"Dot 'd3': argument `axes` must name a non-batch axis of each input "
                                         r"\(ranks 2 and 2\); received axes=0"):
        Dot(axes=0, name="d3").compute_output_shape([(None, 3), (None, 3)])
    with pytest.raises(ValueError, match=r"Dot 'd4': argument `axes` must name a non-batch axis of each input "
                                         r"\(ranks 3 and 2\); received axes=\(1, 2\)"):
        Dot(axes=(1, 2), name="d4").compute_output_shape([(None, 3, 4), (None, 3)])
    with pytest.raises(ValueError, match=r"Dot 'd5': the dot axes must have the same size; received axis 1 of size 3 "
                                         r"and axis 1 of size 4 \(input shapes \(None, 3\), \(None, 4\)\)"):
        Dot(axes=1, name="d5").compute_output_shape([(None, 3), (None, 4)])
    with pytest.raises(ValueError, match=r"Dot 'd6': expected a list of 2 inputs; received 3"):
        Dot(axes=1, name="d6").compute_output_shape([(None, 3)] * 3)
    a, b = Input(shape=(3,)), Input(shape=(4,))
    with pytest.raises(ValueError, match=r"Dot 'd7': the dot axes must have the same size"):
        Dot(axes=1, name="d7")([a, b])


# -- functional helpers, models, training ----------------------------------------------------------
def test_functional_helpers_make_the_layers():
    a, b = Input(shape=(4,)), Input(shape=(4,))
    for helper, cls in [(add, Add), (subtract, Subtract), (multiply, Multiply), (average, Average),
                        (maximum, Maximum), (minimum, Minimum), (concatenate, Concatenate), (dot, Dot)]:
        out = helper([a, b], axes=1) if helper is dot else helper([a, b], name=f"h_{cls.__name__}")
        assert type(out._keras_history[0]) is cls
    assert dot([a, b], axes=1, normalize=True)._keras_history[0].normalize
    assert concatenate([a, b], axis=1).shape == (None, 8)
    for name in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot", "Merge"):
        assert getattr(layers, name).__name__ == name  # exported from kerasette.layers by the registry


def _merge_model():
    in_a, in_b = Input(shape=(4,)), Input(shape=(4,))
    a, b = Dense(3, activation="tanh")(in_a), Dense(3, activation="tanh")(in_b)
    cos = dot([a, b], axes=-1, normalize=True)
    merged = concatenate([add([a, b]), subtract([a, b]), multiply([a, cos]), average([a, b]), maximum([a, b]),
                          minimum([a, b]), dot([a, b], axes=1), cos])
    return Model([in_a, in_b], Dense(2)(merged))


def test_a_model_of_merges_trains_and_reloads(tmp_path):
    model = _merge_model()
    model.compile(SGD(learning_rate=0.1), "mse")
    xs, y = [_rand(8, 4, seed=1), _rand(8, 4, seed=2)], _rand(8, 2, seed=3)
    before = model.get_weights()
    losses = [model.train_on_batch(xs, y) for _ in range(5)]
    assert losses[-1] < losses[0]
    assert all(not np.array_equal(u, v) for u, v in zip(before, model.get_weights(), strict=True))
    model.save(tmp_path / "m.h5")
    again = load_model(tmp_path / "m.h5")
    np.testing.assert_allclose(again.predict(xs), model.predict(xs), rtol=1e-6, atol=1e-6)


# -- Keras 1 -------------------------------------------------------------------------------------
def _k1_reference(mode, a, b, concat_axis=-1):
    if mode == "sum":
        return a + b
    if mode == "mul":
        return a * b
    if mode == "ave":
        return (a + b) / 2
    if mode == "max":
        return np.maximum(a, b)
    if mode == "concat":
        return np.concatenate([a, b], axis=concat_axis)
    if mode == "dot":
        return (a * b).sum(-1, keepdims=True)
    if mode == "cos":  # Keras 1: the dot product over the product of the norms
        return (a * b).sum(-1, keepdims=True) / np.sqrt((a * a).sum(-1, keepdims=True) * (b * b).sum(-1, keepdims=True))
    raise AssertionError(mode)


@pytest.mark.parametrize("mode", ["sum", "mul", "concat", "ave", "max", "dot", "cos"])
def test_keras1_merge_function_and_layer(mode):
    a, b = _rand(3, 5, seed=1), _rand(3, 5, seed=2)
    expected = _k1_reference(mode, a, b)
    in_a, in_b = Input(shape=(5,)), Input(shape=(5,))
    out = merge([in_a, in_b], mode=mode, concat_axis=1, dot_axes=1, name=f"m_{mode}")
    assert out._keras_history[0].name == f"m_{mode}"
    model = Model([in_a, in_b], out)
    np.testing.assert_allclose(model.predict([a, b]), expected, rtol=1e-5, atol=1e-6)
    layer = Merge(mode=mode, concat_axis=-1, dot_axes=[1, 1])
    np.testing.assert_allclose(layer([a, b]).data, expected, rtol=1e-5, atol=1e-6)
    config = layer.get_config()
    assert config["mode"] == mode and config["mode_type"] == "raw"
    clone = Merge.from_config(json.loads(json.dumps(config)))
    np.testing.assert_allclose(clone([a, b]).data, expected, rtol=1e-5, atol=1e-6)


def test_keras1_merge_with_a_callable_mode():
    in_a, in_b = Input(shape=(3,)), Input(shape=(3,))
    out = merge([in_a, in_b], mode=lambda xs: xs[0] * 2.0 - xs[1], output_shape=(3,))
    assert isinstance(out._keras_history[0], Lambda) and out.shape == (None, 3)
    a, b = _rand(2, 3, seed=1), _rand(2, 3, seed=2)
    np.testing.assert_allclose(Model([in_a, in_b], out).predict([a, b]), 2 * a - b, rtol=1e-6)
    layer = Merge(mode=lambda xs, k: xs[0] * k + xs[1], arguments={"k": 3.0}, name="mc")
    np.testing.assert_allclose(layer([a, b]).data, 3 * a + b, rtol=1e-6)
    assert layer.get_config()["mode_type"] == "lambda"


def test_keras1_merge_errors():
    a, b = Input(shape=(3,)), Input(shape=(3,))
    with pytest.raises(ValueError, match=r"merge: argument `mode` must be one of 'sum', 'mul', 'concat', 'ave', "
                                         r"'max', 'dot', 'cos' or a callable; received mode='min'"):
        merge([a, b], mode="min")
    with pytest.raises(ValueError, match=r"merge: argument `dot_axes` must be an integer or a pair of integers; "
                                         r"received dot_axes=\[1, 1, 1\]"):
        merge([a, b], mode="dot", dot_axes=[1, 1, 1])
    with pytest.raises(ValueError, match=r"Merge 'mm': merging whole models \(Keras 1's Merge\(\[model_a, "
                                         r"model_b\]\) in a Sequential\) is not supported"):
        Merge([object(), object()], mode="sum", name="mm")
    with pytest.raises(ValueError, match=r"Merge 'mn': argument `mode` must be one of"):
        Merge(mode="nope", name="mn")
    stored = {"name": "merge_9", "mode": ["4wEAAAAA", None, None], "mode_type": "lambda", "concat_axis": -1,
              "dot_axes": -1, "output_shape": None, "output_shape_type": "raw", "output_mask": None,
              "output_mask_type": "raw", "arguments": {}}
    with pytest.raises(ValueError, match=r"Merge 'merge_9': the file stores this layer's `mode` as a Python lambda "
                                         r"\(marshalled bytecode\), and kerasette never runs code stored in a file. "
                                         r"Pass the function when loading, under the layer's name: load_model\(path, "
                                         r"custom_objects=\{'merge_9': your_function\}\)"):
        Merge.from_config(dict(stored))
    layer = Merge.from_config(dict(stored), custom_objects={"merge_9": lambda xs: xs[0] - xs[1]})
    x = _rand(2, 3)
    np.testing.assert_allclose(layer([x, x]).data, 0.0)


# A Keras 1.2 functional model file with Merge layers, written in Keras 1's layout.
K1_DENSE = {"trainable": True, "init": "glorot_uniform", "W_regularizer": None, "b_regularizer": None,
            "activity_regularizer": None, "W_constraint": None, "b_constraint": None, "bias": True, "input_dim": None}
K1_MODES = ["sum", "mul", "ave", "max", "dot", "cos"]


def _k1_layer(name, class_name, config, inbound):
    return {"name": name, "class_name": class_name, "config": {"name": name, **config},
            "inbound_nodes": [[[n, 0, 0] for n in inbound]] if inbound else []}


def _k1_merge(name, mode, inbound, **extra):
    config = {"mode": mode, "mode_type": "raw", "concat_axis": -1, "dot_axes": -1, "output_shape": None,
              "output_shape_type": "raw", "output_mask": None, "output_mask_type": "raw", "arguments": None, **extra}
    return _k1_layer(name, "Merge", config, inbound)


def write_keras1_merge_file(path, weights) -> None:
    layers_ = [
        _k1_layer("input_a", "InputLayer", {"batch_input_shape": [None, 4], "input_dtype": "float32",
                                            "sparse": False}, []),
        _k1_layer("input_b", "InputLayer", {"batch_input_shape": [None, 4], "input_dtype": "float32",
                                            "sparse": False}, []),
        _k1_layer("dense_a", "Dense", {**K1_DENSE, "output_dim": 3, "activation": "tanh"}, ["input_a"]),
        _k1_layer("dense_b", "Dense", {**K1_DENSE, "output_dim": 3, "activation": "tanh"}, ["input_b"]),
        *[_k1_merge(f"merge_{mode}", mode, ["dense_a", "dense_b"],
                    **({"dot_axes": [1, 1]} if mode in ("dot", "cos") else {})) for mode in K1_MODES],
        _k1_merge("merge_concat", "concat", [f"merge_{mode}" for mode in K1_MODES], concat_axis=1),
        _k1_layer("dense_out", "Dense", {**K1_DENSE, "output_dim": 2, "activation": "linear"}, ["merge_concat"]),
    ]
    config = {"class_name": "Model", "config": {"name": "model_1", "layers": layers_,
                                                "input_layers": [["input_a", 0, 0], ["input_b", 0, 0]],
                                                "output_layers": [["dense_out", 0, 0]]}}
    per_layer = {spec["name"]: [] for spec in layers_}
    per_layer.update({name: [(f"{name}_W", weights[f"{name}_W"]), (f"{name}_b", weights[f"{name}_b"])]
                      for name in ("dense_a", "dense_b", "dense_out")})
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"1.2.2"
        f.attrs["model_config"] = json.dumps(config).encode("utf8")
        group = f.create_group("model_weights")
        group.attrs["layer_names"] = [n.encode("utf8") for n in per_layer]
        for layer, items in per_layer.items():
            g = group.create_group(layer)
            g.attrs["weight_names"] = ([n.encode("utf8") for n, _ in items] if items
                                       else np.zeros((0,), "float64"))
            for name, value in items:
                g.create_dataset(name, data=value)


def test_a_keras1_functional_file_with_merge_layers_loads(tmp_path):
    rng = np.random.default_rng(7)
    weights = {"dense_a_W": rng.uniform(-1, 1, (4, 3)), "dense_a_b": rng.uniform(-0.1, 0.1, 3),
               "dense_b_W": rng.uniform(-1, 1, (4, 3)), "dense_b_b": rng.uniform(-0.1, 0.1, 3),
               "dense_out_W": rng.uniform(-1, 1, (3 * 4 + 2, 2)), "dense_out_b": rng.uniform(-0.1, 0.1, 2)}
    weights = {k: v.astype("float32") for k, v in weights.items()}
    write_keras1_merge_file(tmp_path / "k1.h5", weights)
    model = load_model(tmp_path / "k1.h5", compile=False)
    assert [type(layer).__name__ for layer in model.layers].count("Merge") == 7
    xa, xb = _rand(5, 4, seed=1), _rand(5, 4, seed=2)
    a = np.tanh(xa @ weights["dense_a_W"] + weights["dense_a_b"])
    b = np.tanh(xb @ weights["dense_b_W"] + weights["dense_b_b"])
    merged = np.concatenate([_k1_reference(mode, a, b) for mode in K1_MODES], axis=1)
    expected = merged @ weights["dense_out_W"] + weights["dense_out_b"]
    np.testing.assert_allclose(model.predict([xa, xb]), expected, rtol=1e-5, atol=1e-5)
    # kerasette writes it back (as Keras 1's Merge configs) and reads it again
    model.save(tmp_path / "again.h5")
    np.testing.assert_allclose(load_model(tmp_path / "again.h5", compile=False).predict([xa, xb]), expected,
                               rtol=1e-5, atol=1e-5)
