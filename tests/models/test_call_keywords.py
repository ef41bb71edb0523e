"""Keyword arguments of layer calls in the functional API: ``layer(x, mask=m)`` with ``m``
another tensor of the graph, other tensors and plain values, recorded in the node, passed when
the model runs, written in the config (Keras 3's and Keras 2's node forms) and read back."""

import json
import warnings

import numpy as np
import pytest

import kerasette.backend as K
from kerasette.layers import (
    GRU,
    LSTM,
    Bidirectional,
    Concatenate,
    Dense,
    Dropout,
    GlobalAveragePooling1D,
    Input,
    Layer,
    Masking,
    ReLU,
    TimeDistributed,
)
from kerasette.models import Model, Sequential, functional_config, load_model, model_from_json
from kerasette.optimizers import SGD

STEPS, FEATURES = 6, 3


@pytest.fixture(autouse=True)
def _fresh_names():
    K.clear_session()
    K.set_seed(0)


def _data(n=5, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, STEPS, FEATURES)).astype("float32")
    keep = (rng.uniform(size=(n, STEPS)) > 0.4).astype("float32")
    keep[:, 0] = 1.0
    x[:, -2:] = 0.0  # Masking's own mask: the last two steps
    return x, keep


def _given_mask_model(rnn):
    """``rnn(Masking()(sequence), mask=ReLU()(keep))``: the mask given differs from Masking's."""
    sequence, keep = Input((STEPS, FEATURES), name="sequence"), Input((STEPS,), name="keep")
    given = ReLU(name="given_mask")(keep)
    h = rnn(Masking(name="masking")(sequence), mask=given)
    return Model([sequence, keep], Dense(2, name="out")(h))


@pytest.mark.parametrize("make", [lambda: LSTM(4, name="rnn"), lambda: Bidirectional(GRU(3), name="rnn")],
                         ids=["lstm", "bidirectional"])
def test_a_given_mask_is_the_mask_the_layer_runs_with(make):
    model = _given_mask_model(make())
    x, keep = _data()
    y = model.predict([x, keep], verbose=0)
    rnn, out = model.get_layer("rnn"), model.get_layer("out")
    expected = out(rnn(x, mask=keep.astype(bool))).data  # the layers called on arrays, the mask given
    np.testing.assert_allclose(y, expected, rtol=0, atol=1e-6)
    propagated = out(rnn(x, mask=np.any(x != 0, axis=-1))).data  # what Masking alone would give
    assert np.abs(y - propagated).max() > 1e-3


def test_the_mask_given_flows_on_as_the_layers_output_mask():
    """An RNN with return_sequences passes the mask it was given on (its compute_mask), so a
    masked pooling after it averages over the given steps."""
    sequence, keep = Input((STEPS, FEATURES)), Input((STEPS,))
    h = LSTM(2, return_sequences=True, name="rnn")(Masking()(sequence), mask=ReLU()(keep))
    model = Model([sequence, keep], GlobalAveragePooling1D()(h))
    x, k = _data()
    seq = model.get_layer("rnn")(x, mask=k.astype(bool)).data
    expected = (seq * k[:, :, None]).sum(1) / k.sum(1, keepdims=True)
    np.testing.assert_allclose(model.predict([x, k], verbose=0), expected, rtol=0, atol=1e-6)


def test_config_writes_keras3_nodes_for_tensor_keywords_and_reads_both_forms():
    model = _given_mask_model(LSTM(4, name="rnn"))
    x, keep = _data()
    y = model.predict([x, keep], verbose=0)
    config = model.get_config()
    (node,) = next(e for e in config["layers"] if e["name"] == "rnn")["inbound_nodes"]
    assert node["args"][0]["config"]["keras_history"] == ["masking", 0, 0]
    assert node["kwargs"]["mask"]["class_name"] == "__keras_tensor__"
    assert node["kwargs"]["mask"]["config"]["keras_history"] == ["given_mask", 0, 0]
    # nodes without tensor keywords keep Keras 2's form, which every Keras reads
    assert next(e for e in config["layers"] if e["name"] == "out")["inbound_nodes"] == [[["rnn", 0, 0, {}]]]
    keras2 = model._graph.get_config(model.name, keras2_nodes=True)
    (node2,) = next(e for e in keras2["layers"] if e["name"] == "rnn")["inbound_nodes"]
    assert node2 == [["masking", 0, 0, {"mask": ["given_mask", 0, 0]}]]  # as tf.keras writes it
    for form in (config, keras2, json.loads(model.to_json())["config"]):
        rebuilt = Model.from_config(form)
        rebuilt.set_weights(model.get_weights())
        np.testing.assert_allclose(rebuilt.predict([x, keep], verbose=0), y, rtol=0, atol=1e-6)


def test_a_model_with_a_given_mask_trains_and_round_trips_through_files(tmp_path):
    model = _given_mask_model(LSTM(4, name="rnn"))
    model.compile(SGD(learning_rate=0.1), "mse")
    x, keep = _data(n=8)
    target = np.random.default_rng(1).normal(size=(8, 2)).astype("float32")
    before = model.evaluate([x, keep], target, verbose=0)
    model.fit([x, keep], target, batch_size=4, epochs=3, verbose=0)
    assert model.evaluate([x, keep], target, verbose=0) < before
    y = model.predict([x, keep], verbose=0)
    for suffix in (".h5", ".keras"):
        model.save(tmp_path / f"m{suffix}")
        loaded = load_model(tmp_path / f"m{suffix}")
        np.testing.assert_allclose(loaded.predict([x, keep], verbose=0), y, rtol=0, atol=1e-6)


def test_k_function_passes_the_given_mask():
    sequence, keep = Input((STEPS, FEATURES)), Input((STEPS,))
    rnn = LSTM(3)
    h = rnn(Masking()(sequence), mask=ReLU()(keep))
    x, k = _data()
    (value,) = K.function([sequence, keep], [h])([x, k])
    np.testing.assert_allclose(value, rnn(x, mask=k.astype(bool)).data, rtol=0, atol=1e-6)


class Scaled(Layer):
    """A layer of a user's: ``inputs * scale + shift``, ``scale`` a tensor, ``shift`` a number."""

    def call(self, inputs, scale=None, shift=0.0):
        return inputs * scale + shift

    def compute_output_shape(self, input_shape):
        return input_shape


def test_other_tensor_and_plain_keywords_are_passed_written_and_read():
    a, b = Input((4,), name="a"), Input((4,), name="b")
    out = Scaled(name="scaled")(a, scale=b, shift=2.0)
    model = Model([a, b], out)
    xa, xb = np.arange(8, dtype="float32").reshape(2, 4), np.full((2, 4), 3.0, "float32")
    np.testing.assert_allclose(model.predict([xa, xb], verbose=0), xa * 3.0 + 2.0)
    config = model.get_config()
    (node,) = config["layers"][-1]["inbound_nodes"]
    assert node["kwargs"]["shift"] == 2.0 and node["kwargs"]["scale"]["config"]["keras_history"] == ["b", 0, 0]
    rebuilt = Model.from_config(config, custom_objects={"Scaled": Scaled})
    np.testing.assert_allclose(rebuilt.predict([xa, xb], verbose=0), xa * 3.0 + 2.0)
    # a plain keyword only: Keras 2's node form, the keywords in the entry
    only_plain = Model(a, Scaled(name="plain")(a, scale=2.0))
    assert only_plain.get_config()["layers"][-1]["inbound_nodes"] == [[["a", 0, 0, {"scale": 2.0}]]]
    np.testing.assert_allclose(model_from_json(only_plain.to_json(), {"Scaled": Scaled}).predict(xa, verbose=0),
                               xa * 2.0)


def test_training_is_recorded_but_the_models_phase_decides():
    """As in Keras 3: ``Dropout(0.5)(x, training=True)`` is written to the config, and predict
    still runs the model in inference (fit, in training)."""
    x = Input((50,))
    model = Model(x, Dropout(0.5, name="drop")(x, training=True))
    assert model.get_config()["layers"][-1]["inbound_nodes"] == [[[x._keras_history[0].name, 0, 0,
                                                                    {"training": True}]]]
    ones = np.ones((2, 50), "float32")
    np.testing.assert_array_equal(model.predict(ones, verbose=0), ones)
    np.testing.assert_array_equal(Model.from_config(model.get_config()).predict(ones, verbose=0), ones)


def test_a_keyword_the_call_does_not_take_is_refused_by_name():
    a, b = Input((4,)), Input((4,))
    with pytest.raises(TypeError, match=r"Dense 'dense_given': its call does not take the argument `mask` "
                                        r"\(received tensor .*\); Dense.call takes: "):
        Dense(2, name="dense_given")(a, mask=b)
    with pytest.raises(TypeError, match=r"Scaled 'scaled': its call does not take the argument `bias` "
                                        r"\(received 1.5\); Scaled.call takes: scale, shift"):
        Scaled(name="scaled")(a, scale=b, bias=1.5)


def test_a_keras2_config_with_a_tensor_keyword_loads():
    """tf.keras writes a call's keywords in each inbound entry, a tensor as [layer, node, tensor]."""
    model = _given_mask_model(LSTM(4, name="rnn"))
    config = model._graph.get_config(model.name, keras2_nodes=True)
    assert not any(isinstance(node, dict) for e in config["layers"] for node in e["inbound_nodes"])
    _, outputs = functional_config.rebuild(config)
    rnn_node = outputs[0].node.symbolic_inputs()[0].node
    assert set(rnn_node.kwargs) == {"mask"} and rnn_node.kwargs["mask"]._keras_history[0].name == "given_mask"


def test_a_config_whose_keyword_names_a_missing_tensor_says_so():
    model = _given_mask_model(LSTM(4, name="rnn"))
    config = model.get_config()
    entry = next(e for e in config["layers"] if e["name"] == "rnn")
    entry["inbound_nodes"][0]["kwargs"]["mask"]["config"]["keras_history"] = ["nowhere", 0, 0]
    with pytest.raises(ValueError, match=r"cannot connect layer\(s\) \['out', 'rnn'\]"):
        Model.from_config(config)


def test_a_mask_given_to_a_layer_that_only_computes_masks_is_its_output_mask():
    """TimeDistributed's call takes no mask, its compute_mask passes one on: a mask given to it
    is the mask after it (Keras 3 writes the mask a TimeDistributed receives in its node)."""
    sequence, keep = Input((STEPS, FEATURES)), Input((STEPS,))
    h = TimeDistributed(Dense(2), name="td")(Masking()(sequence), mask=ReLU()(keep))
    model = Model([sequence, keep], GlobalAveragePooling1D()(h))
    x, k = _data()
    seq = model.get_layer("td")(x).data
    expected = (seq * k[:, :, None]).sum(1) / k.sum(1, keepdims=True)
    np.testing.assert_allclose(model.predict([x, k], verbose=0), expected, rtol=0, atol=1e-6)


def test_a_file_mask_for_a_nested_sequential_is_applied():
    """Keras 3 writes the mask a nested model's input carries into its call: a nested
    Sequential takes it (as Keras 3's does) and its LSTM skips the masked steps."""
    def build(with_mask):
        sequence, keep = Input((STEPS, FEATURES), name="sequence"), Input((STEPS,), name="keep")
        inner = Sequential([Input((STEPS, FEATURES)), LSTM(3)], name="inner")
        given = ReLU(name="given_mask")(keep)
        h = inner(sequence, mask=given) if with_mask else inner(sequence)
        return Model([sequence, keep], Concatenate()([Dense(2, name="out")(h), given]))

    masked, plain = build(True), build(False)
    plain.set_weights(masked.get_weights())
    config = plain.get_config()
    entry = next(e for e in config["layers"] if e["name"] == "inner")
    entry["inbound_nodes"] = [{"args": [{"class_name": "__keras_tensor__", "config": {
        "shape": [None, STEPS, FEATURES], "dtype": "float32", "keras_history": ["sequence", 0, 0]}}],
        "kwargs": {"mask": {"class_name": "__keras_tensor__", "config": {
            "shape": [None, STEPS], "dtype": "float32", "keras_history": ["given_mask", 0, 0]}}}}]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rebuilt = Model.from_config(config)
    rebuilt.set_weights(masked.get_weights())
    x, k = _data()
    expected = masked.predict([x, k], verbose=0)
    np.testing.assert_allclose(rebuilt.predict([x, k], verbose=0), expected, atol=1e-6)
    assert np.abs(plain.predict([x, k], verbose=0) - expected).max() > 1e-3  # the mask matters here


def test_a_file_keyword_the_layer_does_not_take_is_an_error():
    model = _given_mask_model(LSTM(4, name="rnn"))
    config = model.get_config()
    entry = next(e for e in config["layers"] if e["name"] == "out")
    entry["inbound_nodes"] = [[["rnn", 0, 0, {"scale": 2.0}]]]
    with pytest.raises(TypeError, match=r"Dense 'out': its call does not take the argument `scale` \(received 2.0\)"):
        Model.from_config(config)


def test_a_plan_runs_with_masks_on_its_inputs():
    """What a nested model given ``mask=`` needs from the planner: the inputs' masks reach the
    layers that read them."""
    from kerasette.models.planner import Plan

    sequence = Input((STEPS, FEATURES))
    rnn = LSTM(3)
    out = rnn(sequence)
    x, k = _data()
    (masked,) = Plan([sequence], [out]).run([K.variable(x)], False, masks=[k])
    np.testing.assert_allclose(masked.data, rnn(x, mask=k.astype(bool)).data, rtol=0, atol=1e-6)
    (unmasked,) = Plan([sequence], [out]).run([K.variable(x)], False)
    assert np.abs(unmasked.data - masked.data).max() > 1e-3


class Summed(Layer):
    """A layer of a user's taking a list of tensors as a keyword: ``inputs + sum(extra)``."""

    def call(self, inputs, extra=None):
        for term in extra:
            inputs = inputs + term
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape


def test_a_list_of_tensors_as_a_keyword_round_trips_in_both_node_forms():
    a, b, c = Input((3,), name="a"), Input((3,), name="b"), Input((3,), name="c")
    model = Model([a, b, c], Summed(name="summed")(a, extra=[b, c]))
    xs = [np.full((2, 3), v, "float32") for v in (1.0, 10.0, 100.0)]
    np.testing.assert_allclose(model.predict(xs, verbose=0), np.full((2, 3), 111.0))
    keras3 = model.get_config()
    assert [t["config"]["keras_history"] for t in keras3["layers"][-1]["inbound_nodes"][0]["kwargs"]["extra"]] == \
        [["b", 0, 0], ["c", 0, 0]]
    keras2 = model._graph.get_config(model.name, keras2_nodes=True)
    assert keras2["layers"][-1]["inbound_nodes"] == [[["a", 0, 0, {"extra": [["b", 0, 0], ["c", 0, 0]]}]]]
    for config in (keras3, keras2):
        rebuilt = Model.from_config(config, custom_objects={"Summed": Summed})
        np.testing.assert_allclose(rebuilt.predict(xs, verbose=0), np.full((2, 3), 111.0))
