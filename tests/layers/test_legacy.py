"""Keras 1 argument names: translated with a DeprecationWarning, equal to the Keras 2 form."""

from __future__ import annotations

import warnings

import pytest

from kerasette.layers import Activation, Conv2D, Convolution2D, Dense, Dropout, Flatten, MaxPooling2D


def _same(old, new):
    """Configs equal apart from the automatic names."""
    a, b = old.get_config(), new.get_config()
    a.pop("name"), b.pop("name")
    assert a == b


def _keras2(factory):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the Keras 2 spelling must not warn
        return factory()


def test_convolution2d_keras1():
    with pytest.warns(DeprecationWarning, match=r"Conv2D: Keras 1 arguments translated.*border_mode -> padding"):
        old = Convolution2D(32, 3, 3, border_mode="same", subsample=(2, 2), dim_ordering="th", init="he_normal")
    new = _keras2(lambda: Conv2D(32, (3, 3), padding="same", strides=(2, 2), data_format="channels_first",
                                 kernel_initializer="he_normal"))
    _same(old, new)
    assert old.kernel_size == (3, 3) and old.strides == (2, 2) and old.data_format == "channels_first"
    old.build_for((None, 3, 10, 10))
    assert old.kernel.shape == (3, 3, 3, 32)
    assert old.compute_output_shape((None, 3, 10, 10)) == (None, 32, 5, 5)


def test_convolution2d_keras1_keywords():
    with pytest.warns(DeprecationWarning, match="nb_row/nb_col"):
        old = Convolution2D(nb_filter=8, nb_row=3, nb_col=2, dim_ordering="tf", bias=False)
    _same(old, _keras2(lambda: Conv2D(8, (3, 2), data_format="channels_last", use_bias=False)))


def test_convolution2d_keras1_defaults_warn_only_for_the_positional_kernel():
    with pytest.warns(DeprecationWarning, match=r"Convolution2D\(nb_filter, nb_row, nb_col\)"):
        old = Convolution2D(32, 3, 3)
    _same(old, _keras2(lambda: Conv2D(32, (3, 3))))


def test_dense_keras1():
    with pytest.warns(DeprecationWarning, match="output_dim -> units"):
        old = Dense(output_dim=10, init="uniform", input_dim=8)
    new = _keras2(lambda: Dense(10, kernel_initializer="uniform", input_dim=8))
    _same(old, new)
    assert old.batch_input_shape == (None, 8)


def test_dropout_keras1():
    with pytest.warns(DeprecationWarning, match="p -> rate"):
        old = Dropout(p=0.3)
    _same(old, _keras2(lambda: Dropout(0.3)))
    assert old.rate == 0.3


def test_max_pooling_keras1():
    with pytest.warns(DeprecationWarning, match="border_mode -> padding"):
        old = MaxPooling2D(pool_size=(2, 2), border_mode="same", dim_ordering="th")
    _same(old, _keras2(lambda: MaxPooling2D(pool_size=(2, 2), padding="same", data_format="channels_first")))


def test_keras2_names_do_not_warn():
    _keras2(lambda: [Dense(3, activation="relu"), Conv2D(4, 3, strides=1, padding="valid"),
                     MaxPooling2D(2, padding="valid"), Dropout(rate=0.1), Flatten(), Activation("relu")])


def test_old_and_new_name_together_is_an_error():
    with pytest.raises(TypeError, match="both the Keras 1 argument `output_dim` and its Keras 2 name `units`"):
        Dense(units=3, output_dim=3)
