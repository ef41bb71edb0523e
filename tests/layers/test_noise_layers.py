"""The noise layers (GaussianNoise, GaussianDropout, AlphaDropout), the Dropout family's masks
(noise_shape, SpatialDropout1D/2D/3D), GroupNormalization and UnitNormalization: training
against inference, the statistics of the noise, seeds, mask broadcasting, errors, Keras 1
arguments and float64 gradient checks. (The generic checks are the layer table's:
``tests/layers/specs/noise_and_normalization.py``.)

The statistical tests draw 2e5 values or more, so an estimated mean is within about 5e-3 of
the true one and an estimated standard deviation within about 1% (several standard errors);
the seeds make them deterministic anyway.
"""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest

import kerasette.backend as K  # noqa: N812 - the Keras convention
from kerasette import layers
from kerasette.backend import parallel
from kerasette.backend.ops.sample_normalization import group_normalization
from kerasette.layers import (
    AlphaDropout,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GaussianDropout,
    GaussianNoise,
    GroupNormalization,
    SpatialDropout1D,
    SpatialDropout2D,
    SpatialDropout3D,
    UnitNormalization,
    noise,
)
from kerasette.models import Sequential, model_from_json
from tests.helpers import check_gradients
from tests.layers.specs.noise_and_normalization import group_norm_reference

ALPHA_P = -1.6732632423543772848170429916717 * 1.0507009873554804934193349852946
N = 200_000


def _normal(shape, seed=0, dtype="float32"):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# ------------------------------------------------------------------ training vs inference
NOISE_LAYERS = [
    lambda: GaussianNoise(0.3),
    lambda: GaussianDropout(0.3),
    lambda: AlphaDropout(0.3),
    lambda: AlphaDropout(0.3, noise_shape=(None, 1, 4)),
    lambda: Dropout(0.3, noise_shape=(None, 1, 4)),
    lambda: SpatialDropout1D(0.3),
]


@pytest.mark.parametrize("make", NOISE_LAYERS, ids=lambda m: type(m()).__name__ + str(bool(
    getattr(m(), "noise_shape", None))))
def test_noise_is_applied_in_training_only(make):
    layer, x = make(), _normal((50, 3, 4))
    np.testing.assert_array_equal(layer(x).data, x)  # default: inference
    np.testing.assert_array_equal(layer(x, training=False).data, x)
    y = layer(x, training=True)
    assert y.shape == x.shape and y.dtype == np.float32
    assert not np.allclose(y.data, x)


def test_a_model_predicts_deterministically_and_trains_with_noise():
    model = Sequential([layers.InputLayer(input_shape=(6,)), GaussianNoise(0.5), GaussianDropout(0.2),
                        AlphaDropout(0.1), Dropout(0.2, noise_shape=(None, 1)), Dense(2)])
    model.compile("sgd", "mse")
    x, y = _normal((8, 6)), _normal((8, 2), seed=1)
    first = model.predict(x, verbose=0)
    np.testing.assert_array_equal(model.predict(x, verbose=0), first)
    kernel = model.layers[-1].kernel.data.copy()
    # training sees noise: the training loss differs from the (noiseless) evaluation loss
    assert model.evaluate(x, y, verbose=0) != pytest.approx(float(model.train_on_batch(x, y)), rel=1e-6)
    assert not np.array_equal(model.layers[-1].kernel.data, kernel)


def test_rate_zero_and_stddev_zero_are_the_identity_in_training():
    x = _normal((4, 5))
    for layer in (GaussianNoise(0.0), GaussianDropout(0.0), AlphaDropout(0.0), Dropout(0.0, noise_shape=(None, 1)),
                  SpatialDropout1D(0.0)):
        np.testing.assert_array_equal(layer(x.reshape(4, 5, 1) if isinstance(layer, SpatialDropout1D) else x,
                                            training=True).data.reshape(4, 5), x)


# ------------------------------------------------------------------ statistics of the noise
def test_gaussian_noise_adds_zero_mean_noise_of_the_given_stddev():
    x = np.full((N,), 3.0, np.float32)
    noise = GaussianNoise(0.4, seed=0)(x, training=True).data - 3.0
    assert abs(noise.mean()) < 5e-3
    assert noise.std() == pytest.approx(0.4, rel=1e-2)
    assert abs(np.mean(noise**3)) < 5e-3  # symmetric


def test_gaussian_noise_accepts_a_stddev_above_one_as_keras_1_and_2_did():
    noise = GaussianNoise(2.5, seed=1)(np.zeros(N, np.float32), training=True).data
    assert noise.std() == pytest.approx(2.5, rel=1e-2)


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.8])
def test_gaussian_dropout_multiplies_by_noise_of_mean_one_and_dropouts_stddev(rate):
    x = np.full((N,), 2.0, np.float32)
    factor = GaussianDropout(rate, seed=2)(x, training=True).data / 2.0
    assert abs(factor.mean() - 1.0) < 5e-3 * max(1.0, math.sqrt(rate / (1 - rate)))
    assert factor.std() == pytest.approx(math.sqrt(rate / (1 - rate)), rel=1e-2)
    # the standard deviation of Dropout(rate)'s mask, as Keras says
    mask = Dropout(rate, seed=2)(np.ones(N, np.float32), training=True).data
    assert mask.std() == pytest.approx(factor.std(), rel=2e-2)


@pytest.mark.parametrize("rate", [0.05, 0.2, 0.5])
def test_alpha_dropout_keeps_zero_mean_and_unit_variance(rate):
    x = _normal((N,), seed=3)
    layer = AlphaDropout(rate, seed=3)
    y = layer(x, training=True).data
    a, b = layer.affine
    dropped = np.isclose(y, a * ALPHA_P + b, rtol=0, atol=1e-6)
    assert dropped.mean() == pytest.approx(rate, abs=5e-3)
    np.testing.assert_allclose(y[~dropped], a * x[~dropped] + b, rtol=1e-5, atol=1e-6)
    assert abs(y.mean()) < 1e-2
    assert y.var() == pytest.approx(1.0, abs=1.5e-2)


def test_alpha_dropout_affine_correction_is_keras_formula():
    for rate in (0.1, 0.3):
        a, b = AlphaDropout(rate).affine
        assert a == pytest.approx(((1 - rate) * (1 + rate * ALPHA_P**2)) ** -0.5, rel=1e-15)
        assert b == pytest.approx(-a * ALPHA_P * rate, rel=1e-15)
    assert AlphaDropout(0.1).affine == pytest.approx((0.9212845161497115, 0.16197097005757022), rel=1e-12)


def test_dropout_noise_shape_broadcasts_the_mask():
    x = np.ones((2000, 5, 4), np.float32)
    y = Dropout(0.25, noise_shape=(None, 1, 4), seed=4)(x, training=True).data
    assert set(np.unique(y)) == {0.0, np.float32(1 / 0.75)}
    np.testing.assert_array_equal(y, np.broadcast_to(y[:, :1, :], y.shape))  # one draw per (sample, feature)
    assert (y[:, 0, :] == 0).mean() == pytest.approx(0.25, abs=2e-2)


def test_dropout_noise_shape_with_given_sizes():
    x = _normal((300, 2, 3))
    y = Dropout(0.5, noise_shape=[1, 2, None], seed=5)(x, training=True).data
    ratio = np.where(x != 0, y / x, 0)
    np.testing.assert_array_equal(ratio, np.broadcast_to(ratio[:1], ratio.shape))  # the same for every sample
    assert set(np.unique(np.round(ratio, 5))) <= {0.0, 2.0}


def test_alpha_dropout_noise_shape_broadcasts_the_mask():
    x = _normal((400, 6, 3))
    layer = AlphaDropout(0.3, noise_shape=(None, 1, None), seed=6)
    y = layer(x, training=True).data
    a, b = layer.affine
    dropped = np.isclose(y, a * ALPHA_P + b, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(dropped, np.broadcast_to(dropped[:, :1], dropped.shape))


@pytest.mark.parametrize("layer, shape, channel_axis", [
    (SpatialDropout1D(0.4, seed=1), (500, 6, 5), 2),
    (SpatialDropout2D(0.4, seed=1), (500, 3, 4, 5), 3),
    (SpatialDropout2D(0.4, data_format="channels_first", seed=1), (500, 5, 3, 4), 1),
    (SpatialDropout3D(0.4, seed=1), (200, 2, 3, 2, 5), 4),
    (SpatialDropout3D(0.4, data_format="channels_first", seed=1), (200, 5, 2, 3, 2), 1),
], ids=["1d", "2d", "2d-channels_first", "3d", "3d-channels_first"])
def test_spatial_dropout_drops_whole_channels(layer, shape, channel_axis):
    x = np.abs(_normal(shape)) + 0.5
    y = layer(x, training=True).data
    ratio = y / x
    np.testing.assert_allclose(np.unique(np.round(ratio, 4)), [0.0, round(1 / 0.6, 4)])
    spatial = tuple(a for a in range(1, len(shape)) if a != channel_axis)
    kept = (ratio > 0).astype(np.float64)
    per_map = kept.mean(axis=spatial)  # each (sample, channel): all kept or all dropped
    assert set(np.unique(per_map)) == {0.0, 1.0}
    assert 1 - per_map.mean() == pytest.approx(0.4, abs=3e-2)


def test_spatial_dropout2d_channels_first_computes_the_same_on_the_channels_last_tensor():
    x = _normal((6, 4, 3, 5))  # channels-first
    expected = SpatialDropout2D(0.5, data_format="channels_first", seed=9)(x, training=True).data
    layer = SpatialDropout2D(0.5, data_format="channels_first", seed=9)
    assert layer.runs_channels_last() and not layer.layout_free()
    got = layer.call_channels_last(K.variable(x.transpose(0, 2, 3, 1)), training=True).data
    np.testing.assert_array_equal(got.transpose(0, 3, 1, 2), expected)
    np.testing.assert_array_equal(layer.call_channels_last(K.variable(x), training=False).data, x)


def test_a_channels_first_model_with_spatial_dropout_and_group_normalization_trains():
    model = Sequential([layers.InputLayer(input_shape=(2, 6, 6)), Conv2D(4, 3, data_format="channels_first"),
                        GroupNormalization(groups=2, axis=1), SpatialDropout2D(0.3, data_format="channels_first"),
                        UnitNormalization(axis=1), Flatten(data_format="channels_first"), Dense(2)])
    model.compile("sgd", "mse")
    x = _normal((5, 2, 6, 6))
    # inference through the planner (channels-last inside) equals the layers called one by one
    expected = x
    for layer in model.layers:
        expected = layer(expected).data if not isinstance(layer, layers.InputLayer) else expected
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    assert np.isfinite(model.train_on_batch(x, _normal((5, 2), seed=1)))


# ------------------------------------------------------------------ seeds
@pytest.mark.parametrize("make", [lambda s: GaussianNoise(0.5, seed=s), lambda s: GaussianDropout(0.5, seed=s),
                                  lambda s: AlphaDropout(0.5, seed=s), lambda s: SpatialDropout1D(0.5, seed=s),
                                  lambda s: Dropout(0.5, noise_shape=(None, 1, 3), seed=s)],
                         ids=["gaussian-noise", "gaussian-dropout", "alpha-dropout", "spatial1d", "dropout-noise-shape"])
def test_a_seed_makes_the_sequence_of_draws_reproducible(make):
    x = _normal((20, 4, 3))
    a, b, other = make(7), make(7), make(8)
    first, second = a(x, training=True).data, a(x, training=True).data
    assert not np.array_equal(first, second)  # each call draws anew
    np.testing.assert_array_equal(b(x, training=True).data, first)
    np.testing.assert_array_equal(b(x, training=True).data, second)
    assert not np.array_equal(other(x, training=True).data, first)


def test_unseeded_layers_draw_from_the_shared_generator():
    x = _normal((10, 4, 3))
    results = []
    for _ in range(2):
        K.set_seed(123)
        results.append([GaussianNoise(0.5)(x, training=True).data, AlphaDropout(0.5)(x, training=True).data,
                        SpatialDropout1D(0.5)(x, training=True).data])
    for a, b in zip(*results, strict=True):
        np.testing.assert_array_equal(a, b)
    K.set_seed(124)
    assert not np.array_equal(GaussianNoise(0.5)(x, training=True).data, results[0][0])


@pytest.mark.parametrize("kind", ["normal", "uniform"])
def test_draws_depend_on_the_generator_only_not_on_the_thread_count(kind):
    size = 2 * noise.DRAW_BLOCK + 1000  # three blocks
    results = []
    previous = parallel.num_threads()
    try:
        for threads in (1, 2):
            parallel.set_num_threads(threads)
            with parallel.parallel_settings(memory_bound_min=0):
                results.append(noise.draws(kind, (size,), np.float32, np.random.default_rng(11)))
    finally:
        parallel.set_num_threads(previous)
    np.testing.assert_array_equal(results[0], results[1])
    a = results[0]
    assert a.dtype == np.float32
    blocks = a[: 2 * noise.DRAW_BLOCK].reshape(2, -1)
    assert not np.array_equal(blocks[0], blocks[1])  # each block its own stream
    if kind == "normal":
        assert abs(a.mean()) < 5e-3 and a.std() == pytest.approx(1.0, rel=1e-2)
    else:
        assert a.min() >= 0 and a.max() < 1 and a.mean() == pytest.approx(0.5, abs=3e-3)
    assert noise.draws(kind, (3,), np.float64, np.random.default_rng(0)).dtype == np.float64


def test_float64_inputs_get_float64_noise():
    x = _normal((4, 3), dtype="float64")
    for layer in (GaussianNoise(0.1), GaussianDropout(0.1), AlphaDropout(0.1), Dropout(0.1, noise_shape=(None, 1))):
        assert layer(x, training=True).dtype == np.float64


# ------------------------------------------------------------------ gradients (float64)
@pytest.mark.parametrize("make", [lambda: GaussianNoise(0.5, seed=1), lambda: GaussianDropout(0.4, seed=1),
                                  lambda: AlphaDropout(0.4, seed=1),
                                  lambda: AlphaDropout(0.4, noise_shape=(None, 1, 3), seed=1),
                                  lambda: Dropout(0.4, noise_shape=(None, 1, 3), seed=1),
                                  lambda: SpatialDropout1D(0.4, seed=1)],
                         ids=["gaussian-noise", "gaussian-dropout", "alpha-dropout", "alpha-dropout-noise-shape",
                              "dropout-noise-shape", "spatial1d"])
def test_noise_layer_gradients_in_training(make):
    # a fresh layer with the same seed per call: the same noise each time the checker calls
    check_gradients(lambda x: make()(x, training=True), [_normal((4, 2, 3), dtype="float64")])


@pytest.mark.parametrize("groups, axis, shape", [(2, -1, (3, 4, 4, 6)), (3, 1, (2, 6, 3, 2)), (-1, -1, (3, 5, 4)),
                                                 (1, -1, (4, 6))],
                         ids=["channels_last", "channels_first", "instance", "one-group"])
def test_group_normalization_layer_gradients(groups, axis, shape):
    rng = np.random.default_rng(0)
    layer = GroupNormalization(groups=groups, axis=axis, dtype="float64")
    layer.build_for((None,) + shape[1:])
    layer.set_weights([rng.uniform(0.5, 1.5, w.shape) if w is layer.gamma else rng.standard_normal(w.shape)
                       for w in layer.weights])
    x = rng.standard_normal(shape) * 3 + 1
    check_gradients(layer, [x])
    # gamma and beta, as the layer passes them to its op
    check_gradients(lambda x, g, b: group_normalization(x, g, b, layer.groups, axis, layer.epsilon),
                    [x, layer.gamma.data, layer.beta.data])


@pytest.mark.parametrize("axis, shape", [(-1, (4, 5)), ([1, 2], (2, 3, 4)), (1, (2, 3, 4))],
                         ids=["last", "two-axes", "axis1"])
def test_unit_normalization_layer_gradients(axis, shape):
    check_gradients(UnitNormalization(axis=axis, dtype="float64"),
                    [np.random.default_rng(1).standard_normal(shape)])


# ------------------------------------------------------------------ GroupNormalization, UnitNormalization values
def test_group_normalization_with_trained_weights_matches_the_reference():
    rng = np.random.default_rng(2)
    layer = GroupNormalization(groups=4, epsilon=1e-4)
    x = _normal((3, 5, 5, 8)) * 4 + 2
    layer.build_for(x.shape)
    gamma, beta = rng.standard_normal(8).astype("float32"), rng.standard_normal(8).astype("float32")
    layer.set_weights([gamma, beta])
    np.testing.assert_allclose(layer(x).data, group_norm_reference(x, 4, epsilon=1e-4) * gamma + beta,
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(layer(x, training=True).data, layer(x).data)  # no batch statistics


def test_group_normalization_channels_first_on_the_channels_last_tensor():
    x = _normal((2, 6, 3, 4))
    layer = GroupNormalization(groups=3, axis=1, beta_initializer="random_normal")
    expected = layer(x).data
    assert layer.runs_channels_last()
    got = layer.call_channels_last(K.variable(x.transpose(0, 2, 3, 1))).data
    np.testing.assert_allclose(got.transpose(0, 3, 1, 2), expected, rtol=1e-6, atol=1e-6)


def test_group_normalization_does_not_mix_samples():
    x = _normal((4, 3, 6))
    layer = GroupNormalization(groups=3)
    full = layer(x).data
    np.testing.assert_allclose(layer(x[1:2]).data, full[1:2], rtol=1e-6, atol=1e-6)


def test_group_normalization_minus_one_is_one_group_per_channel_and_recorded_as_keras_does():
    layer = GroupNormalization(groups=-1)
    assert layer.get_config()["groups"] == -1
    x = _normal((2, 7, 5))
    np.testing.assert_allclose(layer(x).data, group_norm_reference(x, 5), rtol=1e-5, atol=1e-5)
    assert layer.get_config()["groups"] == 5  # Keras 3 writes the resolved number once built


def test_unit_normalization_gives_unit_norms_and_keeps_zero_slices_zero():
    x = _normal((3, 4, 5))
    x[0, 1] = 0.0
    y = UnitNormalization()(x).data
    norms = np.sqrt((y.astype(np.float64) ** 2).sum(-1))
    np.testing.assert_allclose(np.delete(norms.reshape(-1), 1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(y[0, 1], 0.0)
    y2 = UnitNormalization(axis=[1, 2])(x).data
    np.testing.assert_allclose((y2.astype(np.float64) ** 2).sum((1, 2)), 1.0, rtol=1e-6)


def test_unit_normalization_over_channels_first_channels_on_the_channels_last_tensor():
    x = _normal((2, 5, 3, 4))
    layer = UnitNormalization(axis=1)
    expected = layer(x).data
    assert layer.runs_channels_last()
    got = layer.call_channels_last(K.variable(x.transpose(0, 2, 3, 1))).data
    np.testing.assert_allclose(got.transpose(0, 3, 1, 2), expected, rtol=1e-6, atol=1e-7)
    other = UnitNormalization(axis=[2, 3])
    other(x)
    assert not other.runs_channels_last()


def test_unit_normalization_floors_tiny_norms_at_1e_12():
    x = np.array([[3e-13, 4e-13], [3.0, 4.0]], np.float64)
    np.testing.assert_allclose(UnitNormalization(dtype="float64")(x).data, [[0.3, 0.4], [0.6, 0.8]], rtol=1e-12)


# ------------------------------------------------------------------ configs
def test_configs_are_written_as_keras_3_writes_them():
    assert SpatialDropout2D(0.2, name="s").get_config() == {"rate": 0.2, "seed": None, "name": "s", "dtype": "float32",
                                                           "data_format": "channels_last"}
    assert set(SpatialDropout1D(0.2).get_config()) == {"rate", "seed", "name", "dtype"}
    assert Dropout(0.2, noise_shape=(None, 1, 3)).get_config()["noise_shape"] == [None, 1, 3]
    assert AlphaDropout(0.2, noise_shape=(None, 3)).get_config()["noise_shape"] == [None, 3]
    assert GaussianNoise(0.2, seed=3).get_config()["stddev"] == 0.2
    config = GroupNormalization(groups=4, axis=1).get_config()
    assert [config[k] for k in ("groups", "axis", "epsilon", "center", "scale")] == [4, 1, 1e-3, True, True]
    assert UnitNormalization(axis=[1, 2]).get_config()["axis"] == [1, 2]
    assert UnitNormalization(axis=2).get_config()["axis"] == 2


def test_keras_2_spatial_dropout_config_loads():
    config = {"name": "spatial_dropout2d_1", "trainable": True, "rate": 0.3, "noise_shape": None, "seed": None,
              "data_format": "channels_first"}
    layer = layers.deserialize({"class_name": "SpatialDropout2D", "config": config})
    assert layer.rate == 0.3 and layer.data_format == "channels_first"


def test_keras_1_arguments():
    with pytest.warns(DeprecationWarning, match="sigma -> stddev"):
        assert GaussianNoise(sigma=0.3).stddev == 0.3
    with pytest.warns(DeprecationWarning, match="p -> rate"):
        assert GaussianDropout(p=0.2).rate == 0.2
    with pytest.warns(DeprecationWarning, match="p -> rate"):
        assert AlphaDropout(p=0.1).rate == 0.1
    with pytest.warns(DeprecationWarning, match="dim_ordering -> data_format"):
        layer = SpatialDropout2D(p=0.2, dim_ordering="th")
    assert layer.rate == 0.2 and layer.data_format == "channels_first"
    with pytest.warns(DeprecationWarning, match="dim_ordering -> data_format"):
        assert SpatialDropout3D(0.2, dim_ordering="tf").data_format == "channels_last"


def test_keras_1_model_config_with_gaussian_noise_sigma_loads():
    keras1 = {"class_name": "Sequential", "keras_version": "1.2.2", "config": [
        {"class_name": "GaussianNoise", "config": {"name": "gaussiannoise_1", "trainable": True, "sigma": 0.25,
                                                   "batch_input_shape": [None, 4], "input_dtype": "float32"}},
        {"class_name": "GaussianDropout", "config": {"name": "gaussiandropout_1", "trainable": True, "p": 0.1}},
        {"class_name": "Dense", "config": {"name": "dense_1", "trainable": True, "output_dim": 2, "init": "zero",
                                           "activation": "linear", "bias": True, "input_dim": None}},
    ]}
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # a file's Keras 1 names are translated silently
        model = model_from_json(json.dumps(keras1))
    noise, drop = model.layers[0], model.layers[1]
    assert type(noise).__name__ == "GaussianNoise" and noise.stddev == 0.25
    assert type(drop).__name__ == "GaussianDropout" and drop.rate == 0.1
    np.testing.assert_array_equal(model.predict(np.ones((3, 4), np.float32), verbose=0), 0.0)


def test_keras_1_module_path():
    assert noise.GaussianNoise is GaussianNoise and noise.GaussianDropout is GaussianDropout


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("make, message", [
    (lambda: GaussianNoise(-0.1), r"GaussianNoise '.*': argument `stddev` must be a finite number >= 0; "
                                  r"received stddev=-0.1"),
    (lambda: GaussianNoise("big"), r"`stddev` must be a finite number >= 0; received stddev='big'"),
    (lambda: GaussianNoise(float("inf")), r"received stddev=inf"),
    (lambda: GaussianDropout(1.0), r"GaussianDropout '.*': argument `rate` must be in the range \[0, 1\); "
                                   r"received rate=1.0"),
    (lambda: AlphaDropout(-0.5), r"AlphaDropout '.*': argument `rate` must be in the range \[0, 1\)"),
    (lambda: AlphaDropout(0.1, noise_shape="batch"), r"AlphaDropout '.*': `noise_shape` must be a list of positive "
                                                     r"ints or None \(one per input axis\); received noise_shape='batch'"),
    (lambda: Dropout(0.1, noise_shape=(None, 0)), r"Dropout '.*': `noise_shape` must be a list of positive ints"),
    (lambda: Dropout(0.1, noise_shape=(None, 2.5)), r"received noise_shape=\(None, 2.5\)"),
    (lambda: Dropout(0.1, noise_shape=5), r"received noise_shape=5"),
    (lambda: SpatialDropout2D(0.1, data_format="nchw"),
     r"SpatialDropout2D '.*': argument `data_format` must be 'channels_last' or 'channels_first'; "
     r"received data_format='nchw'"),
    (lambda: SpatialDropout2D(0.1, noise_shape=(None, 1, 1, 3)), r"SpatialDropout2D '.*': the mask shape follows "
                                                                  r"the channels; `noise_shape` must be None"),
    (lambda: GroupNormalization(groups=0), r"GroupNormalization '.*': `groups` must be a positive int \(or -1 for "
                                           r"one group per channel\); received groups=0"),
    (lambda: GroupNormalization(groups=2.0), r"received groups=2.0"),
    (lambda: GroupNormalization(axis=[1, 2]), r"GroupNormalization '.*': `axis` must be an int \(the channel "
                                              r"axis\); received axis=\[1, 2\]"),
    (lambda: GroupNormalization(epsilon=-1e-3), r"GroupNormalization '.*': `epsilon` must be a number >= 0; "
                                                r"received epsilon=-0.001"),
    (lambda: UnitNormalization(axis="last"), r"UnitNormalization '.*': `axis` must be an int or a list of ints; "
                                             r"received axis='last'"),
])
def test_constructor_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("layer, shape, message", [
    (Dropout(0.1, noise_shape=(None, 1)), (None, 3, 4),
     r"Dropout '.*': `noise_shape` must have one entry per input axis \(3\); received noise_shape=\(None, 1\) for "
     r"input shape \(None, 3, 4\)"),
    (Dropout(0.1, noise_shape=(None, 2, 4)), (None, 3, 4),
     r"Dropout '.*': each entry of `noise_shape` must be None, 1 or the input's size on that axis; received "
     r"noise_shape=\(None, 2, 4\) for input shape \(None, 3, 4\)"),
    (AlphaDropout(0.1, noise_shape=(None, 1, 1)), (None, 3), r"AlphaDropout '.*': `noise_shape` must have one entry"),
    (GroupNormalization(groups=4), (None, 3, 6),
     r"GroupNormalization '.*': the number of channels must be a multiple of `groups`; received groups=4 for 6 "
     r"channels on axis -1 \(input shape \(None, 3, 6\)\)"),
    (GroupNormalization(groups=8), (None, 4), r"received groups=8 for 4 channels"),
    (GroupNormalization(groups=2, axis=0), (None, 4), r"GroupNormalization '.*': axis 0 must be a non-batch axis"),
    (GroupNormalization(groups=2, axis=3), (None, 4, 4), r"axis 3 must be a non-batch axis of known size"),
    (GroupNormalization(groups=2), (None, 3, None), r"axis -1 must be a non-batch axis of known size"),
    (UnitNormalization(axis=[1, 3]), (None, 4, 5), r"UnitNormalization '.*': `axis` must name axes of the input; "
                                                   r"received axis=\[1, 3\] for input shape \(None, 4, 5\)"),
])
def test_build_errors(layer, shape, message):
    with pytest.raises(ValueError, match=message):
        layer.build_for(shape)


def test_input_rank_errors():
    with pytest.raises(ValueError, match=r"SpatialDropout2D '.*': expected a 4-D input"):
        SpatialDropout2D(0.2)(np.zeros((2, 3, 4), np.float32))
    with pytest.raises(ValueError, match=r"SpatialDropout1D '.*': expected a 3-D input"):
        SpatialDropout1D(0.2)(np.zeros((2, 3), np.float32))
    layer = GroupNormalization(groups=2)
    layer(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match=r"GroupNormalization '.*': expected 4 channels"):
        layer(np.zeros((2, 6), np.float32))
    with pytest.raises(ValueError, match=r"Dropout '.*': each entry of `noise_shape`"):
        Dropout(0.5, noise_shape=(None, 3))(np.zeros((2, 4), np.float32), training=True)
