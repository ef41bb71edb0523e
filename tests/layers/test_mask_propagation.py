"""Masks through the non-recurrent layers, as Keras 3 passes them: the layers Keras 3 marks
``supports_masking`` pass their input's mask on, the merges combine their inputs' masks, the
others stop it. Predictions of a Keras 3 model (``masking_golden/make_golden.py``) whose LSTMs
read masks that came through these layers."""

import pathlib

import numpy as np
import pytest

from kerasette import layers
from kerasette.backend.tensor import Tensor
from kerasette.layers import Input
from kerasette.models import Model

HERE = pathlib.Path(__file__).parent / "masking_golden"
OUTPUTS = ["add", "time", "features", "chain", "stopped", "multiply", "multiply_one_masked", "maximum", "minimum"]

# Keras 3.15.1's layers that set ``supports_masking = True`` (keras/src/layers/**), and some
# that do not; kerasette's layers declare the same.
PASSES = [layers.Dense(2), layers.Activation("relu"), layers.Dropout(0.5), layers.SpatialDropout1D(0.5),
          layers.GaussianNoise(0.1), layers.GaussianDropout(0.1), layers.AlphaDropout(0.1),
          layers.ActivityRegularization(), layers.BatchNormalization(), layers.LayerNormalization(),
          layers.GroupNormalization(groups=1), layers.UnitNormalization(), layers.ReLU(), layers.LeakyReLU(),
          layers.ELU(), layers.Softmax(), layers.PReLU(), layers.Rescaling(0.5), layers.Masking(),
          layers.Add(), layers.Concatenate(), layers.Dot(axes=1), layers.GlobalAveragePooling1D(),
          layers.Identity()]
STOPS = [layers.Conv1D(2, 3), layers.Flatten(), layers.Reshape((4,)), layers.RepeatVector(2),
         layers.MaxPooling1D(), layers.GlobalMaxPooling1D(), layers.ZeroPadding1D(), layers.UpSampling1D(),
         layers.Permute((2, 1))]


@pytest.mark.parametrize("layer", PASSES, ids=lambda layer: type(layer).__name__)
def test_layers_keras3_lets_masks_through_support_masking(layer):
    assert layer.supports_masking is True


@pytest.mark.parametrize("layer", STOPS, ids=lambda layer: type(layer).__name__)
def test_layers_keras3_stops_masks_at_do_not(layer):
    assert layer.supports_masking is False
    assert layer.compute_mask(Tensor(np.zeros((2, 3, 4), "float32")), np.ones((2, 3), bool)) is None


def test_a_layer_can_still_say_otherwise():
    dense = layers.Dense(2)
    dense.supports_masking = False
    assert dense.compute_mask(None, np.ones((2, 3), bool)) is None
    assert layers.Dense(2).supports_masking  # the class's fact is unchanged


def _golden_model():
    """The model of ``make_golden.py``, layer for layer."""
    a, b = Input((5,), name="a"), Input((5,), name="b")
    ea = layers.Embedding(9, 3, mask_zero=True, name="ea")(a)
    eb = layers.Embedding(9, 3, mask_zero=True, name="eb")(b)
    outputs = [layers.LSTM(4, name="lstm_add")(layers.Add(name="add")([ea, eb])),
               layers.LSTM(4, name="lstm_time")(layers.Concatenate(axis=1, name="cat_time")([ea, eb])),
               layers.LSTM(4, name="lstm_features")(
                   layers.Concatenate(name="cat_features")([ea, layers.Dense(2, name="dense_b")(eb)]))]
    h = layers.Dense(5, name="dense_chain")(ea)
    h = layers.Activation("tanh", name="act")(h)
    h = layers.Dropout(0.3, name="drop")(h)
    h = layers.LayerNormalization(name="norm")(h)
    h = layers.LeakyReLU(name="leaky")(h)
    h = layers.GaussianNoise(0.1, name="noise")(h)
    h = layers.LSTM(3, return_sequences=True, name="lstm_chain")(h)
    outputs.append(layers.GlobalAveragePooling1D(name="pool")(h))
    outputs.append(layers.LSTM(4, name="lstm_stopped")(
        layers.Add(name="add_stopped")([ea, layers.Conv1D(3, 1, name="conv_b")(eb)])))
    outputs.append(layers.Multiply(name="multiply")([ea, eb]))
    outputs.append(layers.Multiply(name="multiply_one")([ea, layers.Conv1D(3, 1, name="conv_m")(eb)]))
    outputs.append(layers.Maximum(name="maximum")([ea, eb]))
    outputs.append(layers.Minimum(name="minimum")([layers.Conv1D(3, 1, name="conv_n")(ea), eb]))
    return Model([a, b], outputs)


def test_masks_through_layers_and_merges_match_keras():
    golden = np.load(HERE / "golden.npz")
    model = _golden_model()
    for layer in model.layers:
        count = len(layer.get_weights())
        layer.set_weights([golden[f"w_{layer.name}_{i}"] for i in range(count)])
    predictions = model.predict([golden["x_0"], golden["x_1"]], verbose=0)
    for name, y in zip(OUTPUTS, predictions):
        np.testing.assert_allclose(y, golden[f"y_{name}"], atol=1e-5, err_msg=name)


def _masks(x, y):
    return [np.asarray(x, bool), None if y is None else np.asarray(y, bool)]


def test_merge_masks_by_rule():
    a, b = Tensor(np.zeros((2, 3, 4), "float32")), Tensor(np.zeros((2, 3, 4), "float32"))
    ma, mb = [[1, 0, 0], [1, 1, 0]], [[0, 0, 1], [1, 0, 0]]
    np.testing.assert_array_equal(layers.Add().compute_mask([a, b], _masks(ma, mb)), [[1, 0, 1], [1, 1, 0]])
    assert layers.Multiply().compute_mask([a, b], _masks(ma, None)) is None  # an unmasked input: no mask
    assert layers.Add().compute_mask([a, b], None) is None
    np.testing.assert_array_equal(layers.Concatenate(axis=1).compute_mask([a, b], _masks(ma, None)),
                                  [[1, 0, 0, 1, 1, 1], [1, 1, 0, 1, 1, 1]])
    np.testing.assert_array_equal(layers.Concatenate().compute_mask([a, b], _masks(ma, None)), np.ones((2, 3)))
    np.testing.assert_array_equal(layers.Concatenate().compute_mask([a, b], _masks(ma, mb)), [[1, 0, 1], [1, 1, 0]])
    assert layers.Dot(axes=2).compute_mask([a, b], _masks(ma, mb)) is None


def test_merge_mask_list_must_match_the_inputs():
    a = Tensor(np.zeros((2, 3, 4), "float32"))
    with pytest.raises(ValueError, match=r"Add '.*': the mask must be a list with one entry \(or None\) per input; "
                                         r"received 2 input\(s\) and mask="):
        layers.Add().compute_mask([a, a], [np.ones((2, 3), bool)])


def test_dense_passes_the_mask_to_the_loss_in_a_functional_model():
    tokens = Input((4,))
    h = layers.Embedding(5, 3, mask_zero=True)(tokens)
    out = layers.Dense(2, activation="softmax")(layers.Dropout(0.1)(layers.Dense(3)(h)))
    model = Model(tokens, out)
    model.compile("sgd", "sparse_categorical_crossentropy")
    x = np.array([[1, 2, 0, 0], [3, 0, 0, 0]])
    y = np.array([[0, 1, 1, 1], [1, 0, 0, 0]])
    p = model.predict(x, verbose=0)
    ll = -np.log(np.take_along_axis(p, y[..., None], -1)[..., 0])
    assert model.evaluate(x, y, verbose=0) == pytest.approx(ll[x != 0].mean(), rel=1e-5)


@pytest.mark.parametrize("case", ["last_axis", "steps", "float_mask"])
def test_softmax_with_a_mask_matches_keras(case):
    golden = np.load(HERE / "softmax.npz")
    x = golden["x"] if case != "steps" else golden["x"][..., 0]
    out = layers.Softmax(axis=int(golden[f"axis_{case}"]))(Tensor(x), mask=golden[f"mask_{case}"])
    np.testing.assert_allclose(out.data, golden[f"y_{case}"], atol=1e-6)


def test_softmax_mask_gradients_float64():
    from tests.helpers import check_gradients

    mask = np.array([[[1, 0, 1, 1]], [[1, 1, 0, 0]]], bool)
    layer = layers.Softmax(dtype="float64")
    check_gradients(lambda x: layer(x, mask=mask), [np.random.default_rng(1).normal(size=(2, 3, 4))], rtol=1e-6)


def test_softmax_leaves_a_sequence_mask_alone_and_refuses_others():
    x = Tensor(np.random.default_rng(2).normal(size=(2, 3, 4)).astype("float32"))
    np.testing.assert_array_equal(layers.Softmax()(x, mask=np.zeros((2, 3), bool)).data, layers.Softmax()(x).data)
    with pytest.raises(ValueError, match=r"Softmax '.*': the mask must broadcast to the input \(each of its sizes, "
                                         r"from the right, 1 or the input's\); received mask shape \(2, 5\) for input "
                                         r"shape \(2, 3, 4\)"):
        layers.Softmax()(x, mask=np.ones((2, 5), bool))


@pytest.mark.parametrize("kind", [layers.Multiply, layers.Maximum, layers.Minimum])
def test_masked_merge_gradients_float64(kind):
    from tests.helpers import check_gradients

    masks = [np.array([[1, 1, 0], [0, 1, 1]], bool), np.array([[1, 0, 0], [1, 1, 0]], bool)]
    layer = kind(dtype="float64")
    rng = np.random.default_rng(4)
    check_gradients(lambda a, b: layer([a, b], mask=masks), [rng.normal(size=(2, 3, 2)), rng.normal(size=(2, 3, 2))],
                    rtol=1e-6)
