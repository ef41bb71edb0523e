"""A functional model used as a layer takes masks as Keras 3's do: ``Model.call(inputs,
training, mask)`` hands the inputs' masks to the layers inside, and ``Model.compute_mask`` gives
the masks its outputs carry, so masks flow into, through and out of a nested model like any
layer. Also: positional arguments after a layer call's inputs bind to ``call``'s parameters."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import kerasette.backend as K
from kerasette.layers import (
    LSTM,
    Concatenate,
    Dense,
    Embedding,
    GlobalAveragePooling1D,
    Input,
    Layer,
    Masking,
    ReLU,
)
from kerasette.models import Model
from kerasette.optimizers import SGD

STEPS, FEATURES = 6, 3


def _inner(width: int, name: str = "inner") -> Model:
    """An LSTM over the steps and a Dense on each step (the Dense passes the LSTM's mask on)."""
    inp = Input((None, width))
    return Model(inp, Dense(3, name=f"{name}_dense")(LSTM(4, return_sequences=True, name=f"{name}_lstm")(inp)),
                 name=name)


def _mask_zero_model():
    K.set_seed(5)
    ids = Input((None,), name="ids")
    h = _inner(4)(Embedding(10, 4, mask_zero=True, name="embedding")(ids))
    return Model(ids, Dense(2, name="out")(GlobalAveragePooling1D(name="pooled")(h)))


def _ids():
    ids = np.random.default_rng(0).integers(1, 10, size=(4, STEPS)).astype("float32")
    for i in range(4):
        ids[i, STEPS - i:] = 0  # padded tails of 0 to 3 steps
    return ids


def test_an_embedding_mask_reaches_the_nested_model_and_leaves_it():
    """A padded row predicts as the same row without its padding: the nested LSTM skips the
    padded steps, and the pooling after the nested model leaves them out (the nested model's
    output mask)."""
    model = _mask_zero_model()
    ids = _ids()
    y = model.predict(ids, verbose=0)
    for row, expected in zip(ids, y):
        kept = row[row != 0][None]
        np.testing.assert_allclose(model.predict(kept, verbose=0)[0], expected, rtol=0, atol=1e-6)
    padded_differently = ids.copy()
    padded_differently[ids == 0] = 7  # the same rows with tokens instead of padding
    assert np.abs(model.predict(padded_differently, verbose=0) - y)[1:].max() > 1e-3


def _sequences():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5, STEPS, FEATURES)).astype("float32")
    keep = (rng.uniform(size=(5, STEPS)) > 0.4).astype("float32")
    keep[:, 0] = 1.0
    x[:, -2:] = 0.0  # Masking's own mask differs from ``keep``
    return x, keep


def _explicit_models():
    """The same weights twice: a nested model given ``mask=`` by hand, and the flat graph whose
    LSTM is given it directly."""
    K.set_seed(6)
    sequence, keep = Input((STEPS, FEATURES), name="sequence"), Input((STEPS,), name="keep")
    masked, given = Masking(name="masking")(sequence), ReLU(name="given_mask")(keep)
    inner = _inner(FEATURES)
    nested = Model([sequence, keep], Dense(2, name="out")(GlobalAveragePooling1D()(inner(masked, mask=given))))
    lstm, dense, out = LSTM(4, return_sequences=True), Dense(3), Dense(2)
    flat = Model([sequence, keep], out(GlobalAveragePooling1D()(dense(lstm(masked, mask=given)))))
    lstm.set_weights(inner.get_layer("inner_lstm").get_weights())
    dense.set_weights(inner.get_layer("inner_dense").get_weights())
    out.set_weights(nested.get_layer("out").get_weights())
    return nested, flat


def test_a_mask_given_to_a_nested_model_is_its_inputs_mask():
    nested, flat = _explicit_models()
    x, keep = _sequences()
    y = nested.predict([x, keep], verbose=0)
    np.testing.assert_allclose(y, flat.predict([x, keep], verbose=0), rtol=0, atol=1e-6)
    assert np.abs(nested.predict([x, np.ones_like(keep)], verbose=0) - y).max() > 1e-3
    node = next(node for layer, _, node in nested._graph.layer_calls() if layer.name == "inner")
    assert node.kwargs["mask"]._keras_history[0].name == "given_mask"


def test_a_nested_model_given_a_mask_trains_and_round_trips_its_config():
    nested, flat = _explicit_models()
    x, keep = _sequences()
    for model in (nested, flat):
        model.compile(SGD(learning_rate=0.1), "mse")
        model.train_on_batch([x, keep], np.ones((5, 2), "float32"))
    np.testing.assert_allclose(nested.predict([x, keep], verbose=0), flat.predict([x, keep], verbose=0),
                               rtol=0, atol=1e-5)  # the same gradients: the same masked steps
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "runs without it" warning any more
        rebuilt = Model.from_config(nested.get_config())
    rebuilt.set_weights(nested.get_weights())
    np.testing.assert_allclose(rebuilt.predict([x, keep], verbose=0), nested.predict([x, keep], verbose=0),
                               rtol=0, atol=1e-6)


def test_the_nested_model_given_a_mask_is_written_in_keras3_node_form():
    """A tensor keyword: Keras 3's ``{"args", "kwargs"}`` node, which Keras 3 reads back."""
    nested, _ = _explicit_models()
    config = nested.get_config()
    entry = next(e for e in config["layers"] if e["name"] == "inner")
    assert isinstance(entry["inbound_nodes"][0], dict)  # Keras 3's form: a tensor keyword
    assert entry["inbound_nodes"][0]["kwargs"]["mask"]["config"]["keras_history"] == ["given_mask", 0, 0]


def test_compute_mask_gives_the_output_masks_of_the_call():
    inner = _inner(FEATURES)
    x, keep = _sequences()
    given = keep.astype(bool)
    out = inner(x, mask=given)  # outside a model: the output carries its mask
    np.testing.assert_array_equal(out._keras_mask, given)
    np.testing.assert_array_equal(inner.compute_mask(K.variable(x), given), given)  # other tensors: it runs
    assert inner.compute_mask(K.variable(x)) is None
    last = Input((STEPS, FEATURES))
    pooled = Model(last, LSTM(2)(last))  # the LSTM's output has no mask
    assert pooled.compute_mask(K.variable(x), given) is None
    assert inner.supports_masking


def test_a_nested_model_with_two_inputs_takes_a_mask_per_input():
    a, b = Input((STEPS, FEATURES)), Input((STEPS, FEATURES))
    first, second = LSTM(2), LSTM(2)
    pair = Model([a, b], Concatenate()([first(a), second(b)]))
    x, keep = _sequences()
    y = pair([K.variable(x), K.variable(x)], mask=[keep.astype(bool), None]).data
    by_hand = np.concatenate([first(x, mask=keep.astype(bool)).data, second(x).data], axis=1)
    np.testing.assert_allclose(y, by_hand, rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match=r"Model '.*': received 1 masks for 2 inputs; give one per input"):
        pair([K.variable(x), K.variable(x)], mask=[keep.astype(bool)])


class MaskedMean(Layer):
    """A user's layer: the mean over the steps the mask keeps (all when no mask)."""

    def call(self, inputs, mask=None):
        if mask is None:
            return K.mean(inputs, axis=1)
        weights = K.expand_dims(K.cast(mask, "float32"), -1)
        return K.sum(inputs * weights, axis=1) / K.sum(weights, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])


class Scaled(Layer):
    def call(self, inputs, training=None, scale=1.0):
        return inputs * scale


def test_positional_arguments_after_the_inputs_bind_to_call_in_order():
    x, keep = _sequences()
    sequence, given = Input((STEPS, FEATURES)), Input((STEPS,))
    out = MaskedMean(name="mean")(sequence, given)  # the second positional is call's `mask`
    model = Model([sequence, given], out)
    node = model._graph.layer_calls()[0][2]
    assert list(node.kwargs) == ["mask"] and node.kwargs["mask"] is given
    expected = (x * keep[..., None]).sum(1) / keep.sum(1, keepdims=True)
    np.testing.assert_allclose(model.predict([x, keep], verbose=0), expected, rtol=0, atol=1e-5)
    np.testing.assert_allclose(MaskedMean()(x, keep.astype(bool)).data, expected, rtol=0, atol=1e-5)  # eager too
    scaled = Scaled(name="scaled")(sequence, None, 3.0)  # training (None: not recorded), then scale
    assert scaled.node.kwargs == {"scale": 3.0}
    np.testing.assert_allclose(Model(sequence, scaled).predict(x, verbose=0), 3 * x, rtol=0, atol=1e-6)


def test_too_many_positional_arguments_are_an_error_naming_the_layer():
    sequence, given = Input((STEPS, FEATURES)), Input((STEPS,))
    with pytest.raises(TypeError, match=r"MaskedMean 'mean2': received 2 positional argument\(s\) after the inputs; "
                                        r"MaskedMean.call takes 1 \(mask\) there"):
        MaskedMean(name="mean2")(sequence, given, given)
    with pytest.raises(TypeError, match=r"Dense 'd': received 1 positional argument\(s\) after the inputs; "
                                        r"Dense.call takes none there"):
        Dense(2, name="d")(sequence, given)
    with pytest.raises(TypeError, match=r"MaskedMean 'mean3': received the argument `mask` both by position and by "
                                        r"keyword"):
        MaskedMean(name="mean3")(sequence, given, mask=given)


def test_a_nested_sequential_takes_a_mask():
    """A Sequential used as a layer takes ``mask=`` as Keras 3's does: its LSTM skips the
    masked steps, as the same LSTM given the mask directly."""
    from kerasette.models import Sequential

    sequence, keep = Input((STEPS, FEATURES)), Input((STEPS,))
    given = ReLU()(keep)
    inner = Sequential([Input((STEPS, FEATURES)), LSTM(3)], name="seq_inner")
    assert inner.call_takes_mask()
    nested = Model([sequence, keep], inner(sequence, mask=given))
    flat = Model([sequence, keep], inner.layers[-1](sequence, mask=given))
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, STEPS, FEATURES)).astype("float32")
    k = (rng.uniform(size=(4, STEPS)) > 0.4).astype("float32")
    np.testing.assert_allclose(nested.predict([x, k], verbose=0), flat.predict([x, k], verbose=0), atol=1e-6)
